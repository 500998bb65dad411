"""Simulated tracker errors on a loaded dataset's training split: ID switches and fragmented tracks.

A tracker makes two kinds of identity error that training without labels inherits, since there
each track is taken for one person:

- an **ID switch**: the track jumps from one person to another; here the second half of a
  tracklet's frames is replaced by the second half of a tracklet of another person, from the same
  camera when there is one (a tracker switches between people who are in view together);
- a **fragment**: one person's track is broken into several; here a tracklet is cut into 2 or 3
  consecutive pieces, each a tracklet of its own.

The dataset's own labels are the truth here (read once, before any training), so this needs a
labelled dataset; ``train_truth`` records who each resulting tracklet shows, for diagnostics.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging

import numpy as np

from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import ConfigError, DatasetError

logger = logging.getLogger(__name__)


def _check_fraction(key: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigError(f"config key {key!r}: {value!r}, expected a fraction in [0, 1]")


def _switch(t: Tracklet, donor: Tracklet) -> Tracklet:
    """``t``'s first half, then ``donor``'s second half (at least one frame of each)."""
    head = t.frames[:max(1, len(t) // 2)]
    tail = donor.frames[len(donor) // 2:]
    return dataclasses.replace(t, frames=head + tail, name=f"{t.name}+{donor.name}")


def _cut(t: Tracklet, rng: np.random.Generator) -> list[Tracklet]:
    """2 or 3 consecutive pieces of ``t`` (at most one per frame), cut at random places."""
    pieces = min(len(t), int(rng.integers(2, 4)))
    cuts = np.sort(rng.choice(np.arange(1, len(t)), pieces - 1, replace=False))
    bounds = [0, *cuts.tolist(), len(t)]
    return [dataclasses.replace(t, frames=t.frames[a:b], name=f"{t.name}/{k}")
            for k, (a, b) in enumerate(itertools.pairwise(bounds))]


def simulate_tracker_errors(dataset: VideoReIDDataset, *, id_switches: float = 0.0, fragments: float = 0.0,
                            seed: int = 0) -> VideoReIDDataset:
    """A copy of ``dataset`` whose training tracklets carry simulated tracker errors.

    Args:
        id_switches: fraction of training tracklets (of 2+ frames) whose second half becomes
            another person's; they keep their pid (the track's).
        fragments: fraction of the training tracklets (of 2+ frames; switched ones too) cut into
            2 or 3 tracklets with the pid of the original.
        seed: the draw of which tracklets, donors and cut points.

    Returns:
        The dataset with the new training split in the original order (pieces in place of their
        tracklet) and ``train_truth``: per tracklet, its person, or (first, second) after a switch.

    Raises:
        ConfigError: a fraction outside [0, 1].
        DatasetError: packed tracklets (frames of one video cannot be mixed), or no other person
            to switch to.
    """
    _check_fraction("data.id_switches", id_switches)
    _check_fraction("data.fragments", fragments)
    train = list(dataset.train)
    truth: list[tuple[int, ...]] = list(dataset.train_truth or [(int(t.pid),) for t in train])
    if not (id_switches or fragments):
        return dataclasses.replace(dataset, train_truth=truth)
    if any(t.video is not None for t in train):
        raise DatasetError(f"{dataset.name}: simulated tracker errors mix frames of image tracklets; "
                           "packed tracklets (data.packed=true) cannot be mixed")
    rng = np.random.default_rng([seed, 33])
    long = np.array([i for i, t in enumerate(train) if len(t) >= 2])
    pids = np.array([truth[i][0] for i in range(len(train))])
    cams = np.array([t.camid for t in train])
    for i in sorted(rng.choice(long, round(id_switches * len(train)), replace=False).tolist()) if len(long) else []:
        others = np.flatnonzero(pids != pids[i])
        if not len(others):
            raise DatasetError(f"{dataset.name}: an ID switch needs another person, but the training split has one")
        near = others[cams[others] == cams[i]]
        j = int(rng.choice(near if len(near) else others))
        train[i] = _switch(dataset.train[i], dataset.train[j])
        truth[i] = (int(pids[i]), int(pids[j]))
    cut = set(rng.choice(long, round(fragments * len(train)), replace=False).tolist()) if len(long) else set()
    out, out_truth = [], []
    for i, t in enumerate(train):
        pieces = _cut(t, rng) if i in cut else [t]
        out += pieces
        out_truth += [truth[i]] * len(pieces)
    logger.info("simulated tracker errors: %d of %d training tracklets switch person halfway, %d cut into "
                "%d fragments (now %d tracklets)", sum(len(x) > 1 for x in truth), len(train), len(cut),
                len(out) - len(train) + len(cut), len(out))
    return dataclasses.replace(dataset, train=out, train_truth=out_truth)
