"""Argument parsing shared by the entry scripts: ``--config FILE`` plus ``key.sub=value`` overrides."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import time

from pathlib import Path

from reid.config import Config, ModelConfig, _build, drop_unknown_keys, load_config
from reid.errors import ConfigError, ReIDError
from reid.pipeline.config_checks import check_config

logger = logging.getLogger(__name__)


def base_parser(description: str, default_config: str | None = None) -> argparse.ArgumentParser:
    """A parser with ``--config FILE`` (a path, or the name of a shipped config such as
    ``mars_osm_caa``), ``key.sub=value`` overrides and ``--quiet``."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", "-c", default=default_config,
                        help="YAML config file, or the name of a shipped config (e.g. mars_osm_caa); "
                             + (f"default: {default_config}" if default_config else "the defaults when omitted"))
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
        cfg = check_config(load_config(args.config, args.overrides))
    except ReIDError as exc:
        parser.exit(2, f"error: {exc}\n")
    return args, cfg


def run_main(main, argv: list[str] | None = None) -> int:
    """Call ``main(argv)`` and return its exit code (``None`` is 0); the package's own errors become a
    one-line message and exit code 1."""
    try:
        code = main(argv)
    except ReIDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return int(code or 0)


def parse_for_checkpoint(parser: argparse.ArgumentParser, argv: list[str] | None = None,
                         kind: str = "eval") -> tuple[argparse.Namespace, Config]:
    """Parse the arguments of a script that reads a trained checkpoint (``--checkpoint``, ``--out``).

    The model section comes from the config saved in the checkpoint: weights only fit the model
    they were trained as. Everything else comes from ``--config`` when given, else from the
    checkpoint's config; overrides apply to data and eval settings, and one that names a
    ``model.`` key is an error. Outputs go to ``--out``, else to a new ``<kind>-<time>/`` folder
    beside the checkpoint, never over the training run's own report.
    """
    from reid.config import apply_overrides, config_from_dict
    from reid.engine.checkpoint import load_checkpoint

    args = parser.parse_intermixed_args(argv)
    setup_logging(args.quiet)
    try:
        model_keys = [o.split("=", 1)[0] for o in args.overrides if o.split("=", 1)[0].startswith("model.")]
        if model_keys:
            raise ConfigError(f"override {model_keys[0]}: the model comes from the checkpoint's saved config "
                              "and cannot be changed when evaluating it")
        saved = None
        if "{split}" not in args.checkpoint:
            saved = load_checkpoint(args.checkpoint).get("config")
        elif Path(args.checkpoint.format(split=0)).is_file():
            saved = load_checkpoint(args.checkpoint.format(split=0)).get("config")
        if args.config is None and isinstance(saved, dict):
            data = {k: v for k, v in saved.items()}
            cfg = config_from_dict(apply_overrides(drop_unknown_keys(data), args.overrides))
        else:
            cfg = load_config(args.config, args.overrides)
        if isinstance(saved, dict) and isinstance(saved.get("model"), dict):
            model = _build(ModelConfig, drop_unknown_keys({"model": saved["model"]})["model"], "model.")
            if model != cfg.model:
                differ = [f.name for f in dataclasses.fields(ModelConfig)
                          if getattr(model, f.name) != getattr(cfg.model, f.name)]
                logger.info("model settings from the checkpoint's config, not from %s: %s",
                            args.config, ", ".join(f"model.{k}={getattr(model, k)!r}" for k in differ))
            cfg = dataclasses.replace(cfg, model=model)
        elif saved is None:
            logger.warning("%s holds no saved config: its model is built from the given config", args.checkpoint)
        check_config(cfg)
    except ReIDError as exc:
        parser.exit(2, f"error: {exc}\n")
    base = Path(cfg.output_dir) if "{split}" in args.checkpoint else Path(args.checkpoint).parent
    out = Path(args.out) if args.out else base / f"{kind}-{time.strftime('%Y%m%d-%H%M%S')}"
    return args, dataclasses.replace(cfg, output_dir=str(out))
