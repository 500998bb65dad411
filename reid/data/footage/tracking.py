"""Linking per-frame person boxes into tracks with ByteTrack (the ``trackers`` package), and
writing them as a MOTChallenge file.

ByteTrack (Zhang et al., ECCV 2022) matches confident boxes to the Kalman-predicted tracks by IoU
first, then the low-score ones to the tracks left. Its thresholds read scores as probabilities;
scores that are not (HOG's SVM margins, a detections file's arbitrary column) are withheld, and
ByteTrack then treats every box as confident (one IoU matching stage, as SORT).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reid.data.footage.detection import Detections
from reid.errors import ReIDError

MOT_FORMAT = "frame,id,x,y,w,h,conf,-1,-1,-1"


class PersonTracker:
    """ByteTrack over one video; collects the tracked boxes as MOT rows.

    Args:
        frame_rate: the video's frames per second (scales how long a lost track is kept).
        lost_track_buffer: frames (at 30 fps) a track survives without a box.
        min_consecutive: boxes in a row before a track gets an id.

    Attributes:
        rows: list of (frame, id, x, y, w, h, conf); ids are 1-based.
    """

    def __init__(self, frame_rate: float, *, lost_track_buffer: int = 30, min_consecutive: int = 2) -> None:
        try:
            import supervision
            from trackers import ByteTrackTracker
        except ImportError as exc:
            raise ReIDError(f"tracking needs the trackers package ({exc}); run make venv, or pip install "
                            "supervision rich requests pydeprecate and pip install --no-deps trackers") from None
        self._sv = supervision
        self.tracker = ByteTrackTracker(lost_track_buffer=lost_track_buffer, frame_rate=frame_rate,
                                        minimum_consecutive_frames=min_consecutive)
        self.rows: list[tuple[int, int, float, float, float, float, float]] = []

    def update(self, frame_no: int, detections: Detections) -> int:
        """Track the boxes of frame ``frame_no`` (frames in order, each once); returns boxes tracked."""
        boxes = detections.boxes.astype(np.float32).reshape(-1, 4)
        confidence = detections.scores.astype(np.float32) if detections.probabilities else None
        tracked = self.tracker.update(self._sv.Detections(xyxy=boxes, confidence=confidence,
                                                          data={"score": detections.scores.astype(np.float32)}))
        ids = np.asarray(tracked.tracker_id if tracked.tracker_id is not None else [], int)
        count = 0
        for (x1, y1, x2, y2), track, score in zip(tracked.xyxy, ids, tracked.data.get("score", [])):
            if track >= 0:  # -1: a box not (yet) part of a confirmed track
                self.rows.append((frame_no, int(track) + 1, float(x1), float(y1), float(x2 - x1),
                                  float(y2 - y1), float(score)))
                count += 1
        return count

    def track_ids(self) -> set[int]:
        return {row[1] for row in self.rows}


def write_mot(path: str | os.PathLike, rows: list[tuple]) -> None:
    """Write ``(frame, id, x, y, w, h, conf)`` rows as ``frame,id,x,y,w,h,conf,-1,-1,-1`` lines,
    sorted by frame then id."""
    lines = [f"{f},{t},{x:.2f},{y:.2f},{w:.2f},{h:.2f},{c:.4f},-1,-1,-1\n" for f, t, x, y, w, h, c in sorted(rows)]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(lines))
