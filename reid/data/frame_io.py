"""Reading the frames of a tracklet: image files (OpenCV) or one packed video (decord)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from reid.data.tracklet import Tracklet
from reid.errors import DatasetError


def read_image(path: str) -> np.ndarray:
    """Read one image as an (H, W, 3) uint8 RGB array.

    Raises:
        DatasetError: the file is missing or cannot be decoded.
    """
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot read image {path}: missing, truncated or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_frames(tracklet: Tracklet, indices: Sequence[int]) -> list[np.ndarray]:
    """Read the frames at ``indices`` (0-based, into ``tracklet.frames``) as RGB uint8 arrays."""
    if tracklet.video is None:
        return [read_image(tracklet.frames[i]) for i in indices]
    import decord  # imported lazily: only packed datasets need it

    try:
        reader = decord.VideoReader(tracklet.video, ctx=decord.cpu(0), num_threads=1)
        batch = reader.get_batch(list(indices)).asnumpy()
    except Exception as exc:  # decord raises its own DECORDError and RuntimeError types
        raise DatasetError(f"cannot read frames {list(indices)} of video {tracklet.video}: {exc}") from exc
    return list(batch)
