"""Outlier study: OSM+CAA, its ablations and the baselines under 0/10/20 % wrong labels, 3 seeds.

python tools/outlier_study.py --config configs/outlier_study.yaml [--seeds 0 1 2] [--losses ...]
Writes outputs/outlier_study/results.json (resumable), docs/outlier_study.md and its plot.
"""

import sys
from pathlib import Path

from reid.cli.common import base_parser, parse
from reid.studies.outliers import STUDY_LOSSES, aggregate, run_study, write_study_report


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--noises", type=float, nargs="+", default=[0.0, 0.1, 0.2])
    parser.add_argument("--losses", nargs="+", default=list(STUDY_LOSSES), choices=list(STUDY_LOSSES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--report", default="docs/outlier_study.md")
    parser.add_argument("--findings", default="", help="a Markdown file whose text is appended as findings")
    args, cfg = parse(parser, argv)
    results = run_study(cfg, noises=args.noises, losses=args.losses, seeds=args.seeds,
                        results_path=Path(cfg.output_dir) / "results.json")
    table = aggregate(results, args.noises, args.losses)
    report = Path(args.report)
    findings = Path(args.findings).read_text() if args.findings else ""
    write_study_report(report, report.with_suffix(".png"), table, args.noises,
                       "python tools/outlier_study.py " + " ".join(sys.argv[1:] if argv is None else argv), findings)
    print(report.read_text())
