"""What happens around a training step, as hooks (detectron2's ``HookBase`` is the model).

``Trainer.run_step`` is the algorithm (data, forward, loss, backward, step). Everything else is a
hook that the trainer calls in order: ``before_train`` once, ``after_step`` after every step,
``after_train`` once when the budget is reached, ``close`` always (also after an error). A hook
with a ``name`` saves its state in checkpoints under ``hooks/<name>`` and gets it back on resume.
"""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from reid.data.identity_sampler import centre_similarity
from reid.errors import ReIDError

if TYPE_CHECKING:  # type hints only: hooks never import the trainer module
    from reid.engine.trainer import Trainer

logger = logging.getLogger(__name__)


class TrainingDiverged(ReIDError, RuntimeError):
    """The loss or its gradient stayed non-finite for ``train.max_nonfinite`` steps in a row."""


@dataclass
class StepOutput:
    """One training step as the hooks see it.

    Attributes:
        iteration: 1-based number of the step just taken.
        values: ``{"loss": total, <term>: value}`` floats (NaN/inf when the step was skipped).
        extras: the loss terms' detached side products (``LossResult.extras``).
        indices: ``(B,)`` training-tracklet indices of the batch, or None.
        samples_per_clip: loss samples per clip (T at frame level, 1 at clip level).
        skipped: ``"loss"`` or ``"gradient"`` when that was non-finite and no update was made.
    """

    iteration: int
    values: dict[str, float]
    extras: dict[str, torch.Tensor] = field(default_factory=dict)
    indices: torch.Tensor | None = None
    samples_per_clip: int = 1
    skipped: str | None = None


class HookBase:
    name = ""  # key of the hook's state in a checkpoint; "" = the hook has no state
    trainer: Trainer

    def before_train(self) -> None: ...

    def after_step(self, step: StepOutput) -> None: ...

    def after_train(self) -> None: ...

    def close(self) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class LRSchedule(HookBase):
    """Steps the trainer's lr scheduler once per iteration, whether the step was taken or skipped."""

    def after_step(self, step: StepOutput) -> None:
        with warnings.catch_warnings():  # a skipped step calls the scheduler without an optimizer step
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)` before")
            self.trainer.scheduler.step()


class NonFiniteGuard(HookBase):
    """Counts skipped steps; ``max_in_a_row`` in a row stop the run with ``TrainingDiverged``.

    Under fp16's gradient scaler, a gradient that overflows while the scale is still above 1 is the
    scaler calibrating (it halves the scale at each such step; the first steps of a run often
    overflow at the initial 65536): the step is counted like any other skip, but it neither
    continues nor breaks a streak. Once the scale is below 1 the gradients overflow unscaled, and
    the skips count towards the stop again.
    """

    def __init__(self, max_in_a_row: int) -> None:
        self.max_in_a_row = max_in_a_row

    def after_step(self, step: StepOutput) -> None:
        state, scaler = self.trainer.state, self.trainer.scaler
        if step.skipped is None:
            state.nonfinite_in_a_row = 0
            return
        state.nonfinite_steps += 1
        state.nonfinite_losses += step.skipped == "loss"
        parts = ", ".join(f"{k} {v:.4g}" for k, v in step.values.items())
        if step.skipped == "gradient" and scaler.is_enabled():  # the scaler has just lowered its scale
            scale = scaler.get_scale()
            parts += f"; fp16 gradient scale now {scale:g}"
            if scale >= 1.0:
                logger.info("iteration %d: fp16 gradient overflow (%s): step skipped, the gradient scaler "
                            "calibrating", step.iteration, parts)
                return
        state.nonfinite_in_a_row += 1
        logger.warning("iteration %d: non-finite %s (%s): step skipped (%d in a row)", step.iteration,
                       step.skipped, parts, state.nonfinite_in_a_row)
        if state.nonfinite_in_a_row >= self.max_in_a_row:
            t = self.trainer
            last = f"the last checkpoint {t.checkpoints.latest} is intact" if t.checkpoints.candidates() \
                else "no checkpoint was written yet"
            raise TrainingDiverged(
                f"training stopped at iteration {step.iteration}: the {step.skipped} was non-finite in "
                f"{state.nonfinite_in_a_row} steps in a row (last loss parts: {parts}); likely causes: a "
                f"learning rate too high (train.lr={t.cfg.lr}) or {t.precision.name} arithmetic overflowing "
                f"(try train.precision=fp32); {last}")


class AttentionRecord(HookBase):
    """Owns the per-tracklet sum and count of the CAA attention the loss gave (for suspects)."""

    name = "attention"

    def __init__(self) -> None:
        self.sum = torch.zeros(0, dtype=torch.float64)
        self.count = torch.zeros(0, dtype=torch.float64)

    def after_step(self, step: StepOutput) -> None:
        attention = step.extras.get("attention")
        if step.skipped is None and attention is not None and step.indices is not None:
            self.add(step.indices.cpu(), attention.detach().cpu().view(len(step.indices), -1).mean(1))

    def add(self, indices: torch.Tensor, attention: torch.Tensor) -> None:
        """Add one batch's attention (B,) of the tracklets ``indices`` (B,)."""
        need = int(indices.max()) + 1
        if need > self.sum.numel():
            grow = torch.zeros(need - self.sum.numel(), dtype=torch.float64)
            self.sum, self.count = torch.cat([self.sum, grow]), torch.cat([self.count, grow.clone()])
        self.sum.index_add_(0, indices, attention.double())
        self.count.index_add_(0, indices, torch.ones_like(attention, dtype=torch.float64))

    def state_dict(self) -> dict[str, Any]:
        return {"sum": self.sum, "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.sum, self.count = state["sum"].double(), state["count"].double()


class IdentityMining(HookBase):
    """The identity similarity that soft identity mining draws batches by (``data.identity_mining``).

    After the first step of epoch ``e`` it takes the cosine similarity of the classifier's class
    centres (the model's ``centres``: one row per identity) and hands it to the sampler for epoch
    ``e + 1``: the sampler draws an epoch's batches shortly before training reaches them, so the
    similarity is always one epoch old and never depends on how far the loader has run ahead. The
    similarities not yet used are saved in checkpoints, so a resumed run draws the same batches.
    """

    name = "identity_mining"

    def __init__(self) -> None:
        self.similarity: dict[int, torch.Tensor] = {}  # shared with the sampler (``attach``)
        self.epoch_length = 0

    def attach(self, epoch_length: int) -> dict[int, torch.Tensor]:
        """Set the sampler's epoch length; returns the dict the sampler reads."""
        if epoch_length < 1:
            raise ValueError(f"epoch length {epoch_length}")
        self.epoch_length = epoch_length
        return self.similarity

    def after_step(self, step: StepOutput) -> None:
        if not self.epoch_length:
            return
        batch = step.iteration - 1  # the batch this step consumed
        if batch % self.epoch_length == 0:
            epoch = batch // self.epoch_length
            self.similarity[epoch + 1] = centre_similarity(self.trainer.model.centres)
            for old in [e for e in self.similarity if e < epoch]:
                del self.similarity[old]

    def state_dict(self) -> dict[str, Any]:
        return {"similarity": dict(self.similarity)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.similarity.clear()
        self.similarity.update({int(e): s.float() for e, s in state["similarity"].items()})


class Board:
    """TensorBoard scalars under ``<output_dir>/tensorboard`` (``train.tensorboard``), or nothing."""

    def __init__(self, trainer: Trainer) -> None:
        self.writer = None
        if trainer.cfg.tensorboard and trainer.is_main:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self.writer = SummaryWriter(log_dir=str(trainer.output_dir / "tensorboard"),
                                        purge_step=trainer.state.iteration + 1)

    def add(self, section: str, step: int, values: dict) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if key != "iteration" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(f"{section}/{key}", value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class PeriodicLog(HookBase):
    """Every ``every`` steps: the mean of each loss part into the log, ``train_log.csv`` and TensorBoard.

    Also the progress bar (shown on a terminal only) and the first line naming the arithmetic.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self.window: list[dict[str, float]] = []

    def before_train(self) -> None:
        t = self.trainer
        t.board = Board(t)
        self.bar = tqdm(total=t.cfg.iterations, initial=t.state.iteration, desc="train", unit="it",
                        dynamic_ncols=True, disable=not (sys.stderr.isatty() and t.is_main), leave=False)

    def after_step(self, step: StepOutput) -> None:
        t = self.trainer
        self.bar.update(1)
        if step.skipped is None:  # a skipped step's NaN stays out of the means
            self.window.append(step.values)
        it = step.iteration
        if not self.window or not (it % self.every == 0 or it == t.cfg.iterations):
            return
        mean = {k: float(np.mean([w[k] for w in self.window])) for k in self.window[0]}
        rate = t.state.steps_timed / max(t.state.step_seconds, 1e-9)
        record = {"iteration": it, "lr": t.optimizer.param_groups[0]["lr"], **mean}
        if t.state.nonfinite_steps:
            record["skipped_nonfinite"] = t.state.nonfinite_steps
        if t.scaler.is_enabled():
            record["grad_scale"] = t.scaler.get_scale()
        t.add_record(record)
        t.board.add("train", it, {**record, "it_per_s": rate})
        t.board.add("degenerate", it, t.degenerate_counters())
        self.bar.set_postfix(loss=f"{mean['loss']:.4f}")
        logger.info("it %d/%d  %s  lr %.2e  (%.2f it/s)", it, t.cfg.iterations,
                    "  ".join(f"{k} {v:.4f}" for k, v in mean.items()), record["lr"], rate)
        self.window = []

    def close(self) -> None:
        self.bar.close()
        board = getattr(self.trainer, "board", None)
        if board is not None:
            board.close()


class PeriodicEval(HookBase):
    """Every ``every`` steps before the last: ``evaluate(iteration) -> {"eval_rank1", "eval_mAP"}``.

    The result goes into the history, the CSV and TensorBoard; ``best`` (a ``BestCheckpoint``)
    keeps the weights of the best evaluation by its metric. The evaluation leaves every RNG the
    training uses as it found it.
    """

    def __init__(self, every: int, evaluate: Callable[[int], dict], best=None) -> None:
        self.every, self.evaluate, self.best = every, evaluate, best

    def after_step(self, step: StepOutput) -> None:
        t = self.trainer
        it = step.iteration
        if not self.every or it % self.every or it >= t.cfg.iterations:
            return
        # the evaluation's DataLoader draws its worker seed from the global RNG: fork it, so that
        # a run with periodic evaluation trains exactly the model of a run without
        with torch.random.fork_rng(devices=[]):
            result = self.evaluate(it)
        t.add_record({"iteration": it, **result})
        t.board.add("eval", it, result)
        if self.best is not None and t.is_main:
            self.best.offer(float(result[f"eval_{self.best.metric}"]), it, t.weights_state)
        t.model.train()


class PeriodicCheckpoint(HookBase):
    """Checkpoint every ``every`` steps (never during a non-finite streak) and at the end, with ``model.pt``."""

    def __init__(self, every: int) -> None:
        self.every = every

    def after_step(self, step: StepOutput) -> None:
        t = self.trainer
        if self.every and step.iteration % self.every == 0 and not t.state.nonfinite_in_a_row:
            t.save()

    def after_train(self) -> None:
        self.trainer.save()
        self.trainer.save_weights()
