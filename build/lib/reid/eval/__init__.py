"""Evaluation metrics only: distances, CMC / mAP (standard and MARS official), k-reciprocal
re-ranking (``reranking``), image-retrieval metrics, split aggregation, chunked large-gallery
evaluation and the metric summaries (``summary``).

Nothing here draws, writes HTML or imports matplotlib, PIL, OpenCV or FAISS (``reid.report`` and
``reid.search`` do); it may import ``reid.data`` (tracklets) and ``reid.errors``.

``evaluate`` returns an ``EvalResult`` that also unpacks as ``cmc, mAP = evaluate(...)``.
"""

from reid.eval.distance import METRICS, pairwise_distance, topk_neighbours
from reid.eval.ranking import PROTOCOLS, EvalResult, evaluate
from reid.eval.reranking import rerank, rerank_features
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
