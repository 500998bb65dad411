"""Link the tracks of one person across gaps, occlusions, exits and cameras with a re-ID model.

    osmcaa-reid link --video cam0.avi --tracks cam0.txt [--video cam1.avi --tracks cam1.txt ...] \\
        --checkpoint outputs/run/checkpoint.pt --out linked/ [--threshold 1.1] [--rerank] [data.test_max_frames=16]

Each ``--video`` goes with the ``--tracks`` (MOT file) at the same position; camera k is the k-th
pair. Writes ``<out>/cam<k>.txt``: the same rows with ids replaced by global person ids (the same
person has one id in every camera). Tracks of one camera that overlap in time are never linked.
The threshold applies to Euclidean distances of L2-normalised embeddings (re-ranked ones with
--rerank); reid/tracking/linking.py says how to choose it. The model is built as the checkpoint's
config says; overrides change data and eval settings (frame size, frames per track, batch size).
"""

from pathlib import Path

from reid.errors import ConfigError
from reid.pipeline.builders import load_trained_model, resolve_device
from reid.cli.common import base_parser, parse_for_checkpoint
from reid.tracking.linking import DEFAULT_THRESHOLD
from reid.tracking.videos import link_videos


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--video", action="append", required=True, help="a camera's video (repeat per camera)")
    parser.add_argument("--tracks", action="append", required=True, help="its MOT tracks file (same order)")
    parser.add_argument("--checkpoint", required=True, help="trained re-ID checkpoint (checkpoint.pt or model.pt)")
    parser.add_argument("--out", required=True, help="folder for the linked MOT files cam<k>.txt")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                        help=f"link while the mean distance is below this (default {DEFAULT_THRESHOLD})")
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
                         rerank=args.rerank, height=d.height, width=d.width, seq_len=d.test_seq_len,
                         max_frames=d.test_max_frames, batch_size=cfg.eval.batch_size,
                         device=resolve_device(cfg.device), resize=d.resize)
    print(f"linked {len(result.spans)} tracks into {len(set(result.labels.tolist()))} identities: "
          + ", ".join(str(p) for p in outs))

