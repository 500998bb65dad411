"""Query x gallery distances (cosine, euclidean, squared euclidean), chunked, and top-k search.

``pairwise_distance`` accepts numpy arrays or torch tensors (CPU or CUDA) and returns the same kind
(numpy stays numpy, a tensor stays on its device); only ``chunk_size`` query rows are expanded at a
time. ``topk_neighbours`` returns the k nearest gallery items without a Q x G matrix (FAISS search
is ``reid.search.faiss_index``).
Also the input checks shared by ``evaluate`` and ``rerank``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)

METRICS = ("cosine", "euclidean", "sqeuclidean")
_CHUNK_ELEMENTS = 1 << 24


def as_distance_matrix(x: Any, name: str) -> np.ndarray:
    """2-D non-empty float numpy view of ``x`` (numpy or torch); float16/32/64 are kept."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D matrix, got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} has shape {x.shape}: empty query set or gallery")
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def check_finite(block: np.ndarray, name: str, row_offset: int = 0) -> None:
    """Raise ValueError naming ``name`` and the first NaN/inf position of ``block`` (R, C)."""
    if not np.isfinite(block).all():
        row, col = np.argwhere(~np.isfinite(block))[0]
        raise ValueError(f"{name} has NaN or inf (first at row {row_offset + row}, column {col}); "
                         "expected finite distances")


def as_label_vector(x: Any, name: str, length: int) -> np.ndarray:
    """(length,) int64 copy of ``x``; ValueError naming ``name`` if the length differs."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x).reshape(-1) if np.ndim(x) > 0 else np.asarray(x).reshape(1)
    if x.shape[0] != length:
        raise ValueError(f"{name} has {x.shape[0]} entries, expected {length} (the matching "
                         "dimension of the distance matrix)")
    return x.astype(np.int64)


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    t = torch.from_numpy(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
    if t.ndim != 2:
        raise ValueError(f"{name} must be (N, D) features, got shape {tuple(t.shape)}")
    if not t.is_floating_point():
        t = t.double()
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _prepare(g: torch.Tensor, metric: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Gallery side computed once: (normalised for cosine) features (G, D), squared norms (G,)."""
    g = F.normalize(g, dim=1) if metric == "cosine" else g
    return g, g.pow(2).sum(1)


def _block(q: torch.Tensor, g: tuple[torch.Tensor, torch.Tensor], metric: str) -> torch.Tensor:
    """Distances of one chunk: (c, D) against the prepared gallery -> (c, G)."""
    feats, sq_norms = g
    if metric == "cosine":
        return 1.0 - F.normalize(q, dim=1) @ feats.T
    sq = (q.pow(2).sum(1, keepdim=True) + sq_norms[None, :] - 2.0 * (q @ feats.T)).clamp_(min=0)
    return sq.sqrt_() if metric == "euclidean" else sq


def pairwise_distance(query: Any, gallery: Any, metric: str = "euclidean", *,
                      chunk_size: int | None = None) -> Any:
    """Distances between every query and gallery feature.

    Args:
        query: (Q, D) features, numpy array or torch tensor (any device).
        gallery: (G, D) features, same kind and device as ``query``.
        metric: ``"cosine"`` (1 - cosine similarity), ``"euclidean"`` or ``"sqeuclidean"``.
        chunk_size: query rows per chunk (default: about 16M distances per chunk).

    Returns:
        (Q, G) distances: numpy if ``query`` was numpy, else a tensor on its device; float64 if an
        input was float64, else float32.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; expected one of {METRICS}")
    as_numpy = not isinstance(query, torch.Tensor)
    q, g = _as_tensor(query, "query"), _as_tensor(gallery, "gallery")
    if q.shape[1] != g.shape[1]:
        raise ValueError(f"query has dimension {q.shape[1]} but gallery has {g.shape[1]}")
    dtype = torch.promote_types(q.dtype, g.dtype)
    q, g = q.to(dtype), g.to(dtype=dtype, device=q.device)
    rows = chunk_size or max(1, _CHUNK_ELEMENTS // max(1, g.shape[0]))
    out = torch.empty(q.shape[0], g.shape[0], dtype=dtype, device=q.device)
    prepared = _prepare(g, metric)
    for r0 in range(0, q.shape[0], rows):
        out[r0:r0 + rows] = _block(q[r0:r0 + rows], prepared, metric)
    return out.cpu().numpy() if as_numpy else out


def topk_neighbours(query: Any, gallery: Any, k: int, metric: str = "euclidean", *,
                    chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest gallery items of every query, without a (Q, G) matrix.

    Args:
        query: (Q, D) features (numpy or torch).
        gallery: (G, D) features.
        k: neighbours per query (cut to G).
        metric: one of ``METRICS``.
        chunk_size: query rows per chunk.

    Returns:
        distances (Q, k) float, ascending, and gallery indices (Q, k) int64.
    """
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; expected one of {METRICS}")
    q, g = _as_tensor(query, "query"), _as_tensor(gallery, "gallery")
    if g.shape[0] == 0:
        raise ValueError("gallery is empty; expected at least one feature")
    k = min(k, g.shape[0])
    rows = chunk_size or max(1, _CHUNK_ELEMENTS // g.shape[0])
    dists, idxs = [], []
    prepared = _prepare(g.to(q.device, q.dtype), metric)
    for r0 in range(0, q.shape[0], rows):
        d = _block(q[r0:r0 + rows], prepared, metric)
        top = torch.topk(d, k, dim=1, largest=False, sorted=True)
        dists.append(top.values.cpu())
        idxs.append(top.indices.cpu())
    return torch.cat(dists).numpy(), torch.cat(idxs).numpy().astype(np.int64)
