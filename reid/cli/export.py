"""Export a trained model to ONNX: clips (B, T, 3, H, W) -> embedding (B, D), B and T dynamic;
with --image, crops (N, 3, H, W) -> L2-normalised embedding (N, D) for trackers (BoxMOT).

    osmcaa-reid export --checkpoint outputs/run/model.pt [--out model.onnx] [--opset 18] [--no-check]
    osmcaa-reid export --checkpoint outputs/run/model.pt --image   # -> outputs/run/resnet50_mars.onnx

The model (and eval.feature) come from the checkpoint's saved config; H x W is its data.height x
data.width. The clip file goes to --out, else beside the checkpoint with the suffix .onnx
(model.pt -> model.onnx); the image file to --out, else beside the checkpoint as
<backbone>_<dataset>.onnx, the name BoxMOT reads the architecture from (docs/tracker_export.md).
--check (the default) compares onnxruntime with PyTorch on random inputs and fails when they
differ by more than --tolerance times the embedding scale; a file that fails is removed.
"""

import argparse
import logging
from pathlib import Path

from reid.engine.export import DEFAULT_OPSET, check_onnx, enforce_tolerance, export_onnx
from reid.engine.export_image import check_image_onnx, default_image_name, export_image_onnx
from reid.pipeline.builders import load_trained_model
from reid.cli.common import base_parser, parse_for_checkpoint


def main(argv=None):
    parser = base_parser(__doc__)
    parser.add_argument("--checkpoint", required=True, help="model.pt, best.pt or a checkpoint of a run")
    parser.add_argument("--image", action="store_true", help="export the image model for trackers (N, 3, H, W)")
    parser.add_argument("--out", help="ONNX file to write (default: beside the checkpoint, see above)")
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                        help="compare onnxruntime with PyTorch after the export (default: on)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest max-abs difference allowed, relative to the embedding scale")
    args, cfg = parse_for_checkpoint(parser, argv, kind="export")
    if "{split}" in args.checkpoint:
        parser.error("--checkpoint: export one checkpoint at a time (no {split})")
    checkpoint, (backbone, height, width) = Path(args.checkpoint), (cfg.model.backbone, cfg.data.height, cfg.data.width)
    default = checkpoint.parent / default_image_name(backbone, cfg.data.name) if args.image else None
    out = Path(args.out) if args.out else default or checkpoint.with_suffix(".onnx")
    if out.resolve() == checkpoint.resolve():
        parser.error(f"--out {out} is the checkpoint itself")
    model = load_trained_model(cfg, checkpoint)
    extra = {"checkpoint": checkpoint.name, "metric": cfg.eval.metric, "dataset": cfg.data.name}
    if args.image:
        if cfg.data.resize:
            logging.getLogger("export").warning(
                "data.resize=%d: this model's test transform cuts a centre window out of the resized crop; "
                "BoxMOT resizes the whole crop to %dx%d, so its embeddings will differ from this model's",
                cfg.data.resize, width, height)
        meta = export_image_onnx(model, out, backbone=backbone, height=height, width=width, feature=cfg.eval.feature,
                                 resize=cfg.data.resize, opset=args.opset, extra_metadata=extra)
        shape = f"(N, {meta['embed_dim']}) L2-normalised from images (N, 3, {height}, {width})"
    else:
        meta = export_onnx(model, out, backbone=backbone, height=height, width=width, feature=cfg.eval.feature,
                           opset=args.opset, extra_metadata=extra)
        shape = f"{meta['pooling']} pooling, (B, {meta['embed_dim']}) from clips (B, T, 3, {height}, {width})"
    print(f"exported {out}: {meta['backbone']}, {meta['feature']} {shape}, opset {args.opset}")
    if not args.check:
        return
    result = check_image_onnx(model, out) if args.image else check_onnx(model, out)
    shapes = ", ".join(f"{b}x{t}" for b, t in result.shapes)
    print(f"onnxruntime vs PyTorch ({'N x T' if args.image else 'B x T'} = {shapes}): max abs difference "
          f"{result.max_abs_diff:.3g} (embedding scale {result.scale:.3g}, relative {result.relative:.3g})")
    enforce_tolerance(result, out, args.tolerance)
