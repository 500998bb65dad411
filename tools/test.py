#!/usr/bin/env python
"""Evaluate checkpoints.

One split:   python tools/test.py --config C --checkpoint outputs/run/checkpoint.pt
Ten splits:  python tools/test.py --config configs/ilidsvid_osm_caa.yaml --splits 0-9 \\
                 --checkpoint 'outputs/ilidsvid/split{split}/checkpoint.pt'
"""

import sys

from reid.pipeline.cli import base_parser, parse, run_main
from reid.pipeline.testing import parse_splits, run_test, run_test_splits


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--checkpoint", required=True, help="checkpoint path; may contain {split}")
    parser.add_argument("--splits", help="evaluate these splits and report mean and std, e.g. 0-9")
    args, cfg = parse(parser, argv)
    if args.splits:
        for setting, table in run_test_splits(cfg, args.checkpoint, parse_splits(args.splits)).items():
            print(f"\n{setting}\n{table}")
        return
    for name, m in run_test(cfg, args.checkpoint).items():
        print(f"{name:>10}: rank-1 {m['rank1']:.2f}  rank-5 {m.get('rank5', 0):.2f}  "
              f"rank-10 {m.get('rank10', 0):.2f}  rank-20 {m.get('rank20', 0):.2f}  mAP {m['mAP']:.2f}")


if __name__ == "__main__":
    sys.exit(run_main(main))
