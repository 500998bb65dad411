"""Baseline losses, all with the shared signature ``forward(embeddings, labels, centres, bias=None)``.

Metric losses ignore ``centres``/``bias``; classification losses compute
``logits = embeddings @ centres.T + bias`` themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reid.errors import ConfigError
from reid.losses import functional as LF
from reid.losses.combined import LossTerm, TermOutput


def _check_number(owner: str, name: str, value: float, *, low: float, high: float | None = None,
                  low_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > low if low_open else value >= low) and (high is None or value <= high)
    if not ok:
        bound = f"{'>' if low_open else '>='} {low}" + ("" if high is None else f" and <= {high}")
        raise ConfigError(f"{owner}: {name}={value!r}, expected a number {bound}")


class ContrastiveLoss(LossTerm):
    """Plain contrastive loss on L2-normalised embeddings, all unordered pairs ``i < j``.

    ``L = mean_P d_ij^2 + mean_N max(0, alpha - d_ij)^2`` (each mean over ALL pairs of its set;
    an empty set contributes 0). This equals ``2 x`` OSMCAALoss(osm=False, caa=False, lam=0.5).
    """

    def __init__(self, alpha: float = 1.2) -> None:
        super().__init__()
        _check_number("ContrastiveLoss", "alpha", alpha, low=0.0, low_open=True)
        self.alpha = float(alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"

    def forward(self, embeddings: Tensor, labels: Tensor, centres: Tensor | None = None,
                bias: Tensor | None = None) -> Tensor:
        """``(N, D), (N,) -> ()``; ``centres`` and ``bias`` are unused."""
        LF.check_batch("ContrastiveLoss", embeddings, labels)
        x = LF.compute_dtype(embeddings)
        d = LF.pair_distances(LF.l2_normalize(x))
        same = LF.same_identity(labels)
        zero = torch.zeros_like(d)
        n_pos = same.sum().clamp_min(1)
        n_neg = (~same).sum().clamp_min(1)
        pos = torch.where(same, d.pow(2), zero).sum() / n_pos
        neg = torch.where(same, zero, (self.alpha - d).clamp_min(0.0).pow(2)).sum() / n_neg
        return pos + neg


class BatchHardTripletLoss(LossTerm):
    """Batch-hard triplet loss (Hermans, Beyer and Leibe 2017) with a hinge margin.

    Euclidean distances on the RAW embeddings, as Hermans et al. do (``sqrt`` of the squared
    distance clamped at 1e-12). For each anchor: hardest positive = farthest sample with its label
    (itself excluded), hardest negative = closest sample with another label;
    ``L = mean over anchors having both of max(0, margin + d_ap - d_an)``; 0 if no anchor has both.
    ``soft=True``: Hermans et al.'s soft margin ``log(1 + exp(d_ap - d_an))`` instead of the hinge
    (``margin`` unused). It never reaches zero, and it keeps pushing when every embedding sits at
    one point, where the hinge's gradient pulls them there: the hinge form can collapse from a
    random init (docs/retrieval_study.md), the soft one is the usual remedy.
    """

    def __init__(self, margin: float = 0.3, soft: bool = False) -> None:
        super().__init__()
        _check_number("BatchHardTripletLoss", "margin", margin, low=0.0)
        if not isinstance(soft, bool):
            raise ValueError(f"BatchHardTripletLoss: soft must be true or false, got {soft!r}")
        self.margin = float(margin)
        self.soft = soft

    def extra_repr(self) -> str:
        return "soft margin" if self.soft else f"margin={self.margin}"

    def forward(self, embeddings: Tensor, labels: Tensor, centres: Tensor | None = None,
                bias: Tensor | None = None) -> Tensor:
        """``(N, D), (N,) -> ()``; ``centres`` and ``bias`` are unused."""
        LF.check_batch("BatchHardTripletLoss", embeddings, labels)
        x = LF.compute_dtype(embeddings)
        n = x.shape[0]
        sq = (x.unsqueeze(1) - x.unsqueeze(0)).pow(2).sum(dim=2)  # (N, N)
        dist = sq.clamp_min(LF.EPS).sqrt()
        same = labels.view(-1, 1) == labels.view(1, -1)
        eye = torch.eye(n, dtype=torch.bool, device=x.device)
        pos_mask, neg_mask = same & ~eye, ~same
        d_ap = torch.where(pos_mask, dist, torch.full_like(dist, -1.0)).amax(dim=1)
        d_an = torch.where(neg_mask, dist, torch.full_like(dist, float("inf"))).amin(dim=1)
        valid = pos_mask.any(dim=1) & neg_mask.any(dim=1)
        if self.soft:
            hinge = F.softplus(d_ap - d_an)
        else:
            hinge = (self.margin + d_ap - d_an).clamp_min(0.0)
        hinge = torch.where(valid, hinge, torch.zeros_like(hinge))
        return hinge.sum() / valid.sum().clamp_min(1)


class CrossEntropyLoss(LossTerm):
    """Identity cross-entropy with label smoothing on ``logits = x C^T + b``.

    Smoothed target ``(1 - eps) onehot(y) + eps / K``; loss = mean over the batch of
    ``-sum_k target_k log softmax_k``.
    """

    classifies = True  # CombinedLoss gives it the classifier's input (a BNNeck's output)

    def __init__(self, label_smoothing: float = 0.1) -> None:
        super().__init__()
        _check_number("CrossEntropyLoss", "label_smoothing", label_smoothing, low=0.0, high=1.0)
        self.label_smoothing = float(label_smoothing)

    def extra_repr(self) -> str:
        return f"label_smoothing={self.label_smoothing}"

    def forward(self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None) -> Tensor:
        """``(N, D), (N,), (K, D), (K,) -> ()``."""
        logits = LF.compute_dtype(LF.class_logits(embeddings, centres, bias))
        return F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing)


class WeightedSoftmaxLoss(LossTerm):
    """Cross-entropy weighted per sample as in the authors' Caffe code.

    ``w_i = exp(-(p_i - mu)^2 / (2 sigma^2))`` with ``p_i = softmax(x_i C^T + b)[y_i]``, detached;
    ``L = sum_i w_i CE_i / sum_i w_i`` (weights normalised to mean 1 over the batch, so the loss
    scale matches plain CE). ``w_i >= exp(-max(mu, 1 - mu)^2 / (2 sigma^2)) > 0``, so the sum never
    vanishes for ``mu`` in [0, 1] (it is clamped at 1e-12 regardless).
    """

    classifies = True

    def __init__(self, mu: float = 0.5, sigma: float = 0.18, label_smoothing: float = 0.0) -> None:
        super().__init__()
        _check_number("WeightedSoftmaxLoss", "mu", mu, low=0.0, high=1.0)
        _check_number("WeightedSoftmaxLoss", "sigma", sigma, low=0.0, low_open=True)
        _check_number("WeightedSoftmaxLoss", "label_smoothing", label_smoothing, low=0.0, high=1.0)
        self.mu, self.sigma, self.label_smoothing = float(mu), float(sigma), float(label_smoothing)

    def extra_repr(self) -> str:
        return f"mu={self.mu}, sigma={self.sigma}, label_smoothing={self.label_smoothing}"

    def forward(self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None) -> Tensor:
        """``(N, D), (N,), (K, D), (K,) -> ()``."""
        return self.compute(embeddings, labels, centres, bias).value

    def compute(self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None,
                class_embeddings: Tensor | None = None) -> TermOutput:
        """The loss and, as extra ``weights``, the detached ``(N,)`` per-sample weights."""
        logits = LF.compute_dtype(LF.class_logits(embeddings, centres, bias))
        ce = F.cross_entropy(logits, labels, reduction="none", label_smoothing=self.label_smoothing)
        with torch.no_grad():
            p = F.softmax(logits, dim=1).gather(1, labels.view(-1, 1)).squeeze(1)
            w = torch.exp(-(p - self.mu).pow(2) / (2.0 * self.sigma**2))
        return TermOutput((w * ce).sum() / w.sum().clamp_min(LF.EPS), {"weights": w})
