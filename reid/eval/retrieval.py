"""Image-retrieval evaluation (docs/method.md, "Image retrieval"): leave-one-out Recall@K, mAP, NMI.

Every test image is a query against all the other test images: no camera filter, only the query
itself is left out. The ranking is ``reid.eval.ranking.evaluate``, the chunked, memory-bounded
code of re-ID, with the test set as both query and gallery and every image its own camera: the
standard protocol drops the items of the query's pid *and* camera, which is then exactly the
query itself. Recall@K (a same-class image among the K nearest others) is CMC at K; AP runs over
the other images of the query's class. A query whose class has no other test image is skipped
and counted, as in re-ID.

MAP@R and R-Precision (Musgrave, Belongie and Lim, "A Metric Learning Reality Check", ECCV 2020):
for a query whose class has R other test images, R-Precision is the fraction of its R nearest others
in its class, and MAP@R the mean over i = 1..R of the precision at i where the i-th nearest is of its
class (0 where it is not), so it rewards a ranking that puts the whole class first, which Recall@1
does not see. Ties in distance keep the index order, as in the ranking.

NMI: k-means (scikit-learn, k = the number of test classes, ``n_init`` and ``random_state``
fixed) on the test embeddings, compared with the classes by ``normalized_mutual_info_score``
(arithmetic normalisation). With the cosine metric the embeddings are L2-normalised first, so
that k-means clusters in the geometry the ranking uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reid.eval.distance import pairwise_distance
from reid.eval.ranking import EvalResult, evaluate

RECALL_KS = (1, 2, 4, 8, 16, 32)
KMEANS_N_INIT = 4  # k-means restarts; the best of them (lowest inertia) is kept


@dataclass(frozen=True)
class RetrievalResult:
    """Leave-one-out ranking (``ranking``: CMC = Recall@K, mAP, per-query AP), NMI and the (N, N) distances."""

    ranking: EvalResult
    nmi: float
    distances: np.ndarray
    map_at_r: float = float("nan")
    r_precision: float = float("nan")


def leave_one_out(distmat: Any, labels: Any, *, max_rank: int = max(RECALL_KS),
                  chunk_size: int | None = None) -> EvalResult:
    """Rank every item of a set against all the others (the item itself excluded).

    Args:
        distmat: (N, N) distances of the set to itself, smaller = closer.
        labels: (N,) integer class labels.
        max_rank: length of the CMC curve (Recall@K for K = 1..max_rank), cut to N - 1.
        chunk_size: queries per chunk (default: about 16M distances per chunk).

    Returns:
        An EvalResult: ``cmc[k - 1]`` is Recall@k, ``ap`` the per-query AP.

    Raises:
        ValueError: a non-square matrix, or the ranking code's own checks.
    """
    shape = getattr(distmat, "shape", None)
    if shape is None or len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"distmat has shape {shape}; expected (N, N), the test set against itself")
    if shape[0] < 2:
        raise ValueError(f"distmat has shape {shape}; leave-one-out needs at least 2 items")
    ids = np.arange(shape[0])
    labels = np.asarray(labels)
    # each query has N - 1 others: Recall@K for larger K is not defined (and left out of summaries)
    return evaluate(distmat, labels, labels, ids, ids, max_rank=min(max_rank, shape[0] - 1), protocol="standard",
                    chunk_size=chunk_size)


def map_at_r(distmat: Any, labels: Any, *, chunk_size: int = 1024) -> tuple[float, float]:
    """(MAP@R, R-Precision) in [0, 1] of leave-one-out retrieval over ``distmat`` (N, N); queries
    whose class has no other item are left out (both are nan when every query is).

    Raises:
        ValueError: a non-square matrix or labels of another length.
    """
    d = np.asarray(distmat)
    labels = np.asarray(labels)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or len(labels) != d.shape[0]:
        raise ValueError(f"distmat has shape {d.shape} for {len(labels)} labels; expected (N, N)")
    n = d.shape[0]
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    r_all = counts[inverse] - 1  # others of the query's class
    ap_sum, rp_sum, used = 0.0, 0.0, 0
    for start in range(0, n, chunk_size):
        rows = np.arange(start, min(start + chunk_size, n))
        block = d[rows].astype(np.float64, copy=True)
        block[np.arange(len(rows)), rows] = np.inf  # the query itself
        order = np.argsort(block, axis=1, kind="stable")[:, : max(int(r_all[rows].max(initial=0)), 1)]
        hits = labels[order] == labels[rows][:, None]
        for j, q in enumerate(rows):
            r = int(r_all[q])
            if r == 0:
                continue
            h = hits[j, :r]
            precision = np.cumsum(h) / np.arange(1, r + 1)
            ap_sum += float((precision * h).sum()) / r
            rp_sum += float(h.sum()) / r
            used += 1
    if not used:
        return float("nan"), float("nan")
    return ap_sum / used, rp_sum / used


def nmi_kmeans(features: np.ndarray, labels: Any, *, seed: int = 0, n_init: int = KMEANS_N_INIT) -> float:
    """NMI of the classes and a k-means clustering of ``features`` (N, D), k = the number of classes.

    Raises:
        ValueError: fewer than two classes, or fewer items than classes.
    """
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    labels = np.asarray(labels)
    k = len(np.unique(labels))
    if k < 2 or len(labels) < k:
        raise ValueError(f"NMI needs at least 2 classes and as many items; got {k} classes, {len(labels)} items")
    clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(np.asarray(features, np.float64))
    return float(normalized_mutual_info_score(labels, clusters))


def evaluate_retrieval(features: np.ndarray, labels: Any, *, metric: str = "cosine", max_rank: int = 50,
                       seed: int = 0) -> RetrievalResult:
    """Leave-one-out ranking and NMI of the test embeddings.

    Args:
        features: (N, D) test embeddings.
        labels: (N,) their classes.
        metric: ``eval.metric`` (cosine, euclidean, sqeuclidean) for ranking and the k-means geometry.
        max_rank: CMC length; at least ``max(RECALL_KS)`` is computed.
        seed: k-means ``random_state``.
    """
    features = np.asarray(features)
    distances = pairwise_distance(features, features, metric=metric)
    ranking = leave_one_out(distances, labels, max_rank=max(max_rank, max(RECALL_KS)))
    x = features.astype(np.float64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    mapr, rprec = map_at_r(distances, labels)
    return RetrievalResult(ranking=ranking, nmi=nmi_kmeans(x, labels, seed=seed), distances=distances,
                           map_at_r=mapr, r_precision=rprec)
