#!/usr/bin/env python
"""Seconds per training iteration with denormals kept and flushed to zero (``train.flush_denormal``).

    .venv/bin/python tools/bench_denormal.py --root data/hard --iterations 102 --threads 2 \\
        [--config configs/mars_osm_caa.yaml] [key=value ...]

Trains the config (by default the project's recipe at the recipe study's small settings: ResNet-18
from random init, 128x64, 4-frame clips, 4 x 2 clips a batch, fp32) with ``train.flush_denormal``
off and on, alternating ``--repeats`` times (off, on, off, on, ...) so that a drift in machine load
touches both, and prints the seconds per iteration of each and their ratio. Evaluation is cut to
the minimum (one 4-frame test clip, no re-ranking, no report figures): only the step time counts.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMALL = ["model.backbone=resnet18", "model.init=random", "data.height=128", "data.width=64", "data.seq_len=4",
         "data.num_identities=4", "data.num_instances=2", "train.precision=fp32", "train.checkpoint_every=0",
         "train.resume=''", "data.test_seq_len=4", "data.test_max_frames=4", "eval.rerank=false",
         "eval.visualise=0", "eval.visualise_random=0", "eval.tsne_max_points=0"]


def seconds_per_iteration(run_dir: Path) -> float:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return float(metrics["training"]["seconds_per_iteration"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", required=True, help="MARS-layout dataset parent (holds mars/)")
    p.add_argument("--config", default=str(REPO / "configs" / "mars_osm_caa.yaml"))
    p.add_argument("--iterations", type=int, default=102)
    p.add_argument("--repeats", type=int, default=2, help="off/on pairs")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", default="outputs/bench_denormal")
    p.add_argument("overrides", nargs="*", help="key=value overrides for both runs")
    args = p.parse_args(argv)
    if args.iterations < 2 or args.repeats < 1:
        p.error("--iterations must be >= 2 and --repeats >= 1")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    times: dict[bool, list[float]] = {False: [], True: []}
    for rep in range(args.repeats):
        for flush in (False, True):
            run_dir = Path(args.out) / f"flush_{str(flush).lower()}_{rep}"
            cmd = [sys.executable, str(REPO / "tools" / "train.py"), "--config", args.config,
                   "data.name=mars", f"data.root={args.root}", *SMALL, f"data.workers={args.workers}",
                   f"train.iterations={args.iterations}", f"train.log_every={args.iterations}",
                   f"output_dir={run_dir}", f"train.flush_denormal={str(flush).lower()}", *args.overrides]
            done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
                print(f"error: training run {run_dir} failed: {tail[0]}", file=sys.stderr)
                return 1
            times[flush].append(seconds_per_iteration(run_dir))
            print(f"run {rep} flush_denormal={str(flush).lower():5s} {times[flush][-1]:.3f} s/it", flush=True)
    kept, flushed = statistics.median(times[False]), statistics.median(times[True])
    print(f"\ndenormals kept    {kept:.3f} s/it (median of {args.repeats})")
    print(f"denormals flushed {flushed:.3f} s/it (median of {args.repeats})")
    print(f"speed-up of flushing: {kept / flushed:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
