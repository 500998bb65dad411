"""Pseudo-identities from embeddings: k-reciprocal Jaccard distance, DBSCAN, labels, centres, purity.

Pure functions of arrays (docs/method.md, "Learning without identity labels"); the training loop
that calls them each round is reid/pipeline/pseudo_labels.py.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from reid.errors import ConfigError
from reid.eval.camera_norm import normalise_per_camera
from reid.eval.reranking import jaccard_distance

#: cluster.outliers: what becomes of the items the clustering leaves out
OUTLIERS = ("singleton", "drop")
#: cluster.method
METHODS = ("hdbscan", "dbscan")
#: cluster.one_camera: what becomes of a cluster whose members all come from one camera
ONE_CAMERA = ("keep", "drop")


def dbscan_clusters(features: np.ndarray, *, eps: float, min_samples: int, k1: int, k2: int,
                    metric: str = "euclidean") -> np.ndarray:
    """(N,) cluster ids of DBSCAN on the k-reciprocal Jaccard distance of ``features`` (N, D); -1: none.

    Cluster ids are 0..C-1 in the order of each cluster's first item.
    """
    from sklearn.cluster import DBSCAN

    if not eps > 0 or min_samples < 1:
        raise ConfigError(f"cluster.eps={eps!r} must be > 0 and cluster.min_samples={min_samples!r} >= 1")
    n = len(features)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    dist = jaccard_distance(features, metric=metric, k1=min(k1, n - 1), k2=min(k2, n))
    raw = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(dist.astype(np.float64))
    return first_seen_order(raw)


def hdbscan_clusters(features: np.ndarray, *, min_cluster_size: int, k1: int, k2: int,
                     metric: str = "euclidean") -> np.ndarray:
    """(N,) cluster ids of HDBSCAN on the k-reciprocal Jaccard distance of ``features``; -1: none.

    HDBSCAN (Campello et al. 2013; scikit-learn's) keeps the clusters that persist over every
    density level, so no distance scale (DBSCAN's eps) has to fit the data: with few tracklets per
    person, an eps taken from a dataset with many chains nearly everything into a few clusters.
    Cluster ids are 0..C-1 in the order of each cluster's first item.
    """
    from sklearn.cluster import HDBSCAN

    if min_cluster_size < 2:
        raise ConfigError(f"cluster.min_cluster_size={min_cluster_size!r} must be >= 2")
    n = len(features)
    if n < min_cluster_size:
        return np.full(n, -1, dtype=np.int64)
    dist = jaccard_distance(features, metric=metric, k1=min(k1, n - 1), k2=min(k2, n))
    raw = HDBSCAN(min_cluster_size=min_cluster_size, metric="precomputed", copy=True).fit_predict(
        dist.astype(np.float64))
    return first_seen_order(raw)


def standardise_per_camera(features: np.ndarray, cameras: np.ndarray) -> np.ndarray:
    """(N, D) float32: each camera's features minus that camera's mean, divided by its per-dimension
    standard deviation (a camera with one item keeps its centred, i.e. zero, row).

    Without identity labels nothing else removes what a camera adds to everything it sees, and the
    neighbours of a tracklet are then the other tracks of its own camera (reid/eval/camera_norm.py).
    """
    return normalise_per_camera(features, cameras, "standardise")


def first_seen_order(ids: np.ndarray) -> np.ndarray:
    """``ids`` renumbered 0..C-1 by first appearance; negative ids stay -1."""
    out = np.full(len(ids), -1, dtype=np.int64)
    mapping: dict[int, int] = {}
    for i, c in enumerate(np.asarray(ids).tolist()):
        if c >= 0:
            out[i] = mapping.setdefault(c, len(mapping))
    return out


def pseudo_labels(clusters: np.ndarray, outliers: str = "singleton") -> np.ndarray:
    """(N,) training labels from cluster ids: clusters keep their ids 0..C-1; an item without a
    cluster gets an identity of its own (C, C+1, ... in order; ``singleton``) or -1 (``drop``:
    never drawn)."""
    if outliers not in OUTLIERS:
        raise ConfigError(f"config key 'cluster.outliers': {outliers!r} is not one of {', '.join(OUTLIERS)}")
    labels = np.asarray(clusters, dtype=np.int64).copy()
    alone = np.flatnonzero(labels < 0)
    if outliers == "singleton":
        labels[alone] = labels.max(initial=-1) + 1 + np.arange(len(alone))
    return labels


def class_centres(features: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(num_classes, D) float32: per label, the L2-normalised mean of its L2-normalised features
    (labels < 0 are left out; a class without items gets a zero row)."""
    x = np.asarray(features, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    keep = labels >= 0
    sums = np.zeros((num_classes, x.shape[1]))
    np.add.at(sums, labels[keep], x[keep])
    return (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def purity(clusters: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of clustered items (id >= 0) whose true identity is their cluster's most common one."""
    clusters, truth = np.asarray(clusters), np.asarray(truth)
    members = clusters >= 0
    if not members.any():
        return float("nan")
    agree = 0
    for c in np.unique(clusters[members]):
        agree += Counter(truth[clusters == c].tolist()).most_common(1)[0][1]
    return agree / int(members.sum())


def split_identities(clusters: np.ndarray, truth: np.ndarray) -> float:
    """Mean number of clusters a true identity's clustered items fall into (1.0: none is split)."""
    clusters, truth = np.asarray(clusters), np.asarray(truth)
    members = clusters >= 0
    ids = np.unique(truth[members])
    if not len(ids):
        return float("nan")
    return float(np.mean([len(np.unique(clusters[members & (truth == p)])) for p in ids]))


def one_camera_clusters(clusters: np.ndarray, cameras: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cluster ids (>= 0) and, for each, whether all its members come from one camera.

    Raises:
        ValueError: not one camera id per item.
    """
    clusters, cameras = np.asarray(clusters), np.asarray(cameras)
    if len(cameras) != len(clusters):
        raise ValueError(f"{len(cameras)} camera ids for {len(clusters)} cluster ids")
    ids = np.unique(clusters[clusters >= 0])
    return ids, np.array([len(np.unique(cameras[clusters == c])) == 1 for c in ids], dtype=bool)


def drop_one_camera_clusters(clusters: np.ndarray, cameras: np.ndarray) -> np.ndarray:
    """``clusters`` with every cluster whose members all come from one camera set to -1 (left
    out), the rest renumbered 0..C-1 in order of first appearance."""
    ids, one = one_camera_clusters(clusters, cameras)
    out = np.asarray(clusters).copy()
    out[np.isin(out, ids[one])] = -1
    return first_seen_order(out)


def one_camera_share(clusters: np.ndarray, cameras: np.ndarray) -> float:
    """Fraction of the clusters (ids >= 0) whose members all come from one camera.

    Needs no identity labels: a person seen by several cameras should give clusters that span
    them, so a share near 1 says the clustering follows the cameras rather than the people (nan
    without clusters).
    """
    _, one = one_camera_clusters(clusters, cameras)
    return float(one.mean()) if len(one) else float("nan")


def cross_camera_recall(clusters: np.ndarray, truth: np.ndarray, cameras: np.ndarray) -> float:
    """Of the pairs of items that show one person in two different cameras, the fraction the
    clustering puts in one cluster (items left out count as not joined; nan without such pairs)."""
    clusters, truth, cameras = np.asarray(clusters), np.asarray(truth), np.asarray(cameras)
    same_person = truth[:, None] == truth[None, :]
    other_camera = cameras[:, None] != cameras[None, :]
    wanted = same_person & other_camera
    if not wanted.any():
        return float("nan")
    joined = (clusters[:, None] == clusters[None, :]) & (clusters >= 0)[:, None]
    return float((joined & wanted).sum() / wanted.sum())


def ranking_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """P(score of a positive < score of a negative) (ties count half): how well low ``scores``
    (e.g. CAA attention) single out the ``positive`` items (e.g. tracks that mix two people)."""
    scores, positive = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    less = (pos[:, None] < neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(less / (len(pos) * len(neg)))
