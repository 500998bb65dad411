"""tools/compare_peer.py without training: arguments, commands, metric files, table, missing peer venv."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from reid.studies import compare_peer as cp

MATCHED = ["--height", "64", "--width", "32", "--seq-len", "4", "--num-identities", "4", "--num-instances", "2",
           "--workers", "2", "--threads", "2"]


def _mars_root(tmp_path: Path) -> Path:
    (tmp_path / "data" / "mars" / "info").mkdir(parents=True)
    return tmp_path / "data"


def _write_peer(run_dir: Path, rank1: float, mAP: float, s_per_it: float,
                rr: tuple[float, float] | None = None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"plain": {"rank1": rank1, "mAP": mAP}}
    if rr:
        results["re-ranked"] = {"rank1": rr[0], "mAP": rr[1]}
    (run_dir / "metrics.json").write_text(json.dumps({"results": results, "iterations": 22,
                                                      "seconds_per_iteration": s_per_it,
                                                      "step_seconds_per_iteration": s_per_it / 2}))


def _write_ours(run_dir: Path, rank1: float, mAP: float, rate: float, rr: tuple[float, float] | None = None) -> None:
    """The files tools/train.py leaves: metrics.json (reid.report.run_report.write_report) and its log."""
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"plain": {"rank1": rank1, "rank5": 90.0, "mAP": mAP, "num_skipped_queries": 0, "cmc": [0.5, 1.0]}}
    if rr:
        results["re-ranked"] = {"rank1": rr[0], "mAP": rr[1], "num_skipped_queries": 0, "cmc": [0.5, 1.0]}
    (run_dir / "metrics.json").write_text(json.dumps({"results": results}))
    (run_dir / "run.log").write_text(
        "18:28:50 INFO reid.engine.trainer: device cpu, precision fp32 (auto: this CPU has no native bf16 "
        "(oneDNN is capped by ONEDNN_MAX_CPU_ISA=AVX2)), memory format contiguous, 2 threads\n"
        "18:28:54 INFO reid.engine.trainer: it 10/20  loss 2.5  lr 3.50e-04  (9.99 it/s)\n"
        f"18:29:52 INFO reid.engine.trainer: it 20/20  loss 2.1683  osm_caa 0.3862  lr 3.50e-04  ({rate:.2f} it/s)\n")


def test_defaults_and_rows():
    args = cp.parse_args(["--root", "/d"])
    assert args.seeds == [0, 1, 2] and args.iterations == 510 and args.out == "outputs/peer"
    assert (args.height, args.width, args.seq_len, args.num_identities, args.num_instances) == (128, 64, 4, 4, 2)
    assert [(r.name, r.side) for r in args.rows] == [("torchreid 0.2.5", "peer"), ("ours", "ours")]


def test_overrides_variants_label_and_sides():
    args = cp.parse_args(["--root", "/d", "--config", "c.yaml", "eval.metric=euclidean", "--seeds", "0", "1",
                          "--label", "OSM+CAA", "--variant", "no rerank:eval.rerank=false,train.lr=0.001",
                          "--variant", "triplet:loss.terms=[{name: triplet, margin: 0.3}, {name: cross_entropy}]",
                          "train.amp=false"])
    assert args.overrides == ["eval.metric=euclidean", "train.amp=false"]
    assert args.seeds == [0, 1]
    assert [(r.name, r.slug, r.overrides) for r in args.rows[1:]] == [
        ("OSM+CAA", "osm_caa", []),
        ("no rerank", "no_rerank", ["eval.rerank=false", "train.lr=0.001"]),
        ("triplet", "triplet", ["loss.terms=[{name: triplet, margin: 0.3}, {name: cross_entropy}]"]),
    ]
    assert [r.side for r in cp.parse_args(["--root", "/d", "--sides", "ours"]).rows] == ["ours"]
    assert [r.side for r in cp.parse_args(["--root", "/d", "--sides", "peer"]).rows] == ["peer"]


@pytest.mark.parametrize("argv, message", [
    (["--sides", "peer,theirs"], "--sides"),
    (["--variant", "novalue"], "--variant 'novalue'"),
    (["--variant", "x:notanoverride"], "--variant 'x:notanoverride'"),
    (["--variant", "ours:a=1"], "row names must differ"),
    (["--sides", "peer", "--variant", "v:a=1"], "add ours to --sides"),
    (["--seeds", "1", "1"], "distinct seeds"),
    (["bogus"], "override 'bogus'"),
])
def test_bad_arguments_are_one_line_errors(argv, message):
    with pytest.raises(SystemExit, match=message):
        cp.parse_args(["--root", "/d", *argv])


def test_commands_hold_the_matched_settings(tmp_path):
    args = cp.parse_args(["--root", str(tmp_path), "--iterations", "20", *MATCHED,
                          "--config", "configs/mars_osm_caa.yaml",
                          "eval.metric=euclidean", "--variant", "v:train.lr=0.001"])
    run_dir = tmp_path / "out"
    ours = cp.ours_command(args, args.rows[2], 3, run_dir)
    assert ours[:2] == [sys.executable, str(cp.TRAIN)]
    for item in ["data.name=mars", f"data.root={tmp_path.resolve()}", "model.backbone=resnet18", "model.init=random",
                 "data.height=64", "data.width=32", "data.seq_len=4", "data.num_identities=4",
                 "data.num_instances=2", "data.workers=2", "train.iterations=20", "seed=3", f"output_dir={run_dir}"]:
        assert item in ours
    # the user's overrides, then the variant's, come after the matched settings
    assert ours.index("eval.metric=euclidean") > ours.index("train.iterations=20")
    assert ours.index("train.lr=0.001") > ours.index("eval.metric=euclidean")
    peer = cp.peer_command(args, Path("/venv/bin/python"), 3, run_dir)
    assert peer[:2] == ["/venv/bin/python", str(cp.PEER_SCRIPT)]
    text = " ".join(peer)
    for item in ["--seed 3", "--height 64", "--width 32", "--seq-len 4", "--num-identities 4", "--num-instances 2",
                 "--iterations 20", "--workers 2", "--threads 2", f"--out {run_dir}"]:
        assert item in text
    assert peer[-1] == "--save-distmat"


def test_missing_peer_venv_says_run_make_peer(tmp_path):
    with pytest.raises(SystemExit, match="run make peer first"):
        cp.peer_python(tmp_path / ".peer-venv")
    root = _mars_root(tmp_path)
    with pytest.raises(SystemExit, match="run make peer first"):
        cp.main(["--root", str(root), "--sides", "peer", "--peer-venv", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "o")])
    assert not (tmp_path / "o").exists()


def test_a_row_name_may_hold_colons():
    row = cp.parse_variant("K6: OSM+CAA at weight 2:loss.terms=[{name: osm_caa, weight: 2.0}],train.lr=0.001")
    assert row.name == "K6: OSM+CAA at weight 2"
    assert row.overrides == ["loss.terms=[{name: osm_caa, weight: 2.0}]", "train.lr=0.001"]


def test_a_bad_project_row_is_refused_before_any_run(tmp_path):
    """A typo in a variant stops the comparison at once, not after the first seed's peer run."""
    root = _mars_root(tmp_path)
    config = Path(__file__).resolve().parents[1] / "configs" / "mars_osm_caa.yaml"
    with pytest.raises(SystemExit, match=r"project row 'typo': .*unknown config key 'train.lrr'"):
        cp.main(["--root", str(root), "--config", str(config), "--peer-venv", str(tmp_path / "nope"),
                 "--out", str(tmp_path / "o"), "--variant", "typo:train.lrr=0.1"])
    with pytest.raises(SystemExit, match=r"project row 'ours': .*'osm' is not a loss"):
        cp.main(["--root", str(root), "--config", str(config), "--sides", "ours", "--out", str(tmp_path / "o"),
                 "loss.terms=[{name: osm}]"])
    with pytest.raises(SystemExit, match=r"project row 'cos': config key 'eval.metric': 'cosin' is not one of"):
        cp.main(["--root", str(root), "--config", str(config), "--sides", "ours", "--out", str(tmp_path / "o"),
                 "--variant", "cos:eval.metric=cosin"])
    assert not (tmp_path / "o").exists()


def test_root_without_mars_layout_is_refused(tmp_path):
    with pytest.raises(SystemExit, match=r"--root .*mars/info"):
        cp.main(["--root", str(tmp_path), "--sides", "ours", "--out", str(tmp_path / "o")])


def test_parse_rate_takes_the_last_progress_line():
    log = "it 10/20  loss 1.0  (2.50 it/s)\nsomething else\nit 20/20  loss 0.5  lr 1e-4  (0.34 it/s)\n"
    assert cp.parse_rate(log) == (20, 0.34)
    assert cp.parse_rate("no progress here") is None


def test_mean_std():
    assert cp.mean_std([5.0]) == (5.0, 0.0)
    mean, std = cp.mean_std([1.0, 2.0, 3.0])
    assert mean == pytest.approx(2.0) and std == pytest.approx(1.0)  # sample std


def test_table_and_files_from_fake_runs(tmp_path):
    args = cp.parse_args(["--root", "/d", "--seeds", "0", "1", "--out", str(tmp_path), "--variant", "v:train.lr=1"])
    peer, ours, variant = args.rows
    _write_peer(tmp_path / "torchreid" / "seed0", 10.0, 20.0, 1.0, rr=(12.0, 22.0))
    _write_peer(tmp_path / "torchreid" / "seed1", 20.0, 30.0, 3.0, rr=(14.0, 24.0))
    _write_ours(tmp_path / "ours" / "seed0", 40.0, 50.0, rate=2.0, rr=(41.0, 51.0))
    _write_ours(tmp_path / "ours" / "seed1", 44.0, 54.0, rate=4.0)  # no re-ranked entry: no re-ranked line
    _write_ours(tmp_path / "v" / "seed0", 1.0, 2.0, rate=0.5)
    results = {
        peer.name: [cp.read_result(peer, s, tmp_path / "torchreid" / f"seed{s}") for s in (0, 1)],
        ours.name: [cp.read_result(ours, s, tmp_path / "ours" / f"seed{s}") for s in (0, 1)],
        variant.name: [cp.read_result(variant, 0, tmp_path / "v" / "seed0")],
    }
    assert results[ours.name][0].s_per_it == pytest.approx(0.5) and results[ours.name][0].iterations == 20
    assert results[peer.name][1].iterations == 22
    table = cp.write_outputs(tmp_path, args, args.rows, results)
    lines = table.splitlines()
    assert lines[0] == "| run | rank-1 mean ± std | mAP mean ± std | s/it mean | seeds |"
    assert lines[2] == "| torchreid 0.2.5 | 15.00 ± 7.07 | 25.00 ± 7.07 | 2.000 | 0,1 |"
    assert lines[3] == "| torchreid 0.2.5 (re-ranked) | 13.00 ± 1.41 | 23.00 ± 1.41 | 2.000 | 0,1 |"
    assert lines[4] == "| ours | 42.00 ± 2.83 | 52.00 ± 2.83 | 0.375 | 0,1 |"
    assert lines[5] == "| v | 1.00 | 2.00 | 2.000 | 0 |"
    assert len(lines) == 6
    assert table in (tmp_path / "compare.md").read_text()
    notes = (tmp_path / "compare.md").read_text()
    assert "torchreid 0.2.5: 1.000 s/it in forward/backward/step alone" in notes
    assert "- ours: trained in fp32\n" in notes and "- torchreid 0.2.5: trained in fp32\n" in notes
    assert f"torch kernels {torch.backends.cpu.get_cpu_capability()}" in notes
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["rows"]["ours"]["rank1_mean"] == pytest.approx(42.0)
    assert "rr_rank1_mean" not in data["rows"]["ours"]
    assert [r["rank1"] for r in data["runs"]["torchreid 0.2.5"]] == [10.0, 20.0]
    assert data["settings"]["seeds"] == [0, 1]


def test_metrics_without_results_are_refused(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"results": {}}))
    row = cp.Row("ours", "ours", "ours")
    with pytest.raises(SystemExit, match="results.plain.rank1"):
        cp.read_result(row, 0, tmp_path)
    with pytest.raises(SystemExit, match="metrics.json not found"):
        cp.read_result(row, 0, tmp_path / "missing")


def test_ours_without_speed_is_refused(tmp_path):
    _write_ours(tmp_path, 1.0, 2.0, rate=1.0)
    (tmp_path / "run.log").write_text("a --quiet run logs no progress\n")
    with pytest.raises(SystemExit, match=r"it/s"):
        cp.read_result(cp.Row("ours", "ours", "ours"), 0, tmp_path)


def test_finished_run_with_the_same_command_is_read_back(tmp_path):
    row = cp.Row("ours", "ours", "ours")
    _write_ours(tmp_path, 30.0, 40.0, rate=1.0)
    cmd = [sys.executable, "-c", "raise SystemExit(3)"]  # would fail if it ran
    (tmp_path / "run.json").write_text(json.dumps({"command": cmd, "wall_seconds": 12.5}))
    result = cp.run_one(row, 0, cmd, tmp_path, threads=1, force=False)
    assert (result.rank1, result.wall_seconds) == (30.0, 12.5)
    with pytest.raises(SystemExit, match=r"ours seed 0 failed \(exit 3\)"):
        cp.run_one(row, 0, cmd, tmp_path, threads=1, force=True)
    assert not (tmp_path / "metrics.json").exists()  # a stale result never outlives a rerun


def test_the_scripts_it_runs_exist():
    """Both sides run as programs of the repository: a path that moved with the module breaks every run."""
    assert cp.TRAIN.is_file() and cp.PEER_SCRIPT.is_file()
    assert Path(cp.parse_args(["--root", "/d"]).config).is_file()


def test_time_to_the_peers_final_accuracy(tmp_path):
    args = cp.parse_args(["--root", "/d", "--seeds", "0", "1", "--out", str(tmp_path), "--eval-every", "5"])
    peer, ours = args.rows
    assert "train.eval_every=5" in cp.ours_overrides(args, ours)
    _write_peer(tmp_path / "torchreid" / "seed0", 30.0, 40.0, 1.0)  # 22 iterations x 1 s
    _write_peer(tmp_path / "torchreid" / "seed1", 60.0, 70.0, 1.0)
    for seed, curve in ((0, [(5, 10, 20), (10, 31, 39), (15, 35, 41)]), (1, [(5, 50, 65), (10, 55, 66), (15, 58, 69)])):
        _write_ours(tmp_path / "ours" / f"seed{seed}", 45.0 if seed == 0 else 59.0, 50.0 if seed == 0 else 69.5,
                    rate=2.0)
        (tmp_path / "ours" / f"seed{seed}" / "train_log.csv").write_text(
            "iteration,loss,eval_rank1,eval_mAP\n1,2.0,,\n" + "".join(f"{i},1.0,{r},{m}\n" for i, r, m in curve))
    results = {peer.name: [cp.read_result(peer, s, tmp_path / "torchreid" / f"seed{s}") for s in (0, 1)],
               ours.name: [cp.read_result(ours, s, tmp_path / "ours" / f"seed{s}") for s in (0, 1)]}
    assert results[ours.name][0].curve[-1] == [20, 45.0, 50.0]  # the final evaluation closes the curve
    reached = cp.time_to_peer(args.rows, results)["ours"]
    # seed 0: rank-1 30 first reached at it 10, mAP 40 at it 15; 0.5 s/it against 22 x 1 s
    assert (reached[0]["rank1_iteration"], reached[0]["mAP_iteration"]) == (10, 15)
    assert reached[0]["rank1_seconds"] == pytest.approx(5.0) and reached[0]["mAP_fraction"] == pytest.approx(7.5 / 22)
    # seed 1: rank-1 60 never reached (58, then 59 at the end)
    assert reached[1]["rank1_iteration"] is None and reached[1]["mAP_iteration"] is None
    cp.write_outputs(tmp_path, args, args.rows, results)
    md = (tmp_path / "compare.md").read_text()
    assert "## Time to torchreid's final accuracy" in md
    assert "| ours | 0 | 30.00 / 40.00 | it 10, 5 s (0.23x) | it 15, 8 s (0.34x) |" in md
    assert "| ours | 1 | 60.00 / 70.00 | not reached | not reached |" in md
    assert json.loads((tmp_path / "compare.json").read_text())["time_to_peer"]["ours"][0]["rank1_iteration"] == 10
    with pytest.raises(SystemExit, match="--eval-every"):
        cp.parse_args(["--root", "/d", "--eval-every", "-1"])


def test_a_run_from_another_checkout_or_without_output_only_flags_is_read_back(tmp_path):
    """The key of a finished run ignores the checkout's folder, compares --config files by content
    and ignores flags that only add outputs; a different setting still reruns."""
    a, b = tmp_path / "a" / "short_run.yaml", tmp_path / "b" / "short_run.yaml"
    for path in (a, b):
        path.parent.mkdir()
        path.write_text("seed: 0\n")
    old = ["/old/venv/bin/python", "/old/checkout/tools/train.py", "--config", str(a), "seed=0"]
    new = ["/new/venv/bin/python", "/new/checkout/tools/train.py", "--config", str(b), "seed=0"]
    assert cp.run_key(old) == cp.run_key(new)
    assert cp.run_key(old + ["--save-distmat"]) == cp.run_key(old)
    assert cp.run_key(old) != cp.run_key(new[:-1] + ["seed=1"])
    b.write_text("seed: 1\n")
    assert cp.run_key(old) != cp.run_key(new)  # same file name, other content

    row = cp.Row("ours", "ours", "ours")
    run_dir = tmp_path / "run"
    _write_ours(run_dir, 30.0, 40.0, rate=1.0)
    saved = [sys.executable, "/elsewhere/peer.py", "-c", "x"]
    (run_dir / "run.json").write_text(json.dumps({"command": saved, "wall_seconds": 12.5}))
    wanted = [sys.executable, "/here/peer.py", "-c", "x", "--save-distmat"]  # would fail if it ran
    assert cp.run_one(row, 0, wanted, run_dir, threads=1, force=False).rank1 == 30.0
