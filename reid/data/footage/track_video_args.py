"""Command-line options of the video -> tracklets command, for ``data_prep/track_video.py`` and any
program that wants the same options (``add_arguments`` on its own parser, then ``run``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from reid.data.footage.detection import Detector, build_detector
from reid.data.footage.track_video import SPLITS, TrackSummary, VideoJob, track_videos
from reid.errors import ReIDError


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the options of ``track_videos`` to ``parser``; returns it."""
    parser.add_argument("--video", action="append", required=True, type=Path,
                        help="a video file (anything OpenCV decodes); repeat for several cameras")
    parser.add_argument("--camid", action="append", required=True, type=int,
                        help="0-based camera id of each --video, in the same order")
    parser.add_argument("--out", required=True, type=Path,
                        help="dataset root (new, or written by this command before: cameras are added)")
    parser.add_argument("--split", action="append", choices=SPLITS,
                        help="split of the tracklets: once for every video, or once per video (default train)")
    source = parser.add_argument_group("person boxes (default: OpenCV's HOG people detector, no weights)")
    source.add_argument("--detections", action="append", type=Path,
                        help="MOT detections file (frame,id,x,y,w,h,conf,...) of each --video, in the same order")
    source.add_argument("--detector", help="'hog', a YOLO .onnx model (YOLOv8/11 or YOLOv5 export), or a "
                                           "weights file of an installed library (ultralytics .pt)")
    source.add_argument("--conf", type=float, default=0.25, help="YOLO: minimum person score (default 0.25)")
    source.add_argument("--iou", type=float, default=0.7, help="YOLO: NMS IoU threshold (default 0.7)")
    source.add_argument("--hog-min-height", type=float, default=128.0,
                        help="HOG: shortest person box to find, in pixels; the frame is resized by 128 / this "
                             "(below 128 upscales: slower; above downscales: faster). Default 128")
    source.add_argument("--hog-scale-step", type=float, default=1.1,
                        help="HOG: ratio between pyramid levels (OpenCV's sample: 1.05, slower). Default 1.1")
    source.add_argument("--hog-stride", type=int, default=8, help="HOG: window step in pixels (default 8)")
    source.add_argument("--hog-threshold", type=float, default=0.0, help="HOG: SVM margin of a hit (default 0)")
    parser.add_argument("--min-length", type=int, default=8,
                        help="drop (and count) tracks with fewer crops (default 8)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def build_parser(description: str = "Detect, track and crop people in videos into a tracklet dataset.",
                 ) -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(description=description))


def _per_video(values: list | None, name: str, count: int, default: object = None) -> list:
    if not values:
        return [default] * count
    if len(values) == 1 and name == "--split":
        return values * count
    if len(values) != count:
        raise ReIDError(f"{name} given {len(values)} times for {count} --video; expected one per video")
    return values


def jobs_from_args(args: argparse.Namespace) -> list[VideoJob]:
    """One VideoJob per ``--video``, with its ``--camid``, ``--split`` and ``--detections``."""
    count = len(args.video)
    camids = _per_video(args.camid, "--camid", count)
    splits = _per_video(args.split, "--split", count, "train")
    detections = _per_video(args.detections, "--detections", count)
    return [VideoJob(v, c, s, d) for v, c, s, d in zip(args.video, camids, splits, detections)]


def detector_from_args(args: argparse.Namespace) -> Detector | None:
    """The detector ``--detector`` names (HOG by default); None when every video has ``--detections``."""
    if args.detections and args.detector:
        raise ReIDError("give --detections or --detector, not both")
    if args.detections:
        return None
    return build_detector(args.detector or "hog", conf=args.conf, iou=args.iou, hog_min_height=args.hog_min_height,
                          hog_scale_step=args.hog_scale_step, hog_stride=args.hog_stride,
                          hog_threshold=args.hog_threshold)


def run(args: argparse.Namespace) -> TrackSummary:
    """Build the jobs and the detector from parsed arguments and call ``track_videos``."""
    jobs = jobs_from_args(args)
    return track_videos(jobs, args.out, detector=detector_from_args(args), min_length=args.min_length,
                        progress=False if args.no_progress else None)
