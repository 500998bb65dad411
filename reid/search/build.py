"""Gallery search, the index side: embed a gallery once into an index folder, extend it later.

Index format: reid/search/index_file.py; querying: reid/search/query.py. Distances
are those of ``eval.metric`` when the index was built; every later ``add`` and query uses the
index's metric and must use the model (same fingerprint) that built it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reid.config import Config
from reid.data.tracklet import Tracklet
from reid.engine.run_lock import RunLock
from reid.errors import ConfigError
from reid.models import ReIDNet
from reid.pipeline.builders import load_trained_model, resolve_device
from reid.pipeline.evaluation import embed
from reid.search.faiss_index import (FAISS_KINDS, Recall, build_faiss_index, deserialize_faiss_index,
                                     extend_faiss_index, recall_at_k, serialize_faiss_index)
from reid.search.index_file import (GalleryIndex, GalleryIndexError, check_new_folder, load_index, model_fingerprint,
                                    save_new_index, save_next_generation)

logger = logging.getLogger(__name__)

RECALL_K, RECALL_QUERIES = 10, 500


@dataclass
class SearchModel:
    model: ReIDNet
    fingerprint: str
    summary: dict


def model_summary(cfg: Config) -> dict:
    """What shapes an embedding besides the weights: architecture, input size, test clips, feature."""
    m, d = cfg.model, cfg.data
    return {"backbone": m.backbone, "pooling": m.pooling, "neck": m.neck, "embed_dim": m.embed_dim,
            "last_stride": m.last_stride, "height": d.height, "width": d.width, "test_seq_len": d.test_seq_len,
            "test_max_frames": d.test_max_frames, "feature": cfg.eval.feature}


def load_search_model(cfg: Config, checkpoint: str | Path) -> SearchModel:
    model = load_trained_model(cfg, checkpoint).to(resolve_device(cfg.device))
    summary = model_summary(cfg)
    return SearchModel(model, model_fingerprint(model, summary), summary)


def embed_tracklets(cfg: Config, sm: SearchModel, tracklets: list[Tracklet]) -> np.ndarray:
    """(N, D) float32 features of ``tracklets`` as the evaluation embeds them."""
    return embed(cfg, sm.model, tracklets, resolve_device(cfg.device)).astype(np.float32)


def unique_tracklets(tracklets: list[Tracklet], existing: list[str] = ()) -> list[Tracklet]:
    """``tracklets`` with exact repeats (a tracklet in two splits) once; refuses names already used.

    Raises:
        GalleryIndexError: two different tracklets with one name, or a name in ``existing``.
    """
    seen: dict[str, Tracklet] = {}
    for t in tracklets:
        if t.name in seen and seen[t.name] != t:
            raise GalleryIndexError(f"two different tracklets are both named {t.name!r}; names must be unique")
        seen.setdefault(t.name, t)
    taken = sorted(set(seen) & set(existing))
    if taken:
        raise GalleryIndexError(f"{len(taken)} tracklets are already in the index, e.g. {taken[0]!r}; "
                                "each name can be indexed once")
    if len(seen) < len(tracklets):
        logger.info("%d tracklets listed more than once (in several splits) are indexed once",
                    len(tracklets) - len(seen))
    return list(seen.values())


def _item(t: Tracklet) -> dict:
    first = t.frames[0] if t.video is not None else str(Path(t.frames[0]).resolve())
    return {"name": t.name, "first_frame": first, "video": None if t.video is None else str(Path(t.video).resolve()),
            "num_frames": len(t)}


@dataclass
class IndexReport:
    folder: Path
    count: int
    added: int
    dim: int
    metric: str
    fingerprint: str
    faiss: str | None
    recall: Recall | None
    seconds: float


def check_faiss_options(kind: str | None, *, nlist: int, nprobe: int, hnsw_m: int, ef_search: int) -> None:
    """Raise ConfigError naming the first FAISS option out of range."""
    if kind is not None and kind not in FAISS_KINDS:
        raise ConfigError(f"--faiss {kind!r}: expected one of {', '.join(FAISS_KINDS)}")
    for name, value, low in (("--nlist", nlist, 0), ("--nprobe", nprobe, 0), ("--hnsw-m", hnsw_m, 2),
                             ("--ef-search", ef_search, 1)):
        if value < low:
            raise ConfigError(f"{name} {value}: expected at least {low}")


def faiss_of(index: GalleryIndex, folder: str | Path, count: int | None = None) -> Any:
    """The FAISS index stored in ``index``, read back; it must hold ``count`` (default: every) row."""
    try:
        faiss_index = deserialize_faiss_index(index.faiss)
    except RuntimeError as exc:
        last = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise GalleryIndexError(f"index {folder}: its FAISS file does not load ({last})") from None
    count = len(index.features) if count is None else count
    if faiss_index.ntotal != count:
        raise GalleryIndexError(f"index {folder}: its FAISS file holds {faiss_index.ntotal} items, "
                                f"meta.json {count}")
    return faiss_index


def _with_faiss(index: GalleryIndex, settings: dict, start: int, folder: Path) -> Recall:
    """Build the FAISS index of ``index`` (HNSW: extend the one it has by rows ``start:``); measure its recall."""
    metric, t0 = index.meta["metric"], time.perf_counter()
    if index.faiss is not None and settings["kind"] == "hnsw":
        faiss_index = faiss_of(index, folder, count=start)
        extend_faiss_index(faiss_index, index.features[start:], metric)
    else:  # IVF lists are re-trained on the whole gallery
        faiss_index = build_faiss_index(index.features, metric, settings["kind"], nlist=settings["nlist"],
                                        nprobe=settings["nprobe"], hnsw_m=settings["hnsw_m"],
                                        ef_search=settings["ef_search"])
    build = time.perf_counter() - t0
    recall = recall_at_k(faiss_index, index.features, metric, k=RECALL_K, num_queries=RECALL_QUERIES)
    index.faiss = serialize_faiss_index(faiss_index)
    index.meta["faiss"] = {**settings, "build_seconds": round(build, 3),
                           "recall": {"k": recall.k, "value": recall.value, "queries": recall.queries}}
    return recall


def build_index(cfg: Config, checkpoint: str | Path, tracklets: list[Tracklet], out: str | Path, *,
                faiss: str | None = None, nlist: int = 0, nprobe: int = 0, hnsw_m: int = 32,
                ef_search: int = 64) -> IndexReport:
    """Embed ``tracklets`` with the checkpoint's model and write a new index folder ``out``.

    Raises:
        GalleryIndexError: ``out`` holds files, or two tracklets share a name.
    """
    start, out = time.perf_counter(), Path(out)
    check_new_folder(out)  # before the work, not after it
    check_faiss_options(faiss, nlist=nlist, nprobe=nprobe, hnsw_m=hnsw_m, ef_search=ef_search)
    tracklets = unique_tracklets(tracklets)
    sm = load_search_model(cfg, checkpoint)
    features = embed_tracklets(cfg, sm, tracklets)
    index = GalleryIndex(features=features, pids=np.array([t.pid for t in tracklets], np.int64),
                         cameras=np.array([t.camid for t in tracklets], np.int64),
                         items=[_item(t) for t in tracklets],
                         meta={"metric": cfg.eval.metric, "generation": 0, "faiss": None,
                               "model": {"fingerprint": sm.fingerprint, "summary": sm.summary,
                                         "checkpoint": str(Path(checkpoint).resolve())}})
    recall = None
    if faiss:
        recall = _with_faiss(index, {"kind": faiss, "nlist": nlist, "nprobe": nprobe, "hnsw_m": hnsw_m,
                                     "ef_search": ef_search}, 0, out)
    save_new_index(out, index)
    return IndexReport(out, len(tracklets), len(tracklets), features.shape[1], cfg.eval.metric, sm.fingerprint,
                       faiss, recall, time.perf_counter() - start)


def add_to_index(cfg: Config, checkpoint: str | Path, folder: str | Path, tracklets: list[Tracklet]) -> IndexReport:
    """Embed ``tracklets`` and append them to the index in ``folder`` (its FAISS index too).

    Raises:
        GalleryIndexError: unreadable index, another model, or a name already indexed.
    """
    start = time.perf_counter()
    if not Path(folder).is_dir():
        load_index(folder)  # raises the one-line "does not exist" error before the lock makes the folder
    with RunLock(folder):  # two concurrent adds would both write generation G+1
        return _add(cfg, checkpoint, folder, tracklets, start)


def _add(cfg: Config, checkpoint: str | Path, folder: str | Path, tracklets: list[Tracklet], start: float) -> IndexReport:
    index = load_index(folder)
    sm = load_search_model(cfg, checkpoint)
    index.check_model(sm.fingerprint, folder)
    tracklets = unique_tracklets(tracklets, index.names)
    features = embed_tracklets(cfg, sm, tracklets)
    old = index.features.shape[0]
    index.features = np.concatenate([index.features, features])
    index.pids = np.concatenate([index.pids, [t.pid for t in tracklets]]).astype(np.int64)
    index.cameras = np.concatenate([index.cameras, [t.camid for t in tracklets]]).astype(np.int64)
    index.items = index.items + [_item(t) for t in tracklets]
    settings = index.meta.get("faiss")
    recall = None
    if settings:
        settings = {k: settings[k] for k in ("kind", "nlist", "nprobe", "hnsw_m", "ef_search")}
        recall = _with_faiss(index, settings, old, Path(folder))
    save_next_generation(folder, index)
    return IndexReport(Path(folder), index.features.shape[0], len(tracklets), index.features.shape[1],
                       index.meta["metric"], sm.fingerprint, settings and settings["kind"], recall,
                       time.perf_counter() - start)
