"""Losses: OSM+CAA weighted contrastive loss, baselines, and ``build_loss`` for configs.

Every loss module has the forward signature ``loss(embeddings, labels, centres, bias=None)``
returning a scalar; ``build_loss`` combines weighted terms into a ``CombinedLoss``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from torch import nn

from reid.errors import ConfigError
from reid.losses.baselines import BatchHardTripletLoss, ContrastiveLoss, CrossEntropyLoss, WeightedSoftmaxLoss
from reid.losses.combined import CombinedLoss
from reid.losses.osm_caa import OSMCAALoss

LOSSES: dict[str, type[nn.Module]] = {
    "osm_caa": OSMCAALoss,
    "contrastive": ContrastiveLoss,
    "triplet": BatchHardTripletLoss,
    "cross_entropy": CrossEntropyLoss,
    "weighted_softmax": WeightedSoftmaxLoss,
}

__all__ = [
    "LOSSES", "BatchHardTripletLoss", "CombinedLoss", "ContrastiveLoss", "CrossEntropyLoss",
    "OSMCAALoss", "WeightedSoftmaxLoss", "build_loss",
]


def _build_term(index: int, term: Any) -> tuple[str, float, nn.Module]:
    if not isinstance(term, Mapping):
        raise ConfigError(f"loss.terms[{index}]: got {term!r}, expected a mapping {{name, weight, **params}}")
    params = dict(term)
    name = params.pop("name", None)
    if name not in LOSSES:
        raise ConfigError(f"loss.terms[{index}].name={name!r} is not a loss; valid names: {sorted(LOSSES)}")
    weight = params.pop("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise ConfigError(f"loss.terms[{index}] ({name}): weight={weight!r}, expected a number >= 0")
    cls = LOSSES[name]
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    for key in params:
        if key not in accepted:
            raise ConfigError(f"loss {name!r}: unknown parameter {key!r}; valid parameters: {accepted}")
    try:
        module = cls(**params)
    except ConfigError as err:
        raise ConfigError(f"loss.terms[{index}] ({name}): {err}") from err
    return name, float(weight), module


def build_loss(terms: Sequence[Mapping[str, Any]]) -> CombinedLoss:
    """Build the training loss from config terms.

    Args:
        terms: e.g. ``[{"name": "osm_caa", "weight": 1.0, "variant": "official"},
            {"name": "cross_entropy", "weight": 1.0, "label_smoothing": 0.1}]``. ``weight``
            defaults to 1.0; every other key is a keyword argument of ``LOSSES[name]``.

    Returns:
        A ``CombinedLoss``; ``forward(embeddings, labels, centres, bias=None) -> (total, values)``.

    Raises:
        ConfigError: unknown loss name (lists the valid ones), unknown parameter (names the loss
            and the key), invalid value, duplicate names, or an empty list.
    """
    if isinstance(terms, (str, bytes, Mapping)) or not isinstance(terms, Sequence):
        raise ConfigError(f"loss.terms: got {terms!r}, expected a list of {{name, weight, **params}} mappings")
    return CombinedLoss([_build_term(i, term) for i, term in enumerate(terms)])
