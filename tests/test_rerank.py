"""reid.eval.reranking against the literal dense reference (docs/method.md, "k-reciprocal re-ranking") and torchreid."""

from __future__ import annotations

import sys
import tracemalloc

import numpy as np
import pytest

from reid.eval import pairwise_distance, rerank, rerank_features
from tests.reference.eval_reference import torchreid_module
from tests.reference.rerank_reference import rerank_reference

rerank_module = sys.modules["reid.eval.reranking"]  # the name reid.eval.reranking is the function


def blocks(d: np.ndarray, num_q: int):
    return d[:num_q, num_q:], d[:num_q, :num_q], d[num_q:, num_q:]


@pytest.mark.parametrize("seed", range(12))
def test_equal_to_reference_random(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num_q, num_g = int(rng.integers(2, 30)), int(rng.integers(5, 90))
    x = rng.standard_normal((num_q + num_g, int(rng.integers(2, 16))))
    metric = ("euclidean", "sqeuclidean", "cosine")[seed % 3]
    d = pairwise_distance(x, x, metric)
    d = d.astype(np.float32) if seed % 2 else d
    k1, k2 = int(rng.integers(1, 25)), int(rng.integers(1, 8))
    lam = float(rng.random())
    ref = rerank_reference(*blocks(d, num_q), k1, k2, lam)
    ours = rerank(*blocks(d, num_q), k1=k1, k2=k2, lambda_value=lam)
    assert ours.shape == (num_q, num_g) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


def test_defaults_and_asymmetric_negative_inputs() -> None:
    """Unrelated random blocks (not symmetric, some negative): columns, not rows, define R."""
    rng = np.random.default_rng(1)
    q_g, q_q, g_g = rng.random((30, 120)), rng.random((30, 30)), rng.random((120, 120))
    np.testing.assert_allclose(rerank(q_g, q_q, g_g), rerank_reference(q_g, q_q, g_g), atol=1e-5)
    q_g -= 0.2
    np.testing.assert_allclose(rerank(q_g, q_q, g_g), rerank_reference(q_g, q_q, g_g), atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_ties_follow_reference_argsort(seed: int) -> None:
    """Points on a small integer grid: many exactly equal distances across the k1 cut."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, (150, 3)).astype(np.float64)
    d = pairwise_distance(x, x, "sqeuclidean")
    q_g, q_q, g_g = blocks(d, 30)
    np.testing.assert_allclose(rerank(q_g, q_q, g_g), rerank_reference(q_g, q_q, g_g), atol=1e-5)


def test_chunk_size_independence(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((160, 8)).astype(np.float32)
    d = pairwise_distance(x, x, "euclidean")
    base = rerank(*blocks(d, 40))
    for elements in (160, 1000, 7777):
        monkeypatch.setattr(rerank_module, "_CHUNK_ELEMENTS", elements)
        np.testing.assert_array_equal(rerank(*blocks(d, 40)), base)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_features_equal_matrices(metric: str) -> None:
    rng = np.random.default_rng(2)
    q, g = rng.standard_normal((25, 12)), rng.standard_normal((100, 12))
    x = np.concatenate([q, g])
    expected = rerank_reference(*blocks(pairwise_distance(x, x, metric), 25))
    np.testing.assert_allclose(rerank_features(q, g, metric), expected, atol=1e-5)


def test_equal_to_torchreid() -> None:
    module = torchreid_module("reid/utils/rerank.py")
    if module is None:
        pytest.skip("torchreid is not installed")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 10)).astype(np.float32)
    d = pairwise_distance(x, x, "sqeuclidean")  # what torchreid feeds its re_ranking
    for k1, k2, lam in ((20, 6, 0.3), (7, 1, 0.5), (5, 3, 0.0)):
        expected = module.re_ranking(*blocks(d, 50), k1=k1, k2=k2, lambda_value=lam)
        np.testing.assert_allclose(rerank(*blocks(d, 50), k1, k2, lam), expected, atol=1e-5)


def test_no_dense_n_by_n_allocation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rerank_module, "_CHUNK_ELEMENTS", 1 << 18)  # chunks << N x N here
    rng = np.random.default_rng(4)
    num_q, n = 600, 6000
    x = rng.standard_normal((n, 16)).astype(np.float32)
    d = pairwise_distance(x, x, "euclidean")
    q_g, q_q, g_g = (np.ascontiguousarray(b) for b in blocks(d, num_q))
    del d
    tracemalloc.start()
    rerank(q_g, q_q, g_g)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # output (Q x G float32) + sparse V (~N * 2 k1 * k2) + chunks; a dense N x N float32: 4 N^2
    assert peak < 0.4 * n * n * 4, f"peak {peak / 1e6:.1f} MB: an N x N matrix was built?"


def test_bad_input() -> None:
    q_g, q_q, g_g = np.ones((3, 5)), np.ones((3, 3)), np.ones((5, 5))
    with pytest.raises(ValueError, match=r"g_g has shape \(4, 4\), expected \(5, 5\)"):
        rerank(q_g, q_q, np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"q_q has shape \(3, 2\)"):
        rerank(q_g, np.ones((3, 2)), g_g)
    with pytest.raises(ValueError, match="k1=0 must be >= 1"):
        rerank(q_g, q_q, g_g, k1=0)
    bad = g_g.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        rerank(q_g, q_q, bad)
    with pytest.raises(ValueError, match="q_g has shape"):
        rerank(np.ones((3, 0)), q_q, np.ones((0, 0)))
    with pytest.raises(ValueError, match="metric='hamming'"):
        rerank_features(np.ones((2, 3)), np.ones((4, 3)), "hamming")


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_collapsed_features_stay_finite(metric: str, caplog: pytest.LogCaptureFixture) -> None:
    """Every item identical (a collapsed model): all distances 0, the reference gives 0/0 = NaN."""
    x = np.tile(np.array([[0.3, -1.0, 2.0, 0.5]], dtype=np.float32), (40, 1))
    d = np.zeros((40, 40), dtype=np.float32)
    with caplog.at_level("WARNING", logger="reid.eval.reranking"):
        for out in (rerank(*blocks(d, 10)), rerank_features(x[:10], x[10:], metric)):
            assert out.shape == (10, 30) and np.isfinite(out).all()
    warnings = [r for r in caplog.records if "distance 0 from every item" in r.getMessage()]
    assert len(warnings) >= 1 and all(r.getMessage().count("\n") == 0 for r in warnings)
    with np.errstate(invalid="ignore"):
        assert np.isnan(rerank_reference(*blocks(d, 10))).any()  # what the fix is about


def test_one_zero_column_keeps_the_others_exact() -> None:
    """A single degenerate item: every other column normalises as the reference does."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((60, 6))
    d = pairwise_distance(x, x, "euclidean")
    d[:, 3] = 0.0  # item 3 (a query) is at distance 0 from everything, in its column only
    q_g, q_q, g_g = blocks(d, 15)
    ours = rerank(q_g, q_q, g_g, k1=6, k2=3)
    with np.errstate(invalid="ignore", divide="ignore"):
        ref = rerank_reference(q_g, q_q, g_g, 6, 3, 0.3)
    assert np.isfinite(ours).all()
    finite = np.isfinite(ref)
    assert finite.sum() > 0.5 * ref.size
    np.testing.assert_allclose(ours[finite], ref[finite], atol=1e-5)


def test_duplicate_features_equal_reference() -> None:
    rng = np.random.default_rng(8)
    x = rng.standard_normal((30, 5))
    x = np.concatenate([x, x[:20]])  # 20 exact duplicates: zero distances, no zero column
    d = pairwise_distance(x, x, "euclidean")
    np.testing.assert_allclose(rerank(*blocks(d, 12), k1=5, k2=2),
                               rerank_reference(*blocks(d, 12), 5, 2, 0.3), atol=1e-5)


@pytest.mark.parametrize("seed", range(9))
def test_features_equal_reference_random(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """rerank_features against the literal loop: every metric, float32 and float64 features,
    several column chunks of uneven size, random k1, k2, lambda."""
    rng = np.random.default_rng(100 + seed)
    num_q, num_g = int(rng.integers(2, 40)), int(rng.integers(5, 120))
    x = rng.standard_normal((num_q + num_g, int(rng.integers(2, 24))))
    x = x.astype(np.float32) if seed % 2 else x
    metric = ("euclidean", "sqeuclidean", "cosine")[seed % 3]
    k1, k2, lam = int(rng.integers(1, 25)), int(rng.integers(1, 8)), float(rng.random())
    n = num_q + num_g
    monkeypatch.setattr(rerank_module, "_PRODUCT_ELEMENTS", n * int(rng.integers(1, 20)))
    ref = rerank_reference(*blocks(pairwise_distance(x, x, metric), num_q), k1, k2, lam)
    ours = rerank_features(x[:num_q], x[num_q:], metric, k1=k1, k2=k2, lambda_value=lam)
    assert ours.shape == (num_q, num_g) and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=0)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine"])
def test_features_ties_follow_reference_argsort(metric: str) -> None:
    """Integer grid features: distances are exact, so many are equal across the cuts of R."""
    rng = np.random.default_rng(11)
    x = rng.integers(0, 3, (150, 3)).astype(np.float64) + (metric == "cosine")
    expected = rerank_reference(*blocks(pairwise_distance(x, x, metric), 30))
    np.testing.assert_allclose(rerank_features(x[:30], x[30:], metric), expected, atol=1e-5)


def test_features_weights_beyond_kept_neighbours(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep only R's first num + 1 items: many weights of V are then computed alone, and must
    equal the reference all the same."""
    monkeypatch.setattr(rerank_module, "_kept_width", lambda num, k1, n, computed: min(n, num + 1))
    gathered = []
    gather = rerank_module._Features.gather
    monkeypatch.setattr(rerank_module._Features, "gather", lambda self, rows, cols: (
        gathered.append(rows.size) or gather(self, rows, cols)))
    rng = np.random.default_rng(12)
    x = rng.standard_normal((200, 6)).astype(np.float32)
    expected = rerank_reference(*blocks(pairwise_distance(x, x, "euclidean"), 40), 8, 4, 0.3)
    np.testing.assert_allclose(rerank_features(x[:40], x[40:], k1=8, k2=4), expected, atol=1e-5)
    assert sum(gathered) > 50  # of ~1,100 weights


def test_features_compute_each_column_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The column pass computes every distance once, the (Q, G) block included; chunks never
    straddle the query / gallery border, and their size does not change the result."""
    calls = []
    keys = rerank_module._Features.keys
    monkeypatch.setattr(rerank_module._Features, "keys",
                        lambda self, c0, c1: calls.append((c0, c1)) or keys(self, c0, c1))
    rng = np.random.default_rng(13)
    q, g = rng.standard_normal((37, 16)), rng.standard_normal((151, 16))
    base = rerank_features(q, g)
    assert calls == [(0, 37), (37, 188)]
    for elements in (188, 188 * 10, 188 * 36):
        calls.clear()
        monkeypatch.setattr(rerank_module, "_PRODUCT_ELEMENTS", elements)
        np.testing.assert_allclose(rerank_features(q, g), base, atol=1e-6, rtol=0)
        covered = np.concatenate([np.arange(c0, c1) for c0, c1 in calls])
        np.testing.assert_array_equal(covered, np.arange(188))
        assert all(c1 <= 37 or c0 >= 37 for c0, c1 in calls)


def test_features_bad_values() -> None:
    q, g = np.ones((3, 4), dtype=np.float32), np.ones((6, 4), dtype=np.float32)
    q[1, 2] = np.nan
    for metric in ("euclidean", "cosine"):
        with pytest.raises(ValueError, match="query features have NaN or inf"):
            rerank_features(q, g, metric)
    g[0, 0] = np.inf
    with pytest.raises(ValueError, match="gallery features have NaN or inf"):
        rerank_features(np.ones((3, 4)), g)
    with pytest.raises(ValueError, match="empty query set or gallery"):
        rerank_features(np.ones((0, 4)), np.ones((6, 4)))
    with pytest.raises(ValueError, match="squared norms overflow float32"):
        rerank_features(np.full((3, 4), 1e19, dtype=np.float32), np.ones((6, 4), np.float32))
