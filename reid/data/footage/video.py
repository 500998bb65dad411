"""Reading a user's video frame by frame, refusing files that are not whole videos.

OpenCV's decoders skip what they cannot decode without saying so to the caller: a truncated file
ends early, a corrupt frame is dropped (and every later frame number shifts by one). The only
check left to the caller is the frame count the container announces, so ``VideoReader`` compares
the frames it decoded with it once the video is read to the end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from reid.errors import DatasetError

# Decoded frames may fall short of the announced count by this fraction (plus 2 frames) before
# the video counts as truncated: containers without an index estimate the count from duration x fps.
COUNT_TOLERANCE = 0.01


def quiet_decoder_logs() -> None:
    """Silence FFmpeg's per-frame decoder messages (set before the first video is opened).

    A corrupt file otherwise prints a few lines per bad frame on stderr; ``VideoReader`` reports
    the problem itself in one line. An ``OPENCV_FFMPEG_LOGLEVEL`` already set is kept.
    """
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


@dataclass(frozen=True)
class VideoSource:
    """What identifies a video file: its name and size, and the frames decoded from it."""

    name: str
    size: int
    frames: int = 0

    def describe(self) -> str:
        frames = f", {self.frames} frames" if self.frames else ""
        return f"{self.name} ({self.size} bytes{frames})"


class VideoReader:
    """Sequential reader of one video file: ``for frame_no, image in reader`` (1-based numbers).

    Opening checks that the file exists, is not empty and is a video OpenCV decodes with at least
    one frame. After the last frame, the decoded count is checked against the announced one.

    Attributes:
        path: the video file.
        width, height: frame size in pixels.
        fps: frame rate from the container (30.0 when it announces none).
        announced: frame count from the container, 0 when unknown.
        frames: frames decoded so far.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise DatasetError(f"video {self.path} not found")
        if self.path.stat().st_size == 0:
            raise DatasetError(f"video {self.path} is empty (0 bytes)")
        self._capture = cv2.VideoCapture(str(self.path))
        if not self._capture.isOpened():
            raise DatasetError(f"video {self.path} is not a video OpenCV can decode")
        ok, self._first = self._capture.read()
        if not ok:
            self._capture.release()
            raise DatasetError(f"video {self.path} holds no frames (an empty or unreadable video)")
        self.height, self.width = self._first.shape[:2]
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if math.isfinite(fps) and 0 < fps < 1000 else 30.0
        count = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
        self.announced = int(count) if math.isfinite(count) and 0 < count < 1e9 else 0
        self.frames = 0

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield (1-based frame number, BGR image (H, W, 3) uint8) once, then check the count."""
        image, ok = self._first, True
        try:
            while ok:
                self.frames += 1
                yield self.frames, image
                ok, image = self._capture.read()
        finally:
            self._capture.release()
        self.check_complete()

    def check_complete(self) -> None:
        """Refuse a video that decoded clearly fewer frames than its container announces."""
        if self.announced and self.frames < self.announced * (1 - COUNT_TOLERANCE) - 2:
            raise DatasetError(
                f"video {self.path} is truncated or corrupt: decoded {self.frames} of the "
                f"{self.announced} frames its header announces"
            )

    def source(self) -> VideoSource:
        """The file's identity, with the frames decoded so far."""
        return VideoSource(self.path.name, self.path.stat().st_size, self.frames)


def source_of(path: str | os.PathLike) -> VideoSource:
    """Name and size of a video file, before it is decoded (``frames`` is 0)."""
    path = Path(path)
    return VideoSource(path.name, path.stat().st_size if path.is_file() else 0)
