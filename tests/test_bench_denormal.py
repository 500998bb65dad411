"""tools/bench_denormal.py without training: the commands it runs, the order, the ratio it prints."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "tools" / "bench_denormal.py"
_SPEC = importlib.util.spec_from_file_location("bench_denormal", _PATH)
bd = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(bd)


def _fake_runs(monkeypatch, times: dict[str, float], fail: bool = False) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(cmd, env, cwd, capture_output, text):
        calls.append(cmd)
        out = Path(next(a for a in cmd if a.startswith("output_dir=")).split("=", 1)[1])
        flush = next(a for a in cmd if a.startswith("train.flush_denormal=")).split("=", 1)[1]
        assert env["OMP_NUM_THREADS"] == "2"
        if fail:
            return subprocess.CompletedProcess(cmd, 2, "", "error: config key 'data.root': no such folder\n")
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(json.dumps({"training": {"seconds_per_iteration": times[flush]}}))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(bd.subprocess, "run", run)
    return calls


def test_alternating_runs_and_ratio(tmp_path, monkeypatch, capsys):
    calls = _fake_runs(monkeypatch, {"false": 0.6, "true": 0.4})
    assert bd.main(["--root", "data/hard", "--out", str(tmp_path), "--repeats", "2", "--threads", "2",
                    "--iterations", "10", "eval.metric=cosine"]) == 0
    flags = [next(a for a in c if a.startswith("train.flush_denormal=")) for c in calls]
    assert flags == ["train.flush_denormal=false", "train.flush_denormal=true"] * 2
    assert all("train.iterations=10" in c and c[-1] == "eval.metric=cosine" and "data.root=data/hard" in c
               for c in calls)
    out = capsys.readouterr().out
    assert "denormals kept    0.600 s/it" in out and "denormals flushed 0.400 s/it" in out
    assert "speed-up of flushing: 1.50x" in out


def test_failed_run_is_one_line(tmp_path, monkeypatch, capsys):
    _fake_runs(monkeypatch, {}, fail=True)
    assert bd.main(["--root", "nowhere", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "failed" in err[0] and "no such folder" in err[0]


def test_bad_arguments():
    with pytest.raises(SystemExit):
        bd.main(["--root", "x", "--iterations", "1"])
