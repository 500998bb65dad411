"""``CombinedLoss``: a weighted sum of loss terms that share one forward signature.

It returns a typed ``LossResult`` (total, each term's value, and the extras terms report, such as
OSM+CAA's per-sample attention), so nothing downstream has to find a term's side products by
looking for attributes on modules.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from reid.errors import ConfigError


@dataclass
class TermOutput:
    """One term's value ``()`` (with gradient) and what else it computed (detached tensors)."""

    value: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


class LossTerm(nn.Module):
    """Base of every loss term: ``forward(embeddings, labels, centres, bias) -> ()``.

    Class attributes tell ``CombinedLoss`` what a term takes when the model has a BNNeck:
    ``classifies`` terms (cross-entropy) take the classifier's input in place of the embeddings;
    ``class_aware`` terms (OSM+CAA) take it as ``class_embeddings`` beside the embeddings.
    ``compute`` returns the value with its extras; terms that have extras override it.
    """

    classifies = False
    class_aware = False

    def compute(self, embeddings: Tensor, labels: Tensor, centres: Tensor | None, bias: Tensor | None = None,
                class_embeddings: Tensor | None = None) -> TermOutput:
        if self.class_aware:
            return TermOutput(self(embeddings, labels, centres, bias, class_embeddings=class_embeddings))
        return TermOutput(self(embeddings, labels, centres, bias))


@dataclass
class LossResult:
    """What ``CombinedLoss`` returns.

    Attributes:
        total: ``()`` weighted sum, with gradient.
        parts: ``{term name: float}`` each term's UNWEIGHTED value (for logging).
        extras: ``{"<term>/<key>": Tensor}`` detached side products, e.g. ``osm_caa/attention``
            ``(N,)``; ``attention`` (without a prefix) is the first term's attention, if any has one.
    """

    total: Tensor
    parts: dict[str, float]
    extras: dict[str, Tensor] = field(default_factory=dict)

    @property
    def attention(self) -> Tensor | None:
        return self.extras.get("attention")

    def __iter__(self) -> Iterator:  # ``total, parts = criterion(...)`` keeps working
        return iter((self.total, self.parts))


class CombinedLoss(nn.Module):
    """``total = sum_k weight_k * loss_k(embeddings, labels, centres, bias)``.

    Args:
        terms: ``(name, weight, module)`` triples; names must be unique (they key the returned
            values and ``self.terms``); modules are ``LossTerm`` instances.
    """

    def __init__(self, terms: Sequence[tuple[str, float, LossTerm]]) -> None:
        super().__init__()
        if not terms:
            raise ConfigError("loss: no terms given, expected at least one {name, weight} entry")
        names = [name for name, _, _ in terms]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ConfigError(f"loss: term names {duplicates} appear more than once; each loss may be listed once")
        for name, _, module in terms:
            if not isinstance(module, LossTerm):
                raise TypeError(f"loss term {name!r}: {type(module).__name__} is not a LossTerm")
        self.terms = nn.ModuleDict({name: module for name, _, module in terms})
        self.weights: dict[str, float] = {name: float(weight) for name, weight, _ in terms}

    def forward(
        self, embeddings: Tensor, labels: Tensor, centres: Tensor, bias: Tensor | None = None,
        class_embeddings: Tensor | None = None,
    ) -> LossResult:
        """Weighted total, each term's value and the terms' extras.

        Args:
            embeddings: ``(N, D)`` raw embeddings.
            labels: ``(N,)`` int64 identity labels.
            centres: ``(K, D)`` classifier weight.
            bias: ``(K,)`` classifier bias or None.
            class_embeddings: ``(N, D)`` what the classifier sees (a BNNeck's output); None: the
                embeddings. Classification terms take it in place of the embeddings; class-aware
                terms (OSM+CAA) take it for their class probabilities and the embeddings for their
                distances.
        """
        total: Tensor | None = None
        values: dict[str, Tensor] = {}
        extras: dict[str, Tensor] = {}
        cls = embeddings if class_embeddings is None else class_embeddings
        for name, module in self.terms.items():
            if module.classifies:
                out = module.compute(cls, labels, centres, bias)
            elif module.class_aware and class_embeddings is not None:
                out = module.compute(embeddings, labels, centres, bias, class_embeddings=cls)
            else:
                out = module.compute(embeddings, labels, centres, bias)
            values[name] = out.value.detach()
            for key, extra in out.extras.items():
                extras[f"{name}/{key}"] = extra
                extras.setdefault(key, extra)
            weighted = self.weights[name] * out.value
            total = weighted if total is None else total + weighted
        assert total is not None  # __init__ guarantees at least one term
        floats = torch.stack([v.double() for v in values.values()]).tolist()  # one host transfer
        return LossResult(total, dict(zip(values, floats)), extras)
