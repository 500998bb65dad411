"""Procedural people for the synthetic data set: appearance drawn once per identity, rendered per frame.

Palettes are BGR (OpenCV order); dark, common colours are the most likely, so many identities
share their main colours and only details (pattern, logo, bag, hair, build) tell them apart.
``random_person(rng)`` draws an appearance (``colours`` and ``patterns`` narrow its clothing for
harder worlds), ``near_twin(person, rng)`` the same person with one small detail changed, and
``draw_person(img, person, ...)`` renders it with a walk cycle. Used by reid/data/synthetic/
(rendering) and reid/data/synthetic/layout.py (planning).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

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


def _first(palette: np.ndarray, p: np.ndarray | None, n: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The first ``n`` entries of a palette and their renormalised odds (the whole palette when 0 or more)."""
    if n <= 0 or n >= len(palette):
        return palette, p
    return palette[:n], None if p is None else p[:n] / p[:n].sum()


def random_person(rng: np.random.Generator, *, colours: int = 0, patterns: int = 0) -> Person:
    """Draw a random appearance.

    Args:
        colours: > 0: tops, top patterns and bottoms take only the first ``colours`` entries of
            their palettes (dark, common colours first); 0 the full palettes.
        patterns: > 0: tops take only the first ``patterns`` patterns (1: plain only, 2: plain or
            stripes, ...); 0 all five. With both 0 the draws are exactly those of before.
    """
    return Person(
        height=float(rng.uniform(0.8, 0.95)), build=float(rng.uniform(0.8, 1.2)),
        torso=float(rng.uniform(0.9, 1.1)), gait=float(rng.uniform(0.8, 1.25)),
        skin=_pick(rng, _SKIN), hair=_pick(rng, _HAIR, _HAIR_P), long_hair=bool(rng.random() < 0.3),
        top=_pick(rng, *_first(_TOPS, _TOP_P, colours)), pattern=int(rng.integers(0, patterns or 5)),
        pattern_colour=_pick(rng, *_first(_TOPS, None, colours)), logo_shape=int(rng.integers(0, 3)),
        short_sleeves=bool(rng.random() < 0.35), bottom=_pick(rng, *_first(_BOTTOMS, _BOTTOM_P, colours)),
        bottom_style=int(rng.choice(3, p=[0.7, 0.15, 0.15])), shoes=_pick(rng, _BOTTOMS[:3]),
        bag=int(rng.choice(3, p=[0.5, 0.3, 0.2])), bag_colour=_pick(rng, _TOPS),
        bag_side=int(rng.choice([-1, 1])),
    )


TWIN_DIFFERENCES = ("bag", "sleeves", "hair", "shoes")


def near_twin(p: Person, rng: np.random.Generator) -> tuple[Person, str]:
    """``p`` with one small detail changed, and the name of that detail (one of TWIN_DIFFERENCES).

    ``bag``: another kind of bag (none, backpack, handbag) in a new colour; ``sleeves``: short
    sleeves for long or back; ``hair``: long hair for short or back; ``shoes``: shoes of another
    palette colour. Everything else (body, face, clothing, gait) is ``p``'s.
    """
    what = TWIN_DIFFERENCES[int(rng.integers(0, len(TWIN_DIFFERENCES)))]
    if what == "bag":
        return replace(p, bag=(p.bag + int(rng.integers(1, 3))) % 3, bag_colour=_pick(rng, _TOPS)), what
    if what == "sleeves":
        return replace(p, short_sleeves=not p.short_sleeves), what
    if what == "hair":
        return replace(p, long_hair=not p.long_hair), what
    far = [c for c in _BOTTOMS[:3] if np.abs(c - np.array(p.shoes)).max() > 40]  # noise is at most 14
    return replace(p, shoes=_pick(rng, np.array(far))), what


def pt(x: float, y: float) -> tuple[int, int]:
    """Round ``(x, y)`` to an OpenCV integer point."""
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
        cv2.rectangle(img, pt(bx - 0.25 * tw, neck + 0.04 * u), pt(bx + 0.25 * tw, neck + 0.3 * u), p.bag_colour, -1)
    if p.long_hair:
        cv2.rectangle(img, pt(cx - r, top + r), pt(cx + r, neck + 0.08 * u), p.hair, -1)
    mid = (hip + foot) / 2
    for side, sign in ((-1, 1), (1, -1)):
        hx = cx + side * tw * 0.22
        fx = hx + sign * swing * 0.13 * u
        kx, fy = (hx + fx) / 2, foot - leg_w / 2
        lower = p.bottom if p.bottom_style == 0 else p.skin
        cv2.line(img, pt(hx, hip), pt(kx, mid), p.bottom if p.bottom_style < 2 else p.skin, leg_w)
        cv2.line(img, pt(kx, mid), pt(fx, fy), lower, leg_w)
        cv2.ellipse(img, pt(fx, fy), pt(leg_w * 0.8, leg_w * 0.45), 0, 0, 360, p.shoes, -1)
    if p.bottom_style == 2:  # skirt
        poly = np.array([pt(cx - tw / 2, hip), pt(cx + tw / 2, hip), pt(cx + 0.65 * tw, mid),
                         pt(cx - 0.65 * tw, mid)], np.int32)
        cv2.fillPoly(img, [poly], p.bottom)
    x0, x1, y1 = cx - tw / 2, cx + tw / 2, hip + leg_w * 0.3
    cv2.rectangle(img, pt(x0, neck), pt(x1, y1), p.top, -1)
    if p.pattern == 1:
        period = max(3, round(0.05 * u))
        for y in range(int(neck), int(y1), period):
            cv2.rectangle(img, pt(x0, y), pt(x1, y + period // 2 - 1), p.pattern_colour, -1)
    elif p.pattern == 2:
        cv2.rectangle(img, pt(x0, (neck + y1) / 2), pt(x1, y1), p.pattern_colour, -1)
    elif p.pattern == 3:
        cv2.rectangle(img, pt(x0, neck), pt(cx, y1), p.pattern_colour, -1)
    elif p.pattern == 4:
        lx, ly, s = cx, neck + 0.35 * (hip - neck), 0.22 * tw
        if p.logo_shape == 0:
            cv2.circle(img, pt(lx, ly), max(1, round(s)), p.pattern_colour, -1)
        elif p.logo_shape == 1:
            cv2.rectangle(img, pt(lx - s, ly - s), pt(lx + s, ly + s), p.pattern_colour, -1)
        else:
            tri = np.array([pt(lx, ly - s), pt(lx + s, ly + s), pt(lx - s, ly + s)], np.int32)
            cv2.fillPoly(img, [tri], p.pattern_colour)
    if p.bag == 1:  # straps
        for sx in (cx - 0.25 * tw, cx + 0.25 * tw):
            cv2.line(img, pt(sx, neck), pt(sx, neck + 0.22 * u), p.bag_colour, max(1, arm_w // 3))
    for side, sign in ((-1, -1), (1, 1)):
        sx, sy = cx + side * (tw / 2 + arm_w * 0.3), neck + arm_w * 0.6
        hx, hy = sx + sign * swing * 0.1 * u, neck + 0.38 * u
        ex, ey = (sx + hx) / 2, (sy + hy) / 2
        cv2.line(img, pt(sx, sy), pt(ex, ey), p.top, arm_w)
        cv2.line(img, pt(ex, ey), pt(hx, hy), p.skin if p.short_sleeves else p.top, arm_w)
        cv2.circle(img, pt(hx, hy), max(1, round(arm_w * 0.55)), p.skin, -1)
        if p.bag == 2 and side == p.bag_side:
            cv2.rectangle(img, pt(hx - 0.07 * u, hy), pt(hx + 0.07 * u, hy + 0.12 * u), p.bag_colour, -1)
    cv2.circle(img, pt(cx, top + r), max(1, round(r)), p.skin, -1)
    cv2.ellipse(img, pt(cx, top + r), pt(r, r), 0, 180, 360, p.hair, -1)

