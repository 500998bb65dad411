"""Ranked-list pictures for video re-ID: a query tracklet's key frames beside its top-k gallery
tracklets, with a green (same identity) or red (other identity) border, the distance, the camera
and the tracklet name under each.

Gallery tracklets of the query's identity seen by the query's camera are left out of the list, as
the standard protocol leaves them out of the ranking.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from reid.data.storage.frame_io import read_frames
from reid.data.tracklet import Tracklet
from reid.report.plots import _pyplot, save_figure

GREEN = (40, 170, 60)
RED = (215, 40, 40)
GREY = (150, 150, 150)
BLUE = (40, 90, 220)


@dataclass(frozen=True)
class RankedList:
    """One query's top-k: gallery indices in rank order, their distances and whether each is right
    (None where the gallery is unlabelled)."""

    query: int
    gallery: np.ndarray
    distances: np.ndarray
    correct: np.ndarray | None
    first_match: int | None = None  # 1-based rank of the first true match in the whole list (None: none)


def choose_queries(ap: np.ndarray, num_worst: int, num_random: int, seed: int = 0) -> list[tuple[int, str]]:
    """The ``num_worst`` lowest-AP queries (skipped queries, AP NaN, excluded) and ``num_random``
    others drawn at random; returns ``(query index, why chosen)`` pairs."""
    ap = np.asarray(ap, dtype=float)
    scored = np.flatnonzero(~np.isnan(ap))
    order = scored[np.argsort(ap[scored], kind="stable")]
    worst = [int(i) for i in order[:max(0, num_worst)]]
    rest = np.setdiff1d(scored, worst)
    rng = np.random.default_rng(seed)
    picked = rng.choice(rest, size=min(max(0, num_random), len(rest)), replace=False) if len(rest) else []
    return [(i, f"{k + 1}. worst") for k, i in enumerate(worst)] + [(int(i), "random") for i in picked]


def ranked_list(distmat: np.ndarray, query: int, q_pid: int, q_cam: int, g_pids: np.ndarray, g_cams: np.ndarray,
                topk: int, *, labelled: bool = True) -> RankedList:
    """The top-``topk`` gallery items of one query row of ``distmat``, same-id same-camera ones removed."""
    row = np.asarray(distmat[query], dtype=float)
    order = np.argsort(row, kind="stable")
    if labelled:
        keep = ~((g_pids[order] == q_pid) & (g_cams[order] == q_cam))
        order = order[keep]
    first = None
    if labelled:
        hits = np.flatnonzero(g_pids[order] == q_pid)
        first = int(hits[0]) + 1 if len(hits) else None
    order = order[:topk]
    correct = (g_pids[order] == q_pid) if labelled else None
    return RankedList(query=query, gallery=order, distances=row[order], correct=correct, first_match=first)


def _fit(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize keeping the aspect ratio and centre on a white (height, width) canvas."""
    h, w = image.shape[:2]
    scale = min(height / h, width / w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 255, dtype=np.uint8)
    y, x = (height - nh) // 2, (width - nw) // 2
    canvas[y:y + nh, x:x + nw] = small
    return canvas


def _framed(image: np.ndarray, colour: tuple[int, int, int], border: int) -> np.ndarray:
    return cv2.copyMakeBorder(image, border, border, border, border, cv2.BORDER_CONSTANT, value=colour)


def key_frame_indices(length: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over a tracklet of ``length`` frames (fewer if shorter)."""
    if length <= 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(0, length - 1, num=min(count, length))})


def draw_ranked_list(path: str | os.PathLike, query: Tracklet, gallery: Sequence[Tracklet], item: RankedList,
                     *, title: str, query_frames: int = 4, cell: tuple[int, int] = (128, 64),
                     reader: Callable[[Tracklet, list[int]], list[np.ndarray]] = read_frames) -> None:
    """One strip: the query's key frames (blue border), then each ranked gallery tracklet's middle
    frame with a green/red border (grey when unlabelled) and distance, camera (numbered from 1, as the
    datasets name them) and name below."""
    h, w = cell
    border = max(2, h // 32)
    gap = np.full((h + 2 * border, w // 2, 3), 255, dtype=np.uint8)
    tiles = [_framed(_fit(f, h, w), BLUE, border) for f in reader(query, key_frame_indices(len(query), query_frames))]
    n_query = len(tiles)
    tiles.append(gap)
    for j, g in enumerate(item.gallery):
        frame = reader(gallery[g], [len(gallery[g]) // 2])[0]
        colour = GREY if item.correct is None else (GREEN if item.correct[j] else RED)
        tiles.append(_framed(_fit(frame, h, w), colour, border))
    strip = np.concatenate(tiles, axis=1)
    plt = _pyplot()
    dpi = 100
    text_h = 46
    fig = plt.figure(figsize=(strip.shape[1] / dpi, (strip.shape[0] + text_h + 22) / dpi), dpi=dpi)
    ax = fig.add_axes([0, (text_h) / (strip.shape[0] + text_h + 22), 1, strip.shape[0] / (strip.shape[0] + text_h + 22)])
    ax.imshow(strip)
    ax.axis("off")
    fig.text(0.005, 1 - 3 / (strip.shape[0] + text_h + 22), title, ha="left", va="top", fontsize=8)
    cell_w = w + 2 * border
    total_w = strip.shape[1]
    fig.text((n_query * cell_w / 2) / total_w, (text_h - 4) / (strip.shape[0] + text_h + 22),
             f"query\ncam {query.camid + 1}\n{_short(query.name)}", ha="center", va="top", fontsize=6.5)
    x0 = n_query * cell_w + gap.shape[1]
    for j, g in enumerate(item.gallery):
        cx = (x0 + j * cell_w + cell_w / 2) / total_w
        fig.text(cx, (text_h - 4) / (strip.shape[0] + text_h + 22),
                 f"{j + 1}: {item.distances[j]:.3f}\ncam {gallery[g].camid + 1}\n{_short(gallery[g].name)}",
                 ha="center", va="top", fontsize=6.5)
    save_figure(fig, path, dpi=dpi)


def _short(name: str, limit: int = 13) -> str:
    name = name or "?"
    return name if len(name) <= limit else name[:limit - 1] + "~"
