"""Evaluate checkpoints.

One split:   python tools/test.py --checkpoint outputs/run/checkpoint.pt [data.root=...] [eval.protocol=...]
Ten splits:  python tools/test.py --config configs/ilidsvid_osm_caa.yaml --splits 0-9 \\
                 --checkpoint 'outputs/ilidsvid/split{split}/checkpoint.pt'

The model is built as the checkpoint's saved config says; --config and overrides choose the data
and the evaluation. Results go to --out, else to a new eval-<time>/ folder beside the checkpoint.
"""


from reid.cli.common import base_parser, parse_for_checkpoint
from reid.errors import ConfigError
from reid.eval.summary import summary_line
from reid.pipeline.testing import parse_splits, run_test, run_test_splits


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--checkpoint", required=True, help="checkpoint path; may contain {split}")
    parser.add_argument("--splits", help="evaluate these splits and report mean and std, e.g. 0-9")
    parser.add_argument("--out", help="output folder (default: eval-<time>/ beside the checkpoint)")
    parser.add_argument("--visualise", type=int, metavar="N",
                        help="draw the ranked lists of the N worst queries in report.html (eval.visualise; 0: none)")
    args, cfg = parse_for_checkpoint(parser, argv, kind="eval")
    if args.visualise is not None:
        if args.visualise < 0:
            raise ConfigError(f"--visualise {args.visualise}: expected a number of queries >= 0")
        cfg.eval.visualise = args.visualise
        cfg.eval.visualise_random = min(cfg.eval.visualise_random, args.visualise)
    if args.splits:
        for setting, table in run_test_splits(cfg, args.checkpoint, parse_splits(args.splits)).items():
            print(f"\n{setting}\n{table}")
        print(f"results: {cfg.output_dir}")
        return
    for name, m in run_test(cfg, args.checkpoint).items():
        print(f"{name:>10}: {summary_line(m)}")  # rank-1..20 and mAP; Recall@K, mAP and NMI for image retrieval
    print(f"report: {cfg.output_dir}")
