"""Literal, slow references of the baseline losses (Python floats, explicit loops)."""

from __future__ import annotations

import math


def _norm(v: list[float]) -> list[float]:
    n = math.sqrt(sum(t * t for t in v))
    return [t / n for t in v]


def _dist(u: list[float], v: list[float]) -> float:
    return math.sqrt(max(sum((a - b) ** 2 for a, b in zip(u, v)), 1e-12))


def contrastive_loop(x: list[list[float]], labels: list[int], alpha: float) -> float:
    """mean over positive pairs i<j of d^2 + mean over negative pairs of max(0, alpha - d)^2."""
    f = [_norm(r) for r in x]
    pos, neg = [], []
    for i in range(len(f)):
        for j in range(i + 1, len(f)):
            d = _dist(f[i], f[j])
            if labels[i] == labels[j]:
                pos.append(d * d)
            else:
                neg.append(max(0.0, alpha - d) ** 2)
    return (sum(pos) / len(pos) if pos else 0.0) + (sum(neg) / len(neg) if neg else 0.0)


def batch_hard_triplet_loop(x: list[list[float]], labels: list[int], margin: float, soft: bool = False) -> float:
    """Hermans et al.: per anchor, farthest positive and closest negative on raw embeddings;
    hinge ``max(0, margin + ap - an)`` or, soft, ``log(1 + exp(ap - an))``."""
    terms = []
    for a in range(len(x)):
        pos = [_dist(x[a], x[p]) for p in range(len(x)) if p != a and labels[p] == labels[a]]
        neg = [_dist(x[a], x[n]) for n in range(len(x)) if labels[n] != labels[a]]
        if pos and neg:
            gap = max(pos) - min(neg)
            terms.append(math.log1p(math.exp(gap)) if soft else max(0.0, margin + gap))
    return sum(terms) / len(terms) if terms else 0.0


def log_softmax_row(logits: list[float]) -> list[float]:
    top = max(logits)
    log_z = top + math.log(sum(math.exp(z - top) for z in logits))
    return [z - log_z for z in logits]


def logits_loop(x: list[list[float]], centres: list[list[float]], bias: list[float] | None) -> list[list[float]]:
    return [[sum(a * b for a, b in zip(row, c)) + (bias[k] if bias else 0.0) for k, c in enumerate(centres)]
            for row in x]


def smoothed_ce_per_sample(logits: list[list[float]], labels: list[int], eps: float) -> list[float]:
    """-sum_k t_k log softmax_k with t = (1 - eps) onehot(y) + eps / K."""
    out = []
    for row, y in zip(logits, labels):
        logp = log_softmax_row(row)
        k = len(row)
        out.append(-sum(((1 - eps) * (c == y) + eps / k) * lp for c, lp in enumerate(logp)))
    return out


def weighted_softmax_loop(logits: list[list[float]], labels: list[int], mu: float, sigma: float) -> float:
    """sum_i w_i CE_i / sum_i w_i, w_i = exp(-(p_i - mu)^2 / (2 sigma^2))."""
    ce = smoothed_ce_per_sample(logits, labels, 0.0)
    w = [math.exp(-((math.exp(log_softmax_row(r)[y]) - mu) ** 2) / (2 * sigma**2)) for r, y in zip(logits, labels)]
    return sum(wi * c for wi, c in zip(w, ce)) / sum(w)
