"""From tracklet embeddings to CMC/mAP, with and without re-ranking."""

from __future__ import annotations

import logging

import numpy as np
import torch

from reid.config import Config, check_choice
from reid.data.tracklet import Tracklet
from reid.engine.distributed import DistContext, gather_features
from reid.engine.extract import extract_features
from reid.eval.distance import pairwise_distance
from reid.eval.ranking import evaluate
from reid.eval.rerank import rerank
from reid.eval.report import summarise
from reid.models import ReIDNet

logger = logging.getLogger(__name__)


def embed(cfg: Config, model: ReIDNet, tracklets: list[Tracklet], device: torch.device,
          dist: DistContext | None = None) -> np.ndarray:
    """(N, D) features of ``tracklets``; in a distributed run every rank embeds every
    world_size-th tracklet and the parts are gathered (all ranks get the whole matrix)."""
    dist = dist or DistContext()
    if dist.enabled:
        mine = np.arange(dist.rank, len(tracklets), dist.world_size)
        part = embed(cfg, model, [tracklets[i] for i in mine], device) if len(mine) else \
            np.zeros((0, model.dim), dtype=np.float32)
        return gather_features(part, mine, len(tracklets), dist)
    d = cfg.data
    return extract_features(model, tracklets, height=d.height, width=d.width, seq_len=d.test_seq_len,
                            max_frames=d.test_max_frames, batch_size=cfg.eval.batch_size, workers=d.workers,
                            device=device, amp=cfg.train.precision != "fp32",
                            feature=cfg.eval.feature)


def evaluate_features(cfg: Config, qf: np.ndarray, gf: np.ndarray, query: list[Tracklet],
                      gallery: list[Tracklet], *, rerank_too: bool | None = None) -> dict[str, dict]:
    """CMC/mAP of query features (Q, D) against gallery features (G, D).

    Returns ``{"plain": summary}`` and, when re-ranking is on, ``{"re-ranked": summary}``. Under
    the MARS official protocol the queries are appended to the gallery (METHOD.md 2.2). The same
    distance (``eval.metric``) feeds ranking and re-ranking.
    """
    e = cfg.eval
    check_choice(e.protocol, ("standard", "mars-official"), "eval.protocol")
    q_pids = np.array([t.pid for t in query])
    q_cams = np.array([t.camid for t in query])
    g_pids = np.array([t.pid for t in gallery])
    g_cams = np.array([t.camid for t in gallery])
    if e.protocol == "mars-official":
        gf = np.concatenate([gf, qf])
        g_pids, g_cams = np.concatenate([g_pids, q_pids]), np.concatenate([g_cams, q_cams])
    q_g = pairwise_distance(qf, gf, metric=e.metric)
    max_rank = e.max_rank
    results = {}
    res = evaluate(q_g, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, protocol=e.protocol)
    results["plain"] = summarise(res.cmc, res.mAP, res.num_skipped)
    if e.rerank if rerank_too is None else rerank_too:
        q_q = pairwise_distance(qf, qf, metric=e.metric)
        g_g = pairwise_distance(gf, gf, metric=e.metric)
        final = rerank(q_g, q_q, g_g, k1=e.k1, k2=e.k2, lambda_value=e.lambda_value)
        res = evaluate(final, q_pids, g_pids, q_cams, g_cams, max_rank=max_rank, protocol=e.protocol)
        results["re-ranked"] = summarise(res.cmc, res.mAP, res.num_skipped)
    for name, m in results.items():
        logger.info("%s: rank-1 %.2f  rank-5 %.2f  mAP %.2f  (%d queries skipped)", name, m["rank1"],
                    m.get("rank5", float("nan")), m["mAP"], m["num_skipped_queries"])
    return results


def evaluate_model(cfg: Config, model: ReIDNet, query: list[Tracklet], gallery: list[Tracklet],
                   device: torch.device, *, rerank_too: bool | None = None,
                   dist: DistContext | None = None) -> dict[str, dict]:
    """Embed query and gallery tracklets with ``model`` and evaluate.

    Distributed: the ranks share the extraction, rank 0 ranks and re-ranks, every rank gets the result.
    """
    dist = dist or DistContext()
    qf = embed(cfg, model, query, device, dist)
    gf = embed(cfg, model, gallery, device, dist)
    results = evaluate_features(cfg, qf, gf, query, gallery, rerank_too=rerank_too) if dist.is_main else None
    return dist.broadcast_object(results)
