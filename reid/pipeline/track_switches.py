"""Finding the ID switches in unlabelled training tracks, and trimming each to one person.

A tracker's ID switch makes one track out of two people. Training without labels takes a track
for one person, so such a track joins two people's clusters and the intra-camera term pulls both
people towards one row. At each clustering round (``cluster.trim_switches``) every training track
is embedded frame by frame with the current network (at most ``data.test_max_frames`` frames of it,
evenly spaced, as the round's own embedding reads), and for every cut that leaves at least
``max(MIN_PART, ceil(MIN_SHARE * n))`` of those n frames on each side the cosine distance between
the mean embeddings of the two sides is measured; a track's score is its largest such distance, at
its cut (tracks too short for a cut are not scored). The tracks whose score stands out from the
others' (above median + ``z`` scaled median absolute deviations, ``cluster.switch_z``) are taken
to switch there, and until the next round only their longer side is trained on (the track keeps
its index, so labels, memories and checkpoints are unchanged in shape). The scores are always measured on the
whole tracks, so a track trimmed at one round can be whole again at the next.

The rule is relative to the run's own tracks: most tracks of a usable tracker are clean, so the
bulk of the scores is what one person's two parts look like to the network at that moment.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from reid.data.frame_sampling import evenly
from reid.data.tracklet import Tracklet

#: a side of a cut has at least this many frames ...
MIN_PART = 2
#: ... and at least this share of the track (a cut near an end compares a few noisy frames)
MIN_SHARE = 0.15
#: the median absolute deviation of a normal distribution, in standard deviations
MAD_TO_STD = 1.4826


def min_part(length: int) -> int:
    """The fewest frames a side of a cut of a ``length``-frame track may have."""
    return max(MIN_PART, math.ceil(MIN_SHARE * length))


def eligible(length: int) -> bool:
    """Whether a track of ``length`` frames has a cut at all."""
    return length >= 2 * min_part(length)


def frame_tracklets(tracks: list[Tracklet], max_frames: int) -> tuple[list[Tracklet], np.ndarray, np.ndarray]:
    """Single-frame tracklets of every track with a cut: all its frames, or ``max_frames`` evenly
    spaced; with the index of each one's track and its frame's position in that track."""
    frames, owners, positions = [], [], []
    for i, t in enumerate(tracks):
        picked = evenly(len(t), max_frames) if len(t) > max_frames else list(range(len(t)))
        if eligible(len(picked)):
            frames += [dataclasses.replace(t, frames=(t.frames[k],), name=f"{t.name}#{k}") for k in picked]
            owners += [i] * len(picked)
            positions += picked
    return frames, np.asarray(owners, dtype=np.int64), np.asarray(positions, dtype=np.int64)


def best_cut(features: np.ndarray) -> tuple[float, int]:
    """The cut of one track's (n, D) frame features whose two sides' mean embeddings are farthest
    apart: ``(cosine distance, k)``, the sides being frames ``[0, k)`` and ``[k, n)``."""
    f = np.asarray(features, dtype=np.float64)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    n = len(f)
    m = min_part(n)
    if n < 2 * m:
        raise ValueError(f"a track of {n} frames has no cut with {m}+ frames on each side")
    head = np.cumsum(f, axis=0)
    ks = np.arange(m, n - m + 1)
    a = head[ks - 1] / ks[:, None]
    b = (head[-1] - head[ks - 1]) / (n - ks)[:, None]
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-12)
    j = int(np.argmax(1.0 - cos))
    return float(1.0 - cos[j]), int(ks[j])


def switch_scores(features: np.ndarray, owners: np.ndarray, num_tracks: int,
                  positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per track, the score and cut of ``best_cut`` over its frame features (``owners``: each
    feature's track, in frame order); the cut is the track's frame that starts the second side
    (``positions``: each feature's frame in its track; default 0, 1, ... per track). NaN and 0
    for tracks with no features given."""
    scores, cuts = np.full(num_tracks, np.nan), np.zeros(num_tracks, dtype=np.int64)
    owners = np.asarray(owners)
    positions = None if positions is None else np.asarray(positions)
    order = np.argsort(owners, kind="stable")  # each track's features together, in frame order
    tracks, starts = np.unique(owners[order], return_index=True)
    for i, mine in zip(tracks, np.split(order, starts[1:])):
        scores[i], k = best_cut(features[mine])
        cuts[i] = k if positions is None else int(positions[mine[k]])
    return scores, cuts


def flag_switches(scores: np.ndarray, z: float) -> np.ndarray:
    """(N,) bool: the scores above median + z * (1.4826 * median absolute deviation) of the
    measured (non-NaN) scores; none when fewer than 3 were measured or all are alike."""
    scores = np.asarray(scores, dtype=np.float64)
    known = ~np.isnan(scores)
    flagged = np.zeros(len(scores), dtype=bool)
    if known.sum() < 3:
        return flagged
    s = scores[known]
    median = np.median(s)
    spread = MAD_TO_STD * np.median(np.abs(s - median))
    if spread <= 0:
        return flagged
    flagged[known] = s > median + z * spread
    return flagged


def whole_ranges(lengths: list[int]) -> np.ndarray:
    """(N, 2) int64 ``[0, length)``: every track whole."""
    return np.array([[0, n] for n in lengths], dtype=np.int64).reshape(-1, 2)


def kept_ranges(lengths: list[int], flagged: np.ndarray, cuts: np.ndarray) -> np.ndarray:
    """(N, 2) int64 ``[start, end)`` frames trained on: the whole track, or a flagged track's
    longer side of its cut (the first on a tie)."""
    ranges = whole_ranges(lengths)
    for i in np.flatnonzero(flagged):
        k, n = int(cuts[i]), lengths[i]
        ranges[i] = (0, k) if k >= n - k else (k, n)
    return ranges


def trimmed(tracks: list[Tracklet], ranges: np.ndarray) -> list[Tracklet]:
    """``tracks`` with each cut to its range (the same objects where the range is whole)."""
    return [t if (a, b) == (0, len(t)) else dataclasses.replace(t, frames=t.frames[a:b])
            for t, (a, b) in zip(tracks, ranges.tolist())]
