"""Synthetic video re-id data written in the exact MARS layout (METHOD.md section 3).

People are drawn procedurally (body shape, skin, hair, clothing colours and patterns, bags) and
seen by cameras that differ in lighting, colour cast, background, scale and mirror, so that
re-identification is learnable but not trivial: the palette is small (many identities share
colours) and the per-camera colour casts defeat raw colour matching. Everything is deterministic
from ``SyntheticConfig.seed``; each tracklet is rendered from its own seed, so the output does not
depend on the number of worker processes.

``generate(out, config)`` writes ``<out>/mars/`` (``bbox_train``, ``bbox_test``, ``info``) plus
``synthetic_meta.json``, ``wrong_labels.csv`` and ``outliers.csv``.
"""

from __future__ import annotations

import io
import json
import logging
import multiprocessing
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from reid.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyntheticConfig:
    """Every parameter of the generator (all of them are recorded in ``synthetic_meta.json``).

    Ranges are inclusive ``(low, high)`` pairs. Outlier fractions are fractions of the frames of
    identity tracklets (train and test, not distractors or junk); ``wrong_labels`` is the fraction
    of training tracklets drawn as one person and filed under another training pid.
    """

    seed: int = 0
    num_train_ids: int = 70
    num_test_ids: int = 60
    num_cameras: int = 6
    cameras_per_id: tuple[int, int] = (2, 4)
    tracklets_per_camera: tuple[int, int] = (1, 2)
    tracklet_length: tuple[int, int] = (8, 24)
    num_distractors: int = 40
    num_junk: int = 20
    height: int = 256
    width: int = 128
    occlusion: float = 0.0
    blur: float = 0.0
    truncation: float = 0.0
    wrong_labels: float = 0.0
    jpeg_quality: int = 90

    def validate(self) -> None:
        """Raise ConfigError naming the first parameter outside its valid range."""
        checks = [
            ("num_train_ids", 2 <= self.num_train_ids <= 4000, ">= 2 (a wrong label needs another id)"),
            ("num_test_ids", 1 <= self.num_test_ids <= 4000, "in 1..4000"),
            ("num_cameras", 2 <= self.num_cameras <= 9, "in 2..9 (one digit in MARS names)"),
            ("cameras_per_id", 1 <= self.cameras_per_id[0] <= self.cameras_per_id[1] <= self.num_cameras,
             "1 <= low <= high <= num_cameras"),
            ("tracklets_per_camera", 1 <= self.tracklets_per_camera[0] <= self.tracklets_per_camera[1] <= 50,
             "1 <= low <= high <= 50"),
            ("tracklet_length", 1 <= self.tracklet_length[0] <= self.tracklet_length[1] <= 999,
             "1 <= low <= high <= 999 (three digits in MARS names)"),
            ("num_distractors", self.num_distractors >= 0, ">= 0"),
            ("num_junk", self.num_junk >= 0, ">= 0"),
            ("height", self.height >= 32 and self.height % 2 == 0, "an even number >= 32"),
            ("width", self.width >= 16 and self.width % 2 == 0, "an even number >= 16"),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100, "in 1..100"),
        ]
        checks += [(k, 0.0 <= getattr(self, k) <= 1.0, "a fraction in [0, 1]")
                   for k in ("occlusion", "blur", "truncation", "wrong_labels")]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"synthetic config: {key}={getattr(self, key)!r}, expected {expected}")


PRESETS: dict[str, SyntheticConfig] = {
    # ~10k frames of 256x128: 70 train ids, 60 test ids, 6 cameras, tracklets of 8-24 frames.
    "demo": SyntheticConfig(),
    # A few hundred 64x32 frames for unit tests (well under a second to generate).
    "tiny": SyntheticConfig(num_train_ids=6, num_test_ids=5, num_cameras=4, cameras_per_id=(2, 3),
                            tracklets_per_camera=(1, 2), tracklet_length=(3, 6), num_distractors=3,
                            num_junk=2, height=64, width=32),
    # The outlier study's size: 40 + 40 ids at 128x64, short tracklets (many runs on 2 CPU cores).
    "study": SyntheticConfig(num_train_ids=40, num_test_ids=40, tracklet_length=(6, 16), num_distractors=20,
                             num_junk=10, height=128, width=64),
}


def preset(name: str, **overrides: object) -> SyntheticConfig:
    """A preset (``demo`` or ``tiny``) with some fields replaced.

    Raises:
        ConfigError: unknown preset or field name.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown synthetic preset {name!r}; valid presets: {', '.join(sorted(PRESETS))}")
    valid = {f.name for f in fields(SyntheticConfig)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ConfigError(f"unknown synthetic parameter {unknown[0]!r}; valid: {', '.join(sorted(valid))}")
    return replace(PRESETS[name], **overrides)


def generate(out: str | os.PathLike, config: SyntheticConfig, *, workers: int = 1) -> Path:
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
            draw_person(frame, person, cx=cx, foot=foot, height=person.height * h * scale,
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


_OUTLIERS = {"occlusion": _occlude, "blur": _blur, "truncation": _truncate}



# ---------------------------------------------------------------------------------------------
# People: appearance drawn once per identity, rendered per frame with a walk cycle.
# Palettes are BGR (OpenCV order); dark, common colours are the most likely, so many identities
# share their main colours and only details (pattern, logo, bag, hair, build) tell them apart.
_TOPS = np.array([[25, 25, 25], [230, 230, 230], [125, 125, 125], [90, 40, 20], [40, 40, 190],
                  [170, 90, 30], [40, 130, 40], [40, 190, 215], [30, 70, 110], [170, 110, 225]])
_TOP_P = np.array([0.2, 0.09, 0.14, 0.13, 0.08, 0.09, 0.07, 0.05, 0.08, 0.07])
_BOTTOMS = np.array([[25, 25, 25], [110, 60, 30], [110, 110, 110], [90, 140, 170], [160, 110, 60],
                     [220, 220, 220]])
_BOTTOM_P = np.array([0.3, 0.25, 0.15, 0.12, 0.12, 0.06])
_SKIN = np.array([[60, 80, 120], [90, 120, 170], [125, 155, 205], [160, 190, 230]])
_HAIR = np.array([[15, 15, 15], [30, 50, 80], [80, 150, 200], [150, 150, 150]])
_HAIR_P = np.array([0.5, 0.3, 0.12, 0.08])

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class Person:
    """Appearance of one drawn person (fractions are of the body height in pixels)."""

    height: float  # body height as a fraction of the crop height
    build: float  # width factor of torso and limbs
    torso: float  # torso length factor
    gait: float  # walk-cycle speed factor
    skin: Colour
    hair: Colour
    long_hair: bool
    top: Colour
    pattern: int  # 0 plain, 1 stripes, 2 lower block, 3 side block, 4 logo
    pattern_colour: Colour
    logo_shape: int  # 0 circle, 1 square, 2 triangle
    short_sleeves: bool
    bottom: Colour
    bottom_style: int  # 0 trousers, 1 shorts, 2 skirt
    shoes: Colour
    bag: int  # 0 none, 1 backpack, 2 handbag
    bag_colour: Colour
    bag_side: int  # -1 left, +1 right


def _pick(rng: np.random.Generator, palette: np.ndarray, p: np.ndarray | None = None) -> Colour:
    colour = palette[rng.choice(len(palette), p=p)] + rng.integers(-14, 15, 3)
    return tuple(int(c) for c in np.clip(colour, 0, 255))  # type: ignore[return-value]


def random_person(rng: np.random.Generator) -> Person:
    """Draw a random appearance."""
    return Person(
        height=float(rng.uniform(0.8, 0.95)), build=float(rng.uniform(0.8, 1.2)),
        torso=float(rng.uniform(0.9, 1.1)), gait=float(rng.uniform(0.8, 1.25)),
        skin=_pick(rng, _SKIN), hair=_pick(rng, _HAIR, _HAIR_P), long_hair=bool(rng.random() < 0.3),
        top=_pick(rng, _TOPS, _TOP_P), pattern=int(rng.integers(0, 5)),
        pattern_colour=_pick(rng, _TOPS), logo_shape=int(rng.integers(0, 3)),
        short_sleeves=bool(rng.random() < 0.35), bottom=_pick(rng, _BOTTOMS, _BOTTOM_P),
        bottom_style=int(rng.choice(3, p=[0.7, 0.15, 0.15])), shoes=_pick(rng, _BOTTOMS[:3]),
        bag=int(rng.choice(3, p=[0.5, 0.3, 0.2])), bag_colour=_pick(rng, _TOPS),
        bag_side=int(rng.choice([-1, 1])),
    )


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def draw_person(img: np.ndarray, p: Person, *, cx: float, foot: float, height: float, phase: float) -> None:
    """Draw ``p`` in place on ``img`` (H, W, 3) uint8 BGR, feet at row ``foot``, centred at ``cx``.

    Args:
        height: body height in pixels (may exceed the crop: fragments).
        phase: walk-cycle phase in radians (legs and arms swing with sin(phase)).
    """
    u, swing = height, float(np.sin(phase))
    r = max(2.0, 0.065 * u)
    top = foot - u
    neck = top + 2 * r
    tw = 0.27 * u * p.build
    hip = neck + 0.36 * u * p.torso
    leg_w, arm_w = max(2, round(0.09 * u * p.build)), max(2, round(0.065 * u * p.build))
    if p.bag == 1:  # backpack, behind the torso: sticks out on one side
        bx = cx + p.bag_side * 0.4 * tw
        cv2.rectangle(img, _pt(bx - 0.25 * tw, neck + 0.04 * u), _pt(bx + 0.25 * tw, neck + 0.3 * u), p.bag_colour, -1)
    if p.long_hair:
        cv2.rectangle(img, _pt(cx - r, top + r), _pt(cx + r, neck + 0.08 * u), p.hair, -1)
    mid = (hip + foot) / 2
    for side, sign in ((-1, 1), (1, -1)):
        hx = cx + side * tw * 0.22
        fx = hx + sign * swing * 0.13 * u
        kx, fy = (hx + fx) / 2, foot - leg_w / 2
        lower = p.bottom if p.bottom_style == 0 else p.skin
        cv2.line(img, _pt(hx, hip), _pt(kx, mid), p.bottom if p.bottom_style < 2 else p.skin, leg_w)
        cv2.line(img, _pt(kx, mid), _pt(fx, fy), lower, leg_w)
        cv2.ellipse(img, _pt(fx, fy), _pt(leg_w * 0.8, leg_w * 0.45), 0, 0, 360, p.shoes, -1)
    if p.bottom_style == 2:  # skirt
        poly = np.array([_pt(cx - tw / 2, hip), _pt(cx + tw / 2, hip), _pt(cx + 0.65 * tw, mid),
                         _pt(cx - 0.65 * tw, mid)], np.int32)
        cv2.fillPoly(img, [poly], p.bottom)
    x0, x1, y1 = cx - tw / 2, cx + tw / 2, hip + leg_w * 0.3
    cv2.rectangle(img, _pt(x0, neck), _pt(x1, y1), p.top, -1)
    if p.pattern == 1:
        period = max(3, round(0.05 * u))
        for y in range(int(neck), int(y1), period):
            cv2.rectangle(img, _pt(x0, y), _pt(x1, y + period // 2 - 1), p.pattern_colour, -1)
    elif p.pattern == 2:
        cv2.rectangle(img, _pt(x0, (neck + y1) / 2), _pt(x1, y1), p.pattern_colour, -1)
    elif p.pattern == 3:
        cv2.rectangle(img, _pt(x0, neck), _pt(cx, y1), p.pattern_colour, -1)
    elif p.pattern == 4:
        lx, ly, s = cx, neck + 0.35 * (hip - neck), 0.22 * tw
        if p.logo_shape == 0:
            cv2.circle(img, _pt(lx, ly), max(1, round(s)), p.pattern_colour, -1)
        elif p.logo_shape == 1:
            cv2.rectangle(img, _pt(lx - s, ly - s), _pt(lx + s, ly + s), p.pattern_colour, -1)
        else:
            tri = np.array([_pt(lx, ly - s), _pt(lx + s, ly + s), _pt(lx - s, ly + s)], np.int32)
            cv2.fillPoly(img, [tri], p.pattern_colour)
    if p.bag == 1:  # straps
        for sx in (cx - 0.25 * tw, cx + 0.25 * tw):
            cv2.line(img, _pt(sx, neck), _pt(sx, neck + 0.22 * u), p.bag_colour, max(1, arm_w // 3))
    for side, sign in ((-1, -1), (1, 1)):
        sx, sy = cx + side * (tw / 2 + arm_w * 0.3), neck + arm_w * 0.6
        hx, hy = sx + sign * swing * 0.1 * u, neck + 0.38 * u
        ex, ey = (sx + hx) / 2, (sy + hy) / 2
        cv2.line(img, _pt(sx, sy), _pt(ex, ey), p.top, arm_w)
        cv2.line(img, _pt(ex, ey), _pt(hx, hy), p.skin if p.short_sleeves else p.top, arm_w)
        cv2.circle(img, _pt(hx, hy), max(1, round(arm_w * 0.55)), p.skin, -1)
        if p.bag == 2 and side == p.bag_side:
            cv2.rectangle(img, _pt(hx - 0.07 * u, hy), _pt(hx + 0.07 * u, hy + 0.12 * u), p.bag_colour, -1)
    cv2.circle(img, _pt(cx, top + r), max(1, round(r)), p.skin, -1)
    cv2.ellipse(img, _pt(cx, top + r), _pt(r, r), 0, 180, 360, p.hair, -1)


# ---------------------------------------------------------------------------------------------
# Cameras, the tracklet plan and the MARS info files.
@dataclass(frozen=True)
class Camera:
    """One camera: its scene, its colour response and its sensor noise."""

    background: np.ndarray  # (1.3 H, 3 W, 3) uint8 BGR scene; tracklets crop (H, W) windows
    lut: np.ndarray  # (256, 1, 3) uint8 per-channel gain / colour cast / brightness
    noise: np.ndarray  # (2 H, 2 W, 3) int16 noise bank, cropped per frame
    scale: float  # typical person height factor (viewpoint distance)


def _random_camera(rng: np.random.Generator, h: int, w: int) -> Camera:
    bh, bw = int(h * 1.3), 3 * w
    horizon = int(bh * rng.uniform(0.45, 0.7))
    bg = np.empty((bh, bw, 3), np.uint8)
    bg[:horizon], bg[horizon:] = rng.integers(50, 210, 3), rng.integers(50, 210, 3)
    for _ in range(int(rng.integers(5, 12))):  # windows, doors, signs on the wall
        x, y = int(rng.integers(0, bw)), int(rng.integers(0, horizon))
        size = _pt(rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.5) * horizon)
        cv2.rectangle(bg, (x, y), (x + size[0], y + size[1]), tuple(int(c) for c in rng.integers(30, 230, 3)), -1)
    line = tuple(int(c) for c in bg[-1, 0] * 0.8)
    step = max(4, int(w * rng.uniform(0.08, 0.2)))
    for x in range(0, bw, step):  # floor tiles in perspective
        cv2.line(bg, (x, horizon), _pt(x + (x - bw / 2) * 0.3, bh), line, 1)
    for y in range(horizon, bh, max(2, step // 2)):
        cv2.line(bg, (0, y), (bw, y), line, 1)
    bg = cv2.GaussianBlur(bg, (0, 0), max(0.5, w / 128))
    gain = rng.uniform(0.75, 1.25, 3) * rng.uniform(0.7, 1.2)
    lut = np.clip(np.arange(256)[:, None] * gain + rng.uniform(-15, 20), 0, 255).astype(np.uint8)
    noise = np.round(rng.normal(0.0, rng.uniform(2.0, 7.0), (2 * h, 2 * w, 3))).astype(np.int16)
    return Camera(bg, lut.reshape(256, 1, 3), noise, float(rng.uniform(0.78, 0.98)))


@dataclass
class TrackSpec:
    """One tracklet to render. ``pid`` is what the files say; ``true_pid`` who is drawn."""

    split: str  # "train" or "test"
    pid: int  # written pid: -1 junk, 0 distractor
    true_pid: int
    camera: int  # 1-based
    length: int
    kind: str  # "person", "fragment" (a piece of a body, too close) or "background"
    person: int  # index into World.persons, -1 for background
    name: str = ""  # PPPPCcTtttt
    outliers: dict[int, list[str]] = field(default_factory=dict)  # frame index -> kinds

    @property
    def home(self) -> str:
        return "bbox_train" if self.split == "train" else "bbox_test"


@dataclass
class World:
    config: SyntheticConfig
    persons: list[Person]
    cameras: list[Camera]
    tracks: list[TrackSpec]  # train rows then test rows, each in MARS row order (sorted names)
    queries: list[int]  # 1-based rows of the test tracks


def _pid_str(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def build_world(cfg: SyntheticConfig) -> World:
    """Draw identities, cameras, tracklets, wrong labels, outlier frames and queries."""
    rng = np.random.default_rng([cfg.seed, 1])
    n = cfg.num_train_ids + cfg.num_test_ids
    pids = rng.choice(np.arange(1, min(9999, max(1500, 2 * n)) + 1), n, replace=False)
    train_pids = sorted(int(p) for p in pids[:cfg.num_train_ids])
    cameras = [_random_camera(rng, cfg.height, cfg.width) for _ in range(cfg.num_cameras)]
    persons: list[Person] = []
    tracks: list[TrackSpec] = []

    def add(split: str, pid: int, cam: int, kind: str, person: int) -> None:
        length = int(rng.integers(cfg.tracklet_length[0], cfg.tracklet_length[1] + 1))
        tracks.append(TrackSpec(split, pid, pid, cam, length, kind, person))

    for split, plist in (("train", train_pids), ("test", sorted(int(p) for p in pids[cfg.num_train_ids:]))):
        for pid in plist:
            persons.append(random_person(rng))
            k = int(rng.integers(cfg.cameras_per_id[0], cfg.cameras_per_id[1] + 1))
            for cam in sorted(int(c) + 1 for c in rng.choice(cfg.num_cameras, k, replace=False)):
                for _ in range(int(rng.integers(cfg.tracklets_per_camera[0], cfg.tracklets_per_camera[1] + 1))):
                    add(split, pid, cam, "person", len(persons) - 1)
    # Distractors (pid 0): unknown people and bad detections; junk (pid -1): fragments, background.
    for pid, count, kinds, p in ((0, cfg.num_distractors, ["person", "fragment", "background"], [0.6, 0.2, 0.2]),
                                 (-1, cfg.num_junk, ["fragment", "background"], [0.5, 0.5])):
        for _ in range(count):
            kind = str(rng.choice(kinds, p=p))
            if kind != "background":
                persons.append(random_person(rng))
            add("test", pid, int(rng.integers(1, cfg.num_cameras + 1)), kind,
                len(persons) - 1 if kind != "background" else -1)
    train_rows = [i for i, t in enumerate(tracks) if t.split == "train"]
    for i in sorted(rng.choice(train_rows, round(cfg.wrong_labels * len(train_rows)), replace=False)):
        tracks[i].pid = int(rng.choice([p for p in train_pids if p != tracks[i].true_pid]))
    counters: dict[tuple[str, int, int], int] = {}
    for t in tracks:
        key = (t.split, t.pid, t.camera)
        counters[key] = counters.get(key, 0) + 1
        if counters[key] > 9999:
            raise ConfigError(f"more than 9999 tracklets of pid {t.pid} in camera {t.camera}: "
                              "MARS names have four tracklet digits; lower num_distractors/num_junk")
        t.name = f"{_pid_str(t.pid)}C{t.camera}T{counters[key]:04d}"
    tracks = sorted((t for t in tracks if t.split == "train"), key=lambda t: t.name) + \
        sorted((t for t in tracks if t.split == "test"), key=lambda t: t.name)
    eligible = [(i, f) for i, t in enumerate(tracks) if t.kind == "person" and t.true_pid > 0 for f in range(t.length)]
    for kind in _OUTLIERS:
        for j in sorted(rng.choice(len(eligible), round(getattr(cfg, kind) * len(eligible)), replace=False)):
            i, f = eligible[j]
            tracks[i].outliers.setdefault(f, []).append(kind)
    return World(cfg, persons, cameras, tracks, _choose_queries(rng, [t for t in tracks if t.split == "test"]))


def _choose_queries(rng: np.random.Generator, test: list[TrackSpec]) -> list[int]:
    """One query per (identity, camera) as in MARS, keeping a cross-camera gallery match for each.

    A camera with a single tracklet that becomes a query leaves no gallery item there; so unless
    two cameras of the identity have two or more tracklets, one single-tracklet camera (chosen at
    random) stays gallery-only. Returns sorted 1-based rows of the test tracks.
    """
    by_pid: dict[int, dict[int, list[int]]] = {}
    for row, t in enumerate(test, start=1):
        if t.pid > 0:
            by_pid.setdefault(t.pid, {}).setdefault(t.camera, []).append(row)
    queries = []
    for pid in sorted(by_pid):
        cams = by_pid[pid]
        if len(cams) < 2:
            continue
        singles = sorted(c for c, rows in cams.items() if len(rows) == 1)
        gallery_only = None if len(cams) - len(singles) >= 2 else int(rng.choice(singles))
        queries += [int(rng.choice(rows)) for c, rows in sorted(cams.items()) if c != gallery_only]
    return sorted(queries)


def write_info_files(root: Path, world: World, *, params: dict[str, object]) -> None:
    """Write ``info/`` (name lists, track and query .mat files) and the generator's records.

    ``wrong_labels.csv``: row (0-based row of ``track_train_info``), name, true_pid, written_pid.
    ``outliers.csv``: split, frame name, kind (occlusion, blur or truncation).
    """
    info = root / "info"
    info.mkdir(parents=True)
    for split, var, filename in (("train", "track_train_info", "tracks_train_info.mat"),
                                 ("test", "track_test_info", "tracks_test_info.mat")):
        names: list[str] = []
        rows = []
        for t in (t for t in world.tracks if t.split == split):
            start = len(names) + 1
            names += [f"{t.name}F{f + 1:03d}.jpg" for f in range(t.length)]
            rows.append([start, len(names), t.pid, t.camera])
        (info / f"{split}_name.txt").write_text("".join(n + "\n" for n in names))
        _savemat(info / filename, var, np.array(rows, np.float64).reshape(-1, 4))
    _savemat(info / "query_IDX.mat", "query_IDX", np.array(world.queries, np.float64).reshape(1, -1))
    train = [t for t in world.tracks if t.split == "train"]
    wrong = ["row,name,true_pid,written_pid"] + [f"{i},{t.name},{t.true_pid},{t.pid}"
                                                for i, t in enumerate(train) if t.pid != t.true_pid]
    (root / "wrong_labels.csv").write_text("\n".join(wrong) + "\n")
    outliers = ["split,name,kind"] + [f"{t.split},{t.name}F{f + 1:03d}.jpg,{kind}" for t in world.tracks
                                      for f, kinds in sorted(t.outliers.items()) for kind in kinds]
    (root / "outliers.csv").write_text("\n".join(outliers) + "\n")
    meta = {"generator": "reid.data.synthetic", "seed": world.config.seed, "params": params,
            "counts": _counts(world, num_wrong=len(wrong) - 1)}
    (root / "synthetic_meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _counts(world: World, *, num_wrong: int) -> dict[str, int]:
    train = [t for t in world.tracks if t.split == "train"]
    test = [t for t in world.tracks if t.split == "test"]
    junk = [t for t in test if t.pid == -1]
    distractors = [t for t in test if t.pid == 0]
    counts = {
        "train_ids": len({t.pid for t in train}), "train_tracklets": len(train),
        "train_frames": sum(t.length for t in train),
        "test_ids": len({t.pid for t in test if t.pid > 0}), "test_tracklets": len(test),
        "test_frames": sum(t.length for t in test),
        "junk_tracklets": len(junk), "junk_frames": sum(t.length for t in junk),
        "distractor_tracklets": len(distractors), "distractor_frames": sum(t.length for t in distractors),
        "queries": len(world.queries), "gallery_tracklets": len(test) - len(junk) - len(world.queries),
        "wrong_labels": num_wrong,
    }
    for kind in _OUTLIERS:
        counts[f"{kind}_frames"] = sum(kinds.count(kind) for t in world.tracks for kinds in t.outliers.values())
    return counts


def _savemat(path: Path, variable: str, array: np.ndarray) -> None:
    """scipy.io.savemat with a fixed header text (scipy writes the date), so bytes are reproducible."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {variable: array})
    data = bytearray(buffer.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: reid.data.synthetic".ljust(116, b" ")
    path.write_bytes(bytes(data))
