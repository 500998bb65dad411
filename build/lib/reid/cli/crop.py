"""Crop person tracklets from a video and a MOT-challenge tracks file into the own-footage layout.

Usage: python data_prep/crop_tracklets.py --video V --tracks T --camid C --out ROOT
           [--min-length 8] [--split train|query|gallery] [--pid-offset 0]
Then: load_dataset("folder", ROOT). See docs/own_footage.md.
"""

from __future__ import annotations

import argparse
import logging

from reid.data.footage.crop import crop_tracklets
from reid.errors import ReIDError


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", required=True, help="video file (anything OpenCV reads)")
    parser.add_argument("--tracks", required=True, help="MOT tracks file: frame,id,x,y,w,h,conf,... (1-based frames)")
    parser.add_argument("--camid", type=int, required=True, help="0-based camera id of this video")
    parser.add_argument("--out", required=True, help="dataset root to write into")
    parser.add_argument("--min-length", type=int, default=8, help="drop tracks with fewer crops (default 8)")
    parser.add_argument("--split", choices=("train", "query", "gallery"), default="train")
    parser.add_argument("--pid-offset", type=int, default=0, help="added to track ids to make pids")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        summary = crop_tracklets(args.video, args.tracks, args.camid, args.out, min_length=args.min_length,
                                 split=args.split, pid_offset=args.pid_offset)
    except ReIDError as exc:
        raise SystemExit(f"error: {exc}") from exc
    print(summary.text())
