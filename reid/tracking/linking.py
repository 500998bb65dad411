"""Link tracks of one person: constrained average-linkage clustering of track embeddings.

A tracker cuts one person into several tracks when they are occluded, leave and come back, or
walk into another camera. ``link_tracks`` merges tracks into identities bottom-up: at each step
the two groups with the smallest mean pairwise distance merge, as long as that distance is below
``threshold`` and the merge is *time-compatible*: a group never holds two tracks of one camera
whose frame spans overlap (one person is not in two places of one view at once). Tracks of
different cameras may overlap in time (overlapping fields of view). Merging stops when no
compatible pair is below the threshold.

Threshold rule: distances are Euclidean between L2-normalised embeddings (0 = same direction,
sqrt(2) = orthogonal, 2 = opposite), optionally k-reciprocal re-ranked (reid.eval.rerank_features,
then a Jaccard mixture in about [0, 1]). The threshold is a number on that scale, and it depends on
the model (an untrained network's embeddings are all close together), so no fixed number serves
every model. ``calibrate_threshold`` finds one from the footage itself, with no identity labels:
two tracks of one camera that overlap in time are two different people, so their distances show
how close two different people come under this model; the threshold is a low quantile of them
(``AUTO_QUANTILE``), i.e. tracks link only when they are closer than nearly every pair of people
seen side by side. ``osmcaa-reid link`` does this by default (``--threshold auto``); a number given
instead is used as it is. docs/bench_footage.md compares it with a threshold calibrated on ground
truth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.errors import ConfigError, DatasetError
from reid.eval import pairwise_distance, rerank_features

#: the quantile of the distances between co-occurring tracks (different people) that ``auto`` links below
AUTO_QUANTILE = 0.02
#: fewer pairs of co-occurring tracks than this: too few to calibrate, a threshold must be given
MIN_NEGATIVE_PAIRS = 5
_FAR = 1e6  # distance of a track without an embedding: never below any threshold


@dataclass(frozen=True)
class TrackSpan:
    """One input track: its camera, its id in that camera's tracks file, its first and last frame."""

    camera: int
    track: int
    first: int
    last: int


def time_conflicts(spans: list[TrackSpan]) -> np.ndarray:
    """(N, N) bool: True where two different tracks of one camera overlap in time."""
    cam = np.array([s.camera for s in spans])
    first, last = np.array([s.first for s in spans]), np.array([s.last for s in spans])
    overlap = (first[:, None] <= last[None, :]) & (first[None, :] <= last[:, None])
    out = overlap & (cam[:, None] == cam[None, :])
    np.fill_diagonal(out, False)
    return out


def track_distances(features: np.ndarray, *, rerank: bool = False, k1: int = 8, k2: int = 3,
                    lambda_value: float = 0.3) -> np.ndarray:
    """(N, N) symmetric distances between track embeddings.

    Args:
        features: (N, D) one embedding per track; a row of NaN marks a track without one (no
            crop inside the frame): its distances are a large constant, so it is never linked.
        rerank: k-reciprocal re-ranking of the normalised embeddings (k1, k2 capped at N - 1).

    Returns:
        (N, N) float64, Euclidean on L2-normalised rows (or the re-ranked distance), symmetrised.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ConfigError(f"track features: shape {features.shape}, expected (N, D)")
    ok = ~np.isnan(features).any(axis=1)
    out = np.full((len(features), len(features)), _FAR)
    f = features[ok] / np.maximum(np.linalg.norm(features[ok], axis=1, keepdims=True), 1e-12)
    if len(f) >= 2 and rerank:
        k = max(1, min(k1, len(f) - 1))
        d = rerank_features(f.astype(np.float32), f.astype(np.float32), k1=k, k2=max(1, min(k2, k)),
                            lambda_value=lambda_value).astype(np.float64)
    else:
        d = np.asarray(pairwise_distance(f, f, metric="euclidean"), dtype=np.float64)
    out[np.ix_(ok, ok)] = (d + d.T) / 2
    np.fill_diagonal(out, 0.0)
    return out


def calibrate_threshold(spans: list[TrackSpan], distances: np.ndarray, *,
                        quantile: float = AUTO_QUANTILE) -> float:
    """A linking threshold from the data alone: the ``quantile`` of the distances between tracks of
    one camera that overlap in time (certainly two people; see the module docstring).

    Raises:
        ConfigError: ``quantile`` outside (0, 1), or fewer than ``MIN_NEGATIVE_PAIRS`` such pairs
            with embeddings (too few people seen together to calibrate: give a threshold).
    """
    if not 0.0 < quantile < 1.0:
        raise ConfigError(f"link: quantile {quantile} must be in (0, 1)")
    d = np.asarray(distances, dtype=np.float64)
    negatives = d[np.triu(time_conflicts(spans), 1)] if len(spans) else np.zeros(0)
    negatives = negatives[negatives < _FAR / 2]
    if len(negatives) < MIN_NEGATIVE_PAIRS:
        raise ConfigError(f"link: only {len(negatives)} pairs of tracks share a camera at the same time, too few "
                          f"(< {MIN_NEGATIVE_PAIRS}) to calibrate the threshold from the footage; give --threshold")
    return float(np.quantile(negatives, quantile))


def link_tracks(spans: list[TrackSpan], distances: np.ndarray, *, threshold: float) -> np.ndarray:
    """Group tracks into identities (see the module docstring).

    Args:
        spans: the N tracks.
        distances: (N, N) symmetric distances (``track_distances``).
        threshold: groups merge while their mean pairwise distance is below it.

    Returns:
        (N,) int labels 0..K-1, numbered in order of each group's first frame (then camera, track).
    """
    n = len(spans)
    d = np.array(distances, dtype=np.float64)
    if d.shape != (n, n):
        raise ConfigError(f"distances: shape {d.shape}, expected ({n}, {n}) for {n} tracks")
    blocked = time_conflicts(spans) if n else np.zeros((0, 0), bool)
    np.fill_diagonal(blocked, True)
    size = np.ones(n)
    group = np.arange(n)
    alive = np.ones(n, bool)
    while n > 1:
        masked = np.where(blocked | ~alive[:, None] | ~alive[None, :], np.inf, d)
        a, b = np.unravel_index(np.argmin(masked), masked.shape)
        if not masked[a, b] < threshold:
            break
        d[a] = d[:, a] = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])  # average linkage
        blocked[a] = blocked[:, a] = blocked[a] | blocked[b]
        blocked[a, a] = True
        size[a] += size[b]
        alive[b] = False
        group[group == b] = a
    order = sorted(range(n), key=lambda i: (spans[i].first, spans[i].camera, spans[i].track))
    relabel: dict[int, int] = {}
    for i in order:
        relabel.setdefault(int(group[i]), len(relabel))
    return np.array([relabel[int(g)] for g in group], dtype=np.int64)


def relabel_mot(src: str | os.PathLike, dst: str | os.PathLike, ids: dict[int, int]) -> int:
    """Copy a MOT file with its track ids replaced by ``ids[track]``; other columns are kept.

    Rows whose id is not in ``ids`` (e.g. ``-1`` detections) are copied unchanged.

    Returns:
        The number of rows written.

    Raises:
        DatasetError: missing file or a row whose second field is not an integer.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise DatasetError(f"tracks file {src} not found")
    lines = []
    for line_no, line in enumerate(src.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split(",")
        try:
            track = int(float(fields[1]))
        except (IndexError, ValueError):
            raise DatasetError(f"{src}:{line_no}: {line.strip()!r}; expected 'frame,id,x,y,w,h,...'") from None
        if track in ids:
            fields[1] = str(ids[track])
        lines.append(",".join(fields))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text("".join(f"{line}\n" for line in lines))
    return len(lines)


__all__ = ["AUTO_QUANTILE", "TrackSpan", "calibrate_threshold", "link_tracks", "relabel_mot", "time_conflicts", "track_distances"]
