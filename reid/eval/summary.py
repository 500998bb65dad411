"""Metric summaries: the numbers of one evaluation as a dict, one line of text, one cell.

Metrics a result does not have (rank-5 of a 3-tracklet gallery) show as ``n/a``, never as 0.
Re-ID summaries (``summarise``) carry rank-1/5/10/20 and mAP; image-retrieval summaries
(``summarise_retrieval``) carry Recall@1..32, mAP and NMI. ``Evaluation`` holds what one
evaluation computed (summaries, distances, per-query AP) for the report to draw from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from reid.data.tracklet import Tracklet
from reid.eval.retrieval import RECALL_KS

RANKS = (1, 5, 10, 20)


def summarise(cmc: np.ndarray, mAP: float, num_skipped: int = 0) -> dict:
    """Rank-1/5/10/20 and mAP in percent, plus the full CMC curve and the skipped-query count.

    A rank beyond the gallery's size (the CMC is cut there) is left out, not set to 0."""
    out = {f"rank{r}": round(100.0 * float(cmc[r - 1]), 2) for r in RANKS if r <= len(cmc)}
    out["mAP"] = round(100.0 * float(mAP), 2)
    out["num_skipped_queries"] = int(num_skipped)
    out["cmc"] = [float(x) for x in cmc]
    return out


def summarise_retrieval(cmc: np.ndarray, mAP: float, nmi: float, num_skipped: int = 0, *,
                        map_at_r: float | None = None, r_precision: float | None = None) -> dict:
    """Recall@1/2/4/8/16/32 (CMC at K), mAP, NMI and, when given, MAP@R and R-Precision in percent,
    the CMC curve and the skipped-query count.

    ``rank1`` repeats ``recall1`` (they are the same number), so that ``train.best_metric`` and
    the training log read the same key for both tasks. A K beyond the test set is left out."""
    out = {f"recall{k}": round(100.0 * float(cmc[k - 1]), 2) for k in RECALL_KS if k <= len(cmc)}
    out["mAP"] = round(100.0 * float(mAP), 2)
    out["NMI"] = round(100.0 * float(nmi), 2)
    for key, value in (("MAP@R", map_at_r), ("R-Precision", r_precision)):
        if value is not None and not np.isnan(value):  # nan: no query has a classmate (JSON has no NaN)
            out[key] = round(100.0 * float(value), 2)
    out["rank1"] = out["recall1"]
    out["num_skipped_queries"] = int(num_skipped)
    out["cmc"] = [float(x) for x in cmc]
    return out


def is_retrieval(m: dict) -> bool:
    """True for a ``summarise_retrieval`` summary."""
    return "recall1" in m


def summary_line(m: dict, digits: int = 2) -> str:
    """One line of a summary: ``rank-1 .. rank-20 .. mAP`` (re-ID) or ``Recall@1 .. @32 .. mAP .. NMI``."""
    if is_retrieval(m):
        recalls = "  ".join(f"@{k} {fmt(m, f'recall{k}', digits)}" for k in RECALL_KS[1:])
        return (f"Recall@1 {fmt(m, 'recall1', digits)}  {recalls}  mAP {fmt(m, 'mAP', digits)}  "
                f"NMI {fmt(m, 'NMI', digits)}" + (f"  MAP@R {fmt(m, 'MAP@R', digits)}" if "MAP@R" in m else ""))
    return (f"rank-1 {fmt(m, 'rank1', digits)}  rank-5 {fmt(m, 'rank5', digits)}  "
            f"rank-10 {fmt(m, 'rank10', digits)}  rank-20 {fmt(m, 'rank20', digits)}  mAP {fmt(m, 'mAP', digits)}")


def fmt(m: dict, key: str, digits: int = 1) -> str:
    """``m[key]`` with ``digits`` decimals, or ``n/a`` when the result has no such metric."""
    value = m.get(key)
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


@dataclass
class Evaluation:
    """What an evaluation computed, for reports: the summaries and, per setting (``plain``,
    ``re-ranked``), the query-gallery distances and per-query AP; the gallery as ranked (under
    the MARS official protocol the queries are appended to it)."""

    results: dict[str, dict]
    distances: dict[str, np.ndarray] = field(default_factory=dict)
    ap: dict[str, np.ndarray] = field(default_factory=dict)
    gallery: list[Tracklet] = field(default_factory=list)
    qf: np.ndarray | None = None
    gf: np.ndarray | None = None
