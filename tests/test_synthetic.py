"""Synthetic generator: MARS layout, records consistent with the files, determinism, parameters."""

from __future__ import annotations

import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from mars_fixtures import TINY_OUTLIERS, build_tiny, load_var, meta, read_csv
from reid.data.synthetic import PRESETS, GeneratorParams, generate, preset
from reid.errors import ConfigError

NAME = re.compile(r"^(\d{4}|00-1)C([1-9])T(\d{4})F(\d{3})\.jpg$")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("tiny"))


def _split(root: Path, split: str) -> tuple[list[str], np.ndarray]:
    names = (root / "info" / f"{split}_name.txt").read_text().splitlines()
    return names, load_var(root / "info" / f"tracks_{split}_info.mat", f"track_{split}_info")


def test_layout_and_mat_formats(tiny: Path) -> None:
    for split in ("train", "test"):
        names, rows = _split(tiny, split)
        assert rows.dtype == np.int32 and rows.ndim == 2 and rows.shape[1] == 4
        assert rows[0, 0] == 1 and rows[-1, 1] == len(names)
        assert np.all(rows[1:, 0] == rows[:-1, 1] + 1)  # contiguous, 1-based, inclusive
        for start, end, pid, cam in rows.astype(int):
            for name in names[start - 1:end]:
                m = NAME.match(name)
                assert m and (-1 if m.group(1) == "00-1" else int(m.group(1))) == pid and int(m.group(2)) == cam
                assert (tiny / f"bbox_{split}" / name[:4] / name).is_file()
    folders = {p.name for p in (tiny / "bbox_test").iterdir()}
    assert {"0000", "00-1"} <= folders
    assert not {p.name for p in (tiny / "bbox_train").iterdir()} & {"0000", "00-1"}
    query = load_var(tiny / "info" / "query_IDX.mat", "query_IDX")
    assert query.dtype == np.int32 and query.shape == (1, meta(tiny)["counts"]["queries"])
    image = cv2.imread(str(next((tiny / "bbox_train").rglob("*.jpg"))))
    assert image.shape == (64, 32, 3)


def test_meta_counts_equal_a_recount(tiny: Path) -> None:
    m = meta(tiny)
    assert m["seed"] == 3 and m["params"]["wrong_labels"] == TINY_OUTLIERS["wrong_labels"]
    train_names, train = _split(tiny, "train")
    test_names, test = _split(tiny, "test")
    lengths = test[:, 1] - test[:, 0] + 1
    expected = {
        "train_ids": len(set(train[:, 2])), "train_tracklets": len(train), "train_frames": len(train_names),
        "test_ids": len(set(test[test[:, 2] > 0, 2])), "test_tracklets": len(test), "test_frames": len(test_names),
        "junk_tracklets": int((test[:, 2] == -1).sum()), "junk_frames": int(lengths[test[:, 2] == -1].sum()),
        "distractor_tracklets": int((test[:, 2] == 0).sum()),
        "distractor_frames": int(lengths[test[:, 2] == 0].sum()),
        "queries": load_var(tiny / "info" / "query_IDX.mat", "query_IDX").size,
        "wrong_labels": len(read_csv(tiny / "wrong_labels.csv")),
    }
    assert {k: m["counts"][k] for k in expected} == expected
    assert m["counts"]["junk_tracklets"] == 2 and m["counts"]["distractor_tracklets"] == 3
    assert m["counts"]["train_ids"] <= 6 and m["counts"]["test_ids"] == 5
    assert m["counts"]["gallery_tracklets"] == len(test) - expected["junk_tracklets"] - expected["queries"]


def test_wrong_labels_and_outliers_records(tiny: Path) -> None:
    names, train = _split(tiny, "train")
    wrong = read_csv(tiny / "wrong_labels.csv")
    assert len(wrong) == round(0.2 * len(train))
    true_pids = {int(p) for p in train[:, 2]} | {int(w["true_pid"]) for w in wrong}
    for w in wrong:
        row = train[int(w["row"])].astype(int)
        assert names[row[0] - 1].startswith(w["name"]) and row[2] == int(w["written_pid"])
        assert int(w["true_pid"]) != int(w["written_pid"]) and int(w["true_pid"]) in true_pids
    outliers = read_csv(tiny / "outliers.csv")
    test_names, test = _split(tiny, "test")
    id_frames = len(names) + int(sum(e - s + 1 for s, e, p, _ in test if p > 0))
    for kind in ("occlusion", "blur", "truncation"):
        listed = [o for o in outliers if o["kind"] == kind]
        assert len(listed) == round(0.1 * id_frames) == meta(tiny)["counts"][f"{kind}_frames"]
        for o in listed:
            assert o["name"] in (names if o["split"] == "train" else test_names)
            assert not o["name"].startswith(("0000", "00-1"))


def test_queries_follow_the_mars_rule(tiny: Path) -> None:
    _, test = _split(tiny, "test")
    test = test.astype(int)
    query = load_var(tiny / "info" / "query_IDX.mat", "query_IDX").astype(int).ravel() - 1
    assert len(set(query)) == len(query)
    is_query = np.zeros(len(test), bool)
    is_query[query] = True
    seen = set()
    for i in query:
        pid, cam = test[i, 2], test[i, 3]
        assert pid > 0 and (pid, cam) not in seen
        seen.add((pid, cam))
        assert np.any(~is_query & (test[:, 2] == pid) & (test[:, 3] != cam))  # cross-camera gallery match
    for pid in set(test[test[:, 2] > 0, 2]):
        cams = set(test[test[:, 2] == pid, 3])
        if len(cams) > 1:  # at most one camera of a multi-camera identity is gallery-only
            assert len({c for p, c in seen if p == pid}) >= len(cams) - 1


def test_same_seed_same_bytes_other_seed_differs(tiny: Path, tmp_path: Path) -> None:
    again = build_tiny(tmp_path / "a")
    files = sorted(p.relative_to(tiny) for p in tiny.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for rel in files:
        assert (tiny / rel).read_bytes() == (again / rel).read_bytes(), rel
    other = build_tiny(tmp_path / "b", seed=4)
    assert (other / "info" / "train_name.txt").read_bytes() != (tiny / "info" / "train_name.txt").read_bytes()


def test_workers_do_not_change_the_output(tmp_path: Path) -> None:
    config = preset("tiny", seed=5, num_train_ids=3, num_test_ids=2, num_distractors=1, num_junk=1)
    one, two = generate(tmp_path / "one", config), generate(tmp_path / "two", config, workers=2)
    files = sorted(p.relative_to(one) for p in one.rglob("*.jpg"))
    assert files and all((one / f).read_bytes() == (two / f).read_bytes() for f in files)


def test_camera_colour_casts_differ(tiny: Path) -> None:
    """The mean colour of one identity changes with the camera (colour cast and background)."""
    _, train = _split(tiny, "train")
    means = {}
    for start, end, pid, cam in train.astype(int):
        folder = tiny / "bbox_train" / f"{pid:04d}"
        frames = sorted(folder.glob(f"{pid:04d}C{cam}T*.jpg"))
        means[cam] = np.mean([cv2.imread(str(f)).reshape(-1, 3).mean(0) for f in frames], axis=0)
    values = np.array(list(means.values()))
    assert len(values) >= 2 and np.abs(values[:, None] - values[None]).max() > 10


def test_tiny_is_fast(tmp_path: Path) -> None:
    start = time.perf_counter()
    build_tiny(tmp_path)
    assert time.perf_counter() - start < 3.0


def test_demo_preset_size() -> None:
    demo = PRESETS["demo"]
    assert (demo.height, demo.width, demo.num_cameras, demo.tracklet_length) == (256, 128, 6, (8, 24))
    assert 60 <= demo.num_train_ids <= 80 and demo.num_test_ids == 60


@pytest.mark.parametrize("key,value", [("num_cameras", 10), ("tracklet_length", (5, 1000)), ("blur", 1.5),
                                       ("cameras_per_id", (3, 7)), ("height", 31), ("num_train_ids", 1)])
def test_invalid_parameters(tmp_path: Path, key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        generate(tmp_path, preset("tiny", **{key: value}))
    assert not (tmp_path / "mars").exists()


def test_refuses_existing_output_and_unknown_names(tiny: Path) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        generate(tiny.parent, PRESETS["tiny"])
    with pytest.raises(ConfigError, match="valid presets: demo, hard, hard2, hard3, hard4, study, tiny"):
        preset("huge")
    with pytest.raises(ConfigError, match="'num_ids'"):
        preset("tiny", num_ids=3)
    assert isinstance(PRESETS["tiny"], GeneratorParams)


def test_cli(tmp_path: Path) -> None:
    from reid.cli.make_synthetic import main

    main(["--out", str(tmp_path), "--preset", "tiny", "--seed", "9", "--num-junk", "4",
          "--tracklet-length", "2,3", "--wrong-labels", "0.1"])
    m = meta(tmp_path / "mars")
    assert m["seed"] == 9 and m["params"]["tracklet_length"] == [2, 3]
    assert m["counts"]["junk_tracklets"] == 4 and m["params"]["wrong_labels"] == 0.1
    _, test = _split(tmp_path / "mars", "test")
    assert set((test[:, 1] - test[:, 0] + 1).astype(int)) <= {2, 3}


def test_hard_options_change_only_what_they_name() -> None:
    """Outfits, casts, jitter and scale drift draw from their own streams: the plan stays the same."""
    from reid.data.synthetic.layout import _OUTFIT_FIELDS, build_world

    plain = build_world(preset("tiny"))
    hard = build_world(preset("tiny", outfits=2, colour_cast=2.0, jitter=0.05, scale_change=0.2))
    assert [(t.name, t.length, t.camera) for t in plain.tracks] == [(t.name, t.length, t.camera) for t in hard.tracks]
    assert plain.queries == hard.queries
    outfits = {tuple(getattr(p, f) for f in _OUTFIT_FIELDS) for p in hard.persons[:11]}  # the 6 + 5 identities
    assert len(outfits) <= 2  # identities share clothing colours and patterns
    assert [(p.build, p.hair, p.bag) for p in plain.persons] == [(p.build, p.hair, p.bag) for p in hard.persons]
    gains = [np.abs(c.lut[200, 0].astype(int) - 200).mean() for c in plain.cameras]
    stronger = [np.abs(c.lut[200, 0].astype(int) - 200).mean() for c in hard.cameras]
    assert np.mean(stronger) > np.mean(gains)


def test_hard_preset_generates_with_jitter_and_drift(tmp_path: Path) -> None:
    base = generate(tmp_path / "a", preset("tiny"))
    moved = generate(tmp_path / "b", preset("tiny", jitter=0.05, scale_change=0.3))
    names = sorted(p.relative_to(base) for p in base.rglob("*.jpg"))
    assert names == sorted(p.relative_to(moved) for p in moved.rglob("*.jpg"))
    differ = sum(not np.array_equal(cv2.imread(str(base / n)), cv2.imread(str(moved / n))) for n in names[:40])
    assert differ > 20
    hard = PRESETS["hard"]
    assert hard.num_train_ids == 100 and hard.num_test_ids == 60 and hard.outfits > 0
    assert hard.occlusion > 0 and hard.blur > 0 and hard.jitter > 0 and hard.scale_change > 0
