"""tools/bench_extract.py on the tiny synthetic set: the tracklets it takes and its report."""

from __future__ import annotations

import torch

from reid.data.clip_dataset import EvalClips
from reid.studies import bench_extract as bench


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
