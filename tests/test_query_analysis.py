"""Per-query failure analysis: hand-made rankings against hand-computed rows, shares and agreement
counts; agreement with reid.eval.evaluate; the generator's side files; the command end to end on the
tiny preset; the peer script's saved distances (with a stand-in for torchreid)."""

import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from mars_fixtures import build_tiny

from reid.data.tracklet import Tracklet
from reid.errors import DatasetError
from reid.eval.ranking import evaluate
from reid.studies.query_analysis import (SideFiles, analyse_queries, breakdown, camera_breakdown, compare,
                                         read_side_files)
from reid.studies.query_distances import load_distances
from reid.studies.query_report import queries_csv, queries_markdown

ROOT = Path(__file__).resolve().parents[1]
INF = 9.0


def _track(pid: int, cam: int, name: str, length: int = 4) -> Tracklet:
    return Tracklet(frames=tuple(f"/x/{name}F{f + 1:03d}.jpg" for f in range(length)), pid=pid, camid=cam, name=name)


# Gallery: g0 is q0's identity in q0's camera (left out by the protocol), pid 2 is pid 1's near twin,
# g4 a distractor. Queries: q0 half occluded with its twin in the gallery; q1 the twin, a quarter
# blurred; q2 clean; q3 a fifth truncated (under 25 %: clean); q4 without a match (not scored).
GALLERY = [_track(1, 0, "0001C1T0002"), _track(1, 1, "0001C2T0001"), _track(2, 1, "0002C2T0001"),
           _track(3, 0, "0003C1T0001"), _track(0, 2, "0000C3T0001"), _track(4, 2, "0004C3T0001")]
QUERY = [_track(1, 0, "0001C1T0001"), _track(2, 0, "0002C1T0001"), _track(3, 1, "0003C2T0001"),
         _track(4, 1, "0004C2T0001", length=5), _track(5, 0, "0005C1T0001")]
SIDE = SideFiles(twins={1: 2, 2: 1}, outliers={"0001C1T0001F001.jpg": ("occlusion",),
                                               "0001C1T0001F002.jpg": ("occlusion", "blur"),
                                               "0002C1T0001F003.jpg": ("blur",),
                                               "0004C2T0001F004.jpg": ("truncation",),
                                               "0002C2T0001F001.jpg": ("blur",)})  # a gallery frame: no effect
#                 g0   g1   g2   g3   g4   g5
DIST = np.array([[0.0, 0.3, 0.1, INF, INF, INF],   # q0: junk g0 first, then the twin: first match 2, AP 1/2
                 [INF, INF, 0.1, INF, INF, INF],   # q1: right at rank 1, AP 1
                 [INF, 0.1, INF, 0.3, 0.2, INF],   # q2: pid 1 in its own camera, a distractor: first match 3
                 [INF, INF, INF, INF, 0.1, 0.2],   # q3: a distractor first: first match 2, AP 1/2
                 [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]])  # q4: no pid 5 in the gallery


def test_hand_made_ranking_gives_the_hand_computed_rows_and_breakdown():
    rows = analyse_queries(DIST, QUERY, GALLERY, SIDE)
    assert [r.first_match for r in rows] == [2, 1, 3, 2, None]
    assert [r.rank1 for r in rows] == [False, True, False, False, False]
    assert [r.top1 for r in rows[:4]] == ["0002C2T0001", "0002C2T0001", "0001C2T0001", "0000C3T0001"]
    assert [r.top1_is_twin for r in rows[:4]] == [True, False, False, False]
    assert [r.top1_same_camera for r in rows[:4]] == [False, False, True, False]
    assert [r.twin_pid for r in rows] == [2, 1, None, None, None]
    assert rows[0].fractions == {"occlusion": 0.5, "blur": 0.25, "truncation": 0.0}
    assert rows[3].fractions == {"occlusion": 0.0, "blur": 0.0, "truncation": 0.2}
    assert [r.categories for r in rows] == [("twin", "occluded", "blurred"), ("twin", "blurred"), ("clean",),
                                            ("clean",), ("clean",)]
    assert np.allclose([r.ap for r in rows[:4]], [0.5, 1.0, 1 / 3, 0.5]) and math.isnan(rows[4].ap)

    stats = {s.name: s for s in breakdown(rows, SIDE.categories)}
    assert list(stats) == ["all", "twin", "occluded", "blurred", "truncated", "clean"]
    # name: (scored queries, rank-1, mAP, rank-1 failures, share of the 3 failures)
    expected = {"all": (4, 0.25, 7 / 12, 3, 1.0), "twin": (2, 0.5, 0.75, 1, 1 / 3),
                "occluded": (1, 0.0, 0.5, 1, 1 / 3), "blurred": (2, 0.5, 0.75, 1, 1 / 3),
                "clean": (2, 0.0, 5 / 12, 2, 2 / 3)}
    for name, (n, r1, m, f, share) in expected.items():
        s = stats[name]
        assert (s.queries, s.failures) == (n, f) and (s.rank1, s.mAP, s.share) == pytest.approx((r1, m, share)), name
    t = stats["truncated"]
    assert (t.queries, t.failures, t.share) == (0, 0, 0.0) and math.isnan(t.rank1) and math.isnan(t.mAP)
    assert sum(stats[c].share for c in SIDE.categories) == pytest.approx(5 / 3)  # categories overlap
    cams = {s.name: (s.queries, s.rank1, s.failures) for s in camera_breakdown(rows)}
    assert cams == {"C1": (2, 0.5, 1), "C2": (2, 0.0, 2)}

    text = queries_markdown(rows, SIDE, label="A", source="a.pt")
    assert "| occluded | >= 25% of its frames occluded | 1 | 0.0 | 50.0 | 1 | 33.3 |" in text
    assert "| truncated | >= 25% of its frames truncated | 0 | n/a | n/a | 0 | 0.0 |" in text
    assert ("3 rank-1 failures; the wrong rank-1 item is the query's near twin in 1, seen by the query's own "
            "camera in 1, a distractor (pid 0) in 1.") in text
    lines = queries_csv(rows, SIDE).splitlines()
    assert lines[1] == "0,0001C1T0001,1,0,4,0.5000,0,2,0002C2T0001,2,1,1,0,0.500,0.250,0.000,2,twin;occluded;blurred"
    assert lines[5].startswith("4,0005C1T0001,5,0,4,,,,")  # not scored: no AP, rank-1 or first match


def test_comparison_counts_by_hand():
    other = DIST.copy()
    other[0] = [0.0, 0.1, 0.3, INF, INF, INF]  # q0 right
    other[1] = [INF, INF, 0.2, INF, 0.1, INF]  # q1 wrong
    other[2, 3] = 0.05  # q2 right; q3 wrong as before
    a, b = analyse_queries(DIST, QUERY, GALLERY, SIDE), analyse_queries(other, QUERY, GALLERY, SIDE)
    table = {x.name: (x.queries, x.both, x.only_a, x.only_b, x.neither) for x in compare(a, b, SIDE.categories)}
    assert table == {"all": (4, 0, 1, 2, 1), "twin": (2, 0, 1, 1, 0), "occluded": (1, 0, 0, 1, 0),
                     "blurred": (2, 0, 1, 1, 0), "truncated": (0, 0, 0, 0, 0), "clean": (2, 0, 0, 1, 1)}
    text = queries_markdown(a, SIDE, label="ours", source="a", against=b, against_label="peer", against_source="b")
    assert "| category | queries | both right | only ours | only peer | both wrong |" in text
    assert "| all | 4 | 0 | 1 | 2 | 1 |" in text
    with pytest.raises(ValueError, match="different queries"):
        compare(a, b[::-1], SIDE.categories)


def test_per_query_ap_and_rank1_agree_with_evaluate():
    rng = np.random.default_rng(0)
    # pids 9-11 have no gallery match (not scored); distances with one decimal tie often, and both
    # evaluate and the ranked list break ties by gallery index
    query = [_track(int(p), int(c), f"q{i}") for i, (p, c) in enumerate(zip(rng.integers(0, 12, 40),
                                                                             rng.integers(0, 3, 40)))]
    gallery = [_track(int(p), int(c), f"g{i}") for i, (p, c) in enumerate(zip(rng.integers(0, 9, 90),
                                                                               rng.integers(0, 3, 90)))]
    dist = np.round(rng.random((40, 90)), 1).astype(np.float32)
    res = evaluate(dist, [t.pid for t in query], [t.pid for t in gallery], [t.camid for t in query],
                   [t.camid for t in gallery], max_rank=10)
    rows = analyse_queries(dist, query, gallery, SideFiles(None, None))
    scored = [r for r in rows if r.scored]
    assert res.num_skipped == len(rows) - len(scored) > 0
    assert np.mean([r.ap for r in scored]) == pytest.approx(res.mAP, abs=1e-12)
    for k in (1, 3, 10):
        assert np.mean([r.first_match <= k for r in scored]) == pytest.approx(res.rank(k), abs=1e-12)
    assert [r.categories for r in rows] == [()] * len(rows)
    assert [s.name for s in breakdown(rows, ())] == ["all"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny preset with one near-twin pair among its 5 test ids and plenty of outlier frames."""
    return build_tiny(tmp_path_factory.mktemp("tiny-twins"), twins=0.4, occlusion=0.3, blur=0.3)


def test_generator_side_files_and_a_missing_twins_csv(tiny, tmp_path):
    import shutil

    side = read_side_files(tiny.parent)
    assert side.categories == ("twin", "occluded", "blurred", "truncated", "clean") and not side.notes
    assert len(side.twins) == 2 and all(side.twins[side.twins[p]] == p for p in side.twins)
    assert side.outliers and all(name.endswith(".jpg") for name in side.outliers)
    copy = tmp_path / "mars"
    shutil.copytree(tiny, copy, ignore=shutil.ignore_patterns("bbox_*"))
    (copy / "twins.csv").unlink()
    side = read_side_files(copy)
    assert side.categories == ("occluded", "blurred", "truncated", "clean")
    assert len(side.notes) == 1 and f"{copy / 'twins.csv'} not found" in side.notes[0] and "twins 0.4" in side.notes[0]
    (copy / "outliers.csv").unlink()
    side = read_side_files(copy)
    assert side.categories == () and len(side.notes) == 2
    (copy / "outliers.csv").write_text("split,name,kind\ntest,0001C1T0001F001.jpg,smudge\n")
    with pytest.raises(DatasetError, match=r"outliers.csv: line 2: kind 'smudge'"):
        read_side_files(copy)


def _checkpoint(path: Path, seed: int) -> Path:
    from reid.config import config_to_dict, load_config
    from reid.engine.checkpoint import save_checkpoint
    from reid.models import build_model

    cfg = load_config(None, ["model.backbone=resnet18", "model.init=random", "model.embed_dim=16", "data.height=64",
                             "data.width=32", "data.test_seq_len=2", "data.test_max_frames=4", "data.workers=0",
                             "eval.batch_size=32"])
    torch.manual_seed(seed)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=True, pooling="avg",
                           embed_dim=16, num_classes=6)
    save_checkpoint(path, {"model": model.state_dict(), "iteration": 1, "config": config_to_dict(cfg),
                           "num_classes": 6})
    return path


def test_command_end_to_end_on_the_tiny_preset(tiny, tmp_path, capsys):
    from reid.cli.main import main
    from reid.data import load_dataset

    run, other = _checkpoint(tmp_path / "run" / "model.pt", 0), _checkpoint(tmp_path / "other" / "model.pt", 1)
    out = tmp_path / "queries"
    args = ["study", "queries", "--root", str(tiny.parent), "--checkpoint", str(run), "--out", str(out), "--quiet"]
    assert main([*args, "--against", str(other)]) == 0
    printed = capsys.readouterr().out
    assert "this project: rank-1" in printed and "other run: rank-1" in printed
    dataset = load_dataset("mars", tiny.parent)
    lines = (out / "queries.csv").read_text().splitlines()
    assert len(lines) == 1 + len(dataset.query) and lines[0].endswith("against_first_match,against_top1")
    text = (out / "queries.md").read_text()
    assert "## this project against other run: rank-1 on the same queries" in text
    assert not list(out.glob(".*.tmp"))  # written through a temporary file, none left

    # Against its own distances, saved as the peer script saves them: rank-1 agrees on every query.
    from reid.cli.query_analysis import _own_config
    from reid.studies.query_distances import checkpoint_distances

    dist = checkpoint_distances(_own_config(str(run), []), run, dataset.query, dataset.gallery)
    np.savez(tmp_path / "distmat.npz", distmat=dist, **_labels(dataset.query, dataset.gallery))
    assert main([*args, "--against", str(tmp_path / "distmat.npz"), "--against-label", "itself"]) == 0
    again = [line.split(",") for line in (out / "queries.csv").read_text().splitlines()[1:]]
    assert [r[:18] for r in again] == [line.split(",")[:18] for line in lines[1:]]  # the --checkpoint side
    assert all(r[6] == r[19] for r in again)  # rank-1 of both sides
    assert "| all | " in (out / "queries.md").read_text()
    assert "only itself | both wrong |" in (out / "queries.md").read_text()

    missing = tmp_path / "none.npz"
    assert main([*args, "--against", str(missing)]) == 1
    err = capsys.readouterr().err
    assert err.strip() == f"error: {missing} not found: expected a (queries x gallery) distance matrix, .npy or .npz"
    nowhere = [*args[:2], "--root", str(tmp_path / "nowhere"), *args[4:]]
    assert main(nowhere) == 1
    assert capsys.readouterr().err.strip() == f"error: dataset root {tmp_path / 'nowhere'} does not exist or is not a folder"


def _labels(query, gallery):
    return {"q_pids": [t.pid for t in query], "g_pids": [t.pid for t in gallery],
            "q_camids": [t.camid for t in query], "g_camids": [t.camid for t in gallery]}


def test_distance_files_are_checked_against_the_dataset(tmp_path):
    np.save(tmp_path / "d.npy", DIST)
    assert np.array_equal(load_distances(tmp_path / "d.npy", QUERY, GALLERY), DIST)
    with pytest.raises(DatasetError, match=r"d.npy: distances of shape \(5, 6\), expected \(5, 5\)"):
        load_distances(tmp_path / "d.npy", QUERY, GALLERY[:5])
    labels = _labels(QUERY, GALLERY)
    np.savez(tmp_path / "ok.npz", distmat=DIST, **labels)
    assert np.array_equal(load_distances(tmp_path / "ok.npz", QUERY, GALLERY), DIST)
    np.savez(tmp_path / "moved.npz", distmat=DIST, **{**labels, "g_camids": [0, 1, 1, 0, 2, 1]})
    with pytest.raises(DatasetError, match=r"moved.npz: g_camids .* at position 5: .* another order"):
        load_distances(tmp_path / "moved.npz", QUERY, GALLERY)
    np.savez(tmp_path / "nan.npz", distmat=np.where(DIST > 1, np.nan, DIST))
    with pytest.raises(DatasetError, match=r"nan.npz: NaN or inf distance at row 0, column 3"):
        load_distances(tmp_path / "nan.npz", QUERY, GALLERY)
    (tmp_path / "bad.npy").write_text("not numpy")
    with pytest.raises(DatasetError, match=r"bad.npy: cannot read"):
        load_distances(tmp_path / "bad.npy", QUERY, GALLERY)


def _peer_script(monkeypatch):
    """tools/peer/torchreid_video.py imported with a stand-in for torchreid (not installed in .venv)."""
    calls = []

    def evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, **kwargs):
        calls.append(max_rank)
        return np.zeros(max_rank), 0.5

    names = ["torchreid", "torchreid.reid", "torchreid.reid.metrics", "torchreid.reid.data",
             "torchreid.reid.data.datasets", "torchreid.reid.data.datasets.video",
             "torchreid.reid.data.datasets.video.mars"]
    modules = {name: types.ModuleType(name) for name in names}
    for name in names[1:]:
        parent, _, child = name.rpartition(".")
        setattr(modules[parent], child, modules[name])
    modules["torchreid"].engine = types.SimpleNamespace(VideoTripletEngine=object)
    modules["torchreid.reid.metrics"].evaluate_rank = evaluate_rank
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = importlib.util.spec_from_file_location("torchreid_video", ROOT / "tools" / "peer" / "torchreid_video.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script, modules["torchreid.reid.metrics"], calls


def test_peer_script_saves_the_distances_torchreid_ranked(monkeypatch, tmp_path):
    script, metrics, calls = _peer_script(monkeypatch)
    for sub in ("bbox_train", "bbox_test", "info"):
        (tmp_path / "data" / "mars" / sub).mkdir(parents=True)
    given = ["--root", str(tmp_path / "data"), "--out", str(tmp_path / "run")]
    assert script.parse_args([*given, "--save-distmat"]).save_distmat and not script.parse_args(given).save_distmat
    out = tmp_path / "run"
    out.mkdir()
    recorder = script.DistanceRecorder()
    script.limit_max_rank(3)  # both wrappers in place, as in main: the engine's call reaches the original
    recorder.install()
    labels = {k: np.array(v) for k, v in _labels(QUERY, GALLERY).items()}
    assert metrics.evaluate_rank(DIST, labels["q_pids"], labels["g_pids"], labels["q_camids"],
                                 labels["g_camids"], use_metric_cuhk03=False)[1] == 0.5
    assert calls == [3]
    script.save_distances(out / "distmat.npz", recorder.last)
    assert sorted(p.name for p in out.iterdir()) == ["distmat.npz"]  # no temporary file left
    np.testing.assert_array_equal(load_distances(out / "distmat.npz", QUERY, GALLERY), DIST.astype(np.float32))
    with pytest.raises(SystemExit, match="never called"):
        script.save_distances(out / "none.npz", None)
