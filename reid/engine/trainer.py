"""The training loop: ``run_step`` is the algorithm; logging, evaluation, checkpoints, the lr
schedule and the CAA attention record are hooks around it (``reid.engine.hooks``)."""

from __future__ import annotations

import csv
import io
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from reid.config import TrainConfig, check_choice
from reid.engine.checkpoint import (BestCheckpoint, CheckpointError, CheckpointSeries, atomic_write_bytes,
                                    load_checkpoint, save_checkpoint)
from reid.engine.cuda_choices import apply_cudnn_settings, ddp_device_ids, non_blocking
from reid.engine.distributed import DistContext, convert_global_bn, gather_rows, gather_with_grad
from reid.engine.hooks import (AttentionRecord, HookBase, LRSchedule, NonFiniteGuard, PeriodicCheckpoint, PeriodicEval,
                               PeriodicLog, StepOutput, TrainingDiverged)
from reid.engine.precision import Precision, probe_faster, resolve_precision
from reid.errors import ConfigError
from reid.losses.combined import LossResult
from reid.models.reid_net import ReIDNet

logger = logging.getLogger(__name__)


__all__ = ["Trainer", "TrainState", "TrainingDiverged", "build_optimizer", "lr_factor", "write_history_csv"]


OPTIMIZERS = ("adam", "sgd")
SCHEDULES = ("step", "cosine")
LOSS_LEVELS = ("clip", "frame")
BEST_METRICS = ("mAP", "rank1")


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    check_choice(cfg.optimizer, OPTIMIZERS, "train.optimizer")
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused kernels update all parameters in one pass: several times faster than the default
    # per-tensor loop on CPU (measured 0.13 s vs 0.6 s per Adam step of a ResNet-18 here).
    if cfg.optimizer == "adam":
        betas = tuple(cfg.betas)
        if len(betas) != 2 or not all(0.0 <= b < 1.0 for b in betas):
            raise ConfigError(f"config key 'train.betas': {list(cfg.betas)} must be two numbers in [0, 1), "
                              "e.g. [0.9, 0.999]")
        return torch.optim.Adam(params, lr=cfg.lr, betas=betas, weight_decay=cfg.weight_decay, fused=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, fused=True)


def check_schedule(cfg: TrainConfig) -> None:
    """Raise ConfigError naming the first schedule key outside its range."""
    check_choice(cfg.schedule, SCHEDULES, "train.schedule")
    if cfg.iterations < 1:
        raise ConfigError(f"config key 'train.iterations': {cfg.iterations} must be >= 1")
    if not 0.0 <= cfg.warmup < 1.0:
        raise ConfigError(f"config key 'train.warmup': {cfg.warmup} must be a fraction of train.iterations in [0, 1)")
    for f in cfg.lr_steps:
        if not 0.0 < f < 1.0:
            raise ConfigError(f"config key 'train.lr_steps': {f} must be a fraction of train.iterations in (0, 1), "
                              "e.g. [0.4, 0.7]")
    if not 0.0 <= cfg.min_lr_factor <= 1.0:
        raise ConfigError(f"config key 'train.min_lr_factor': {cfg.min_lr_factor} must be in [0, 1]")


def lr_factor(iteration: int, cfg: TrainConfig) -> float:
    """The lr multiplier of 0-based ``iteration``: warmup, then the step or cosine schedule.

    All positions are fractions of ``cfg.iterations`` (a step at fraction f applies from iteration
    round(f * iterations) on); the linear warmup goes from 1/W to 1 over W = round(warmup *
    iterations) iterations.
    """
    n = cfg.iterations
    warm = round(cfg.warmup * n)
    factor = min(1.0, (iteration + 1) / warm) if warm > 0 else 1.0
    if cfg.schedule == "cosine":
        t = min(1.0, max(0, iteration - warm) / max(1, n - 1 - warm))
        return factor * (cfg.min_lr_factor + (1 - cfg.min_lr_factor) * 0.5 * (1 + math.cos(math.pi * t)))
    return factor * cfg.lr_gamma ** sum(iteration >= round(f * n) for f in cfg.lr_steps)


def write_history_csv(path: Path, history: list[dict]) -> None:
    """Every logged record as one CSV row (columns: the union of the records' keys, iteration first).

    Rewritten whole and atomically at each log line, so a killed run leaves a complete file.
    """
    columns = ["iteration"] + sorted({k for h in history for k in h} - {"iteration"})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    atomic_write_bytes(path, lambda f: f.write(buffer.getvalue().encode()))


def rng_state() -> dict[str, Any]:
    """Every RNG the training and data path may draw from, as tensors and plain values only."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "gauss": float(gauss)},
             "python": [random.getstate()[0], list(random.getstate()[1]), random.getstate()[2]]}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class TrainState:
    iteration: int = 0
    history: list[dict] = field(default_factory=list)
    nonfinite_steps: int = 0  # steps skipped for a non-finite loss or gradient (whole run)
    nonfinite_losses: int = 0  # of those, the steps whose loss itself was non-finite
    nonfinite_in_a_row: int = 0
    step_seconds: float = 0.0  # wall time inside training steps (loading included, hooks not)
    steps_timed: int = 0  # iterations that step_seconds covers (a resumed run: since the resume)
    attention: AttentionRecord | None = None  # the hook that records the CAA attention per tracklet


class LossForward(nn.Module):
    """Clips -> model -> (gathered) embeddings -> loss: the differentiable part of a step.

    ``forward(clips, pids, indices) -> (total, parts, extras, indices, samples per clip)``; in a distributed
    run the loss sees the global batch (embeddings, labels and indices of every rank, in rank
    order, which is the one-process batch).
    """

    def __init__(self, trainer: Trainer) -> None:
        super().__init__()
        self.model, self.criterion = trainer.model, trainer.criterion
        self._trainer = [trainer]  # not a submodule

    def forward(self, clips: torch.Tensor, pids: torch.Tensor, indices: torch.Tensor | None,
                classes: torch.Tensor | None = None, camids: torch.Tensor | None = None):
        t = self._trainer[0]
        with t.precision.autocast(t.device.type):
            out = self.model(clips)
        if t.cfg.loss_level == "frame":  # every frame is a sample (the paper's MARS setup)
            emb = out.frame_embeddings.flatten(0, 1)
            per_clip = out.frame_embeddings.shape[1]
            labels = pids.repeat_interleave(per_clip)
        else:
            emb, labels, per_clip = out.embedding, pids, 1
        emb = emb.float()
        if t.dist.enabled:
            emb, labels = gather_with_grad(emb, t.dist), gather_rows(labels, t.dist)
            if indices is not None:
                indices = gather_rows(indices, t.dist)
            if camids is not None:
                camids = gather_rows(camids, t.dist)
        cls = self.model.neck(emb)  # the classifier's input: emb itself without a BNNeck
        bias = None if self.model.centre_bias is None else self.model.centre_bias.float()
        centres = self.model.centres.float()
        # the unit classifier input, which both memories (reid.engine.class_memory) compare with their rows
        memory_terms = t.tracklet_memory is not None and t.tracklet_memory[1].ready and indices is not None and camids is not None
        unit = F.normalize(cls, dim=1) if t.class_temperature is not None or memory_terms else None
        memory_extras: dict[str, torch.Tensor] = {}
        if t.class_temperature is not None:  # the classifier is a memory of unit rows
            memory_extras = {"class_embeddings": unit.detach(), "class_labels": labels.detach()}
            cls, bias = unit / t.class_temperature, None
        if classes is not None:  # the batch's softmax runs over these classes alone
            classes = classes.to(labels.device)
            local = torch.full((centres.shape[0],), -1, dtype=torch.long, device=labels.device)
            local[classes] = torch.arange(len(classes), device=labels.device)
            labels = local[labels]
            if bool((labels < 0).any()):
                raise ValueError("a batch's label is not among the classes given for its softmax")
            centres = centres[classes]
            bias = None if bias is None else bias[classes]
        result = self.criterion(emb, labels, centres, bias, class_embeddings=cls)
        if memory_extras:
            result = LossResult(result.total, result.parts, {**result.extras, **memory_extras})
        if memory_terms:  # the tracklet memory's terms (reid.engine.class_memory.TrackletMemory)
            weight, memory = t.tracklet_memory
            rows, cams = indices.to(emb.device).repeat_interleave(per_clip), camids.to(emb.device).repeat_interleave(per_clip)
            total, parts = result.total, dict(result.parts)
            if weight > 0:  # the intra-camera term
                value = memory.loss(unit, rows, cams)
                total, parts["intra_camera"] = total + weight * value, float(value.detach())
            if t.inter_camera > 0:  # the inter-camera term against the (cluster, camera) proxies
                value = memory.inter_loss(unit, rows)
                total, parts["inter_camera"] = total + t.inter_camera * value, float(value.detach())
            result = LossResult(total, parts,
                                {**result.extras, "tracklet_embeddings": unit.detach(), "tracklet_indices": rows})
        if t.camera_alignment is not None and camids is not None:
            weight, term = t.camera_alignment
            value = term(emb, camids.to(emb.device).repeat_interleave(per_clip))
            result = LossResult(result.total + weight * value, {**result.parts, "camera_align": float(value.detach())},
                                result.extras)
        return result.total, result.parts, result.extras, indices, per_clip  # plain containers, which DDP walks


class Trainer:
    """Runs ``cfg.iterations`` steps of identity-balanced batches through model and loss.

    Args:
        model: the ReIDNet (its classifier weight are the class centres).
        criterion: a ``CombinedLoss`` (returns a ``LossResult``).
        cfg: the train section of the config.
        output_dir: where the checkpoints, ``model.pt``, ``best.pt`` and ``train_log.csv`` go.
        device: torch device.
        extra_state: saved into every checkpoint (the resolved config, the number of classes).
        evaluate: ``evaluate(iteration) -> {"eval_rank1", "eval_mAP"}`` for ``cfg.eval_every``.
        dist: the process group this rank belongs to (``reid.engine.distributed``); with more
            than one rank the model trains under DistributedDataParallel, the loss sees the batch of
            every rank, and only rank 0 writes (checkpoints, CSV, TensorBoard, ``best.pt``).

    Checkpoints hold the model, optimizer, scheduler and scaler, the iteration (which is the identity
    sampler's position: one batch per iteration), every RNG (torch, numpy, python, CUDA) and the
    hooks' states. The loader's workers draw nothing from their own seeds: every clip's randomness
    comes from a generator seeded by (seed, tracklet, draw), so the position reproduces them.
    """

    def __init__(self, model: ReIDNet, criterion: nn.Module, cfg: TrainConfig, output_dir: str | Path,
                 device: torch.device, extra_state: dict | None = None,
                 evaluate: Callable[[int], dict] | None = None, dist: DistContext | None = None) -> None:
        check_choice(cfg.loss_level, LOSS_LEVELS, "train.loss_level")
        if cfg.loss_level == "frame" and any(p.requires_grad for p in model.pool.parameters()):
            raise ConfigError("train.loss_level=frame trains no temporal pooling weights: use model.pooling=avg "
                              "(the paper's setup) or loss_level=clip")
        check_schedule(cfg)
        if cfg.max_nonfinite < 1:
            raise ConfigError(f"config key 'train.max_nonfinite': {cfg.max_nonfinite} must be >= 1")
        if cfg.keep_checkpoints < 1:
            raise ConfigError(f"config key 'train.keep_checkpoints': {cfg.keep_checkpoints} must be >= 1")
        check_choice(cfg.best_metric, BEST_METRICS, "train.best_metric")
        self.model, self.criterion, self.cfg, self.device = model, criterion, cfg, device
        self.dist = dist or DistContext()
        self.output_dir = Path(output_dir)
        # The step's forward pass, model to loss: under DDP the whole of it is DDP's forward, so
        # every parameter (class centres, BNNeck) is used inside it, and static_graph lets DDP
        # learn once which parameters a loss leaves without gradient (e.g. centres under OSM alone).
        self.forward_loss: nn.Module = LossForward(self)
        if self.dist.enabled:
            if cfg.sync_bn:  # the backbone's BN over the global batch (the neck sees the gathered batch anyway)
                model.backbone = convert_global_bn(model.backbone, self.dist).to(device)
            self.forward_loss = nn.parallel.DistributedDataParallel(
                self.forward_loss, device_ids=ddp_device_ids(device), static_graph=True)
        self.optimizer = build_optimizer(model, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda it: lr_factor(it, cfg))
        self.precision: Precision = resolve_precision(cfg.precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision.needs_scaler)
        self.cudnn = apply_cudnn_settings(device)
        self.checkpoints = CheckpointSeries(self.output_dir, keep=cfg.keep_checkpoints)
        self.best = BestCheckpoint(self.output_dir, cfg.best_metric)
        self.extra_state = extra_state or {}
        attention = AttentionRecord()
        self.state = TrainState(attention=attention)
        self.hooks: list[HookBase] = []
        # batch camera ids -> the classes its softmax runs over (None: all); set by training
        # without labels while each class is one camera's track
        self.batch_classes: Callable[[torch.Tensor], torch.Tensor | None] | None = None
        # (weight, CameraAlignment): the camera-alignment term on the batch's embeddings, given the
        # batch's camera ids (set by training without labels, cluster.camera_align)
        self.camera_alignment: tuple[float, nn.Module] | None = None
        # set while the classifier is a momentum memory (reid.engine.class_memory): the classifier
        # sees the L2-normalised feature over this temperature, and the step's extras carry the
        # features and labels the memory hook updates the rows with
        self.class_temperature: float | None = None
        # (weight, TrackletMemory): the intra-camera term against a memory of the training tracklets
        # (set by training without labels, cluster.intra_camera); it needs the batch's camera ids
        self.tracklet_memory: tuple[float, Any] | None = None
        # weight of the inter-camera term against the same memory's (cluster, camera) proxies
        # (cluster.inter_camera; 0: off)
        self.inter_camera = 0.0
        self.register([LRSchedule(), NonFiniteGuard(cfg.max_nonfinite), attention, PeriodicLog(cfg.log_every)]
                      + ([PeriodicEval(cfg.eval_every, evaluate, self.best)] if evaluate is not None else [])
                      + [PeriodicCheckpoint(cfg.checkpoint_every)])
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.model.channels_last = True

    def register(self, hooks: list[HookBase], first: bool = False) -> None:
        """Append hooks (``first``: put them before every other); they run in the order given."""
        names = [h.name for h in self.hooks + hooks if h.name]
        if len(names) != len(set(names)):
            raise ValueError(f"hook names must be unique, got {names}")
        for hook in hooks:
            hook.trainer = self
        self.hooks = [*hooks, *self.hooks] if first else [*self.hooks, *hooks]

    def describe(self) -> str:
        """One line: what arithmetic, memory format and threads the steps run with."""
        threads = f"{torch.get_num_threads()} threads" if self.device.type == "cpu" else str(self.device)
        scaler = ", gradient scaler" if self.scaler.is_enabled() else ""
        cudnn = f", cudnn {self.cudnn}" if self.cudnn else ""
        return (f"device {self.device.type}, precision {self.precision.name} ({self.precision.reason}){scaler}, "
                f"memory format {'channels_last' if self.cfg.channels_last else 'contiguous'}, {threads}{cudnn}")

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run's files (rank 0, or the only process)."""
        return self.dist.is_main

    def _settle_precision(self, clips: torch.Tensor) -> None:
        """``auto`` on a CPU with native bf16: time both precisions on the first real batch
        (rank 0 decides for every rank: all ranks must compute the same arithmetic)."""
        if self.precision.reason == "probe":
            if self.is_main:
                self.precision = probe_faster(self.model, clips.to(self.device))
            self.precision = self.dist.broadcast_object(self.precision)

    @property
    def checkpoint_path(self) -> Path:
        return self.checkpoints.latest

    def run_step(self, clips: torch.Tensor, pids: torch.Tensor, indices: torch.Tensor | None = None,
                 classes: torch.Tensor | None = None, camids: torch.Tensor | None = None) -> StepOutput:
        """One optimisation step on a batch of clips (B, T, 3, H, W) with labels (B,).

        ``classes`` (optional, 1-D): the only classes the batch's class-aware terms see (the
        softmax of cross-entropy and CAA over these rows of the classifier), every label among them.
        ``camids`` (optional, B): the clips' cameras, for the camera-alignment term where one is set.

        A non-finite loss or gradient makes no update (``skipped`` says which), with or without the
        fp16 gradient scaler: where it is on, the gradients are unscaled first and the same check
        decides; a skipped step still lets the scaler lower its scale. ``indices`` (B,), the clips'
        tracklet indices, travel to the hooks (the attention record).
        """
        async_copy = non_blocking(self.device)
        clips, pids = clips.to(self.device, non_blocking=async_copy), pids.to(self.device, non_blocking=async_copy)
        if indices is not None and self.dist.enabled:
            indices = indices.to(self.device)
        if self.camera_alignment is None and self.tracklet_memory is None:
            camids = None
        elif camids is not None:
            camids = camids.to(self.device)
        total, parts, extras, indices, per_clip = self.forward_loss(clips, pids, indices, classes, camids)
        result = LossResult(total, parts, extras)
        if indices is not None:
            indices = indices.cpu()
        self.optimizer.zero_grad(set_to_none=True)
        step = StepOutput(self.state.iteration + 1, {"loss": float(result.total.detach()), **result.parts},
                          result.extras, indices, per_clip)
        if not math.isfinite(step.values["loss"]):  # the same value on every rank: all skip together
            step.skipped = "loss"
            if self.dist.enabled:  # DDP expects the backward of each forward: run it, drop its gradients
                result.total.backward()
                self.optimizer.zero_grad(set_to_none=True)
            return step
        self.scaler.scale(result.total).backward()  # scale and unscale_ are no-ops without the scaler
        self.scaler.unscale_(self.optimizer)  # the true gradients, and the scaler notes any inf in them
        params = [p for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, float("inf")) if params else torch.zeros(())
        if not torch.isfinite(norm):  # under DDP the gradients are all-reduced: every rank skips alike
            if self.scaler.is_enabled():
                self.scaler.update()  # the scaler saw the inf: it lowers its scale for the next step
            self.optimizer.zero_grad(set_to_none=True)
            step.skipped = "gradient"
            return step
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return step

    def add_record(self, record: dict) -> None:
        """Append a logged record to the history and rewrite ``train_log.csv`` (rank 0)."""
        self.state.history.append(record)
        if self.is_main:
            write_history_csv(self.output_dir / "train_log.csv", self.state.history)

    def weights_state(self) -> dict[str, Any]:
        """Weights, iteration and the run's config: what ``model.pt`` and ``best.pt`` hold."""
        return {"model": self.model.state_dict(), "iteration": self.state.iteration,
                **{k: v for k, v in self.extra_state.items() if k in ("config", "num_classes")}}

    def save(self) -> Path:
        """Checkpoint the whole run (kept as ``keep_checkpoints`` files, newest ``checkpoint.pt``).

        Rank 0 alone writes; the other ranks' state is the same (weights, optimizer, position)."""
        if not self.is_main:
            return self.checkpoints.latest
        return self.checkpoints.save({
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.state.iteration,
            "sampler": {"batches_drawn": self.state.iteration},
            "history": self.state.history,
            "nonfinite_steps": self.state.nonfinite_steps,
            "nonfinite_losses": self.state.nonfinite_losses,
            "rng": rng_state(),
            "hooks": {h.name: h.state_dict() for h in self.hooks if h.name},
            **({"camera_alignment": self.camera_alignment[1].state_dict()} if self.camera_alignment else {}),
            **self.extra_state,
        }, self.state.iteration)

    def save_weights(self) -> None:
        """``model.pt``: the weights and the run's config only, for sharing and evaluation."""
        if self.is_main:
            save_checkpoint(self.output_dir / "model.pt", self.weights_state())

    def resume(self, path: str | Path, state: dict | None = None) -> None:
        """Continue from a checkpoint of the same run (``state``: the checkpoint, when already loaded).

        Raises:
            CheckpointError: the checkpoint was written for other data (dataset, root, split) or
                another number of identities, e.g. ``resume: auto`` meeting an earlier split's
                checkpoint in a reused output_dir.
        """
        if state is None:
            state = load_checkpoint(path, required=("model", "optimizer", "scheduler", "iteration"))
        missing = [k for k in ("model", "optimizer", "scheduler", "iteration") if k not in state]
        if missing:
            raise CheckpointError(f"checkpoint {path} lacks keys {missing}")
        saved, current = state.get("config", {}).get("data", {}), self.extra_state.get("config", {}).get("data", {})
        differ = [k for k in ("name", "root", "split_id") if k in saved and k in current and saved[k] != current[k]]
        if state.get("num_classes", self.extra_state.get("num_classes")) != self.extra_state.get("num_classes"):
            differ.append("num_classes")
        if differ:
            details = ", ".join(
                f"{k}: {saved.get(k, state.get(k))!r} there, {current.get(k, self.extra_state.get(k))!r} here"
                for k in differ)
            raise CheckpointError(f"checkpoint {path} belongs to another run ({details}); "
                                  "use another output_dir or train.resume=''")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if "rng" in state:
            set_rng_state(state["rng"])
        elif "torch_rng" in state:  # checkpoints written before the other RNGs were saved
            torch.set_rng_state(state["torch_rng"])
        self.state.iteration = int(state["iteration"])
        self.state.history = list(state.get("history", []))
        self.state.nonfinite_steps = int(state.get("nonfinite_steps", 0))
        self.state.nonfinite_losses = int(state.get("nonfinite_losses", 0))
        if self.camera_alignment is not None and "camera_alignment" in state:
            self.camera_alignment[1].load_state_dict(state["camera_alignment"])
        hooks = dict(state.get("hooks", {}))
        if "attention_sum" in state:  # older layout: the attention record at the top level
            hooks.setdefault("attention", {"sum": state["attention_sum"], "count": state["attention_count"]})
        for hook in self.hooks:
            if hook.name and hook.name in hooks:
                hook.load_state_dict(hooks[hook.name])
        if Path(path).resolve() == self.checkpoints.latest.resolve():
            self.checkpoints.latest_iteration = self.state.iteration
        logger.info("resumed from %s at iteration %d", path, self.state.iteration)

    @property
    def sampler_position(self) -> int:
        """Batches the identity sampler has handed out so far (one per iteration)."""
        return self.state.iteration

    def train(self, batches) -> TrainState:
        """Consume ``batches`` until ``cfg.iterations``, calling the hooks around every step."""
        cfg = self.cfg
        self.model.train()
        try:
            for hook in self.hooks:
                hook.before_train()
            tick = time.perf_counter()
            for clips, pids, camids, indices in batches:
                if self.state.iteration >= cfg.iterations:
                    break
                if self.state.steps_timed == 0:
                    self._settle_precision(clips)
                    logger.info(self.describe())
                classes = self.batch_classes(camids) if self.batch_classes is not None else None
                step = self.run_step(clips, pids, indices, classes, camids)
                self.state.iteration += 1
                self.state.step_seconds += time.perf_counter() - tick  # waiting for the batch + the step
                self.state.steps_timed += 1
                for hook in self.hooks:
                    hook.after_step(step)
                tick = time.perf_counter()  # evaluation and checkpoint writes are not step time
            for hook in self.hooks:
                hook.after_train()
        finally:
            for hook in self.hooks:
                hook.close()
        if self.state.iteration < cfg.iterations:
            logger.warning("batches ran out at iteration %d of %d", self.state.iteration, cfg.iterations)
        return self.state

    def degenerate_counters(self) -> dict[str, float]:
        """Each loss term's degenerate-batch counters (e.g. batches without positive pairs)."""
        out: dict[str, float] = {}
        for name, term in getattr(self.criterion, "terms", {}).items():
            for key, count in (getattr(term, "stats", None) or {}).items():
                out[f"{name}/{key}"] = float(count)
        return out
