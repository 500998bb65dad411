"""A training run: data, model, loss, trainer, checkpoint, final evaluation."""

from __future__ import annotations

import logging
from pathlib import Path

import yaml

from reid.config import Config, config_to_dict
from reid.data import VideoReIDDataset
from reid.engine.trainer import Trainer, TrainState
from reid.eval.report import write_text
from reid.losses import build_loss
from reid.models import ReIDNet
from reid.pipeline.builders import build_model_for, build_train_loader, load_data, resolve_device, seed_everything
from reid.pipeline.evaluation import evaluate_model

logger = logging.getLogger(__name__)


def resume_path(cfg: Config) -> Path | None:
    """The checkpoint to resume from: ``train.resume`` as a path, or ``auto`` (the run's own, if any)."""
    if not cfg.train.resume:
        return None
    if cfg.train.resume == "auto":
        path = Path(cfg.output_dir) / "checkpoint.pt"
        return path if path.is_file() else None
    return Path(cfg.train.resume)


def run_training(cfg: Config, dataset: VideoReIDDataset | None = None,
                 model: ReIDNet | None = None) -> tuple[ReIDNet, TrainState]:
    """Train a model as ``cfg`` says; returns it and the training state (history).

    Args:
        cfg: the full config.
        dataset: an already loaded dataset (loaded from ``cfg.data`` otherwise).
        model: an already built model (built from ``cfg.model`` otherwise, after seeding).
    """
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    device = resolve_device(cfg.device)
    dataset = dataset if dataset is not None else load_data(cfg)
    if model is None:
        seed_everything(cfg.seed)
        model, init_used = build_model_for(cfg, dataset.num_train_pids)
        logger.info("backbone %s initialised from %s", cfg.model.backbone, init_used)
    model.to(device)
    criterion = build_loss(cfg.loss.terms).to(device)
    trainer = Trainer(model, criterion, cfg.train, out, device,
                      extra_state={"config": config_to_dict(cfg), "num_classes": dataset.num_train_pids})
    resume = resume_path(cfg)
    if resume is not None:
        trainer.resume(resume)
    loader = build_train_loader(cfg, dataset, start_batch=trainer.state.iteration)

    def on_eval(iteration: int) -> dict:
        plain = evaluate_model(cfg, model, dataset.query, dataset.gallery, device, rerank_too=False)["plain"]
        return {"eval_rank1": plain["rank1"], "eval_mAP": plain["mAP"]}

    state = trainer.train(iter(loader), on_eval=on_eval)
    for name, term in criterion.terms.items():
        stats = getattr(term, "stats", None)
        if stats:
            logger.info("loss %s degenerate-batch counters: %s", name, dict(stats))
    return model, state
