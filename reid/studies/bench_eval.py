"""Benchmark reid.eval.evaluate / rerank against the literal references and torchreid.

    .venv/bin/python tools/bench_eval.py --scale 1

MARS-shaped synthetic data: 1,980·S queries, 9,330·S gallery, 2,048-d, 626·S identities,
6 cameras, 10 % of the gallery distractors (pid 0). Every measurement runs in its own spawned
process; it reports wall time and peak RSS (ru_maxrss), total and above the RSS after loading its
inputs. References and torchreid run only at scale <= 1 (the dense re-ranking needs N² memory).
Each re-ranking time is also given as a multiple of its floor: the N²·D·2 FLOP of the all-pairs
distance products (N = queries + gallery) at this machine's float32 matmul rate, measured in the
same run (best of 5 ``torch.matmul`` of 4096x2048 @ 2048x8192, torch threads = the cores) before
and after the timings; the higher rate is used, so the floor is the lower one.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue as _queue
import resource
import sys
import tempfile
import time
import warnings

import numpy as np

DIM = 2048  # feature dimension (ResNet-50)
# The literal references live in the repository's tests/reference (not in the installed package).
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)


def sizes(scale: float) -> tuple[int, int, int]:
    """Queries, gallery items and identities at ``scale`` (1 = MARS)."""
    return round(1980 * scale), round(9330 * scale), round(626 * scale)


def make_data(scale: float, sigma: float, folder: str, matrices: bool) -> None:
    """Write features, labels and (if ``matrices``) the three euclidean distance blocks."""
    from reid.eval import pairwise_distance

    rng = np.random.default_rng(0)
    num_q, num_g, num_ids = sizes(scale)
    g_pids = rng.integers(1, num_ids + 1, num_g)
    g_pids[rng.random(num_g) < 0.1] = 0  # distractors
    q_pids = rng.choice(g_pids[g_pids > 0], num_q)
    centres = rng.standard_normal((num_ids + 1, DIM), dtype=np.float32)
    feats = []
    for pids in (q_pids, g_pids):
        x = centres[pids] + sigma * rng.standard_normal((len(pids), DIM), dtype=np.float32)
        x[pids == 0] = rng.standard_normal((int((pids == 0).sum()), DIM), dtype=np.float32) * (
            1 + sigma ** 2) ** 0.5
        feats.append(x)
    arrays = dict(q_feats=feats[0], g_feats=feats[1], q_pids=q_pids, g_pids=g_pids,
                  q_camids=rng.integers(0, 6, num_q), g_camids=rng.integers(0, 6, num_g))
    arrays["q_g"] = pairwise_distance(feats[0], feats[1], "euclidean")
    if matrices:
        arrays["q_q"] = pairwise_distance(feats[0], feats[0], "euclidean")
        arrays["g_g"] = pairwise_distance(feats[1], feats[1], "euclidean")
    for name, value in arrays.items():
        np.save(os.path.join(folder, name + ".npy"), value)


def _run(task: str, folder: str, repeat: int, queue: mp.Queue) -> None:
    """Child process: load inputs, time one function, save its output, report time and RSS."""
    warnings.simplefilter("ignore")
    sys.path.insert(0, ROOT)
    from reid.eval import evaluate, rerank, rerank_features
    from tests.reference.eval_reference import evaluate_reference, torchreid_module
    from tests.reference.rerank_reference import rerank_reference

    def load(*names: str) -> list[np.ndarray]:
        return [np.load(os.path.join(folder, n + ".npy")) for n in names]

    labels = ("q_pids", "g_pids", "q_camids", "g_camids")
    if task.startswith("evaluate"):
        args = load("q_g", *labels)
        fn = {"evaluate": lambda: tuple(evaluate(*args)),
              "evaluate_reference": lambda: evaluate_reference(*args, 50)[:2],
              "evaluate_torchreid": lambda: torchreid_module("reid/metrics/rank.py").evaluate_rank(
                  *args, max_rank=50, use_metric_cuhk03=False)}[task]
    elif task == "rerank_features":
        args = load("q_feats", "g_feats")
        fn = lambda: rerank_features(*args, "euclidean")  # noqa: E731
    else:
        args = load("q_g", "q_q", "g_g")
        fn = {"rerank": lambda: rerank(*args), "rerank_reference": lambda: rerank_reference(*args),
              "rerank_torchreid": lambda: torchreid_module("reid/utils/rerank.py").re_ranking(
                  *args)}[task]
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if task.startswith("evaluate"):
        out = np.concatenate([np.asarray(out[0], dtype=np.float64)[:50], [out[1]]])
    np.save(os.path.join(folder, f"out_{task}.npy"), out)
    queue.put((min(times), peak, peak - base))


def _matmul_rate(queue: mp.Queue) -> None:
    """Child process: best-of-5 float32 GFLOP/s of one large matmul on all cores."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    a, b = torch.randn(4096, 2048), torch.randn(2048, 8192)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    queue.put((2 * 4096 * 2048 * 8192 / best / 1e9, torch.get_num_threads()))


def _in_child(target, *args):
    """Run ``target(*args, queue)`` in a spawned process (the parent stays small: Linux children
    start with their parent's ru_maxrss) and return what it puts on the queue."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    while True:  # a child that dies (an exception, the OOM killer) must not leave the parent waiting
        try:
            result = queue.get(timeout=1.0)
            break
        except _queue.Empty:
            if not proc.is_alive():
                raise SystemExit(f"bench eval: the measurement {target.__name__}{args[:1]} failed in its process "
                                 f"(exit code {proc.exitcode}; its traceback is above)") from None
    proc.join()
    return result


def _make_data_child(scale: float, sigma: float, folder: str, matrices: bool, queue) -> None:
    sys.path.insert(0, ROOT)
    make_data(scale, sigma, folder, matrices)
    queue.put(True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--sigma", type=float, default=3.4, help="feature noise (sets accuracy)")
    parser.add_argument("--references", choices=("auto", "yes", "no"), default="auto")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(ROOT, "tests", "reference")):
        raise SystemExit(f"bench eval compares with the literal references in a checkout's tests/reference; "
                         f"none beside the package at {ROOT}: run it from the repository")
    refs = args.references == "yes" or (args.references == "auto" and args.scale <= 1)
    from tests.reference.eval_reference import torchreid_path

    has_torchreid = torchreid_path("reid/metrics/rank.py") is not None  # the parent stays small
    tasks = ["evaluate"] + (["evaluate_reference"] if refs else [])
    tasks += ["evaluate_torchreid"] if refs and has_torchreid else []
    tasks += (["rerank", "rerank_features", "rerank_reference"] if refs else ["rerank_features"])
    tasks += ["rerank_torchreid"] if refs and has_torchreid else []
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        _in_child(_make_data_child, args.scale, args.sigma, folder, refs)
        print(f"scale {args.scale}: data in {time.perf_counter() - start:.1f} s; "
              f"load {os.getloadavg()[0]:.2f}; torchreid evaluator: "
              + ("python (Cython not compiled)" if has_torchreid else "not installed"))
        rate_before, threads = _in_child(_matmul_rate)
        rows = {}
        for task in tasks:
            rows[task] = _in_child(_run, task, folder, 3 if task == "evaluate" else 1)
            print(f"{task:20s} {rows[task][0]:9.3f} s  peak {rows[task][1]:8.0f} MB  "
                  f"above inputs {rows[task][2]:8.0f} MB", flush=True)
        out = {t: np.load(os.path.join(folder, f"out_{t}.npy")) for t in tasks}
        rate_after, _ = _in_child(_matmul_rate)
    n = sum(sizes(args.scale)[:2])
    rate, flop = max(rate_before, rate_after), 2.0 * n * n * DIM
    floor = flop / (rate * 1e9)
    print(f"float32 matmul rate ({threads} threads): {rate_before:.1f} GFLOP/s before, "
          f"{rate_after:.1f} after; load {os.getloadavg()[0]:.2f} at the end")
    for task in (t for t in tasks if t.startswith("rerank")):
        print(f"{task} scale {args.scale:g}: {rows[task][0]:.1f} s = {rows[task][0] / floor:.2f}x "
              f"the floor ({flop / 1e12:.2f} TFLOP at {rate:.0f} GFLOP/s = {floor:.1f} s)")
    ours = out["evaluate"]
    print(f"rank-1 {ours[0]:.4f} rank-5 {ours[4]:.4f} mAP {ours[-1]:.4f}")
    pairs = [("evaluate", "evaluate_reference"), ("evaluate", "evaluate_torchreid"),
             ("rerank", "rerank_reference"), ("rerank", "rerank_torchreid"),
             ("rerank", "rerank_features"), ("rerank_features", "rerank_reference")]
    for mine, ref in pairs:
        if mine not in out or ref not in out:
            continue
        diff = float(np.abs(out[mine] - out[ref]).max())
        time_ratio = rows[ref][0] / rows[mine][0]
        mem_ratio = rows[ref][2] / max(rows[mine][2], 1.0)
        print(f"{mine} vs {ref}: max |diff| {diff:.2e}; {ref} takes {time_ratio:.1f}x the time, "
              f"{mem_ratio:.1f}x the memory above inputs")
