#!/usr/bin/env python
"""Train a re-ID model: ``python tools/train.py --config configs/mars_osm_caa.yaml data.root=/data``."""

import sys
from pathlib import Path

from reid.pipeline.cli import base_parser, parse, run_main
from reid.pipeline.evaluation import evaluate_model
from reid.pipeline.builders import load_data, resolve_device
from reid.engine.run_lock import RunLock
from reid.pipeline.training import offer_best, run_log, run_training
from reid.eval.report import write_report


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    parser.add_argument("--force-new", action="store_true",
                        help="start over in output_dir even if it holds a checkpoint (which is overwritten)")
    args, cfg = parse(parser, argv)
    if args.force_new:
        cfg.train.resume = ""
    with RunLock(cfg.output_dir), run_log(Path(cfg.output_dir) / "log.txt"):
        train_and_report(cfg, args)


def train_and_report(cfg, args):
    dataset = load_data(cfg)
    model, state = run_training(cfg, dataset)
    if not args.no_eval:
        results = evaluate_model(cfg, model, dataset.query, dataset.gallery, resolve_device(cfg.device))
        offer_best(cfg, model, results, state.iteration, dataset.num_train_pids)
        timed = max(state.steps_timed, 1)
        training = {"iterations": state.iteration, "step_seconds": round(state.step_seconds, 3),
                    "seconds_per_iteration": round(state.step_seconds / timed, 4)}
        report = write_report(cfg.output_dir, title=f"Training run on {cfg.data.name}", results=results,
                              notes=[f"{state.iteration} iterations, {training['seconds_per_iteration']:.3f} s "
                                     "per iteration (loading included)"],
                              history=state.history, extra={"training": training})
        print(f"report: {report}")


if __name__ == "__main__":
    sys.exit(run_main(main))
