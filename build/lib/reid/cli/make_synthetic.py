"""Write a synthetic video re-id dataset in the exact MARS layout, or an image-retrieval set in the CUB layout.

    python data_prep/make_synthetic.py --out data/synthetic --preset demo --seed 0
    python data_prep/make_synthetic.py --out /tmp/s --preset tiny --wrong-labels 0.1 --occlusion 0.05
    python data_prep/make_synthetic.py --out data/synthetic_retrieval --preset retrieval --num-classes 60

The video presets write ``<out>/mars/``; load it with ``load_dataset("synthetic", "<out>")``. The
retrieval presets (``retrieval``, ``retrieval_tiny``) write ``<out>/CUB_200_2011/``; load it with
``load_dataset("cub", "<out>")`` or ``"synthetic_retrieval"``. They take --seed, --height, --width,
--jpeg-quality, --num-classes and --images-per-class. Any flag left out takes the preset's value
(see ``reid.data.synthetic.PRESETS`` and ``reid.data.synthetic.retrieval.PRESETS``).
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import fields

from reid.data.synthetic import PRESETS, GeneratorParams, generate, preset
from reid.data.synthetic import retrieval as synthetic_retrieval

RETRIEVAL_FIELDS = list(fields(synthetic_retrieval.RetrievalGeneratorParams))
VIDEO_NAMES = {f.name for f in fields(GeneratorParams)}


def _pair(text: str) -> tuple[int, int]:
    low, _, high = text.partition(",")
    return int(low), int(high or low)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="parent folder; <out>/mars (or <out>/CUB_200_2011) is created")
    parser.add_argument("--preset", choices=sorted(PRESETS) + sorted(synthetic_retrieval.PRESETS), default="demo")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes (video presets)")
    for f in [*fields(GeneratorParams), *(f for f in RETRIEVAL_FIELDS if f.name not in VIDEO_NAMES)]:
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
    start = time.perf_counter()
    if args.preset in synthetic_retrieval.PRESETS:
        given = {f.name for f in [*fields(GeneratorParams), *RETRIEVAL_FIELDS] if getattr(args, f.name) is not None}
        wrong = sorted(given - {f.name for f in RETRIEVAL_FIELDS})
        if wrong:
            raise SystemExit(f"error: --{wrong[0].replace('_', '-')} applies to the video presets, not to "
                             f"--preset {args.preset}")
        config = synthetic_retrieval.preset(args.preset, **{k: getattr(args, k) for k in given})
        root = synthetic_retrieval.generate(args.out, config)
        logging.info("synthetic retrieval set written to %s in %.1f s", root, time.perf_counter() - start)
        return
    overrides = {f.name: getattr(args, f.name) for f in fields(GeneratorParams) if getattr(args, f.name) is not None}
    wrong = sorted(f.name for f in RETRIEVAL_FIELDS if f.name not in VIDEO_NAMES and getattr(args, f.name) is not None)
    if wrong:
        raise SystemExit(f"error: --{wrong[0].replace('_', '-')} applies to the retrieval presets only")
    root = generate(args.out, preset(args.preset, **overrides), workers=args.workers)
    logging.info("synthetic dataset written to %s in %.1f s", root, time.perf_counter() - start)
