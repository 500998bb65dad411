"""Export a trained model to ONNX: clips (B, T, 3, H, W) -> embedding (B, D), B and T dynamic.

    python tools/export.py --checkpoint outputs/run/model.pt [--out model.onnx] [--opset 18] [--no-check]

The model (and eval.feature) come from the checkpoint's saved config; H x W is its data.height x
data.width. The file goes to --out, else beside the checkpoint with the suffix .onnx
(model.pt -> model.onnx). --check (the default) compares onnxruntime with PyTorch on random clips
at two batch sizes and two frame counts and fails when they differ by more than --tolerance
times the embedding scale; a file that fails is removed.
"""

import argparse
from pathlib import Path

from reid.cli.common import base_parser, parse_for_checkpoint
from reid.engine.export import DEFAULT_OPSET, ExportError, check_onnx, export_onnx
from reid.pipeline.builders import load_trained_model


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--checkpoint", required=True, help="model.pt, best.pt or a checkpoint of a run")
    parser.add_argument("--out", help="ONNX file to write (default: the checkpoint's path with suffix .onnx)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                        help="compare onnxruntime with PyTorch after the export (default: on)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest max-abs difference allowed, relative to the embedding scale")
    args, cfg = parse_for_checkpoint(parser, argv, kind="export")
    if "{split}" in args.checkpoint:
        parser.error("--checkpoint: export one checkpoint at a time (no {split})")
    out = Path(args.out) if args.out else Path(args.checkpoint).with_suffix(".onnx")
    if out.resolve() == Path(args.checkpoint).resolve():
        parser.error(f"--out {out} is the checkpoint itself")
    model = load_trained_model(cfg, args.checkpoint)
    meta = export_onnx(model, out, backbone=cfg.model.backbone, height=cfg.data.height, width=cfg.data.width,
                       feature=cfg.eval.feature, opset=args.opset,
                       extra_metadata={"checkpoint": Path(args.checkpoint).name, "metric": cfg.eval.metric})
    print(f"exported {out}: {meta['backbone']}, {meta['pooling']} pooling, {meta['feature']} "
          f"(B, {meta['embed_dim']}) from clips (B, T, 3, {meta['height']}, {meta['width']}), opset {args.opset}")
    if not args.check:
        return
    result = check_onnx(model, out)
    shapes = ", ".join(f"{b}x{t}" for b, t in result.shapes)
    print(f"onnxruntime vs PyTorch (B x T = {shapes}): max abs difference {result.max_abs_diff:.3g} "
          f"(embedding scale {result.scale:.3g}, relative {result.relative:.3g})")
    if not result.relative <= args.tolerance:
        out.unlink(missing_ok=True)
        raise ExportError(f"{out} differs from PyTorch by {result.max_abs_diff:.3g} ({result.relative:.3g} of the "
                          f"embedding scale, tolerance {args.tolerance:g}); removed it (--no-check keeps it)")
