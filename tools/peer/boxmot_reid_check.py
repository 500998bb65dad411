#!/usr/bin/env python
"""Load an image export through BoxMOT's own re-ID backend and compare its features with ours.

Runs inside BoxMOT's virtualenv (``make boxmot``); imports nothing from this project:

    .boxmot-venv/bin/python tools/peer/boxmot_reid_check.py --onnx run/resnet50_mars.onnx \
        --crops crops/ --expected ours.npy [--tolerance 1e-4] [--json result.json]

``--crops``: a folder of image files, embedded in sorted name order; ``--expected``: our (N, D)
embeddings of the same files in that order (``CropEmbedder.from_onnx(f)(files)``, see
docs/tracker_export.md). BoxMOT embeds them three ways: as crops (``ReID(weights=...)(crops)``,
its ``boxmot.reid.core.ReID`` runtime), as boxes on a frame (``backend.get_features(boxes, frame)``,
each file a frame and its box the whole frame), and through the encoder that ``boxmot track --reid
FILE.onnx`` builds for its trackers (``resolve_reid_spec`` + ``create_reid_encoder``, then
``encode(frames, detections)``). Network access and runtime pip installs are refused (they raise),
so a backend that would download or install anything for this file fails here instead. Prints one
JSON line; exit status 1 when a difference exceeds --tolerance.
"""

import argparse
import json
import socket
import sys
from pathlib import Path

import cv2
import numpy as np

ATTEMPTS: list[str] = []


def _refuse(what):
    def refuse(*args, **kwargs):
        ATTEMPTS.append(f"{what} {args!r}"[:200])
        raise RuntimeError(f"boxmot_reid_check: {what} refused (BoxMOT must not download or install here)")
    return refuse


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--onnx", required=True, help="the image export (tools/export.py --image)")
    p.add_argument("--crops", required=True, help="folder of crop image files")
    p.add_argument("--expected", help="our embeddings of the sorted files, (N, D) .npy")
    p.add_argument("--tolerance", type=float, default=1e-4, help="largest max-abs difference allowed")
    p.add_argument("--json", help="also write the result here")
    args = p.parse_args(argv)

    socket.socket.connect = _refuse("connect")
    socket.create_connection = _refuse("create_connection")
    from boxmot.reid.core import ReID
    from boxmot.utils.checks import RequirementsChecker

    RequirementsChecker._install_packages = _refuse("pip install")
    import boxmot
    import torch
    from boxmot.reid import create_reid_encoder
    from boxmot.reid.config import resolve_reid_spec
    from boxmot.structures import Boxes, Detections, Frame

    files = sorted(f for f in Path(args.crops).iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not files:
        p.error(f"--crops {args.crops}: no image files")
    crops = [cv2.imread(str(f)) for f in files]  # BGR, as trackers hold frames
    reid = ReID(weights=Path(args.onnx), device="cpu", half=False)
    backend = reid.model
    as_crops = np.asarray(reid(crops), np.float32)
    as_boxes = np.concatenate([backend.get_features(np.array([[0, 0, c.shape[1], c.shape[0]]]), c) for c in crops])
    encoder = create_reid_encoder(resolve_reid_spec(str(args.onnx), allow_download=False)[0])
    frames = [Frame(torch.from_numpy(np.ascontiguousarray(c[:, :, ::-1].transpose(2, 0, 1))), f"{k}")
              for k, c in enumerate(crops)]  # Frame: RGB [3, H, W] uint8
    detections = [Detections(Boxes(torch.tensor([[0.0, 0.0, c.shape[1], c.shape[0]]])), torch.ones(1),
                             torch.zeros(1, dtype=torch.int64), f"{k}") for k, c in enumerate(crops)]
    as_tracker = torch.cat(encoder.encode(frames, detections)).numpy()
    result = {
        "boxmot": boxmot.__version__,
        "backend": type(backend).__name__,
        "runtime": getattr(backend, "_backend", "?"),
        "model_name": backend.model_name,
        "input_shape": list(backend.input_shape),
        "crops": len(files),
        "dim": int(as_crops.shape[1]),
        "crops_vs_boxes": float(np.abs(as_crops - as_boxes).max()),
        "crops_vs_tracker": float(np.abs(as_crops - as_tracker).max()),
        "network_or_install_attempts": ATTEMPTS,
    }
    ok = not ATTEMPTS
    if args.expected:
        expected = np.load(args.expected)
        if expected.shape != as_crops.shape:
            p.error(f"--expected {args.expected}: shape {expected.shape}, BoxMOT gave {as_crops.shape}")
        result["max_abs_diff_crops"] = float(np.abs(as_crops - expected).max())
        result["max_abs_diff_boxes"] = float(np.abs(as_boxes - expected).max())
        result["max_abs_diff_tracker"] = float(np.abs(as_tracker - expected).max())
        ok = ok and all(result[f"max_abs_diff_{k}"] <= args.tolerance for k in ("crops", "boxes", "tracker"))
    line = json.dumps(result)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
