"""Make the 10 standard PRID-2011 splits once and store them beside the data.

Usage: python data_prep/make_prid_splits.py ROOT [--seed 0] [--num-splits 10] [--min-frames 27]
                                            [--out FILE] [--overwrite]
"""

from __future__ import annotations

import argparse
import logging

from reid.data.datasets.prid_splits import MIN_FRAMES, NUM_SPLITS, write_prid_splits
from reid.errors import ReIDError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", help="the prid2011 folder or its parent")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-splits", type=int, default=NUM_SPLITS)
    parser.add_argument("--min-frames", type=int, default=MIN_FRAMES, help="minimum frames in both cameras")
    parser.add_argument("--out", default=None, help="default: <prid2011>/splits_prid2011.json")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing split file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = write_prid_splits(args.root, seed=args.seed, num_splits=args.num_splits,
                                 min_frames=args.min_frames, out=args.out, overwrite=args.overwrite)
    except ReIDError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(f"wrote {path}")
