"""Chunked CMC / mAP from features (reid/eval/large_scale.py): the dense evaluation exactly, bounded memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from reid.eval.distance import _prepare, pairwise_distance
from reid.eval.large_scale import evaluate_features_chunked, memory_bound, prepare_gallery
from reid.eval.ranking import evaluate
from reid.search.faiss_index import build_faiss_index, exact_topk, faiss_search, found_fraction

ROOT = Path(__file__).resolve().parents[1]


def _labelled(rng: np.random.Generator, num_q: int, num_g: int, dim: int, *, integer: bool):
    """Queries and gallery of 12 ids on 3 cameras; integer features make many exact distance ties
    (and exact distances whatever the summation order); q pids 98/99 have no gallery match (with
    the queries appended, MARS-official, only 99 is sure to be skipped: its one copy is junk)."""
    if integer:
        qf = rng.integers(-2, 3, size=(num_q, dim)).astype(np.float32)
        gf = rng.integers(-2, 3, size=(num_g, dim)).astype(np.float32)
    else:
        qf = rng.standard_normal((num_q, dim)).astype(np.float32)
        gf = rng.standard_normal((num_g, dim)).astype(np.float32)
    q_pids, g_pids = rng.integers(0, 12, num_q), rng.integers(-1, 12, num_g)  # -1: MARS junk
    q_pids[:6] = 98  # standard: a whole first chunk (chunk <= 6) without any match, all skipped
    q_pids[-1] = 99
    return qf, gf, q_pids, g_pids, rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)


@pytest.mark.parametrize("protocol", ["standard", "mars-official"])
@pytest.mark.parametrize("metric, integer", [("euclidean", True), ("sqeuclidean", True), ("cosine", False)])
@pytest.mark.parametrize("chunk", [1, 5, 16, 500])
def test_chunked_equals_the_dense_evaluation_exactly(protocol, metric, integer, chunk):
    rng = np.random.default_rng(chunk)
    qf, gf, q_pids, g_pids, q_cams, g_cams = _labelled(rng, 47, 301, 6, integer=integer)
    if protocol == "mars-official":  # the gallery holds the queries, as the pipeline appends them
        gf, g_pids, g_cams = np.vstack([gf, qf]), np.concatenate([g_pids, q_pids]), np.concatenate([g_cams, q_cams])
    dense = evaluate(pairwise_distance(qf, gf, metric), q_pids, g_pids, q_cams, g_cams, max_rank=20,
                     protocol=protocol)
    got = evaluate_features_chunked(qf, gf, q_pids, g_pids, q_cams, g_cams, metric=metric, chunk=chunk,
                                    max_rank=20, protocol=protocol)
    assert 0 < dense.num_skipped < 47 and dense.cmc[0] < 1.0  # skipped queries, and misses to rank
    np.testing.assert_array_equal(got.cmc, dense.cmc)
    np.testing.assert_array_equal(got.ap, dense.ap)  # NaN at the same (skipped) queries
    assert got.mAP == dense.mAP and got.num_skipped == dense.num_skipped and got.protocol == protocol


def test_ties_across_chunks_are_broken_by_gallery_index():
    # Every gallery item at the same distance: the match's position is the number of non-junk
    # items before it, whichever chunk its query falls in.
    qf, gf = np.zeros((4, 3), np.float32), np.zeros((10, 3), np.float32)
    g_pids = np.array([5, 5, 5, 1, 5, 5, 5, 5, 2, 5])
    got = evaluate_features_chunked(qf, gf, [1, 2, 1, 2], g_pids, [0] * 4, [1] * 10, chunk=3, max_rank=10)
    np.testing.assert_array_equal(got.ap, [1 / 4, 1 / 9, 1 / 4, 1 / 9])
    np.testing.assert_array_equal(got.cmc, [0, 0, 0, .5, .5, .5, .5, .5, 1, 1])


def test_no_query_with_a_match_is_an_error():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="all 3 queries skipped"):
        evaluate_features_chunked(rng.random((3, 4)), rng.random((5, 4)), [7, 7, 8], [1, 2, 3, 4, 5],
                                  [0, 0, 0], [1, 1, 1, 1, 1], chunk=2)
    with pytest.raises(ValueError, match="chunk=0"):
        evaluate_features_chunked(rng.random((3, 4)), rng.random((5, 4)), [1, 1, 1], [1] * 5, [0] * 3, [1] * 5,
                                  chunk=0)


# Runs in a fresh process: its peak RSS (VmHWM, reset after setup) minus its RSS before the call.
# glibc's mmap threshold is fixed at 64 kB so that freed blocks go back to the system and the peak
# is what the function holds at once, not what the heap kept from earlier allocations. One torch
# thread: memory does not depend on it, and two threads on a shared 2-core machine crawl.
_MEASURE = textwrap.dedent("""
    import json, re, sys
    import numpy as np
    import torch
    from reid.eval.large_scale import evaluate_features_chunked

    torch.set_num_threads(1)

    def status(key):
        return int(re.search(key + r":\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024

    rng = np.random.default_rng(0)
    G, D = 50_000, 32
    if sys.argv[1] == "typical":  # 10,000 ids of 5 tracklets, queries noisy copies: few candidates a row
        ids = rng.integers(0, 10_000, G)
        gf = rng.standard_normal((10_000, D), dtype=np.float32)[ids]
        gf += 0.3 * rng.standard_normal((G, D), dtype=np.float32)
        rows = rng.choice(G, 1_000)
        qf, q_pids, g_pids = gf[rows] + 0.3 * rng.standard_normal((1_000, D), dtype=np.float32), ids[rows], ids
    else:  # random features, 50 ids: a query's farthest match is near the end, nearly all are candidates
        qf, gf = rng.standard_normal((16, D), dtype=np.float32), rng.standard_normal((G, D), dtype=np.float32)
        q_pids, g_pids = rng.integers(0, 50, 16), rng.integers(0, 50, G)
    cams = (np.zeros(len(qf), int), np.ones(G, int))
    evaluate_features_chunked(qf[:16], gf, q_pids[:16], g_pids, cams[0][:16], cams[1], chunk=16)  # warm-up
    before = status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current RSS
    r = evaluate_features_chunked(qf, gf, q_pids, g_pids, *cams, chunk=16)
    print(json.dumps([status("VmHWM") - before, r.rank(1)]))
""")


def _peak_above_inputs(case: str) -> tuple[int, float]:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(1 << 16), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", _MEASURE, case], env=env, cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    peak, rank1 = json.loads(out.stdout.strip().splitlines()[-1])
    return peak, rank1


def test_peak_memory_is_bounded_by_the_chunk_not_the_query_count():
    bound = memory_bound(50_000, 32, 16, "euclidean")
    dense = 1_000 * 50_000 * 4  # the typical case's (Q, G) float32 matrix alone: 200 MB
    (typical, rank1), (worst, _) = _peak_above_inputs("typical"), _peak_above_inputs("worst")
    print(f"peak above inputs: typical {typical / 1e6:.1f} MB, worst {worst / 1e6:.1f} MB, bound {bound / 1e6:.1f} MB")
    assert rank1 > 0.9  # the typical case does rank: most queries find their id first
    assert typical <= bound and worst <= bound, (typical, worst, bound)
    assert bound < dense / 10
    # The bound is not slack: the chunk's block and its temporaries alone are 16 x G x 12 bytes.
    assert worst > bound / 2, (worst, bound)


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_gallery_prepared_in_slices_is_bitwise_the_whole_gallery_call(metric):
    g = torch.from_numpy(np.random.default_rng(2).standard_normal((1000, 33)).astype(np.float32) * 3)
    whole = _prepare(g, metric)
    for got, want in zip(prepare_gallery(g, metric, rows=7), whole):
        assert torch.equal(got, want)


def test_found_fraction_counts_ties_with_the_kth_and_not_unfilled_slots():
    gallery = np.array([[0.0], [1.0], [2.0], [2.0], [5.0]], np.float32)
    queries = np.array([[0.0], [5.0]], np.float32)
    # exact 3rd nearest: 2.0 from query 0 (tied by items 2 and 3), 3.0 from query 1
    ids = np.array([[0, 3, 4], [4, -1, 0]])  # query 0: 0, 3 found, 4 not; query 1: 4 found, -1 and 0 not
    assert found_fraction(ids, np.array([2.0, 3.0]), queries, gallery, "euclidean") == 3 / 6


def test_ivf_trains_on_the_seeded_sample_and_scans_exactly_with_every_list():
    faiss = pytest.importorskip("faiss")
    x = np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32)
    index = build_faiss_index(x, "euclidean", "ivf", nlist=40, nprobe=40, train_size=40, seed=3)
    centroids = faiss.downcast_index(index.quantizer).reconstruct_n(0, 40)
    sample = x[np.sort(np.random.default_rng(3).choice(500, size=40, replace=False))]
    # k-means with as many points as lists keeps every point as a centroid: the sample is those rows
    np.testing.assert_array_equal(np.unique(centroids, axis=0), np.unique(sample, axis=0))
    exact_d, _ = exact_topk(x[:50], x, 5, "euclidean")
    assert found_fraction(faiss_search(index, x[:50], 5, "euclidean")[1], exact_d[:, -1], x[:50], x,
                          "euclidean") == 1.0
