"""Image-level ONNX export for trackers: crops (N, 3, H, W) -> L2-normalised embeddings (N, D).

The image model is the clip model applied to one-frame clips (T = 1). Average, attention and max
pooling over one frame all return that frame's embedding, so the file embeds a crop exactly as the
evaluation embeds a one-frame tracklet, then L2-normalises it. Its contract is the one BoxMOT's
ONNX re-ID backend feeds (``boxmot/reid/core/crops.py``, 25.0.0): BGR crop -> ``cv2.resize`` to
W x H (bilinear) -> RGB -> float32 / 255 -> (x - ImageNet mean) / std, batched as (N, 3, H, W); the
caller normalises. The input is named ``images`` and its batch dimension is dynamic; H and W are
fixed, which BoxMOT reads from the graph. BoxMOT picks the architecture from the file name
(``resnet50`` in ``resnet50_mars.onnx``); ``default_image_name`` gives such a name.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from reid.engine.export import (DEFAULT_OPSET, ClipEmbedder, OnnxCheck, compare_with_session,
                                export_metadata, open_export, write_onnx)
from reid.models.reid_net import ReIDNet

IMAGE_INPUT, IMAGE_OUTPUT = "images", "embedding"  # "images": the input name of BoxMOT's own exports
KIND_IMAGE = "image"  # metadata "kind" of an image export (CropEmbedder.from_onnx checks it)
_EXAMPLE_N = 2  # above 1, so that the batch is not specialised as 0/1


class FrameEmbedder(nn.Module):
    """Frames (N, 3, H, W) -> L2-normalised embeddings (N, D): the clip model on one-frame clips."""

    def __init__(self, model: ReIDNet, feature: str = "embedding") -> None:
        super().__init__()
        self.clip = ClipEmbedder(model, feature)

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (N, 3, H, W) -> (N, D)
        return F.normalize(self.clip(images.unsqueeze(1)), dim=1)


def default_image_name(backbone: str, dataset: str) -> str:
    """``<backbone>_<dataset>.onnx``: the name from which BoxMOT recognises the architecture."""
    return f"{backbone}_{dataset}.onnx".lower()


def export_image_onnx(model: ReIDNet, path: str | os.PathLike, *, backbone: str, height: int, width: int,
                      feature: str = "embedding", resize: int = 0, opset: int = DEFAULT_OPSET,
                      extra_metadata: dict[str, object] | None = None) -> dict[str, str]:
    """Export ``model`` as an image model: ``images`` (N, 3, height, width) -> ``embedding`` (N, D).

    Args:
        resize: the model's ``data.resize`` (0: crops are resized to height x width, BoxMOT's own
            preprocessing; > 0: shorter side to ``resize``, centre crop), stored in the metadata.

    Returns:
        The metadata stored in the file: the clip export's keys (backbone, height, width,
        embed_dim, pooling, feature, mean, std, weights_sha256, ...) with ``kind: image``.

    Raises:
        ExportError: an opset below the minimum, ``path`` is a folder, the export fails or
            cannot be written.
    """
    path = Path(path)
    meta = export_metadata(model, backbone=backbone, height=height, width=width, feature=feature,
                           extra=extra_metadata)
    preprocess = (f"cv2.resize to {width}x{height} (bilinear)" if not resize else
                  f"shorter side resized to {resize} (bilinear), then the centre {width}x{height} window")
    meta.update({
        "kind": KIND_IMAGE,
        "resize": str(resize),
        "input": (f"{IMAGE_INPUT} (N, 3, {height}, {width}) float32: RGB crops, {preprocess}, scaled to [0, 1], "
                  "then (x - mean) / std per channel"),
        "output": f"{IMAGE_OUTPUT} (N, {model.dim}) float32, L2-normalised ({feature} of a one-frame clip)",
    })
    example = torch.zeros(_EXAMPLE_N, 3, height, width)
    write_onnx(FrameEmbedder(model, feature), model, path, example=example, input_name=IMAGE_INPUT,
               output_name=IMAGE_OUTPUT, dims={0: torch.export.Dim("batch")}, opset=opset, meta=meta,
               what=f"{backbone} image model")
    return meta


def check_image_onnx(model: ReIDNet, path: str | os.PathLike, *, batch_sizes: tuple[int, ...] = (1, 4),
                     feature: str | None = None, seed: int = 0) -> OnnxCheck:
    """Run the image file with onnxruntime and ``model`` with PyTorch on the same random frames.

    ``shapes`` of the result are (N, 1): N frames, each a one-frame clip. H and W come from the
    file's input; ``feature`` from its metadata unless given.

    Raises:
        ExportError: the file cannot be loaded, or it is not an image export.
    """
    session, (height, width), feature = open_export(path, IMAGE_INPUT, "(N, 3, H, W)", feature)
    generator = torch.Generator().manual_seed(seed)
    cases = [((n, 1), torch.randn(n, 3, height, width, generator=generator)) for n in batch_sizes]
    return compare_with_session(model, FrameEmbedder(model, feature), session, cases, path=path,
                                input_name=IMAGE_INPUT, output_name=IMAGE_OUTPUT, what="images")
