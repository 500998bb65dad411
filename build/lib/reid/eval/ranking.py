"""CMC and mAP from a query x gallery distance matrix, vectorised (docs/method.md, "Evaluation").

No full sort of the gallery is needed: for each query only the gallery items at most as far as
its farthest true match can come before a match, so each chunk of queries keeps those
"candidates", sorts them by (query, distance, gallery index) and reads the 0-based positions of the
matches among the non-junk items. Ties are broken by gallery index (a stable sort), as in the standard protocol.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np
import torch

from reid.eval.distance import as_distance_matrix, as_label_vector, check_finite

logger = logging.getLogger(__name__)

PROTOCOLS = ("standard", "mars-official")
_CHUNK_ELEMENTS = 1 << 24  # ~16M distances per query chunk: bounded memory for any gallery size


@dataclass(frozen=True)
class EvalResult:
    """Result of :func:`evaluate`; unpacks as ``cmc, mAP = evaluate(...)``.

    Attributes:
        cmc: (max_rank,) float64, cmc[k] = fraction of scored queries with a match in the top k+1.
        mAP: mean of ``ap`` over scored queries.
        ap: (Q,) float64 per-query average precision, NaN for skipped queries.
        num_skipped: queries without any true match in the gallery (not scored).
        protocol: ``"standard"`` or ``"mars-official"`` (docs/method.md, "Evaluation").
    """

    cmc: np.ndarray
    mAP: float
    ap: np.ndarray
    num_skipped: int
    protocol: str

    @property
    def num_scored(self) -> int:
        """Number of queries that entered CMC and mAP."""
        return int(self.ap.shape[0] - self.num_skipped)

    def rank(self, k: int) -> float:
        """CMC at rank ``k`` (1-based), e.g. ``rank(1)`` is rank-1 accuracy."""
        return float(self.cmc[k - 1])

    def __iter__(self) -> Iterator[Any]:
        return iter((self.cmc, self.mAP))


def _match_pairs(q_pids: np.ndarray, g_pids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (query, gallery) index pairs with equal pid, grouped by query; (M,), (M,) int64."""
    order = np.argsort(g_pids, kind="stable")
    sorted_pids = g_pids[order]
    lo = np.searchsorted(sorted_pids, q_pids, side="left")
    counts = np.searchsorted(sorted_pids, q_pids, side="right") - lo
    qi = np.repeat(np.arange(q_pids.shape[0]), counts)
    starts = np.cumsum(counts) - counts
    gi = order[np.repeat(lo - starts, counts) + np.arange(qi.shape[0])]
    return qi, gi


def _group_starts(groups: np.ndarray, num: int) -> np.ndarray:
    """(num,) index of the first element of each group in the sorted (M,) ``groups``."""
    counts = np.bincount(groups, minlength=num)
    return np.cumsum(counts) - counts


def _positions(block: np.ndarray, flat: np.ndarray, rows: np.ndarray,
               cols: np.ndarray) -> np.ndarray:
    """0-based position of each (rows, cols) item among the candidates ``flat`` of its row.

    Args:
        block: (R, G) distances of a chunk of queries, C-contiguous.
        flat: (M,) ascending flat indices into ``block`` of the candidates (kept items that can
            come before a match); they include every (rows, cols) item.
        rows, cols: (K,) the items to place (the true matches).

    Candidates are ordered by (row, distance, column). float16/32 chunks sort one int64 key a
    candidate (row | order-preserving distance bits | column) with ``torch.sort``; float64 chunks
    a stable sort by distance (flat order breaks ties) then a stable (radix) sort by row.
    """
    num_rows, num_cols = block.shape
    col_bits = num_cols.bit_length()
    shift = 32 + col_bits
    if block.dtype == np.float64 or num_rows.bit_length() + shift > 63:
        cand_rows = flat // num_cols
        by_value = torch.sort(torch.from_numpy(block.ravel()[flat]), stable=True).indices.numpy()
        row_dtype = np.uint16 if num_rows <= 1 << 16 else np.int64  # uint16: a radix sort
        order = by_value[np.argsort(cand_rows[by_value].astype(row_dtype), kind="stable")]
        rank = np.empty_like(order)
        rank[order] = np.arange(order.shape[0])
        starts = _group_starts(cand_rows, num_rows)
        return rank[np.searchsorted(flat, rows * num_cols + cols)] - starts[rows]

    def keys(values: np.ndarray, r: np.ndarray, c: np.ndarray) -> np.ndarray:
        bits = (values.astype(np.float32) + np.float32(0.0)).view(np.uint32)  # -0.0 -> +0.0
        bits = np.where(bits >> 31 == 1, ~bits, bits | np.uint32(1 << 31)).astype(np.int64)
        return (r << shift) | (bits << col_bits) | c

    cand_rows = flat // num_cols
    cand_keys = keys(block.ravel()[flat], cand_rows, flat - cand_rows * num_cols)
    ordered = torch.sort(torch.from_numpy(cand_keys)).values.numpy()
    starts = np.searchsorted(ordered, np.arange(num_rows, dtype=np.int64) << shift)
    return np.searchsorted(ordered, keys(block[rows, cols], rows, cols)) - starts[rows]


def _ap_terms(rank_in_goods: np.ndarray, pos: np.ndarray, protocol: str) -> np.ndarray:
    """Per-good-match AP terms before division by R; inputs (M,), 1-based r and 0-based position."""
    precision = rank_in_goods / (pos + 1.0)
    if protocol == "standard":
        return precision
    # Official MARS trapezoid rule: (p_{k-1} + p_k) / 2 at every good item, p_0 = 1.
    previous = np.where(pos > 0, (rank_in_goods - 1.0) / np.maximum(pos, 1), 1.0)
    return (previous + precision) / 2.0


def evaluate(distmat: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, *,
             max_rank: int = 50, protocol: str = "standard",
             chunk_size: int | None = None) -> EvalResult:
    """Standard or MARS official CMC / mAP (docs/method.md, "Evaluation").

    Args:
        distmat: (Q, G) distances, smaller = closer; numpy array or torch tensor, float16/32/64.
        q_pids, g_pids: (Q,), (G,) integer person ids.
        q_camids, g_camids: (Q,), (G,) integer camera ids.
        max_rank: length of the returned CMC curve (cut to G when the gallery is smaller).
        protocol: ``"standard"``: same pid and same camera is removed. ``"mars-official"``: the
            gallery already holds the queries; same pid and same camera, and pid -1, are junk;
            AP is the official trapezoid rule.
        chunk_size: queries per chunk (default: about 16M distances per chunk).

    Returns:
        An EvalResult (unpacks to ``cmc, mAP``).

    Raises:
        ValueError: on shape mismatch, NaN/inf distances, an empty gallery or query set, an
            unknown protocol, or when no query has a match.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r} is unknown; expected one of {PROTOCOLS}")
    dist = as_distance_matrix(distmat, "distmat")
    num_q, num_g = dist.shape
    q_pids = as_label_vector(q_pids, "q_pids", num_q)
    q_camids = as_label_vector(q_camids, "q_camids", num_q)
    g_pids = as_label_vector(g_pids, "g_pids", num_g)
    g_camids = as_label_vector(g_camids, "g_camids", num_g)
    if max_rank < 1:
        raise ValueError(f"max_rank={max_rank} must be >= 1")
    if num_g < max_rank:
        logger.warning("gallery has only %d items; CMC is cut to max_rank=%d", num_g, num_g)
        max_rank = num_g
    rows = chunk_size or max(1, _CHUNK_ELEMENTS // num_g)

    qi, gi = _match_pairs(q_pids, g_pids)
    junk = g_camids[gi] == q_camids[qi]
    junk_q, junk_g, qi, gi = qi[junk], gi[junk], qi[~junk], gi[~junk]
    junk_cols = np.flatnonzero(g_pids == -1) if protocol == "mars-official" else np.empty(0, int)
    if junk_cols.size:
        good = g_pids[gi] != -1
        qi, gi = qi[good], gi[good]
    num_good = np.bincount(qi, minlength=num_q)
    farthest = np.full(num_q, -np.inf, dtype=dist.dtype)
    np.maximum.at(farthest, qi, dist[qi, gi])

    ap = np.full(num_q, np.nan)
    first = np.full(num_q, -1, dtype=np.int64)
    for r0 in range(0, num_q, rows):
        block = np.ascontiguousarray(dist[r0:r0 + rows])
        check_finite(block, "distmat", r0)
        mask = block <= farthest[r0:r0 + rows, None]
        j0, j1 = np.searchsorted(junk_q, [r0, r0 + rows])
        mask[junk_q[j0:j1] - r0, junk_g[j0:j1]] = False
        mask[:, junk_cols] = False
        g0, g1 = np.searchsorted(qi, [r0, r0 + rows])
        hit_q, hit_g = qi[g0:g1] - r0, gi[g0:g1]
        hit_pos = _positions(block, np.flatnonzero(mask), hit_q, hit_g)
        order = np.lexsort((hit_pos, hit_q))
        hit_q, hit_pos = hit_q[order], hit_pos[order]
        starts = _group_starts(hit_q, block.shape[0])
        rank_in_goods = np.arange(hit_q.shape[0]) - starts[hit_q] + 1.0
        sums = np.bincount(hit_q, weights=_ap_terms(rank_in_goods, hit_pos, protocol),
                           minlength=block.shape[0])
        scored = num_good[r0:r0 + rows] > 0
        ap[r0:r0 + rows][scored] = sums[scored] / num_good[r0:r0 + rows][scored]
        first[r0 + hit_q[rank_in_goods == 1]] = hit_pos[rank_in_goods == 1]

    scored = num_good > 0
    if not scored.any():
        raise ValueError("no query pid in q_pids has a true match in g_pids (all "
                         f"{num_q} queries skipped); expected at least one")
    hist = np.bincount(np.minimum(first[scored], max_rank), minlength=max_rank + 1)
    cmc = np.cumsum(hist[:max_rank]) / scored.sum()
    return EvalResult(cmc=cmc, mAP=float(ap[scored].mean()), ap=ap,
                      num_skipped=int(num_q - scored.sum()), protocol=protocol)
