"""Checkpoint series (keep N, newest readable on resume), best.pt, saved RNGs and the environment record."""

import json
import random

import numpy as np
import pytest
import torch

from reid.config import TrainConfig
from reid.engine.checkpoint import BestCheckpoint, CheckpointSeries, load_checkpoint
from reid.engine.trainer import Trainer, rng_state, set_rng_state
from reid.losses import build_loss
from reid.models import build_model
from tests.test_training import tiny_config


def _trainer(tmp_path, evaluate=None, **cfg):
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=3)
    return Trainer(model, build_loss([{"name": "triplet"}, {"name": "cross_entropy"}]),
                   TrainConfig(log_every=100, tensorboard=False, **cfg), tmp_path, torch.device("cpu"),
                   evaluate=evaluate)


def _batches(n):
    g = torch.Generator().manual_seed(0)
    return [(torch.randn(6, 2, 3, 32, 16, generator=g), torch.tensor([0, 0, 1, 1, 2, 2]), torch.zeros(6),
             torch.arange(6)) for _ in range(n)]


def test_the_last_n_checkpoints_are_kept_newest_as_checkpoint_pt(tmp_path):
    _trainer(tmp_path, iterations=5, checkpoint_every=1, keep_checkpoints=3).train(iter(_batches(5)))
    names = sorted(p.name for p in tmp_path.glob("checkpoint*.pt"))
    assert names == ["checkpoint-00000003.pt", "checkpoint-00000004.pt", "checkpoint.pt"]
    iterations = [load_checkpoint(p, required=("iteration",))["iteration"] for p in CheckpointSeries(tmp_path).candidates()]
    assert iterations == [5, 4, 3]
    assert not list(tmp_path.glob(".*.tmp"))


def test_keep_one_overwrites(tmp_path):
    _trainer(tmp_path, iterations=3, checkpoint_every=1, keep_checkpoints=1).train(iter(_batches(3)))
    assert sorted(p.name for p in tmp_path.glob("checkpoint*.pt")) == ["checkpoint.pt"]


def test_a_checkpoint_holds_every_rng_and_the_sampler_position(tmp_path):
    trainer = _trainer(tmp_path, iterations=2, checkpoint_every=0)
    trainer.train(iter(_batches(2)))
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert set(state["rng"]) >= {"torch", "numpy", "python"}
    assert state["sampler"] == {"batches_drawn": 2}
    assert set(state["hooks"]) == {"attention"}
    # the saved states restore every generator exactly
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    saved = rng_state()
    want = (random.random(), np.random.rand(), torch.rand(()).item())
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    set_rng_state(saved)
    assert (random.random(), np.random.rand(), torch.rand(()).item()) == want


def test_auto_resume_skips_a_corrupt_newest_checkpoint_and_still_ends_bit_identical(tmp_path, caplog):
    from reid.pipeline.training import run_training

    extra = ("train.checkpoint_every=1", "train.keep_checkpoints=3", "train.resume=auto", "train.tensorboard=false")
    model_a, _ = run_training(tiny_config(tmp_path, "straight", "train.iterations=4", *extra))
    run_training(tiny_config(tmp_path, "broken", "train.iterations=3", *extra))
    newest = tmp_path / "broken" / "checkpoint.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # a truncated file (a disk that filled up, a bad copy)
    with caplog.at_level("WARNING"):
        model_b, state_b = run_training(tiny_config(tmp_path, "broken", "train.iterations=4", *extra))
    assert any("checkpoint.pt cannot be read" in r.getMessage() and "skipped" in r.getMessage() for r in caplog.records)
    assert state_b.iteration == 4
    for name, value in model_a.state_dict().items():
        assert torch.equal(value, model_b.state_dict()[name]), name  # resumed from checkpoint-00000002.pt


def test_stale_temporary_files_are_removed_and_a_new_run_clears_old_checkpoints(tmp_path, caplog):
    from reid.pipeline.training import run_training

    run_training(tiny_config(tmp_path, "run", "train.iterations=3", "train.checkpoint_every=1",
                             "train.keep_checkpoints=3"))
    assert len(list((tmp_path / "run").glob("checkpoint*.pt"))) == 3
    (tmp_path / "run" / ".checkpoint.pt.abc.tmp").write_bytes(b"half a checkpoint")
    with caplog.at_level("WARNING"):
        run_training(tiny_config(tmp_path, "run", "train.iterations=1", "train.checkpoint_every=1"))
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint*.pt")) == ["checkpoint.pt"]
    assert not list((tmp_path / "run").glob(".*.tmp"))
    assert any("removed the checkpoints of an earlier run" in r.getMessage() for r in caplog.records)


def test_best_pt_keeps_the_best_evaluation(tmp_path):
    scores = iter([10.0, 30.0, 20.0])
    trainer = _trainer(tmp_path, evaluate=lambda it: {"eval_rank1": 0.0, "eval_mAP": next(scores)},
                       iterations=4, eval_every=1, checkpoint_every=0, best_metric="mAP")
    trainer.train(iter(_batches(4)))  # evaluations at 1, 2, 3 (the last iteration is the final evaluation's)
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best"] == {"metric": "mAP", "value": 30.0, "iteration": 2}
    assert json.loads((tmp_path / "best.json").read_text())["iteration"] == 2
    assert "optimizer" not in best and "config" not in best or "optimizer" not in best
    record = BestCheckpoint(tmp_path, "mAP")
    assert not record.offer(25.0, 4, trainer.weights_state)  # a lower final evaluation leaves it
    assert record.offer(31.0, 4, trainer.weights_state)
    assert load_checkpoint(tmp_path / "best.pt")["best"]["iteration"] == 4
    history = [h for h in trainer.state.history if "eval_mAP" in h]
    assert [h["eval_mAP"] for h in history] == [10.0, 30.0, 20.0]


def test_train_py_writes_best_pt_and_the_environment(tmp_path):
    from reid.cli.train import main

    cfg_args = [f"data.root={tmp_path / 'data'}", f"output_dir={tmp_path / 'run'}", "train.iterations=2",
                "train.eval_every=1", "eval.k1=4", "eval.k2=2"]
    from tests.test_training import TINY

    main(["--quiet", *TINY, *cfg_args])
    run = tmp_path / "run"
    record = json.loads((run / "best.json").read_text())
    assert record["metric"] == "mAP" and record["iteration"] in (1, 2)
    metrics = json.loads((run / "metrics.json").read_text())
    periodic = [h["eval_mAP"] for h in load_checkpoint(run / "checkpoint.pt")["history"] if "eval_mAP" in h]
    assert record["value"] == pytest.approx(max(periodic + [metrics["results"]["plain"]["mAP"]]))
    env = json.loads((run / "environment.json").read_text())
    assert len(env) == 1 and env[0]["packages"]["torch"] == torch.__version__.split("+")[0] or \
        env[0]["packages"]["torch"] == torch.__version__
    assert env[0]["device"] == "cpu" and env[0]["torch_threads"] >= 1
    assert env[0]["cpu_kernels"] == torch.backends.cpu.get_cpu_capability()
    assert "isa_cap" in env[0]
