"""Tracking with and without re-ID linking on synthetic multi-camera footage (reid/studies/footage_bench.py).

    OMP_NUM_THREADS=1 osmcaa-reid bench footage --work outputs/bench_footage --seeds 0 1 2 \\
        [--iterations 300] [--hog-frames 100] [--width 768 --height 576 --train-frames 600 --test-frames 600]

Per seed: render the footage (kept in --work and reused), track the test part (simulated detector
+ ByteTrack), link its tracks with an untrained and a trained model (thresholds calibrated on the
training part), and print a markdown table of detection recall/precision, IDF1, HOTA, MOTA, ID
switches and frames per second of each stage; the last lines are means over the seeds.
"""

import argparse
import logging
import sys
from pathlib import Path

import torch

from reid.data.synthetic.footage import FootageConfig
from reid.errors import ReIDError
from reid.studies.footage_bench import bench_seed, format_table


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="folder for the footage, tracks, crops and models")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=300, help="training iterations of the trained model")
    parser.add_argument("--hog-frames", type=int, default=0, help="also run HOG on this many test frames per camera")
    parser.add_argument("--no-rerank", action="store_true", help="skip the re-ranked linking stage")
    parser.add_argument("--unlabelled", metavar="KEY=VALUE", nargs="+", default=[],
                        help="config overrides of the model trained without labels (e.g. cluster.trim_switches=true); "
                             "it trains in a folder of its own under --work")
    for name in ("width", "height", "train_frames", "test_frames", "train_people", "test_people"):
        parser.add_argument("--" + name.replace("_", "-"), type=int, default=getattr(FootageConfig, name))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    footage = FootageConfig(width=args.width, height=args.height, train_frames=args.train_frames,
                            test_frames=args.test_frames, train_people=args.train_people, test_people=args.test_people)
    rows = []
    try:
        for seed in args.seeds:
            rows += bench_seed(Path(args.work), seed, footage, iterations=args.iterations,
                               rerank=not args.no_rerank, hog_frames=args.hog_frames if seed == args.seeds[0] else 0,
                               unlabelled=args.unlabelled)
            print(format_table([r for r in rows if r.seed == seed]), flush=True)
    except ReIDError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(format_table(rows))
    return 0

