"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), as in docs/method.md, "k-reciprocal re-ranking".

Names follow the reference: O = [[q_q, q_g], [q_gᵀ, g_g]] (N x N, N = Q + G), D[i, j] =
float32(O[j, i]²) / max_a float32(O[a, i]²), R = argsort of each row of D. No N x N matrix is
built: column chunks of O give the first K + 1 entries of each row of R by ``torch.topk`` (the
order of D's row is the order of |O|'s column), V is a sparse matrix with ~2·k1 non-zeros a row,
and the Jaccard term of a chunk of queries is summed through an inverted index of V's columns.
Memory: O(N·k1·k2 + Q·G) plus the inputs (or, with ``rerank_features``, plus the features).

Ties: only the *sets* R[i, :p] for p in {round(k1/2)+1, k1+1, k2} enter the algorithm. When D's row
has equal values across one of those cuts, the set depends on the sort; the reference's
``np.argsort`` (introsort / SIMD sort, not stable) decides it. Such rows are detected and sorted
with that same ``np.argsort`` call on the same float32 row, so neighbour sets match torchreid's
``re_ranking`` exactly (same numpy); all other rows have a unique answer.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from reid.eval.distance import METRICS, as_distance_matrix, pairwise_distance

logger = logging.getLogger(__name__)

_CHUNK_ELEMENTS = 1 << 23


class _Matrices:
    """Distance source from the three dense blocks; ``columns(c0, c1)`` is O[:, c0:c1]ᵀ (c, N)."""

    def __init__(self, q_g: Any, q_q: Any, g_g: Any) -> None:
        self.q_g, self.q_q, self.g_g = (as_distance_matrix(m, n) for m, n in
                                        ((q_g, "q_g"), (q_q, "q_q"), (g_g, "g_g")))
        self.nq, self.ng = self.q_g.shape
        for name, m, n in (("q_q", self.q_q, self.nq), ("g_g", self.g_g, self.ng)):
            if m.shape != (n, n):
                raise ValueError(f"{name} has shape {m.shape}, expected ({n}, {n}) to match "
                                 f"q_g {self.q_g.shape}")
        self.dtype = np.result_type(self.q_g, self.q_q, self.g_g)

    def columns(self, c0: int, c1: int) -> np.ndarray:
        out = np.empty((c1 - c0, self.nq + self.ng), dtype=self.dtype)
        if c1 <= self.nq:  # query columns: [q_q[:, c]; q_g[c, :]]
            _copy_transposed(out[:, :self.nq], self.q_q[:, c0:c1])
            out[:, self.nq:] = self.q_g[c0:c1]
        else:  # gallery columns: [q_g[:, g]; g_g[:, g]]
            g0, g1 = c0 - self.nq, c1 - self.nq
            _copy_transposed(out[:, :self.nq], self.q_g[:, g0:g1])
            _copy_transposed(out[:, self.nq:], self.g_g[:, g0:g1])
        return out

    def gather(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """O[rows, cols] for index vectors (M,), in the source dtype."""
        out = np.empty(rows.shape[0], dtype=self.dtype)
        rq, cq, nq = rows < self.nq, cols < self.nq, self.nq
        for mask, block, r, c in ((rq & cq, self.q_q, rows, cols),
                                  (rq & ~cq, self.q_g, rows, cols - nq),
                                  (~rq & cq, self.q_g, cols, rows - nq),  # O[Q+g, i] = q_g[i, g]
                                  (~rq & ~cq, self.g_g, rows - nq, cols - nq)):
            out[mask] = block[r[mask], c[mask]]
        return out

    def query_gallery(self, r0: int, r1: int) -> np.ndarray:
        return self.q_g[r0:r1]


class _Features:
    """Distance source computed on demand from features; O[a, b] = distance(f_b, f_a)."""

    def __init__(self, query: Any, gallery: Any, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r} is unknown; expected one of {METRICS}")
        q, g = (torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
                for x in (query, gallery))
        if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
            raise ValueError(f"query {tuple(q.shape)} and gallery {tuple(g.shape)} must be (N, D) "
                             "features of the same dimension D")
        self.q = q if q.dtype in (torch.float32, torch.float64) else q.float()  # no copy
        self.g = g.to(self.q.device, self.q.dtype)
        self.metric, self.nq, self.ng = metric, q.shape[0], g.shape[0]
        self.dtype = np.float64 if self.q.dtype == torch.float64 else np.float32

    def _features(self, idx: np.ndarray) -> torch.Tensor:
        """(M, D) features of items ``idx`` (M,) of the joint [query; gallery] numbering."""
        idx = torch.from_numpy(idx).to(self.q.device)
        is_q = idx < self.nq
        out = torch.empty(idx.shape[0], self.q.shape[1], dtype=self.q.dtype, device=self.q.device)
        out[is_q], out[~is_q] = self.q[idx[is_q]], self.g[idx[~is_q] - self.nq]
        return out

    def columns(self, c0: int, c1: int) -> np.ndarray:
        part = self.q[c0:c1] if c1 <= self.nq else self.g[c0 - self.nq:c1 - self.nq]
        out = np.empty((c1 - c0, self.nq + self.ng), dtype=self.dtype)
        out[:, :self.nq] = pairwise_distance(part, self.q, self.metric).cpu().numpy()
        out[:, self.nq:] = pairwise_distance(part, self.g, self.metric).cpu().numpy()
        return out

    def gather(self, rows: np.ndarray, cols: np.ndarray, step: int = 1 << 12) -> np.ndarray:
        out = np.empty(rows.shape[0], dtype=self.dtype)
        for s0 in range(0, rows.shape[0], step):  # (step, D) feature pairs at a time
            a, b = self._features(cols[s0:s0 + step]), self._features(rows[s0:s0 + step])
            if self.metric == "cosine":
                a, b = F.normalize(a, dim=1), F.normalize(b, dim=1)
            dot = torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).reshape(-1)
            if self.metric == "cosine":
                d = 1.0 - dot
            else:
                d = (a.pow(2).sum(1) + b.pow(2).sum(1) - 2.0 * dot).clamp(min=0)
                d = d.sqrt() if self.metric == "euclidean" else d
            out[s0:s0 + step] = d.cpu().numpy()
        return out

    def query_gallery(self, r0: int, r1: int) -> np.ndarray:
        return pairwise_distance(self.q[r0:r1], self.g, self.metric).cpu().numpy()


def _copy_transposed(dst: np.ndarray, src: np.ndarray, block: int = 256) -> None:
    """dst[:] = src.T in cache-friendly row blocks (a plain strided copy is ~5x slower)."""
    for r0 in range(0, src.shape[0], block):
        dst[:, r0:r0 + block] = src[r0:r0 + block].T


def _square32(x: np.ndarray) -> np.ndarray:
    """float32(x²) with the square taken in x's dtype, as ``np.power(O, 2).astype(float32)``."""
    return np.square(x).astype(np.float32)


def _initial_ranks(src: Any, num: int, cuts: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """First ``num`` columns of R (N, num) int64 and the column maxima of float32(O²) (N,).

    A column whose maximum is 0 (the item is at distance 0 from all items) gets the divisor 1:
    its normalised distances are then 0, the limit of every nearby non-degenerate input, where the
    reference would divide 0 by 0 and return NaN.
    """
    n = src.nq + src.ng
    ranks, colmax = np.empty((n, num), dtype=np.int64), np.empty(n, dtype=np.float32)
    zero = np.zeros(n, dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // n)
    bounds = [(c, min(c + step, src.nq)) for c in range(0, src.nq, step)]
    bounds += [(c, min(c + step, n)) for c in range(src.nq, n, step)]
    for c0, c1 in bounds:
        cols = src.columns(c0, c1)  # (c, N) = O[:, c0:c1]ᵀ
        t = torch.from_numpy(cols)
        low, high = t.amin(1).numpy(), t.amax(1).numpy()
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise ValueError(f"the distance matrices have NaN or inf (in column {c0}..{c1 - 1} "
                             "of [[q_q, q_g], [q_gᵀ, g_g]]); expected finite distances")
        colmax[c0:c1] = _square32(np.maximum(high, -low).astype(cols.dtype))
        zero[c0:c1] = colmax[c0:c1] == 0
        colmax[c0:c1][zero[c0:c1]] = 1.0  # an all-zero column: D's row is 0, not 0/0
        rows = np.arange(c1 - c0)[:, None]
        if num + 1 <= n:
            key = t if low.min() >= 0 else t.abs()
            top = torch.topk(key, num + 1, dim=1, largest=False, sorted=True).indices.numpy()
            d = _square32(cols[rows, top]) / colmax[c0:c1, None]  # D's row, ascending
            ties = np.zeros(c1 - c0, dtype=bool)
            for p in cuts:
                ties |= d[:, p - 1] == d[:, p]
            ranks[c0:c1] = top[:, :num]
        else:
            ties = np.ones(c1 - c0, dtype=bool)
        for r in np.flatnonzero(ties):  # same call as the reference decides tied cuts
            ranks[c0 + r] = np.argsort(_square32(cols[r]) / colmax[c0 + r])[:num]
    if zero.any():
        logger.warning("re-ranking: %d of %d items are at distance 0 from every item (identical "
                       "features, e.g. a collapsed model); their normalised distances are 0",
                       int(zero.sum()), n)
    return ranks, colmax


def _neighbour_matrix(ranks: np.ndarray, n: int) -> sp.csr_matrix:
    """Boolean (N, N) with row i set at ranks[i, :]."""
    rows = np.repeat(np.arange(n), ranks.shape[1])
    return sp.csr_matrix((np.ones(rows.shape[0], dtype=np.float32), (rows, ranks.ravel())),
                         shape=(n, n))


def _reciprocal(ranks: np.ndarray, n: int) -> sp.csr_matrix:
    """K[i, j] = 1 iff j in ranks[i] and i in ranks[j]."""
    forward = _neighbour_matrix(ranks, n)
    return forward.multiply(forward.T).tocsr()


def _expanded_sets(ranks: np.ndarray, k1: int) -> sp.csr_matrix:
    """E (N, N) boolean: k-reciprocal sets expanded by the half-sets that overlap them > 2/3."""
    n, half = ranks.shape[0], int(np.around(k1 / 2.0)) + 1
    recip = _reciprocal(ranks[:, :k1 + 1], n)
    halves = _reciprocal(ranks[:, :half], n)
    overlap = recip.multiply(recip @ halves.T).tocsr()  # [i, c] = |K_i ∩ H_c| for c in K_i
    recip_coo = recip.tocoo()
    counts = np.asarray(overlap[recip_coo.row, recip_coo.col]).ravel()
    sizes = np.diff(halves.indptr)[recip_coo.col]
    accept = counts > 2.0 / 3 * sizes
    acc = sp.csr_matrix((np.ones(int(accept.sum()), dtype=np.float32),
                         (recip_coo.row[accept], recip_coo.col[accept])), shape=(n, n))
    expanded = (recip + acc @ halves).tocsr()
    expanded.data[:] = 1.0
    return expanded


def _weights(src: Any, ranks: np.ndarray, colmax: np.ndarray, k1: int, k2: int) -> sp.csr_matrix:
    """V (N, N) float32 sparse: softmax(-D[i, E_i]) on E_i, then the k2 query expansion."""
    n = ranks.shape[0]
    coo = _expanded_sets(ranks, k1).tocoo()
    d = _square32(src.gather(coo.col, coo.row)) / colmax[coo.row]  # D[i, j] = O[j, i]²/max_i
    w = np.exp(-d)
    w /= np.bincount(coo.row, weights=w, minlength=n).astype(np.float32)[coo.row]
    v = sp.csr_matrix((w, (coo.row, coo.col)), shape=(n, n), dtype=np.float32)
    if k2 == 1:
        return v
    top = ranks[:, :k2]
    return ((_neighbour_matrix(top, n) @ v) / np.float32(top.shape[1])).tocsr()


def _rerank(src: Any, k1: int, k2: int, lambda_value: float) -> np.ndarray:
    for name, k in (("k1", k1), ("k2", k2)):
        if k < 1:
            raise ValueError(f"{name}={k} must be >= 1")
    n, nq, ng = src.nq + src.ng, src.nq, src.ng
    num = min(max(k1 + 1, k2), n)
    cuts = tuple(sorted({min(p, num) for p in (int(np.around(k1 / 2.0)) + 1, k1 + 1, k2)}))
    ranks, colmax = _initial_ranks(src, num, cuts)
    v = _weights(src, ranks, colmax, k1, k2)
    gal = v[nq:].tocsc()  # inverted index: column m -> gallery rows with V[j, m] != 0
    final = np.empty((nq, ng), dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // (8 * ng))
    for r0 in range(0, nq, step):
        part = v[r0:min(r0 + step, nq)].tocoo()
        start, count = gal.indptr[part.col], np.diff(gal.indptr)[part.col]
        owner = np.repeat(np.arange(part.nnz), count)
        pos = np.arange(owner.shape[0]) - np.repeat(np.cumsum(count) - count, count)
        pos += start[owner]
        mins = np.minimum(part.data[owner], gal.data[pos])
        rows = part.shape[0]
        s = np.bincount(part.row[owner] * ng + gal.indices[pos], weights=mins,
                        minlength=rows * ng).reshape(rows, ng)
        jaccard = 1.0 - s / (2.0 - s)
        original = _square32(src.query_gallery(r0, r0 + rows)) / colmax[r0:r0 + rows, None]
        final[r0:r0 + rows] = jaccard * (1 - lambda_value) + original * lambda_value
    return final


def rerank(q_g: Any, q_q: Any, g_g: Any, k1: int = 20, k2: int = 6,
           lambda_value: float = 0.3) -> np.ndarray:
    """k-reciprocal re-ranking of a query x gallery distance matrix (docs/method.md, "k-reciprocal re-ranking").

    Args:
        q_g: (Q, G) query-gallery distances (numpy or torch; the pipeline passes the same kind of
            distance it ranks with; note the algorithm squares them, as the reference does).
        q_q: (Q, Q) query-query distances.
        g_g: (G, G) gallery-gallery distances.
        k1, k2, lambda_value: the reference's parameters (paper: 20, 6, 0.3).

    Returns:
        (Q, G) float32 re-ranked distances, equal to the reference to ~1e-6 (ties: module doc).

    Raises:
        ValueError: block shapes that do not fit, NaN/inf distances, k1 or k2 below 1.
    """
    return _rerank(_Matrices(q_g, q_q, g_g), k1, k2, lambda_value)


def rerank_features(query: Any, gallery: Any, metric: str = "euclidean", k1: int = 20,
                    k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """``rerank`` with the distance blocks computed on demand from (Q, D), (G, D) features.

    Equal to ``rerank(d(q, g), d(q, q), d(g, g))`` with d = ``pairwise_distance(..., metric)``,
    without ever holding g_g (G x G): the way to re-rank galleries of tens of thousands. The
    distances are recomputed (O(N² D) work); a pair's distance may differ from the matrix entry in
    the last bit (BLAS blocking), which can only matter for neighbours tied to that bit.

    Args:
        query: (Q, D) features, numpy or torch (float32/64; others are converted to float32).
        gallery: (G, D) features.
        metric: ``"euclidean"``, ``"sqeuclidean"`` or ``"cosine"``.
        k1, k2, lambda_value: as in :func:`rerank`.

    Returns:
        (Q, G) float32 re-ranked distances.
    """
    return _rerank(_Features(query, gallery, metric), k1, k2, lambda_value)
