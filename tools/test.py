#!/usr/bin/env python
"""Evaluate a checkpoint: ``python tools/test.py --config C --checkpoint outputs/run/checkpoint.pt``."""

import sys

from reid.pipeline.cli import base_parser, parse, run_main
from reid.pipeline.testing import run_test


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--checkpoint", required=True, help="checkpoint written by tools/train.py")
    args, cfg = parse(parser, argv)
    results = run_test(cfg, args.checkpoint)
    for name, m in results.items():
        print(f"{name:>10}: rank-1 {m['rank1']:.2f}  rank-5 {m.get('rank5', 0):.2f}  "
              f"rank-10 {m.get('rank10', 0):.2f}  rank-20 {m.get('rank20', 0):.2f}  mAP {m['mAP']:.2f}")


if __name__ == "__main__":
    sys.exit(run_main(main))
