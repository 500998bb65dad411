"""Synthetic video re-id data written in the exact MARS layout (docs/method.md, "Datasets").

People are drawn procedurally (body shape, skin, hair, clothing colours and patterns, bags) and
seen by cameras that differ in lighting, colour cast, background, scale and mirror, so that
re-identification is learnable but not trivial: the palette is small (many identities share
colours) and the per-camera colour casts defeat raw colour matching. Everything is deterministic
from ``GeneratorParams.seed``; each tracklet is rendered from its own seed, so the output does not
depend on the number of worker processes.

``generate(out, config)`` writes ``<out>/mars/`` (``bbox_train``, ``bbox_test``, ``info``) plus
``synthetic_meta.json``, ``wrong_labels.csv`` and ``outliers.csv``.

This module holds ``generate``, the per-frame rendering and the outlier injection; the parameters
and presets are in presets.py, people are drawn in people.py, cameras, the tracklet plan and the
info files are in layout.py.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from dataclasses import fields
from pathlib import Path

import cv2
import numpy as np

from reid.data.synthetic.layout import World, build_world, write_info_files
from reid.data.synthetic.people import draw_person
from reid.data.synthetic.presets import GeneratorParams
from reid.errors import ConfigError

logger = logging.getLogger(__name__)


def generate(out: str | os.PathLike, config: GeneratorParams, *, workers: int = 1) -> Path:
    """Write a synthetic dataset in the MARS layout under ``<out>/mars``.

    Args:
        out: parent folder (created if needed); an existing ``mars`` folder in it is refused.
        config: generator parameters.
        workers: processes that render frames (1 renders in this process).

    Returns:
        The ``<out>/mars`` folder.

    Raises:
        ConfigError: invalid parameters, or ``<out>/mars`` already exists.
    """
    config.validate()
    root = Path(out) / "mars"
    if root.exists():
        raise ConfigError(f"{root} already exists; remove it or choose another --out")
    world = build_world(config)
    write_info_files(root, world, params={f.name: getattr(config, f.name) for f in fields(config)})
    jobs = list(range(len(world.tracks)))
    if workers <= 1:
        _init_worker(world, root)
        for index in jobs:
            _render_track(index)
    else:
        ctx = multiprocessing.get_context("spawn")  # fork after OpenCV started its threads can deadlock
        with ctx.Pool(workers, initializer=_init_worker, initargs=(world, root)) as pool:
            for _ in pool.imap_unordered(_render_track, jobs, chunksize=8):
                pass
    logger.info("wrote %d tracklets, %d frames under %s", len(world.tracks),
                sum(t.length for t in world.tracks), root)
    return root


_STATE: dict[str, object] = {}


def _init_worker(world: World, root: Path) -> None:
    cv2.setNumThreads(1)
    _STATE["world"], _STATE["root"] = world, root


def _render_track(index: int) -> None:
    """Render and write every frame of ``world.tracks[index]`` (seeded by ``(seed, index)``)."""
    world: World = _STATE["world"]  # type: ignore[assignment]
    root: Path = _STATE["root"]  # type: ignore[assignment]
    cfg, track = world.config, world.tracks[index]
    cam = world.cameras[track.camera - 1]
    h, w = cfg.height, cfg.width
    rng = np.random.default_rng([cfg.seed, 7, index])
    hard = np.random.default_rng([cfg.seed, 8, index])  # jitter and scale drift: not the main stream
    growth = hard.uniform(-cfg.scale_change, cfg.scale_change) if cfg.scale_change else 0.0
    bg_h, bg_w = cam.background.shape[:2]
    oy = int(rng.integers(0, bg_h - h + 1))
    ox = int(rng.integers(w // 2, bg_w - w - w // 2 + 1))
    drift = rng.uniform(-1.5, 1.5) * w / 128
    scale = cam.scale * rng.uniform(0.92, 1.05)
    if track.kind == "fragment":  # a piece of a body seen much too close, as junk crops are
        scale *= rng.uniform(2.0, 3.2)
    dx0, foot0 = rng.normal(0.0, 0.05 * w), h * rng.uniform(0.93, 0.99)
    if track.kind == "fragment":
        foot0 = h * rng.uniform(1.2, 2.4)
    mirror = bool(rng.random() < 0.5)
    speed, phase = rng.uniform(0.35, 0.6), rng.uniform(0.0, 2 * np.pi)
    person = world.persons[track.person] if track.person >= 0 else None
    folder = root / track.home / track.name[:4]
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(track.length):
        x0 = int(np.clip(ox + round(f * drift), 0, bg_w - w))
        frame = cam.background[oy:oy + h, x0:x0 + w].copy()
        if person is not None:
            cx = w / 2 + dx0 + rng.normal(0.0, 0.01 * w)
            foot = foot0 + rng.normal(0.0, 0.006 * h)
            if cfg.jitter:
                cx, foot = cx + hard.normal(0.0, cfg.jitter * w), foot + hard.normal(0.0, cfg.jitter * h)
            grown = scale * (1.0 + growth * f / max(1, track.length - 1))
            draw_person(frame, person, cx=cx, foot=foot, height=person.height * h * grown,
                        phase=phase + f * speed * person.gait)
        if mirror:
            frame = np.ascontiguousarray(frame[:, ::-1])
        for kind in track.outliers.get(f, ()):
            frame = _OUTLIERS[kind](frame, rng)
        frame = cv2.LUT(frame, cam.lut)
        ny, nx = int(rng.integers(0, h)), int(rng.integers(0, w))
        noisy = frame.astype(np.int16) + cam.noise[ny:ny + h, nx:nx + w]
        frame = np.clip(noisy, 0, 255).astype(np.uint8)
        path = folder / f"{track.name}F{f + 1:03d}.jpg"
        if not cv2.imwrite(str(path), frame, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality]):
            raise OSError(f"cannot write {path}")


def _occlude(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Cover 30-55% of the crop with a flat object (a pole, a car, another pedestrian's back)."""
    h, w = frame.shape[:2]
    colour = tuple(int(c) for c in rng.integers(20, 235, 3))
    if rng.random() < 0.5:  # vertical object from one side
        cw = int(w * rng.uniform(0.3, 0.55))
        x = 0 if rng.random() < 0.5 else w - cw
        cv2.rectangle(frame, (x, 0), (x + cw - 1, h - 1), colour, -1)
    else:  # object in front of the lower body
        ch = int(h * rng.uniform(0.3, 0.55))
        cv2.rectangle(frame, (0, h - ch), (w - 1, h - 1), colour, -1)
    return frame


def _blur(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Horizontal or diagonal motion blur, kernel length 7-15 px at 128 px width."""
    length = max(3, int(rng.integers(7, 16) * frame.shape[1] / 128)) | 1
    kernel = np.zeros((length, length), np.float32)
    if rng.random() < 0.5:
        kernel[length // 2, :] = 1.0
    else:
        np.fill_diagonal(kernel, 1.0)
    return cv2.filter2D(frame, -1, kernel / kernel.sum())


def _truncate(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A detection box that cuts 25-45% of the body off (top or bottom), resized back."""
    h, w = frame.shape[:2]
    keep = int(h * rng.uniform(0.55, 0.75))
    part = frame[:keep] if rng.random() < 0.7 else frame[h - keep:]
    return cv2.resize(part, (w, h), interpolation=cv2.INTER_LINEAR)


# Keyed and ordered as layout.OUTLIER_KINDS (build_world draws the outlier frames in that order).
_OUTLIERS = {"occlusion": _occlude, "blur": _blur, "truncation": _truncate}

__all__ = ["generate"]
