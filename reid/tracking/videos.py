"""Link the tracks of several videos (cameras) into global identities and write new MOT files."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from reid.errors import ConfigError
from reid.models import ReIDNet
from reid.tracking.embedding import embed_tracks
from reid.tracking.linking import AUTO_QUANTILE, TrackSpan, calibrate_threshold, link_tracks, relabel_mot, track_distances

logger = logging.getLogger(__name__)


@dataclass
class LinkResult:
    """What ``link_videos`` did: the tracks of all cameras, their features, distances and labels."""

    spans: list[TrackSpan]
    features: np.ndarray  # (N, D), NaN rows for tracks without a crop
    distances: np.ndarray  # (N, N)
    labels: np.ndarray  # (N,) 0..K-1; the written id is label + 1
    threshold: float = 0.0  # the threshold used (the calibrated one for "auto")
    seconds: dict[str, float] = field(default_factory=dict)  # "embed" (crop + model), "link"

    def relink(self, threshold: float) -> np.ndarray:
        """Labels for another threshold (same distances)."""
        return link_tracks(self.spans, self.distances, threshold=threshold)


def embed_videos(model: ReIDNet, sequences: list[tuple[str | os.PathLike, str | os.PathLike]], *,
                 height: int, width: int, seq_len: int, max_frames: int, batch_size: int = 32,
                 device: torch.device | str = "cpu", resize: int = 0) -> tuple[list[TrackSpan], np.ndarray]:
    """Spans and features of every track of every ``(video, tracks file)``; camera = position in the list."""
    if not sequences:
        raise ConfigError("link: no (video, tracks) pairs given")
    spans: list[TrackSpan] = []
    parts = []
    with tempfile.TemporaryDirectory(prefix="link-crops-") as tmp:
        for camera, (video, tracks) in enumerate(sequences):
            s, f = embed_tracks(model, video, tracks, camera, Path(tmp) / f"cam{camera}", height=height,
                                width=width, seq_len=seq_len, max_frames=max_frames, batch_size=batch_size,
                                device=device, resize=resize)
            spans += s
            parts.append(f)
    return spans, np.concatenate(parts) if parts else np.zeros((0, model.dim), np.float32)


def link_videos(model: ReIDNet, sequences: list[tuple[str | os.PathLike, str | os.PathLike]],
                outputs: list[str | os.PathLike], *, threshold: float | str = "auto",
                quantile: float = AUTO_QUANTILE, rerank: bool = False,
                height: int, width: int, seq_len: int, max_frames: int, batch_size: int = 32,
                device: torch.device | str = "cpu", resize: int = 0) -> LinkResult:
    """Embed, link and write one relabelled MOT file per camera (ids global over the cameras).

    Args:
        sequences: ``(video, tracks file)`` per camera.
        outputs: the MOT file to write for each camera.
        threshold: a number, or ``"auto"``: ``calibrate_threshold`` at ``quantile`` on these tracks.
        rerank: see reid/tracking/linking.py.
        height ... resize: how the model embeds (reid.tracking.embedding.embed_tracks).

    Raises:
        ConfigError: no sequences, or not one output per sequence.
        DatasetError: unreadable videos or tracks files.
    """
    if len(outputs) != len(sequences):
        raise ConfigError(f"link: {len(sequences)} (video, tracks) pairs but {len(outputs)} output files")
    start = time.perf_counter()
    spans, features = embed_videos(model, sequences, height=height, width=width, seq_len=seq_len,
                                   max_frames=max_frames, batch_size=batch_size, device=device, resize=resize)
    embedded = time.perf_counter()
    distances = track_distances(features, rerank=rerank)
    if threshold == "auto":
        threshold = calibrate_threshold(spans, distances, quantile=quantile)
    elif isinstance(threshold, str):
        raise ConfigError(f"link: threshold {threshold!r}, expected a number or 'auto'")
    labels = link_tracks(spans, distances, threshold=float(threshold))
    write_linked(spans, labels, sequences, outputs)
    result = LinkResult(spans, features, distances, labels, threshold=float(threshold),
                        seconds={"embed": embedded - start, "link": time.perf_counter() - embedded})
    logger.info("linked %d tracks of %d cameras into %d identities (threshold %.3f%s)", len(spans),
                len(sequences), len(set(labels.tolist())), threshold, ", re-ranked" if rerank else "")
    return result


def write_linked(spans: list[TrackSpan], labels: np.ndarray, sequences: list[tuple[str | os.PathLike,
                 str | os.PathLike]], outputs: list[str | os.PathLike]) -> None:
    """Write each camera's tracks file with track ids replaced by ``label + 1``."""
    for camera, ((_, tracks), out) in enumerate(zip(sequences, outputs)):
        ids = {s.track: int(label) + 1 for s, label in zip(spans, labels) if s.camera == camera}
        relabel_mot(tracks, out, ids)


__all__ = ["LinkResult", "embed_videos", "link_videos", "write_linked"]
