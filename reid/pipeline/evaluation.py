"""From tracklet embeddings to CMC/mAP, with and without re-ranking; Recall@K and NMI for image retrieval."""

from __future__ import annotations

import logging

import numpy as np
import torch

from reid.config import Config, check_choice
from reid.data.tracklet import Tracklet
from reid.engine.distributed import DistContext, gather_features
from reid.engine.extract import extract_features
from reid.errors import ConfigError
from reid.eval.camera_norm import CAMERA_NORMS, normalise_per_camera
from reid.eval.distance import pairwise_distance
from reid.eval.ranking import PROTOCOLS, evaluate
from reid.eval.reranking import rerank
from reid.eval.retrieval import evaluate_retrieval
from reid.eval.summary import Evaluation, fmt, summarise, summarise_retrieval, summary_line
from reid.models import ReIDNet

logger = logging.getLogger(__name__)

#: eval.protocol: the video re-ID protocols of reid.eval.ranking, plus leave-one-out retrieval for image sets
EVAL_PROTOCOLS = (*PROTOCOLS, "retrieval")
#: eval.camera_norm: a camera with fewer test tracklets is moved by the statistics of all of them
CAMERA_NORM_MIN_ITEMS = 10


def embed(cfg: Config, model: ReIDNet, tracklets: list[Tracklet], device: torch.device,
          dist: DistContext | None = None, seq_len: int | None = None) -> np.ndarray:
    """(N, D) features of ``tracklets``; in a distributed run every rank embeds every
    world_size-th tracklet and the parts are gathered (all ranks get the whole matrix).
    ``seq_len``: frames per clip (default ``data.test_seq_len``; 1 for single-frame tracklets,
    which a longer clip would only repeat); a batch holds as many frames either way
    (``eval.batch_size`` clips of ``data.test_seq_len``)."""
    dist = dist or DistContext()
    if dist.enabled:
        mine = np.arange(dist.rank, len(tracklets), dist.world_size)
        part = embed(cfg, model, [tracklets[i] for i in mine], device, seq_len=seq_len) if len(mine) else \
            np.zeros((0, model.dim), dtype=np.float32)
        return gather_features(part, mine, len(tracklets), dist)
    d = cfg.data
    seq_len = seq_len or d.test_seq_len
    batch_size = max(1, cfg.eval.batch_size * d.test_seq_len // seq_len)
    return extract_features(model, tracklets, height=d.height, width=d.width, seq_len=seq_len,
                            max_frames=d.test_max_frames, batch_size=batch_size, workers=d.workers,
                            device=device, amp=cfg.train.precision != "fp32",
                            feature=cfg.eval.feature, resize=d.resize)


def evaluate_features(cfg: Config, qf: np.ndarray, gf: np.ndarray, query: list[Tracklet],
                      gallery: list[Tracklet], *, rerank_too: bool | None = None) -> dict[str, dict]:
    """CMC/mAP of query features (Q, D) against gallery features (G, D).

    Returns ``{"plain": summary}`` and, when re-ranking is on, ``{"re-ranked": summary}``. Under
    the MARS official protocol the queries are appended to the gallery (docs/method.md). The same
    distance (``eval.metric``) feeds ranking and re-ranking.
    """
    return evaluate_features_full(cfg, qf, gf, query, gallery, rerank_too=rerank_too).results


def evaluate_features_full(cfg: Config, qf: np.ndarray, gf: np.ndarray, query: list[Tracklet],
                           gallery: list[Tracklet], *, rerank_too: bool | None = None) -> Evaluation:
    """``evaluate_features`` that also keeps the distances and per-query AP (an ``Evaluation``)."""
    e = cfg.eval
    check_choice(e.protocol, EVAL_PROTOCOLS, "eval.protocol")
    if e.protocol == "retrieval":
        return evaluate_retrieval_features(cfg, qf, query, gallery, rerank_too=rerank_too)
    q_pids = np.array([t.pid for t in query])
    q_cams = np.array([t.camid for t in query])
    g_pids = np.array([t.pid for t in gallery])
    g_cams = np.array([t.camid for t in gallery])
    ranked_gallery = list(gallery)
    if e.camera_norm != "none":
        check_choice(e.camera_norm, CAMERA_NORMS, "eval.camera_norm")
        moved = normalise_per_camera(np.concatenate([qf, gf]), np.concatenate([q_cams, g_cams]), e.camera_norm,
                                     min_items=CAMERA_NORM_MIN_ITEMS)
        qf, gf = moved[:len(qf)], moved[len(qf):]
    if e.protocol == "mars-official":
        gf = np.concatenate([gf, qf])
        g_pids, g_cams = np.concatenate([g_pids, q_pids]), np.concatenate([g_cams, q_cams])
        ranked_gallery += list(query)
    q_g = pairwise_distance(qf, gf, metric=e.metric)
    max_rank = e.max_rank
    out = Evaluation(results={}, gallery=ranked_gallery, qf=qf, gf=gf)
    res = evaluate(q_g, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, protocol=e.protocol)
    out.results["plain"] = summarise(res.cmc, res.mAP, res.num_skipped)
    out.distances["plain"], out.ap["plain"] = q_g, res.ap
    if e.rerank if rerank_too is None else rerank_too:
        q_q = pairwise_distance(qf, qf, metric=e.metric)
        g_g = pairwise_distance(gf, gf, metric=e.metric)
        final = rerank(q_g, q_q, g_g, k1=e.k1, k2=e.k2, lambda_value=e.lambda_value)
        res = evaluate(final, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, protocol=e.protocol)
        out.results["re-ranked"] = summarise(res.cmc, res.mAP, res.num_skipped)
        out.distances["re-ranked"], out.ap["re-ranked"] = final, res.ap
    for name, m in out.results.items():
        logger.info("%s: rank-1 %.2f  rank-5 %s  mAP %.2f  (%d queries skipped)", name, m["rank1"],
                    fmt(m, "rank5", 2), m["mAP"], m["num_skipped_queries"])
    return out


def evaluate_retrieval_features(cfg: Config, features: np.ndarray, test: list[Tracklet], gallery: list[Tracklet],
                                *, rerank_too: bool | None = None) -> Evaluation:
    """The ``retrieval`` protocol: every test image against all the others (reid/eval/retrieval.py).

    ``gallery`` must be the test images again (an image-retrieval dataset's query and gallery);
    ``features`` (N, D) are theirs. Re-ranking is not part of the protocol and is refused.
    """
    if gallery != test:
        raise ConfigError(f"eval.protocol retrieval ranks the test images against each other, but the gallery "
                          f"({len(gallery)} items) is not the query set ({len(test)}); use it with an "
                          "image-retrieval dataset (cub, cars196, images, synthetic_retrieval)")
    if cfg.eval.rerank if rerank_too is None else rerank_too:
        raise ConfigError("eval.rerank: k-reciprocal re-ranking is not part of the retrieval protocol; "
                          "set eval.rerank=false")
    labels = np.array([t.pid for t in test])
    res = evaluate_retrieval(features, labels, metric=cfg.eval.metric, max_rank=cfg.eval.max_rank, seed=cfg.seed)
    summary = summarise_retrieval(res.ranking.cmc, res.ranking.mAP, res.nmi, res.ranking.num_skipped,
                                  map_at_r=res.map_at_r, r_precision=res.r_precision)
    logger.info("retrieval (%d test images, %d classes): %s  (%d queries skipped)", len(test),
                len(np.unique(labels)), summary_line(summary), summary["num_skipped_queries"])
    return Evaluation(results={"plain": summary}, distances={"plain": res.distances},
                      ap={"plain": res.ranking.ap}, gallery=list(test), qf=features, gf=features)


def evaluate_model(cfg: Config, model: ReIDNet, query: list[Tracklet], gallery: list[Tracklet],
                   device: torch.device, *, rerank_too: bool | None = None,
                   dist: DistContext | None = None) -> dict[str, dict]:
    """Embed query and gallery tracklets with ``model`` and evaluate.

    Distributed: the ranks share the extraction, rank 0 ranks and re-ranks, every rank gets the result.
    """
    return evaluate_model_full(cfg, model, query, gallery, device, rerank_too=rerank_too, dist=dist).results


def evaluate_model_full(cfg: Config, model: ReIDNet, query: list[Tracklet], gallery: list[Tracklet],
                        device: torch.device, *, rerank_too: bool | None = None,
                        dist: DistContext | None = None) -> Evaluation:
    """``evaluate_model`` that keeps distances and AP (on rank 0; other ranks get the results only)."""
    dist = dist or DistContext()
    qf = embed(cfg, model, query, device, dist)
    # image retrieval: the gallery is the query set again, embedded once
    gf = qf if cfg.eval.protocol == "retrieval" and gallery == query else embed(cfg, model, gallery, device, dist)
    full = evaluate_features_full(cfg, qf, gf, query, gallery, rerank_too=rerank_too) if dist.is_main else None
    results = dist.broadcast_object(None if full is None else full.results)
    return full if full is not None else Evaluation(results=results)
