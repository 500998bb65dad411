"""Aggregate the 10 splits of the two-camera sets (iLIDS-VID, PRID-2011; docs/method.md, "Two-camera split protocols").

Each split is evaluated on its own (query = camera 1, gallery = camera 2); the paper's tables give
the mean over splits, and the standard deviation tells how much a split changes the numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

SPLIT_RANKS = (1, 5, 10, 20)


@dataclass(frozen=True)
class SplitSummary:
    """Per-split metrics and their mean and standard deviation, all in percent.

    Attributes:
        names: column names, ``rank1``, ``rank5``, ``rank10``, ``rank20``, ``mAP``.
        per_split: (S, 5) float64, one row per split.
        mean: (5,) mean over splits.
        std: (5,) standard deviation over splits (population, ddof=0; 0 for one split).
    """

    names: tuple[str, ...]
    per_split: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    def as_dict(self) -> dict[str, dict[str, float]]:
        """``{"rank1": {"mean": ..., "std": ...}, ...}`` for metrics.json."""
        return {n: {"mean": float(m), "std": float(s)}
                for n, m, s in zip(self.names, self.mean, self.std)}


def aggregate_splits(results: Sequence[Any], ranks: Sequence[int] = SPLIT_RANKS) -> SplitSummary:
    """Mean and std of CMC rank-k and mAP over splits.

    Args:
        results: one ``EvalResult`` or ``(cmc, mAP)`` pair per split; cmc (>= max(ranks),),
            values in [0, 1].
        ranks: CMC ranks (1-based) to report.

    Returns:
        A SplitSummary in percent.

    Raises:
        ValueError: no results, or a CMC curve shorter than the largest rank.
    """
    if len(results) == 0:
        raise ValueError("results is empty; expected one evaluation result per split")
    rows = []
    for i, result in enumerate(results):
        cmc, mAP = result
        cmc = np.asarray(cmc, dtype=np.float64)
        if cmc.shape[0] < max(ranks):
            raise ValueError(f"split {i}: CMC has {cmc.shape[0]} ranks, expected at least "
                             f"{max(ranks)} (gallery smaller than max_rank?)")
        rows.append([cmc[r - 1] for r in ranks] + [float(mAP)])
    table = 100.0 * np.asarray(rows)
    names = tuple(f"rank{r}" for r in ranks) + ("mAP",)
    return SplitSummary(names=names, per_split=table, mean=table.mean(0), std=table.std(0))


def format_split_table(summary: SplitSummary, digits: int = 1) -> str:
    """Markdown table: one row per split, then ``mean`` and ``std`` rows."""
    header = "| split | " + " | ".join(summary.names) + " |"
    lines = [header, "|" + "---|" * (len(summary.names) + 1)]

    def row(label: str, values: np.ndarray) -> str:
        return f"| {label} | " + " | ".join(f"{v:.{digits}f}" for v in values) + " |"

    lines += [row(str(i), values) for i, values in enumerate(summary.per_split)]
    lines += [row("mean", summary.mean), row("std", summary.std)]
    return "\n".join(lines)
