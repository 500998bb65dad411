"""The picture of one search: the query's key frames, then the top-k gallery tracklets, captioned."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

_FONT, _SCALE = cv2.FONT_HERSHEY_SIMPLEX, 0.32
_GAP = 12  # pixels between the query frames and the results


def _fit(text: str, width: int) -> str:
    """``text`` cut from the left (``..`` prefix) until it fits ``width`` pixels."""
    if cv2.getTextSize(text, _FONT, _SCALE, 1)[0][0] <= width:
        return text
    while len(text) > 1 and cv2.getTextSize(".." + text, _FONT, _SCALE, 1)[0][0] > width:
        text = text[1:]
    return ".." + text


def strip_image(query_frames: Sequence[np.ndarray], results: Sequence[tuple[np.ndarray | None, str, str]], *,
                height: int = 128, width: int = 64, cell_width: int = 96) -> np.ndarray:
    """One row: query frames (captioned ``query``), a gap, then one cell per result.

    Args:
        query_frames: RGB uint8 (H, W, 3) key frames of the query.
        results: per gallery result, in rank order: its first frame (RGB, or None when it could
            not be read: a grey cell), and two caption lines (e.g. ``#1 0.123`` and the name).
        height, width: size each frame is resized to; ``cell_width`` >= ``width`` leaves room for
            the captions.

    Returns:
        (height + 30, cells * cell_width + gap, 3) uint8 BGR image (for cv2.imencode).
    """
    cells = [(f, "query", "") for f in query_frames] + list(results)
    out = np.full((height + 30, len(cells) * cell_width + _GAP, 3), 255, np.uint8)
    for i, (frame, line1, line2) in enumerate(cells):
        x0 = i * cell_width + (_GAP if i >= len(query_frames) else 0)
        x = x0 + (cell_width - width) // 2
        if frame is None:
            out[:height, x:x + width] = 160
            cv2.putText(out, "missing", (x + 2, height // 2), _FONT, _SCALE, (0, 0, 0), 1, cv2.LINE_AA)
        else:
            out[:height, x:x + width] = cv2.resize(frame, (width, height))[:, :, ::-1]
        for row, text in enumerate((line1, line2)):
            cv2.putText(out, _fit(text, cell_width - 4), (x0 + 2, height + 12 + 12 * row), _FONT, _SCALE,
                        (0, 0, 0), 1, cv2.LINE_AA)
    if query_frames:
        x = len(query_frames) * cell_width + _GAP // 2
        out[:, x - 1:x + 1] = (0, 0, 200)
    return out
