"""Write a synthetic video re-id dataset in the exact MARS layout.

    python data_prep/make_synthetic.py --out data/synthetic --preset demo --seed 0
    python data_prep/make_synthetic.py --out /tmp/s --preset tiny --wrong-labels 0.1 --occlusion 0.05

The result is ``<out>/mars/``; load it with ``load_dataset("synthetic", "<out>")``. Any flag left
out takes the preset's value (see ``reid.data.synthetic.PRESETS``).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import fields

from reid.data.synthetic import PRESETS, SyntheticConfig, generate, preset


def _pair(text: str) -> tuple[int, int]:
    low, _, high = text.partition(",")
    return int(low), int(high or low)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="parent folder; <out>/mars is created")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    for f in fields(SyntheticConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.type in ("tuple[int, int]",):
            parser.add_argument(flag, type=_pair, metavar="LOW,HIGH", help=f"inclusive range ({f.name})")
        else:
            kind = {"int": int, "float": float}[str(f.type)]
            parser.add_argument(flag, type=kind, help=f.name.replace("_", " "))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    overrides = {f.name: getattr(args, f.name) for f in fields(SyntheticConfig) if getattr(args, f.name) is not None}
    start = time.perf_counter()
    root = generate(args.out, preset(args.preset, **overrides), workers=args.workers)
    logging.info("synthetic dataset written to %s in %.1f s", root, time.perf_counter() - start)


if __name__ == "__main__":
    main()
