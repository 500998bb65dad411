"""Literal loops for the image-retrieval protocol of docs/method.md ("Image retrieval"); slow on purpose."""

from __future__ import annotations

import math


def leave_one_out_reference(distmat, labels, ks=(1, 2, 4, 8, 16, 32)):
    """Every item a query against all the others.

    Returns:
        ({k: Recall@k over scored queries} for k <= N - 1, mAP, per-query AP list with None for
        skipped queries, number of skipped queries). Ties are broken by item index.
    """
    n = len(labels)
    recall_hits = {k: 0 for k in ks if k <= n - 1}
    aps, skipped = [], 0
    for q in range(n):
        others = [g for g in range(n) if g != q]
        # stable order: by distance, then by index (Python's sort is stable; others is ascending)
        others.sort(key=lambda g: float(distmat[q][g]))
        matches = [labels[g] == labels[q] for g in others]
        if not any(matches):
            skipped += 1
            aps.append(None)
            continue
        for k in recall_hits:
            if any(matches[:k]):
                recall_hits[k] += 1
        found, total = 0, 0.0
        for position, is_match in enumerate(matches, start=1):
            if is_match:
                found += 1
                total += found / position
        aps.append(total / found)
    scored = n - skipped
    recalls = {k: hits / scored for k, hits in recall_hits.items()}
    return recalls, sum(a for a in aps if a is not None) / scored, aps, skipped


def nmi_reference(labels, clusters):
    """Normalised mutual information, arithmetic normalisation: I(U; V) / ((H(U) + H(V)) / 2)."""
    n = len(labels)
    pu, pv, puv = {}, {}, {}
    for u, v in zip(labels, clusters):
        pu[u] = pu.get(u, 0) + 1 / n
        pv[v] = pv.get(v, 0) + 1 / n
        puv[(u, v)] = puv.get((u, v), 0) + 1 / n
    mi = sum(p * math.log(p / (pu[u] * pv[v])) for (u, v), p in puv.items())
    hu = -sum(p * math.log(p) for p in pu.values())
    hv = -sum(p * math.log(p) for p in pv.values())
    return 1.0 if hu == hv == 0 else mi / ((hu + hv) / 2)
