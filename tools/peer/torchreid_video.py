#!/usr/bin/env python
"""Train torchreid 0.2.5's video pipeline on a MARS-layout dataset and write ``<out>/metrics.json``.

Run it with the peer virtualenv (``make peer``), not with ``.venv``:

    .peer-venv/bin/python tools/peer/torchreid_video.py --root /data --out outputs/peer/torchreid/seed0

``--root`` is the parent of ``mars/{bbox_train,bbox_test,info}`` (torchreid's own ``mars`` class
reads it). Everything not set by a flag is torchreid's default: ResNet-18 (random init: nothing
can be downloaded), ``VideoTripletEngine`` (triplet margin 0.3 + label-smoothed cross-entropy,
both weight 1, frame-level losses), ``RandomIdentitySampler``, ``evenly`` frame sampling for train
and test, transforms random_flip + random_crop, Adam lr 3e-4 (weight decay 5e-4, constant),
average temporal pooling at test time, euclidean distance. ``--iterations`` becomes a whole number
of torchreid epochs (see ``epochs_for``); the metrics say how many iterations were trained.
``--save-distmat`` also writes ``<out>/distmat.npz``, the distances and labels torchreid ranked in its
plain evaluation, for the per-query comparison (``osmcaa-reid study queries --against``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch

# torchreid 0.2.5 needs no numpy 2 / torch 2.14 shim on the video/MARS path: np.bool (its only
# removed-alias use, in the cuhk03 metric) exists again in numpy 2, and it never imports
# torch._six. The Cython evaluator is not compiled; its Python fallback is used.
warnings.filterwarnings("ignore", message="Cython evaluation")
import torchreid  # noqa: E402  (after the warning filter)
import torchreid.reid.data.datasets.video.mars as torchreid_mars  # noqa: E402


def integer_loadmat(path: str, *args: Any, **kwargs: Any) -> dict:
    """``scipy.io.loadmat`` that turns integral float arrays into int64.

    The real MARS info files load as int32, and torchreid's ``Mars`` uses them as indices and
    slice bounds; data_prep/make_synthetic.py writes the same numbers as float64, which numpy
    refuses as indices. A float array holding any non-integral value is left as it is.
    """
    content = scipy.io.loadmat(path, *args, **kwargs)
    for key, value in content.items():
        if (isinstance(value, np.ndarray) and value.dtype.kind == "f" and value.size
                and np.all(value == np.round(value))):
            print(f"=> shim: {path}: {key} is {value.dtype}, read as int64 (MARS stores integers)")
            content[key] = value.astype(np.int64)
    return content


torchreid_mars.loadmat = integer_loadmat  # the name torchreid's mars.py imported from scipy.io

RANKS = [1, 5, 10, 20]  # torchreid's default CMC ranks, printed by Engine._evaluate
MAX_RANK = 50  # torchreid's default evaluate_rank(max_rank=...)


def smallest_ranked_gallery(query: list[tuple], gallery: list[tuple]) -> int:
    """The fewest gallery tracklets any query is ranked against (same pid and camera removed)."""
    return min(sum(1 for g in gallery if not (g[1] == q[1] and g[2] == q[2])) for q in query)


def limit_max_rank(max_rank: int) -> None:
    """Make torchreid's evaluation pass ``max_rank`` (instead of 50) to ``evaluate_rank``.

    Only for galleries smaller than 50: torchreid's Python evaluator cuts each query's CMC to
    ``min(50, num_gallery)`` entries, but a query ranks only the gallery minus its own pid and
    camera, so the rows differ in length and ``np.asarray(all_cmc)`` raises. Rank-1 and mAP do
    not depend on max_rank. The engine calls ``metrics.evaluate_rank`` through the module, so
    replacing the module attribute reaches it.
    """
    original = torchreid.reid.metrics.evaluate_rank

    def evaluate_rank(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_camids: np.ndarray,
                      g_camids: np.ndarray, max_rank: int = max_rank, **kwargs: Any) -> tuple:
        return original(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank, **kwargs)

    torchreid.reid.metrics.evaluate_rank = evaluate_rank


class DistanceRecorder:
    """Keeps the distances and labels of the latest call of torchreid's ``metrics.evaluate_rank``.

    The engine ranks with ``metrics.evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, ...)``
    looked up on the module at each call (as ``limit_max_rank`` relies on too), so wrapping the
    module attribute sees the (Q, G) matrix torchreid ranked, in its query and gallery order.
    """

    def __init__(self) -> None:
        self.last: dict[str, np.ndarray] | None = None

    def install(self) -> None:
        original = torchreid.reid.metrics.evaluate_rank

        def evaluate_rank(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, q_camids: np.ndarray,
                          g_camids: np.ndarray, *args: Any, **kwargs: Any) -> tuple:
            self.last = {"distmat": np.array(distmat, dtype=np.float32), "q_pids": np.array(q_pids),
                         "g_pids": np.array(g_pids), "q_camids": np.array(q_camids), "g_camids": np.array(g_camids)}
            return original(distmat, q_pids, g_pids, q_camids, g_camids, *args, **kwargs)

        torchreid.reid.metrics.evaluate_rank = evaluate_rank


def save_distances(path: Path, recorded: dict[str, np.ndarray] | None) -> None:
    """Write recorded distances and labels as ``.npz`` (a temporary file renamed into place): the
    input of ``osmcaa-reid study queries --against`` (docs/query_analysis.md)."""
    if recorded is None:
        raise SystemExit("--save-distmat: torchreid's evaluation never called metrics.evaluate_rank")
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, **recorded)
    os.replace(tmp, path)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="folder holding mars/{bbox_train,bbox_test,info}")
    parser.add_argument("--out", required=True, help="output folder (metrics.json, tensorboard log, checkpoint)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--seq-len", type=int, default=4, help="frames per training and test clip")
    parser.add_argument("--num-identities", type=int, default=8, help="P: identities per batch")
    parser.add_argument("--num-instances", type=int, default=4, help="K: tracklets per identity")
    parser.add_argument("--iterations", type=int, default=2000,
                        help="wanted training iterations (rounded up to whole epochs)")
    parser.add_argument("--workers", type=int, default=2, help="data loader processes")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--print-freq", type=int, default=20, help="torchreid's log line every N batches")
    parser.add_argument("--no-rerank", action="store_true", help="skip the second, re-ranked evaluation")
    parser.add_argument("--save-distmat", action="store_true",
                        help="also write <out>/distmat.npz: the plain evaluation's query x gallery distances and "
                             "labels, for osmcaa-reid study queries --against")
    args = parser.parse_args(argv)
    positive = ("height", "width", "seq_len", "num_identities", "num_instances", "iterations", "threads", "print_freq")
    for name in positive:
        if getattr(args, name) < 1:
            raise SystemExit(f"--{name.replace('_', '-')}: expected a positive integer, got {getattr(args, name)}")
    if args.workers < 0:
        raise SystemExit(f"--workers: expected 0 or more, got {args.workers}")
    mars = Path(args.root) / "mars"
    for sub in ("bbox_train", "bbox_test", "info"):
        if not (mars / sub).is_dir():
            raise SystemExit(f"--root {args.root}: expected a MARS layout, but {mars / sub} is not a folder")
    return args


class CountingVideoTripletEngine(torchreid.engine.VideoTripletEngine):
    """torchreid's engine, unchanged, plus counters: batches trained, training seconds, eval results."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.iterations_done = 0
        self.train_seconds = 0.0  # whole epochs: data loading, worker start-up, steps, logging
        self.step_seconds = 0.0  # forward_backward only
        self.evaluations: list[tuple[float, float]] = []  # (rank1, mAP) as fractions, in call order

    def forward_backward(self, data: dict) -> dict:
        start = time.perf_counter()
        summary = super().forward_backward(data)
        self.step_seconds += time.perf_counter() - start
        self.iterations_done += 1
        return summary

    def train(self, *args: Any, **kwargs: Any) -> None:  # one epoch; evaluation is not inside it
        start = time.perf_counter()
        super().train(*args, **kwargs)
        self.train_seconds += time.perf_counter() - start

    def _evaluate(self, *args: Any, **kwargs: Any) -> tuple[float, float]:
        rank1, mAP = super()._evaluate(*args, **kwargs)
        self.evaluations.append((float(rank1), float(mAP)))
        return rank1, mAP


def measured_batches_per_epoch(sampler: torch.utils.data.Sampler, batch_size: int, trials: int = 3) -> list[int]:
    """Full batches one pass of ``sampler`` yields, for ``trials`` dry passes.

    ``RandomIdentitySampler.__len__`` is an upper bound (its own TODO says so): a pass stops once
    fewer than P identities have tracklets left, so it yields fewer batches than ``len(loader)``.
    The dry passes draw from Python's and NumPy's global generators, whose states are restored, so
    training sees the same random numbers as without them.
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        return [len(list(iter(sampler))) // batch_size for _ in range(trials)]
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def epochs_for(iterations: int, batches_per_epoch: float) -> int:
    """The whole number of epochs that trains at least ``iterations`` batches (at least one)."""
    if batches_per_epoch <= 0:
        raise SystemExit("torchreid's RandomIdentitySampler yields no full batch on this dataset: "
                         "lower --num-identities or --num-instances")
    return max(1, math.ceil(iterations / batches_per_epoch))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torchreid.utils.set_random_seed(args.seed)
    use_gpu = torch.cuda.is_available()

    batch_size = args.num_identities * args.num_instances
    datamanager = torchreid.data.VideoDataManager(
        root=args.root, sources="mars", height=args.height, width=args.width,
        transforms=["random_flip", "random_crop"], use_gpu=use_gpu,
        batch_size_train=batch_size, batch_size_test=3, workers=args.workers,
        num_instances=args.num_instances, train_sampler="RandomIdentitySampler",
        seq_len=args.seq_len, sample_method="evenly",
    )
    loader = datamanager.train_loader
    measured = measured_batches_per_epoch(loader.sampler, batch_size)
    per_epoch = float(np.mean(measured))
    epochs = epochs_for(args.iterations, per_epoch)
    print(f"=> {args.iterations} iterations wanted; the sampler yields {measured} batches per epoch "
          f"(len(loader) = {len(loader)}): training {epochs} epochs")

    model = torchreid.models.build_model(name="resnet18", num_classes=datamanager.num_train_pids,
                                         loss="triplet", pretrained=False, use_gpu=use_gpu)
    if use_gpu:
        model = model.cuda()
    optimizer = torchreid.optim.build_optimizer(model, optim="adam", lr=3e-4)
    # A constant learning rate, what the engine's default scheduler=None means; but Engine.save_model
    # calls scheduler.state_dict(), so it gets a MultiStepLR without milestones instead of None.
    scheduler = torchreid.optim.build_lr_scheduler(optimizer, lr_scheduler="multi_step", stepsize=[])
    engine = CountingVideoTripletEngine(datamanager, model, optimizer, margin=0.3, scheduler=scheduler,
                                        use_gpu=use_gpu, label_smooth=True, pooling_method="avg")
    ranks = RANKS
    test_sets = datamanager.test_dataset["mars"]
    smallest = smallest_ranked_gallery(test_sets["query"], test_sets["gallery"])
    if smallest < MAX_RANK:
        if smallest < 1:
            raise SystemExit(f"--root {args.root}: a query has no gallery tracklet from another camera or identity")
        print(f"=> shim: a query ranks only {smallest} gallery tracklets: evaluate_rank(max_rank={smallest})")
        limit_max_rank(smallest)
        ranks = [r for r in RANKS if r <= smallest]
    recorder = DistanceRecorder()
    if args.save_distmat:
        recorder.install()
    engine.run(save_dir=str(out), max_epoch=epochs, print_freq=args.print_freq, dist_metric="euclidean",
               normalize_feature=False, rerank=False, ranks=ranks)
    if not engine.evaluations:
        raise SystemExit("torchreid's engine.run finished without an evaluation")
    rank1, mAP = engine.evaluations[-1]
    results = {"plain": {"rank1": round(100 * rank1, 2), "mAP": round(100 * mAP, 2)}}
    if args.save_distmat:
        save_distances(out / "distmat.npz", recorder.last)
    if not args.no_rerank:
        engine.test(dist_metric="euclidean", normalize_feature=False, save_dir=str(out), ranks=ranks, rerank=True)
        rank1, mAP = engine.evaluations[-1]
        results["re-ranked"] = {"rank1": round(100 * rank1, 2), "mAP": round(100 * mAP, 2)}

    iterations = engine.iterations_done
    metrics = {
        "results": results,
        "iterations": iterations,
        "iterations_wanted": args.iterations,
        "epochs": epochs,
        "batches_per_epoch_measured": measured,
        "batches_per_epoch_len": len(loader),
        "train_seconds": round(engine.train_seconds, 3),
        "seconds_per_iteration": round(engine.train_seconds / iterations, 4) if iterations else None,
        # forward, loss, backward and optimizer step only: without data loading and the loader's
        # worker start-up, which torchreid pays once per epoch (a lot with few batches per epoch)
        "step_seconds_per_iteration": round(engine.step_seconds / iterations, 4) if iterations else None,
        "settings": {
            "torchreid": torchreid.__version__, "torch": torch.__version__, "seed": args.seed,
            "model": "resnet18", "pretrained": False, "height": args.height, "width": args.width,
            "seq_len": args.seq_len, "num_identities": args.num_identities, "num_instances": args.num_instances,
            "batch_size": batch_size, "sample_method": "evenly", "transforms": ["random_flip", "random_crop"],
            "optimizer": "adam", "lr": 3e-4, "weight_decay": 5e-4, "lr_schedule": "constant",
            "margin": 0.3, "label_smooth": True,
            "pooling": "avg", "dist_metric": "euclidean", "workers": args.workers, "threads": args.threads,
            "device": "cuda" if use_gpu else "cpu", "num_train_pids": datamanager.num_train_pids,
        },
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    for name, m in results.items():
        print(f"{name}: rank-1 {m['rank1']:.2f}  mAP {m['mAP']:.2f}")
    print(f"iterations {iterations} ({epochs} epochs)  train {metrics['train_seconds']:.1f} s  "
          f"{metrics['seconds_per_iteration']} s/it ({metrics['step_seconds_per_iteration']} s/it in the steps)")
    print(f"metrics: {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
