"""Parameters and the walk plan of the synthetic multi-camera footage (no pixels here).

A part (``train`` or ``test``: the same cameras, disjoint time and disjoint people) is a number
of frames at ``fps``; each of its people makes ``visits`` walks, one after the other, each across
the field of view of one camera: entering at one side, walking at a slanted depth lane, leaving
at the other side. The next walk starts after a gap, in the same camera with probability
``revisit`` (a re-entry) or in another one. Several walks in one camera at once cross and occlude
each other; each camera also has a pillar that hides people who pass behind it. Everything is
drawn from ``FootageConfig.seed``. Rendered by reid/data/synthetic/footage.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reid.data.synthetic.layout import Camera, _random_camera
from reid.data.synthetic.people import Person, random_person
from reid.errors import ConfigError

PARTS = ("train", "test")
NOISE_PAD = 32  # the noise bank is this much larger than the frame; each frame crops it at random


@dataclass(frozen=True)
class FootageConfig:
    """Every parameter of the footage generator (recorded in ``footage_meta.json``)."""

    seed: int = 0
    num_cameras: int = 3
    width: int = 768
    height: int = 576
    fps: int = 10
    train_frames: int = 600
    test_frames: int = 600
    train_people: int = 16
    test_people: int = 12
    visits: tuple[int, int] = (2, 4)  # walks per person, inclusive range
    revisit: float = 0.35  # probability that the next walk is in the same camera (a re-entry)
    gap: tuple[int, int] = (5, 40)  # frames between two walks of one person
    jpeg_quality: int = 90  # MJPG quality of the videos

    def validate(self) -> None:
        """Raise ConfigError naming the first parameter outside its valid range."""
        checks = [
            ("num_cameras", 1 <= self.num_cameras <= 9, "in 1..9"),
            ("width", self.width >= 64 and self.width % 2 == 0, "an even number >= 64"),
            ("height", self.height >= 64 and self.height % 2 == 0, "an even number >= 64"),
            ("fps", 1 <= self.fps <= 60, "in 1..60"),
            ("train_frames", self.train_frames >= 1, ">= 1"),
            ("test_frames", self.test_frames >= 1, ">= 1"),
            ("train_people", self.train_people >= 1, ">= 1"),
            ("test_people", self.test_people >= 1, ">= 1"),
            ("visits", 1 <= self.visits[0] <= self.visits[1], "1 <= low <= high"),
            ("revisit", 0.0 <= self.revisit <= 1.0, "a probability in [0, 1]"),
            ("gap", 0 <= self.gap[0] <= self.gap[1], "0 <= low <= high"),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100, "in 1..100"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"footage config: {key}={getattr(self, key)!r}, expected {expected}")

    def frames(self, part: str) -> int:
        return self.train_frames if part == "train" else self.test_frames


@dataclass(frozen=True)
class Walk:
    """One person crossing one camera's view; positions are linear in the frame index."""

    pid: int  # global person id (1-based, unique over parts and cameras)
    camera: int  # 0-based
    start: int  # first frame, 0-based within the part
    length: int  # frames
    x0: float  # body centre at the first frame, pixels
    x1: float  # ... at the last frame
    foot0: float  # foot row at the first frame
    foot1: float
    phase: float  # walk-cycle phase at the first frame
    step: float  # walk-cycle phase per frame

    def at(self, t: int) -> tuple[float, float, float]:
        """(centre x, foot row, phase) at part frame ``t`` (start <= t < start + length)."""
        a = (t - self.start) / max(1, self.length - 1)
        return self.x0 + a * (self.x1 - self.x0), self.foot0 + a * (self.foot1 - self.foot0), \
            self.phase + (t - self.start) * self.step


@dataclass(frozen=True)
class Scene:
    """One static camera: the project's camera look plus a floor and a pillar."""

    camera: Camera  # background (H, W, 3) cut to the frame, colour LUT, noise bank (H + pad, W + pad, 3)
    horizon: float  # row where a person's height would shrink to zero
    floor: tuple[float, float]  # range of foot rows people walk on
    pillar: tuple[int, int]  # x range of the occluding pillar (full height)
    pillar_colour: tuple[int, int, int]

    def body_height(self, foot: float, frame_height: int) -> float:
        """Person height in pixels for a foot row (linear perspective, 0.42 frame height at the bottom)."""
        return 0.42 * frame_height * (foot - self.horizon) / (frame_height - self.horizon)


@dataclass
class FootagePlan:
    config: FootageConfig
    persons: dict[int, Person]  # global pid -> appearance
    scenes: list[Scene]
    walks: dict[str, list[Walk]]  # part -> walks


def _scene(rng: np.random.Generator, cfg: FootageConfig) -> Scene:
    h, w = cfg.height, cfg.width
    cam = _random_camera(rng, h, w // 3 + 1)  # the project's look: background (1.3 h, >= w), colour LUT
    bg = np.ascontiguousarray(cam.background[-h:, :w])
    noise = np.round(rng.normal(0.0, rng.uniform(2.0, 6.0), (h + NOISE_PAD, w + NOISE_PAD, 3))).astype(np.int16)
    horizon = float(rng.uniform(0.15, 0.3) * h)
    floor = (horizon + 0.45 * (h - horizon), 0.97 * h)
    px = int(rng.uniform(0.3, 0.7) * w)
    pillar = (px, px + max(4, int(rng.uniform(0.04, 0.07) * w)))
    colour = tuple(int(c) for c in rng.integers(40, 220, 3))
    return Scene(Camera(bg, cam.lut, noise, cam.scale), horizon, floor, pillar, colour)  # type: ignore[arg-type]


def _walk(rng: np.random.Generator, cfg: FootageConfig, scene: Scene, pid: int, camera: int, start: int,
          person: Person) -> Walk:
    foot0 = float(rng.uniform(*scene.floor))
    foot1 = float(np.clip(foot0 + rng.normal(0, 0.08 * cfg.height), *scene.floor))
    size = scene.body_height((foot0 + foot1) / 2, cfg.height) * person.height
    margin = 0.3 * size  # enters and leaves fully outside the frame
    x0, x1 = -margin, cfg.width + margin
    if rng.random() < 0.5:
        x0, x1 = x1, x0
    speed = 0.075 * size * rng.uniform(0.8, 1.25) * 10 / cfg.fps  # about 1.3 m/s for a 1.7 m person
    length = max(2, math.ceil(abs(x1 - x0) / speed))
    return Walk(pid, camera, start, length, x0, x1, foot0, foot1, float(rng.uniform(0, 2 * np.pi)),
                0.5 * person.gait * 10 / cfg.fps)


def build_plan(cfg: FootageConfig) -> FootagePlan:
    """Draw cameras, people and their walks for both parts."""
    cfg.validate()
    rng = np.random.default_rng([cfg.seed, 31])
    scenes = [_scene(rng, cfg) for _ in range(cfg.num_cameras)]
    persons: dict[int, Person] = {}
    walks: dict[str, list[Walk]] = {}
    pid = 0
    for part in PARTS:
        walks[part] = []
        frames = cfg.frames(part)
        for _ in range(cfg.train_people if part == "train" else cfg.test_people):
            pid += 1
            persons[pid] = random_person(rng)
            t = int(rng.integers(0, max(1, int(0.6 * frames))))
            camera = int(rng.integers(cfg.num_cameras))
            for v in range(int(rng.integers(cfg.visits[0], cfg.visits[1] + 1))):
                if v and cfg.num_cameras > 1 and rng.random() >= cfg.revisit:
                    camera = int((camera + rng.integers(1, cfg.num_cameras)) % cfg.num_cameras)
                if t >= frames:
                    break
                walk = _walk(rng, cfg, scenes[camera], pid, camera, t, persons[pid])
                walks[part].append(walk)
                t = walk.start + walk.length + int(rng.integers(cfg.gap[0], cfg.gap[1] + 1))
    return FootagePlan(cfg, persons, scenes, walks)


__all__ = ["PARTS", "FootageConfig", "FootagePlan", "Scene", "Walk", "build_plan"]
