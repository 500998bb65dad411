"""A check for a machine with a GPU: the real-data recipe trains with finite losses in fp16 and fp32, and how fast.

Usage: osmcaa-reid bench gpu --out gpu_check.json              (tools/gpu_check.py: the same)
       osmcaa-reid bench gpu --device cpu --iterations 2 --height 64 --width 32 --backbone resnet18 \\
           --preset tiny --identities 3 --instances 2 --workers 0 --out smoke.json    (a CPU smoke test)

Trains ``--config`` (default mars_osm_caa: ResNet-50 at 256x128, P x K identity batches, OSM+CAA and
cross-entropy, Adam) from random initialisation (model.init=random) on a small synthetic MARS-layout
set written on the spot (``--preset``), through the project's own training run (loader, trainer,
hooks), for ``--iterations`` in each of ``--precisions``. It reports, into the JSON of ``--out``
with the device name:

- train.<precision>: whether every logged loss is finite (every iteration is logged), the steps
  skipped (fp16: the gradient scaler calibrating) and the final gradient scale, iterations/s (batch
  loading and the first step included), peak GPU memory (``torch.cuda.max_memory_allocated``);
- extract.<precision>: feature extraction frames/s of that model on the set's test tracklets;
- rerank: k-reciprocal re-ranking at MARS scale (``--rerank-query`` x ``--rerank-gallery`` random
  features of the model's dimension) with the features on the GPU and on the CPU: seconds of each
  and the largest difference of the re-ranked distances. ``rerank_features`` computes the distances
  and their top-k on the features' device; the neighbour sets, weights and Jaccard sums run on the
  CPU (numpy, scipy) either way;
- torchrun_nccl: ``torchrun --standalone`` of tools/train.py with train.dist_backend=nccl and tiny
  settings, on min(2, GPUs) processes. One process forms no process group (``init_distributed``),
  so NCCL and DDP themselves run only on a machine with 2 GPUs; the entry says which happened.

With ``--device cpu`` the GPU parts (rerank, torchrun_nccl) are written as ``{"skipped": "no
CUDA ..."}``. Exit code 1 when a loss was non-finite or a part failed (``problems`` lists them).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reid.config import Config, load_config
from reid.data.clip_dataset import EvalClips
from reid.engine.checkpoint import load_checkpoint
from reid.engine.environment import cpu_model_name
from reid.engine.extract import extract_features
from reid.eval.reranking import rerank_features
from reid.pipeline.builders import load_data
from reid.pipeline.config_checks import check_config
from reid.pipeline.training import run_training

REPO = Path(__file__).resolve().parents[2]
SKIPPED = "skipped: no CUDA (--device {device})"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_config(args: argparse.Namespace, root: Path, out: Path, precision: str) -> Config:
    o = ["data.name=synthetic", f"data.root={root}", f"synthetic.preset={args.preset}", "model.init=random",
         "model.allow_random_init=true", f"train.precision={precision}", f"train.iterations={args.iterations}",
         "train.log_every=1", "train.checkpoint_every=0", "train.tensorboard=false", "train.eval_every=0",
         f"device={args.device}", f"output_dir={out}"]
    for key, value in (("data.workers", args.workers), ("model.backbone", args.backbone), ("data.height", args.height),
                       ("data.width", args.width), ("data.num_identities", args.identities),
                       ("data.num_instances", args.instances)):
        if value is not None:
            o.append(f"{key}={value}")
    return check_config(load_config(args.config, [*o, *args.overrides]))


def train_and_extract(cfg: Config, dataset, device: torch.device) -> tuple[dict, dict]:
    """(train figures, extraction figures) of one run of ``cfg``."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model, state = run_training(cfg, dataset)
    _sync(device)
    losses = [h["loss"] for h in state.history if "loss" in h]
    scaler = load_checkpoint(Path(cfg.output_dir) / "checkpoint.pt", required=("scaler",))["scaler"]
    # every iteration is logged unless skipped; a skipped step's loss was finite unless counted in nonfinite_losses
    train = {"iterations": state.iteration, "losses_logged": len(losses),
             "all_losses_finite": state.nonfinite_losses == 0 and all(math.isfinite(x) for x in losses),
             "first_loss": losses[0] if losses else None, "last_loss": losses[-1] if losses else None,
             "skipped_steps": state.nonfinite_steps, "skipped_for_the_loss": state.nonfinite_losses,
             "final_grad_scale": scaler.get("scale"),
             "iterations_per_s": round(state.steps_timed / max(state.step_seconds, 1e-9), 3),
             "peak_gpu_memory_mib": round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
             if device.type == "cuda" else None}
    d = cfg.data
    tracklets = [*dataset.query, *dataset.gallery]
    frames = len(EvalClips(tracklets, seq_len=d.test_seq_len, max_frames=d.test_max_frames, transform=None)) \
        * d.test_seq_len
    amp = cfg.train.precision != "fp32"  # as the pipeline's evaluation extracts
    kwargs = {"height": d.height, "width": d.width, "seq_len": d.test_seq_len, "max_frames": d.test_max_frames,
              "batch_size": cfg.eval.batch_size, "workers": d.workers, "device": device, "amp": amp, "progress": False}
    extract_features(model, tracklets[:2], **kwargs)  # warm-up: allocations, cuDNN's search
    _sync(device)
    start = time.perf_counter()
    features = extract_features(model, tracklets, **kwargs)
    _sync(device)
    seconds = time.perf_counter() - start
    extract = {"tracklets": len(tracklets), "frames": frames, "seconds": round(seconds, 3),
               "frames_per_s": round(frames / seconds, 1), "amp": amp and device.type == "cuda",
               "features_finite": bool(np.isfinite(features).all()), "dim": int(features.shape[1])}
    return train, extract


def rerank_check(nq: int, ng: int, dim: int, device: torch.device, seed: int = 0) -> dict:
    """Re-rank random (nq, dim) x (ng, dim) features on ``device`` and on the CPU; times and differences."""
    g = torch.Generator().manual_seed(seed)
    query, gallery = torch.randn(nq, dim, generator=g), torch.randn(ng, dim, generator=g)
    start = time.perf_counter()
    on_cpu = rerank_features(query, gallery)
    cpu_seconds = time.perf_counter() - start
    q, gal = query.to(device), gallery.to(device)
    _sync(device)
    start = time.perf_counter()
    on_device = rerank_features(q, gal)
    device_seconds = time.perf_counter() - start
    diff = np.abs(on_cpu.astype(np.float64) - on_device)
    return {"query": nq, "gallery": ng, "dim": dim, "cpu_seconds": round(cpu_seconds, 3),
            "device_seconds": round(device_seconds, 3), "max_abs_difference": float(diff.max()),
            "entries_differing_over_1e-5": int((diff > 1e-5).sum()),
            "same_top1": float((on_cpu.argmin(1) == on_device.argmin(1)).mean()),
            "where": {"distances and top-k": str(device), "neighbour sets, weights, Jaccard": "cpu"}}


def torchrun_check(args: argparse.Namespace, root: Path, out: Path, processes: int) -> dict:
    """tools/train.py under torchrun with train.dist_backend=nccl, tiny settings, ``processes`` ranks."""
    script = REPO / "tools" / "train.py"
    target = [str(script)] if script.is_file() else ["-m", "reid.cli.main", "train"]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *target,
           "--no-eval", "--config", args.config, "data.name=synthetic", f"data.root={root}",
           f"synthetic.preset={args.preset}", "model.init=random", "model.allow_random_init=true",
           "model.backbone=resnet18", "data.height=64", "data.width=32", "data.num_identities=2",
           "data.num_instances=2", "data.workers=0", "train.iterations=4", "train.checkpoint_every=0",
           "train.tensorboard=false", "train.dist_backend=nccl", "device=cuda", f"output_dir={out}"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    log = (out / "log.txt").read_text() if (out / "log.txt").is_file() else ""
    first = next((line.split(": ", 1)[-1] for line in log.splitlines() if "world size" in line), None)
    return {"processes": processes, "returncode": done.returncode, "seconds": round(time.perf_counter() - start, 1),
            "first_log_line": first, "nccl_exercised": processes > 1 and done.returncode == 0,
            "note": None if processes > 1 else "one process forms no process group: NCCL and DDP need 2 GPUs",
            **({"stderr_tail": done.stderr[-3000:]} if done.returncode else {})}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog="\n".join(__doc__.splitlines()[2:5]),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (a smoke test; default cuda)")
    parser.add_argument("--out", type=Path, help="write the JSON here (it is printed either way)")
    parser.add_argument("--config", default="mars_osm_caa", help="the recipe to train (default mars_osm_caa)")
    parser.add_argument("--iterations", type=int, default=200, help="training iterations per precision")
    parser.add_argument("--precisions", nargs="+", default=["fp16", "fp32"], choices=["fp16", "fp32", "bf16"])
    parser.add_argument("--backbone", help="model.backbone (default: the config's)")
    parser.add_argument("--height", type=int, help="data.height (default: the config's)")
    parser.add_argument("--width", type=int, help="data.width (default: the config's)")
    parser.add_argument("--identities", type=int, help="data.num_identities, P (default: the config's)")
    parser.add_argument("--instances", type=int, help="data.num_instances, K (default: the config's)")
    parser.add_argument("--workers", type=int, help="data.workers, loader processes (default: the config's)")
    parser.add_argument("--preset", default="study", help="synthetic preset written for the run (default study)")
    parser.add_argument("--data-dir", type=Path, help="holds (or gets) the synthetic mars/ (default: a temp folder)")
    parser.add_argument("--rerank-query", type=int, default=1980, help="re-ranking queries (MARS: 1980)")
    parser.add_argument("--rerank-gallery", type=int, default=9330, help="re-ranking gallery (MARS: 9330)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    parser.add_argument("overrides", nargs="*", help="more config overrides for the runs, e.g. data.seq_len=2")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.exit(2, f"error: --device {args.device}, but CUDA is not available here; --device cpu for a smoke test\n")
    started = time.perf_counter()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model_name()
    report: dict = {"device": name, "device_type": device.type, "torch": torch.__version__, "cuda": torch.version.cuda,
                    "command": ["osmcaa-reid", "bench", "gpu", *argv], "settings": {}, "train": {}, "extract": {},
                    "problems": []}
    with tempfile.TemporaryDirectory(prefix="gpu_check-") as tmp:
        root = args.data_dir or Path(tmp) / "data"
        dataset = None
        for precision in args.precisions:
            cfg = run_config(args, root, Path(tmp) / precision, precision)
            if dataset is None:
                dataset = load_data(cfg)
            report["settings"] = {"backbone": cfg.model.backbone, "height": cfg.data.height, "width": cfg.data.width,
                                  "batch": f"{cfg.data.num_identities} x {cfg.data.num_instances} clips of "
                                           f"{cfg.data.seq_len} frames", "iterations": args.iterations}
            train, extract = train_and_extract(cfg, dataset, device)
            report["train"][precision], report["extract"][precision] = train, extract
            if not (train["all_losses_finite"] and extract["features_finite"]):
                report["problems"].append(f"{precision}: a non-finite loss or feature")
        if device.type == "cuda":
            dim = next(iter(report["extract"].values()))["dim"]
            report["rerank"] = rerank_check(args.rerank_query, args.rerank_gallery, dim, device)
            report["torchrun_nccl"] = torchrun_check(args, root, Path(tmp) / "torchrun",
                                                     min(2, torch.cuda.device_count()))
            if report["torchrun_nccl"]["returncode"]:
                report["problems"].append("torchrun_nccl: the run failed (stderr_tail)")
        else:
            report["rerank"] = report["torchrun_nccl"] = {"skipped": SKIPPED.format(device=args.device)}
    report["seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if report["problems"] else 0
