"""The training loop: one step reads like the algorithm; checkpoints and logging sit around it."""

from __future__ import annotations

import csv
import io
import logging
import math
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm
from torch import nn

from reid.config import TrainConfig, check_choice
from reid.errors import ConfigError, ReIDError
from reid.engine.checkpoint import CheckpointError, atomic_write_bytes, load_checkpoint, save_checkpoint
from reid.engine.precision import Precision, probe_faster, resolve_precision
from reid.models.reid_net import ReIDNet

logger = logging.getLogger(__name__)


class TrainingDiverged(ReIDError, RuntimeError):
    """The loss or its gradient stayed non-finite for ``train.max_nonfinite`` steps in a row."""


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    check_choice(cfg.optimizer, ("adam", "sgd"), "train.optimizer")
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
    check_choice(cfg.schedule, ("step", "cosine"), "train.schedule")
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


@dataclass
class TrainState:
    iteration: int = 0
    history: list[dict] = field(default_factory=list)
    nonfinite_steps: int = 0  # steps skipped for a non-finite loss or gradient (this session)
    nonfinite_in_a_row: int = 0
    step_seconds: float = 0.0  # wall time inside training steps (loading included, evaluation not)
    steps_timed: int = 0  # iterations that step_seconds covers (a resumed run: since the resume)
    # per training tracklet: sum and count of the CAA attention it received in the loss
    attention_sum: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.float64))
    attention_count: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.float64))

    def record_attention(self, indices: torch.Tensor, attention: torch.Tensor) -> None:
        """Add one batch's attention (B,) of the tracklets ``indices`` (B,)."""
        need = int(indices.max()) + 1
        if need > self.attention_sum.numel():
            grow = need - self.attention_sum.numel()
            self.attention_sum = torch.cat([self.attention_sum, torch.zeros(grow, dtype=torch.float64)])
            self.attention_count = torch.cat([self.attention_count, torch.zeros(grow, dtype=torch.float64)])
        self.attention_sum.index_add_(0, indices, attention.double())
        self.attention_count.index_add_(0, indices, torch.ones_like(attention, dtype=torch.float64))


class Trainer:
    """Runs ``cfg.iterations`` steps of identity-balanced batches through model and loss.

    Args:
        model: the ReIDNet (its classifier weight are the class centres).
        criterion: a combined loss, ``criterion(emb, labels, centres, bias) -> (total, parts)``.
        batches: an iterator of ``(clips (B,T,3,H,W), pids, camids, indices)``.
        cfg: the train section of the config.
        output_dir: where ``checkpoint.pt`` and ``train_log.csv`` go.
        device: torch device.
    """

    def __init__(self, model: ReIDNet, criterion: nn.Module, cfg: TrainConfig, output_dir: str | Path,
                 device: torch.device, extra_state: dict | None = None) -> None:
        check_choice(cfg.loss_level, ("clip", "frame"), "train.loss_level")
        if cfg.loss_level == "frame" and any(p.requires_grad for p in model.pool.parameters()):
            raise ConfigError("train.loss_level=frame trains no temporal pooling weights: use model.pooling=avg "
                              "(the paper's setup) or loss_level=clip")
        check_schedule(cfg)
        if cfg.max_nonfinite < 1:
            raise ConfigError(f"config key 'train.max_nonfinite': {cfg.max_nonfinite} must be >= 1")
        self.model, self.criterion, self.cfg, self.device = model, criterion, cfg, device
        self.output_dir = Path(output_dir)
        self.optimizer = build_optimizer(model, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda it: lr_factor(it, cfg))
        self.precision: Precision = resolve_precision(cfg.precision, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.precision.name == "fp16")
        self.state = TrainState()
        self.extra_state = extra_state or {}
        if cfg.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.model.channels_last = True

    def describe(self) -> str:
        """One line: what arithmetic, memory format and threads the steps run with."""
        threads = f"{torch.get_num_threads()} threads" if self.device.type == "cpu" else str(self.device)
        return (f"device {self.device.type}, precision {self.precision.name} ({self.precision.reason}), "
                f"memory format {'channels_last' if self.cfg.channels_last else 'contiguous'}, {threads}")

    def _settle_precision(self, clips: torch.Tensor) -> None:
        """``auto`` on a CPU with native bf16: time both precisions on the first real batch."""
        if self.precision.reason == "probe":
            self.precision = probe_faster(self.model, clips.to(self.device))

    @property
    def checkpoint_path(self) -> Path:
        return self.output_dir / "checkpoint.pt"

    def run_step(self, clips: torch.Tensor, pids: torch.Tensor, indices: torch.Tensor | None = None) -> dict[str, float]:
        """One optimisation step on a batch of clips (B, T, 3, H, W) with labels (B,).

        ``indices`` (B,), the clips' tracklet indices, lets the state record the CAA attention
        each training tracklet receives (``tools/suspects.py`` ranks tracklets by it).
        """
        clips, pids = clips.to(self.device, non_blocking=True), pids.to(self.device)
        with self.precision.autocast(self.device.type):
            out = self.model(clips)
        if self.cfg.loss_level == "frame":  # every frame is a sample (the paper's MARS setup)
            emb = out.frame_embeddings.flatten(0, 1)
            labels = pids.repeat_interleave(out.frame_embeddings.shape[1])
        else:
            emb, labels = out.embedding, pids
        emb = emb.float()
        cls = self.model.neck(emb)  # the classifier's input: emb itself without a BNNeck
        bias = None if self.model.centre_bias is None else self.model.centre_bias.float()
        total, parts = self.criterion(emb, labels, self.model.centres.float(), bias, class_embeddings=cls)
        self.optimizer.zero_grad(set_to_none=True)
        values = {"loss": float(total.detach()), **{k: float(v) for k, v in parts.items()}}
        if not math.isfinite(values["loss"]):
            self._skip(values, "loss")
            return values
        attention = getattr(self.criterion, "last_attention", None)
        if indices is not None and attention is not None:
            self.state.record_attention(indices.cpu(), attention.detach().cpu().view(len(pids), -1).mean(1))
        self.scaler.scale(total).backward()
        if not self.scaler.is_enabled():  # fp16's GradScaler skips steps with inf gradients itself
            params = [p for p in self.model.parameters() if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, float("inf")) if params else torch.zeros(())
            if not torch.isfinite(norm):
                self.optimizer.zero_grad(set_to_none=True)
                self._skip(values, "gradient")
                return values
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.scheduler.step()
        self.state.nonfinite_in_a_row = 0
        return values

    def _skip(self, values: dict[str, float], what: str) -> None:
        """Count a step skipped for a non-finite ``what``; stop after ``max_nonfinite`` in a row."""
        with warnings.catch_warnings():  # the schedule follows the iteration count, step or not
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.scheduler.step()
        self.state.nonfinite_steps += 1
        self.state.nonfinite_in_a_row += 1
        it = self.state.iteration + 1
        logger.warning("iteration %d: non-finite %s (%s): step skipped (%d in a row)", it, what,
                       ", ".join(f"{k} {v:.4g}" for k, v in values.items()), self.state.nonfinite_in_a_row)
        if self.state.nonfinite_in_a_row >= self.cfg.max_nonfinite:
            last = f"the last checkpoint {self.checkpoint_path} is intact" if self.checkpoint_path.is_file() \
                else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"training stopped at iteration {it}: the {what} was non-finite in {self.state.nonfinite_in_a_row} "
                f"steps in a row (last loss parts: {', '.join(f'{k} {v:.4g}' for k, v in values.items())}); "
                f"likely causes: a learning rate too high (train.lr={self.cfg.lr}) or {self.precision.name} "
                f"arithmetic overflowing (try train.precision=fp32); {last}")

    def save(self) -> None:
        save_checkpoint(self.checkpoint_path, {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "iteration": self.state.iteration,
            "history": self.state.history,
            "attention_sum": self.state.attention_sum,
            "attention_count": self.state.attention_count,
            "torch_rng": torch.get_rng_state(),
            **self.extra_state,
        })

    def save_weights(self) -> None:
        """``model.pt``: the weights and the run's config only, for sharing and evaluation."""
        save_checkpoint(self.output_dir / "model.pt", {
            "model": self.model.state_dict(), "iteration": self.state.iteration,
            **{k: v for k, v in self.extra_state.items() if k in ("config", "num_classes")},
        })

    def resume(self, path: str | Path) -> None:
        """Continue from a checkpoint of the same run.

        Raises:
            CheckpointError: the checkpoint was written for other data (dataset, root, split) or
                another number of identities, e.g. ``resume: auto`` meeting an earlier split's
                checkpoint in a reused output_dir.
        """
        state = load_checkpoint(path, required=("model", "optimizer", "scheduler", "iteration"))
        saved, current = state.get("config", {}).get("data", {}), self.extra_state.get("config", {}).get("data", {})
        differ = [k for k in ("name", "root", "split_id") if k in saved and k in current and saved[k] != current[k]]
        if state.get("num_classes", self.extra_state.get("num_classes")) != self.extra_state.get("num_classes"):
            differ.append("num_classes")
        if differ:
            details = ", ".join(f"{k}: {saved.get(k, state.get(k))!r} there, {current.get(k, self.extra_state.get(k))!r} here"
                                for k in differ)
            raise CheckpointError(f"checkpoint {path} belongs to another run ({details}); "
                                  "use another output_dir or train.resume=''")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state:
            self.scaler.load_state_dict(state["scaler"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        self.state = TrainState(iteration=int(state["iteration"]), history=list(state.get("history", [])))
        if "attention_sum" in state:
            self.state.attention_sum, self.state.attention_count = state["attention_sum"], state["attention_count"]
        logger.info("resumed from %s at iteration %d", path, self.state.iteration)

    def train(self, batches, on_eval: Callable[[int], dict] | None = None) -> TrainState:
        """Consume ``batches`` until ``cfg.iterations``; checkpoint and evaluate on schedule."""
        cfg = self.cfg
        self.model.train()
        window: list[dict] = []
        board = self._open_board()
        bar = tqdm(total=cfg.iterations, initial=self.state.iteration, desc="train", unit="it", dynamic_ncols=True,
                   disable=not sys.stderr.isatty(), leave=False)
        tick = time.perf_counter()
        try:
            for clips, pids, _camids, indices in batches:
                if self.state.iteration >= cfg.iterations:
                    break
                if not window and self.state.steps_timed == 0:
                    self._settle_precision(clips)
                    logger.info(self.describe())
                parts = self.run_step(clips, pids, indices)
                self.state.iteration += 1
                it = self.state.iteration
                now = time.perf_counter()
                self.state.step_seconds += now - tick  # waiting for the batch + the step itself
                self.state.steps_timed += 1
                bar.update(1)
                if all(math.isfinite(v) for v in parts.values()):  # a skipped step's NaN stays out of the means
                    window.append(parts)
                if window and (it % cfg.log_every == 0 or it == cfg.iterations):
                    mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
                    rate = self.state.steps_timed / max(self.state.step_seconds, 1e-9)
                    record = {"iteration": it, "lr": self.optimizer.param_groups[0]["lr"], **mean}
                    if self.state.nonfinite_steps:
                        record["skipped_nonfinite"] = self.state.nonfinite_steps
                    self.state.history.append(record)
                    write_history_csv(self.output_dir / "train_log.csv", self.state.history)
                    self._to_board(board, "train", it, {**record, "it_per_s": rate})
                    self._to_board(board, "degenerate", it, self._degenerate_counters())
                    bar.set_postfix(loss=f"{mean['loss']:.4f}")
                    logger.info("it %d/%d  %s  lr %.2e  (%.2f it/s)", it, cfg.iterations,
                                "  ".join(f"{k} {v:.4f}" for k, v in mean.items()), record["lr"], rate)
                    window = []
                if on_eval is not None and cfg.eval_every and it % cfg.eval_every == 0 and it < cfg.iterations:
                    result = on_eval(it)
                    self.state.history.append({"iteration": it, **result})
                    write_history_csv(self.output_dir / "train_log.csv", self.state.history)
                    self._to_board(board, "eval", it, result)
                    self.model.train()
                if cfg.checkpoint_every and it % cfg.checkpoint_every == 0 and not self.state.nonfinite_in_a_row:
                    self.save()
                tick = time.perf_counter()  # evaluation and checkpoint writes are not step time
        finally:
            bar.close()
            if board is not None:
                board.close()
        self.save()
        self.save_weights()
        if self.state.iteration < cfg.iterations:
            logger.warning("batches ran out at iteration %d of %d", self.state.iteration, cfg.iterations)
        return self.state

    def _open_board(self):
        """A TensorBoard writer into ``<output_dir>/tensorboard`` (``train.tensorboard``), or None."""
        if not self.cfg.tensorboard:
            return None
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        return SummaryWriter(log_dir=str(self.output_dir / "tensorboard"), purge_step=self.state.iteration + 1)

    @staticmethod
    def _to_board(board, section: str, step: int, values: dict) -> None:
        if board is None:
            return
        for key, value in values.items():
            if key != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool):
                board.add_scalar(f"{section}/{key}", value, step)
        board.flush()

    def _degenerate_counters(self) -> dict[str, float]:
        """Each loss term's degenerate-batch counters (e.g. batches without positive pairs)."""
        out: dict[str, float] = {}
        for name, term in getattr(self.criterion, "terms", {}).items():
            for key, count in (getattr(term, "stats", None) or {}).items():
                out[f"{name}/{key}"] = float(count)
        return out
