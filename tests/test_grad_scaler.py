"""fp16 with its gradient scaler, run on a CPU (train.precision=fp16): the CUDA mixed-precision path.

Skipped steps are counted with the scaler as without it, the scaler's calibration does not stop a
run, and its state (scale, growth tracker) is checkpointed and resumed bit-identically. A tiny
convolutional backbone keeps the emulated fp16 arithmetic fast.
"""

import csv
import logging

import pytest
import torch
from torch import nn

from reid.config import TrainConfig
from reid.engine.checkpoint import load_checkpoint
from reid.engine.hooks import HookBase
from reid.engine.trainer import Trainer, TrainingDiverged
from reid.losses import build_loss
from reid.models import ReIDNet
from tests.test_training import tiny_config

CPU = torch.device("cpu")


def tiny_net(num_classes: int = 3, seed: int = 0) -> ReIDNet:
    torch.manual_seed(seed)
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.BatchNorm2d(8), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return ReIDNet(backbone, 8, embed_dim=8, num_classes=num_classes, pooling="avg", classifier_bias=False)


class _Poison(nn.Module):
    """Wraps a combined loss; at the given calls (0-based) makes the loss NaN ("loss") or leaves it
    finite and makes the gradient of the embeddings inf ("gradient")."""

    def __init__(self, inner, bad: dict[int, str]):
        super().__init__()
        self.inner, self.bad, self.calls = inner, bad, 0
        self.terms = inner.terms  # the trainer and the pipeline read each term's counters

    def forward(self, emb, *args, **kwargs):
        kind = self.bad.get(self.calls)
        self.calls += 1
        if kind == "gradient":
            emb.register_hook(lambda g: g * float("inf"))
        result = self.inner(emb, *args, **kwargs)
        if kind == "loss":
            result.total = result.total * float("nan")
        return result


def _trainer(tmp_path, bad, precision="fp16", **cfg) -> Trainer:
    crit = _Poison(build_loss([{"name": "triplet"}, {"name": "cross_entropy"}]), bad)
    settings = {"iterations": 8, "log_every": 4, "checkpoint_every": 0, "precision": precision, **cfg}
    return Trainer(tiny_net(), crit, TrainConfig(**settings), tmp_path, CPU)


def _batches(n):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(6, 2, 3, 16, 8, generator=g), torch.tensor([0, 0, 1, 1, 2, 2]), torch.zeros(6),
             torch.arange(6)) for _ in range(n)]


class _Record(HookBase):
    """After every step: whether it was skipped, the scaler's scale, and the weights (BN statistics aside)."""

    def __init__(self):
        self.skipped, self.scales, self.weights = [], [], []

    def before_train(self):
        self.weights.append(self._weights())

    def after_step(self, step):
        self.skipped.append(step.skipped)
        self.scales.append(self.trainer.scaler.get_scale() if self.trainer.scaler.is_enabled() else None)
        self.weights.append(self._weights())

    def _weights(self):
        return {k: v.clone() for k, v in self.trainer.model.state_dict().items()
                if "running" not in k and "tracked" not in k}


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_an_inf_gradient_skips_the_step_and_is_counted_with_or_without_the_scaler(tmp_path, precision):
    trainer = _trainer(tmp_path, {2: "gradient", 5: "loss"}, precision=precision)
    assert trainer.scaler.is_enabled() == (precision == "fp16")
    record = _Record()
    trainer.register([record])
    state = trainer.train(iter(_batches(8)))
    skipped = {i: kind for i, kind in enumerate(record.skipped) if kind}
    assert skipped[2] == "gradient" and skipped[5] == "loss"
    natural = set(skipped) - {2, 5}  # fp16 overflows at the start, which the scaler calibrates away
    assert precision == "fp16" or not natural
    for i in skipped:  # no update at all
        assert all(torch.equal(v, record.weights[i + 1][k]) for k, v in record.weights[i].items()), i
    assert any(not torch.equal(v, record.weights[-1][k]) for k, v in record.weights[0].items())
    assert state.nonfinite_steps == len(skipped) and state.nonfinite_losses == 1  # the NaN loss of step 5
    if precision == "fp16":
        assert record.scales[2] == record.scales[1] / 2  # the scaler saw the inf and backed off
        assert record.scales[5] == record.scales[4]  # a NaN loss never reaches the scaler
    rows = list(csv.DictReader((tmp_path / "train_log.csv").open()))
    assert int(rows[-1]["skipped_nonfinite"]) == len(skipped)
    assert ("grad_scale" in rows[-1]) == (precision == "fp16")


def test_the_scalers_calibration_does_not_stop_a_run_but_unscaled_overflow_does(tmp_path, caplog):
    trainer = _trainer(tmp_path, {i: "gradient" for i in range(40)}, max_nonfinite=3, iterations=40)
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=4.0)  # to 2, 1: calibrating; 0.5, 0.25, 0.125: count
    with caplog.at_level(logging.INFO, logger="reid.engine.hooks"), pytest.raises(TrainingDiverged) as info:
        trainer.train(iter(_batches(40)))
    assert "iteration 5" in str(info.value) and "3 steps in a row" in str(info.value)
    assert "fp16 gradient scale now 0.125" in str(info.value)
    assert trainer.state.nonfinite_steps == 5 and trainer.state.nonfinite_losses == 0
    assert sum("gradient scaler calibrating" in r.getMessage() for r in caplog.records) == 2


def test_fp16_resume_continues_bit_identically_with_the_scalers_state(tmp_path, monkeypatch):
    from reid.pipeline import training
    from reid.pipeline.builders import load_data

    poison = {"first_step": True}  # an inf gradient at iteration 1 of a run that starts from scratch
    real_build_loss = training.build_loss
    monkeypatch.setattr(training, "build_loss", lambda terms: _Poison(
        real_build_loss(terms), {0: "gradient"} if poison["first_step"] else {}))
    common = ["train.precision=fp16", "train.log_every=1"]
    data = load_data(tiny_config(tmp_path, "straight"))

    def run(out, *extra):
        return training.run_training(tiny_config(tmp_path, out, *common, *extra), data,
                                     tiny_net(data.num_train_pids))

    def scaler(out):
        return load_checkpoint(tmp_path / out / "checkpoint.pt", required=("scaler",))["scaler"]

    model_a, state_a = run("straight", "train.iterations=4")
    run("resumed", "train.iterations=2")
    half = scaler("resumed")
    assert half["scale"] <= 32768.0 and half["_growth_tracker"] <= 1  # not a fresh scaler's 65536, 0
    poison["first_step"] = False
    model_b, state_b = run("resumed", "train.iterations=4", "train.resume=auto")
    assert state_b.iteration == 4 and state_a.nonfinite_steps == state_b.nonfinite_steps >= 1
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        assert torch.equal(a, b), name
    assert scaler("straight") == scaler("resumed")  # scale and growth tracker continued, not restarted
    for key in ("loss", "grad_scale", "skipped_nonfinite"):
        assert [h.get(key) for h in state_a.history] == [h.get(key) for h in state_b.history], key
