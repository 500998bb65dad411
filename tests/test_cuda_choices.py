"""Every decision a CUDA device changes, checked on a CPU (no test here needs a GPU).

No CUDA code path of this project has run on a GPU yet: these tests cover the logic of each CUDA
branch (pinned memory, async copies, cuDNN flags, NCCL, SyncBatchNorm, fp16 with a scaler, DDP
device ids, CUDA RNG state, the device record), with ``torch.cuda`` stubbed where a branch asks it.
"""

import pytest
import torch
import torch.distributed as dist
from torch import nn

from reid.config import TrainConfig
from reid.engine import cuda_choices, distributed, environment
from reid.engine.distributed import DistContext, GlobalBatchNorm, choose_backend, convert_global_bn
from reid.engine.precision import resolve_precision
from reid.engine.trainer import Trainer, rng_state, set_rng_state
from reid.errors import ConfigError
from reid.losses import build_loss
from tests.test_grad_scaler import tiny_net

CPU, CUDA, CUDA1 = torch.device("cpu"), torch.device("cuda"), torch.device("cuda", 1)


def test_pinned_memory_and_async_copies_for_cuda_only():
    for device in (CUDA, CUDA1, "cuda:0"):
        assert cuda_choices.pin_memory(device) and cuda_choices.non_blocking(device)
    for device in (CPU, "cpu"):
        assert not cuda_choices.pin_memory(device) and not cuda_choices.non_blocking(device)


def test_cudnn_autotunes_on_cuda_and_is_left_alone_on_a_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    assert cuda_choices.apply_cudnn_settings(CPU) is None
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == (False, True)
    assert cuda_choices.apply_cudnn_settings(CUDA1) == {"benchmark": True, "deterministic": False}
    assert (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic) == (True, False)


def test_the_trainer_sets_cudnn_for_its_device(monkeypatch, tmp_path):
    applied = []
    monkeypatch.setattr("reid.engine.trainer.apply_cudnn_settings", lambda d: applied.append(d) or None)
    Trainer(tiny_net(), build_loss([{"name": "cross_entropy"}]), TrainConfig(precision="fp32"), tmp_path, CPU)
    assert applied == [CPU]


def test_ddp_device_ids_name_the_process_gpu():
    assert cuda_choices.ddp_device_ids(CPU) is None
    assert cuda_choices.ddp_device_ids(CUDA1) == [1]


def test_extraction_autocast_is_fp16_on_cuda_and_off_on_a_cpu():
    assert cuda_choices.extraction_autocast(CUDA, amp=True) == (torch.float16, True)
    assert cuda_choices.extraction_autocast(CUDA, amp=False)[1] is False
    assert cuda_choices.extraction_autocast(CPU, amp=True)[1] is False


def test_auto_backend_is_nccl_for_gpu_processes_and_gloo_otherwise():
    assert choose_backend("auto", "auto", cuda_available=True) == "nccl"
    assert choose_backend("auto", "cuda", cuda_available=True) == "nccl"
    assert choose_backend("auto", "cuda:1", cuda_available=True) == "nccl"
    assert choose_backend("auto", "cpu", cuda_available=True) == "gloo"
    assert choose_backend("auto", "auto", cuda_available=False) == "gloo"
    assert choose_backend("gloo", "cuda", cuda_available=True) == "gloo"
    with pytest.raises(ConfigError, match="nccl needs CUDA"):
        choose_backend("nccl", "cpu", cuda_available=False)
    with pytest.raises(ConfigError, match="train.dist_backend"):
        choose_backend("mpi", "cpu", cuda_available=False)


def test_init_distributed_under_torchrun_with_cuda_joins_nccl_on_the_local_gpu(monkeypatch):
    calls = {}
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "set_device", lambda i: calls.setdefault("device", i))
    monkeypatch.setattr(dist, "is_initialized", lambda: False)
    monkeypatch.setattr(dist, "init_process_group", lambda **kw: calls.setdefault("group", kw))
    ctx = distributed.init_distributed("auto", "auto")
    assert (ctx.rank, ctx.world_size, ctx.local_rank, ctx.backend) == (1, 2, 1, "nccl")
    assert calls["device"] == 1 and calls["group"]["backend"] == "nccl"
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert ctx.collective_device == CUDA1  # NCCL's collectives take GPU tensors
    assert DistContext(backend="gloo").collective_device == CPU


def test_sync_batch_norm_under_nccl_and_global_batch_norm_under_gloo():
    def net():
        return nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Sequential(nn.BatchNorm1d(4)))

    nccl = convert_global_bn(net(), DistContext(0, 2, 0, "nccl"))
    assert sum(isinstance(m, nn.SyncBatchNorm) for m in nccl.modules()) == 2
    gloo = convert_global_bn(net(), DistContext(0, 2, 0, "gloo"))
    assert sum(isinstance(m, GlobalBatchNorm) for m in gloo.modules()) == 2
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in gloo.modules())


def test_auto_precision_on_cuda_is_fp16_with_a_gradient_scaler(tmp_path):
    chosen = resolve_precision("auto", CUDA, native_bf16=True)
    assert chosen.name == "fp16" and chosen.needs_scaler
    # the trainer builds its scaler from that decision (on a CPU: fp16 asked for, the same path)
    trainer = Trainer(tiny_net(), build_loss([{"name": "cross_entropy"}]), TrainConfig(precision="fp16"),
                      tmp_path, CPU)
    assert trainer.scaler.is_enabled() and "gradient scaler" in trainer.describe()
    plain = Trainer(tiny_net(), build_loss([{"name": "cross_entropy"}]), TrainConfig(precision="fp32"),
                    tmp_path / "b", CPU)
    assert not plain.scaler.is_enabled()


def test_auto_device_is_cuda_when_present(monkeypatch):
    from reid.pipeline.builders import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == CUDA and resolve_device("cuda:1") == CUDA1
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(ConfigError, match="CUDA is not available"):
        resolve_device("cuda")


def test_checkpoints_carry_the_cuda_rng_when_cuda_is_in_use(monkeypatch):
    state = rng_state()
    assert "cuda" not in state  # not initialised here
    fake, restored = [torch.arange(4, dtype=torch.uint8)], []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: fake)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda s: restored.append(s))
    with_cuda = rng_state()
    assert with_cuda["cuda"] is fake
    set_rng_state(with_cuda)
    assert restored == [fake]


def test_the_environment_record_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    info = environment.describe_environment(CUDA1)
    assert info["gpu"] == "Fake GPU 1" and info["gpu_count"] == 2 and info["device"] == "cuda:1"
    assert "gpu" not in environment.describe_environment(CPU)


def test_the_training_loader_pins_memory_for_cuda_only(monkeypatch, tmp_path):
    """The pipeline asks cuda_choices for the loader's pinning (the same call as extraction)."""
    from reid.pipeline import training

    seen = []
    monkeypatch.setattr(training, "pin_memory", lambda d: seen.append(d) or False)
    from tests.test_training import tiny_config

    training.run_training(tiny_config(tmp_path, "run", "train.iterations=1", "device=cpu"),
                          model=tiny_net(6))
    assert seen == [CPU]
