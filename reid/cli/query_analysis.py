"""Per-query failure analysis on a synthetic MARS-layout test set: which queries a model gets wrong
at rank 1 and what they have in common (a near twin in the gallery, occluded, blurred or truncated
frames, the camera), optionally beside a second ranking of the same queries.

python tools/query_analysis.py --root data/hard3 --checkpoint outputs/run/model.pt \\
    [--against outputs/peer/torchreid/seed0/distmat.npz | --against other_run/model.pt] [--out DIR]

--against takes distances (a (queries x gallery) .npy, or the .npz that tools/peer/torchreid_video.py
--save-distmat writes) or a second checkpoint, embedded as its own saved config says (with the same
overrides). Writes queries.csv (one row per query) and queries.md (rank-1 and mAP per category and
per camera, each category's share of the rank-1 failures, and rank-1 of both rankings per category)
to --out, else to a new queries-<time>/ folder beside the checkpoint. Without the generator's
twins.csv or outliers.csv (real MARS, or a preset without near twins) those categories are left
out with a note. The model is built as the checkpoint's saved config says; --config and overrides
choose the test settings (data.height, eval.metric, ...). docs/query_analysis.md.
"""

from pathlib import Path

from reid.cli.common import base_parser, parse_for_checkpoint
from reid.config import apply_overrides, config_from_dict, drop_unknown_keys
from reid.data import load_dataset
from reid.engine.checkpoint import load_checkpoint
from reid.errors import ConfigError
from reid.pipeline.config_checks import check_config
from reid.studies.query_analysis import analyse_queries, breakdown, read_side_files
from reid.studies.query_distances import DISTANCE_SUFFIXES, checkpoint_distances, load_distances
from reid.studies.query_report import write_query_report


def _own_config(checkpoint: str, overrides: list[str]):
    """The config saved in ``checkpoint``, with ``overrides`` applied."""
    saved = load_checkpoint(checkpoint).get("config")
    if not isinstance(saved, dict):
        raise ConfigError(f"--against {checkpoint} holds no saved config, so its model cannot be rebuilt; "
                          "pass its distances (.npy or .npz) instead")
    return check_config(config_from_dict(apply_overrides(drop_unknown_keys(saved), overrides)))


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--root", required=True, help="the dataset: the mars folder or its parent")
    parser.add_argument("--checkpoint", required=True, help="model.pt (or checkpoint.pt) of a training run")
    parser.add_argument("--against", help="distances (.npy, .npz) or a second checkpoint to compare with")
    parser.add_argument("--label", default="this project", help="name of the --checkpoint ranking in queries.md")
    parser.add_argument("--against-label", help="name of the --against ranking (default: peer for distances, "
                        "other run for a checkpoint)")
    parser.add_argument("--out", help="output folder (default: queries-<time>/ beside the checkpoint)")
    args, cfg = parse_for_checkpoint(parser, argv, kind="queries")
    dataset = load_dataset("mars", args.root)
    side = read_side_files(args.root)
    rows = analyse_queries(checkpoint_distances(cfg, args.checkpoint, dataset.query, dataset.gallery),
                           dataset.query, dataset.gallery, side)
    against, against_label = None, ""
    if args.against:
        if Path(args.against).suffix in DISTANCE_SUFFIXES:
            dist = load_distances(args.against, dataset.query, dataset.gallery)
            against_label = args.against_label or "peer"
        else:
            dist = checkpoint_distances(_own_config(args.against, args.overrides), args.against,
                                        dataset.query, dataset.gallery)
            against_label = args.against_label or "other run"
        against = analyse_queries(dist, dataset.query, dataset.gallery, side)
    csv_path, md_path = write_query_report(cfg.output_dir, rows, side, label=args.label, source=args.checkpoint,
                                           against=against, against_label=against_label,
                                           against_source=args.against or "")
    for note in side.notes:
        print(f"note: {note}")
    for name, ranking in ((args.label, rows), (against_label, against)):
        if ranking is not None:
            total = breakdown(ranking, ())[0]
            print(f"{name}: rank-1 {100 * total.rank1:.1f}  mAP {100 * total.mAP:.1f}  "
                  f"({total.failures} rank-1 failures of {total.queries} queries)")
    print(f"wrote {csv_path} and {md_path}")
