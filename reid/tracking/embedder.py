"""Crops -> L2-normalised embeddings for any tracker, from a checkpoint (PyTorch) or an image export (onnxruntime).

    embedder = CropEmbedder.from_checkpoint("outputs/run/model.pt")    # or .from_onnx("resnet50_mars.onnx")
    features = embedder([frame[y1:y2, x1:x2] for x1, y1, x2, y2 in boxes])  # (N, D), rows of norm 1

Crops are what OpenCV and trackers hold: (H, W, 3) uint8 BGR arrays (``rgb=True`` for RGB), or
image files. Each is resized exactly as the evaluation resizes a frame (``ClipTransform`` at test
time: bilinear to height x width, or with ``data.resize`` the shorter side then the centre
window), normalised with the ImageNet mean and std and embedded as a one-frame clip, so a crop's
embedding is the evaluation's embedding of a one-frame tracklet of it, L2-normalised.

This module comes after ``reid.pipeline`` in the one-way flow: it rebuilds a model from a
checkpoint the way the entry scripts do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from reid.data.storage.frame_io import read_image
from reid.data.transforms import ClipTransform
from reid.engine.export_image import IMAGE_INPUT, IMAGE_OUTPUT, KIND_IMAGE, FrameEmbedder
from reid.errors import ReIDError
from reid.models.reid_net import ReIDNet

Crop = np.ndarray | str | os.PathLike


class EmbedderError(ReIDError, ValueError):
    """A crop, checkpoint or ONNX file the embedder cannot use."""


class CropEmbedder:
    """Embed crops with a re-ID model: ``__call__(crops) -> (N, D)`` float32, L2-normalised rows.

    Build it with ``from_checkpoint``, ``from_onnx`` or ``from_model``; ``run`` maps normalised
    frames (n, 3, height, width) float32 to embeddings (n, D).
    """

    def __init__(self, run: Callable[[np.ndarray], np.ndarray], *, height: int, width: int, embed_dim: int,
                 resize: int = 0, source: str = "") -> None:
        self.run = run
        self.height, self.width, self.embed_dim, self.resize = height, width, embed_dim, resize
        self.source = source
        self.transform = ClipTransform(height, width, train=False, resize=resize)

    def __repr__(self) -> str:
        return (f"CropEmbedder({self.source}, {self.height}x{self.width}"
                f"{f', resize {self.resize}' if self.resize else ''} -> {self.embed_dim})")

    @classmethod
    def from_model(cls, model: ReIDNet, *, height: int, width: int, feature: str = "embedding", resize: int = 0,
                   device: torch.device | str = "cpu") -> CropEmbedder:
        """Embed with ``model`` (put in eval mode, moved to ``device``) in PyTorch."""
        net = FrameEmbedder(model, feature).eval().to(device)

        def run(frames: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return net(torch.from_numpy(frames).to(device)).float().cpu().numpy()

        return cls(run, height=height, width=width, embed_dim=model.dim, resize=resize,
                   source=f"PyTorch {type(model.backbone).__name__}, {feature}")

    @classmethod
    def from_checkpoint(cls, path: str | os.PathLike, *, feature: str | None = None,
                        device: torch.device | str = "cpu") -> CropEmbedder:
        """Embed with a trained checkpoint (model.pt, best.pt, checkpoint.pt) in PyTorch.

        The model, data.height x data.width, data.resize and eval.feature (unless ``feature``)
        come from the config saved in the checkpoint.

        Raises:
            EmbedderError: the file is missing, not a checkpoint, or holds no saved config or model.
        """
        from reid.config import config_from_dict, drop_unknown_keys
        from reid.engine.checkpoint import load_checkpoint
        from reid.pipeline.builders import load_trained_model

        try:
            saved = load_checkpoint(path).get("config")
            if not isinstance(saved, dict):
                raise EmbedderError(f"checkpoint {path} holds no saved config: use CropEmbedder.from_model "
                                    "with the model built from its config")
            cfg = config_from_dict(drop_unknown_keys(saved))
            model = load_trained_model(cfg, path)
        except EmbedderError:
            raise
        except ReIDError as exc:
            raise EmbedderError(str(exc)) from exc
        return cls.from_model(model, height=cfg.data.height, width=cfg.data.width,
                              feature=feature or cfg.eval.feature, resize=cfg.data.resize, device=device)

    @classmethod
    def from_onnx(cls, path: str | os.PathLike, *, threads: int | None = None) -> CropEmbedder:
        """Embed with an image export of ``osmcaa-reid export --image`` in onnxruntime (CPU).

        Raises:
            EmbedderError: the file is missing, not ONNX, or not an image export of this project
                (a clip export, or another model).
        """
        from reid.engine.export import open_session

        if not Path(path).is_file():
            raise EmbedderError(f"ONNX file {path} does not exist")
        try:
            session = open_session(path, threads)
        except ReIDError as exc:
            raise EmbedderError(str(exc)) from exc
        meta = session.get_modelmeta().custom_metadata_map
        inputs = session.get_inputs()
        if meta.get("kind") == "clip" or [i.name for i in inputs] == ["clips"]:
            raise EmbedderError(f"{path} is a clip export (clips (B, T, 3, H, W)); export the image model with "
                                "osmcaa-reid export --image")
        missing = [k for k in ("kind", "height", "width", "embed_dim") if k not in meta]
        if missing or meta["kind"] != KIND_IMAGE or [i.name for i in inputs] != [IMAGE_INPUT]:
            raise EmbedderError(f"{path} is not an image export of osmcaa-reid export --image (metadata lacks "
                                f"{missing or 'kind: image'}, inputs {[i.name for i in inputs]})")

        def run(frames: np.ndarray) -> np.ndarray:
            return session.run([IMAGE_OUTPUT], {IMAGE_INPUT: frames})[0]

        return cls(run, height=int(meta["height"]), width=int(meta["width"]), embed_dim=int(meta["embed_dim"]),
                   resize=int(meta.get("resize", 0)), source=f"onnxruntime {Path(path).name}, {meta.get('feature')}")

    def preprocess(self, crops: Crop | Sequence[Crop], *, rgb: bool = False) -> np.ndarray:
        """Crops -> model input (N, 3, height, width) float32, as the evaluation transforms a frame.

        Raises:
            EmbedderError: a crop that is not an (H, W, 3) uint8 array or a readable image file.
        """
        frames = [self._rgb(crop, k, rgb) for k, crop in enumerate(_as_list(crops))]
        if not frames:
            return np.zeros((0, 3, self.height, self.width), np.float32)
        return self.transform(frames).numpy()

    def __call__(self, crops: Crop | Sequence[Crop], *, rgb: bool = False, batch_size: int = 64) -> np.ndarray:
        """Crops -> (N, D) float32 embeddings of norm 1, in the order given (N = 0 gives (0, D)).

        Args:
            crops: one crop or a sequence of them (arrays of any size, or image file paths), or
                an (N, H, W, 3) array.
            rgb: the arrays are RGB (files are always decoded as OpenCV reads them, BGR).
            batch_size: crops per forward pass.

        Raises:
            EmbedderError: a crop that is not an (H, W, 3) uint8 array or a readable image file.
        """
        items = _as_list(crops)
        out = [np.zeros((0, self.embed_dim), np.float32)]
        for start in range(0, len(items), batch_size):
            emb = np.asarray(self.run(self.preprocess(items[start:start + batch_size], rgb=rgb)), np.float32)
            out.append(emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out)

    @staticmethod
    def _rgb(crop: Crop, k: int, rgb: bool) -> np.ndarray:
        if isinstance(crop, (str, os.PathLike)):
            if not Path(crop).is_file():
                raise EmbedderError(f"crop {k}: image file {crop} does not exist")
            try:
                return read_image(str(crop))
            except ReIDError as exc:
                raise EmbedderError(f"crop {k}: {exc}") from exc
        if not isinstance(crop, np.ndarray):
            raise EmbedderError(f"crop {k}: {type(crop).__name__}; expected an (H, W, 3) uint8 array or an image path")
        if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3 or 0 in crop.shape:
            raise EmbedderError(f"crop {k}: {crop.dtype} array of shape {crop.shape}; expected (H, W, 3) uint8 "
                                f"{'RGB' if rgb else 'BGR'} with H, W > 0, as OpenCV gives")
        return np.ascontiguousarray(crop if rgb else crop[:, :, ::-1])


def _as_list(crops: Crop | Sequence[Crop]) -> list[Crop]:
    """One crop, an (N, H, W, 3) array or a sequence of crops -> a list of crops."""
    if isinstance(crops, (str, os.PathLike)):
        return [crops]
    if isinstance(crops, np.ndarray):
        if crops.ndim == 4:
            return list(crops)
        return [crops]
    if isinstance(crops, (list, tuple)):
        return list(crops)
    raise EmbedderError(f"crops: {type(crops).__name__}; expected an (H, W, 3) array, an image path, "
                        "an (N, H, W, 3) array or a list of those")
