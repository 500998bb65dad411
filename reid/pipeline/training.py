"""A training run: data, model, loss, trainer, checkpoint, final evaluation."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from types import SimpleNamespace

import torch
import yaml

from reid.config import Config, config_to_dict, color_jitter, white_balance
from reid.data import VideoReIDDataset
from reid.engine.checkpoint import BestCheckpoint, CheckpointSeries, load_checkpoint
from reid.engine.class_memory import ClassMemory, TrackletMemory
from reid.engine.cuda_choices import pin_memory
from reid.engine.distributed import DistContext, broadcast_buffers, describe_world
from reid.engine.environment import record_environment
from reid.engine.hooks import IdentityMining
from reid.engine.run_lock import RunLock
from reid.engine.trainer import Trainer, TrainState
from reid.errors import ConfigError
from reid.losses import build_loss, describe_degenerate, describe_pairs
from reid.losses.camera_alignment import CameraAlignment
from reid.models import ReIDNet
from reid.pipeline.builders import build_model_for, build_train_loader, load_data, resolve_device, seed_everything
from reid.pipeline.config_checks import check_config
from reid.pipeline.evaluation import evaluate_model
from reid.pipeline.pseudo_labels import PseudoLabels, freeze_classifier, resize_classifier
from reid.report.run_report import write_text

logger = logging.getLogger(__name__)

RESUME_KEYS = ("model", "optimizer", "scheduler", "iteration")


# Keys that may differ between a run and its resumption: the budget, logging and checkpoint
# cadence, loader processes, the device, and evaluation (which never touches the weights).
RESUMABLE_KEYS = ("train.iterations", "train.log_every", "train.eval_every", "train.checkpoint_every",
                  "train.keep_checkpoints", "train.best_metric", "train.tensorboard", "train.max_nonfinite",
                  "train.resume", "data.workers", "device", "output_dir")
RESUMABLE_SECTIONS = ("eval.",)


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


#: keys whose ``auto`` is resolved before comparing (``auto`` and 0.0 with labels train the same weights)
AUTO_KEYS = {"data.white_balance": white_balance, "data.color_jitter": color_jitter}


def _resolve_auto(flat: dict[str, object], default: dict[str, object]) -> dict[str, object]:
    labels = flat.get("data.labels", default["data.labels"])
    for key, strength in AUTO_KEYS.items():
        value = flat.get(key, default[key])
        try:
            flat[key] = strength(SimpleNamespace(**{key.split(".")[1]: value, "labels": labels}))
        except ConfigError:
            pass  # compared as written
    return flat


def config_changes(saved: dict, current: dict) -> list[str]:
    """``key: saved -> current`` for every key that differs and may not change on resume."""
    default = _flatten(config_to_dict(Config()))  # a key newer than the saved config: there at its default
    a, b = _resolve_auto(_flatten(saved), default), _resolve_auto(_flatten(current), default)
    changed = []
    for key in sorted(set(a) | set(b)):
        if key in RESUMABLE_KEYS or key.startswith(RESUMABLE_SECTIONS):
            continue
        if a.get(key, default.get(key, "<absent>")) != b.get(key, "<absent>"):
            changed.append(f"{key}: {a.get(key, '<absent>')!r} -> {b.get(key, '<absent>')!r}")
    return changed


def check_resumable(cfg: Config, checkpoint: Path, state: dict | None = None) -> None:
    """Refuse to continue ``checkpoint`` (``state``: its contents) with a config that would train other weights."""
    state = load_checkpoint(checkpoint) if state is None else state
    saved = state.get("config")
    if not isinstance(saved, dict):
        raise ConfigError(f"checkpoint {checkpoint} holds no config, so it cannot be shown to belong to this run; "
                          "use another output_dir, train.resume='' or --force-new")
    changed = config_changes(saved, config_to_dict(cfg))
    if changed:
        raise ConfigError(f"checkpoint {checkpoint} was trained with another config ({'; '.join(changed)}); "
                          "use another output_dir, or --force-new to start this run over")


def find_resume(cfg: Config, series: CheckpointSeries) -> tuple[Path, dict] | None:
    """The checkpoint to resume from and its contents: ``train.resume`` as a path, or ``auto``
    (the newest readable checkpoint of the run folder, unreadable ones skipped with a warning)."""
    if not cfg.train.resume:
        return None
    if cfg.train.resume == "auto":
        return series.load_newest(required=RESUME_KEYS)
    path = Path(cfg.train.resume)
    return path, load_checkpoint(path, required=RESUME_KEYS)


def resume_path(cfg: Config) -> Path | None:
    """The checkpoint a run with ``cfg`` would resume from (None: it would start over)."""
    found = find_resume(cfg, CheckpointSeries(cfg.output_dir, keep=cfg.train.keep_checkpoints))
    return None if found is None else found[0]


def run_training(cfg: Config, dataset: VideoReIDDataset | None = None,
                 model: ReIDNet | None = None, dist: DistContext | None = None) -> tuple[ReIDNet, TrainState]:
    """Train a model as ``cfg`` says; returns it and the training state (history).

    Args:
        cfg: the full config.
        dataset: an already loaded dataset (loaded from ``cfg.data`` otherwise).
        model: an already built model (built from ``cfg.model`` otherwise, after seeding).
        dist: this rank's place in a distributed run (``reid.engine.distributed.init_distributed``);
            rank 0 alone takes the run folder's lock and writes into it.
    """
    dist = dist or DistContext()
    if not dist.is_main:
        return _run_training(cfg, dataset, model, dist)
    with RunLock(cfg.output_dir), run_log(Path(cfg.output_dir) / "log.txt"):
        return _run_training(cfg, dataset, model, dist)


@contextlib.contextmanager
def run_log(path: Path):
    """Copy every log line of the block into ``path`` (appending: a resumed run continues the file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    if any(isinstance(h, logging.FileHandler) and Path(h.baseFilename) == path.resolve() for h in root.handlers):
        yield
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.setLevel(logging.INFO)
    previous = root.level
    quieted = []
    if previous > logging.INFO:  # --quiet: the terminal shows warnings only, the file still gets INFO
        quieted = [h for h in root.handlers if h.level < previous]
        for h in quieted:
            h.setLevel(previous)
        root.setLevel(logging.INFO)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        root.setLevel(previous)
        for h in quieted:
            h.setLevel(logging.NOTSET)


def _run_training(cfg: Config, dataset: VideoReIDDataset | None, model: ReIDNet | None,
                  dist: DistContext) -> tuple[ReIDNet, TrainState]:
    out = Path(cfg.output_dir)
    check_config(cfg)  # a bad value fails before anything is read or written
    criterion = build_loss(cfg.loss.terms)
    series = CheckpointSeries(out, keep=cfg.train.keep_checkpoints)
    device = resolve_device(cfg.device)
    if dist.backend == "nccl":
        device = torch.device("cuda", dist.local_rank)
    found = None
    if dist.is_main:
        logger.info(describe_world(dist, device))
        if series.remove_partial():
            logger.info("removed temporary files of an interrupted checkpoint write in %s", out)
        found = find_resume(cfg, series)
        if found is not None:
            check_resumable(cfg, *found)  # before anything is written into the run folder
        else:
            old = series.clear()
            (out / "environment.json").unlink(missing_ok=True)
            if old:
                logger.warning("starting a new run in %s: removed the checkpoints of an earlier run there (%s)",
                               out, ", ".join(old))
        out.mkdir(parents=True, exist_ok=True)
        write_text(out / "config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
        record_environment(out / "environment.json", device, world_size=dist.world_size, backend=dist.backend)
    if dist.enabled:  # every rank continues rank 0's choice of checkpoint
        path = dist.broadcast_object(None if found is None else str(found[0]))
        if not dist.is_main and path is not None:
            found = (Path(path), load_checkpoint(path, required=RESUME_KEYS))
        if dataset is None and dist.is_main:
            dataset = load_data(cfg)  # rank 0 first: it may generate synthetic data or write index caches
        dist.barrier()
    dataset = dataset if dataset is not None else load_data(cfg)
    pseudo = None
    if cfg.data.labels == "ignore":  # from here on no training pid is read (reid/pipeline/pseudo_labels.py)
        if dist.enabled:
            raise ConfigError("data.labels=ignore re-clusters and rebuilds the classifier during the run, which a "
                              "distributed run cannot do yet; train it in one process")
        pseudo = PseudoLabels(cfg, dataset, device)
        if found is not None and "pseudo_labels" in found[1]:
            pseudo.load_state_dict(found[1]["pseudo_labels"])
        logger.info("training without identity labels: white balance %.2f, colour jitter %.2f (auto: %s)",
                    white_balance(cfg.data), color_jitter(cfg.data),
                    ", ".join(k for k in ("white_balance", "color_jitter") if getattr(cfg.data, k) == "auto") or "none")
        logger.info("training without identity labels: %d training tracklets, each its own identity until the "
                    "first clustering round%s", len(dataset.train),
                    f" (iterations {', '.join(map(str, pseudo.rounds))})" if pseudo.rounds else " (none: stage 1 only)")
    num_classes = pseudo.num_classes if pseudo is not None else dataset.num_train_pids
    if model is None:
        seed_everything(cfg.seed)
        model, init_used = build_model_for(cfg, len(dataset.train) if pseudo is not None else num_classes)
        logger.info("backbone %s initialised from %s", cfg.model.backbone, init_used)
    if pseudo is not None and model.centres.shape[0] != num_classes:
        resize_classifier(model, num_classes, cfg.model.classifier_std)  # the resumed round's identities; the checkpoint fills it
    memory = pseudo is not None and cfg.cluster.centres == "memory"
    if memory and pseudo.rounds_done > 0:  # resumed after a round: the rows are a memory, not parameters
        freeze_classifier(model)
    model.to(device)
    criterion.to(device)

    def evaluate(iteration: int) -> dict:
        broadcast_buffers(model, dist)  # every rank embeds with rank 0's BN statistics
        plain = evaluate_model(cfg, model, dataset.query, dataset.gallery, device, rerank_too=False,
                               dist=dist)["plain"]
        return {"eval_rank1": plain["rank1"], "eval_mAP": plain["mAP"]}

    extra = {"config": config_to_dict(cfg), "num_classes": num_classes}
    if pseudo is not None:
        extra["pseudo_labels"] = pseudo.state_dict()
    trainer = Trainer(model, criterion, cfg.train, out, device, extra_state=extra,
                      evaluate=evaluate if dataset.query and dataset.gallery else None, dist=dist)
    trainer.checkpoints = series
    if pseudo is not None and cfg.cluster.camera_align > 0:
        trainer.camera_alignment = (cfg.cluster.camera_align,
                                    CameraAlignment(spread=cfg.cluster.camera_spread).to(device))
    if pseudo is not None and (cfg.cluster.intra_camera > 0 or cfg.cluster.inter_camera > 0):
        # before the checkpoint hook, as the class memory
        tracklets = TrackletMemory(cfg.cluster.memory_momentum, cfg.cluster.temperature, cfg.cluster.hard_negatives)
        trainer.tracklet_memory = (cfg.cluster.intra_camera, tracklets)
        trainer.inter_camera = cfg.cluster.inter_camera
        trainer.register([tracklets], first=True)
    if memory:  # before the checkpoint hook, so a checkpoint holds the rows the step moved
        trainer.register([ClassMemory(cfg.cluster.memory_momentum)], first=True)
        if pseudo.rounds_done > 0:
            trainer.class_temperature = cfg.cluster.temperature
    mining = None
    if cfg.data.identity_mining > 0:  # before the checkpoint hook, so a checkpoint holds the new similarity
        mining = IdentityMining()
        trainer.register([mining], first=True)
    if found is not None:
        trainer.resume(*found)
        if trainer.state.iteration >= cfg.train.iterations:
            logger.warning("%s is already at iteration %d of train.iterations=%d: nothing left to train "
                           "(raise train.iterations to train on, or use --force-new to start over)",
                           found[0], trainer.state.iteration, cfg.train.iterations)
    if pseudo is not None:
        state = trainer.train(pseudo.batches(trainer))
    else:
        loader = build_train_loader(cfg, dataset, start_batch=trainer.sampler_position, rank=dist.rank,
                                    world_size=dist.world_size, pin_memory=pin_memory(device))
        if mining is not None:
            attach_mining(mining, loader.batch_sampler, cfg)
        state = trainer.train(iter(loader))
    broadcast_buffers(model, dist)  # the model every rank returns is rank 0's, the one saved
    for name, term in criterion.terms.items():
        stats = getattr(term, "stats", None)
        if stats:
            logger.info("loss %s: %s", name, describe_degenerate(stats))
        pairs = getattr(term, "pairs", None)
        if pairs:
            logger.info("loss %s: %s", name, describe_pairs(pairs))
    return model, state


def attach_mining(mining: IdentityMining, sampler, cfg: Config) -> None:
    """Let ``sampler`` draw batches by the similarity the ``mining`` hook takes once an epoch.

    The loader asks the sampler for batches up to 2 x data.workers ahead of training (two per
    worker); an epoch's similarity is taken after its previous epoch's first step, so an epoch must
    be longer than that lead."""
    length = sampler.epoch_length
    lead = 2 * max(cfg.data.workers, 0) + 1
    if length <= lead:
        raise ConfigError(f"data.identity_mining: an epoch is {length} batches (training identities // "
                          f"data.num_identities), not more than the loader's lead of {lead} batches with "
                          f"data.workers={cfg.data.workers}; lower data.workers or set data.identity_mining=0")
    sampler.enable_mining(cfg.data.identity_mining, mining.attach(length))
    logger.info("identity mining: batches group identities by classifier-centre similarity at temperature %g "
                "(from epoch 1; an epoch is %d batches)", cfg.data.identity_mining, length)


def offer_best(cfg: Config, model: ReIDNet, results: dict, iteration: int, num_classes: int) -> bool:
    """Let the final evaluation's ``results`` replace ``best.pt`` when it beats the periodic ones."""
    value = results.get("plain", {}).get(cfg.train.best_metric)
    if value is None:
        return False
    best = BestCheckpoint(cfg.output_dir, cfg.train.best_metric)
    return best.offer(float(value), iteration, lambda: {"model": model.state_dict(), "iteration": iteration,
                                                        "config": config_to_dict(cfg), "num_classes": num_classes})
