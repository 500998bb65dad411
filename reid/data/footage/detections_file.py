"""A detections file from any detector, in MOTChallenge detection format, checked line by line.

One box per line, ``frame, id, x, y, w, h, conf, ...`` comma separated: frames 1-based, ``x, y``
the top-left corner in pixels, the id ignored (-1 in detection files), a missing ``conf`` read
as 1, ``#`` and blank lines ignored (METHOD.md section 5). A box may reach past the frame's edge
(it is clipped when cropped); a box with a NaN, a width or height <= 0, entirely outside the
frame, or on a frame past the video's end is an error naming the line.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.data.footage.detection import Detections
from reid.errors import DatasetError

FORMAT = "'frame,id,x,y,w,h,conf,...'"


@dataclass
class DetectionFile:
    """The boxes of a detections file by frame.

    Attributes:
        path: the file.
        boxes: frame (1-based) -> (N, 5) float32 ``x, y, w, h, conf``.
        lines: frame -> (N,) line numbers of those boxes, for error messages.
        probabilities: whether every conf lies in [0, 1] (then the tracker uses them).
    """

    path: Path
    boxes: dict[int, np.ndarray]
    lines: dict[int, np.ndarray]
    probabilities: bool

    def detections(self, frame_no: int, width: int, height: int) -> Detections:
        """The boxes of one frame as x1, y1, x2, y2; refuses a box entirely outside width x height."""
        rows = self.boxes.get(frame_no)
        if rows is None:
            return Detections.empty(self.probabilities)
        x, y, w, h = rows[:, :4].T
        outside = (x >= width) | (y >= height) | (x + w <= 0) | (y + h <= 0)
        if outside.any():
            i = int(np.argmax(outside))
            raise DatasetError(f"{self.path}:{self.lines[frame_no][i]}: box x={x[i]:g} y={y[i]:g} w={w[i]:g} "
                               f"h={h[i]:g} lies outside the {width}x{height} frame")
        return Detections(np.stack([x, y, x + w, y + h], axis=1), rows[:, 4].copy(), self.probabilities)

    def check_frames(self, frames: int, video: str | os.PathLike) -> None:
        """Refuse boxes on frames past the last of a video of ``frames`` frames."""
        late = [f for f in self.boxes if f > frames]
        if late:
            first = min(late)
            raise DatasetError(f"{self.path}:{int(self.lines[first][0])}: frame {first} is past the end of "
                               f"video {video} ({frames} frames); is this the detections file of another video?")


def _numbers(fields: list[str], path: Path, line_no: int) -> list[float]:
    values = []
    for name, text in zip(("frame", "id", "x", "y", "w", "h", "conf"), fields):
        try:
            value = float(text)
        except ValueError:
            raise DatasetError(f"{path}:{line_no}: {name} {text!r} is not a number; expected {FORMAT}") from None
        if not math.isfinite(value):
            raise DatasetError(f"{path}:{line_no}: {name} is {text}; expected a finite number")
        values.append(value)
    return values


def read_mot_detections(path: str | os.PathLike) -> DetectionFile:
    """Read and check a MOT detections file (module docstring: the format).

    Raises:
        DatasetError: a missing file, a line with fewer than 6 fields, a non-number or NaN, a
            frame that is not an integer >= 1, a box whose width or height is <= 0.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"detections file {path} not found")
    rows: dict[int, list[list[float]]] = defaultdict(list)
    lines: dict[int, list[int]] = defaultdict(list)
    for line_no, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            raise DatasetError(f"{path}:{line_no}: {len(fields)} comma-separated fields; expected {FORMAT}")
        frame, _, x, y, w, h, *conf = _numbers(fields[:7], path, line_no)
        if frame != int(frame) or frame < 1:
            raise DatasetError(f"{path}:{line_no}: frame {fields[0]}; expected an integer >= 1 (1-based)")
        if w <= 0 or h <= 0:
            raise DatasetError(f"{path}:{line_no}: box of width {fields[4]} and height {fields[5]}; "
                               "expected a positive width and height")
        rows[int(frame)].append([x, y, w, h, conf[0] if conf else 1.0])
        lines[int(frame)].append(line_no)
    boxes = {f: np.asarray(r, np.float32) for f, r in rows.items()}
    confs = np.concatenate([b[:, 4] for b in boxes.values()]) if boxes else np.zeros(0)
    return DetectionFile(path, boxes, {f: np.asarray(n) for f, n in lines.items()},
                         bool(((confs >= 0) & (confs <= 1)).all()))
