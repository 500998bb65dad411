"""Trainer behaviour: it learns, it resumes exactly, and a whole run reproduces from its checkpoint."""

import json

import numpy as np
import pytest
import torch

from reid.config import TrainConfig, load_config
from reid.engine.checkpoint import load_checkpoint
from reid.engine.trainer import Trainer, lr_factor
from reid.losses import LossResult, build_loss
from reid.models import build_model

TINY = [
    "data.height=64", "data.width=32", "data.seq_len=2", "data.test_seq_len=4", "data.test_max_frames=8",
    "data.num_identities=3", "data.num_instances=2", "data.workers=0", "data.pad_crop=2",
    "synthetic.preset=tiny", "model.backbone=resnet18", "model.init=random", "model.embed_dim=32",
    "train.log_every=2", "train.checkpoint_every=0", "eval.batch_size=16",
]


def tiny_config(tmp_path, out, *extra):
    return load_config(None, [*TINY, f"data.root={tmp_path / 'data'}", f"output_dir={tmp_path / out}", *extra])


def test_lr_schedule():
    cfg = TrainConfig(iterations=100, warmup=0.1, lr_steps=[0.2, 0.3], lr_gamma=0.5)
    assert lr_factor(0, cfg) == pytest.approx(0.1)
    assert lr_factor(9, cfg) == 1.0
    assert lr_factor(19, cfg) == 1.0
    assert lr_factor(20, cfg) == 0.5
    assert lr_factor(35, cfg) == 0.25


def test_schedule_scales_with_the_run():
    """The same fractions give the same shape at any length: iterations=N alone is coherent."""
    for n in (50, 510, 30000):
        cfg = TrainConfig(iterations=n, warmup=0.1, lr_steps=[0.5], lr_gamma=0.1)
        assert lr_factor(n // 10 - 1, cfg) == 1.0 and lr_factor(n // 10 - 2, cfg) < 1.0
        assert lr_factor(n // 2 - 1, cfg) == 1.0 and lr_factor(n // 2, cfg) == pytest.approx(0.1)


def test_cosine_schedule_against_the_formula():
    import math

    cfg = TrainConfig(iterations=101, warmup=0.0, schedule="cosine", min_lr_factor=0.01)
    assert lr_factor(0, cfg) == pytest.approx(1.0)
    assert lr_factor(50, cfg) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(100, cfg) == pytest.approx(0.01)
    for it in range(101):
        assert lr_factor(it, cfg) == pytest.approx(0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * it / 100)))
    warm = TrainConfig(iterations=110, warmup=0.1, schedule="cosine")
    assert lr_factor(4, warm) == pytest.approx(5 / 11)
    assert lr_factor(11, warm) == pytest.approx(1.0) and lr_factor(109, warm) == pytest.approx(0.0)


@pytest.mark.parametrize("key, value, match", [
    ("lr_steps", [12000.0], r"train\.lr_steps.*fraction"), ("warmup", 1000.0, r"train\.warmup.*fraction"),
    ("schedule", "linear", r"train\.schedule"), ("min_lr_factor", 2.0, r"train\.min_lr_factor"),
    ("precision", "fp8", r"train\.precision"),
])
def test_bad_schedule_and_precision_values(tmp_path, key, value, match):
    from reid.errors import ConfigError

    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=2)
    with pytest.raises(ConfigError, match=match):
        Trainer(model, build_loss([{"name": "cross_entropy"}]), TrainConfig(**{key: value}), tmp_path,
                torch.device("cpu"))


@pytest.mark.parametrize("level", ["clip", "frame"])
def test_overfits_a_fixed_batch(tmp_path, level):
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=32, num_classes=3)
    criterion = build_loss([{"name": "osm_caa"}, {"name": "cross_entropy"}])
    trainer = Trainer(model, criterion, TrainConfig(lr=1e-3, loss_level=level), tmp_path, torch.device("cpu"))
    clips = torch.randn(6, 2, 3, 32, 16)
    pids = torch.tensor([0, 0, 1, 1, 2, 2])
    losses = [trainer.run_step(clips, pids).values["loss"] for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_resume_continues_exactly(tmp_path):
    from reid.pipeline.training import run_training

    straight = tiny_config(tmp_path, "straight", "train.iterations=6")
    model_a, state_a = run_training(straight)
    first = tiny_config(tmp_path, "resumed", "train.iterations=3")
    run_training(first)
    second = tiny_config(tmp_path, "resumed", "train.iterations=6", "train.resume=auto")
    model_b, state_b = run_training(second)
    assert state_b.iteration == 6
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    # loss records whose logging windows coincide (iterations 1-2 and 5-6) are equal
    a = {h["iteration"]: h["loss"] for h in state_a.history}
    b = {h["iteration"]: h["loss"] for h in state_b.history}
    assert [a[2], a[6]] == pytest.approx([b[2], b[6]], rel=1e-5)


@pytest.mark.slow
def test_demo_end_to_end_and_checkpoint_reproduces_metrics(tmp_path):
    from reid.pipeline.demo import run_demo
    from reid.pipeline.testing import run_test

    cfg = tiny_config(tmp_path, "demo", "train.iterations=12", "eval.k1=6", "eval.k2=3")
    out = run_demo(cfg)
    metrics = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert set(metrics["results"]) == {"untrained", "trained", "trained + re-ranking"}
    for m in metrics["results"].values():
        assert 0 <= m["rank1"] <= m["rank5"] <= m["rank10"] <= 100
        assert 0 <= m["mAP"] <= 100
    assert (tmp_path / "demo" / "cmc.png").read_bytes()[:4] == b"\x89PNG"
    assert "rank-1" in (tmp_path / "demo" / "report.md").read_text()
    page = (tmp_path / "demo" / "report.html").read_text()
    for heading in ("Metrics", "Curves", "Ranked lists (plain)", "Embedding map", "CAA attention"):
        assert f">{heading}<" in page, heading
    assert "src='data:image/" in page and "src='ranked" not in page  # self-contained
    strips = sorted((tmp_path / "demo" / "ranked").glob("plain_q*.jpg"))
    from reid.pipeline.builders import load_data

    scored = len(load_data(cfg).query) - metrics["results"]["trained"]["num_skipped_queries"]
    assert len(strips) == min(cfg.eval.visualise + cfg.eval.visualise_random, scored)
    for name in ("training.png", "tsne.png", "attention.png"):
        assert (tmp_path / "demo" / name).read_bytes()[:4] == b"\x89PNG", name
    state = load_checkpoint(tmp_path / "demo" / "checkpoint.pt", required=("model", "iteration"))
    assert state["iteration"] == 12
    # evaluating the saved checkpoint from scratch gives the demo's numbers exactly
    test_cfg = tiny_config(tmp_path, "test", "eval.k1=6", "eval.k2=3")
    again = run_test(test_cfg, tmp_path / "demo" / "checkpoint.pt")
    assert again["plain"]["cmc"] == pytest.approx(out["results"]["trained"]["cmc"], abs=1e-9)
    assert again["re-ranked"]["mAP"] == pytest.approx(out["results"]["trained + re-ranking"]["mAP"], abs=1e-6)


@pytest.mark.parametrize("level, samples", [("clip", 4), ("frame", 12)])
def test_loss_level_decides_what_a_sample_is(tmp_path, level, samples):
    seen = {}

    class Recorder(torch.nn.Module):
        def forward(self, emb, labels, centres, bias=None, class_embeddings=None):
            seen["emb"], seen["labels"] = emb.detach(), labels
            return LossResult(emb.pow(2).mean(), {})

    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=2)
    trainer = Trainer(model, Recorder(), TrainConfig(loss_level=level), tmp_path, torch.device("cpu"))
    trainer.run_step(torch.randn(4, 3, 3, 32, 16), torch.tensor([0, 0, 1, 1]))
    assert seen["emb"].shape == (samples, 8)
    expected = [0, 0, 1, 1] if level == "clip" else [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert seen["labels"].tolist() == expected


def test_resume_refuses_another_runs_checkpoint(tmp_path):
    from reid.engine.checkpoint import CheckpointError

    def trainer_for(split):
        torch.manual_seed(0)
        model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                               embed_dim=8, num_classes=3)
        extra = {"config": {"data": {"name": "ilidsvid", "root": "/d", "split_id": split}}, "num_classes": 3}
        return Trainer(model, build_loss([{"name": "cross_entropy"}]), TrainConfig(), tmp_path,
                       torch.device("cpu"), extra_state=extra)

    trainer_for(0).save()
    trainer_for(0).resume(tmp_path / "checkpoint.pt")  # same run: fine
    with pytest.raises(CheckpointError, match=r"split_id: 0 there, 3 here"):
        trainer_for(3).resume(tmp_path / "checkpoint.pt")


def test_frame_level_with_attention_pooling_is_rejected(tmp_path):
    from reid.errors import ConfigError

    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="attention",
                           embed_dim=8, num_classes=3)
    with pytest.raises(ConfigError, match="loss_level=frame"):
        Trainer(model, build_loss([{"name": "cross_entropy"}]), TrainConfig(loss_level="frame"), tmp_path,
                torch.device("cpu"))


def test_resume_refuses_a_changed_config_and_says_which_keys(tmp_path):
    from reid.errors import ConfigError
    from reid.pipeline.training import config_changes, run_training

    run_training(tiny_config(tmp_path, "run", "train.iterations=2"))
    changed = tiny_config(tmp_path, "run", "train.iterations=4", "train.resume=auto", "train.lr=0.01",
                          "data.seq_len=3")
    written = (tmp_path / "run" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match=r"another config \(data\.seq_len: 2 -> 3; train\.lr: 0\.00035 -> 0\.01\)"):
        run_training(changed)
    assert (tmp_path / "run" / "config.yaml").read_text() == written  # nothing rewritten
    # the budget, logging and evaluation may change on resume
    assert config_changes({"train": {"iterations": 2, "lr": 1.0}, "eval": {"k1": 3}},
                          {"train": {"iterations": 9, "lr": 1.0}, "eval": {"k1": 5}}) == []
    # ``auto`` is compared by what it resolves to: 0 with labels, 0.2 / 0.3 without
    assert config_changes({"data": {"color_jitter": 0.0}}, {"data": {"color_jitter": "auto"}}) == []
    assert config_changes({"data": {"color_jitter": 0.0, "labels": "ignore"}},
                          {"data": {"color_jitter": "auto", "labels": "ignore"}}) == [
        "data.color_jitter: 0.0 -> 0.2"]


def test_resuming_a_finished_run_warns(tmp_path, caplog):
    from reid.pipeline.training import run_training

    run_training(tiny_config(tmp_path, "done", "train.iterations=2"))
    with caplog.at_level("WARNING"):
        _, state = run_training(tiny_config(tmp_path, "done", "train.iterations=2", "train.resume=auto"))
    assert state.iteration == 2
    assert any("nothing left to train" in r.getMessage() for r in caplog.records)


class _NaNAt(torch.nn.Module):
    """Wraps a combined loss; returns NaN at the given calls (0-based)."""

    def __init__(self, inner, bad):
        super().__init__()
        self.inner, self.bad, self.calls = inner, set(bad), 0

    def forward(self, *args, **kwargs):
        result = self.inner(*args, **kwargs)
        call, self.calls = self.calls, self.calls + 1
        if call in self.bad:
            result.total = result.total * float("nan")
        return result


def _nan_trainer(tmp_path, bad, **cfg):
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=3)
    crit = _NaNAt(build_loss([{"name": "triplet"}, {"name": "cross_entropy"}]), bad)
    return Trainer(model, crit, TrainConfig(iterations=8, log_every=4, checkpoint_every=2, **cfg), tmp_path,
                   torch.device("cpu"))


def _batches(n):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(6, 2, 3, 32, 16, generator=g), torch.tensor([0, 0, 1, 1, 2, 2]), torch.zeros(6), torch.arange(6))
            for _ in range(n)]


def test_a_non_finite_loss_skips_the_step_and_is_counted(tmp_path):
    trainer = _nan_trainer(tmp_path, bad={2, 5})
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    state = trainer.train(iter(_batches(8)))
    assert state.iteration == 8 and state.nonfinite_steps == 2
    assert all(np.isfinite(h["loss"]) for h in state.history)
    assert state.history[-1]["skipped_nonfinite"] == 2
    assert any(not torch.equal(before[k], v) for k, v in trainer.model.state_dict().items())


def test_a_step_whose_loss_is_nan_leaves_the_weights_alone(tmp_path):
    trainer = _nan_trainer(tmp_path, bad={0})
    before = {k: v.clone() for k, v in trainer.model.state_dict().items() if "running" not in k and "tracked" not in k}
    clips, pids, _, _ = _batches(1)[0]
    trainer.run_step(clips, pids)
    after = trainer.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_too_many_non_finite_steps_in_a_row_stop_with_one_clear_line(tmp_path):
    from reid.engine.trainer import TrainingDiverged

    trainer = _nan_trainer(tmp_path, bad={4, 5, 6}, max_nonfinite=3)
    with pytest.raises(TrainingDiverged) as info:
        trainer.train(iter(_batches(8)))
    message = str(info.value)
    assert "\n" not in message
    assert "iteration 7" in message and "3 steps in a row" in message and "train.lr=" in message
    assert f"{tmp_path / 'checkpoint.pt'} is intact" in message
    assert load_checkpoint(tmp_path / "checkpoint.pt", required=("iteration",))["iteration"] == 4


@pytest.mark.parametrize("workers", [0, 2])
def test_periodic_evaluation_does_not_change_the_trained_model(tmp_path, workers):
    from reid.pipeline.training import run_training

    common = ["train.iterations=10", f"data.workers={workers}", "eval.k1=4", "eval.k2=2"]
    model_a, _ = run_training(tiny_config(tmp_path, "plain", *common))
    model_b, state_b = run_training(tiny_config(tmp_path, "evaluated", *common, "train.eval_every=3"))
    assert any("eval_rank1" in h for h in state_b.history)
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
