"""Literal, slow reference of the OSM+CAA loss, written line by line from docs/method.md, "The OSM+CAA loss".

Float64, a double loop over i < j, one scalar operation at a time. Distances are built from
per-element torch ops so that autograd gives the reference gradient w.r.t. the embeddings; every
weight (s, a, w) is a Python float, i.e. a constant for the gradient, as the method prescribes.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

EPS = 1e-12
TINY = 2.2250738585072014e-308  # smallest normal float64


def class_probability(x_row: list[float], label: int, centres: list[list[float]], bias: list[float] | None) -> float:
    """p_i = softmax(x_i C^T + b)[y_i] with Python floats (max-subtracted for stability)."""
    logits = []
    for k, c in enumerate(centres):
        z = 0.0
        for xv, cv in zip(x_row, c):
            z += xv * cv
        logits.append(z + (bias[k] if bias is not None else 0.0))
    top = max(logits)
    exps = [math.exp(z - top) for z in logits]
    return exps[label] / sum(exps)


def attention(p: float, variant: str, caa_sigma: float) -> float:
    """a_i: paper a = p; official a = exp(-(p - 1)^2 / (2 caa_sigma^2))."""
    if variant == "paper":
        return p
    return math.exp(-((p - 1.0) ** 2) / (2.0 * caa_sigma**2))


def normalised_rows(x: Tensor) -> list[list[Tensor]]:
    """f_i = x_i / ||x_i|| element by element; keeps the autograd graph.

    The norm is NOT clamped at EPS (a norm of 1e-100 is still normalised to 1); only an all-zero
    row, whose norm is 0, is divided by the smallest positive float64 and stays zero.
    """
    rows = []
    for i in range(x.shape[0]):
        sq = x[i, 0] * x[i, 0]
        for k in range(1, x.shape[1]):
            sq = sq + x[i, k] * x[i, k]
        norm = torch.clamp(torch.sqrt(sq), min=TINY)
        rows.append([x[i, k] / norm for k in range(x.shape[1])])
    return rows


def osm_caa_loss_loop(
    x: Tensor,
    labels: list[int],
    centres: Tensor | None,
    bias: Tensor | None = None,
    *,
    variant: str = "official",
    osm: bool = True,
    caa: bool = True,
    alpha: float = 1.2,
    lam: float = 0.5,
    sigma: float | None = None,
    caa_sigma: float = 0.68,
) -> tuple[Tensor, dict[str, int]]:
    """Reference loss and the degenerate events it met.

    Args:
        x: (N, D) float64 raw embeddings (requires_grad for the reference gradient).
        labels: N Python ints.
        centres: (K, D) classifier weight (read as constants), unused if caa is False.
        bias: (K,) or None.

    Returns:
        (loss, events): a 0-dim float64 tensor and a dict with counts of "no_positive_pairs",
        "no_negative_pairs", "zero_positive_weight", "no_active_negatives", "zero_attention".
    """
    if sigma is None:
        sigma = 1.0 if variant == "official" else 0.8
    n = x.shape[0]
    f = normalised_rows(x)

    a = [1.0] * n
    if caa:
        c_list = centres.detach().tolist()
        b_list = None if bias is None else bias.detach().tolist()
        x_list = x.detach().tolist()
        a = [attention(class_probability(x_list[i], labels[i], c_list, b_list), variant, caa_sigma) for i in range(n)]

    pos, neg = [], []  # (d_ij tensor, s_ij * a_ij float, s_ij float)
    for i in range(n):
        for j in range(i + 1, n):
            sq = (f[i][0] - f[j][0]) ** 2
            for k in range(1, len(f[i])):
                sq = sq + (f[i][k] - f[j][k]) ** 2
            d = torch.sqrt(torch.clamp(sq, min=EPS))
            dv = d.item()
            a_ij = min(a[i], a[j])
            if labels[i] == labels[j]:
                if not osm:
                    s = 1.0
                elif variant == "paper":
                    s = math.exp(-dv * dv / (sigma * sigma))
                else:
                    s = math.exp(-dv * dv / (2.0 * sigma * sigma))
                pos.append((d, s * a_ij, s))
            else:
                s = max(0.0, alpha - dv) if osm else 1.0
                neg.append((d, s * a_ij, s))

    events = dict.fromkeys(
        ["no_positive_pairs", "no_negative_pairs", "zero_positive_weight", "no_active_negatives", "zero_attention"], 0
    )
    loss = x.sum() * 0.0
    pos_sum = sum(sa for _, sa, _ in pos)
    if not pos:
        events["no_positive_pairs"] += 1
    elif pos_sum == 0.0:
        events["zero_positive_weight"] += 1
        if sum(s for _, _, s in pos) > 0:
            events["zero_attention"] += 1
    else:
        for d, sa, _ in pos:
            loss = loss + (1.0 - lam) * (sa / pos_sum) * d**2
    neg_sum = sum(sa for _, sa, _ in neg)
    if not neg:
        events["no_negative_pairs"] += 1
    elif neg_sum == 0.0:
        events["no_active_negatives" if sum(s for _, _, s in neg) == 0 else "zero_attention"] += 1
    else:
        for d, sa, _ in neg:
            loss = loss + lam * (sa / neg_sum) * torch.clamp(alpha - d, min=0.0) ** 2
    return loss, events
