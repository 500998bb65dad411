"""The pictures of a run's report: ranked lists, the t-SNE map of the test embeddings and the CAA
attention histogram, as report sections (``reid.report.page.Section``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from reid.config import Config
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import ConfigError
from reid.eval.summary import Evaluation
from reid.report.page import Figure, Section
from reid.report.plots import plot_attention_histogram, plot_embedding
from reid.report.ranked_lists import choose_queries, draw_ranked_list, ranked_list

logger = logging.getLogger(__name__)


def _check_counts(cfg: Config) -> None:
    e = cfg.eval
    for key in ("visualise", "visualise_random", "visualise_topk", "tsne_max_points"):
        value = getattr(e, key)
        if value < 0:
            raise ConfigError(f"config key 'eval.{key}': {value}, expected a number >= 0")


def ranked_list_sections(cfg: Config, out: Path, ev: Evaluation, query: list[Tracklet]) -> list[Section]:
    """Strips of the worst-AP and some random queries in ``out/ranked/``; for re-ranking, the same
    queries again where re-ranking changed their top-k."""
    _check_counts(cfg)
    e = cfg.eval
    if not (e.visualise or e.visualise_random) or not e.visualise_topk or "plain" not in ev.distances:
        return []
    g_pids = np.array([t.pid for t in ev.gallery])
    g_cams = np.array([t.camid for t in ev.gallery])
    chosen = choose_queries(ev.ap["plain"], e.visualise, e.visualise_random, seed=cfg.seed)
    folder = out / "ranked"
    folder.mkdir(parents=True, exist_ok=True)
    sections = []
    for setting in ("plain", "re-ranked"):
        if setting not in ev.distances:
            continue
        figures, unchanged = [], 0
        for qi, why in chosen:
            q = query[qi]
            item = ranked_list(ev.distances[setting], qi, q.pid, q.camid, g_pids, g_cams, e.visualise_topk)
            if setting == "re-ranked":
                before = ranked_list(ev.distances["plain"], qi, q.pid, q.camid, g_pids, g_cams, e.visualise_topk)
                if np.array_equal(before.gallery, item.gallery):
                    unchanged += 1
                    continue
            ap = ev.ap[setting][qi]
            path = folder / f"{setting.replace('-', '')}_q{qi:05d}.jpg"
            first = "none" if item.first_match is None else str(item.first_match)
            title = (f"{setting}: query {q.name or qi} (id {q.pid}, cam {q.camid + 1}) - {why}; "
                     f"AP {'n/a' if np.isnan(ap) else f'{100 * ap:.1f}'} %; first true match at rank {first}")
            draw_ranked_list(path, q, ev.gallery, item, title=title)
            figures.append(Figure(path, ""))
        notes = ["blue: the query's key frames; green: same identity; red: another identity; under each: "
                 "rank, distance, camera (from 1), tracklet name. Same-identity tracklets from the query's camera "
                 "are left out, as the protocol leaves them out of the ranking."]
        if setting == "re-ranked":
            notes = [f"the same queries after re-ranking, where it changed the top-{e.visualise_topk} "
                     f"({unchanged} of {len(chosen)} unchanged, not drawn again)"]
        sections.append(Section(f"Ranked lists ({setting})", notes=notes, figures=figures))
    return sections


def embedding_section(cfg: Config, out: Path, ev: Evaluation, query: list[Tracklet],
                      gallery: list[Tracklet]) -> list[Section]:
    """A t-SNE map of query and gallery embeddings coloured by identity (``out/tsne.png``)."""
    _check_counts(cfg)
    limit = cfg.eval.tsne_max_points
    if not limit or ev.qf is None or ev.gf is None:
        return []
    gf = ev.gf[:len(gallery)]  # the MARS official protocol appended the queries
    feats = np.concatenate([ev.qf, gf]).astype(np.float64)
    pids = np.array([t.pid for t in query] + [t.pid for t in gallery])
    is_query = np.arange(len(feats)) < len(query)
    if len(feats) < 5:
        return []
    keep = np.arange(len(feats))
    note = f"all {len(feats)} test tracklets"
    if len(feats) > limit:  # whole identities at random until the budget is used
        rng = np.random.default_rng(cfg.seed)
        chosen: list[int] = []
        for p in rng.permutation(np.unique(pids)):
            members = np.flatnonzero(pids == p)
            if len(chosen) + len(members) > limit:
                continue
            chosen.extend(members.tolist())
        keep = np.sort(np.array(chosen, dtype=int))
        note = (f"{len(keep)} of {len(feats)} test tracklets ({len(np.unique(pids[keep]))} whole identities "
                f"drawn at random; eval.tsne_max_points={limit})")
    if len(keep) < 5:
        return []
    from sklearn.manifold import TSNE

    x = feats[keep]
    if cfg.eval.metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=cfg.seed,
                  metric="euclidean").fit_transform(x)
    plot_embedding(out / "tsne.png", points, pids[keep], is_query[keep],
                   title=f"t-SNE of test embeddings ({cfg.eval.metric} geometry)")
    return [Section("Embedding map", notes=[f"{note}; colour: identity; x: query, o: gallery"],
                    figures=[Figure(out / "tsne.png", "")])]


def attention_section(out: Path, attention: np.ndarray | None, train: list[Tracklet]) -> list[Section]:
    """The histogram of the mean CAA attention per training tracklet, when the run recorded it."""
    if attention is None:
        return []
    a = np.asarray(attention, dtype=float)
    seen = ~np.isnan(a)
    if not seen.any():
        return []
    plot_attention_histogram(out / "attention.png", a[seen])
    order = np.argsort(a[seen])[:5]
    names = [train[i].name or str(i) for i in np.flatnonzero(seen)[order]]
    return [Section("CAA attention", figures=[Figure(out / "attention.png", "")],
                    notes=[f"{int(seen.sum())} of {len(a)} training tracklets were in a batch; the lowest "
                           f"mean attention (most suspect, see tools/suspects.py): {', '.join(names)}"])]


def mean_attention(record, num_train: int) -> np.ndarray | None:
    """The per-tracklet mean attention of a trainer's ``AttentionRecord`` (NaN where never seen)."""
    if record is None or record.sum is None or record.count is None:
        return None
    s = record.sum.numpy().astype(float)
    c = record.count.numpy().astype(float)
    out = np.full(num_train, np.nan)
    n = min(num_train, len(s))
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:n] = np.where(c[:n] > 0, s[:n] / np.maximum(c[:n], 1), np.nan)
    return out if c.sum() > 0 else None


def report_sections(cfg: Config, out: Path, ev: Evaluation, dataset: VideoReIDDataset,
                    attention: np.ndarray | None = None) -> list[Section]:
    """Ranked lists, the embedding map and the attention histogram for ``report.html``."""
    sections = ranked_list_sections(cfg, out, ev, dataset.query)
    # image retrieval: the gallery is the query set again, mapped once
    gallery = [] if cfg.eval.protocol == "retrieval" else dataset.gallery
    sections += embedding_section(cfg, out, ev, dataset.query, gallery)
    sections += attention_section(out, attention, dataset.train)
    return sections


def protocol_notes(cfg: Config, dataset: VideoReIDDataset, ev: Evaluation) -> list[str]:
    """Lines on the protocol, distance, re-ranking and what was skipped while loading."""
    e = cfg.eval
    skipped = ", ".join(f"{k}: {v}" for k, v in sorted(dataset.skipped.items()) if v) or "nothing"
    if e.protocol == "retrieval":
        classes = len({t.pid for t in dataset.query})
        return [f"protocol retrieval (leave-one-out), {e.metric} distance: each of the {len(dataset.query)} test "
                f"images is a query against the other {len(dataset.query) - 1}, no camera filter; Recall@K is "
                f"CMC at K; NMI of k-means with k = {classes} test classes",
                "skipped queries (no other test image of their class): "
                + ", ".join(f"{k} {m['num_skipped_queries']}" for k, m in ev.results.items()),
                f"skipped while loading the dataset: {skipped}"]
    notes = [f"protocol {e.protocol}, {e.metric} distance, CMC to rank {e.max_rank}; "
             f"{len(dataset.query)} queries, {len(dataset.gallery)} gallery tracklets "
             f"(split {cfg.data.split_id})",
             "skipped queries (no true match in another camera): "
             + ", ".join(f"{k} {m['num_skipped_queries']}" for k, m in ev.results.items()),
             f"skipped while loading the dataset (tracklets or frames): {skipped}"]
    if e.camera_norm != "none":
        notes.append(f"camera normalisation ({e.camera_norm}): each camera's test embeddings, query and gallery "
                     "together, moved to a common centre before ranking (eval.camera_norm)")
    if "re-ranked" in ev.results:
        notes.append(f"re-ranking: k-reciprocal, k1={e.k1}, k2={e.k2}, lambda={e.lambda_value}")
    return notes
