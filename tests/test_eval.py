"""reid.eval.evaluate against the literal per-query loop (docs/method.md, "Evaluation") and torchreid."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from reid.eval import EvalResult, aggregate_splits, evaluate, format_split_table
from tests.reference.eval_reference import evaluate_reference, torchreid_module


def random_case(seed: int, ties: bool):
    """Small random problem with distractors (pid 0), queries without matches and, optionally,
    many exactly equal distances."""
    rng = np.random.default_rng(seed)
    num_q, num_g = int(rng.integers(1, 25)), int(rng.integers(1, 70))
    q_pids, g_pids = rng.integers(0, 8, num_q), rng.integers(0, 8, num_g)
    q_cams, g_cams = rng.integers(0, 3, num_q), rng.integers(0, 3, num_g)
    dist = rng.integers(0, 4, (num_q, num_g)).astype(np.float64) if ties else rng.random(
        (num_q, num_g))
    return dist, q_pids, g_pids, q_cams, g_cams, rng


def assert_equal_to_reference(result: EvalResult, ref) -> None:
    cmc, mAP, ap, skipped = ref
    np.testing.assert_allclose(result.cmc, cmc, atol=1e-12)
    assert result.mAP == pytest.approx(mAP, abs=1e-12)
    expected_ap = np.array([np.nan if a is None else a for a in ap])
    np.testing.assert_allclose(result.ap, expected_ap, atol=1e-12)
    assert result.num_skipped == skipped


@pytest.mark.parametrize("protocol", ["standard", "mars-official"])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # sort-key path and stable-sort path
def test_matches_literal_loop(protocol: str, ties: bool, dtype) -> None:
    compared = 0
    for seed in range(120):
        dist, qp, gp, qc, gc, rng = random_case(seed, ties)
        dist = dist.astype(dtype)
        if protocol == "mars-official":
            gp = np.where(rng.random(gp.shape[0]) < 0.1, -1, gp)  # junk must be removed
        ref = evaluate_reference(dist, qp, gp, qc, gc, 10, protocol)
        if ref[3] == len(qp):
            with pytest.raises(ValueError, match="no query"):
                evaluate(dist, qp, gp, qc, gc, max_rank=10, protocol=protocol)
            continue
        result = evaluate(dist, qp, gp, qc, gc, max_rank=10, protocol=protocol,
                          chunk_size=int(rng.integers(1, 6)))
        assert_equal_to_reference(result, ref)
        compared += 1
    assert compared > 60


def test_hand_computed_values() -> None:
    # query pid 1 cam 0; gallery sorted by distance: [pid1 cam0 (junk), pid2, pid1, pid3, pid1]
    dist = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    g_pids, g_cams = np.array([1, 2, 1, 3, 1]), np.array([0, 1, 1, 1, 2])
    std = evaluate(dist, [1], g_pids, [0], g_cams, max_rank=4)
    # junk-free ranking: [2, 1, 3, 1] -> matches at 2 and 4: AP = (1/2 + 2/4) / 2
    assert std.mAP == pytest.approx(0.5)
    np.testing.assert_array_equal(std.cmc, [0, 1, 1, 1])
    official = evaluate(dist, [1], g_pids, [0], g_cams, max_rank=4, protocol="mars-official")
    # trapezoid, precision p_1 = 0 after the first (wrong) item: k=2: (1/2)(0 + 1/2)/2,
    # k=4: (1/2)(1/3 + 2/4)/2  -> 1/8 + 5/24 = 1/3
    assert official.mAP == pytest.approx(1 / 3)
    assert official.mAP < std.mAP


def test_ties_broken_by_gallery_index() -> None:
    dist = np.zeros((1, 4))  # all equal: the ranking is the gallery order
    result = evaluate(dist, [5], [7, 5, 7, 5], [0], [1, 1, 1, 1], max_rank=4)
    assert result.mAP == pytest.approx((1 / 2 + 2 / 4) / 2)
    np.testing.assert_array_equal(result.cmc, [0, 1, 1, 1])


def test_skipped_queries_are_counted_and_nan() -> None:
    dist = np.array([[0.3, 0.1], [0.2, 0.4], [0.5, 0.6]])
    result = evaluate(dist, [1, 2, 3], [1, 2], [0, 0, 0], [1, 0], max_rank=2)
    assert result.num_skipped == 2  # pid 2 only in the same camera; pid 3 absent
    assert result.num_scored == 1
    assert np.isnan(result.ap[1]) and np.isnan(result.ap[2])
    assert result.ap[0] == pytest.approx(0.5)
    cmc, mAP = result  # the (cmc, mAP) unpacking stays
    assert mAP == pytest.approx(0.5) and cmc.tolist() == [0.0, 1.0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtypes_and_torch_input(dtype) -> None:
    dist, qp, gp, qc, gc, _ = random_case(3, ties=True)
    dist = (dist / 4).astype(dtype)  # exactly representable in float16
    ref = evaluate_reference(dist.astype(np.float64), qp, gp, qc, gc, 10, "standard")
    assert_equal_to_reference(evaluate(dist, qp, gp, qc, gc, max_rank=10), ref)
    tensors = [torch.from_numpy(np.ascontiguousarray(a)) for a in (dist, qp, gp, qc, gc)]
    assert_equal_to_reference(evaluate(*tensors, max_rank=10), ref)


def test_chunk_size_independence() -> None:
    rng = np.random.default_rng(7)
    dist = rng.random((57, 300)).astype(np.float32)
    qp, gp = rng.integers(0, 20, 57), rng.integers(0, 20, 300)
    qc, gc = rng.integers(0, 6, 57), rng.integers(0, 6, 300)
    base = evaluate(dist, qp, gp, qc, gc)
    for chunk in (1, 2, 5, 56, 57, 1000):
        other = evaluate(dist, qp, gp, qc, gc, chunk_size=chunk)
        np.testing.assert_array_equal(other.cmc, base.cmc)
        np.testing.assert_array_equal(other.ap, base.ap)


@pytest.mark.parametrize("bad, match", [
    (dict(q_pids=np.zeros(2, int)), "q_pids has 2 entries, expected 3"),
    (dict(g_camids=np.zeros(5, int)), "g_camids has 5 entries, expected 4"),
    (dict(distmat=np.zeros(4)), "distmat must be a 2-D"),
    (dict(distmat=np.zeros((3, 0)), g_pids=np.zeros(0, int), g_camids=np.zeros(0, int)),
     "empty"),
    (dict(protocol="market"), "protocol='market' is unknown"),
    (dict(max_rank=0), "max_rank=0"),
])
def test_bad_input(bad: dict, match: str) -> None:
    args = dict(distmat=np.ones((3, 4)), q_pids=np.array([1, 2, 3]), g_pids=np.array([1, 2, 3, 4]),
                q_camids=np.zeros(3, int), g_camids=np.ones(4, int))
    args.update(bad)
    with pytest.raises(ValueError, match=match):
        evaluate(**args)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_distances(value: float) -> None:
    dist = np.ones((3, 4))
    dist[2, 1] = value
    with pytest.raises(ValueError, match="distmat has NaN or inf .*row 2, column 1"):
        evaluate(dist, [1, 2, 3], [1, 2, 3, 4], [0, 0, 0], [1, 1, 1, 1], chunk_size=2)


def test_equal_to_torchreid() -> None:
    rank = torchreid_module("reid/metrics/rank.py")
    if rank is None:
        pytest.skip("torchreid is not installed")
    for seed in range(10):
        rng = np.random.default_rng(seed)
        dist = rng.random((40, 200)).astype(np.float32)  # continuous: no ties
        qp, gp = rng.integers(0, 30, 40), rng.integers(0, 30, 200)
        qc, gc = rng.integers(0, 6, 40), rng.integers(0, 6, 200)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmc, mAP = rank.evaluate_rank(dist, qp, gp, qc, gc, max_rank=20,
                                          use_metric_cuhk03=False, use_cython=False)
        result = evaluate(dist, qp, gp, qc, gc, max_rank=20)
        np.testing.assert_allclose(result.cmc, cmc, atol=1e-6)
        assert result.mAP == pytest.approx(mAP, abs=1e-6)


def test_two_camera_aggregation() -> None:
    splits = []
    for values, mAP in (([0.5, 0.6, 0.7, 0.8], 0.4), ([0.7, 0.8, 0.9, 1.0], 0.6)):
        cmc = np.full(20, 0.65)
        cmc[[0, 4, 9, 19]] = values
        splits.append((cmc, mAP))
    summary = aggregate_splits(splits)
    assert summary.names == ("rank1", "rank5", "rank10", "rank20", "mAP")
    np.testing.assert_allclose(summary.mean, [60.0, 70.0, 80.0, 90.0, 50.0])
    np.testing.assert_allclose(summary.std, [10.0, 10.0, 10.0, 10.0, 10.0])
    assert summary.as_dict()["rank10"] == {"mean": pytest.approx(80.0), "std": pytest.approx(10.0)}
    table = format_split_table(summary)
    assert "| mean | 60.0 | 70.0 | 80.0 | 90.0 | 50.0 |" in table
    assert table.count("\n") == 5
    with pytest.raises(ValueError, match="split 0: CMC has 4 ranks"):
        aggregate_splits([(np.ones(4), 1.0)])


def test_negative_and_signed_zero_distances() -> None:
    dist = np.array([[0.0, -0.0, -0.5, 0.25, -0.0]], dtype=np.float32)
    g_pids, g_cams = np.array([3, 1, 2, 1, 1]), np.ones(5, int)
    # order: -0.5 (pid 2), then the tie 0.0 / -0.0 / -0.0 by index (pid 3, 1, 1), then 0.25 (pid 1)
    result = evaluate(dist, [1], g_pids, [0], g_cams, max_rank=5)
    assert result.mAP == pytest.approx((1 / 3 + 2 / 4 + 3 / 5) / 3)
    np.testing.assert_array_equal(result.cmc, [0, 0, 1, 1, 1])
    assert evaluate(dist.astype(np.float64), [1], g_pids, [0], g_cams).mAP == result.mAP


def test_million_item_gallery_in_chunks() -> None:
    rng = np.random.default_rng(11)
    num_g = 1_000_000
    dist = rng.random((4, num_g), dtype=np.float32)
    g_pids, g_cams = rng.integers(0, 1000, num_g), rng.integers(0, 6, num_g)
    q_pids, q_cams = np.array([1, 2, 3, 4]), np.zeros(4, int)
    result = evaluate(dist, q_pids, g_pids, q_cams, g_cams)
    expected = []
    for q in range(4):  # vectorised literal: stable argsort of the junk-free row
        keep = ~((g_pids == q_pids[q]) & (g_cams == q_cams[q]))
        hits = g_pids[keep][np.argsort(dist[q][keep], kind="stable")] == q_pids[q]
        found = np.flatnonzero(hits)
        expected.append(np.mean(np.arange(1, found.size + 1) / (found + 1)))
    np.testing.assert_allclose(result.ap, expected, atol=1e-12)
    assert evaluate(dist, q_pids, g_pids, q_cams, g_cams, chunk_size=1).mAP == result.mAP
