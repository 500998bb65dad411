"""Finding ID switches in unlabelled tracks (reid/pipeline/track_switches.py) against literal values."""

import numpy as np
import pytest

from reid.data.tracklet import Tracklet
from reid.errors import ConfigError
from reid.pipeline.track_switches import (best_cut, eligible, flag_switches, frame_tracklets, kept_ranges, min_part,
                                          switch_scores, trimmed)


def test_the_shortest_side_of_a_cut():
    assert [min_part(n) for n in (2, 4, 13, 14, 20, 100)] == [2, 2, 2, 3, 3, 15]
    assert [eligible(n) for n in (3, 4, 5, 14, 20)] == [False, True, True, True, True]


def test_the_best_cut_is_where_the_person_changes():
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    f = np.array([e1] * 6 + [e2] * 4) * 5.0  # lengths do not matter: the frames are normalised first
    assert best_cut(f) == (pytest.approx(1.0), 6)
    # one person throughout: every cut compares equal means
    assert best_cut(np.array([e1] * 8))[0] == pytest.approx(0.0)
    # half of e1 + e2 on the second side: cos = 1/sqrt(2) at the switch, less elsewhere
    g = np.array([e1] * 4 + [(e1 + e2) / 2] * 4)
    score, cut = best_cut(g)
    assert cut == 4 and score == pytest.approx(1 - 1 / np.sqrt(2))
    with pytest.raises(ValueError, match="3 frames has no cut"):
        best_cut(f[:3])


def test_scores_per_track_and_the_robust_rule():
    e = np.eye(4)
    feats = np.concatenate([[e[0]] * 4, [e[1]] * 2 + [e[2]] * 2])
    scores, cuts = switch_scores(feats, np.array([0] * 4 + [2] * 4), 3)
    assert scores[0] == pytest.approx(0.0) and np.isnan(scores[1]) and scores[2] == pytest.approx(1.0)
    assert cuts.tolist() == [2, 0, 2]  # a clean track's best cut is its first (all alike)
    # the tracks' features may come interleaved: each track's own stay in frame order
    mixed = np.array([0, 4, 1, 5, 2, 6, 3, 7])
    again, again_cuts = switch_scores(feats[mixed], np.array([0, 2] * 4), 3)
    np.testing.assert_allclose(again, scores)
    assert again_cuts.tolist() == [2, 0, 2]

    s = np.array([0.10, 0.12, 0.08, 0.11, 0.09, 0.60, np.nan])
    # median 0.105, MAD 0.015 -> 1.4826 * 0.015 = 0.0222; 0.105 + 3 * 0.0222 = 0.172
    assert flag_switches(s, 3.0).tolist() == [False] * 5 + [True, False]
    assert flag_switches(s, 0.2).tolist() == [False, True, False, True, False, True, False]
    assert not flag_switches(np.array([0.2, 0.2, 0.2, 0.9]), 3.0).any()  # no spread: nothing stands out
    assert not flag_switches(np.array([0.1, 0.9]), 3.0).any()  # too few to tell


def test_a_flagged_track_keeps_its_longer_side():
    ranges = kept_ranges([10, 10, 10, 9], np.array([True, True, False, True]), np.array([6, 3, 5, 4]))
    assert ranges.tolist() == [[0, 6], [3, 10], [0, 10], [4, 9]]
    tracks = [Tracklet(frames=tuple(f"t{i}/{k}.jpg" for k in range(n)), pid=0, camid=0, name=f"t{i}")
              for i, n in enumerate([10, 10, 10, 9])]
    cut = trimmed(tracks, ranges)
    assert cut[2] is tracks[2]
    assert cut[0].frames == tracks[0].frames[:6] and cut[1].frames == tracks[1].frames[3:]
    assert cut[3].frames == ("t3/4.jpg", "t3/5.jpg", "t3/6.jpg", "t3/7.jpg", "t3/8.jpg")
    frames, owners, positions = frame_tracklets([tracks[0], Tracklet(frames=("a.jpg", "b.jpg", "c.jpg"), pid=0,
                                                                    camid=1)], max_frames=64)
    assert owners.tolist() == [0] * 10 and [f.frames for f in frames[:2]] == [("t0/0.jpg",), ("t0/1.jpg",)]
    assert positions.tolist() == list(range(10))
    # a long track is read at max_frames evenly spaced frames, and its cut named in its own frames
    long = Tracklet(frames=tuple(f"{k}.jpg" for k in range(100)), pid=0, camid=0)
    frames, owners, positions = frame_tracklets([tracks[3], long], max_frames=5)
    assert owners.tolist() == [0] * 5 + [1] * 5
    assert positions.tolist() == [0, 2, 4, 6, 8, 0, 25, 50, 74, 99]  # round(linspace(0, 99, 5))
    assert frames[7].frames == ("50.jpg",)
    e = np.eye(2)
    feats = np.array([e[0]] * 5 + [e[0], e[0], e[1], e[1], e[1]])
    scores, cuts = switch_scores(feats, owners, 2, positions)
    assert cuts.tolist() == [4, 50] and scores[1] == pytest.approx(1.0)  # 4: frame 2 of 0 2 4 6 8


def test_packed_tracklets_cannot_be_trimmed(tmp_path):
    from reid.config import load_config
    from reid.data.tracklet import VideoReIDDataset
    from reid.pipeline.pseudo_labels import PseudoLabels

    cfg = load_config("short_run", ["cluster.trim_switches=true"])
    packed = [Tracklet(frames=("0.jpg", "1.jpg"), pid=0, camid=0, video=str(tmp_path / "v.mp4"))]
    dataset = VideoReIDDataset(name="x", train=packed, query=[], gallery=[])
    with pytest.raises(ConfigError, match="cluster.trim_switches.*data.packed=false"):
        PseudoLabels(cfg, dataset, device=None)
