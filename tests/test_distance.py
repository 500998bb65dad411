"""reid.eval.distance: pairwise distances and top-k search against literal loops."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from reid.eval import pairwise_distance, topk_neighbours
from reid.search.faiss_index import flat_topk


def literal(q: np.ndarray, g: np.ndarray, metric: str) -> np.ndarray:
    q, g = q.astype(np.float64), g.astype(np.float64)
    out = np.empty((len(q), len(g)))
    for i, a in enumerate(q):
        for j, b in enumerate(g):
            if metric == "cosine":
                out[i, j] = 1 - a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
            else:
                sq = float(np.sum((a - b) ** 2))
                out[i, j] = np.sqrt(sq) if metric == "euclidean" else sq
    return out


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean"])
@pytest.mark.parametrize("dtype, tol",
                         [(np.float16, 2e-2), (np.float32, 1e-4), (np.float64, 1e-10)])
def test_numpy_matches_literal(metric: str, dtype, tol: float) -> None:
    rng = np.random.default_rng(0)
    q, g = rng.standard_normal((7, 5)).astype(dtype), rng.standard_normal((11, 5)).astype(dtype)
    out = pairwise_distance(q, g, metric, chunk_size=3)
    assert isinstance(out, np.ndarray) and out.shape == (7, 11)
    assert out.dtype == (np.float64 if dtype == np.float64 else np.float32)
    np.testing.assert_allclose(out, literal(q, g, metric), atol=tol, rtol=tol)


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean"])
def test_torch_and_chunk_independence(metric: str) -> None:
    rng = np.random.default_rng(1)
    q, g = rng.standard_normal((20, 6)), rng.standard_normal((13, 6))
    expected = pairwise_distance(q, g, metric)
    for chunk in (1, 4, 19, 20, 100):  # BLAS may block a 1-row product differently: last bits
        np.testing.assert_allclose(pairwise_distance(q, g, metric, chunk_size=chunk), expected,
                                   rtol=0, atol=1e-12)
    out = pairwise_distance(torch.from_numpy(q), torch.from_numpy(g), metric)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), literal(q, g, metric), atol=1e-10)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_stay_on_device() -> None:
    q, g = torch.randn(9, 4, device="cuda"), torch.randn(5, 4, device="cuda")
    out = pairwise_distance(q, g, "euclidean", chunk_size=2)
    assert out.device.type == "cuda"
    np.testing.assert_allclose(out.cpu().numpy(), literal(q.cpu().numpy(), g.cpu().numpy(),
                                                          "euclidean"), atol=1e-4)


def test_self_distance_is_zero_not_negative() -> None:
    x = np.random.default_rng(2).standard_normal((30, 64)).astype(np.float32) * 100
    d = pairwise_distance(x, x, "sqeuclidean")
    assert d.min() >= 0


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean"])
def test_topk_torch(metric: str) -> None:
    rng = np.random.default_rng(3)
    q, g = rng.standard_normal((15, 8)), rng.standard_normal((40, 8))
    dist, idx = topk_neighbours(q, g, 5, metric, chunk_size=4)
    full = literal(q, g, metric)
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1, kind="stable")[:, :5])
    np.testing.assert_allclose(dist, np.sort(full, axis=1)[:, :5], atol=1e-10)
    assert topk_neighbours(q, g[:3], 5, metric)[1].shape == (15, 3)  # k cut to G


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "sqeuclidean"])
def test_topk_faiss_equals_torch(metric: str) -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(4)
    q, g = rng.standard_normal((25, 16)), rng.standard_normal((500, 16))
    dist, idx = flat_topk(q, g, 10, metric)
    expected_dist, expected_idx = topk_neighbours(q, g, 10, metric)
    np.testing.assert_array_equal(idx, expected_idx)
    np.testing.assert_allclose(dist, expected_dist, atol=1e-4)


def test_faiss_missing_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes ``import faiss`` fail
    with pytest.raises(ImportError, match="pip install faiss-cpu"):
        flat_topk(np.ones((2, 3)), np.ones((4, 3)), 2, "euclidean")


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="metric='manhattan' is unknown"):
        pairwise_distance(np.ones((2, 3)), np.ones((2, 3)), "manhattan")
    with pytest.raises(ValueError, match="query has dimension 3 but gallery has 4"):
        pairwise_distance(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"gallery must be \(N, D\)"):
        pairwise_distance(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="gallery is empty"):
        topk_neighbours(np.ones((2, 3)), np.ones((0, 3)), 2)
