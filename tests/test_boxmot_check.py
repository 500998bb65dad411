"""BoxMOT, the real client: its own ONNX re-ID backend loads an image export and embeds crops as we do.

Runs tools/peer/boxmot_reid_check.py inside .boxmot-venv (``make boxmot``; BoxMOT is AGPL and never
a dependency of this package); skipped when that virtualenv is absent.
"""

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime")

from reid.tracking.embedder import CropEmbedder  # noqa: E402
from reid.engine.export_image import export_image_onnx  # noqa: E402
from reid.models import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BOXMOT_PYTHON = ROOT / ".boxmot-venv" / "bin" / "python"
H, W, D = 64, 32, 16

pytestmark = pytest.mark.skipif(not BOXMOT_PYTHON.is_file(),
                                reason=f"{BOXMOT_PYTHON} is absent: `make boxmot` builds BoxMOT's own virtualenv")


def test_boxmot_embeds_our_image_export_as_we_do(tmp_path):
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=True, pooling="attention",
                           embed_dim=D, num_classes=5, neck="bnneck")
    with torch.no_grad():
        model.train()(torch.randn(4, 2, 3, H, W) * 2 + 1)
    onnx_path = tmp_path / "resnet18_mars.onnx"
    export_image_onnx(model, onnx_path, backbone="resnet18", height=H, width=W)
    crops = tmp_path / "crops"
    crops.mkdir()
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate([(100, 40), (64, 32), (37, 19), (300, 120), (128, 64)]):
        assert cv2.imwrite(str(crops / f"{k:02d}.png"),
                           cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0))
    files = sorted(crops.iterdir())
    ours = CropEmbedder.from_onnx(onnx_path)(files)
    np.save(tmp_path / "ours.npy", ours)

    run = subprocess.run([str(BOXMOT_PYTHON), str(ROOT / "tools" / "peer" / "boxmot_reid_check.py"),
                          "--onnx", str(onnx_path), "--crops", str(crops), "--expected", str(tmp_path / "ours.npy")],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    print(f"BoxMOT {result['boxmot']} vs ours: crops {result['max_abs_diff_crops']:.3g}, "
          f"boxes {result['max_abs_diff_boxes']:.3g}, tracker encoder {result['max_abs_diff_tracker']:.3g}")
    assert (result["backend"], result["runtime"]) == ("ONNXBackend", "onnxruntime")
    assert result["model_name"] == "resnet18" and result["input_shape"] == [H, W]  # name and graph read
    assert (result["crops"], result["dim"]) == (len(files), D)
    assert result["network_or_install_attempts"] == []
    assert max(result[f"max_abs_diff_{k}"] for k in ("crops", "boxes", "tracker")) <= 1e-5

    pytorch = CropEmbedder.from_model(model, height=H, width=W)(files)  # and the checkpoint's own model
    assert np.abs(pytorch - ours).max() <= 1e-5
