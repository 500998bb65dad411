"""The recipe study runner: strict study files, inherited overrides, resumable runs, the table."""

import json

import pytest

from reid.errors import ConfigError
from reid.studies.recipe import format_table, load_study, read_run, run_row, slug

STUDY = """
base: configs/demo.yaml
common: [train.iterations=2]
seeds: [0, 1]
rows:
  - {name: base, set: [train.lr=0.001]}
  - {name: + frame, parent: base, set: [train.loss_level=frame]}
  - {name: + evenly, parent: + frame, set: [data.sampling=evenly, train.lr=0.002]}
"""


def write(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def load_tool():
    """tools/recipe_study.py as a module (tools/ is not a package)."""
    from reid.cli import recipe_study

    return recipe_study


def fake_run(run_dir, rank1, mAP, s_per_it=1.0, rr=None):
    run_dir.mkdir(parents=True, exist_ok=True)
    results = {"plain": {"rank1": rank1, "mAP": mAP}}
    if rr:
        results["re-ranked"] = {"rank1": rr[0], "mAP": rr[1]}
    (run_dir / "metrics.json").write_text(json.dumps({"results": results,
                                                      "training": {"seconds_per_iteration": s_per_it}}))


def test_overrides_follow_the_parent_chain(tmp_path):
    study = load_study(write(tmp_path, STUDY))
    assert study.seeds == [0, 1] and study.base == "configs/demo.yaml"
    assert study.overrides("+ evenly") == ["train.lr=0.001", "train.loss_level=frame", "data.sampling=evenly",
                                           "train.lr=0.002"]


@pytest.mark.parametrize("text, match", [
    ("rows:\n  - {name: a, parent: b}\n", "parent 'b', which is not a row"),
    ("rows:\n  - {name: a}\n  - {name: a}\n", "used twice"),
    ("rows:\n  - {name: a, sett: []}\n", "unknown key 'sett'"),
    ("bse: x\n", "unknown key 'bse'"),
    ("rows:\n  - {name: a, parent: b}\n  - {name: b, parent: a}\n", "cycle"),
    ("rows: [: x\n", "study file"),
])
def test_bad_study_files(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_study(write(tmp_path, text))


def test_table_means_std_and_deltas(tmp_path):
    study = load_study(write(tmp_path, STUDY))
    fake_run(tmp_path / "base" / "seed0", 50.0, 60.0, 2.0, rr=(52.0, 61.0))
    fake_run(tmp_path / "base" / "seed1", 60.0, 70.0, 4.0, rr=(58.0, 69.0))
    fake_run(tmp_path / "frame" / "seed0", 70.0, 71.0)
    results = {"base": [read_run(tmp_path / "base" / f"seed{s}") | {"seed": s} for s in (0, 1)],
               "+ frame": [read_run(tmp_path / "frame" / "seed0") | {"seed": 0}]}
    table = format_table(study, results)
    lines = table.splitlines()
    assert len(lines) == 4  # header, rule, two rows with results
    assert "| base | `train.lr=0.001` | 55.0 ± 5.0 | 65.0 ± 5.0 |  |  | 55.0 ± 3.0 / 65.0 ± 4.0 | 3.00 | 0,1 |" == lines[2]
    assert "| +20.0 | +11.0 |" in lines[3]  # paired: against the parent's seed 0 only
    results["+ frame"] = [read_run(tmp_path / "frame" / "seed0") | {"seed": 5}]  # no seed in common: all seeds
    assert "| +15.0 | +6.0 |" in format_table(study, results).splitlines()[3]


def test_retrieval_runs_get_recall_and_nmi_columns(tmp_path):
    study = load_study(write(tmp_path, STUDY))
    for seed, r1 in ((0, 20.0), (1, 30.0)):
        run_dir = tmp_path / f"r{seed}"
        run_dir.mkdir()
        plain = {"rank1": r1, "recall1": r1, "recall2": r1 + 10, "recall4": r1 + 20, "recall8": r1 + 30,
                 "mAP": 15.0, "NMI": 50.0 + seed}
        (run_dir / "metrics.json").write_text(json.dumps({"results": {"plain": plain},
                                                          "training": {"seconds_per_iteration": 1.5}}))
    runs = [read_run(tmp_path / f"r{s}") | {"seed": s} for s in (0, 1)]
    assert runs[1]["recall8"] == 60.0 and runs[0]["NMI"] == 50.0
    lines = format_table(study, {"base": runs}).splitlines()
    assert lines[0].startswith("| row | changes | R@1 | R@2 | R@4 | R@8 | mAP | NMI |")
    assert lines[2] == ("| base | `train.lr=0.001` | 25.0 ± 5.0 | 35.0 ± 5.0 | 45.0 ± 5.0 | 55.0 ± 5.0 | "
                        "15.0 ± 0.0 | 50.5 ± 0.5 | 1.50 | 0,1 |")
    # a re-ID run among them keeps the re-ID table (no Recall@K to show)
    fake_run(tmp_path / "reid", 40.0, 45.0)
    mixed = {"base": runs, "+ frame": [read_run(tmp_path / "reid") | {"seed": 0}]}
    assert "| Δ rank-1 |" in format_table(study, mixed).splitlines()[0]


def test_finished_runs_are_not_run_again(tmp_path, monkeypatch):
    study = load_study(write(tmp_path, STUDY))
    for s in (0, 1):
        fake_run(tmp_path / slug("+ frame") / f"seed{s}", 10.0 + s, 20.0)

    def forbidden(*a, **k):
        raise AssertionError("a finished run was started again")

    monkeypatch.setattr("subprocess.run", forbidden)
    runs = run_row(study, "+ frame", tmp_path, [0, 1])
    assert [r["rank1"] for r in runs] == [10.0, 11.0] and [r["seed"] for r in runs] == [0, 1]


def test_a_failed_run_names_its_log(tmp_path, monkeypatch):
    study = load_study(write(tmp_path, STUDY))

    class Done:
        returncode = 3

    monkeypatch.setattr("subprocess.run", lambda *a, **k: Done())
    with pytest.raises(RuntimeError, match=r"seed 0 failed \(exit 3\); see .*train\.log"):
        run_row(study, "base", tmp_path, [0])


def test_table_only_reads_finished_runs(tmp_path, capsys):
    tool = load_tool()
    path = write(tmp_path, STUDY)
    fake_run(tmp_path / "out" / "base" / "seed0", 40.0, 50.0)
    fake_run(tmp_path / "out" / "frame" / "seed1", 45.0, 52.0)
    tool.main(["--study", str(path), "--out", str(tmp_path / "out"), "--table-only",
               "--report", str(tmp_path / "table.md")])
    table = (tmp_path / "table.md").read_text()
    assert "| base |" in table and "| 40.0 | 50.0 |" in table and "| + frame |" in table and "| 1 |" in table
    assert table in capsys.readouterr().out


def test_a_seed_override_keeps_every_finished_seed_in_the_table(tmp_path):
    tool = load_tool()
    path = write(tmp_path, STUDY)
    for name in ("base", "frame"):
        fake_run(tmp_path / "out" / name / "seed0", 40.0, 50.0)
        fake_run(tmp_path / "out" / name / "seed1", 44.0, 54.0)
    fake_run(tmp_path / "out" / "base" / "seed2", 48.0, 58.0)  # a seed outside the study's list, run on request
    tool.main(["--study", str(path), "--out", str(tmp_path / "out"), "--seeds", "2", "--rows", "base",
               "--report", str(tmp_path / "table.md")])
    table = (tmp_path / "table.md").read_text()
    base = next(line for line in table.splitlines() if line.startswith("| base |"))
    frame = next(line for line in table.splitlines() if line.startswith("| + frame |"))
    assert "44.0 ± 3.3" in base and base.rstrip().endswith("| 0,1,2 |")
    assert "42.0 ± 2.0" in frame and frame.rstrip().endswith("| 0,1 |")


@pytest.mark.parametrize("study_file", ["configs/studies/recipe_study.yaml", "configs/studies/retrieval_study.yaml"])
def test_every_shipped_row_builds_a_valid_config(study_file):
    """A typo in a study row (a config key, a loss name or field, a choice value) fails here, not an hour
    into a study run."""
    study = load_study(study_file)
    assert study.rows
    study.check_configs([row.name for row in study.rows])


def test_a_row_whose_config_does_not_build_stops_the_tool_before_any_run(tmp_path, monkeypatch):
    tool = load_tool()
    path = write(tmp_path, STUDY + "  - {name: typo, parent: base, set: [train.iteratons=5]}\n")

    def forbidden(*a, **k):
        raise AssertionError("a run started although a later row's config does not build")

    monkeypatch.setattr("subprocess.run", forbidden)
    with pytest.raises(ConfigError, match=r"study row 'typo': .*iteratons"):
        tool.main(["--study", str(path), "--out", str(tmp_path / "out"), "--rows", "base", "typo"])
    study = load_study(path)
    study.check_configs(["base", "+ evenly"])  # the good rows build
    with pytest.raises(ConfigError, match="study row 'typo'"):
        study.check_configs(["typo"])
    study = load_study(write(tmp_path, STUDY + "  - {name: bad choice, parent: base, set: [data.sampling=randon]}\n"))
    with pytest.raises(ConfigError, match=r"study row 'bad choice': config key 'data.sampling': 'randon' is not one"):
        study.check_configs(["base", "bad choice"])
