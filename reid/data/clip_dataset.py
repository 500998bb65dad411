"""torch Datasets that turn tracklets into clips for training and for feature extraction."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Dataset

from reid.data.frame_sampling import cover_clips, sample_frames
from reid.data.storage.frame_io import read_frames
from reid.data.tracklet import Tracklet
from reid.data.transforms import ClipTransform


class TrainClips(Dataset):
    """Item ``(i, draw)``: a randomly sampled clip of tracklet ``i``.

    Returns ``(clip (T, 3, H, W) float, label, camid, index)``. The label is the tracklet's pid,
    or ``labels[index]`` when ``labels`` is given (pseudo-identities: the pid is then never read).
    Frame choice and augmentation come from a generator seeded by (seed, index, draw), the draw
    number given by the batch sampler, so runs are reproducible with any worker count and across
    resumes; two draws of one tracklet are two different clips of it.
    """

    def __init__(self, tracklets: list[Tracklet], *, seq_len: int, sampling: str,
                 transform: ClipTransform, seed: int = 0, labels: list[int] | None = None) -> None:
        if labels is not None and len(labels) != len(tracklets):
            raise ValueError(f"{len(labels)} labels for {len(tracklets)} tracklets")
        self.tracklets = tracklets
        self.labels = labels
        self.seq_len = seq_len
        self.sampling = sampling
        self.transform = transform
        self.seed = seed

    def __len__(self) -> int:
        return len(self.tracklets)

    def __getitem__(self, item: tuple[int, int] | int):
        index, draw = item if isinstance(item, tuple) else (item, 0)
        rng = np.random.default_rng([self.seed, index, draw])
        t = self.tracklets[index]
        indices = sample_frames(self.sampling, len(t), self.seq_len, rng)
        clip = self.transform(read_frames(t, indices), rng)
        return clip, t.pid if self.labels is None else self.labels[index], t.camid, index


class EvalClips(Dataset):
    """Every clip of every tracklet (``test_clips`` coverage), flattened.

    Item ``i`` is ``(clip (T, 3, H, W), tracklet_index, distinct frames in the clip)``; feature
    extraction averages the clip embeddings of a tracklet weighted by their distinct frames.
    """

    def __init__(self, tracklets: list[Tracklet], *, seq_len: int, max_frames: int,
                 transform: ClipTransform) -> None:
        self.tracklets = tracklets
        self.transform = transform
        self.items: list[tuple[int, list[int], int]] = [
            (ti, clip, real) for ti, t in enumerate(tracklets)
            for clip, real in cover_clips(len(t), seq_len, max_frames)
        ]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        ti, frames, real = self.items[index]
        return self.transform(read_frames(self.tracklets[ti], frames)), ti, real
