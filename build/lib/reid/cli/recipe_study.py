"""Recipe study: rows of one change each from a baseline, trained with several seeds.

python tools/recipe_study.py --study configs/studies/recipe_study.yaml [--rows NAME ...] [--seeds 0 1 2]
Each run is tools/train.py in a subprocess under --out (a finished run is never run again); the
table of every row with results so far is rewritten to --report after each row.
"""

import argparse
from pathlib import Path

from reid.cli.common import setup_logging
from reid.errors import ReIDError
from reid.report.run_report import write_text
from reid.studies.recipe import format_table, load_study, read_run, run_row, slug


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", required=True, help="study YAML (base, common, seeds, rows)")
    parser.add_argument("--rows", nargs="+", help="only these rows (default: all, in file order)")
    parser.add_argument("--seeds", type=int, nargs="+", help="override the study's seeds")
    parser.add_argument("--out", default="outputs/recipe_study", help="run folders go here")
    parser.add_argument("--threads", type=int, help="OMP/MKL threads of each run")
    parser.add_argument("--report", default="", help="Markdown file for the table (printed in any case)")
    parser.add_argument("--table-only", action="store_true", help="run nothing; tabulate finished runs")
    args = parser.parse_args(argv)
    setup_logging()
    study = load_study(args.study)
    seeds = args.seeds or study.seeds
    names = args.rows or [r.name for r in study.rows]
    for name in names:
        study.row(name)  # unknown names fail before anything runs
    if not args.table_only:
        study.check_configs(names)  # so does a row whose config does not build
    out = Path(args.out)
    tabulated = sorted(set(study.seeds) | set(seeds))  # rows not run now keep every seed they have
    results = {}
    for row in study.rows:
        if args.table_only or row.name not in names:
            found = [{"seed": s, **r} for s in tabulated if (r := read_run(out / slug(row.name) / f"seed{s}")) is not None]
            if found:
                results[row.name] = found
            continue
        try:
            results[row.name] = run_row(study, row.name, out, seeds, args.threads)
            results[row.name] += [{"seed": s, **r} for s in tabulated if s not in seeds
                                  and (r := read_run(out / slug(row.name) / f"seed{s}")) is not None]
            results[row.name].sort(key=lambda r: r["seed"])
        except RuntimeError as exc:
            raise ReIDError(str(exc)) from None
        if args.report:
            write_text(args.report, format_table(study, results))
    table = format_table(study, results)
    if args.report:
        write_text(args.report, table)
    print(table)
