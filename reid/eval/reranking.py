"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), as in docs/method.md, "k-reciprocal re-ranking".

Names follow the reference: O = [[q_q, q_g], [q_gᵀ, g_g]] (N x N, N = Q + G), D[i, j] =
float32(O[j, i]²) / max_a float32(O[a, i]²), R = argsort of each row of D. No N x N matrix is
built: one pass over column chunks of O (each column computed or copied once) gives, by
``torch.topk`` on a key whose order is the order of |O|'s column (so of D's row), the first K + 1
entries of R's rows, the W >= K + 1 nearest items of every row with their distances (the values V's
weights are read from; the rare entry beyond them is computed alone), the column maxima, and the
(Q, G) block of D that the final blend needs. V is a sparse matrix with ~2·k1 non-zeros a row, and
the Jaccard term of a chunk of queries is summed through an inverted index of V's columns.
Memory: O(N·k1·k2 + Q·G) plus the inputs (or, with ``rerank_features``, plus the features).

From features (``rerank_features``) a chunk of c columns is one (N, D) @ (D, c) matmul, transposed,
then the float32 steps of ``pairwise_distance`` in its order, (‖f_a‖² + ‖f_b‖²) − 2·f_a·f_b: each
distance equals the matrix entry bit for bit (MKL sums a product over D in one order whatever the
shapes). The clamp at 0 and the square root are monotone, so they are taken only on the values
kept. Those N²·D multiply-adds are the whole cost at scale; everything else is a few percent.

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

from reid.eval.distance import METRICS, as_distance_matrix

logger = logging.getLogger(__name__)

_CHUNK_ELEMENTS = 1 << 23  # copied distances per column chunk; Jaccard sums per query chunk / 8
_PRODUCT_ROWS, _PRODUCT_ELEMENTS = 2048, 1 << 27  # computed columns per chunk: the matmul is
# ~15 % slower at 1,000 rows than at 2,000 on 2 AVX2 cores; 2 buffers of 2,048 x N float32


class _Matrices:
    """Distance source from the three dense blocks; ``keys(c0, c1)`` is |O[:, c0:c1]ᵀ| (c, N)."""

    def __init__(self, q_g: Any, q_q: Any, g_g: Any) -> None:
        self.q_g, self.q_q, self.g_g = (as_distance_matrix(m, n) for m, n in
                                        ((q_g, "q_g"), (q_q, "q_q"), (g_g, "g_g")))
        self.nq, self.ng = self.q_g.shape
        for name, m, n in (("q_q", self.q_q, self.nq), ("g_g", self.g_g, self.ng)):
            if m.shape != (n, n):
                raise ValueError(f"{name} has shape {m.shape}, expected ({n}, {n}) to match "
                                 f"q_g {self.q_g.shape}")
        self.dtype = np.result_type(self.q_g, self.q_q, self.g_g)
        self._buffer: np.ndarray | None = None

    def chunk_rows(self) -> int:
        return max(1, _CHUNK_ELEMENTS // (self.nq + self.ng))

    def keys(self, c0: int, c1: int) -> torch.Tensor:
        """(c, N); a view of one reused buffer (no page faults per chunk), valid until the next
        call."""
        n = self.nq + self.ng
        if self._buffer is None or self._buffer.shape[0] < (c1 - c0) * n:
            self._buffer = None  # free the old one first
            self._buffer = np.empty(max(c1 - c0, self.chunk_rows()) * n, dtype=self.dtype)
        out = self._buffer[:(c1 - c0) * n].reshape(c1 - c0, n)
        if c1 <= self.nq:  # query columns: [q_q[:, c]; q_g[c, :]]
            _copy_transposed(out[:, :self.nq], self.q_q[:, c0:c1])
            out[:, self.nq:] = self.q_g[c0:c1]
        else:  # gallery columns: [q_g[:, g]; g_g[:, g]]
            g0, g1 = c0 - self.nq, c1 - self.nq
            _copy_transposed(out[:, :self.nq], self.q_g[:, g0:g1])
            _copy_transposed(out[:, self.nq:], self.g_g[:, g0:g1])
        t = torch.from_numpy(out)
        return t.abs_() if bool(t.amin() < 0) else t  # NaN stays NaN: the caller's check sees it

    def distances(self, keys: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """|O| of key values (c, m): here the keys themselves."""
        return keys

    def free(self) -> None:
        """Drop the chunk buffer (the column pass is over)."""
        self._buffer = None

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


class _Features:
    """Distance source computed on demand from features; O[a, b] = distance(f_b, f_a).

    ``keys(c0, c1)`` (c, N) holds, for b in c0..c1-1, the distances of ``pairwise_distance`` with
    its own float32 operations in its order (the products of one matmul do not depend on its
    shape here, MKL sums over D in one order), stopped before the monotone steps: euclidean
    (n_a + n_b) - 2·f_a·f_b with n the squared norms (|O| = sqrt(max(key, 0)); sqeuclidean
    without the root), cosine 1 - f_a·f_b on normalised features (|O| = |key|, the key made
    positive in place where a chunk has a negative value).
    """

    def __init__(self, query: Any, gallery: Any, metric: str) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r} is unknown; expected one of {METRICS}")
        q, g = (torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
                for x in (query, gallery))
        if q.ndim != 2 or g.ndim != 2 or q.shape[1] != g.shape[1]:
            raise ValueError(f"query {tuple(q.shape)} and gallery {tuple(g.shape)} must be (N, D) "
                             "features of the same dimension D")
        if q.shape[0] == 0 or g.shape[0] == 0:
            raise ValueError(f"query {tuple(q.shape)} and gallery {tuple(g.shape)}: empty query "
                             "set or gallery")
        q = q if q.dtype in (torch.float32, torch.float64) else q.float()  # no copy
        g = g.to(q.device, q.dtype)
        if metric == "cosine":
            q, g = F.normalize(q, dim=1), F.normalize(g, dim=1)
        norms = [_squared_norms(x) for x in (q, g)]
        for name, x, sq in (("query", q, norms[0]), ("gallery", g, norms[1])):
            if not bool(torch.isfinite(2 * sq.max())):  # NaN or inf in x, or too large
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(f"{name} features have NaN or inf; expected finite features")
                raise ValueError(f"{name} features too large: their squared norms overflow "
                                 f"{str(x.dtype).removeprefix('torch.')}")
        self.q, self.g, self.metric, self.nq, self.ng = q, g, metric, q.shape[0], g.shape[0]
        self.norms = torch.cat(norms)
        self.dtype = np.float64 if q.dtype == torch.float64 else np.float32
        self._buffers: tuple[torch.Tensor, torch.Tensor] | None = None

    def chunk_rows(self) -> int:
        return max(1, min(_PRODUCT_ROWS, _PRODUCT_ELEMENTS // (self.nq + self.ng)))

    def keys(self, c0: int, c1: int) -> torch.Tensor:
        """(c, N); a view of a reused buffer, valid until the next call.

        The products are taken as (N, D) @ (D, c) and then transposed: MKL runs that shape
        ~25 % faster here than (c, D) @ (D, N), and one transposing copy costs ~3 % of it.
        """
        n, nq, c = self.nq + self.ng, self.nq, c1 - c0
        if self._buffers is None or self._buffers[0].shape[0] < c * n:
            self._buffers = None  # free the old ones first
            size = max(c, self.chunk_rows()) * n
            self._buffers = tuple(torch.empty(size, dtype=self.q.dtype, device=self.q.device)
                                  for _ in range(2))
        products, out = self._buffers[0][:n * c].view(n, c), self._buffers[1][:c * n].view(c, n)
        part = self.q[c0:c1] if c1 <= nq else self.g[c0 - nq:c1 - nq]
        torch.mm(self.q, part.T, out=products[:nq])
        torch.mm(self.g, part.T, out=products[nq:])
        out.copy_(products.T)  # f_b·f_a
        if self.metric == "cosine":
            out.neg_().add_(1.0)
            return out.abs_() if bool(out.amin() < 0) else out
        total = self._buffers[0][:c * n].view(c, n)  # the products are copied: reuse their memory
        torch.add(self.norms[c0:c1, None], self.norms[None, :], out=total)
        return torch.sub(total, out, alpha=2, out=out)  # (n_a + n_b) - 2·f_a·f_b, as one rounding

    def distances(self, keys: torch.Tensor, in_place: bool = False) -> torch.Tensor:
        """|O| of key values (c, m): a new tensor, or ``keys`` overwritten if ``in_place``."""
        if self.metric == "cosine":
            return keys if in_place else keys.clone()
        sq = keys.clamp_(min=0) if in_place else keys.clamp(min=0)
        return sq.sqrt_() if self.metric == "euclidean" else sq

    def free(self) -> None:
        """Drop the chunk buffers (the column pass is over)."""
        self._buffers = None

    def _features(self, idx: np.ndarray) -> torch.Tensor:
        """(M, D) features of items ``idx`` (M,) of the joint [query; gallery] numbering."""
        idx = torch.from_numpy(idx.astype(np.int64)).to(self.q.device)
        out = torch.empty(idx.shape[0], self.q.shape[1], dtype=self.q.dtype, device=self.q.device)
        for block, mask, offset in ((self.q, idx < self.nq, 0), (self.g, idx >= self.nq, self.nq)):
            where = torch.nonzero(mask).reshape(-1)
            out.index_copy_(0, where, block.index_select(0, idx[where] - offset))
        return out

    def gather(self, rows: np.ndarray, cols: np.ndarray, step: int = 1 << 12) -> np.ndarray:
        """O[rows, cols] (M,) by the formula of ``keys`` (its dot products summed in another
        order, so the last bit may differ: these only weigh V's entries, they set no ranks)."""
        out = np.empty(rows.shape[0], dtype=self.dtype)
        for s0 in range(0, rows.shape[0], step):
            r, c = rows[s0:s0 + step], cols[s0:s0 + step]
            dot = (self._features(r) * self._features(c)).sum(1)
            if self.metric == "cosine":
                out[s0:s0 + step] = (1.0 - dot).cpu().numpy()
                continue
            r, c = (torch.from_numpy(x.astype(np.int64)).to(dot.device) for x in (r, c))
            sq = (self.norms[r] + self.norms[c] - 2.0 * dot).clamp_(min=0)
            out[s0:s0 + step] = (sq.sqrt_() if self.metric == "euclidean" else sq).cpu().numpy()
        return out


def _squared_norms(x: torch.Tensor, step: int = 1 << 12) -> torch.Tensor:
    """(M,) squared norms of the rows of x (M, D), a block of rows at a time (no (M, D) copy)."""
    return torch.cat([x[r0:r0 + step].pow(2).sum(1) for r0 in range(0, x.shape[0], step)])


def _copy_transposed(dst: np.ndarray, src: np.ndarray, block: int = 256) -> None:
    """dst[:] = src.T in cache-friendly row blocks (a plain strided copy is ~5x slower)."""
    for r0 in range(0, src.shape[0], block):
        dst[:, r0:r0 + block] = src[r0:r0 + block].T


def _square32(x: np.ndarray) -> np.ndarray:
    """float32(x²) with the square taken in x's dtype, as ``np.power(O, 2).astype(float32)``."""
    return np.square(x).astype(np.float32)


def _chunks(nq: int, n: int, rows: int) -> list[tuple[int, int]]:
    """Column ranges of at most ``rows``, even in size, none straddling the query/gallery border."""
    out = []
    for a, b in ((0, nq), (nq, n)):
        parts = -(-(b - a) // rows)
        out += [(a + (b - a) * p // parts, a + (b - a) * (p + 1) // parts) for p in range(parts)]
    return out


class _Neighbours:
    """What the column pass keeps: R's first ``num`` columns, the column maxima of float32(O²),
    and the ``width`` nearest items of every row of D with their |O| (to look up V's weights)."""

    def __init__(self, n: int, num: int, width: int, dtype: Any) -> None:
        self.ranks, self.colmax = np.empty((n, num), np.int64), np.empty(n, np.float32)
        self.near, self.near_abs = np.empty((n, width), np.int64), np.empty((n, width), dtype)

    def lookup(self, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """|O[cols, rows]| where kept (row i's neighbours include j) and that mask, (M,) each."""
        n = self.near.shape[0]
        order = np.argsort(self.near, axis=1)
        keys = (np.arange(n)[:, None] * n + np.take_along_axis(self.near, order, 1)).ravel()
        wanted = rows.astype(np.int64) * n + cols
        pos = np.minimum(np.searchsorted(keys, wanted), keys.shape[0] - 1)
        return np.take_along_axis(self.near_abs, order, 1).ravel()[pos], keys[pos] == wanted


def _initial_ranks(src: Any, num: int, cuts: tuple[int, ...], width: int,
                   original: np.ndarray) -> _Neighbours:
    """One pass over O's columns; also fills ``original`` (Q, G) with D[:Q, Q:].

    A column whose maximum is 0 (the item is at distance 0 from all items) gets the divisor 1:
    its normalised distances are then 0, the limit of every nearby non-degenerate input, where the
    reference would divide 0 by 0 and return NaN.
    """
    nq, n = src.nq, src.nq + src.ng
    out = _Neighbours(n, num, width, src.dtype)
    zero = np.zeros(n, dtype=bool)
    for c0, c1 in _chunks(nq, n, src.chunk_rows()):
        keys = src.keys(c0, c1)  # (c, N), ordered like |O[:, c0:c1]ᵀ|
        top = torch.topk(keys, width, dim=1, largest=False, sorted=True)
        high = src.distances(keys.amax(1, keepdim=True)).cpu().numpy()[:, 0]
        if not np.isfinite(high).all():
            raise ValueError(f"the distance matrices have NaN or inf (in column {c0}..{c1 - 1} "
                             "of [[q_q, q_g], [q_gᵀ, g_g]]); expected finite distances")
        colmax = out.colmax[c0:c1]
        colmax[:] = _square32(high)
        zero[c0:c1] = colmax == 0
        colmax[zero[c0:c1]] = 1.0  # an all-zero column: D's row is 0, not 0/0
        out.near[c0:c1] = top.indices.cpu().numpy()
        out.near_abs[c0:c1] = src.distances(top.values, in_place=True).cpu().numpy()
        out.ranks[c0:c1] = out.near[c0:c1, :num]
        if num + 1 <= n:
            d = _square32(out.near_abs[c0:c1, :num + 1]) / colmax[:, None]  # D's row, ascending
            ties = np.zeros(c1 - c0, dtype=bool)
            for p in cuts:
                ties |= d[:, p - 1] == d[:, p]
        else:
            ties = np.ones(c1 - c0, dtype=bool)
        for r in np.flatnonzero(ties):  # same call as the reference decides tied cuts
            row = src.distances(keys[r:r + 1]).cpu().numpy()[0]
            out.ranks[c0 + r] = np.argsort(_square32(row) / colmax[r])[:num]
        for r in range(0, c1 - c0 if c1 <= nq else 0, 256):  # D[q, Q + g]: last use of keys
            sq = src.distances(keys[r:r + 256, nq:], in_place=True).square_().to(torch.float32)
            dst = torch.from_numpy(original[c0 + r:c0 + r + sq.shape[0]])
            div = torch.from_numpy(colmax[r:r + 256, None]).to(sq.device)
            if sq.device == dst.device:
                torch.div(sq, div, out=dst)
            else:
                dst.copy_(sq / div)
    src.free()
    if zero.any():
        logger.warning("re-ranking: %d of %d items are at distance 0 from every item (identical "
                       "features, e.g. a collapsed model); their normalised distances are 0",
                       int(zero.sum()), n)
    return out


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


def _weights(src: Any, nb: _Neighbours, k1: int, k2: int) -> sp.csr_matrix:
    """V (N, N) float32 sparse: softmax(-D[i, E_i]) on E_i, then the k2 query expansion."""
    n = nb.ranks.shape[0]
    coo = _expanded_sets(nb.ranks, k1).tocoo()
    o, kept = nb.lookup(coo.row, coo.col)  # O[j, i] for j in E_i: mostly among i's nearest
    missing = np.flatnonzero(~kept)
    logger.debug("re-ranking: %d of %d weights beyond the kept neighbours, computed alone",
                 missing.shape[0], coo.nnz)
    o[missing] = src.gather(coo.col[missing], coo.row[missing])
    d = _square32(o) / nb.colmax[coo.row]  # D[i, j] = O[j, i]²/max_i
    w = np.exp(-d)
    w /= np.bincount(coo.row, weights=w, minlength=n).astype(np.float32)[coo.row]
    v = sp.csr_matrix((w, (coo.row, coo.col)), shape=(n, n), dtype=np.float32)
    if k2 == 1:
        return v
    top = nb.ranks[:, :k2]
    return ((_neighbour_matrix(top, n) @ v) / np.float32(top.shape[1])).tocsr()


def _kept_width(num: int, k1: int, n: int, computed: bool) -> int:
    """Neighbours kept per row: R's first ``num`` + 1; for computed distances 3·(k1 + 1), which
    hold ~92 % of the expanded sets' entries on MARS-like data (the rest are computed alone)."""
    return min(n, max(num + 1, 3 * (k1 + 1) if computed else 0))


def _encoded(src: Any, k1: int, k2: int, final: np.ndarray) -> sp.csr_matrix:
    """V (N, N) of the joint set, and D[:Q, Q:] into ``final`` (Q, G) on the way."""
    for name, k in (("k1", k1), ("k2", k2)):
        if k < 1:
            raise ValueError(f"{name}={k} must be >= 1")
    n = src.nq + src.ng
    num = min(max(k1 + 1, k2), n)
    cuts = tuple(sorted({min(p, num) for p in (int(np.around(k1 / 2.0)) + 1, k1 + 1, k2)}))
    width = _kept_width(num, k1, n, isinstance(src, _Features))
    nb = _initial_ranks(src, num, cuts, width, final)
    return _weights(src, nb, k1, k2)


def _rerank(src: Any, k1: int, k2: int, lambda_value: float) -> np.ndarray:
    nq, ng = src.nq, src.ng
    final = np.empty((nq, ng), dtype=np.float32)  # D[:Q, Q:] first, the blend in place later
    v = _encoded(src, k1, k2, final)
    gal = v[nq:].tocsc()  # inverted index: column m -> gallery rows with V[j, m] != 0
    step = max(1, _CHUNK_ELEMENTS // (8 * ng))  # one thread: ~3 % of the time at 5x MARS
    for r0 in range(0, nq, step):
        _blend(v, gal, r0, min(r0 + step, nq), lambda_value, final)
    return final


def _blend(v: sp.csr_matrix, gal: sp.csc_matrix, r0: int, r1: int, lambda_value: float,
           final: np.ndarray) -> None:
    """final[r0:r1] = (1 - λ)·Jaccard + λ·final[r0:r1]."""
    jaccard = _jaccard_rows(v, gal, r0, r1)
    final[r0:r1] = jaccard * (1 - lambda_value) + final[r0:r1] * lambda_value


def _jaccard_rows(v: sp.csr_matrix, gal: sp.csc_matrix, r0: int, r1: int) -> np.ndarray:
    """(r1 - r0, G) Jaccard distances of V's rows r0..r1-1 to the rows of ``gal`` (V's rows of the
    gallery, as a column-indexed matrix): 1 - s/(2 - s) with s_ij = sum_m min(V[i, m], V[j, m])."""
    ng = gal.shape[0]
    part = v[r0:r1].tocoo()
    start, count = gal.indptr[part.col], np.diff(gal.indptr)[part.col]
    owner = np.repeat(np.arange(part.nnz), count)
    pos = np.arange(owner.shape[0]) - np.repeat(np.cumsum(count) - count, count)
    pos += start[owner]
    mins = np.minimum(part.data[owner], gal.data[pos])
    s = np.bincount(part.row[owner] * ng + gal.indices[pos], weights=mins,
                    minlength=(r1 - r0) * ng).reshape(r1 - r0, ng)
    return 1.0 - s / (2.0 - s)


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
    without ever holding g_g (G x G): the way to re-rank galleries of tens of thousands. Every
    distance is computed once (N² D multiply-adds: 1.5x the time of a plain matmul of that size
    at 5x MARS on 2 shared cores, docs/bench_eval.md) by ``pairwise_distance``'s own float32 steps,
    so the neighbour sets are the matrices' (bit-equal distances with MKL on CPU; another BLAS could
    order a dot product's sum otherwise, which only matters for neighbours tied to the last bit).
    Weights of the ~8 % of expanded-set entries beyond the kept neighbours are recomputed alone,
    to ~1e-7.

    Args:
        query: (Q, D) features, numpy or torch (float32/64; others are converted to float32).
        gallery: (G, D) features.
        metric: ``"euclidean"``, ``"sqeuclidean"`` or ``"cosine"``.
        k1, k2, lambda_value: as in :func:`rerank`.

    Returns:
        (Q, G) float32 re-ranked distances.

    Raises:
        ValueError: unknown metric, shapes that do not fit, empty inputs, NaN/inf features.
    """
    return _rerank(_Features(query, gallery, metric), k1, k2, lambda_value)


def jaccard_distance(features: Any, metric: str = "euclidean", k1: int = 20, k2: int = 6) -> np.ndarray:
    """(N, N) k-reciprocal Jaccard distances among the items of one set, from their (N, D) features.

    The Jaccard term of :func:`rerank` (steps 1-5 of docs/method.md, "k-reciprocal re-ranking")
    with every item both query and gallery, each item once: ``rerank_features(f[:m], f[m:],
    lambda_value=0)`` equals ``jaccard_distance(f)[:m, m:]`` for any m. This is the distance
    SpCL-style pseudo-labelling clusters (docs/method.md, "Learning without identity labels").
    Symmetric, in [0, 1], 0 on the diagonal.

    Raises:
        ValueError: fewer than 2 items, unknown metric, NaN/inf features, k1 or k2 below 1.
    """
    x = features if isinstance(features, torch.Tensor) else torch.as_tensor(np.asarray(features))
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"features {tuple(x.shape)}: expected (N, D) with N >= 2")
    src = _Features(x[:1], x[1:], metric)
    v = _encoded(src, k1, k2, np.empty((1, x.shape[0] - 1), dtype=np.float32))
    cols = v.tocsc()
    out = np.empty((x.shape[0], x.shape[0]), dtype=np.float32)
    step = max(1, _CHUNK_ELEMENTS // (8 * x.shape[0]))
    for r0 in range(0, x.shape[0], step):
        out[r0:r0 + step] = _jaccard_rows(v, cols, r0, min(r0 + step, x.shape[0]))
    out = np.clip(np.maximum(out, out.T), 0.0, 1.0)  # s may pass 1 by a rounding
    np.fill_diagonal(out, 0.0)
    return out
