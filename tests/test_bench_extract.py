"""tools/bench_extract.py on the tiny synthetic set: the tracklets it takes and its report."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

from reid.data.clip_dataset import EvalClips

_PATH = Path(__file__).resolve().parents[1] / "tools" / "bench_extract.py"
_SPEC = importlib.util.spec_from_file_location("bench_extract", _PATH)
bench = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_extract"] = bench
_SPEC.loader.exec_module(bench)


def _clip_frames(tracklets, seq_len=4, max_frames=64) -> int:
    return len(EvalClips(tracklets, seq_len=seq_len, max_frames=max_frames, transform=None)) * seq_len


def test_takes_the_fewest_first_tracklets_that_hold_the_frames_and_reports_both_rates(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        tracklets = bench.test_tracklets(tmp_path, 40, 4, 64, synthetic="tiny")
        assert _clip_frames(tracklets) >= 40 > _clip_frames(tracklets[:-1])
        out = tmp_path / "report.md"
        assert bench.main(["--data-dir", str(tmp_path), "--backbones", "resnet18", "--frames", "40", "--seq-len",
                           "4", "--height", "64", "--width", "32", "--batch-size", "3", "--workers", "1",
                           "--repeat", "1", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    text = out.read_text()
    assert f"{len(tracklets)} tracklets, {_clip_frames(tracklets)} clip frames" in text
    row = next(line for line in text.splitlines() if line.startswith("| resnet18")).split(" | ")
    extract_fps, model_fps, ratio = float(row[2]), float(row[3]), float(row[4])
    assert extract_fps > 0 and model_fps > 0
    assert abs(ratio - extract_fps / model_fps) < 0.02 * ratio + 0.01
