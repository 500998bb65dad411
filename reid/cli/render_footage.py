"""Render synthetic multi-camera footage with MOT ground truth (reid/data/synthetic/footage.py).

    osmcaa-reid footage --out data/footage_s0 --seed 0
    osmcaa-reid footage --out /tmp/f --seed 1 --width 384 --height 288 --test-frames 300

Writes ``<out>/{train,test}/cam<c>/video.avi`` (MJPG) and ``gt/gt.txt`` (``frame,id,x,y,w,h,1,1,vis``,
1-based frames, ids global over cameras) and ``<out>/footage_meta.json``. Flags left out take the
defaults of ``FootageConfig`` (3 cameras, 768x576, 10 fps, 600 + 600 frames).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import fields

from reid.data.synthetic.footage import FootageConfig, render_footage
from reid.errors import ReIDError


def _pair(text: str) -> tuple[int, int]:
    low, _, high = text.partition(",")
    return int(low), int(high or low)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder to create (an existing non-empty one is refused)")
    for f in fields(FootageConfig):
        kind = {"int": int, "float": float, "tuple[int, int]": _pair}[str(f.type)]
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, help=f"{f.name} (default {f.default})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    given = {f.name: getattr(args, f.name) for f in fields(FootageConfig) if getattr(args, f.name) is not None}
    start = time.perf_counter()
    try:
        root = render_footage(args.out, FootageConfig(**given))
    except ReIDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"footage written to {root} in {time.perf_counter() - start:.1f} s")
    return 0

