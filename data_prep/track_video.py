"""Detect, track and crop the people of one or more videos into the own-footage tracklet layout.

Usage: python data_prep/track_video.py --video cam0.mp4 --camid 0 [--video cam1.mp4 --camid 1 ...]
           --out ROOT [--split train|query|gallery] [--detections det0.txt ... | --detector hog|M.onnx|W.pt]
           [--min-length 8]
Writes ROOT/tracks_cam<C>.txt (MOTChallenge), ROOT/<split>/<pid>/<C>_<track>/<frame>.jpg and
ROOT/footage.json. Then: load_dataset("folder", ROOT). See docs/own_footage.md.
"""

from __future__ import annotations

import logging

from reid.data.footage.track_video_args import build_parser, run
from reid.data.footage.video import quiet_decoder_logs
from reid.errors import ReIDError


def main(argv: list[str] | None = None) -> None:
    args = build_parser(__doc__.splitlines()[0]).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    quiet_decoder_logs()
    try:
        summary = run(args)
    except ReIDError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(summary.text())


if __name__ == "__main__":
    main()
