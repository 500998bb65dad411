"""train.precision: never emulated arithmetic by default, and the log says what runs."""

import logging

import pytest
import torch

from reid.config import TrainConfig
from reid.engine.precision import cpu_flags, cpu_has_native_bf16, isa_cap, probe_faster, resolve_precision
from reid.engine.trainer import Trainer
from reid.errors import ConfigError
from reid.losses import build_loss
from reid.models import build_model

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_cpu_flags_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse avx2 avx512f avx512_bf16\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx2", "avx512f", "avx512_bf16"}
    assert cpu_has_native_bf16(cpu_flags(info), environ={})
    assert not cpu_has_native_bf16({"avx2", "fma", "avx512f"}, environ={})
    assert cpu_has_native_bf16({"amx_bf16"}, environ={})
    assert cpu_flags(tmp_path / "missing") == set()


def test_an_isa_cap_below_bf16_hides_the_native_flags():
    native = {"avx2", "avx512f", "avx512_bf16", "amx_bf16"}
    for cap in ("AVX2", "avx2", "AVX512_CORE", "SSE41"):
        assert not cpu_has_native_bf16(native, environ={"ONEDNN_MAX_CPU_ISA": cap}), cap
    assert not cpu_has_native_bf16(native, environ={"DNNL_MAX_CPU_ISA": "AVX2"})
    for cap in ("AVX512_CORE_BF16", "AVX512_CORE_AMX", "ALL", "DEFAULT"):
        assert cpu_has_native_bf16(native, environ={"ONEDNN_MAX_CPU_ISA": cap}), cap
    # a cap never adds what the CPU lacks
    assert not cpu_has_native_bf16({"avx2"}, environ={"ONEDNN_MAX_CPU_ISA": "ALL"})
    assert isa_cap({}) is None
    assert isa_cap({"ONEDNN_MAX_CPU_ISA": "AVX2", "DNNL_MAX_CPU_ISA": "SSE41"}) == "ONEDNN_MAX_CPU_ISA=AVX2"


def test_auto_names_the_isa_cap_that_rules_out_bf16(monkeypatch):
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    choice = resolve_precision("auto", CPU)
    assert choice.name == "fp32" and "ONEDNN_MAX_CPU_ISA=AVX2" in choice.reason


def test_resolution_table(caplog):
    assert resolve_precision("auto", CPU, native_bf16=False).name == "fp32"
    assert "no native bf16" in resolve_precision("auto", CPU, native_bf16=False).reason
    assert resolve_precision("auto", CPU, native_bf16=True).reason == "probe"
    assert resolve_precision("auto", CUDA, native_bf16=False).name == "fp16"
    assert resolve_precision("fp32", CPU, native_bf16=True).dtype is None
    assert resolve_precision("bf16", CUDA).dtype is torch.bfloat16
    with caplog.at_level(logging.WARNING, logger="reid.engine.precision"):
        assert resolve_precision("bf16", CPU, native_bf16=False).name == "bf16"
    assert any("emulated" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError, match="train.precision"):
        resolve_precision("half", CPU)


def test_fp16_with_a_scaler_is_auto_on_cuda_and_on_request_only_on_a_cpu(caplog, monkeypatch):
    auto = resolve_precision("auto", CUDA, native_bf16=True)
    assert (auto.name, auto.dtype, auto.needs_scaler) == ("fp16", torch.float16, True)
    assert not resolve_precision("bf16", CUDA).needs_scaler and not resolve_precision("fp32", CUDA).needs_scaler
    for native in (False, True):  # auto never picks fp16 on a CPU
        assert resolve_precision("auto", CPU, native_bf16=native).name != "fp16"
    with caplog.at_level(logging.WARNING, logger="reid.engine.precision"):
        asked = resolve_precision("fp16", CPU)
    assert asked.name == "fp16" and asked.needs_scaler and "emulated" in asked.reason
    assert any("fp16 on a CPU" in r.getMessage() for r in caplog.records)
    with asked.autocast("cpu"):  # this torch runs fp16 autocast on a CPU
        assert torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype is torch.float16
    from reid.engine import precision

    monkeypatch.setattr(precision, "cpu_autocast_supports", lambda dtype: False)  # an older torch
    with pytest.raises(ConfigError, match="fp16 is for CUDA"):
        resolve_precision("fp16", CPU)


def test_probe_leaves_the_model_untouched():
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    choice = probe_faster(model, torch.randn(2, 2, 3, 32, 16), steps=1)
    assert choice.name in ("fp32", "bf16") and "bf16" in choice.reason and "fp32" in choice.reason
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0, msg=k)
    assert all(p.grad is None for p in model.parameters())


def test_first_log_line_states_the_setup(tmp_path, caplog):
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=2)
    trainer = Trainer(model, build_loss([{"name": "cross_entropy"}]),
                      TrainConfig(iterations=1, precision="fp32", checkpoint_every=0), tmp_path, CPU)
    batch = (torch.randn(2, 2, 3, 32, 16), torch.tensor([0, 1]), torch.tensor([0, 0]), torch.tensor([0, 1]))
    with caplog.at_level(logging.INFO, logger="reid.engine.trainer"):
        trainer.train(iter([batch]))
    first = caplog.records[0].getMessage()
    assert "precision fp32" in first and "memory format contiguous" in first
    assert f"{torch.get_num_threads()} threads" in first
    assert trainer.state.steps_timed == 1 and trainer.state.step_seconds > 0


def test_channels_last_trains_the_same_model_and_saves_plain_weights(tmp_path):
    """train.channels_last changes the memory layout only: the same loss, and weights any model loads."""
    clips = torch.randn(4, 2, 3, 32, 16)
    pids = torch.tensor([0, 0, 1, 1])
    trained = {}
    for channels_last in (False, True):
        torch.manual_seed(0)
        model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="attention",
                               embed_dim=8, num_classes=2)
        # a small lr: Adam's first step moves each weight by about lr, whatever rounding does to tiny gradients
        trainer = Trainer(model, build_loss([{"name": "cross_entropy"}]),
                          TrainConfig(iterations=1, lr=1e-6, precision="fp32", checkpoint_every=0,
                                      channels_last=channels_last), tmp_path / str(channels_last), CPU)
        step = trainer.run_step(clips, pids)
        trained[channels_last] = (step.values["loss"], {k: v.detach().clone() for k, v in model.state_dict().items()})
    (loss_plain, plain), (loss_nhwc, nhwc) = trained[False], trained[True]
    assert loss_nhwc == pytest.approx(loss_plain, rel=1e-4)
    assert any(v.is_contiguous(memory_format=torch.channels_last) and not v.is_contiguous()
               for v in nhwc.values() if v.dim() == 4)
    embeddings = []
    for weights in (plain, nhwc):  # both load into a fresh, contiguous model
        fresh, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="attention",
                               embed_dim=8, num_classes=2)
        fresh.load_state_dict(weights)
        fresh.eval()
        with torch.no_grad():
            embeddings.append(fresh(clips).embedding)
    assert fresh.channels_last is False
    torch.testing.assert_close(embeddings[1], embeddings[0], rtol=1e-3, atol=1e-3)
