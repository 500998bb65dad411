"""Synthetic fine-grained image retrieval data, written in the exact CUB-200-2011 layout.

Each class is a kind of drawn bird: body and wing colours from a small shared palette, a body
pattern (plain, stripes, spots, band), and a shape (body elongation, head size, beak and tail
length). Classes are distinct combinations but share most of their attributes with others, so
telling them apart takes the fine detail, as in CUB. Every image shows one bird at a random
place, size, tilt and facing, under random lighting, over a cluttered background; its tight
bounding box is recorded, so the ``bbox`` crop is meaningful. Image widths vary around the
preset's, as real photographs do.

``generate(out, config)`` writes ``<out>/CUB_200_2011/`` (images.txt, image_class_labels.txt,
classes.txt, bounding_boxes.txt, train_test_split.txt, images/) plus ``synthetic_meta.json``;
the CUB parser (reid/data/datasets/cub.py) reads it, classes 1..N/2 train and the rest test.
Everything is a function of ``seed``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from reid.data.synthetic.presets import pick_preset
from reid.errors import ConfigError

logger = logging.getLogger(__name__)

FOLDER = "CUB_200_2011"
META = "synthetic_meta.json"
PALETTE = {"red": (200, 40, 40), "orange": (230, 140, 30), "yellow": (230, 210, 50), "green": (60, 150, 60),
           "blue": (50, 90, 200), "brown": (120, 80, 40), "grey": (140, 140, 140), "black": (30, 30, 30)}
PATTERNS = ("plain", "striped", "spotted", "banded")
SHAPES = 3  # body elongation x beak/tail proportions variants


@dataclass(frozen=True)
class RetrievalGeneratorParams:
    """Generator parameters (all recorded in ``synthetic_meta.json``); ranges are inclusive."""

    seed: int = 0
    num_classes: int = 100  # even: the first half train, the second half test
    images_per_class: tuple[int, int] = (10, 14)
    height: int = 96
    width: int = 112  # mean width; each image's varies by up to 15 %
    jpeg_quality: int = 90

    def validate(self) -> None:
        """Raise ConfigError naming the first parameter outside its valid range."""
        combos = len(PALETTE) * (len(PALETTE) - 1) * len(PATTERNS) * SHAPES
        checks = [
            ("num_classes", 2 <= self.num_classes <= combos and self.num_classes % 2 == 0,
             f"an even number in 2..{combos}"),
            ("images_per_class", 2 <= self.images_per_class[0] <= self.images_per_class[1] <= 999,
             "2 <= low <= high <= 999 (a test class needs two images to have a match)"),
            ("height", self.height >= 32, ">= 32"),
            ("width", self.width >= 32, ">= 32"),
            ("jpeg_quality", 1 <= self.jpeg_quality <= 100, "in 1..100"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"synthetic retrieval config: {key}={getattr(self, key)!r}, expected {expected}")


PRESETS: dict[str, RetrievalGeneratorParams] = {
    # 100 classes (50 train, 50 test), ~1,200 images of about 96 x 112.
    "retrieval": RetrievalGeneratorParams(),
    # 8 classes of 3-4 small images, for unit tests (well under a second to generate).
    "retrieval_tiny": RetrievalGeneratorParams(num_classes=8, images_per_class=(3, 4), height=40, width=48),
}


def preset(name: str, **overrides: Any) -> RetrievalGeneratorParams:
    """A retrieval preset with some fields replaced.

    Raises:
        ConfigError: unknown preset or field name.
    """
    return pick_preset(PRESETS, name, overrides, "synthetic retrieval")


def class_designs(config: RetrievalGeneratorParams) -> list[dict[str, Any]]:
    """One distinct (body, wing, pattern, shape) design per class, drawn without replacement."""
    combos = [(b, w, p, s) for b in PALETTE for w in PALETTE if w != b for p in PATTERNS for s in range(SHAPES)]
    rng = np.random.default_rng([config.seed, 1])
    chosen = rng.choice(len(combos), size=config.num_classes, replace=False)
    return [dict(zip(("body", "wing", "pattern", "shape"), combos[i])) for i in chosen]


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A colour gradient with blurred clutter blobs and noise (H, W, 3) uint8 RGB."""
    a, b = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = np.linspace(0.0, 1.0, h)[:, None, None]
    image = (a * (1 - t) + b * t) * np.ones((1, w, 1))
    for _ in range(int(rng.integers(3, 8))):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(w // 12, w // 4)), int(rng.integers(h // 12, h // 4)))
        cv2.ellipse(image, centre, axes, float(rng.uniform(0, 180)), 0, 360, rng.uniform(30, 225, 3).tolist(), -1)
    image = cv2.GaussianBlur(image, (0, 0), max(1.0, w / 60))
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def _draw_bird(image: np.ndarray, design: dict[str, Any], rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Draw one bird of ``design`` into ``image`` in place; returns its tight box (x, y, width, height)."""
    h, w = image.shape[:2]
    layer = np.zeros_like(image)
    mask = np.zeros((h, w), np.uint8)
    size = rng.uniform(0.3, 0.5) * min(h, w)  # body length
    elong = (1.6, 2.1, 2.6)[design["shape"]]
    rx, ry = size / 2, size / 2 / elong
    cx, cy = rng.uniform(rx + size * 0.3, w - rx - size * 0.3), rng.uniform(ry + size * 0.3, h - ry - size * 0.2)
    tilt = rng.uniform(-20, 20)
    facing = 1 if rng.random() < 0.5 else -1
    light = rng.uniform(0.75, 1.2)
    body = np.clip(np.array(PALETTE[design["body"]]) * light + rng.normal(0, 8, 3), 0, 255).tolist()
    wing = np.clip(np.array(PALETTE[design["wing"]]) * light + rng.normal(0, 8, 3), 0, 255).tolist()
    rot = np.deg2rad(tilt)
    along = np.array([np.cos(rot) * facing, np.sin(rot)])  # body axis, pointing to the head

    def at(u: float, v: float) -> tuple[int, int]:  # body coordinates (along the axis, across it)
        p = np.array([cx, cy]) + u * along + v * np.array([-along[1], along[0]])
        return int(round(p[0])), int(round(p[1]))

    def fill(draw) -> None:
        draw(layer, None)
        draw(mask, 255)

    angle = float(np.rad2deg(np.arctan2(along[1], along[0])))
    tail = (0.45, 0.7, 0.55)[design["shape"]] * size
    fill(lambda img, c: cv2.fillPoly(img, [np.array([at(-rx * 0.8, -ry * 0.3), at(-rx * 0.8, ry * 0.3),
                                                      at(-rx - tail, ry * 0.6), at(-rx - tail, -ry * 0.6)], np.int32)],
                                     wing if c is None else c))
    fill(lambda img, c: cv2.ellipse(img, at(0, 0), (int(rx), max(1, int(ry))), angle, 0, 360,
                                    body if c is None else c, -1))
    body_mask = np.zeros((h, w), np.uint8)
    cv2.ellipse(body_mask, at(0, 0), (int(rx), max(1, int(ry))), angle, 0, 360, 255, -1)
    pattern = np.zeros_like(image)
    dark = (np.array(body) * 0.35).tolist()
    if design["pattern"] == "striped":
        for k in range(-3, 4):
            cv2.line(pattern, at(k * rx / 4, -ry), at(k * rx / 4 + rx / 8, ry), dark, max(1, int(size / 24)))
    elif design["pattern"] == "spotted":
        for _ in range(8):
            cv2.circle(pattern, at(rng.uniform(-rx, rx), rng.uniform(-ry, ry)), max(1, int(size / 20)), dark, -1)
    elif design["pattern"] == "banded":
        cv2.line(pattern, at(rx * 0.1, -ry), at(rx * 0.1, ry), dark, max(2, int(size / 8)))
    sel = (body_mask > 0) & (pattern.sum(axis=2) > 0)
    layer[sel] = pattern[sel]
    fill(lambda img, c: cv2.ellipse(img, at(-rx * 0.1, -ry * 0.1), (int(rx * 0.55), max(1, int(ry * 0.55))), angle,
                                    0, 360, wing if c is None else c, -1))
    head = (0.3, 0.26, 0.22)[design["shape"]] * size
    fill(lambda img, c: cv2.circle(img, at(rx * 0.95, 0), max(1, int(head)), body if c is None else c, -1))
    cv2.circle(layer, at(rx * 0.95 + head * 0.35, -head * 0.3), max(1, int(head / 5)), (10, 10, 10), -1)
    beak = (0.35, 0.2, 0.5)[design["shape"]] * size
    fill(lambda img, c: cv2.fillPoly(img, [np.array([at(rx * 0.95 + head * 0.8, -head * 0.25),
                                                      at(rx * 0.95 + head * 0.8, head * 0.25),
                                                      at(rx * 0.95 + head * 0.8 + beak, 0)], np.int32)],
                                     (230, 190, 40) if c is None else c))
    sel = mask > 0
    image[sel] = layer[sel]
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def generate(out: str | os.PathLike, config: RetrievalGeneratorParams) -> Path:
    """Write a synthetic retrieval set in the CUB-200-2011 layout under ``<out>/CUB_200_2011``.

    Raises:
        ConfigError: invalid parameters, or ``<out>/CUB_200_2011`` already exists.
    """
    config.validate()
    root = Path(out) / FOLDER
    if root.exists():
        raise ConfigError(f"{root} already exists; remove it or choose another --out")
    designs = class_designs(config)
    lines: dict[str, list[str]] = {k: [] for k in ("images", "image_class_labels", "classes", "bounding_boxes",
                                                   "train_test_split")}
    image_id = 0
    for c, design in enumerate(designs, start=1):
        folder = f"{c:03d}.{design['body'].capitalize()}_{design['wing']}_{design['pattern']}_s{design['shape']}"
        lines["classes"].append(f"{c} {folder}")
        (root / "images" / folder).mkdir(parents=True)
        rng = np.random.default_rng([config.seed, 2, c])
        low, high = config.images_per_class
        for k in range(int(rng.integers(low, high + 1))):
            image_id += 1
            w = max(32, int(round(config.width * rng.uniform(0.85, 1.15))))
            image = _background(rng, config.height, w)
            x, y, bw, bh = _draw_bird(image, design, rng)
            relative = f"{folder}/{folder[4:]}_{k + 1:04d}.jpg"
            path = root / "images" / relative
            if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]):
                raise OSError(f"cannot write {path}")
            lines["images"].append(f"{image_id} {relative}")
            lines["image_class_labels"].append(f"{image_id} {c}")
            lines["bounding_boxes"].append(f"{image_id} {x:.1f} {y:.1f} {bw:.1f} {bh:.1f}")
            lines["train_test_split"].append(f"{image_id} {int(k % 2 == 0)}")  # unused by the class protocol
    for name, content in lines.items():
        (root / f"{name}.txt").write_text("\n".join(content) + "\n")
    (root / META).write_text(json.dumps({"generator": "reid.data.synthetic.retrieval",
                                         "params": dataclasses.asdict(config)}, indent=2) + "\n")
    logger.info("wrote %d images of %d classes under %s", image_id, len(designs), root)
    return root


def ensure_generated(root: str | os.PathLike, synthetic: Any) -> Path:
    """Generate the set under ``root`` (``data.root``) unless it is there, for ``data.name: synthetic_retrieval``.

    Args:
        root: the parent of ``CUB_200_2011``.
        synthetic: the config's ``synthetic`` section: ``preset`` must be a retrieval preset,
            ``seed`` is used, the video-only outlier fractions must be unset.

    Raises:
        ConfigError: a video preset or option, or existing data made with other parameters.
    """
    if synthetic.preset not in PRESETS:
        raise ConfigError(f"config key 'synthetic.preset': {synthetic.preset!r} is not a retrieval preset; "
                          f"data.name synthetic_retrieval takes {', '.join(sorted(PRESETS))}")
    video_only = [k for k in ("wrong_labels", "occlusion", "blur", "truncation") if getattr(synthetic, k) is not None]
    if video_only:
        raise ConfigError(f"config key 'synthetic.{video_only[0]}' applies to the video generator only; "
                          "leave it unset with data.name synthetic_retrieval")
    params = preset(synthetic.preset, seed=synthetic.seed)
    root = Path(root)
    meta = root / FOLDER / META
    if meta.is_file():
        written = json.loads(meta.read_text()).get("params", {})
        wanted = json.loads(json.dumps(dataclasses.asdict(params)))
        diff = sorted(k for k in wanted if written.get(k) != wanted[k])
        if diff:
            raise ConfigError(f"{meta} was generated with other parameters ({', '.join(diff)} differ); "
                              f"delete {root / FOLDER} or point data.root elsewhere")
        return root / FOLDER
    if (root / FOLDER).exists():
        raise ConfigError(f"{root / FOLDER} exists but has no {META}; delete it or use another data.root")
    root.mkdir(parents=True, exist_ok=True)
    logger.info("generating synthetic retrieval data in %s (preset %s)", root, synthetic.preset)
    with tempfile.TemporaryDirectory(dir=root, prefix=".generating-") as tmp:
        generate(tmp, params)
        os.replace(Path(tmp) / FOLDER, root / FOLDER)
    return root / FOLDER
