"""Argument parsing shared by the entry scripts: ``--config FILE`` plus ``key.sub=value`` overrides."""

from __future__ import annotations

import argparse
import logging
import sys

from reid.config import Config, load_config
from reid.errors import ReIDError


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", "-c", help="YAML config file (defaults are used when omitted)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. train.iterations=100 data.root=/data")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    return parser


def setup_logging(quiet: bool = False) -> None:
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def parse(parser: argparse.ArgumentParser, argv: list[str] | None = None) -> tuple[argparse.Namespace, Config]:
    args = parser.parse_intermixed_args(argv)  # overrides may come before and after options
    setup_logging(args.quiet)
    try:
        cfg = load_config(args.config, args.overrides)
    except ReIDError as exc:
        parser.exit(2, f"error: {exc}\n")
    return args, cfg


def run_main(main, argv: list[str] | None = None) -> int:
    """Call ``main(argv)``; turn the package's own errors into a one-line message and exit code 1."""
    try:
        main(argv)
    except ReIDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
