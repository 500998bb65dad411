"""Rank training tracklets by CAA attention (lowest first): a CSV and a contact sheet (each suspect
beside typical tracklets of the identity it is filed under and of the identity it is nearest to).

python tools/suspects.py --checkpoint outputs/run/checkpoint.pt [--config C] [--top K] [--source S] [--out DIR]
--source training (default when the run used CAA): the mean attention the loss gave each tracklet
during training, recorded in the checkpoint; final: the final model's attention.
On synthetic data the precision of the list against the injected wrong labels is printed.
The model is built as the checkpoint's saved config says; outputs go to --out, else to a new
suspects-<time>/ folder beside the checkpoint.
"""

from pathlib import Path

from reid.cli.common import base_parser, parse_for_checkpoint
from reid.data.paths import resolve_dataset_dir
from reid.engine.checkpoint import CheckpointError, load_checkpoint
from reid.pipeline.builders import load_data, load_trained_model, resolve_device
from reid.pipeline.evaluation import embed
from reid.studies.suspects import (caa_enabled, contact_sheet, injected_wrong_labels, precision_at, rank_by_attention,
                                   rank_by_training_attention, training_attention, write_csv)

MAX_SHEET_ROWS = 100  # one row of 7 pictures per suspect


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--top", type=int, default=0, help="tracklets on the contact sheet "
                        "(default: the number of injected wrong labels, else 40)")
    parser.add_argument("--source", choices=("auto", "training", "final"), default="auto")
    parser.add_argument("--out", help="output folder (default: suspects-<time>/ beside the checkpoint)")
    args, cfg = parse_for_checkpoint(parser, argv, kind="suspects")
    device = resolve_device(cfg.device)
    dataset = load_data(cfg)
    state = load_checkpoint(args.checkpoint)
    recorded = training_attention(state)
    source = args.source
    if source == "auto":
        source = "training" if caa_enabled(cfg) and recorded is not None else "final"
    if source == "training" and recorded is None:
        raise CheckpointError(f"{args.checkpoint} has no recorded training attention; use --source final")
    model = load_trained_model(cfg, args.checkpoint).to(device)
    feats = embed(cfg, model, dataset.train, device)  # for --source final and the nearest identities
    if source == "training":
        rows = rank_by_training_attention(dataset.train, *recorded)
    else:
        rows = rank_by_attention(cfg, model, dataset.train, device, feats=feats)
    truth = None
    if cfg.data.name in ("synthetic", "mars"):
        truth = injected_wrong_labels(resolve_dataset_dir(cfg.data.root, "mars", "info"))
    k = args.top or (len(truth) if truth else 40)
    out = Path(cfg.output_dir)
    write_csv(out / "suspects.csv", rows, truth)
    shown = min(k, MAX_SHEET_ROWS)
    if shown < k:
        print(f"the contact sheet shows the lowest {shown} (of --top {k}); suspects.csv lists all")
    contact_sheet(out / "suspects.png", rows[:shown], dataset.train, truth, feats, metric=cfg.eval.metric)
    print(f"attention source: {source}")
    print(f"wrote {out / 'suspects.csv'} ({len(rows)} training tracklets) and {out / 'suspects.png'} (lowest {k})")
    if truth:
        print(f"precision of the lowest {k} against the {len(truth)} injected wrong labels: "
              f"{100 * precision_at(rows, truth, k):.1f}%")
