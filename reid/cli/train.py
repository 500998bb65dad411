"""Train a re-ID model: ``python tools/train.py --config configs/mars_osm_caa.yaml data.root=/data``.

Distributed: ``torchrun --nproc_per_node=K tools/train.py --config ...`` (multi-node through torchrun's
rendezvous options) trains with DistributedDataParallel; the global batch stays P x K, split over the
processes, and rank 0 alone writes into output_dir.
"""

import logging
from pathlib import Path

from reid.cli.common import base_parser, parse
from reid.engine.distributed import init_distributed, quiet_other_ranks, shutdown_distributed
from reid.engine.run_lock import RunLock
from reid.pipeline.builders import load_data
from reid.pipeline.evaluation import evaluate_model_full
from reid.pipeline.training import offer_best, run_log, run_training
from reid.report.run_report import write_report
from reid.report.sections import mean_attention, protocol_notes, report_sections

logger = logging.getLogger("tools.train")


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--no-eval", action="store_true", help="skip the final evaluation")
    parser.add_argument("--force-new", action="store_true",
                        help="start over in output_dir even if it holds a checkpoint (which is overwritten)")
    args, cfg = parse(parser, argv)
    if args.force_new:
        cfg.train.resume = ""
    dist = init_distributed(cfg.device, cfg.train.dist_backend)
    quiet_other_ranks(dist)
    clean = False
    try:
        if not dist.is_main:
            train_and_report(cfg, args, dist)
        else:
            with RunLock(cfg.output_dir), run_log(Path(cfg.output_dir) / "log.txt"):
                train_and_report(cfg, args, dist)
        clean = True
    finally:
        shutdown_distributed(dist, clean)


def train_and_report(cfg, args, dist):
    if dist.enabled:  # rank 0 reads first: it may generate synthetic data or write index caches
        dataset = load_data(cfg) if dist.is_main else None
        dist.barrier()
        dataset = dataset if dataset is not None else load_data(cfg)
    else:
        dataset = load_data(cfg)
    model, state = run_training(cfg, dataset, dist=dist)
    if args.no_eval:
        return
    if not dataset.query or not dataset.gallery:
        if dist.is_main:
            logger.warning("evaluation skipped: %s at %s has %d query and %d gallery tracklets (a train-only "
                           "dataset); the model is in %s", cfg.data.name, cfg.data.root, len(dataset.query),
                           len(dataset.gallery), Path(cfg.output_dir) / "model.pt")
        return
    device = next(model.parameters()).device  # cuda:LOCAL_RANK in a distributed CUDA run
    full = evaluate_model_full(cfg, model, dataset.query, dataset.gallery, device, dist=dist)
    results = full.results
    if not dist.is_main:
        return
    offer_best(cfg, model, results, state.iteration, model.centres.shape[0])
    timed = max(state.steps_timed, 1)
    training = {"iterations": state.iteration, "step_seconds": round(state.step_seconds, 3),
                "seconds_per_iteration": round(state.step_seconds / timed, 4), "world_size": dist.world_size}
    report = write_report(cfg.output_dir, title=f"Training run on {cfg.data.name}", results=results,
                          notes=[f"{state.iteration} iterations, {training['seconds_per_iteration']:.3f} s "
                                 f"per iteration (loading included), {dist.world_size} process(es)",
                                 *protocol_notes(cfg, dataset, full)],
                          history=state.history, extra={"training": training},
                          sections=report_sections(cfg, Path(cfg.output_dir), full, dataset,
                                                   mean_attention(state.attention, len(dataset.train))))
    print(f"report: {report}")
