"""Cropping person tracklets out of a video with a MOT-challenge tracks file (own footage).

Tracks file: one box per line, ``frame, id, x, y, w, h, conf, ...`` comma separated, frames
1-based, ``x, y`` the top-left corner in pixels (0-based, as trackers such as ByteTrack or
DeepSORT write them). The video is read once, sequentially. Each kept box is clipped to the
frame and written to ``out/<split>/<pid>/<camid>_<track>/<frame>.jpg`` with ``pid = track id +
pid_offset`` -- the layout ``load_dataset("folder", out)`` reads (docs/own_footage.md).
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from reid.errors import DatasetError

logger = logging.getLogger(__name__)

Box = tuple[int, float, float, float, float]  # track id, x, y, w, h
Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, end exclusive


@dataclass
class CropSummary:
    """What ``crop_tracklets`` wrote and what it left out (reason -> count)."""

    out_dir: Path
    tracks_written: int = 0
    frames_written: int = 0
    frames_read: int = 0
    skipped: dict[str, int] = field(default_factory=dict)

    def text(self) -> str:
        lines = [
            f"wrote {self.tracks_written} tracklets, {self.frames_written} crops to {self.out_dir}",
            f"  video frames read: {self.frames_read}",
        ]
        lines += [f"  skipped {reason}: {count}" for reason, count in sorted(self.skipped.items())]
        return "\n".join(lines)


def _number(text: str, path: Path, line_no: int, what: str) -> float:
    try:
        value = float(text)
        if not math.isfinite(value):
            raise ValueError(text)
        return value
    except ValueError:
        raise DatasetError(
            f"{path}:{line_no}: {what} {text!r} is not a number; expected 'frame,id,x,y,w,h,...'"
        ) from None


def read_mot_tracks(path: str | os.PathLike, skipped: Counter) -> dict[int, list[Box]]:
    """Read a MOT-challenge tracks file into frame (1-based) -> boxes.

    Boxes with a negative id (detections, not tracks) and repeated (frame, id) pairs are left
    out and counted in ``skipped``.

    Raises:
        DatasetError: missing file, a line with fewer than 6 fields, a non-number, a frame < 1
            or a non-integer frame/id.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"tracks file {path} not found")
    by_frame: dict[int, list[Box]] = defaultdict(list)
    seen: set[tuple[int, int]] = set()
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 6:
            raise DatasetError(
                f"{path}:{line_no}: {len(fields)} comma-separated fields; expected 'frame,id,x,y,w,h,...'"
            )
        names = ("frame", "id", "x", "y", "w", "h")
        frame, track, x, y, w, h = (_number(f, path, line_no, n) for f, n in zip(fields, names))
        if frame != int(frame) or track != int(track) or frame < 1:
            raise DatasetError(f"{path}:{line_no}: frame {fields[0]} / id {fields[1]}; expected integers, frame >= 1")
        if track < 0:
            skipped["boxes without track id"] += 1
            continue
        if (int(frame), int(track)) in seen:
            skipped["duplicate boxes"] += 1
            continue
        seen.add((int(frame), int(track)))
        by_frame[int(frame)].append((int(track), x, y, w, h))
    return dict(by_frame)


def clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> Rect | None:
    """Pixel rectangle (x1, y1, x2, y2), end exclusive, clipped to a width x height frame; None if empty."""
    x1, y1 = max(0, round(x)), max(0, round(y))
    x2, y2 = min(width, round(x + w)), min(height, round(y + h))
    if x2 <= x1 or y2 <= y1:
        return None
    return x1, y1, x2, y2


def _plan(
    tracks: dict[int, list[Box]], width: int, height: int, min_length: int, skipped: Counter
) -> dict[int, list[tuple[int, Rect]]]:
    """Frame -> [(track, rect)] for tracks with at least ``min_length`` boxes inside the frame."""
    rects: dict[int, list[tuple[int, Rect]]] = defaultdict(list)
    length: Counter = Counter()
    for frame, boxes in tracks.items():
        for track, x, y, w, h in boxes:
            rect = clip_box(x, y, w, h, width, height)
            if rect is None:
                skipped["boxes outside the frame or empty"] += 1
                continue
            rects[frame].append((track, rect))
            length[track] += 1
    short = {t for t, n in length.items() if n < min_length}
    if short:
        skipped["tracks shorter than min length"] += len(short)
    plan = {f: [(t, r) for t, r in items if t not in short] for f, items in rects.items()}
    return {f: items for f, items in plan.items() if items}


def _tracklet_folders(
    plan: dict[int, list[tuple[int, Rect]]], split_dir: Path, camid: int, pid_offset: int
) -> dict[int, Path]:
    """Track id -> ``split_dir/<pid>/<camid>_<track>``; refuses negative pids and existing folders."""
    folders = {}
    for track in sorted({t for items in plan.values() for t, _ in items}):
        if track + pid_offset < 0:
            raise DatasetError(f"track {track} + pid_offset {pid_offset} is a negative pid; expected pids >= 0")
        folder = split_dir / str(track + pid_offset) / f"{camid}_{track:04d}"
        if folder.exists():
            raise DatasetError(f"{folder} already exists; use another --out or a --pid-offset past the pids there")
        folders[track] = folder
    return folders


def crop_tracklets(
    video: str | os.PathLike,
    tracks: str | os.PathLike,
    camid: int,
    out: str | os.PathLike,
    *,
    min_length: int = 8,
    split: str = "train",
    pid_offset: int = 0,
) -> CropSummary:
    """Crop every track of ``tracks`` out of ``video`` into the own-footage layout.

    Args:
        video: any file cv2.VideoCapture reads.
        tracks: MOT-challenge tracks file of that video.
        camid: 0-based camera id of the video.
        out: dataset root to write into.
        min_length: tracks with fewer crops inside the frame are dropped (and counted).
        split: ``train``, ``query`` or ``gallery``.
        pid_offset: added to track ids, so several videos can share one root.

    Returns:
        A CropSummary; ``summary.text()`` is a readable report.

    Raises:
        DatasetError: unreadable video or tracks file, bad arguments, or a tracklet folder that
            already exists (nothing is overwritten).
    """
    if split not in ("train", "query", "gallery"):
        raise DatasetError(f"split {split!r} is not one of train, query, gallery")
    if camid < 0 or min_length < 1:
        raise DatasetError(f"camid={camid}, min_length={min_length}; expected camid >= 0, min_length >= 1")
    skipped: Counter = Counter()
    boxes = read_mot_tracks(tracks, skipped)
    capture = cv2.VideoCapture(str(video))
    try:
        ok, image = capture.read() if capture.isOpened() else (False, None)
        if not ok:
            raise DatasetError(f"cannot read video {video}: missing, empty or not a video OpenCV can decode")
        plan = _plan(boxes, image.shape[1], image.shape[0], min_length, skipped)
        folders = _tracklet_folders(plan, Path(out) / split, camid, pid_offset)
        summary = CropSummary(out_dir=Path(out))
        written: Counter = Counter()
        last, frame_no = max(plan, default=0), 1
        while ok and frame_no <= last:  # one sequential pass, no seeking
            summary.frames_read += 1
            for track, (x1, y1, x2, y2) in plan.get(frame_no, []):
                path = folders[track] / f"{frame_no:06d}.jpg"
                path.parent.mkdir(parents=True, exist_ok=True)
                if not cv2.imwrite(str(path), image[y1:y2, x1:x2]):
                    raise OSError(f"cannot write crop {path}")
                written[track] += 1
            frame_no += 1
            ok, image = capture.read()
    finally:
        capture.release()
    missing = sum(len(items) for f, items in plan.items() if f >= frame_no)
    if missing:
        skipped["boxes after the end of the video"] += missing
    for track, folder in folders.items():  # tracks cut short by the end of the video
        if written[track] < min_length:
            if folder.exists():
                shutil.rmtree(folder)
                if not any(folder.parent.iterdir()):
                    folder.parent.rmdir()
            skipped["tracks shorter than min length"] += 1
        else:
            summary.tracks_written += 1
            summary.frames_written += written[track]
    summary.skipped = dict(skipped)
    for line in summary.text().splitlines():
        logger.info(line)
    return summary
