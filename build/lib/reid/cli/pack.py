"""Pack each tracklet's frames into one video file that decord reads, plus the tracklet index.

Usage: python data_prep/pack_videos.py NAME ROOT OUT [--codec hfyu|png|mjpg] [--split-ids 0 1 ...]
Then: load_dataset(NAME, OUT, packed=True). The report (codec, max pixel error, sizes) is OUT/packed.json.
"""

from __future__ import annotations

import argparse
import logging
import sys

from reid.data import DATASETS
from reid.data.storage.packing import CODECS, pack_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(DATASETS))
    parser.add_argument("root", help="the dataset folder or its parent")
    parser.add_argument("out", help="output folder (packed.json, index_split*.csv, videos/)")
    parser.add_argument("--codec", choices=sorted(CODECS), default="hfyu")
    parser.add_argument("--split-ids", type=int, nargs="+", default=[0], help="e.g. 0 1 2 ... 9 for iLIDS-VID")
    parser.add_argument("--workers", type=int, default=1, help="packing processes")
    parser.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                        help="resize every frame (needed when frame sizes vary, e.g. DukeMTMC-VideoReID)")
    parser.add_argument("--no-verify", action="store_true", help="skip decoding each video back (no max error)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = pack_dataset(args.name, args.root, args.out, split_ids=tuple(args.split_ids), codec=args.codec,
                          workers=args.workers, verify=not args.no_verify,
                          size=tuple(args.size) if args.size else None)
    sys.stdout.write(f"packed {report['videos']} tracklets, {report['frames']} frames, codec {report['codec']}, "
                     f"max pixel error {report['max_pixel_error']}, {report['bytes'] / 1e6:.1f} MB "
                     f"(source {report['source_bytes'] / 1e6:.1f} MB)\n")
    return 0
