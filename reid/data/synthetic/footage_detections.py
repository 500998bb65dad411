"""A simulated person detector for the synthetic footage: its ground truth with misses and noise.

``simulate_detections(gt, out, ...)`` writes a MOT detection file (``frame,-1,x,y,w,h,conf,-1,-1,-1``)
from a ground-truth file of reid/data/synthetic/footage.py: a person whose visibility (the ninth
gt column) is below ``min_visibility`` is not detected (hidden by another person or the pillar),
any other is missed with probability ``miss``; kept boxes move and resize by Gaussian noise of
``jitter`` times their size and get a confidence in [0.5, 1); false positives (random boxes of a
person's shape) appear with probability ``false_positives`` per frame. Deterministic for ``seed``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reid.errors import ConfigError, DatasetError


def simulate_detections(gt: str | os.PathLike, out: str | os.PathLike, *, width: int, height: int, seed: int,
                        miss: float = 0.05, min_visibility: float = 0.35, jitter: float = 0.04,
                        false_positives: float = 0.02, frames: int | None = None) -> int:
    """Write ``out`` from ``gt`` (see the module docstring); returns the number of boxes written.

    Args:
        width, height: the frame size (boxes are clipped to it).
        frames: frames of the video (false positives are drawn over 1..frames); default the last gt frame.

    Raises:
        ConfigError: a probability outside [0, 1] or a negative jitter.
        DatasetError: missing gt file or a row with fewer than 9 fields.
    """
    for name, value in (("miss", miss), ("min_visibility", min_visibility), ("false_positives", false_positives)):
        if not 0.0 <= value <= 1.0:
            raise ConfigError(f"simulate_detections: {name}={value}, expected a probability in [0, 1]")
    if jitter < 0:
        raise ConfigError(f"simulate_detections: jitter={jitter}, expected >= 0")
    gt = Path(gt)
    if not gt.is_file():
        raise DatasetError(f"ground truth file {gt} not found")
    rows = np.loadtxt(gt, delimiter=",", ndmin=2) if gt.stat().st_size else np.zeros((0, 9))
    if rows.shape[1] < 9:
        raise DatasetError(f"{gt}: {rows.shape[1]} columns; expected 9 (frame,id,x,y,w,h,conf,class,visibility)")
    rng = np.random.default_rng([seed, 41])
    keep = (rows[:, 8] >= min_visibility) & (rng.random(len(rows)) >= miss)
    boxes = rows[keep]
    noise = rng.normal(0.0, jitter, (len(boxes), 4)) * boxes[:, [4, 5, 4, 5]]
    xywh = boxes[:, 2:6] + noise
    xywh[:, 2:] = np.maximum(xywh[:, 2:], 2.0)
    frame_col = boxes[:, 0].astype(int)
    last = frames if frames is not None else int(rows[:, 0].max(initial=0))
    fp_frames = np.nonzero(rng.random(last) < false_positives)[0] + 1
    fp_h = rng.uniform(0.15, 0.4, len(fp_frames)) * height
    fp = np.stack([rng.uniform(0, 1, len(fp_frames)) * (width - 0.4 * fp_h), rng.uniform(0.2, 0.6, len(fp_frames))
                   * height, 0.4 * fp_h, fp_h], axis=1)
    all_frames = np.concatenate([frame_col, fp_frames])
    all_boxes = np.concatenate([xywh, fp])
    conf = rng.uniform(0.5, 1.0, len(all_boxes))
    x0 = np.clip(all_boxes[:, 0], 0, width - 1)
    y0 = np.clip(all_boxes[:, 1], 0, height - 1)
    x1 = np.clip(all_boxes[:, 0] + all_boxes[:, 2], x0 + 1, width)
    y1 = np.clip(all_boxes[:, 1] + all_boxes[:, 3], y0 + 1, height)
    order = np.argsort(all_frames, kind="stable")
    lines = [f"{all_frames[i]},-1,{x0[i]:.1f},{y0[i]:.1f},{x1[i] - x0[i]:.1f},{y1[i] - y0[i]:.1f},{conf[i]:.3f},-1,-1,-1\n"
             for i in order]
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("".join(lines))
    return len(lines)


__all__ = ["simulate_detections"]
