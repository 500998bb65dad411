"""``CombinedLoss``: a weighted sum of loss terms that share one forward signature."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from reid.errors import ConfigError


class CombinedLoss(nn.Module):
    """``total = sum_k weight_k * loss_k(embeddings, labels, centres, bias)``.

    Args:
        terms: ``(name, weight, module)`` triples; names must be unique (they key the returned
            values and ``self.terms``).
    """

    def __init__(self, terms: Sequence[tuple[str, float, nn.Module]]) -> None:
        super().__init__()
        if not terms:
            raise ConfigError("loss: no terms given, expected at least one {name, weight} entry")
        names = [name for name, _, _ in terms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"loss: term names {duplicates} appear more than once; each loss may be listed once")
        self.terms = nn.ModuleDict({name: module for name, _, module in terms})
        self.weights: dict[str, float] = {name: float(weight) for name, weight, _ in terms}

    @property
    def last_attention(self) -> Tensor | None:
        """Per-sample CAA attention ``(N,)`` of the last batch, from the first term that has one."""
        for module in self.terms.values():
            attention = getattr(module, "last_attention", None)
            if attention is not None:
                return attention
        return None

    def forward(
        self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None,
        class_embeddings: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        """Weighted total and each term's value.

        Args:
            embeddings: ``(N, D)`` raw embeddings.
            labels: ``(N,)`` int64 identity labels.
            centres: ``(K, D)`` classifier weight.
            bias: ``(K,)`` classifier bias or None.
            class_embeddings: ``(N, D)`` what the classifier sees (a BNNeck's output); None: the
                embeddings. Classification terms (``classifies = True``) take it in place of the
                embeddings; terms with ``class_aware = True`` (OSM+CAA) take it for their class
                probabilities and the embeddings for their distances.

        Returns:
            ``(total, values)``: ``()`` scalar with gradient, and ``{name: float}`` with each term's
            UNWEIGHTED value (detached, for logging).
        """
        total: Tensor | None = None
        values: dict[str, Tensor] = {}
        cls = embeddings if class_embeddings is None else class_embeddings
        for name, module in self.terms.items():
            if getattr(module, "classifies", False):
                value = module(cls, labels, centres, bias)
            elif getattr(module, "class_aware", False) and class_embeddings is not None:
                value = module(embeddings, labels, centres, bias, class_embeddings=cls)
            else:
                value = module(embeddings, labels, centres, bias)
            values[name] = value.detach()
            weighted = self.weights[name] * value
            total = weighted if total is None else total + weighted
        assert total is not None  # __init__ guarantees at least one term
        floats = torch.stack([v.double() for v in values.values()]).tolist()  # one host transfer
        return total, dict(zip(values, floats))
