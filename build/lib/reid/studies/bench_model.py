"""Training throughput: the model's forward+backward+Adam step (clips/s) vs the training loader.

Usage: python tools/bench_model.py [--root data/synthetic] [--dataset synthetic|mars] [--quick]
       [--backbones resnet18 resnet50] [--seq-lens 4 8] [--precisions fp32 bf16]
       [--channels-last off on] [--batch 8] [--steps 3] [--out FILE.md] [loader overrides ...]

Each grid row times one real training step (the project's model, OSM+CAA + cross-entropy loss,
fused Adam) on random clips, and the project's training loader (identity-balanced batches, the
training transform, ``--workers`` processes) on the dataset; the loader/model ratio says which of
the two limits training. Both are measured alone: in a real CPU run they share the cores.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from reid.config import Config, TrainConfig, load_config
from reid.data import DATASETS, VideoReIDDataset
from reid.engine.environment import cpu_model_name
from reid.engine.precision import NATIVE_BF16_FLAGS, cpu_has_native_bf16, isa_cap
from reid.engine.trainer import build_optimizer
from reid.errors import ConfigError, ReIDError
from reid.losses import build_loss
from reid.models import BACKBONES, build_model
from reid.pipeline.builders import build_train_loader, load_data
from reid.pipeline.config_checks import check_config

logger = logging.getLogger("bench_model")

LOSS_TERMS: list[dict] = [{"name": "osm_caa", "weight": 1.0, "variant": "official"},
                          {"name": "cross_entropy", "weight": 1.0}]
NUM_CLASSES = 100
AMP_DTYPES: dict[str, torch.dtype | None] = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
TABLE_COLUMNS = ["backbone", "T", "precision", "channels_last", "model clips/s", "frames/s", "loader clips/s",
                 "loader/model ratio", "bottleneck"]


@dataclass(frozen=True)
class Case:
    """One grid point of the model measurement."""

    backbone: str
    seq_len: int
    precision: str  # a key of AMP_DTYPES
    channels_last: bool


@dataclass(frozen=True)
class Row:
    """A measured grid point: the model's rate and the loader's rate for the same clips."""

    case: Case
    model_clips_per_s: float
    loader_clips_per_s: float

    @property
    def frames_per_s(self) -> float:
        return self.model_clips_per_s * self.case.seq_len

    @property
    def ratio(self) -> float:
        return self.loader_clips_per_s / self.model_clips_per_s

    @property
    def bottleneck(self) -> str:
        return "model" if self.ratio >= 1.0 else "loader"


@dataclass(frozen=True)
class Machine:
    """What the numbers were measured on."""

    cpu: str
    logical_cpus: int
    native_bf16: bool
    torch_threads: int
    torch_version: str
    device: str  # "cpu" or the GPU's name
    load_average: float | None = None  # 1-minute load average when the run started (None: unknown)
    isa_cap: str | None = None  # "ONEDNN_MAX_CPU_ISA=AVX2" when the environment caps oneDNN's kernels


@dataclass(frozen=True)
class Settings:
    """The fixed parameters of a run, for the report header."""

    height: int
    width: int
    batch: int
    instances: int
    warmup: int
    steps: int
    amp_steps: int
    dataset: str
    root: str
    workers: int
    loader_batches: int
    loader_skip: int
    amp_only: tuple[tuple[str, int], ...] = ()  # (backbone, T) pairs that get bf16/fp16 rows; () = all


# ---- machine -------------------------------------------------------------------------------------

def load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:
        return None


def describe_machine(device: torch.device, load: float | None = None) -> Machine:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return Machine(cpu=cpu_model_name(), logical_cpus=os.cpu_count() or 0, native_bf16=cpu_has_native_bf16(),
                   torch_threads=torch.get_num_threads(), torch_version=torch.__version__, device=gpu,
                   load_average=load, isa_cap=isa_cap())


# ---- model ---------------------------------------------------------------------------------------

def training_step(case: Case, *, batch: int, instances: int, height: int, width: int,
                  device: torch.device) -> Callable[[], None]:
    """Build model, loss and optimizer for ``case``; returns a closure running one training step."""
    model, _ = build_model(backbone=case.backbone, init="random", allow_random_init=True, pooling="avg",
                           embed_dim=0, num_classes=NUM_CLASSES)
    model.to(device)
    if case.channels_last:
        model.to(memory_format=torch.channels_last)
        model.channels_last = True
    model.train()
    criterion = build_loss(LOSS_TERMS).to(device)
    optimizer = build_optimizer(model, TrainConfig())
    amp_dtype = AMP_DTYPES[case.precision]
    scaler = torch.amp.GradScaler(device.type, enabled=amp_dtype is torch.float16 and device.type == "cuda")
    clips = torch.randn(batch, case.seq_len, 3, height, width, device=device)
    labels = torch.arange(batch // instances, device=device).repeat_interleave(instances)

    def step() -> None:
        autocast = (contextlib.nullcontext() if amp_dtype is None
                    else torch.autocast(device.type, dtype=amp_dtype))
        with autocast:
            out = model(clips)
        total, _ = criterion(out.embedding.float(), labels, model.centres.float(), None)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(total).backward()
        scaler.step(optimizer)
        scaler.update()

    return step


def time_steps(step: Callable[[], None], *, warmup: int, steps: int, device: torch.device) -> list[float]:
    """Run ``warmup`` untimed then ``steps`` timed calls of ``step``; returns the seconds of each."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - start)
    return times


def measure_model(case: Case, *, batch: int, instances: int, height: int, width: int, warmup: int, steps: int,
                  device: torch.device) -> float:
    """Training clips/s of ``case``: ``batch`` over the median time of the timed steps."""
    step = training_step(case, batch=batch, instances=instances, height=height, width=width, device=device)
    times = time_steps(step, warmup=warmup, steps=steps, device=device)
    del step
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return batch / statistics.median(times)


# ---- loader --------------------------------------------------------------------------------------

def loader_config(*, dataset: str, root: str, height: int, width: int, seq_len: int, batch: int, instances: int,
                  workers: int, batches: int, overrides: Sequence[str] = ()) -> Config:
    """The project config whose training loader yields ``batches`` batches of ``batch`` clips."""
    return check_config(load_config(None, [
        f"data.name={dataset}", f"data.root={root}", f"data.height={height}", f"data.width={width}",
        f"data.seq_len={seq_len}", f"data.num_identities={batch // instances}", f"data.num_instances={instances}",
        f"data.workers={workers}", f"train.iterations={batches}", *overrides,
    ]))


def measure_loader(cfg: Config, data: VideoReIDDataset, *, skip: int, pin_memory: bool = False) -> float:
    """Clips/s the training loader delivers, after its first ``skip`` batches (worker start-up);
    ``pin_memory`` as training on a CUDA device loads."""
    iterator = iter(build_train_loader(cfg, data, pin_memory=pin_memory))
    for _ in range(skip):
        next(iterator)
    start = time.perf_counter()
    clips = sum(int(batch[0].shape[0]) for batch in iterator)
    return clips / (time.perf_counter() - start)


# ---- report --------------------------------------------------------------------------------------

def fmt(value: float) -> str:
    """Three significant digits, never in exponent notation (0.0123, 1.23, 123, 1234)."""
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


def verdict(loader_clips_per_s: float, model_clips_per_s: float) -> str:
    if loader_clips_per_s >= model_clips_per_s:
        return f"loader keeps up ({fmt(loader_clips_per_s)} clips/s >= {fmt(model_clips_per_s)})"
    return f"loader is the bottleneck: {fmt(loader_clips_per_s)} clips/s < {fmt(model_clips_per_s)}"


def row_label(case: Case) -> str:
    return f"{case.backbone} T={case.seq_len} {case.precision} channels_last {'on' if case.channels_last else 'off'}"


def format_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(TABLE_COLUMNS) + " |",
             "|" + "|".join(["---"] + ["--:"] + ["---"] * 2 + ["--:"] * 4 + ["---"]) + "|"]
    for r in rows:
        cells = [r.case.backbone, str(r.case.seq_len), r.case.precision, "on" if r.case.channels_last else "off",
                 fmt(r.model_clips_per_s), fmt(r.frames_per_s), fmt(r.loader_clips_per_s), fmt(r.ratio),
                 r.bottleneck]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_report(rows: Sequence[Row], machine: Machine, settings: Settings, *, command: str = "") -> str:
    """The markdown report: command, machine, settings, the table and one verdict per row."""
    s = settings
    if machine.native_bf16:
        bf16 = "yes"
    elif machine.isa_cap:
        bf16 = f"no (oneDNN capped by {machine.isa_cap})"
    else:
        bf16 = f"no (none of {', '.join(NATIVE_BF16_FLAGS)} in the CPU flags)"
    lines = ["# Training throughput: model step vs training loader", ""]
    if command:
        lines += ["```", command, "```", ""]
    lines += [
        f"- CPU: {machine.cpu} ({machine.logical_cpus} logical CPUs); native bf16: {bf16}",
        f"- torch {machine.torch_version}, torch threads: {machine.torch_threads}, device: {machine.device}"
        + ("" if machine.load_average is None else f"; 1-minute load average at the start: {machine.load_average:.2f}"),
        f"- model: batch {s.batch} clips (P {s.batch // s.instances} x K {s.instances}), {s.height}x{s.width} "
        f"frames, random init, one step = forward + OSM+CAA/cross-entropy loss + backward + fused Adam; "
        f"{s.warmup} warm-up step(s), then the median of {s.steps} timed step(s) "
        f"({s.amp_steps} for bf16/fp16 rows)",
        f"- loader: {s.dataset} at {s.root}, {s.workers} workers, {s.loader_batches} batches timed after "
        f"{s.loader_skip} skipped (worker start-up); measured alone, not while the model trains",
    ]
    if s.amp_only:
        pairs = ", ".join(f"{b} T={t}" for b, t in s.amp_only)
        lines.append(f"- bf16/fp16 rows only for {pairs} (--amp-only); the other grid points are fp32 only")
    if machine.device == "cpu" and not machine.native_bf16 and any(r.case.precision == "bf16" for r in rows):
        lines.append("- **bf16 is emulated on this CPU** (no native bf16 instructions): bf16 rows are expected "
                     "to be much slower than fp32")
    lines += ["", format_table(rows), "", "Verdicts:", ""]
    lines += [f"- {row_label(r.case)}: {verdict(r.loader_clips_per_s, r.model_clips_per_s)}" for r in rows]
    return "\n".join(lines) + "\n"


# ---- command line --------------------------------------------------------------------------------

def backbone_and_t(text: str) -> tuple[str, int]:
    """Parse ``BACKBONE:T`` (``resnet18:4``) for ``--amp-only``."""
    name, _, t = text.partition(":")
    if name not in BACKBONES or not t.isdigit() or int(t) < 1:
        raise argparse.ArgumentTypeError(f"expected BACKBONE:T with a backbone of {', '.join(BACKBONES)} and "
                                         f"T >= 1, e.g. resnet18:4; got {text!r}")
    return name, int(t)


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line, without the usage block."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=__doc__.splitlines()[0])
    p.add_argument("overrides", nargs="*", help="extra config overrides for the loader, e.g. data.packed=true")
    p.add_argument("--root", default="data/synthetic", help="dataset folder (default: %(default)s)")
    p.add_argument("--dataset", default="synthetic", choices=sorted(DATASETS), help="default: %(default)s "
                   "(generated under --root on first use, ~1 minute)")
    p.add_argument("--backbones", nargs="+", default=None, help="default: resnet18 resnet50")
    p.add_argument("--seq-lens", nargs="+", type=int, default=None, help="frames per clip T (default: 4 8)")
    p.add_argument("--precisions", nargs="+", default=None, choices=sorted(AMP_DTYPES),
                   help="default: fp32 bf16 on cpu, fp32 fp16 on cuda")
    p.add_argument("--channels-last", nargs="+", default=None, choices=["off", "on"], help="default: off on")
    p.add_argument("--amp-only", nargs="+", type=backbone_and_t, default=[], metavar="BACKBONE:T",
                   help="bf16/fp16 rows only for these grid points, e.g. resnet18:4 (default: all)")
    p.add_argument("--height", type=int, default=256)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--batch", type=int, default=8, help="clips per batch (default: %(default)s = P 4 x K 2)")
    p.add_argument("--instances", type=int, default=2, help="K, clips per identity in a batch (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per row (default: 1)")
    p.add_argument("--steps", type=int, default=None, help="timed steps per fp32 row (default: 3; --quick: 1)")
    p.add_argument("--amp-steps", type=int, default=None,
                   help="timed steps per bf16/fp16 row (default: 2, emulated bf16 is slow; --quick: 1)")
    p.add_argument("--workers", type=int, default=2, help="loader worker processes (default: %(default)s)")
    p.add_argument("--loader-batches", type=int, default=None, help="timed loader batches (default: 20; --quick: 4)")
    p.add_argument("--loader-skip", type=int, default=3, help="loader batches skipped before timing")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    p.add_argument("--quick", action="store_true",
                   help="reduced grid for testing: resnet18, T=4, fp32, 1 timed step (explicit options win)")
    p.add_argument("--out", type=Path, default=None, help="also write the report to this markdown file")
    return p


def fill_defaults(args: argparse.Namespace) -> None:
    """Replace the options left unset by the full-grid or the ``--quick`` defaults."""
    quick = args.quick
    low = "fp16" if args.device == "cuda" else "bf16"
    defaults = {
        "backbones": ["resnet18"] if quick else ["resnet18", "resnet50"],
        "seq_lens": [4] if quick else [4, 8],
        "precisions": ["fp32"] if quick else ["fp32", low],
        "channels_last": ["off", "on"],
        "warmup": 1, "steps": 1 if quick else 3, "amp_steps": 1 if quick else 2,
        "loader_batches": 4 if quick else 20,
    }
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def check_args(args: argparse.Namespace) -> None:
    """Raise ConfigError (one line naming the option) on an invalid combination."""
    for name in ("height", "width", "batch", "instances", "steps", "amp_steps", "loader_batches"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected an integer >= 1")
    for name in ("warmup", "workers", "loader_skip"):
        if getattr(args, name) < 0:
            raise ConfigError(f"--{name.replace('_', '-')}: got {getattr(args, name)}, expected an integer >= 0")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads: got {args.threads}, expected an integer >= 1")
    if args.batch % args.instances:
        raise ConfigError(f"--batch: {args.batch} is not a multiple of --instances {args.instances}; "
                          f"expected e.g. {args.instances * max(1, args.batch // args.instances)}")
    if args.batch // args.instances > NUM_CLASSES:
        raise ConfigError(f"--batch: {args.batch // args.instances} identities per batch, expected at most "
                          f"{NUM_CLASSES} (the benchmark model's classes)")
    unknown = [b for b in args.backbones if b not in BACKBONES]
    if unknown:
        raise ConfigError(f"--backbones: unknown {unknown[0]!r}; expected some of {', '.join(BACKBONES)}")
    bad_t = [t for t in args.seq_lens if t < 1]
    if bad_t:
        raise ConfigError(f"--seq-lens: got {bad_t[0]}, expected integers >= 1")
    outside = [f"{b}:{t}" for b, t in args.amp_only if b not in args.backbones or t not in args.seq_lens]
    if outside:
        raise ConfigError(f"--amp-only: {outside[0]} is not a grid point; expected BACKBONE:T with BACKBONE in "
                          f"--backbones ({' '.join(args.backbones)}) and T in --seq-lens "
                          f"({' '.join(map(str, args.seq_lens))})")
    if args.dataset != "synthetic" and not Path(args.root).is_dir():
        raise ConfigError(f"--root: {args.root} is not a folder; expected the {args.dataset} dataset's folder")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda: CUDA is not available on this machine; expected --device cpu")
    if args.device == "cpu" and "fp16" in args.precisions:
        raise ConfigError("--precisions: fp16 is the CUDA autocast type; expected fp32 or bf16 with --device cpu")


def grid(args: argparse.Namespace) -> list[Case]:
    """The grid's cases in table order; bf16/fp16 ones only at the ``--amp-only`` points if given."""
    return [Case(b, t, p, cl == "on") for b in args.backbones for t in args.seq_lens
            for p in args.precisions for cl in args.channels_last
            if p == "fp32" or not args.amp_only or (b, t) in args.amp_only]


def settings_of(args: argparse.Namespace) -> Settings:
    return Settings(height=args.height, width=args.width, batch=args.batch, instances=args.instances,
                    warmup=args.warmup, steps=args.steps, amp_steps=args.amp_steps, dataset=args.dataset,
                    root=str(args.root), workers=args.workers, loader_batches=args.loader_batches,
                    loader_skip=args.loader_skip, amp_only=tuple(args.amp_only))


def run_grid(cases: Sequence[Case], loader_rates: dict[int, float], args: argparse.Namespace,
             device: torch.device) -> list[Row]:
    rows = []
    for case in cases:
        start = time.perf_counter()
        steps = args.steps if case.precision == "fp32" else args.amp_steps
        rate = measure_model(case, batch=args.batch, instances=args.instances, height=args.height,
                             width=args.width, warmup=args.warmup, steps=steps, device=device)
        rows.append(Row(case, rate, loader_rates[case.seq_len]))
        logger.info("%s: %s clips/s (%.0f s)", row_label(case), fmt(rate), time.perf_counter() - start)
    return rows


def measure_loaders(args: argparse.Namespace) -> dict[int, float]:
    """Loader clips/s for each clip length T of the grid (the dataset is loaded once)."""
    configs = {t: loader_config(dataset=args.dataset, root=str(args.root), height=args.height, width=args.width,
                                seq_len=t, batch=args.batch, instances=args.instances, workers=args.workers,
                                batches=args.loader_skip + args.loader_batches, overrides=args.overrides)
               for t in args.seq_lens}
    data = load_data(configs[args.seq_lens[0]])
    rates = {}
    for t, cfg in configs.items():
        rates[t] = measure_loader(cfg, data, skip=args.loader_skip, pin_memory=args.device == "cuda")
        logger.info("loader T=%d: %s clips/s", t, fmt(rates[t]))
    return rates


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    load = load_average()
    try:
        fill_defaults(args)
        check_args(args)
        if args.threads is not None:
            torch.set_num_threads(args.threads)
        device = torch.device(args.device)
        rows = run_grid(grid(args), measure_loaders(args), args, device)
    except (ReIDError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    command = shlex.join(["python", "tools/bench_model.py", *argv])
    report = format_report(rows, describe_machine(device, load), settings_of(args), command=command)
    sys.stdout.write(report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    return 0
