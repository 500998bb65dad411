"""Nearest gallery items of a query: exact search, FAISS IVF-Flat and HNSW indexes, their recall.

Exact search is ``reid.eval.distance.topk_neighbours``: chunked matrix products that hold at most
~16M distances at a time, whatever the gallery size. The FAISS indexes are approximate and much
faster on large galleries; ``recall_at_k`` measures one against exact search. Every function
returns distances of the metric itself (cosine: 1 - cos, euclidean, squared euclidean), so FAISS
and exact results compare directly. FAISS (faiss-cpu) is an optional dependency, imported on use.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from reid.eval.distance import METRICS, pairwise_distance, topk_neighbours

FAISS_KINDS = ("ivf", "hnsw")


def _faiss() -> Any:
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its INFO lines list CPU-specific builds tried
    try:
        import faiss  # optional dependency
    except ImportError as err:
        raise ImportError("a FAISS index needs the faiss package: pip install faiss-cpu "
                          "(or: pip install -e '.[faiss]')") from err
    return faiss


def _prepared(features: np.ndarray, metric: str) -> np.ndarray:
    """(N, D) float32 contiguous copy; L2-normalised rows for cosine (searched by inner product)."""
    if metric not in METRICS:
        raise ValueError(f"metric={metric!r} is unknown; expected one of {METRICS}")
    x = np.array(features, dtype=np.float32, order="C", copy=True)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    if metric == "cosine":  # as F.normalize in exact search: a zero row stays zero
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x


def default_nlist(n: int) -> int:
    """IVF lists for ``n`` items: about 4 sqrt(n) (FAISS's rule of thumb), between 1 and n."""
    return max(1, min(n, round(4 * math.sqrt(n))))


def build_faiss_index(features: np.ndarray, metric: str, kind: str, *, nlist: int = 0, nprobe: int = 0,
                      hnsw_m: int = 32, ef_search: int = 64, train_size: int = 0, seed: int = 0) -> Any:
    """Build an approximate index over ``features``; ids are the row numbers.

    Args:
        features: (N, D) gallery features (raw; normalised here for cosine).
        metric: one of ``METRICS``.
        kind: ``"ivf"`` (IndexIVFFlat: k-means lists, ``nprobe`` of them scanned per query) or
            ``"hnsw"`` (IndexHNSWFlat: a graph of ``hnsw_m`` links per node, ``ef_search``
            candidates kept per query).
        nlist: IVF lists (0: ``default_nlist(N)``; cut to N).
        nprobe: IVF lists scanned per query (0: max(8, nlist // 20), cut to nlist).
        train_size: IVF k-means on this many rows drawn without replacement (``seed``); 0 or
            >= N: on every row. Training costs N x nlist x D per iteration: a 100k sample keeps
            a million-row gallery's training to minutes on a few cores.

    Returns:
        A trained FAISS index holding every row of ``features``.
    """
    if kind not in FAISS_KINDS:
        raise ValueError(f"FAISS index kind {kind!r} is unknown; expected one of {FAISS_KINDS}")
    faiss = _faiss()
    x = _prepared(features, metric)
    n, dim = x.shape
    faiss_metric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    if kind == "hnsw":
        if hnsw_m < 2:
            raise ValueError(f"hnsw_m={hnsw_m}: expected at least 2 links per node")
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss_metric)
        index.hnsw.efSearch = max(1, ef_search)
    else:
        lists = min(n, nlist or default_nlist(n))
        if lists < 1:
            raise ValueError(f"nlist={nlist}: expected at least 1 list")
        index = faiss.IndexIVFFlat(faiss.IndexFlat(dim, faiss_metric), dim, lists, faiss_metric)
        index.cp.min_points_per_centroid = 1  # small galleries: no warning, the lists are just small
        rows = np.sort(np.random.default_rng(seed).choice(n, size=train_size, replace=False)) \
            if 0 < train_size < n else slice(None)
        index.train(x[rows])
        index.nprobe = min(lists, nprobe or max(8, lists // 20))
    index.add(x)
    return index


def extend_faiss_index(index: Any, features: np.ndarray, metric: str) -> None:
    """Append ``features`` (M, D) to ``index``; they get ids ntotal .. ntotal + M - 1."""
    index.add(_prepared(features, metric))


def faiss_search(index: Any, query: np.ndarray, k: int, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest indexed items of each query row.

    Returns:
        distances (Q, k) float32 ascending, in ``metric`` units, and ids (Q, k) int64; a slot
        the index could not fill (an IVF search that scanned fewer than k items) is id -1 at
        distance inf.
    """
    k = min(k, index.ntotal)
    dist, ids = index.search(_prepared(query, metric), k)
    if metric == "cosine":
        dist = 1.0 - dist
    elif metric == "euclidean":
        dist = np.sqrt(np.maximum(dist, 0.0))
    dist = np.where(ids < 0, np.inf, dist).astype(np.float32)
    return dist, ids.astype(np.int64)


def serialize_faiss_index(index: Any) -> bytes:
    return _faiss().serialize_index(index).tobytes()


def deserialize_faiss_index(data: bytes) -> Any:
    """An index from ``serialize_faiss_index`` bytes (FAISS's binary format, not a pickle)."""
    return _faiss().deserialize_index(np.frombuffer(data, dtype=np.uint8))


def exact_topk(query: Any, gallery: Any, k: int, metric: str, *,
               chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``k`` nearest gallery rows of each query: (Q, k) distances ascending, (Q, k) int64 ids."""
    return topk_neighbours(query, gallery, k, metric, chunk_size=chunk_size)


def flat_topk(query: Any, gallery: Any, k: int, metric: str, *,
              index_spec: str = "Flat") -> tuple[np.ndarray, np.ndarray]:
    """``exact_topk`` through FAISS: an ``index_factory`` index (``"Flat"`` is exact) over ``gallery``."""
    faiss = _faiss()
    g = _prepared(gallery, metric)
    index = faiss.index_factory(g.shape[1], index_spec, faiss.METRIC_INNER_PRODUCT if metric == "cosine"
                                else faiss.METRIC_L2)
    if not index.is_trained:
        index.train(g)
    index.add(g)
    return faiss_search(index, np.asarray(query), k, metric)


@dataclass(frozen=True)
class Recall:
    """Recall@k of an approximate index against exact search, and the time each search took."""

    value: float
    k: int
    queries: int
    approx_seconds: float
    exact_seconds: float

    def text(self, kind: str) -> str:
        per = 1000.0 / max(1, self.queries)
        return (f"{kind} recall@{self.k} vs exact {self.value:.3f} on {self.queries} queries "
                f"({self.approx_seconds * per:.2f} ms/query, exact {self.exact_seconds * per:.2f} ms/query)")


def recall_at_k(index: Any, features: np.ndarray, metric: str, *, k: int = 10, num_queries: int = 500,
                seed: int = 0) -> Recall:
    """Recall@k of ``index`` over ``features`` (the rows it holds), gallery items as the queries.

    For each of ``num_queries`` rows drawn without replacement (all rows when fewer), the
    fraction of its exact k nearest that the index returns (``found_fraction``).
    """
    features = np.asarray(features, dtype=np.float32)
    n = features.shape[0]
    k = min(k, n)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=min(num_queries, n), replace=False))
    queries = features[rows]
    t0 = time.perf_counter()
    exact_d, _ = exact_topk(queries, features, k, metric)
    t1 = time.perf_counter()
    _, approx_i = faiss_search(index, queries, k, metric)
    t2 = time.perf_counter()
    return Recall(value=found_fraction(approx_i, exact_d[:, -1], queries, features, metric), k=k,
                  queries=len(rows), approx_seconds=t2 - t1, exact_seconds=t1 - t0)


def found_fraction(approx_ids: np.ndarray, exact_kth: np.ndarray, queries: np.ndarray, gallery: np.ndarray,
                   metric: str) -> float:
    """Recall of approximate results: the fraction of the (Q, k) ``approx_ids`` that are found.

    A returned item tied with the exact k-th neighbour (``exact_kth`` (Q,), within float32
    rounding) counts as found: which of several tied items exact search lists is arbitrary. So:
    found = returned items whose exact distance is at most the exact k-th distance; an unfilled
    slot (id -1) is not found.
    """
    found = 0
    for r in range(approx_ids.shape[0]):
        got = approx_ids[r][approx_ids[r] >= 0]
        d = pairwise_distance(queries[r:r + 1], gallery[got], metric)[0]
        kth = float(exact_kth[r])
        found += int((d <= kth + 1e-5 * max(1.0, abs(kth))).sum())
    return found / approx_ids.size
