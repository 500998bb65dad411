"""Literal k-reciprocal re-ranking of docs/method.md, "k-reciprocal re-ranking" (dense N x N, per-row loops); slow on purpose.

Written step by step from the spec; it makes the same calls as torchreid's ``re_ranking`` where
results depend on them (``np.argsort`` default kind on the float32 matrix).
"""

from __future__ import annotations

import numpy as np


def rerank_reference(q_g, q_q, g_g, k1=20, k2=6, lambda_value=0.3):
    """(Q, G) float32 re-ranked distances."""
    num_q = q_g.shape[0]
    # 1. full matrix, squared in its dtype, float32, each column divided by its max, transposed
    dist = np.concatenate([np.concatenate([q_q, q_g], axis=1),
                           np.concatenate([q_g.T, g_g], axis=1)], axis=0)
    dist = np.power(dist, 2).astype(np.float32)
    dist = np.transpose(1.0 * dist / np.max(dist, axis=0))
    n = dist.shape[0]
    # 2. initial ranking
    rank = np.argsort(dist).astype(np.int32)
    half = int(np.around(k1 / 2.0)) + 1

    def reciprocal(i, k):
        forward = rank[i, :k]
        return [j for j in forward if i in rank[j, :k]]

    # 3. expanded k-reciprocal sets and their weights
    v = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        recip = reciprocal(i, k1 + 1)
        expanded = list(recip)
        for c in recip:
            half_set = reciprocal(c, half)
            if len(set(half_set) & set(recip)) > 2.0 / 3 * len(half_set):
                expanded.extend(half_set)
        expanded = np.unique(np.asarray(expanded, dtype=np.int64))
        weight = np.exp(-dist[i, expanded])
        v[i, expanded] = weight / np.sum(weight)
    # 4. local query expansion
    if k2 != 1:
        v = np.stack([np.mean(v[rank[i, :k2]], axis=0) for i in range(n)]).astype(np.float32)
    # 5. Jaccard distance of every query row to every item: s_ij = sum_m min(V[i, m], V[j, m]),
    #    summed only where both are non-zero (an inverted index of V's columns, as torchreid)
    rows_of_column = [np.flatnonzero(v[:, m]) for m in range(n)]
    jaccard = np.zeros((num_q, n), dtype=np.float32)
    for i in range(num_q):
        s = np.zeros(n, dtype=np.float32)
        for m in np.flatnonzero(v[i]):
            rows = rows_of_column[m]
            s[rows] += np.minimum(v[i, m], v[rows, m])
        jaccard[i] = 1 - s / (2 - s)
    # 6. blend and keep the gallery columns
    final = (1 - lambda_value) * jaccard + lambda_value * dist[:num_q]
    return final[:, num_q:]
