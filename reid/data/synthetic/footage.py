"""Synthetic multi-camera footage with MOT ground truth: static cameras, people drawn with the
project's person generator (reid/data/synthetic/people.py) walking across them, crossing,
occluding each other, passing behind a pillar, leaving and coming back, seen by several cameras.

``render_footage(out, config)`` writes, for each part (``train``, ``test``: the same cameras,
disjoint time and people) and camera ``c``::

    out/<part>/cam<c>/video.avi     MJPG, config.fps frames per second
    out/<part>/cam<c>/gt/gt.txt     frame,id,x,y,w,h,1,1,visibility   (MOT16 style)
    out/footage_meta.json           parameters, seed, and every walk (who, which camera, when)

Ground truth: frames are 1-based within the part's video; ids are global person ids, the same
in every camera and part-unique (a train person never appears in the test part). A box is the
full extent of the drawn body (occluded parts included, as in MOT16), clipped to the frame; a
person is annotated while at least ``MIN_INSIDE`` of the drawn body is inside the frame. The
ninth column is the visibility: the fraction of the body's pixels that are seen (inside the frame
and not covered by a nearer person or the pillar).
Deterministic for ``config.seed``. The walk plan is in footage_plan.py.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np

from reid.data.synthetic.footage_plan import NOISE_PAD, PARTS, FootageConfig, FootagePlan, Walk, build_plan
from reid.data.synthetic.people import draw_person
from reid.errors import ConfigError

logger = logging.getLogger(__name__)

MIN_INSIDE = 0.3  # annotate a person while this fraction of the drawn body is inside the frame
GtRow = tuple[int, int, int, int, int, int, float]  # frame (1-based), id, x, y, w, h, visibility


def sequence_dir(root: str | os.PathLike, part: str, camera: int) -> Path:
    """``root/<part>/cam<camera>``: the folder of one video and its ``gt/gt.txt``."""
    return Path(root) / part / f"cam{camera}"


def render_footage(out: str | os.PathLike, config: FootageConfig) -> Path:
    """Render every camera of both parts into ``out`` (created; an existing non-empty folder is refused).

    Returns:
        ``out`` as a Path.

    Raises:
        ConfigError: invalid parameters, or ``out`` exists and is not empty.
    """
    root = Path(out)
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} exists and is not empty; remove it or choose another --out")
    plan = build_plan(config)
    for part in PARTS:
        for camera in range(config.num_cameras):
            rows = render_sequence(plan, part, camera, sequence_dir(root, part, camera) / "video.avi")
            gt = sequence_dir(root, part, camera) / "gt" / "gt.txt"
            gt.parent.mkdir(parents=True, exist_ok=True)
            gt.write_text("".join(f"{f},{i},{x},{y},{w},{h},1,1,{v:.3f}\n" for f, i, x, y, w, h, v in rows))
            logger.info("%s camera %d: %d frames, %d boxes", part, camera, config.frames(part), len(rows))
    meta = {"params": asdict(config), "seed": config.seed,
            "walks": {part: [asdict(w) for w in plan.walks[part]] for part in PARTS}}
    (root / "footage_meta.json").write_text(json.dumps(meta, indent=1))
    return root


def _body(walk: Walk, plan: FootagePlan, t: int) -> tuple[np.ndarray, int, int, float]:
    """The person of ``walk`` at part frame ``t`` drawn on a black patch: (patch, left, top, foot row)."""
    scene, person = plan.scenes[walk.camera], plan.persons[walk.pid]
    cx, foot, phase = walk.at(t)
    height = scene.body_height(foot, plan.config.height) * person.height
    ph, pw = int(height * 1.1) + 8, int(height * 0.9) + 8
    patch = np.zeros((ph, pw, 3), np.uint8)
    draw_person(patch, person, cx=pw // 2, foot=ph - 4, height=height, phase=phase)
    return patch, int(round(cx)) - pw // 2, int(round(foot)) - (ph - 4), foot


def render_sequence(plan: FootagePlan, part: str, camera: int, video: Path) -> list[GtRow]:
    """Write one camera's video of one part and return its ground-truth rows.

    Every colour of the person palette is non-zero, so a drawn body is exactly the non-black
    pixels of its patch: that mask gives the box and, painted far-to-near, the visibility.
    """
    cfg, scene = plan.config, plan.scenes[camera]
    h, w = cfg.height, cfg.width
    rng = np.random.default_rng([cfg.seed, 32, PARTS.index(part), camera])
    walks = [wk for wk in plan.walks[part] if wk.camera == camera]
    video.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), cfg.fps, (w, h))
    if not writer.isOpened():
        raise OSError(f"cannot write video {video} (OpenCV MJPG writer)")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, cfg.jpeg_quality)
    rows: list[GtRow] = []
    try:
        for t in range(cfg.frames(part)):
            frame = scene.camera.background.copy()
            owner = np.full((h, w), -1, np.int32)
            bodies = [(wk, *_body(wk, plan, t)) for wk in walks if wk.start <= t < wk.start + wk.length]
            bodies.sort(key=lambda b: b[4])  # far (small foot row) first: nearer people cover them
            boxes = []
            for k, (wk, patch, left, top, _) in enumerate(bodies):
                mask = patch.any(axis=2)
                ys, xs = np.nonzero(mask)
                x0, y0, x1, y1 = max(left, 0), max(top, 0), min(left + patch.shape[1], w), min(top + patch.shape[0], h)
                if x1 <= x0 or y1 <= y0:
                    continue
                inside = mask[y0 - top:y1 - top, x0 - left:x1 - left]
                frame[y0:y1, x0:x1][inside] = patch[y0 - top:y1 - top, x0 - left:x1 - left][inside]
                owner[y0:y1, x0:x1][inside] = k
                if inside.sum() < MIN_INSIDE * len(ys):
                    continue
                bx0, by0 = max(left + xs.min(), 0), max(top + ys.min(), 0)
                bx1, by1 = min(left + xs.max() + 1, w), min(top + ys.max() + 1, h)
                boxes.append((k, wk.pid, bx0, by0, bx1 - bx0, by1 - by0, len(ys)))
            p0, p1 = scene.pillar
            frame[:, p0:p1] = scene.pillar_colour
            owner[:, p0:p1] = -1
            visible = np.bincount(owner[owner >= 0], minlength=len(bodies))
            rows += [(t + 1, pid, x, y, bw, bh, visible[k] / n) for k, pid, x, y, bw, bh, n in boxes]
            frame = cv2.LUT(frame, scene.camera.lut)
            ny, nx = (int(v) for v in rng.integers(0, NOISE_PAD, 2))
            noisy = frame.astype(np.int16) + scene.camera.noise[ny:ny + h, nx:nx + w]
            writer.write(np.clip(noisy, 0, 255).astype(np.uint8))
    finally:
        writer.release()
    return rows


__all__ = ["MIN_INSIDE", "FootageConfig", "render_footage", "render_sequence", "sequence_dir"]
