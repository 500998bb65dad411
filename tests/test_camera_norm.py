"""Per-camera normalisation of embeddings (reid/eval/camera_norm.py) and eval.camera_norm."""

import numpy as np
import pytest

from reid.eval.camera_norm import normalise_per_camera


def test_centre_and_standardise_against_hand_values():
    x = np.array([[1.0, 2.0], [3.0, 6.0], [10.0, 10.0], [14.0, 10.0]])
    cams = np.array([0, 0, 1, 1])
    centred = normalise_per_camera(x, cams, "centre")
    np.testing.assert_allclose(centred, [[-1, -2], [1, 2], [-2, 0], [2, 0]])
    # camera 0: std (1, 2); camera 1: std (2, 0 -> divided by 1)
    np.testing.assert_allclose(normalise_per_camera(x, cams, "standardise"), [[-1, -1], [1, 1], [-1, 0], [1, 0]])
    np.testing.assert_array_equal(normalise_per_camera(x, cams, "none"), x.astype(np.float32))


def test_a_small_camera_takes_the_statistics_of_all_rows():
    x = np.array([[0.0], [2.0], [4.0], [10.0]])
    cams = np.array([0, 0, 0, 1])  # camera 1 has one row: alone it would become 0
    out = normalise_per_camera(x, cams, "centre", min_items=2)
    np.testing.assert_allclose(out[:, 0], [-2, 0, 2, 10 - 4])  # mean of all rows is 4


def test_a_camera_shift_no_longer_decides_the_nearest_neighbour():
    rng = np.random.default_rng(0)
    people = rng.normal(size=(6, 8))
    shift = np.zeros(8)
    shift[0] = 20.0  # camera 1 adds a large offset to everything it sees
    query = people[:3] + 0.05 * rng.normal(size=(3, 8))
    gallery = np.concatenate([people + shift, people[3:]])  # everyone in camera 1, people 3-5 also in 0
    feats = np.concatenate([query, gallery])
    cams = np.array([0] * 3 + [1] * 6 + [0] * 3)
    dist = lambda f: ((f[:3, None] - f[None, 3:]) ** 2).sum(-1)  # noqa: E731
    assert (dist(feats).argmin(1) >= 6).all()  # raw: each query's nearest is someone from its own camera
    moved = normalise_per_camera(feats, cams, "centre")
    assert (dist(moved).argmin(1) == np.arange(3)).all()  # centred: the same person in camera 1


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="'whiten' is not one of none, centre, standardise"):
        normalise_per_camera(np.zeros((2, 2)), [0, 1], "whiten")
    with pytest.raises(ValueError, match="1 camera ids for 2 features"):
        normalise_per_camera(np.zeros((2, 2)), [0], "centre")


def test_evaluation_ranks_the_normalised_embeddings(tmp_path):
    from reid.config import load_config
    from reid.data.tracklet import Tracklet
    from reid.pipeline.evaluation import evaluate_features

    rng = np.random.default_rng(1)
    n = 12
    people = rng.normal(size=(n, 16))
    shift = np.zeros(16)
    shift[:4] = 6.0
    q = [Tracklet(frames=(f"q{i}.jpg",), pid=i, camid=0) for i in range(n)]
    g = [Tracklet(frames=(f"g{i}.jpg",), pid=i, camid=1) for i in range(n)] + \
        [Tracklet(frames=(f"d{i}.jpg",), pid=100 + i, camid=0) for i in range(n)]
    qf = people + 0.3 * rng.normal(size=(n, 16))
    gf = np.concatenate([people + shift + 0.3 * rng.normal(size=(n, 16)), rng.normal(size=(n, 16))])
    plain = load_config("short_run", ["eval.rerank=false", "eval.metric=euclidean", "eval.camera_norm=none"])
    centred = load_config("short_run", ["eval.rerank=false", "eval.metric=euclidean", "eval.camera_norm=centre"])
    before = evaluate_features(plain, qf, gf, q, g)["plain"]
    after = evaluate_features(centred, qf, gf, q, g)["plain"]
    assert before["rank1"] < 50.0 and after["rank1"] == 100.0


def test_config_refuses_an_unknown_mode_and_retrieval_sets():
    from reid.config import load_config
    from reid.errors import ConfigError
    from reid.pipeline.config_checks import check_config

    with pytest.raises(ConfigError, match="eval.camera_norm"):
        check_config(load_config("short_run", ["eval.camera_norm=whiten"]))
    with pytest.raises(ConfigError, match="'eval.camera_norm': 'centre', but cub is an image-retrieval set"):
        check_config(load_config("cub_osm_caa", ["eval.camera_norm=centre"]))
