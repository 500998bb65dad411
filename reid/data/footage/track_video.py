"""From a user's raw videos to a tracklet dataset: decode, detect people, track, crop.

Per video (one camera each): every frame is decoded once, its person boxes come from a detector or
a detections file, ByteTrack links them into tracks, the tracks are written as
``ROOT/tracks_cam<C>.txt`` (MOTChallenge; a file, since ``load_dataset("folder")`` refuses other
folders beside the splits) and cut into ``ROOT/<split>/<pid>/<C>_<track>/`` by
``crop_tracklets`` (docs/own_footage.md). Each video's pids start past the pids used before (a
multiple of 1000), so one root holds several cameras without merging their track ids.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from reid.data.footage.crop import CropSummary, crop_tracklets
from reid.data.footage.detection import Detector, build_detector
from reid.data.footage.detections_file import DetectionFile, read_mot_detections
from reid.data.footage.staging import Staging, check_new_camera, next_pid_offset, read_manifest
from reid.data.footage.tracking import PersonTracker, write_mot
from reid.data.footage.video import VideoReader, VideoSource, source_of
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

SPLITS = ("train", "query", "gallery")
SHORT = "tracks shorter than min length"


def tracks_name(camid: int) -> str:
    """File name, under the dataset root, of the MOT tracks of camera ``camid``."""
    return f"tracks_cam{camid}.txt"


@dataclass
class VideoJob:
    """One video to track: its 0-based camera id, the split its tracklets go to, and optionally
    a MOT detections file to use instead of the detector."""

    video: Path
    camid: int
    split: str = "train"
    detections: Path | None = None


@dataclass
class VideoResult:
    """What ``track_videos`` made of one video."""

    job: VideoJob
    source: VideoSource
    detector: str
    seconds: float
    boxes: int
    tracks: int
    max_track: int
    pid_offset: int
    min_length: int
    crop: CropSummary

    def lines(self, root: Path) -> list[str]:
        fps = self.source.frames / max(self.seconds, 1e-9)
        lines = [
            f"camera {self.job.camid}: {self.job.video} -> {root / self.job.split} (pids from {self.pid_offset + 1})",
            f"  {self.source.frames} frames in {self.seconds:.1f} s ({fps:.1f} frames/s), {self.detector}: "
            f"{self.boxes} boxes, {self.tracks} tracks -> {root / tracks_name(self.job.camid)}",
            f"  wrote {self.crop.tracks_written} tracklets, {self.crop.frames_written} crops",
            f"  dropped tracks shorter than {self.min_length} crops: {self.crop.skipped.get(SHORT, 0)}",
        ]
        return lines + [f"  skipped {reason}: {n}" for reason, n in sorted(self.crop.skipped.items()) if reason != SHORT]

    def record(self, root: Path) -> dict:
        """This camera's entry in ``ROOT/footage.json``."""
        return {"camid": self.job.camid, "video": asdict(self.source), "path": str(Path(self.job.video).absolute()),
                "split": self.job.split, "detector": self.detector, "tracks_file": tracks_name(self.job.camid),
                "pid_offset": self.pid_offset, "max_pid": self.pid_offset + self.max_track,
                "tracklets": self.crop.tracks_written, "crops": self.crop.frames_written, "min_length": self.min_length}


@dataclass
class TrackSummary:
    """Every video of one ``track_videos`` call; ``text()`` is the report the command prints."""

    root: Path
    videos: list[VideoResult]

    def text(self) -> str:
        lines = [line for result in self.videos for line in result.lines(self.root)]
        tracklets = sum(r.crop.tracks_written for r in self.videos)
        crops = sum(r.crop.frames_written for r in self.videos)
        videos = f"{len(self.videos)} video" + ("s" if len(self.videos) != 1 else "")
        return "\n".join(lines + [f"{self.root}: {videos}, {tracklets} tracklets, {crops} crops"])


def _check_jobs(jobs: Sequence[VideoJob], min_length: int) -> None:
    if not jobs:
        raise DatasetError("no video given; expected at least one --video with its --camid")
    camids = [job.camid for job in jobs]
    for job in jobs:
        if job.camid < 0 or camids.count(job.camid) > 1:
            raise DatasetError(f"camera id {job.camid} of {job.video}: expected a 0-based id, one per video")
        if job.split not in SPLITS:
            raise DatasetError(f"split {job.split!r} of {job.video} is not one of {', '.join(SPLITS)}")
    if min_length < 1:
        raise DatasetError(f"min_length={min_length}; expected >= 1")


def _track_one(job: VideoJob, detections: DetectionFile | None, detector: Detector | None, stage: Path,
               *, min_length: int, pid_offset: int, progress: bool | None) -> VideoResult:
    reader = VideoReader(job.video)
    tracker = PersonTracker(reader.fps)
    boxes, start = 0, time.perf_counter()
    frames = tqdm(reader, total=reader.announced or None, unit="frame", desc=f"camera {job.camid}",
                  disable=None if progress is None else not progress, leave=False)
    for frame_no, image in frames:
        found = detections.detections(frame_no, reader.width, reader.height) if detections else detector(image)
        boxes += len(found)
        tracker.update(frame_no, found)
    seconds = time.perf_counter() - start
    if detections is not None:
        detections.check_frames(reader.frames, job.video)
    tracks_file = stage / tracks_name(job.camid)
    write_mot(tracks_file, tracker.rows)
    crop = crop_tracklets(job.video, tracks_file, job.camid, stage, min_length=min_length, split=job.split,
                          pid_offset=pid_offset)
    name = f"detections file {detections.path.name}" if detections else detector.name
    ids = tracker.track_ids()
    return VideoResult(job, reader.source(), name, seconds, boxes, len(ids), max(ids, default=0), pid_offset,
                       min_length, crop)


def track_videos(jobs: Sequence[VideoJob], out: str | os.PathLike, *, detector: Detector | None = None,
                 min_length: int = 8, progress: bool | None = None) -> TrackSummary:
    """Track people in each video and write the tracks and their crops under ``out``.

    Args:
        jobs: the videos, one camera each.
        out: dataset root (new, or written by an earlier call: cameras are added to it).
        detector: for the jobs without a detections file (default: OpenCV's HOG people detector).
        min_length: tracks with fewer crops are dropped, and counted.
        progress: show a tqdm bar per video (None: only on a terminal).

    Returns:
        A TrackSummary; ``.text()`` says what was written, dropped and skipped.

    Raises:
        DatasetError: a bad video, detections file or output folder; the message names it. Nothing
            is written into ``out`` then.
        DetectorError: a detector that cannot be built or run.
    """
    root = Path(out)
    _check_jobs(jobs, min_length)
    manifest = read_manifest(root)
    for job in jobs:
        check_new_camera(root, manifest, job.camid, Path(job.video), source_of(job.video))
    files = {job.camid: read_mot_detections(job.detections) for job in jobs if job.detections is not None}
    if detector is None and len(files) < len(jobs):
        detector = build_detector("hog")
    records, results = list(manifest.values()), []
    with Staging(root) as stage:
        for job in jobs:
            result = _track_one(job, files.get(job.camid), detector, stage.dir, min_length=min_length,
                                pid_offset=next_pid_offset(records), progress=progress)
            results.append(result)
            records.append(result.record(root))
        stage.commit(records)
    summary = TrackSummary(root, results)
    for line in summary.text().splitlines():
        logger.info(line)
    return summary
