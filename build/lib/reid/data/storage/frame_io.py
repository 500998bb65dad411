"""Reading the frames of a tracklet: image files (OpenCV) or one packed video (decord).

Opening a video costs about as much as decoding a few frames, so each process keeps a small LRU
of open ``decord.VideoReader``s. A forked child (DataLoader worker) starts with an empty LRU
(``os.register_at_fork`` and a pid check): a reader inherited from the parent shares its file
offset and decoder state, and using it from two processes would return wrong frames.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from reid.data.tracklet import Tracklet
from reid.errors import DatasetError

MAX_OPEN_VIDEOS = 16

_readers: OrderedDict[str, Any] = OrderedDict()
_lock = threading.Lock()
_owner_pid = os.getpid()
_inherited: list[OrderedDict[str, Any]] = []


def _forget_readers() -> None:
    """Stop using the readers inherited from the parent process (runs in a forked child).

    They are kept referenced, never destroyed: a VideoReader's destructor joins its decoder
    thread, which does not exist in the child, and would hang the worker forever.
    """
    global _readers, _lock, _owner_pid
    _inherited.append(_readers)
    _readers = OrderedDict()
    _lock = threading.Lock()
    _owner_pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_readers)


def read_image(path: str) -> np.ndarray:
    """Read one image as an (H, W, 3) uint8 RGB array.

    Raises:
        DatasetError: the file is missing or cannot be decoded.
    """
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}: missing, truncated or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def crop_to_box(image: np.ndarray, box: tuple[int, int, int, int], where: str) -> np.ndarray:
    """``image[y1:y2, x1:x2]`` for ``box = (x1, y1, x2, y2)`` (0-based, x2 and y2 exclusive).

    Raises:
        DatasetError: the box is empty or not inside the image (``where`` names the frame).
    """
    x1, y1, x2, y2 = box
    h, w = image.shape[:2]
    if not (0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h):
        raise DatasetError(f"{where}: bounding box {box} is not inside the {w}x{h} image; "
                           "expected 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height")
    return image[y1:y2, x1:x2]


def video_reader(path: str) -> Any:
    """An open ``decord.VideoReader`` for ``path`` from this process's LRU (opened on a miss)."""
    import decord  # imported lazily: only packed datasets need it

    if os.getpid() != _owner_pid:  # a child made without fork hooks (should not happen on Linux)
        _forget_readers()
    with _lock:
        reader = _readers.get(path)
        if reader is not None:
            _readers.move_to_end(path)
            return reader
    reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
    with _lock:
        _readers[path] = reader
        while len(_readers) > MAX_OPEN_VIDEOS:
            _readers.popitem(last=False)
    return reader


def open_video_count() -> int:
    """Number of readers in this process's LRU (for tests and diagnostics)."""
    return len(_readers)


def read_frames(tracklet: Tracklet, indices: Sequence[int]) -> list[np.ndarray]:
    """Read the frames at ``indices`` (0-based, into ``tracklet.frames``) as RGB uint8 arrays.

    Returns:
        ``len(indices)`` arrays of shape (H, W, 3), cropped to ``tracklet.box`` when it has one.
        For a packed tracklet only the requested frames are decoded (``VideoReader.get_batch``);
        the packed videos are intra-only, so no other frame is needed to decode them.

    Raises:
        DatasetError: an index is outside the tracklet, or a file cannot be read.
    """
    indices = [int(i) for i in indices]
    bad = [i for i in indices if not 0 <= i < len(tracklet)]
    if bad:
        raise DatasetError(f"frame indices {bad} outside tracklet {tracklet.name or tracklet.video} "
                           f"of {len(tracklet)} frames")
    if tracklet.video is None:
        frames = [read_image(tracklet.frames[i]) for i in indices]
    else:
        try:
            frames = list(video_reader(tracklet.video).get_batch(indices).asnumpy())
        except Exception as exc:  # decord raises its own DECORDError and RuntimeError types
            with _lock:
                _readers.pop(tracklet.video, None)
            raise DatasetError(f"cannot read frames {indices} of video {tracklet.video}: {exc}") from exc
    if tracklet.box is None:
        return frames
    return [crop_to_box(f, tracklet.box, tracklet.frames[i]) for f, i in zip(frames, indices)]
