"""Validate a dataset: per-split table, decode every frame, compare with published counts.

Usage: python data_prep/validate.py NAME ROOT [--split-id K] [--workers N] [--report out.json]
Exits 1 when any error is found (unreadable frame, count mismatch, empty split of a benchmark; an
own-footage folder may lack splits, which is a warning). The JSON report is written only where
--report says.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from reid.data import DATASETS, load_dataset
from reid.data.validation import format_report, validate_dataset
from reid.errors import ReIDError
from reid.report.run_report import write_text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(DATASETS))
    parser.add_argument("root", help="the dataset folder, its parent, or a packed folder with --packed")
    parser.add_argument("--split-id", type=int, default=0)
    parser.add_argument("--workers", type=int, default=4, help="decoding threads")
    parser.add_argument("--packed", action="store_true", help="ROOT is a folder written by pack_videos.py")
    parser.add_argument("--no-cache", action="store_true", help="parse the annotations, ignore the index cache")
    parser.add_argument("--no-decode", action="store_true", help="skip decoding every frame")
    full = parser.add_mutually_exclusive_group()
    full.add_argument("--full", dest="full", action="store_const", const=True, default=None,
                      help="always compare with the published counts")
    full.add_argument("--partial", dest="full", action="store_const", const=False,
                      help="never compare (default: compare when the train id count is the published one)")
    parser.add_argument("--report", type=Path, default=None, help="also write the report as JSON to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        ds = load_dataset(args.name, args.root, split_id=args.split_id, packed=args.packed, cache=not args.no_cache)
    except ReIDError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    report = validate_dataset(ds, name=args.name, workers=args.workers, full=args.full, decode=not args.no_decode)
    sys.stdout.write(format_report(report) + "\n")
    if args.report is not None:
        if args.report.parent and not args.report.parent.is_dir():
            sys.stderr.write(f"error: --report {args.report}: folder {args.report.parent} does not exist\n")
            return 1
        write_text(args.report, json.dumps(report, indent=2) + "\n")
        sys.stdout.write(f"report written to {args.report}\n")
    return 1 if report["errors"] else 0
