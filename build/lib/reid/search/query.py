"""Gallery search, the query side: one tracklet (a folder of crops, or one track of a video) against an index."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reid.config import Config
from reid.data.footage.crop import crop_tracklets, read_mot_tracks
from reid.data.footage.gallery import tracklet_from_folder
from reid.data.storage.frame_io import read_frames
from reid.data.tracklet import Tracklet
from reid.engine.checkpoint import atomic_write_bytes
from reid.errors import ConfigError, DatasetError
from reid.eval.reranking import rerank_features
from reid.report.run_report import write_json
from reid.search.build import embed_tracklets, faiss_of, load_search_model
from reid.search.faiss_index import exact_topk, faiss_search
from reid.search.index_file import GalleryIndex, load_index
from reid.search.strip import strip_image

logger = logging.getLogger(__name__)

QUERY_KEY_FRAMES = 4


def video_query(video: str | Path, tracks: str | Path, track_id: int, out: Path) -> Tracklet:
    """Crop track ``track_id`` of a MOT tracks file out of ``video`` into ``out/query_track<N>/``.

    Raises:
        DatasetError: unreadable files, or no box of that track inside the video.
    """
    if not Path(video).is_file():
        raise DatasetError(f"video {video} not found")
    boxes = read_mot_tracks(tracks, Counter())
    mine = [(frame, box) for frame, items in sorted(boxes.items()) for box in items if box[0] == track_id]
    if not mine:
        ids = sorted({box[0] for items in boxes.values() for box in items})
        raise DatasetError(f"{tracks}: no box of track id {track_id}; track ids there: "
                           f"{', '.join(map(str, ids[:20]))}{' ...' if len(ids) > 20 else ''}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"query_track{track_id}"
    with tempfile.TemporaryDirectory(dir=out, prefix=".crops-") as tmp:
        single = Path(tmp) / "track.txt"
        single.write_text("".join(f"{f},{t},{x!r},{y!r},{w!r},{h!r},1\n" for f, (t, x, y, w, h) in mine))
        summary = crop_tracklets(video, single, 0, Path(tmp) / "crops", min_length=1, split="query")
        if summary.tracks_written == 0:
            raise DatasetError(f"{tracks}: none of the {len(mine)} boxes of track {track_id} lies inside "
                               f"the frames of {video}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(Path(tmp) / "crops" / "query" / str(track_id) / f"0_{track_id:04d}", target)
    return tracklet_from_folder(target, name=f"{Path(video).name}#{track_id}", camid=-1)


@dataclass
class Match:
    rank: int
    name: str
    distance: float
    pid: int
    camid: int
    row: int


def nearest(cfg: Config, index: GalleryIndex, folder: str | Path, qf: np.ndarray, topk: int, *, rerank: bool,
            exact: bool, rerank_pool: int) -> tuple[list[Match], str]:
    """The ``topk`` gallery rows nearest to the query feature (1, D), and how they were found."""
    metric, g = index.meta["metric"], index.features
    topk = min(topk, len(g))
    if rerank:
        e = cfg.eval
        pool = min(len(g), max(rerank_pool, topk))
        _, candidates = exact_topk(qf, g, pool, metric)
        final = rerank_features(qf, g[candidates[0]], metric, k1=e.k1, k2=e.k2, lambda_value=e.lambda_value)[0]
        order = np.argsort(final, kind="stable")[:topk]
        rows, dists = candidates[0][order], final[order]
        how = f"k-reciprocal re-ranking among the {pool} exact nearest of {len(g)}"
    elif index.faiss is not None and not exact:
        dists, rows = (a[0] for a in faiss_search(faiss_of(index, folder), qf, topk, metric))
        dists, rows = dists[rows >= 0], rows[rows >= 0]
        how = f"{index.meta['faiss']['kind']} index over {len(g)}"
    else:
        dists, rows = (a[0] for a in exact_topk(qf, g, topk, metric))
        how = f"exact search over {len(g)}"
    # every metric is >= 0; float rounding can give -1e-7 for a copy of the query
    matches = [Match(rank=i + 1, name=index.items[r]["name"], distance=max(0.0, float(d)), pid=int(index.pids[r]),
                     camid=int(index.cameras[r]), row=int(r)) for i, (r, d) in enumerate(zip(rows, dists))]
    return matches, f"{metric} distance, {how}"


def _first_frame(index: GalleryIndex, m: Match) -> np.ndarray | None:
    item = index.items[m.row]
    t = Tracklet(frames=(item["first_frame"],), pid=m.pid, camid=m.camid, video=item["video"], name=m.name)
    try:
        return read_frames(t, [0])[0]
    except DatasetError as exc:
        logger.warning("strip: no picture for %s: %s", m.name, exc)
        return None


def search(cfg: Config, checkpoint: str | Path, folder: str | Path, *, tracklet: str | Path | None = None,
           video: str | Path | None = None, tracks: str | Path | None = None, track_id: int | None = None,
           topk: int = 10, rerank: bool = False, exact: bool = False,
           rerank_pool: int = 2000) -> tuple[Tracklet, list[Match], str]:
    """Embed one query tracklet (a folder of crops, or one track of a video) and rank the index.

    Writes ``results.json`` and ``strip.png`` (and, for a video query, the crops) into
    ``cfg.output_dir``. Returns the query, its matches and a line saying how they were found.
    """
    if topk < 1 or rerank_pool < 1:
        raise ConfigError(f"--topk {topk}, --rerank-pool {rerank_pool}: expected at least 1")
    index = load_index(folder)
    sm = load_search_model(cfg, checkpoint)
    index.check_model(sm.fingerprint, folder)
    out = Path(cfg.output_dir)
    if video is not None:
        query = video_query(video, tracks, int(track_id), out)
    else:
        query = tracklet_from_folder(tracklet)
    qf = embed_tracklets(cfg, sm, [query])
    matches, how = nearest(cfg, index, folder, qf, topk, rerank=rerank, exact=exact, rerank_pool=rerank_pool)
    write_json(out / "results.json", {"query": query.name, "frames": len(query), "how": how,
                                      "index": str(folder), "matches": [m.__dict__ for m in matches]})
    keys = np.linspace(0, len(query) - 1, min(QUERY_KEY_FRAMES, len(query))).round().astype(int)
    strip = strip_image(read_frames(query, sorted(set(keys.tolist()))),
                        [(_first_frame(index, m), f"#{m.rank} {m.distance:.3f}", m.name) for m in matches])
    ok, png = cv2.imencode(".png", strip)
    if not ok:
        raise RuntimeError(f"could not encode the strip {out / 'strip.png'}")
    atomic_write_bytes(out / "strip.png", lambda f: f.write(png.tobytes()))
    return query, matches, how
