"""Identity-balanced batches: P identities x K tracklets each (PK sampling)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class IdentityBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields batches of ``(tracklet index, draw number)``: ``num_identities`` ids x ``num_instances``.

    The draw number is the sample's global position in the stream (batch * batch size + slot);
    datasets seed their per-sample randomness with it, so a run is reproducible with any number of
    workers and a resumed run continues exactly where it stopped.

    Identities with fewer than ``num_instances`` tracklets are sampled with replacement. An epoch
    visits every identity once (the last incomplete batch is dropped); the sampler is infinite
    when ``num_batches`` is None, otherwise it yields exactly ``num_batches`` batches. The
    sequence is a pure function of ``seed`` and the epoch counter.
    """

    def __init__(
        self,
        pids: Sequence[int],
        *,
        num_identities: int,
        num_instances: int,
        seed: int = 0,
        num_batches: int | None = None,
    ) -> None:
        self.index_by_pid: dict[int, list[int]] = defaultdict(list)
        for index, pid in enumerate(pids):
            self.index_by_pid[int(pid)].append(index)
        self.pids = sorted(self.index_by_pid)
        if len(self.pids) < num_identities:
            raise ValueError(
                f"batch needs {num_identities} identities but the training set has {len(self.pids)}; "
                f"lower data.num_identities"
            )
        self.num_identities = num_identities
        self.num_instances = num_instances
        self.seed = seed
        self.num_batches = num_batches
        self.start_batch = 0  # set when resuming, to continue the same sequence

    def _epoch(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(self.pids)
        batches = []
        for b in range(len(order) // self.num_identities):
            batch = []
            for pid in order[b * self.num_identities : (b + 1) * self.num_identities]:
                pool = self.index_by_pid[int(pid)]
                replace = len(pool) < self.num_instances
                batch.extend(int(i) for i in rng.choice(pool, size=self.num_instances, replace=replace))
            batches.append(batch)
        return batches

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        per_epoch = len(self.pids) // self.num_identities
        epoch, skip = divmod(self.start_batch, per_epoch)
        produced = self.start_batch
        while self.num_batches is None or produced < self.num_batches:
            for batch in self._epoch(epoch)[skip:]:
                if self.num_batches is not None and produced >= self.num_batches:
                    return
                base = produced * len(batch)
                produced += 1
                yield [(index, base + slot) for slot, index in enumerate(batch)]
            skip = 0
            epoch += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            return len(self.pids) // self.num_identities
        return self.num_batches - self.start_batch
