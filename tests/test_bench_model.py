"""tools/bench_model.py: tiny end-to-end run, table layout, verdict logic, argument errors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from reid.data.synthetic import generate, preset
from reid.engine.environment import cpu_model_name
from reid.engine.precision import cpu_flags
from reid.studies import bench_model as bench

CPU = torch.device("cpu")
TINY_SIZE = {"batch": 2, "instances": 1, "height": 32, "width": 16}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run no faster on more threads, and one thread does not fight a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench-data")
    generate(root, preset("tiny"))
    return root


def table_rows(report: str) -> list[list[str]]:
    """The cells of the markdown table's body rows."""
    lines = [line for line in report.splitlines() if line.startswith("|")]
    assert lines[0] == "| " + " | ".join(bench.TABLE_COLUMNS) + " |"
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def fake_machine(native_bf16: bool) -> "bench.Machine":
    return bench.Machine(cpu="Test CPU", logical_cpus=2, native_bf16=native_bf16, torch_threads=2,
                         torch_version="0.0", device="cpu")


def fake_settings() -> "bench.Settings":
    return bench.Settings(height=256, width=128, batch=8, instances=2, warmup=1, steps=3, amp_steps=2,
                          dataset="synthetic", root="data/synthetic", workers=2, loader_batches=20, loader_skip=3)


def test_cpuinfo_name_flags_and_native_bf16(tmp_path):
    """describe_machine reads the CPU through reid.engine's cpuinfo readers."""
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Fake EPYC 1234\nflags\t\t: fpu avx2 avx512f amx_bf16\n"
                    "processor\t: 1\nmodel name\t: Fake EPYC 1234\nflags\t\t: fpu avx2 avx512f amx_bf16\n")
    flags = cpu_flags(info)
    assert cpu_model_name(info) == "Fake EPYC 1234"
    assert bench.cpu_has_native_bf16(flags, environ={})
    assert not bench.cpu_has_native_bf16({"avx", "avx2", "avx512f"}, environ={})
    assert bench.cpu_has_native_bf16({"avx512_bf16"}, environ={})
    assert cpu_flags(tmp_path / "missing") == set()
    assert cpu_model_name(tmp_path / "missing")  # falls back to what platform knows


def test_bottleneck_and_verdict_with_fake_numbers():
    case = bench.Case("resnet18", 4, "fp32", False)
    fast_loader = bench.Row(case, model_clips_per_s=10.0, loader_clips_per_s=25.0)
    assert fast_loader.ratio == pytest.approx(2.5)
    assert fast_loader.frames_per_s == pytest.approx(40.0)
    assert fast_loader.bottleneck == "model"
    slow_loader = bench.Row(case, model_clips_per_s=10.0, loader_clips_per_s=4.0)
    assert slow_loader.bottleneck == "loader"
    assert bench.verdict(25.0, 10.0).startswith("loader keeps up")
    assert bench.verdict(10.0, 10.0).startswith("loader keeps up")
    assert bench.verdict(4.0, 10.0) == "loader is the bottleneck: 4 clips/s < 10"
    assert bench.verdict(123.456, 0.012345) == "loader keeps up (123 clips/s >= 0.0123)"
    assert [bench.fmt(v) for v in (0.012345, 1.2345, 12.345, 1234.5)] == ["0.0123", "1.23", "12.3", "1234"]


def test_report_format_with_fake_numbers():
    rows = [bench.Row(bench.Case("resnet18", 4, "fp32", False), 12.0, 30.0),
            bench.Row(bench.Case("resnet50", 8, "bf16", True), 0.5, 0.25)]
    report = bench.format_report(rows, fake_machine(native_bf16=False), fake_settings(), command="python x.py")
    cells = table_rows(report)
    assert cells == [
        ["resnet18", "4", "fp32", "off", "12", "48", "30", "2.5", "model"],
        ["resnet50", "8", "bf16", "on", "0.5", "4", "0.25", "0.5", "loader"],
    ]
    assert "Test CPU" in report and "python x.py" in report
    assert "bf16 is emulated" in report
    assert "- resnet18 T=4 fp32 channels_last off: loader keeps up" in report
    assert "- resnet50 T=8 bf16 channels_last on: loader is the bottleneck: 0.25 clips/s < 0.5" in report
    native = bench.format_report(rows, fake_machine(native_bf16=True), fake_settings())
    assert "emulated" not in native
    fp32_only = bench.format_report(rows[:1], fake_machine(native_bf16=False), fake_settings())
    assert "emulated" not in fp32_only
    assert "none of avx512_bf16, amx_bf16 in the CPU flags" in fp32_only
    capped = dataclasses.replace(fake_machine(native_bf16=False), isa_cap="ONEDNN_MAX_CPU_ISA=AVX2")
    assert "native bf16: no (oneDNN capped by ONEDNN_MAX_CPU_ISA=AVX2)" in bench.format_report(rows, capped, fake_settings())


@pytest.mark.parametrize("precision, channels_last", [("fp32", False), ("fp32", True), ("bf16", True)])
def test_model_step_rate_is_positive(precision, channels_last):
    case = bench.Case("resnet18", 2, precision, channels_last)
    rate = bench.measure_model(case, warmup=0, steps=1, device=CPU, **TINY_SIZE)
    assert rate > 0


def parsed(*argv: str):
    args = bench.build_parser().parse_args(list(argv))
    bench.fill_defaults(args)
    bench.check_args(args)
    return args


def test_grid_full_quick_and_amp_only():
    full = bench.grid(parsed())
    assert len(full) == 16 and full[0] == bench.Case("resnet18", 4, "fp32", False)
    assert {c.precision for c in full} == {"fp32", "bf16"} and {c.backbone for c in full} == {"resnet18", "resnet50"}
    assert bench.grid(parsed("--quick")) == [bench.Case("resnet18", 4, "fp32", False),
                                             bench.Case("resnet18", 4, "fp32", True)]
    restricted = bench.grid(parsed("--amp-only", "resnet18:4"))
    assert len(restricted) == 10
    assert {(c.backbone, c.seq_len) for c in restricted if c.precision == "bf16"} == {("resnet18", 4)}
    assert len(bench.grid(parsed("--quick", "--seq-lens", "2", "8", "--precisions", "fp32", "bf16"))) == 8


def test_time_steps_runs_warmup_then_timed_steps():
    calls = []
    times = bench.time_steps(lambda: calls.append(1), warmup=2, steps=3, device=CPU)
    assert len(calls) == 5 and len(times) == 3 and all(t >= 0 for t in times)


def test_loader_rate_is_positive(tiny_root):
    cfg = bench.loader_config(dataset="synthetic", root=str(tiny_root), seq_len=2, workers=0, batches=3,
                              overrides=["synthetic.preset=tiny"], **TINY_SIZE)
    assert cfg.data.num_identities == 2 and cfg.data.num_instances == 1 and cfg.train.iterations == 3
    data = bench.load_data(cfg)
    assert bench.measure_loader(cfg, data, skip=1) > 0


def test_quick_run_writes_the_table(tiny_root, tmp_path, capsys):
    out = tmp_path / "bench.md"
    rc = bench.main(["--root", str(tiny_root), "synthetic.preset=tiny", "--quick", "--height", "32", "--width", "16",
                     "--seq-lens", "2", "--batch", "2", "--instances", "1", "--warmup", "0", "--workers", "2",
                     "--loader-batches", "2", "--loader-skip", "1", "--out", str(out)])
    assert rc == 0
    report = out.read_text()
    assert report == capsys.readouterr().out
    cells = table_rows(report)
    assert [row[:4] for row in cells] == [["resnet18", "2", "fp32", "off"], ["resnet18", "2", "fp32", "on"]]
    for row in cells:
        model, frames, loader, ratio = (float(v) for v in row[4:8])
        assert model > 0 and loader > 0
        assert frames == pytest.approx(2 * model, rel=0.02)  # cells have 3 significant digits
        assert ratio == pytest.approx(loader / model, rel=0.02)
        assert row[8] in ("model", "loader")
    assert report.count("- resnet18 T=2 fp32 channels_last") == 2
    assert "torch" in report and "threads" in report


@pytest.mark.parametrize("argv, message", [
    (["--batch", "7"], "--batch: 7 is not a multiple of --instances 2"),
    (["--steps", "0"], "--steps: got 0, expected an integer >= 1"),
    (["--backbones", "vgg"], "--backbones: unknown 'vgg'"),
    (["--precisions", "fp16"], "--precisions: fp16 is the CUDA autocast type"),
    (["--seq-lens", "0"], "--seq-lens: got 0"),
    (["--amp-only", "resnet50:2"], "--amp-only: resnet50:2 is not a grid point"),
    (["--dataset", "mars", "--root", "/nonexistent/mars"], "--root: /nonexistent/mars is not a folder"),
])
def test_argument_errors_are_one_line(argv, message, capsys):
    assert bench.main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {message}") and err.count("\n") == 1


def test_cuda_without_cuda_is_one_line(capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert bench.main(["--device", "cuda"]) == 1
    assert capsys.readouterr().err.startswith("error: --device cuda: CUDA is not available")


@pytest.mark.parametrize("argv, start", [
    (["--batch", "eight"], "error: argument --batch"),
    (["--amp-only", "resnet18"], "error: argument --amp-only: expected BACKBONE:T"),
    (["--precisions", "int8"], "error: argument --precisions"),
])
def test_argparse_errors_are_one_line(argv, start, capsys):
    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(start) and err.count("\n") == 1
