"""How often a training batch holds two near twins (docs/query_analysis.md, "Near twins in batches").

A pairwise loss only contrasts identities that share a batch. With P identities drawn at random
from N, a given pair of near twins shares a batch in about P(P-1)/(N(N-1)) of the batches, so in a
short run most twin pairs never meet inside the pairwise loss. ``twin_batch_stats`` draws the
training stream that ``IdentityBatchSampler`` would draw for a synthetic MARS-layout set whose
generator wrote ``twins.csv``, and counts the batches with a twin pair, with random batches and,
given an identity similarity (a trained model's classifier centres), with soft identity mining.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.data.identity_sampler import IdentityBatchSampler, centre_similarity
from reid.data.tracklet import Tracklet
from reid.errors import DatasetError
from reid.studies.query_analysis import generator_dir, read_twin_pairs


@dataclass(frozen=True)
class TwinBatchStats:
    """Near twins in one drawn training stream.

    Attributes:
        batches: batches drawn.
        pairs: near-twin pairs among the training identities.
        share_with_pair: share of the batches holding at least one twin pair.
        meetings_per_pair: batches per twin pair that hold both twins, on average.
        pairs_never_met: share of the twin pairs that never share a batch.
    """

    batches: int
    pairs: int
    share_with_pair: float
    meetings_per_pair: float
    pairs_never_met: float


def read_train_twins(root: str | os.PathLike) -> list[tuple[int, int]]:
    """The training split's near-twin pairs (original pids) from the generator's ``twins.csv``.

    Raises:
        DatasetError: the file is missing or malformed (the message names the file and line).
    """
    path = generator_dir(root) / "twins.csv"
    if not path.is_file():
        raise DatasetError(f"{path} not found: only the synthetic presets with near twins (hard2, hard3, hard4) "
                           "write it")
    return read_twin_pairs(path, "train")


def label_pairs(train: list[Tracklet], pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs as training labels: a MARS-layout tracklet's original pid is its frames' folder."""
    label_of: dict[int, int] = {}
    for t in train:
        label_of.setdefault(int(Path(t.frames[0]).parent.name), t.pid)
    missing = sorted({p for pair in pairs for p in pair if p not in label_of})
    if missing:
        raise DatasetError(f"twins.csv names training pids {missing[:5]} that have no training tracklet")
    return [(label_of[a], label_of[b]) for a, b in pairs]


def checkpoint_similarity(checkpoint: str | os.PathLike) -> np.ndarray:
    """Cosine similarity of a trained model's classifier centres (classes x classes)."""
    from reid.engine.checkpoint import load_checkpoint

    state = load_checkpoint(checkpoint)
    weight = state.get("model", {}).get("classifier.weight")
    if weight is None:
        raise DatasetError(f"checkpoint {checkpoint} holds no classifier.weight (no identity centres)")
    return centre_similarity(weight).numpy()


def twin_batch_stats(pids: list[int], pairs: list[tuple[int, int]], *, num_identities: int, num_instances: int,
                     iterations: int, seed: int = 0, similarity: np.ndarray | None = None,
                     temperature: float = 0.1) -> TwinBatchStats:
    """Draw ``iterations`` batches as training would and count those that hold a near-twin pair.

    ``pids``: one training label per tracklet; ``pairs``: twin pairs of labels. With ``similarity``
    (labels x labels), batches are drawn by soft identity mining at ``temperature`` with that
    similarity in every epoch after the first (training's similarity moves; a trained model's is
    its end point)."""
    sampler = IdentityBatchSampler(pids, num_identities=num_identities, num_instances=num_instances, seed=seed,
                                   num_batches=iterations)
    if similarity is not None:
        epochs = iterations // sampler.epoch_length + 2
        sampler.enable_mining(temperature, {e: similarity for e in range(1, epochs)})
    twin_sets = {frozenset(p) for p in pairs}
    meetings = dict.fromkeys(twin_sets, 0)
    with_pair = 0
    batches = 0
    for batch in sampler:
        batches += 1
        ids = sorted({int(pids[i]) for i, _ in batch})
        met = [frozenset((a, b)) for k, a in enumerate(ids) for b in ids[k + 1:] if frozenset((a, b)) in meetings]
        with_pair += bool(met)
        for pair in met:
            meetings[pair] += 1
    counts = np.array(list(meetings.values()), dtype=np.float64)
    return TwinBatchStats(batches=batches, pairs=len(meetings), share_with_pair=with_pair / max(batches, 1),
                          meetings_per_pair=float(counts.mean()) if len(counts) else 0.0,
                          pairs_never_met=float((counts == 0).mean()) if len(counts) else 0.0)
