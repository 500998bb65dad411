"""Feature extraction against the model's own rate: extract_features (JPEG loading included) / model alone.

Usage: python tools/bench_extract.py [--data-dir DIR] [--backbones resnet18 resnet50] [--frames 768]
       [--workers 2] [--batch-size 32] [--seq-len 8] [--max-frames 64] [--repeat 2] [--out FILE.md]

Writes the synthetic ``demo`` set (MARS layout, 256x128 JPEG frames) into DIR when it is missing
and takes the first test tracklets (query, then gallery) whose test clips hold ``--frames``
frames. For each backbone (random init, eval mode, the project's defaults: average pooling,
no projection), it times ``reid.engine.extract.extract_features`` on them (reading, decoding and
transforming the frames in ``--workers`` DataLoader processes, clips of many tracklets in each
batch) and the model alone on the same batches, loaded into memory beforehand, in the same
process with the same torch threads, ``--repeat`` times each, interleaved in alternating order
(the machine is shared: a load that changes during the run favours neither). Rates are the best
run of each; the ratio is the median over repeats of (model alone time / extraction time) of
the two runs made one after the other. CPU time (this process's threads plus the finished workers) says
what the run costs whatever the other jobs do: on an idle machine with perfect overlap the wall
ratio approaches the CPU ratio. Details: docs/benchmarks.md, "Feature extraction".
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from reid.data import load_dataset
from reid.data.clip_dataset import EvalClips
from reid.data.synthetic import generate, preset
from reid.data.tracklet import Tracklet
from reid.data.transforms import ClipTransform
from reid.engine.extract import extract_features
from reid.models import build_model

TARGET = 0.8


def test_tracklets(root: Path, frames: int, seq_len: int, max_frames: int, *,
                   synthetic: str = "demo") -> list[Tracklet]:
    """The first query-then-gallery tracklets whose clips hold at least ``frames`` frames (the
    ``synthetic`` preset is written into ``root`` first when ``root/mars`` is missing)."""
    if not (root / "mars").is_dir():
        generate(root, preset(synthetic))
    data = load_dataset("synthetic", root, cache=False)
    chosen, total = [], 0
    for t in [*data.query, *data.gallery]:
        chosen.append(t)
        total += len(EvalClips([t], seq_len=seq_len, max_frames=max_frames, transform=None)) * seq_len
        if total >= frames:
            break
    return chosen


def _cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (DataLoader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of ``fn()``."""
    wall, cpu = time.perf_counter(), _cpu_seconds()
    fn()
    return time.perf_counter() - wall, _cpu_seconds() - cpu


@torch.no_grad()
def run_model(model: torch.nn.Module, batches: list[torch.Tensor]) -> None:
    for clips in batches:
        model(clips).embedding


def measure(backbone: str, tracklets: list[Tracklet], args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    model, _ = build_model(backbone=backbone, init="random", allow_random_init=True, pooling="avg", embed_dim=0,
                           num_classes=2)
    model.eval()
    dataset = EvalClips(tracklets, seq_len=args.seq_len, max_frames=args.max_frames,
                        transform=ClipTransform(args.height, args.width, train=False))
    batches = [clips for clips, _, _ in DataLoader(dataset, batch_size=args.batch_size, num_workers=args.workers)]
    frames = len(dataset) * args.seq_len
    run_model(model, batches[:1])  # warm-up: one-time allocations and thread start
    extract, alone = [], []
    for i in range(args.repeat):
        for which in ("alone", "extract") if i % 2 == 0 else ("extract", "alone"):  # drift hits both alike
            if which == "alone":
                alone.append(timed(lambda: run_model(model, batches)))
            else:
                extract.append(timed(lambda: extract_features(
                    model, tracklets, height=args.height, width=args.width, seq_len=args.seq_len,
                    max_frames=args.max_frames, batch_size=args.batch_size, workers=args.workers, progress=False)))
    return {"backbone": backbone, "tracklets": len(tracklets), "frames": frames, "batches": len(batches),
            "extract": min(w for w, _ in extract), "alone": min(w for w, _ in alone),
            "ratio": statistics.median(a[0] / e[0] for a, e in zip(alone, extract)),
            "extract_cpu": min(c for _, c in extract), "alone_cpu": min(c for _, c in alone),
            "load": os.getloadavg()[0]}


def table(rows: list[dict]) -> str:
    lines = ["| backbone | tracklets/s | extract frames/s | model-only frames/s | ratio | target | "
             "CPU ms/frame extract (model only) | CPU ratio | load |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        per = 1000.0 / r["frames"]
        lines.append(f"| {r['backbone']} | {r['tracklets'] / r['extract']:.2f} | {r['frames'] / r['extract']:.1f} | "
                     f"{r['frames'] / r['alone']:.1f} | {r['ratio']:.2f} | {TARGET} | "
                     f"{r['extract_cpu'] * per:.0f} ({r['alone_cpu'] * per:.0f}) | "
                     f"{r['alone_cpu'] / r['extract_cpu']:.2f} | {r['load']:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, help="holds (or gets) the demo set's mars/ (default: a temp folder)")
    parser.add_argument("--preset", default="demo", help="synthetic preset written when DIR has no mars/")
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "resnet50"])
    parser.add_argument("--frames", type=int, default=768, help="clip frames to embed per run")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (data.workers)")
    parser.add_argument("--batch-size", type=int, default=32, help="clips per batch (eval.batch_size)")
    parser.add_argument("--seq-len", type=int, default=8, help="data.test_seq_len")
    parser.add_argument("--max-frames", type=int, default=64, help="data.test_max_frames")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data_dir or Path(tmp)
        tracklets = test_tracklets(root, args.frames, args.seq_len, args.max_frames, synthetic=args.preset)
        start_load = os.getloadavg()[0]
        rows = []
        for backbone in args.backbones:
            rows.append(measure(backbone, tracklets, args))
            print(table(rows[-1:]).splitlines()[-1], flush=True)
    text = "\n\n".join([f"command: python tools/bench_extract.py {shlex.join(argv)}".rstrip(),
                        f"{rows[0]['tracklets']} tracklets, {rows[0]['frames']} clip frames in {rows[0]['batches']} "
                        f"batches of {args.batch_size} clips x {args.seq_len} frames at {args.height}x{args.width}; "
                        f"{args.workers} loader workers, {torch.get_num_threads()} torch threads, "
                        f"{os.cpu_count()} CPUs; load average (1 min) {start_load:.1f} at start",
                        table(rows)]) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0
