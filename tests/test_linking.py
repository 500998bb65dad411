"""reid/tracking: time constraints, linking with identity-oracle embeddings (IDF1 by the metrics
library), MOT rewriting, embedding a rendered video's tracks, and the command line's errors."""

import numpy as np
import pytest
import torch

from reid.errors import ConfigError, DatasetError
from reid.eval.mot_metrics import evaluate_tracking
from reid.tracking import TrackSpan, link_tracks, relabel_mot, time_conflicts, track_distances
from reid.tracking.embedding import track_spans
from reid.tracking.videos import write_linked


def _gt_and_fragments(tmp_path):
    """Two cameras, three people; in each camera every person's walk is cut into tracks at a 3-frame
    occlusion and at a re-entry, as a tracker would. Returns (gt files, track files, track -> person)."""
    gts, tracks, owner = [], [], {}
    for cam in range(2):
        gt_rows, tr_rows, next_id = [], [], 1
        for person in (1, 2, 3):
            y = 20 * person
            for run in ((1, 10), (14, 25), (40, 50)):  # frames 11-13 hidden, then leaves and comes back
                frames = range(run[0] + person + cam, run[1] + person + cam)
                for f in frames:
                    gt_rows.append(f"{f},{person},{2 * f},{y},10,18,1,1,1")
                    tr_rows.append(f"{f},{next_id},{2 * f},{y},10,18,0.9,-1,-1,-1")
                owner[(cam, next_id)] = person
                next_id += 1
        for name, rows, out in (("gt", gt_rows, gts), ("trk", tr_rows, tracks)):
            path = tmp_path / f"{name}{cam}.txt"
            path.write_text("\n".join(rows) + "\n")
            out.append(path)
    return gts, tracks, owner


def test_time_conflicts_only_within_a_camera():
    spans = [TrackSpan(0, 1, 1, 10), TrackSpan(0, 2, 10, 20), TrackSpan(0, 3, 21, 30), TrackSpan(1, 4, 1, 30)]
    c = time_conflicts(spans)
    assert c[0, 1] and c[1, 0]  # share frame 10
    assert not c[1, 2] and not c[0, 2]  # one after the other
    assert not c[:, 3].any() and not c.diagonal().any()  # another camera may overlap in time


@pytest.mark.parametrize("seed", range(5))
def test_never_merges_tracks_overlapping_in_one_camera(seed):
    rng = np.random.default_rng(seed)
    first = rng.integers(1, 100, 40)
    spans = [TrackSpan(int(rng.integers(0, 2)), i, int(f), int(f + rng.integers(0, 30))) for i, f in enumerate(first)]
    labels = link_tracks(spans, np.zeros((40, 40)), threshold=1.0)  # every pair is "the same person"
    conflicts = time_conflicts(spans)
    assert not (conflicts & (labels[:, None] == labels[None, :])).any()
    assert len(set(labels.tolist())) < 40  # but compatible tracks did merge


def test_threshold_stops_merging():
    spans = [TrackSpan(0, i, 10 * i, 10 * i + 5) for i in range(3)]
    d = np.array([[0, 0.2, 0.9], [0.2, 0, 0.7], [0.9, 0.7, 0]])
    assert link_tracks(spans, d, threshold=0.5).tolist() == [0, 0, 1]
    assert link_tracks(spans, d, threshold=0.81).tolist() == [0, 0, 0]  # average linkage: (0.9 + 0.7) / 2
    assert link_tracks(spans, d, threshold=0.1).tolist() == [0, 1, 2]
    with pytest.raises(ConfigError, match="expected \\(3, 3\\)"):
        link_tracks(spans, d[:2], threshold=0.5)


def test_oracle_embeddings_recover_identities_and_raise_idf1(tmp_path):
    gts, tracks, owner = _gt_and_fragments(tmp_path)
    spans = [s for cam, path in enumerate(tracks) for s in track_spans(path, cam)]
    rng = np.random.default_rng(0)
    features = np.eye(8)[[owner[(s.camera, s.track)] for s in spans]] + rng.normal(0, 0.05, (len(spans), 8))
    labels = link_tracks(spans, track_distances(features), threshold=0.5)
    persons = np.array([owner[(s.camera, s.track)] for s in spans])
    assert len(set(labels.tolist())) == 3
    for label in set(labels.tolist()):  # each group is exactly one person
        assert len(set(persons[labels == label].tolist())) == 1
    outs = [tmp_path / f"linked{cam}.txt" for cam in range(2)]
    write_linked(spans, labels, [(None, t) for t in tracks], outs)
    pairs_before, pairs_after = list(zip(gts, tracks)), list(zip(gts, outs))
    for cross in (False, True):
        before = evaluate_tracking(pairs_before, cross_camera=cross)
        after = evaluate_tracking(pairs_after, cross_camera=cross)
        assert before.idf1 < 0.5 and after.idf1 == pytest.approx(1.0)
        assert after.det_recall == before.det_recall == 1.0


def test_rerank_and_missing_features():
    rng = np.random.default_rng(1)
    f = np.repeat(np.eye(4), 3, axis=0) + rng.normal(0, 0.05, (12, 4))
    f[5] = np.nan  # a track with no crop: far from everything, never linked
    for rerank in (False, True):
        d = track_distances(f, rerank=rerank)
        assert np.allclose(d, d.T) and d[5, :5].min() > 100
        spans = [TrackSpan(0, i, 10 * i, 10 * i + 5) for i in range(12)]
        labels = link_tracks(spans, d, threshold=0.5)
        assert sum(labels == labels[5]) == 1


def test_relabel_keeps_other_columns_and_detections(tmp_path):
    src = tmp_path / "t.txt"
    src.write_text("1,4,1.5,2,3,4,0.9,-1,-1,-1\n# comment\n2,-1,0,0,1,1,0.3,-1,-1,-1\n2,5,1,1,1,1,1\n")
    assert relabel_mot(src, tmp_path / "o.txt", {4: 1, 5: 1}) == 3
    assert (tmp_path / "o.txt").read_text() == "1,1,1.5,2,3,4,0.9,-1,-1,-1\n2,-1,0,0,1,1,0.3,-1,-1,-1\n2,1,1,1,1,1,1\n"
    src.write_text("1,x,1,1,1,1\n")
    with pytest.raises(DatasetError, match="t.txt:1"):
        relabel_mot(src, tmp_path / "o.txt", {})


@pytest.fixture(scope="module")
def tiny_footage(tmp_path_factory):
    from reid.data.synthetic.footage import FootageConfig, render_footage, sequence_dir

    root = tmp_path_factory.mktemp("footage") / "f"
    render_footage(root, FootageConfig(width=160, height=120, fps=4, train_frames=2, test_frames=30,
                                       num_cameras=2, test_people=3, train_people=1))
    return [(sequence_dir(root, "test", c) / "video.avi", sequence_dir(root, "test", c) / "gt" / "gt.txt")
            for c in range(2)]


def _tiny_model():
    from reid.models import build_model

    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=True, pooling="avg",
                           embed_dim=16, num_classes=2)
    return model


def test_embed_tracks_of_a_rendered_video(tmp_path, tiny_footage):
    from reid.tracking.videos import link_videos

    model = _tiny_model()
    outs = [tmp_path / f"o{c}.txt" for c in range(2)]
    result = link_videos(model, tiny_footage, outs, threshold=0.0, height=32, width=16, seq_len=2, max_frames=4)
    assert result.features.shape == (len(result.spans), 16) and np.isfinite(result.features).all()
    assert sorted(result.labels.tolist()) == list(range(len(result.spans)))  # threshold 0: nothing linked
    assert {s.camera for s in result.spans} == {0, 1} and all(o.is_file() for o in outs)
    with pytest.raises(ConfigError, match="2 \\(video, tracks\\) pairs but 1 output"):
        link_videos(model, tiny_footage, outs[:1], threshold=0.5, height=32, width=16, seq_len=2, max_frames=4)


def test_link_tracks_cli(tmp_path, tiny_footage, capsys):
    from reid.cli import link as tool
    from reid.cli.common import run_main
    from reid.config import config_to_dict, load_config

    cfg = load_config(None, ["model.backbone=resnet18", "model.pooling=avg", "model.embed_dim=16",
                             "model.init=random", "data.height=32", "data.width=16", "data.test_seq_len=2",
                             "data.test_max_frames=4", "device=cpu"])
    ckpt = tmp_path / "model.pt"
    torch.save({"model": _tiny_model().state_dict(), "config": config_to_dict(cfg)}, ckpt)
    (video0, tracks0), (video1, tracks1) = tiny_footage
    base = ["--checkpoint", str(ckpt), "--out", str(tmp_path / "o"), "--quiet"]
    assert run_main(tool.main, ["--video", str(video0), "--tracks", str(tracks0), "--video", str(video1),
                                     "--tracks", str(tracks1), "--threshold", "0.3", *base]) == 0
    assert "linked" in capsys.readouterr().out and (tmp_path / "o" / "cam1.txt").is_file()
    for args, message in ((["--video", str(video0), "--tracks", str(tmp_path / "none.txt")], "none.txt not found"),
                          (["--video", str(video0), "--video", str(video1), "--tracks", str(tracks0)],
                           "2 --video but 1 --tracks")):
        assert run_main(tool.main, [*args, *base]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1


def test_calibrate_threshold_is_a_quantile_of_co_occurring_pairs():
    from reid.tracking.linking import calibrate_threshold

    # camera 0: tracks 0-5 all overlap in time (15 pairs of different people); track 6 in camera 1
    spans = [TrackSpan(0, i, 1, 10) for i in range(6)] + [TrackSpan(1, 9, 1, 10)]
    d = np.full((7, 7), 5.0)
    pairs = [(i, j) for i in range(6) for j in range(i + 1, 6)]
    for k, (i, j) in enumerate(pairs):
        d[i, j] = d[j, i] = 1.0 + k  # 1 .. 15
    d[0, 6] = d[6, 0] = 0.1  # a cross-camera pair: not a known negative, not counted
    assert calibrate_threshold(spans, d, quantile=0.5) == pytest.approx(8.0)
    assert calibrate_threshold(spans, d, quantile=0.02) == pytest.approx(np.quantile(np.arange(1.0, 16.0), 0.02))
    with pytest.raises(ConfigError, match="only 3 pairs of tracks share a camera at the same time"):
        calibrate_threshold(spans[:3] + spans[6:], d[[0, 1, 2, 6]][:, [0, 1, 2, 6]])
    with pytest.raises(ConfigError, match="quantile 1.5"):
        calibrate_threshold(spans, d, quantile=1.5)
