"""Two rendered cameras, as a user would have them: ``cam0.avi``, ``cam1.avi`` and a detector's boxes
``det0.txt``, ``det1.txt`` (drawn from the ground truth with misses and jitter), in the current folder."""

from __future__ import annotations

import shutil
from pathlib import Path

from reid.data.synthetic.footage import FootageConfig, render_footage, sequence_dir
from reid.data.synthetic.footage_detections import simulate_detections


def two_cameras(tmp_path: Path, footage: FootageConfig) -> Path:
    """Render ``footage`` (2 cameras) under ``tmp_path/rendered`` and write the user's files into the
    current folder; returns the rendered root (its ``test/cam<c>/gt/gt.txt`` is the ground truth)."""
    rendered = render_footage(tmp_path / "rendered", footage)
    for cam in range(2):
        seq = sequence_dir(rendered, "test", cam)
        shutil.copy(seq / "video.avi", f"cam{cam}.avi")
        simulate_detections(seq / "gt" / "gt.txt", f"det{cam}.txt", width=footage.width, height=footage.height,
                            seed=cam, frames=footage.test_frames)
    return rendered
