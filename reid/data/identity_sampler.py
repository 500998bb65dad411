"""Identity-balanced batches: P identities x K tracklets each (PK sampling)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Sampler

from reid.errors import ConfigError

logger = logging.getLogger(__name__)

EPOCHS = ("identities", "tracklets")


class IdentityBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields batches of ``(tracklet index, draw number)``: ``num_identities`` ids x ``num_instances``.

    The draw number is the sample's global position in the stream (batch * batch size + slot);
    datasets seed their per-sample randomness with it, so a run is reproducible with any number of
    workers and a resumed run continues exactly where it stopped.

    Identities with fewer than ``num_instances`` tracklets are sampled with replacement. What an
    epoch is depends on ``epoch``:

    - ``identities``: every identity once, with ``num_instances`` of its tracklets drawn at random
      (every identity is equally frequent).
    - ``tracklets``: every tracklet once: each identity's tracklets are shuffled and cut into
      groups of ``num_instances`` (a short last group is filled by drawing from the identity's
      tracklets), and batches take one group from each of ``num_identities`` randomly chosen
      identities that still have groups, until fewer than that many remain (the
      RandomIdentitySampler of Hermans et al. and torchreid: identities with more tracklets are
      seen more often).

    Tracklets with a negative label are never drawn (pseudo-labels: tracklets left out).

    ``cameras`` (one per tracklet; ``identities`` epochs only) mixes cameras in every batch: an
    identity's camera is the most common one among its tracklets, and the epoch's order takes one
    identity from each camera in turn (cameras in a new random order each turn), so consecutive
    identities come from different cameras while two or more cameras have identities left.

    ``one_camera`` (with ``cameras``) draws every batch from one camera instead: each camera's
    identities are shuffled and cut into batches of ``num_identities`` (a camera's short remainder
    waits for the next epoch), and the epoch interleaves the cameras' batches in a random order.
    Training without labels uses it while every tracklet is its own identity: two tracks of one
    camera are two people, while a track of another camera may show the same person.

    ``mining_temperature`` > 0 (``identities`` epochs, without ``cameras``) groups similar
    identities into one batch: soft identity mining (docs/method.md §6.1a). The epoch
    still takes every identity once, in a random order of anchors; each batch is its anchor (the
    first identity of the order not yet drawn) and ``num_identities - 1`` companions drawn one by
    one, without replacement, from the epoch's identities not yet drawn with probability
    proportional to ``exp(max_g similarity[g, j] / mining_temperature)`` over the identities ``g``
    already in the batch (so a batch can hold two pairs of look-alikes, not only the anchor's).
    ``similarity[e]`` (epoch -> (classes x classes) array, rows and columns indexed by pid) must be
    set before epoch ``e``'s batches are drawn (the ``IdentityMining`` hook sets it during epoch ``e - 1``); epoch 0 and
    epochs without it are random when ``e == 0`` and an error otherwise.

    The last incomplete batch is dropped; the sampler is infinite when ``num_batches`` is None,
    otherwise it yields exactly ``num_batches`` batches. The sequence is a pure function of
    ``seed`` and the epoch counter.

    In distributed training every rank builds the same sampler with its ``rank`` and the
    ``world_size``: each draws the same global batch and keeps its contiguous share of the slots
    (``world_size`` must divide the batch), so the ranks' shares are disjoint, together make the
    one-process batch, and keep its draw numbers.
    """

    def __init__(
        self,
        pids: Sequence[int],
        *,
        num_identities: int,
        num_instances: int,
        seed: int = 0,
        num_batches: int | None = None,
        epoch: str = "identities",
        rank: int = 0,
        world_size: int = 1,
        cameras: Sequence[int] | None = None,
        one_camera: bool = False,
    ) -> None:
        if epoch not in EPOCHS:
            raise ConfigError(f"data.epoch: unknown epoch {epoch!r}; valid: {', '.join(EPOCHS)}")
        if cameras is not None and epoch != "identities":
            raise ConfigError(f"data.epoch={epoch!r}: batches that mix cameras (training without labels) are "
                              "drawn in identities epochs; use data.epoch=identities")
        if one_camera and cameras is None:
            raise ValueError("one_camera batches need the tracklets' cameras")
        self.epoch = epoch
        self.one_camera = one_camera
        self.index_by_pid: dict[int, list[int]] = defaultdict(list)
        for index, pid in enumerate(pids):
            if int(pid) >= 0:
                self.index_by_pid[int(pid)].append(index)
        self.pids = sorted(self.index_by_pid)
        self.pids_by_camera: dict[int, list[int]] | None = None
        if cameras is not None:
            self.pids_by_camera = defaultdict(list)
            for pid in self.pids:
                cams = np.asarray([cameras[i] for i in self.index_by_pid[pid]])
                values, counts = np.unique(cams, return_counts=True)
                self.pids_by_camera[int(values[counts.argmax()])].append(pid)
        if one_camera and self.pids_by_camera is not None and \
                max(len(p) for p in self.pids_by_camera.values()) < num_identities:
            raise ConfigError(f"data.num_identities={num_identities}: batches from one camera need that many "
                              f"identities in a camera, but the busiest camera has "
                              f"{max(len(p) for p in self.pids_by_camera.values())}")
        if one_camera and self.pids_by_camera is not None:
            for cam, cam_pids in sorted(self.pids_by_camera.items()):
                if len(cam_pids) < num_identities:
                    logger.warning("camera %d has %d identities, fewer than a batch's %d: batches from one camera "
                                   "never draw its tracklets", cam, len(cam_pids), num_identities)
        if len(self.pids) < num_identities:
            raise ConfigError(
                f"data.num_identities={num_identities}: a batch needs {num_identities} identities but the "
                f"training set has {len(self.pids)}; lower data.num_identities to at most {len(self.pids)}"
            )
        self.num_identities = num_identities
        self.num_instances = num_instances
        batch = num_identities * num_instances
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} of world size {world_size}")
        if batch % world_size:
            raise ConfigError(f"a global batch of {batch} clips (data.num_identities x data.num_instances) "
                              f"does not split into {world_size} equal shares, one per process; "
                              f"choose a multiple of {world_size}")
        share = batch // world_size
        self.share = slice(rank * share, (rank + 1) * share)
        self.seed = seed
        self.num_batches = num_batches
        self.start_batch = 0  # set when resuming, to continue the same sequence
        self.mining_temperature = 0.0
        self.similarity: dict[int, Any] = {}  # epoch -> (classes x classes) similarity, for identity mining

    @property
    def epoch_length(self) -> int:
        """Batches in one epoch (the first epoch's, for ``tracklets`` epochs)."""
        return next(self._epoch_lengths())

    def enable_mining(self, temperature: float, similarity: dict[int, Any]) -> None:
        """Soft identity mining at ``temperature`` with the (shared, updated) ``similarity`` dict."""
        if temperature <= 0:
            raise ValueError(f"identity mining temperature {temperature}, expected > 0")
        if self.epoch != "identities" or self.pids_by_camera is not None:
            raise ConfigError("data.identity_mining groups identities within data.epoch=identities epochs with "
                              "identity labels (data.labels=use); this run draws its batches otherwise")
        self.mining_temperature = float(temperature)
        self.similarity = similarity

    def _epoch(self, epoch: int) -> list[list[int]]:
        if self.epoch == "tracklets":
            return self._tracklet_epoch(epoch)
        rng = np.random.default_rng([self.seed, epoch])
        if self.one_camera:
            groups = self._camera_groups(rng)
        elif self.mining_temperature > 0 and epoch > 0:
            if epoch not in self.similarity:
                raise RuntimeError(f"identity mining: no identity similarity for epoch {epoch} when its batches were "
                                   "drawn (the loader ran more than an epoch ahead of training)")
            groups = mined_groups(rng.permutation(self.pids), np.asarray(self.similarity[epoch]),
                                  self.num_identities, self.mining_temperature, rng)
        else:
            order = rng.permutation(self.pids) if self.pids_by_camera is None else self._camera_mixed(rng)
            groups = [order[b * self.num_identities : (b + 1) * self.num_identities]
                      for b in range(len(order) // self.num_identities)]
        batches = []
        for group in groups:
            batch = []
            for pid in group:
                pool = self.index_by_pid[int(pid)]
                replace = len(pool) < self.num_instances
                batch.extend(int(i) for i in rng.choice(pool, size=self.num_instances, replace=replace))
            batches.append(batch)
        return batches

    def _camera_mixed(self, rng: np.random.Generator) -> list[int]:
        """Every identity once: one from each camera in turn, cameras in a random order each turn."""
        queues = {cam: list(rng.permutation(pids)) for cam, pids in sorted(self.pids_by_camera.items())}
        order: list[int] = []
        while queues:
            for cam in rng.permutation(sorted(queues)):
                order.append(int(queues[int(cam)].pop()))
                if not queues[int(cam)]:
                    del queues[int(cam)]
        return order

    def _camera_groups(self, rng: np.random.Generator) -> list[list[int]]:
        """The epoch's identity groups, each from one camera, cameras interleaved at random."""
        p = self.num_identities
        groups = []
        for cam, pids in sorted(self.pids_by_camera.items()):
            order = [int(x) for x in rng.permutation(pids)]
            groups += [order[b * p : (b + 1) * p] for b in range(len(order) // p)]
        return [groups[i] for i in rng.permutation(len(groups))]

    def _tracklet_epoch(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch, 1])
        groups: dict[int, list[list[int]]] = {}
        k = self.num_instances
        for pid in self.pids:
            pool = [int(i) for i in rng.permutation(self.index_by_pid[pid])]
            if len(pool) % k:
                pool += [int(i) for i in rng.choice(self.index_by_pid[pid], size=k - len(pool) % k)]
            groups[pid] = [pool[j : j + k] for j in range(0, len(pool), k)]
        batches = []
        while True:
            available = [pid for pid in self.pids if groups[pid]]
            if len(available) < self.num_identities:
                return batches
            chosen = rng.choice(available, size=self.num_identities, replace=False)
            batches.append([i for pid in chosen for i in groups[int(pid)].pop(0)])

    def _epoch_lengths(self):
        """Batches per epoch, epoch by epoch (fixed for ``identities``, drawn for ``tracklets``)."""
        epoch = 0
        while True:
            if self.one_camera:
                yield sum(len(p) // self.num_identities for p in self.pids_by_camera.values())
            elif self.epoch == "identities":
                yield len(self.pids) // self.num_identities
            else:
                yield len(self._epoch(epoch))
            epoch += 1

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, skip = 0, self.start_batch
        for length in self._epoch_lengths():
            if skip < length:
                break
            epoch, skip = epoch + 1, skip - length
        produced = self.start_batch
        while self.num_batches is None or produced < self.num_batches:
            for batch in self._epoch(epoch)[skip:]:
                if self.num_batches is not None and produced >= self.num_batches:
                    return
                base = produced * len(batch)
                produced += 1
                yield [(index, base + slot) for slot, index in enumerate(batch)][self.share]
            skip = 0
            epoch += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            return next(self._epoch_lengths())
        return self.num_batches - self.start_batch


def mined_groups(order: np.ndarray, similarity: np.ndarray, size: int, temperature: float,
                 rng: np.random.Generator) -> list[list[int]]:
    """An epoch's identity groups by soft identity mining (see ``IdentityBatchSampler``).

    Args:
        order: the epoch's identities (pids) in a random order; anchors are taken in this order.
        similarity: (classes x classes) similarity of identities, indexed by pid.
        size: identities per group; ``len(order) // size`` groups, the remainder left out.
        temperature: softmax temperature of the companions' draw (small: the nearest identities).
        rng: the epoch's generator.
    """
    order = np.asarray(order, dtype=np.int64)
    if similarity.ndim != 2 or similarity.shape[0] <= order.max() or similarity.shape[1] <= order.max():
        raise ValueError(f"identity similarity of shape {similarity.shape} does not cover pid {int(order.max())}")
    free = np.ones(len(order), dtype=bool)
    groups: list[list[int]] = []
    anchor_pos = 0
    for _ in range(len(order) // size):
        while not free[anchor_pos]:
            anchor_pos += 1
        anchor = int(order[anchor_pos])
        free[anchor_pos] = False
        group = [anchor]
        for _ in range(size - 1):
            candidates = np.flatnonzero(free)
            closest = similarity[np.ix_(group, order[candidates])].max(axis=0)  # to the nearest member
            logits = closest.astype(np.float64) / temperature
            weights = np.exp(logits - logits.max())
            pick = int(candidates[rng.choice(len(candidates), p=weights / weights.sum())])
            free[pick] = False
            group.append(int(order[pick]))
        groups.append(group)
    return groups


@torch.no_grad()
def centre_similarity(centres: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of class centres ``(classes, D)`` -> ``(classes, classes)`` float32 on the CPU:
    the similarity identity mining draws companions by."""
    unit = torch.nn.functional.normalize(centres.detach().float(), dim=1)
    return (unit @ unit.T).cpu()
