"""Embed every track of a video as one tracklet: crop it (reid/data/footage/crop.py), then run the
re-ID model over its crops (reid.engine.extract, the same clip averaging as evaluation)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from reid.data.footage.crop import crop_tracklets, read_mot_tracks
from reid.data.footage.gallery import tracklet_from_folder
from reid.engine.extract import extract_features
from reid.errors import DatasetError
from reid.models import ReIDNet
from reid.tracking.linking import TrackSpan


def track_spans(tracks: str | os.PathLike, camera: int) -> list[TrackSpan]:
    """The tracks of a MOT file (ids >= 0), sorted by id, with their first and last frame.

    Raises:
        DatasetError: missing or malformed file.
    """
    by_frame = read_mot_tracks(tracks, Counter())
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    for frame, boxes in by_frame.items():
        for track, *_ in boxes:
            first[track] = min(first.get(track, frame), frame)
            last[track] = max(last.get(track, frame), frame)
    return [TrackSpan(camera, t, first[t], last[t]) for t in sorted(first)]


def embed_tracks(model: ReIDNet, video: str | os.PathLike, tracks: str | os.PathLike, camera: int,
                 workdir: str | os.PathLike, *, height: int, width: int, seq_len: int, max_frames: int,
                 batch_size: int = 32, device: torch.device | str = "cpu", resize: int = 0,
                 ) -> tuple[list[TrackSpan], np.ndarray]:
    """Crop the tracks of ``video`` into ``workdir`` (must be empty or new) and embed each.

    Args:
        height, width, seq_len, max_frames, resize: as the model was trained/evaluated
            (``data.height``, ``data.width``, ``data.test_seq_len``, ``data.test_max_frames``).

    Returns:
        The spans (``track_spans``) and (N, D) float32 features, a row of NaN for a track with
        no box inside the frame.

    Raises:
        DatasetError: unreadable video or tracks file, or ``workdir`` not empty.
    """
    workdir = Path(workdir)
    if workdir.exists() and any(workdir.iterdir()):
        raise DatasetError(f"crop folder {workdir} is not empty; give a new or empty folder")
    spans = track_spans(tracks, camera)
    crop_tracklets(video, tracks, camera, workdir, min_length=1, split="train")
    found = [i for i, s in enumerate(spans)
             if (workdir / "train" / str(s.track) / f"{camera}_{s.track:04d}").is_dir()]
    tracklets = [tracklet_from_folder(workdir / "train" / str(spans[i].track) / f"{camera}_{spans[i].track:04d}",
                                      pid=spans[i].track, camid=camera) for i in found]
    features = np.full((len(spans), model.dim), np.nan, dtype=np.float32)
    if tracklets:
        features[found] = extract_features(model, tracklets, height=height, width=width, seq_len=seq_len,
                                           max_frames=max_frames, batch_size=batch_size, device=device,
                                           progress=False, resize=resize)
    return spans, features


__all__ = ["embed_tracks", "track_spans"]
