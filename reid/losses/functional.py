"""Pure tensor functions behind the OSM+CAA weighted contrastive loss (docs/method.md, "The OSM+CAA loss").

Pairs are the unordered pairs ``i < j`` of a batch of ``N`` samples, enumerated in the order of
``torch.triu_indices(N, N, offset=1)``; ``M = N (N - 1) / 2``. Every per-pair tensor below is of
shape ``(M,)`` in that order. Weights (``s``, ``a``, ``w``) are returned detached: they are
constants for the gradient, as in the paper and the authors' Caffe code.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: Clamp applied to squared distances before the square root, and to norms before dividing.
EPS = 1e-12
VARIANTS = ("official", "paper")
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def compute_dtype(x: Tensor) -> Tensor:
    """Return ``x`` in at least float32 (half/bfloat16 from autocast are upcast; float64 is kept)."""
    return x.float() if x.dtype in _LOW_PRECISION else x


def check_batch(owner: str, embeddings: Tensor, labels: Tensor) -> None:
    """Raise ValueError unless ``embeddings`` is ``(N, D)`` and ``labels`` is ``(N,)``."""
    if embeddings.ndim != 2 or tuple(labels.shape) != (embeddings.shape[0],):
        raise ValueError(
            f"{owner}: embeddings {tuple(embeddings.shape)} and labels {tuple(labels.shape)} "
            "must be (N, D) and (N,)"
        )


def pair_indices(n: int, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """Indices of all unordered pairs ``i < j`` of ``n`` samples.

    Returns:
        ``(i, j)``, two int64 tensors of shape ``(M,)``, ``M = n (n - 1) / 2``.
    """
    idx = torch.triu_indices(n, n, offset=1, device=device)
    return idx[0], idx[1]


def l2_normalize(x: Tensor) -> Tensor:
    """Overflow-safe row-wise L2 normalisation ``f = x / ||x||``.

    Each row is first divided by its (detached) largest absolute entry, so norms of 1e-30 or 1e30
    in float32 neither underflow nor overflow; this leaves ``f`` and its gradient unchanged. A zero
    row stays zero (its norm is clamped at ``EPS``).

    Args:
        x: ``(N, D)`` raw embeddings.

    Returns:
        ``(N, D)`` unit-norm rows.
    """
    scale = x.detach().abs().amax(dim=1, keepdim=True)
    scale = scale.clamp_min(torch.finfo(x.dtype).tiny)
    y = x / scale
    return y / torch.linalg.vector_norm(y, dim=1, keepdim=True).clamp_min(EPS)


def pair_distances(f: Tensor) -> Tensor:
    """Euclidean distance of every unordered pair ``i < j``.

    ``d_ij = sqrt(max(||f_i - f_j||^2, EPS))``; the difference is formed explicitly (no Gram
    expansion), so duplicate embeddings give exactly ``sqrt(EPS)`` and a zero, finite gradient.
    The differences of all ordered pairs are formed by broadcasting and the pairs ``i < j`` picked
    afterwards: gathering ``f[i] - f[j]`` instead would make the backward an accumulation into
    repeated rows of ``f``, whose order (and so the gradient's last bits) changes from run to run
    on a multi-threaded CPU. Memory is ``O(N^2 D)``.

    Args:
        f: ``(N, D)`` embeddings (normalised ones for OSM+CAA).

    Returns:
        ``(M,)`` distances in ``pair_indices`` order.
    """
    i, j = pair_indices(f.shape[0], f.device)
    sq = (f.unsqueeze(1) - f.unsqueeze(0)).pow(2).sum(dim=2)[i, j]  # each (i, j) picked once
    return sq.clamp_min(EPS).sqrt()


def same_identity(labels: Tensor) -> Tensor:
    """``(N,)`` labels -> ``(M,)`` bool, True where the pair ``i < j`` shares the identity."""
    i, j = pair_indices(labels.shape[0], labels.device)
    return labels[i] == labels[j]


def osm_weights(
    d: Tensor, same: Tensor, *, variant: str, sigma: float, alpha: float, enabled: bool = True
) -> Tensor:
    """Online Soft Mining weights ``s_ij`` (detached).

    Positives: paper ``exp(-d^2 / sigma^2)``, official ``exp(-d^2 / (2 sigma^2))``.
    Negatives (both variants): ``max(0, alpha - d)``. With ``enabled=False`` every ``s_ij = 1``.

    Args:
        d: ``(M,)`` pair distances.
        same: ``(M,)`` bool, True for positive pairs.
        variant: ``"paper"`` or ``"official"``.
        sigma: OSM bandwidth for positives.
        alpha: margin for negatives.
        enabled: False turns OSM off (``s = 1``).

    Returns:
        ``(M,)`` weights, no gradient.
    """
    if variant not in VARIANTS:
        raise ValueError(f"osm_weights: variant={variant!r}, expected one of {VARIANTS}")
    d = d.detach()
    if not enabled:
        return torch.ones_like(d)
    denom = sigma**2 if variant == "paper" else 2.0 * sigma**2
    pos = torch.exp(-d.pow(2) / denom)
    neg = (alpha - d).clamp_min(0.0)
    return torch.where(same, pos, neg)


def class_logits(x: Tensor, centres: Tensor, bias: Tensor | None = None) -> Tensor:
    """Identity-classifier logits ``x C^T + b``: ``(N, D), (K, D), (K,) -> (N, K)``."""
    if x.ndim != 2 or centres.ndim != 2 or x.shape[1] != centres.shape[1]:
        raise ValueError(
            f"class_logits: embeddings {tuple(x.shape)} and centres {tuple(centres.shape)} "
            "must be (N, D) and (K, D) with the same D"
        )
    if bias is not None and tuple(bias.shape) != (centres.shape[0],):
        raise ValueError(f"class_logits: bias shape {tuple(bias.shape)}, expected ({centres.shape[0]},)")
    logits = x @ centres.T
    return logits if bias is None else logits + bias


def own_class_probability(x: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None) -> Tensor:
    """``p_i = softmax(x_i C^T + b)[y_i]`` from the RAW embedding, detached.

    Non-finite logits (float overflow of huge embeddings) are clamped to the dtype's range, so the
    softmax stays finite.

    Returns:
        ``(N,)`` probabilities in ``[0, 1]``.
    """
    num_classes = centres.shape[0]
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(f"labels must lie in [0, {num_classes}) (rows of centres); got {labels.tolist()}")
    with torch.no_grad():
        logits = compute_dtype(class_logits(x.detach(), centres.detach(), None if bias is None else bias.detach()))
        info = torch.finfo(logits.dtype)
        logits = torch.nan_to_num(logits, nan=0.0, posinf=info.max, neginf=info.min)
        prob = F.softmax(logits, dim=1)
    return prob.gather(1, labels.view(-1, 1)).squeeze(1)


def caa_attention(
    x: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None, variant: str = "official",
    caa_sigma: float = 0.68,
) -> Tensor:
    """Class-Aware Attention ``a_i`` per sample (detached).

    paper: ``a_i = p_i``; official: ``a_i = exp(-(p_i - 1)^2 / (2 caa_sigma^2))``.

    Args:
        x: ``(N, D)`` raw (not normalised) embeddings.
        labels: ``(N,)`` int64 class indices into ``centres``.
        centres: ``(K, D)`` classifier weight.
        bias: ``(K,)`` classifier bias or None.
        variant: ``"paper"`` or ``"official"``.
        caa_sigma: bandwidth of the official Gaussian.

    Returns:
        ``(N,)`` attention, no gradient.
    """
    if variant not in VARIANTS:
        raise ValueError(f"caa_attention: variant={variant!r}, expected one of {VARIANTS}")
    p = own_class_probability(x, labels, centres, bias)
    if variant == "paper":
        return p
    return torch.exp(-(p - 1.0).pow(2) / (2.0 * caa_sigma**2))


def pair_attention(a: Tensor) -> Tensor:
    """``(N,)`` per-sample attention -> ``(M,)`` pair attention ``a_ij = min(a_i, a_j)``."""
    i, j = pair_indices(a.shape[0], a.device)
    return torch.minimum(a[i], a[j]).detach()


class ContrastiveTerms(NamedTuple):
    """Result of ``weighted_contrastive``; the sums are detached ``()`` tensors for diagnostics."""

    loss: Tensor  # () scalar with gradient
    pos_mass: Tensor  # sum over P of s+ a
    neg_mass: Tensor  # sum over N of s- a


def weighted_contrastive(
    d: Tensor, same: Tensor, s: Tensor, a_pair: Tensor, *, alpha: float, lam: float
) -> ContrastiveTerms:
    """``(1 - lam) sum_P w+ d^2 + lam sum_N w- max(0, alpha - d)^2`` (paper form, no 1/2).

    ``w = s a / sum(s a)``, normalised separately over positives and negatives and detached. A
    set whose weight sum is 0 (empty, or all weights 0) contributes exactly 0, never NaN.

    Args:
        d: ``(M,)`` pair distances (with gradient).
        same: ``(M,)`` bool, True for positive pairs.
        s: ``(M,)`` OSM weights.
        a_pair: ``(M,)`` pair attention.
        alpha: negative margin.
        lam: balance between the negative (``lam``) and positive (``1 - lam``) terms.

    Returns:
        ``ContrastiveTerms(loss, pos_mass, neg_mass)``.
    """
    sa = (s * a_pair).detach()
    zero = torch.zeros_like(sa)
    sa_pos = torch.where(same, sa, zero)
    sa_neg = torch.where(same, zero, sa)
    pos_mass, neg_mass = sa_pos.sum(), sa_neg.sum()
    # Every sa >= 0, so a zero sum means every weight of that set is 0: dividing by 1 keeps them 0.
    w_pos = sa_pos / torch.where(pos_mass > 0, pos_mass, torch.ones_like(pos_mass))
    w_neg = sa_neg / torch.where(neg_mass > 0, neg_mass, torch.ones_like(neg_mass))
    pos_term = (w_pos * d.pow(2)).sum()
    neg_term = (w_neg * (alpha - d).clamp_min(0.0).pow(2)).sum()
    loss = (1.0 - lam) * pos_term + lam * neg_term
    return ContrastiveTerms(loss, pos_mass, neg_mass)


def intra_camera_nce(features: Tensor, indices: Tensor, camids: Tensor, memory: Tensor, memory_cameras: Tensor,
                     temperature: float) -> Tensor:
    """Each sample against the tracklets of its own camera: ``-log softmax_j(f_i . m_j / tau)[t_i]``
    over the memory rows ``j`` of camera ``c_i``, averaged over the batch.

    Args:
        features: ``(B, D)`` unit features (with gradient).
        indices: ``(B,)`` each sample's tracklet, a row of ``memory``.
        camids: ``(B,)`` each sample's camera.
        memory: ``(N, D)`` one unit row per tracklet (no gradient).
        memory_cameras: ``(N,)`` each row's camera.
        temperature: ``tau`` > 0.
    """
    indices, camids = indices.to(features.device).long(), camids.to(features.device).long()
    cams = memory_cameras.to(features.device).long()
    if bool((cams[indices] != camids).any()):
        raise ValueError("intra_camera_nce: a sample's camera differs from its tracklet's")
    logits = features @ memory.to(features.dtype).T / temperature
    logits = logits.masked_fill(camids[:, None] != cams[None, :], float("-inf"))
    return F.cross_entropy(logits, indices)


def camera_proxies(memory: Tensor, cameras: Tensor, clusters: Tensor) -> tuple[Tensor, Tensor]:
    """One unit proxy per (cluster, camera) pair: the normalised mean of the member rows.

    Args:
        memory: ``(N, D)`` one unit row per tracklet.
        cameras: ``(N,)`` each row's camera.
        clusters: ``(N,)`` each row's cluster, negative for rows no cluster holds (no proxy).

    Returns:
        ``(proxies (M, D), proxy_clusters (M,))``, pairs in the order of ``(cluster, camera)``.
    """
    keep = clusters >= 0
    rows, cams, labels = memory[keep], cameras[keep].long(), clusters[keep].long()
    if not len(labels):
        return memory.new_zeros(0, memory.shape[1]), labels
    num_cameras = int(cams.max()) + 1
    pairs, slot = torch.unique(labels * num_cameras + cams, return_inverse=True)
    sums = memory.new_zeros(len(pairs), memory.shape[1]).index_add_(0, slot, rows)
    return F.normalize(sums, dim=1), pairs // num_cameras


def inter_camera_nce(features: Tensor, clusters: Tensor, proxies: Tensor, proxy_clusters: Tensor,
                     temperature: float, hard_negatives: int) -> Tensor:
    """Each sample against the camera proxies of its cluster, with the hardest proxies of other
    clusters as negatives (the inter-camera loss of camera-aware proxies, Wang et al. AAAI 2021):

    ``-1/|P_i| sum_{p in P_i} log exp(s_ip) / (exp(s_ip) + sum_{q in Q_i} exp(s_iq))``,
    ``s = u_i . m / tau``, ``P_i`` the proxies of the sample's cluster (one per camera it was seen
    in), ``Q_i`` the ``hard_negatives`` most similar proxies of other clusters; averaged over the
    samples with a cluster (0 when none has one).

    Args:
        features: ``(B, D)`` unit features (with gradient).
        clusters: ``(B,)`` each sample's cluster, negative for none.
        proxies: ``(M, D)`` unit proxies (no gradient); ``proxy_clusters`` ``(M,)`` their clusters.
        temperature: ``tau`` > 0.
        hard_negatives: how many negatives per sample (all there are, if fewer).
    """
    clusters = clusters.to(features.device).long()
    proxy_clusters = proxy_clusters.to(features.device).long()
    held = clusters >= 0
    if not bool(held.any()) or not len(proxies):
        return features.sum() * 0.0
    f, y = features[held], clusters[held]
    logits = f @ proxies.to(f.dtype).T / temperature
    positive = proxy_clusters[None, :] == y[:, None]
    if bool((~positive.any(1)).any()):
        raise ValueError("inter_camera_nce: a sample's cluster has no proxy")
    k = min(hard_negatives, int((~positive).sum(1).max()))  # a row with fewer keeps -inf in its spare slots
    if k > 0:
        negatives = logits.masked_fill(positive, float("-inf")).topk(k, dim=1).values
        against = torch.logaddexp(logits, torch.logsumexp(negatives, dim=1, keepdim=True))
    else:
        against = logits
    per_proxy = (against - logits) * positive
    return (per_proxy.sum(1) / positive.sum(1)).mean()
