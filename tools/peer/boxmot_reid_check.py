#!/usr/bin/env python
"""Load an image export through BoxMOT's own re-ID backend and compare its features with ours.

Runs inside BoxMOT's virtualenv (``make boxmot``); imports nothing from this project:

    .boxmot-venv/bin/python tools/peer/boxmot_reid_check.py --onnx run/resnet50_mars.onnx \
        --crops crops/ --expected ours.npy [--tolerance 1e-4] [--json result.json]

``--crops``: a folder of image files, embedded in sorted name order; ``--expected``: our (N, D)
embeddings of the same files in that order (``CropEmbedder.from_onnx(f)(files)``, see
docs/tracker_export.md). BoxMOT embeds them twice: as crops (``ReID(weights=...)(crops)``, the
``boxmot.reid.core.ReID`` runtime) and as boxes on a frame (``backend.get_features(boxes, frame)``,
what its trackers call, each file a frame and its box the whole frame). Network access and
runtime pip installs are refused (they raise), so a backend that would download anything for this
file fails here instead of downloading. Prints one JSON line; exit status 1 when a difference
exceeds --tolerance.
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

    files = sorted(f for f in Path(args.crops).iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp"))
    if not files:
        p.error(f"--crops {args.crops}: no image files")
    crops = [cv2.imread(str(f)) for f in files]  # BGR, as trackers hold frames
    reid = ReID(weights=Path(args.onnx), device="cpu", half=False)
    backend = reid.model
    as_crops = np.asarray(reid(crops), np.float32)
    as_boxes = np.concatenate([backend.get_features(np.array([[0, 0, c.shape[1], c.shape[0]]]), c) for c in crops])
    result = {
        "boxmot": boxmot.__version__,
        "backend": type(backend).__name__,
        "runtime": getattr(backend, "_backend", "?"),
        "model_name": backend.model_name,
        "input_shape": list(backend.input_shape),
        "crops": len(files),
        "dim": int(as_crops.shape[1]),
        "crops_vs_boxes": float(np.abs(as_crops - as_boxes).max()),
        "network_or_install_attempts": ATTEMPTS,
    }
    ok = not ATTEMPTS
    if args.expected:
        expected = np.load(args.expected)
        if expected.shape != as_crops.shape:
            p.error(f"--expected {args.expected}: shape {expected.shape}, BoxMOT gave {as_crops.shape}")
        result["max_abs_diff_crops"] = float(np.abs(as_crops - expected).max())
        result["max_abs_diff_boxes"] = float(np.abs(as_boxes - expected).max())
        ok = ok and all(result[k] <= args.tolerance for k in ("max_abs_diff_crops", "max_abs_diff_boxes"))
    line = json.dumps(result)
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
