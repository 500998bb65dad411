"""Evaluation: distances, CMC / mAP (standard and MARS official), k-reciprocal re-ranking.

``evaluate`` returns an ``EvalResult`` that also unpacks as ``cmc, mAP = evaluate(...)``.
"""

from reid.eval.distance import METRICS, pairwise_distance, topk_neighbours
from reid.eval.ranking import PROTOCOLS, EvalResult, evaluate
from reid.eval.rerank import rerank, rerank_features
from reid.eval.two_camera import SplitSummary, aggregate_splits, format_split_table

__all__ = [
    "METRICS",
    "PROTOCOLS",
    "EvalResult",
    "SplitSummary",
    "aggregate_splits",
    "evaluate",
    "format_split_table",
    "pairwise_distance",
    "rerank",
    "rerank_features",
    "topk_neighbours",
]
