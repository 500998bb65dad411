"""The loading and evaluation benchmarks (reid.studies.bench_loading, bench_eval) on tiny inputs:
they run end to end, print their tables, and their numbers are the ones the library gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from reid.studies import bench_eval, bench_loading

ROOT = Path(__file__).resolve().parents[1]


def test_bench_loading_reads_the_same_clips_from_jpeg_and_packed_videos(tmp_path, capsys):
    out = tmp_path / "loading.json"
    assert bench_loading.main(["--preset", "tiny", "--data-dir", str(tmp_path / "data"), "--clips", "6",
                               "--seq-len", "2", "--batch-size", "3", "--workers", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "preset tiny, 6 clips of 2 frames" in text and "packed/jpeg" in text
    results = json.loads(out.read_text())["results"]
    assert set(results) == {"jpeg/w0", "packed/w0"} and all(v > 0 for v in results.values())


def test_bench_eval_sizes_are_mars_at_scale_one():
    assert bench_eval.sizes(1.0)[:2] == (1980, 9330)


@pytest.mark.slow
def test_bench_eval_runs_and_agrees_with_the_references():
    # as a program: its measurements run in spawned processes, which pytest's own process does not host well
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "bench_eval.py"), "--scale", "0.02",
                          "--references", "yes"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    text = run.stdout
    assert "rank-1" in text and "rerank vs rerank_reference: max |diff|" in text
    for line in text.splitlines():
        if " vs " in line and "max |diff|" in line:
            assert float(line.split("max |diff| ")[1].split(";")[0]) < 1e-4, line


def test_bench_eval_stops_when_a_measurement_process_dies():
    import os

    with pytest.raises(SystemExit, match="failed in its process"):
        bench_eval._in_child(os.getpid)  # the child calls getpid(queue): a TypeError there, and it exits
