"""Temporal sampling: which frames of a tracklet form a clip.

Every function returns a sorted list of ``seq_len`` frame indices into a tracklet of ``length``
frames; tracklets shorter than ``seq_len`` repeat frames (in order) rather than being dropped.
"""

from __future__ import annotations

import numpy as np

from reid.config import check_choice


def restricted_random(length: int, seq_len: int, rng: np.random.Generator) -> list[int]:
    """Split the tracklet into ``seq_len`` equal chunks and take one random frame from each.

    This is the "random restricted" (TSN-style) sampling of video re-ID: the clip spans the whole
    tracklet while keeping randomness within each chunk.
    """
    if length >= seq_len:
        edges = np.linspace(0, length, seq_len + 1)
        starts = np.floor(edges[:-1]).astype(int)
        ends = np.maximum(np.floor(edges[1:]).astype(int), starts + 1)
        return [int(rng.integers(s, e)) for s, e in zip(starts, ends)]
    return sorted(int(i) for i in np.arange(seq_len) * length // seq_len)


def random_frames(length: int, seq_len: int, rng: np.random.Generator) -> list[int]:
    """``seq_len`` distinct random frames (with replacement only when the tracklet is short)."""
    replace = length < seq_len
    return sorted(int(i) for i in rng.choice(length, size=seq_len, replace=replace))


def consecutive(length: int, seq_len: int, rng: np.random.Generator) -> list[int]:
    """``seq_len`` consecutive frames starting at a random position."""
    if length <= seq_len:
        return evenly(length, seq_len)
    start = int(rng.integers(0, length - seq_len + 1))
    return list(range(start, start + seq_len))


def evenly(length: int, seq_len: int, rng: np.random.Generator | None = None) -> list[int]:
    """``seq_len`` evenly spaced frames (deterministic)."""
    return [int(i) for i in np.linspace(0, length - 1, seq_len).round()]


SAMPLERS = {
    "restricted": restricted_random,
    "random": random_frames,
    "consecutive": consecutive,
    "evenly": evenly,
}


def sample_frames(method: str, length: int, seq_len: int, rng: np.random.Generator) -> list[int]:
    """Dispatch to one of ``SAMPLERS`` by name."""
    check_choice(method, SAMPLERS, "data.sampling")
    if length < 1:
        raise ValueError(f"cannot sample frames from an empty tracklet (length {length})")
    return SAMPLERS[method](length, seq_len, rng)


def cover_clips(length: int, seq_len: int, max_frames: int) -> list[tuple[list[int], int]]:
    """Cover a test tracklet with clips of ``seq_len`` frames.

    At most ``max_frames`` frames are used, evenly spaced. A short last clip is filled by
    spreading its own frames over the ``seq_len`` slots (not by repeating the final frame), and
    every clip comes with its number of distinct frames, so that feature extraction can weight
    clips by it: a tracklet's embedding is then (close to) the mean over its frames, with no frame
    counted several times over (docs/method.md, "Test clips and the tracklet embedding").

    Returns:
        ``[(frame indices, number of distinct frames), ...]``.
    """
    n = min(length, max_frames)
    frames = evenly(length, n) if n < length else list(range(length))
    clips = []
    for start in range(0, len(frames), seq_len):
        real = frames[start : start + seq_len]
        clips.append(([real[j * len(real) // seq_len] for j in range(seq_len)], len(real)))
    return clips
