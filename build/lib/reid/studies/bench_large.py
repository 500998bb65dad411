"""Million-tracklet galleries: chunked CMC/mAP, exact top-k and FAISS IVF / HNSW search.

Usage: python tools/bench_large.py [--gallery 1000000] [--queries 1000] [--dim 512] [--noise 0.5]
       [--metric cosine] [--chunk 64] [--nlist 4096] [--train-size 100000] [--nprobe 16 64 256]
       [--hnsw-gallery N] [--hnsw-m 16] [--ef-search 64 128 256] [--kinds ivf hnsw] [--out FILE.md]

Synthetic float32 features (``make_features``): G // 5 identities in a 32-d latent space mapped to
512-d, tracklets their centre plus noise, 6 cameras. Measures, in this one process:
``evaluate_features_chunked`` (time, peak RSS above its inputs against ``memory_bound``), exact
top-10 by chunked matmul (``exact_topk``, ``--chunk`` queries at a time: the ground truth), then
each FAISS index of the search tool (``build_faiss_index``): build time, memory, recall@1/10
against exact search for the queries (``found_fraction``), queries/s. ``--hnsw-gallery N`` builds
HNSW on the first N rows only (its build is the longest step: ~8 minutes at 1M on 2 cores; the
whole run takes ~13). Peak RSS is ``VmHWM`` after resetting it (``/proc/self/clear_refs``), with glibc
returning freed blocks of 64 kB or more; memory is the RSS growth. Details: docs/bench_large.md.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import re
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from reid.eval.large_scale import evaluate_features_chunked, memory_bound
from reid.search.faiss_index import FAISS_KINDS, build_faiss_index, exact_topk, faiss_search, found_fraction

CAMERAS = 6
MB = 1e6


def _status(key: str) -> int:
    """A byte count from /proc/self/status (VmRSS, VmHWM)."""
    return int(re.search(rf"{key}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) * 1024


def _return_freed_memory() -> None:
    """glibc: serve every allocation of 64 kB or more by mmap, so a freed block goes back to the
    system and RSS follows what is live (by default freed blocks under 32 MB can stay in the
    heap and count in later peaks)."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(-3, 1 << 16)  # M_MMAP_THRESHOLD
    except (OSError, AttributeError):
        pass  # not glibc: peaks may include memory the allocator kept


def _reset_peak() -> int:
    """Reset the peak RSS to the current RSS; returns that RSS."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    return _status("VmRSS")


def make_features(num_gallery: int, num_queries: int, dim: int, *, latent: int, noise: float, iso_noise: float,
                  seed: int = 0) -> dict:
    """Gallery and query features (float32) and labels; the queries' ids are gallery ids.

    Identities are standard-normal centres in a ``latent``-d space (embeddings of a trained model
    have a low intrinsic dimension; with full-rank isotropic identities no index beats a scan),
    mapped into ``dim`` by a random orthonormal map. A tracklet is its centre plus ``noise`` x
    N(0, 1) per latent dimension, mapped, plus isotropic noise of norm ~``iso_noise``.
    """
    rng = np.random.default_rng(seed)
    num_ids = max(1, num_gallery // 5)
    basis = np.linalg.qr(rng.standard_normal((dim, latent)))[0].T.astype(np.float32)  # (latent, dim)
    centres = rng.standard_normal((num_ids, latent), dtype=np.float32)

    def tracklets(pids: np.ndarray) -> np.ndarray:
        z = centres[pids] + noise * rng.standard_normal((len(pids), latent), dtype=np.float32)
        out = z @ basis
        out += (iso_noise / np.sqrt(dim)) * rng.standard_normal((len(pids), dim), dtype=np.float32)
        return out

    g_pids = rng.integers(0, num_ids, num_gallery)
    gf = np.empty((num_gallery, dim), dtype=np.float32)
    for r0 in range(0, num_gallery, 65536):  # in slices: no full-size temporaries
        gf[r0:r0 + 65536] = tracklets(g_pids[r0:r0 + 65536])
    q_pids = g_pids[rng.choice(num_gallery, num_queries, replace=False)]
    return {"qf": tracklets(q_pids), "gf": gf, "q_pids": q_pids, "g_pids": g_pids,
            "q_cams": rng.integers(0, CAMERAS, num_queries), "g_cams": rng.integers(0, CAMERAS, num_gallery)}


def bench_ranking(data: dict, metric: str, chunk: int) -> dict:
    labels = (data["q_pids"][:chunk], data["g_pids"], data["q_cams"][:chunk], data["g_cams"])
    evaluate_features_chunked(data["qf"][:chunk], data["gf"], *labels, metric=metric, chunk=chunk)  # warm-up
    before = _reset_peak()
    start = time.perf_counter()
    result = evaluate_features_chunked(data["qf"], data["gf"], data["q_pids"], data["g_pids"], data["q_cams"],
                                       data["g_cams"], metric=metric, chunk=chunk)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "above": _status("VmHWM") - before, "peak": _status("VmHWM"), "result": result,
            "bound": memory_bound(len(data["gf"]), data["gf"].shape[1], chunk, metric)}


def bench_exact(qf: np.ndarray, gf: np.ndarray, metric: str, chunk: int) -> dict:
    start = time.perf_counter()
    dist, ids = exact_topk(qf, gf, 10, metric, chunk_size=chunk)
    return {"seconds": time.perf_counter() - start, "dist": dist, "ids": ids}


def bench_index(kind: str, qf: np.ndarray, gf: np.ndarray, exact: dict, metric: str, settings: list[int],
                **build) -> list[dict]:
    """Build one index, then search the queries once per setting (IVF nprobe, HNSW efSearch)."""
    before = _reset_peak()
    start = time.perf_counter()
    index = build_faiss_index(gf, metric, kind, **build)
    seconds = time.perf_counter() - start
    peak = _status("VmHWM") - before
    gc.collect()
    memory = _status("VmRSS") - before
    rows = []
    for value in settings:
        if kind == "ivf":
            index.nprobe = value
        else:
            index.hnsw.efSearch = value
        faiss_search(index, qf[:10], 10, metric)  # warm-up
        t0 = time.perf_counter()
        _, ids = faiss_search(index, qf, 10, metric)
        search = time.perf_counter() - t0
        rows.append({"kind": kind, "gallery": len(gf), "value": value, "build": seconds, "memory": memory,
                     "peak": peak, "qps": len(qf) / search,
                     "r1": found_fraction(ids[:, :1], exact["dist"][:, 0], qf, gf, metric),
                     "r10": found_fraction(ids, exact["dist"][:, 9], qf, gf, metric), **build})
    del index
    gc.collect()
    return rows


def _name(row: dict) -> str:
    if row["kind"] == "ivf":
        return (f"IVF-Flat nlist {row['nlist']} (trained on {row['train_size']:,}), nprobe {row['value']}")
    return f"HNSW-Flat M {row['hnsw_m']}, efSearch {row['value']}"


def table(rows: list[dict], exact: dict, num_gallery: int, num_queries: int) -> str:
    lines = ["| search | gallery | build | index memory | build peak | recall@1 | recall@10 | queries/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|",
             f"| exact (chunked matmul, `exact_topk`) | {num_gallery:,} | - | - | - | 1 | 1 | "
             f"{num_queries / exact['seconds']:,.0f} |"]
    for r in rows:
        lines.append(f"| {_name(r)} | {r['gallery']:,} | {r['build']:.0f} s | {r['memory'] / MB:,.0f} MB | "
                     f"{r['peak'] / MB:,.0f} MB | {r['r1']:.3f} | {r['r10']:.3f} | {r['qps']:,.0f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gallery", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--latent", type=int, default=32, help="identity space dimension")
    parser.add_argument("--noise", type=float, default=0.5, help="tracklet noise per latent dimension (sets accuracy)")
    parser.add_argument("--iso-noise", type=float, default=0.5, help="isotropic noise norm in the feature space")
    parser.add_argument("--metric", default="cosine", help="as eval.metric (default cosine, the project's)")
    parser.add_argument("--chunk", type=int, default=64, help="queries per distance block")
    parser.add_argument("--kinds", nargs="+", choices=FAISS_KINDS, default=list(FAISS_KINDS), help="FAISS indexes")
    parser.add_argument("--nlist", type=int, default=4096)
    parser.add_argument("--train-size", type=int, default=100_000, help="IVF k-means sample")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 64, 256])
    parser.add_argument("--hnsw-gallery", type=int, default=0, help="HNSW on the first N rows (0: all)")
    parser.add_argument("--hnsw-m", type=int, default=16)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    _return_freed_memory()
    report = [f"command: python tools/bench_large.py {shlex.join(argv)}".rstrip(),
              f"load average (1 min) at start: {os.getloadavg()[0]:.1f}; torch threads {torch.get_num_threads()}"]
    print(report[-1], flush=True)
    start = time.perf_counter()
    data = make_features(args.gallery, args.queries, args.dim, latent=args.latent, noise=args.noise,
                         iso_noise=args.iso_noise)
    report.append(f"features: {args.gallery:,} x {args.dim} gallery ({data['gf'].nbytes / MB:,.0f} MB), "
                  f"{args.queries:,} queries, in {time.perf_counter() - start:.0f} s")
    print(report[-1], flush=True)

    rank = bench_ranking(data, args.metric, args.chunk)
    res = rank["result"]
    report.append(f"evaluate_features_chunked ({args.metric}, chunk {args.chunk}): {rank['seconds']:.1f} s; "
                  f"rank-1 {res.rank(1):.3f}, rank-10 {res.rank(10):.3f}, mAP {res.mAP:.3f}, {res.num_skipped} "
                  f"skipped; peak RSS {rank['peak'] / MB:,.0f} MB, {rank['above'] / MB:,.0f} MB above the inputs "
                  f"(bound {rank['bound'] / MB:,.0f} MB; a dense Q x G float32 matrix alone: "
                  f"{args.queries * args.gallery * 4 / MB:,.0f} MB); load {os.getloadavg()[0]:.1f}")
    print(report[-1], flush=True)

    exact = bench_exact(data["qf"], data["gf"], args.metric, args.chunk)
    report.append(f"exact top-10: {exact['seconds']:.1f} s ({args.queries / exact['seconds']:.0f} queries/s); "
                  f"load {os.getloadavg()[0]:.1f}")
    print(report[-1], flush=True)
    rows = []
    if "ivf" in args.kinds:
        rows += bench_index("ivf", data["qf"], data["gf"], exact, args.metric, args.nprobe, nlist=args.nlist,
                            train_size=args.train_size)
        print(f"ivf built in {rows[-1]['build']:.0f} s; load {os.getloadavg()[0]:.1f}", flush=True)
    if "hnsw" in args.kinds:
        sub = data["gf"][:args.hnsw_gallery or None]
        sub_exact = exact if len(sub) == len(data["gf"]) else bench_exact(data["qf"], sub, args.metric, args.chunk)
        rows += bench_index("hnsw", data["qf"], sub, sub_exact, args.metric, args.ef_search, hnsw_m=args.hnsw_m)
        print(f"hnsw built in {rows[-1]['build']:.0f} s; load {os.getloadavg()[0]:.1f}", flush=True)
    report.append(table(rows, exact, args.gallery, args.queries))
    report.append(f"load average (1 min) at end: {os.getloadavg()[0]:.1f}; total {time.perf_counter() - start:.0f} s")
    text = "\n\n".join(report) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0
