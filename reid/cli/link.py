"""Link the tracks of one person across gaps, occlusions, exits and cameras with a re-ID model.

    osmcaa-reid link --video cam0.avi --tracks cam0.txt [--video cam1.avi --tracks cam1.txt ...] \\
        --checkpoint outputs/run/checkpoint.pt --out linked/ [--threshold auto|X] [--rerank] [data.test_max_frames=16]

Each ``--video`` goes with the ``--tracks`` (MOT file) at the same position; camera k is the k-th
pair. Writes ``<out>/cam<k>.txt``: the same rows with ids replaced by global person ids (the same
person has one id in every camera). Tracks of one camera that overlap in time are never linked.
The threshold applies to Euclidean distances of L2-normalised embeddings (re-ranked ones with
--rerank); by default it is calibrated on the footage itself (reid/tracking/linking.py). The
model is built as the checkpoint's config says; overrides change data and eval settings (frame
size, frames per track, batch size).
"""

import argparse
from pathlib import Path

from reid.cli.common import base_parser, parse_for_checkpoint
from reid.errors import ConfigError
from reid.pipeline.builders import load_trained_model, resolve_device
from reid.tracking.linking import AUTO_QUANTILE
from reid.tracking.videos import link_videos


def _threshold(text: str) -> float | str:
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is neither a number nor 'auto'") from None


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--video", action="append", required=True, help="a camera's video (repeat per camera)")
    parser.add_argument("--tracks", action="append", required=True, help="its MOT tracks file (same order)")
    parser.add_argument("--checkpoint", required=True, help="trained re-ID checkpoint (checkpoint.pt or model.pt)")
    parser.add_argument("--out", required=True, help="folder for the linked MOT files cam<k>.txt")
    parser.add_argument("--threshold", type=_threshold, default="auto",
                        help="link while the mean distance is below this; 'auto' (the default) calibrates it on "
                             "the footage: the --quantile of the distances between tracks seen at the same time "
                             "in one camera (two people)")
    parser.add_argument("--quantile", type=float, default=AUTO_QUANTILE,
                        help=f"with --threshold auto: the quantile to link below (default {AUTO_QUANTILE})")
    parser.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking of the track distances")
    args, cfg = parse_for_checkpoint(parser, argv, kind="link")
    if len(args.video) != len(args.tracks):
        raise ConfigError(f"{len(args.video)} --video but {len(args.tracks)} --tracks; give one tracks file per video")
    for path in [*args.video, *args.tracks]:
        if not Path(path).is_file():
            raise ConfigError(f"{path} not found")
    model = load_trained_model(cfg, args.checkpoint)
    outs = [Path(args.out) / f"cam{k}.txt" for k in range(len(args.video))]
    d = cfg.data
    result = link_videos(model, list(zip(args.video, args.tracks)), outs, threshold=args.threshold,
                         quantile=args.quantile, rerank=args.rerank, height=d.height, width=d.width,
                         seq_len=d.test_seq_len, max_frames=d.test_max_frames, batch_size=cfg.eval.batch_size,
                         device=resolve_device(cfg.device), resize=d.resize)
    print(f"linked {len(result.spans)} tracks into {len(set(result.labels.tolist()))} identities "
          f"(threshold {result.threshold:.3f}{', calibrated on the footage' if args.threshold == 'auto' else ''}): "
          + ", ".join(str(p) for p in outs))

