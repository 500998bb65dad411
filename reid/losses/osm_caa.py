"""``OSMCAALoss``: weighted contrastive loss with Online Soft Mining and Class-Aware Attention.

L = (1 - lam) sum_P w+_ij d_ij^2 + lam sum_N w-_ij max(0, alpha - d_ij)^2   (docs/method.md, "Weighted contrastive loss")

This is the paper's form. The authors' Caffe layers scale it differently (a factor 1/2 on each
term, and the contrastive layer underneath divides every pair's gradient by the number of pairs),
so their gradient is a batch-dependent fraction of this one with the same minimiser; the loss
weight and learning rate absorb the difference (docs/method.md, "Relation to the authors' Caffe
code").
"""

from __future__ import annotations

import collections

import torch
from torch import Tensor

from reid.errors import ConfigError
from reid.losses import functional as LF
from reid.losses.combined import LossTerm, TermOutput

_DEFAULT_SIGMA = {"official": 1.0, "paper": 0.8}


def _check_positive(name: str, value: float) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ConfigError(f"OSMCAALoss: {name}={value!r}, expected a number > 0")


def describe_degenerate(stats: dict) -> str:
    """One line from ``OSMCAALoss.stats``: how many batches, and which degenerate cases occurred."""
    cases = {key: count for key, count in sorted(stats.items()) if key != "batches" and count}
    found = ", ".join(f"{key} in {count}" for key, count in cases.items()) or "none"
    return f"{stats.get('batches', 0)} batches, degenerate cases: {found}"


def describe_pairs(pairs: dict) -> str:
    """One line from ``OSMCAALoss.pairs``: the share of negative pairs that carried gradient."""
    negatives = pairs.get("negative", 0)
    if not negatives:
        return "no negative pairs"
    return (f"{100 * pairs.get('active_negative', 0) / negatives:.1f} % of {negatives} negative pairs inside the "
            "margin (carrying gradient)")


class OSMCAALoss(LossTerm):
    """OSM+CAA weighted contrastive loss over all unordered pairs ``i < j`` of a batch.

    Args:
        variant: ``"official"`` (s+ = exp(-d^2/(2 sigma^2)), a = Gaussian of p around 1) or
            ``"paper"`` (s+ = exp(-d^2/sigma^2), a = p).
        osm: False turns Online Soft Mining off (s = 1).
        caa: False turns Class-Aware Attention off (a = 1); centres are then not used.
        alpha: negative margin (1.2).
        lam: weight of the negative term; the positive term gets ``1 - lam`` (0.5).
        sigma: OSM bandwidth; None -> 1.0 (official, MARS) or 0.8 (paper).
        caa_sigma: bandwidth of the official attention Gaussian (0.68).

    Attributes:
        stats: ``collections.Counter`` of events, incremented on every forward: ``batches``;
            ``no_positive_pairs`` / ``no_negative_pairs`` (the set is empty);
            ``zero_positive_weight`` (positives exist but every s+ a is 0);
            ``no_active_negatives`` (negatives exist but all lie beyond the margin, s- = 0);
            ``zero_attention`` (a set with non-zero s has zero total weight because a = 0).
        pairs: ``collections.Counter`` summed over batches: ``negative`` pairs and
            ``active_negative`` ones (inside the margin, s- > 0: the negatives that carry gradient).

    ``compute`` returns the loss with the extra ``attention``: the detached per-sample ``a_i``
    ``(N,)`` of the batch (all ones when ``caa=False``).

    Both ``osm`` and ``caa`` off gives the contrastive loss with mean-normalised weights:
    ``(1 - lam) mean_P d^2 + lam mean_N max(0, alpha - d)^2``.
    """

    def __init__(
        self,
        *,
        variant: str = "official",
        osm: bool = True,
        caa: bool = True,
        alpha: float = 1.2,
        lam: float = 0.5,
        sigma: float | None = None,
        caa_sigma: float = 0.68,
    ) -> None:
        super().__init__()
        if variant not in LF.VARIANTS:
            raise ConfigError(f"OSMCAALoss: variant={variant!r}, expected one of {LF.VARIANTS}")
        for key, flag in (("osm", osm), ("caa", caa)):
            if not isinstance(flag, bool):
                raise ConfigError(f"OSMCAALoss: {key}={flag!r}, expected true or false")
        sigma = _DEFAULT_SIGMA[variant] if sigma is None else sigma
        for key, value in (("alpha", alpha), ("sigma", sigma), ("caa_sigma", caa_sigma)):
            _check_positive(key, value)
        if not isinstance(lam, (int, float)) or isinstance(lam, bool) or not 0.0 <= lam <= 1.0:
            raise ConfigError(f"OSMCAALoss: lam={lam!r}, expected a number in [0, 1]")
        self.variant, self.osm, self.caa = variant, osm, caa
        self.alpha, self.lam, self.sigma, self.caa_sigma = float(alpha), float(lam), float(sigma), float(caa_sigma)
        self.stats: collections.Counter[str] = collections.Counter()
        self.pairs: collections.Counter[str] = collections.Counter()

    def extra_repr(self) -> str:
        return (
            f"variant={self.variant}, osm={self.osm}, caa={self.caa}, alpha={self.alpha}, "
            f"lam={self.lam}, sigma={self.sigma}, caa_sigma={self.caa_sigma}"
        )

    def attention(self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None) -> Tensor:
        """Per-sample attention ``a_i``: ``(N, D) -> (N,)``, detached; ones when CAA is off."""
        if not self.caa:
            return torch.ones(embeddings.shape[0], dtype=LF.compute_dtype(embeddings).dtype, device=embeddings.device)
        return LF.caa_attention(embeddings, labels, centres, bias, self.variant, self.caa_sigma)

    class_aware = True  # CombinedLoss passes a BNNeck's output as class_embeddings

    def forward(self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None,
                class_embeddings: Tensor | None = None) -> Tensor:
        """Loss of one batch.

        Args:
            embeddings: ``(N, D)`` raw embeddings (normalised inside for the distances).
            labels: ``(N,)`` int64 identity labels, indices into ``centres``.
            centres: ``(K, D)`` identity-classifier weight (class centres).
            bias: ``(K,)`` classifier bias, or None.
            class_embeddings: ``(N, D)`` the classifier's input when it is not ``embeddings``
                (a BNNeck): CAA's class probabilities come from it.

        Returns:
            ``()`` scalar loss; gradient flows to ``embeddings`` only (weights are detached).
        """
        return self.compute(embeddings, labels, centres, bias, class_embeddings).value

    def compute(self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None,
                class_embeddings: Tensor | None = None) -> TermOutput:
        """The loss of one batch and, as extra ``attention``, the detached ``(N,)`` a_i."""
        LF.check_batch("OSMCAALoss", embeddings, labels)
        x = LF.compute_dtype(embeddings)
        c = x if class_embeddings is None else LF.compute_dtype(class_embeddings)
        a = self.attention(c, labels, centres, bias).to(x.dtype)
        d = LF.pair_distances(LF.l2_normalize(x))
        same = LF.same_identity(labels)
        s = LF.osm_weights(d, same, variant=self.variant, sigma=self.sigma, alpha=self.alpha, enabled=self.osm)
        terms = LF.weighted_contrastive(d, same, s, LF.pair_attention(a), alpha=self.alpha, lam=self.lam)
        self._count(same, s, terms)
        return TermOutput(terms.loss, {"attention": a})

    def _count(self, same: Tensor, s: Tensor, terms: LF.ContrastiveTerms) -> None:
        """Update ``stats`` with one host transfer."""
        zero = torch.zeros_like(s)
        flags = torch.stack([
            same.any(), (~same).any(), terms.pos_mass > 0, terms.neg_mass > 0,
            torch.where(same, s, zero).sum() > 0, torch.where(same, zero, s).sum() > 0,
            (~same).sum(), (~same & (s > 0)).sum(),
        ]).tolist()
        has_pos, has_neg, pos_mass, neg_mass, pos_s, neg_s, negatives, active = flags
        self.stats["batches"] += 1
        self.pairs["negative"] += int(negatives)  # pairs i < j
        self.pairs["active_negative"] += int(active)  # inside the margin: they carry gradient
        if not has_pos:
            self.stats["no_positive_pairs"] += 1
        elif not pos_mass:
            self.stats["zero_positive_weight"] += 1
            if pos_s:
                self.stats["zero_attention"] += 1
        if not has_neg:
            self.stats["no_negative_pairs"] += 1
        elif not neg_mass:
            self.stats["no_active_negatives" if not neg_s else "zero_attention"] += 1
