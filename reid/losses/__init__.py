"""Losses: OSM+CAA weighted contrastive loss, baselines, and ``build_loss`` for configs.

Every loss term is a ``LossTerm`` with the forward signature ``loss(embeddings, labels, centres,
bias=None)`` returning a scalar (``compute`` returns it with its extras); ``build_loss`` combines
weighted terms into a ``CombinedLoss``, which returns a ``LossResult``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from reid.config import LOSS_TERMS, loss_term_from_dict
from reid.errors import ConfigError
from reid.losses.baselines import BatchHardTripletLoss, ContrastiveLoss, CrossEntropyLoss, WeightedSoftmaxLoss
from reid.losses.combined import CombinedLoss, LossResult, LossTerm, TermOutput
from reid.losses.osm_caa import OSMCAALoss, describe_degenerate, describe_pairs

#: ``loss.terms[i].name`` -> the loss class; its parameters are the fields of
#: ``reid.config.LOSS_TERMS[name]`` other than ``name`` and ``weight``.
LOSSES: dict[str, type[LossTerm]] = {
    "osm_caa": OSMCAALoss,
    "contrastive": ContrastiveLoss,
    "triplet": BatchHardTripletLoss,
    "cross_entropy": CrossEntropyLoss,
    "weighted_softmax": WeightedSoftmaxLoss,
}
assert LOSSES.keys() == LOSS_TERMS.keys()

__all__ = [
    "LOSSES", "BatchHardTripletLoss", "CombinedLoss", "ContrastiveLoss", "CrossEntropyLoss", "LossResult",
    "LossTerm", "OSMCAALoss", "TermOutput", "WeightedSoftmaxLoss", "build_loss", "describe_degenerate", "describe_pairs",
]


def _build_term(index: int, term: Any) -> tuple[str, float, LossTerm]:
    typed = loss_term_from_dict(term, f"loss.terms[{index}]")
    params = {f.name: getattr(typed, f.name) for f in dataclasses.fields(typed) if f.name not in ("name", "weight")}
    try:
        module = LOSSES[typed.name](**params)
    except ConfigError as err:
        raise ConfigError(f"loss.terms[{index}] ({typed.name}): {err}") from err
    return typed.name, float(typed.weight), module


def build_loss(terms: Sequence[Any]) -> CombinedLoss:
    """Build the training loss from config terms.

    Args:
        terms: typed terms (``cfg.loss.terms``) or mappings, e.g. ``[{"name": "osm_caa",
            "variant": "official"}, {"name": "cross_entropy", "label_smoothing": 0.1}]``.
            ``weight`` defaults to 1.0; every other key is a parameter of ``LOSSES[name]``.

    Returns:
        A ``CombinedLoss``; ``forward(embeddings, labels, centres, bias=None) -> LossResult``.

    Raises:
        ConfigError: unknown loss name (lists the valid ones), unknown parameter (names the term
            and the key), invalid value, duplicate names, or an empty list.
    """
    if isinstance(terms, (str, bytes, Mapping)) or not isinstance(terms, Sequence):
        raise ConfigError(f"loss.terms: got {terms!r}, expected a list of {{name, weight, **params}} mappings")
    return CombinedLoss([_build_term(i, term) for i, term in enumerate(terms)])
