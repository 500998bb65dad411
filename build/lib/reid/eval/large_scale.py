"""CMC / mAP from features against galleries of millions, in memory bounded by a chunk of queries.

``evaluate_features_chunked`` computes the distances of ``chunk`` queries against the whole
gallery, ranks that block with ``reid.eval.ranking.evaluate`` and merges the chunks exactly: per
query AP is a function of its own row only, and the CMC is merged as integer counts of queries
with a first match at each rank, so the result equals ``evaluate(pairwise_distance(qf, gf), ...)``
bit for bit whenever the distances are the same bits (docs/bench_large.md). No (Q, G) matrix is
ever held. The distance kernels (``_prepare``, ``_block``) and the label matching are those of
``reid.eval.distance`` and ``reid.eval.ranking``, used rather than copied.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from reid.eval.distance import METRICS, _as_tensor, _block, _prepare, as_label_vector, check_finite
from reid.eval.ranking import PROTOCOLS, EvalResult, _match_pairs, evaluate

logger = logging.getLogger(__name__)

# Memory above the inputs, in bytes per gallery item (float32; measured: docs/bench_large.md).
# Computing a chunk's distances holds the (chunk, G) block and up to two same-sized temporaries
# of ``_block``: DISTANCE_BYTES a query. Ranking holds the block (BLOCK_BYTES a query) and, in
# ``evaluate``, for each sub-chunk of ``rank_rows(chunk)`` rows, at most RANK_BYTES a row (the
# finite check, candidate mask, int64 candidate indices, rows and keys, ``torch.sort`` output)
# when every gallery item is a candidate, plus LABEL_BYTES for the label copies and the
# pid-sorted order of the gallery (its own and ``evaluate``'s). Measured: RANK 57-72, LABEL ~70.
DISTANCE_BYTES, BLOCK_BYTES, RANK_BYTES, LABEL_BYTES = 12, 4, 96, 96
RANK_SPLIT = 8
_PREPARE_ELEMENTS = 1 << 22  # gallery rows prepared at a time: ~16 MB of float32 temporaries


def prepare_gallery(g: torch.Tensor, metric: str, *, rows: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``reid.eval.distance._prepare`` (the normalised gallery for cosine, squared norms) in slices
    of ``rows`` rows, bit for bit: the whole-gallery call holds a (G, D) temporary for the norms
    (2 GB at 1M x 512), the slices hold ``rows`` x D."""
    rows = rows or max(1, _PREPARE_ELEMENTS // max(1, g.shape[1]))
    feats = torch.empty_like(g) if metric == "cosine" else g
    sq_norms = torch.empty(g.shape[0], dtype=g.dtype, device=g.device)
    for r0 in range(0, g.shape[0], rows):
        part, sq_norms[r0:r0 + rows] = _prepare(g[r0:r0 + rows], metric)
        if metric == "cosine":
            feats[r0:r0 + rows] = part
    return feats, sq_norms


def rank_rows(chunk: int) -> int:
    """Rows per ``evaluate`` sub-chunk of a ``chunk``-query block."""
    return max(1, chunk // RANK_SPLIT)


def memory_bound(num_gallery: int, dim: int, chunk: int, metric: str, *, itemsize: int = 4) -> int:
    """Worst-case bytes ``evaluate_features_chunked`` allocates above its inputs.

    ``G x (96 + max(12 chunk, 4 chunk + 96 rank_rows(chunk)))``, which is ``G x (96 + 16 chunk)``
    for a chunk that is a multiple of 8, plus the prepared gallery: its squared norms
    (G x itemsize) and, for cosine, its normalised copy (G x D x itemsize); ``prepare_gallery``'s
    slice temporaries (~32 MB) come before the chunks and are not counted. The per-query terms
    scale by ``itemsize / 4`` (float64 distances).
    """
    scale = itemsize / 4
    per_item = LABEL_BYTES + scale * max(DISTANCE_BYTES * chunk, BLOCK_BYTES * chunk + RANK_BYTES * rank_rows(chunk))
    gallery = itemsize * (1 + (dim if metric == "cosine" else 0))
    return int(num_gallery * (per_item + gallery))


def _scored(q_pids: np.ndarray, g_pids: np.ndarray, q_camids: np.ndarray, g_camids: np.ndarray,
            protocol: str) -> np.ndarray:
    """(Q,) bool: the query has a good match (``evaluate``'s rule: same pid, another camera, and
    under MARS-official a pid other than -1)."""
    qi, gi = _match_pairs(q_pids, g_pids)
    good = g_camids[gi] != q_camids[qi]
    if protocol == "mars-official":
        good &= g_pids[gi] != -1
    return np.bincount(qi[good], minlength=q_pids.shape[0]) > 0


def evaluate_features_chunked(qf: Any, gf: Any, q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, *,
                              metric: str = "euclidean", chunk: int = 64, max_rank: int = 50,
                              protocol: str = "standard") -> EvalResult:
    """CMC / mAP of query features against gallery features, ``chunk`` queries at a time.

    Memory above the inputs is at most ``memory_bound(G, D, chunk, metric)``: for float32
    features and a chunk that is a multiple of 8, G x (16 chunk + 100) bytes (the (chunk, G)
    float32 distance block and its temporaries while it is computed; ``evaluate``'s working
    memory on sub-chunks of chunk / 8 rows, even when every gallery item is a candidate; label
    copies and squared norms), plus G x D x 4 for cosine (the normalised gallery). At
    G = 1,000,000 and chunk = 64: 1.12 GB, plus 2.05 GB for cosine at D = 512; never the
    Q x G x 4 bytes of the dense matrix.

    Args:
        qf: (Q, D) query features, numpy or torch (CPU), float32 or float64.
        gf: (G, D) gallery features, same dimension.
        q_pids, g_pids, q_camids, g_camids: (Q,), (G,), (Q,), (G,) integer labels.
        metric: one of ``METRICS``, as in ``pairwise_distance``.
        chunk: queries per distance block; ``evaluate`` ranks it ``rank_rows(chunk)`` rows at a time.
        max_rank: length of the CMC curve (cut to G).
        protocol: ``"standard"`` or ``"mars-official"`` (see ``evaluate``).

    Returns:
        The ``EvalResult`` that ``evaluate(pairwise_distance(qf, gf, metric), ...)`` returns.

    Raises:
        ValueError: unknown metric or protocol, chunk < 1, mismatched shapes, NaN/inf distances,
            or no query with a match.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; expected one of {METRICS}")
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol={protocol!r} is unknown; expected one of {PROTOCOLS}")
    if chunk < 1:
        raise ValueError(f"chunk={chunk}: expected at least 1 query per chunk")
    q, g = _as_tensor(qf, "qf"), _as_tensor(gf, "gf")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"qf has dimension {q.shape[1]} but gf has {g.shape[1]}")
    if q.shape[0] == 0 or g.shape[0] == 0:
        raise ValueError(f"qf {tuple(q.shape)}, gf {tuple(g.shape)}: empty query set or gallery")
    dtype = torch.promote_types(q.dtype, g.dtype)
    q, g = q.to(dtype), g.to(dtype=dtype, device=q.device)
    num_q, num_g = q.shape[0], g.shape[0]
    q_pids, q_camids = as_label_vector(q_pids, "q_pids", num_q), as_label_vector(q_camids, "q_camids", num_q)
    g_pids, g_camids = as_label_vector(g_pids, "g_pids", num_g), as_label_vector(g_camids, "g_camids", num_g)
    if max_rank < 1:
        raise ValueError(f"max_rank={max_rank} must be >= 1")
    if num_g < max_rank:
        logger.warning("gallery has only %d items; CMC is cut to max_rank=%d", num_g, num_g)
        max_rank = num_g

    prepared = prepare_gallery(g, metric)  # once: cosine normalises the gallery here, not per chunk
    ap = np.full(num_q, np.nan)
    first_counts = np.zeros(max_rank, dtype=np.int64)  # queries with a first match at rank <= k+1
    for r0 in range(0, num_q, chunk):
        r1 = min(num_q, r0 + chunk)
        block = _block(q[r0:r1], prepared, metric).cpu().numpy()  # (c, G)
        check_finite(block, "distances of qf and gf", r0)
        if _scored(q_pids[r0:r1], g_pids, q_camids[r0:r1], g_camids, protocol).any():
            part = evaluate(block, q_pids[r0:r1], g_pids, q_camids[r0:r1], g_camids, max_rank=max_rank,
                            protocol=protocol, chunk_size=rank_rows(chunk))
            ap[r0:r1] = part.ap
            first_counts += np.rint(part.cmc * part.num_scored).astype(np.int64)
        del block  # before the next block is computed: one block alive at a time

    scored = ~np.isnan(ap)
    if not scored.any():
        raise ValueError("no query pid in q_pids has a true match in g_pids (all "
                         f"{num_q} queries skipped); expected at least one")
    return EvalResult(cmc=first_counts / scored.sum(), mAP=float(ap[scored].mean()), ap=ap,
                      num_skipped=int(num_q - scored.sum()), protocol=protocol)
