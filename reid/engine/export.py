"""ONNX export of the clip model: clips (B, T, 3, H, W) -> embedding (B, D), B and T dynamic.

The exporter is torch.export-based (``torch.onnx.export(dynamo=True)``): B and T are symbolic
dimensions of the captured graph, and an operation that would fix either of them fails the export
instead of baking the example's value into the file (a trace can do that silently). The file is
written atomically and carries what a consumer needs to feed it (``metadata_props``): input size,
normalisation, pooling, embedding size and a sha256 of the weights.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import warnings
from collections.abc import Iterator, Mapping
from typing import Any
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from reid.config import check_choice
from reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from reid.engine.checkpoint import atomic_write_bytes
from reid.engine.extract import FEATURES
from reid.errors import ReIDError
from reid.models.reid_net import ReIDNet
from reid.models.temporal_pooling import POOLINGS

DEFAULT_OPSET = 18  # the exporter's own opset; lower ones go through a converter that can fail silently
MIN_OPSET = 18
INPUT, OUTPUT = "clips", "embedding"
# the example clip shape of the export: B and T above 1, so that neither is specialised as 0/1
_EXAMPLE_B, _EXAMPLE_T = 2, 3
_CHATTY_LOGGERS = ("onnxscript", "onnx_ir", "torch.onnx")  # log every optimiser pass at INFO


class ExportError(ReIDError, RuntimeError):
    """The model cannot be exported, or the exported file does not match PyTorch."""


class ClipEmbedder(nn.Module):
    """What retrieval embeds: the clip embedding, or its BNNeck copy (``feature="neck"``)."""

    def __init__(self, model: ReIDNet, feature: str = "embedding") -> None:
        super().__init__()
        self.model = model
        self.feature = check_choice(feature, FEATURES, "eval.feature")

    def forward(self, clips: torch.Tensor) -> torch.Tensor:  # (B, T, 3, H, W) -> (B, D)
        emb = self.model(clips).embedding
        return self.model.neck(emb) if self.feature == "neck" else emb


def weights_sha256(model: nn.Module) -> str:
    """sha256 of the state dict: each tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def pooling_name(model: ReIDNet) -> str:
    """The ``model.pooling`` key of the model's temporal pooling."""
    for name, cls in POOLINGS.items():
        if type(model.pool) is cls:
            return name
    raise ExportError(f"unknown temporal pooling {type(model.pool).__name__}")


def export_metadata(model: ReIDNet, *, backbone: str, height: int, width: int, feature: str,
                    extra: Mapping[str, object] | None = None) -> dict[str, str]:
    """The ``metadata_props`` of an exported model (every value a string; lists as JSON)."""
    meta = {
        "kind": "clip",
        "backbone": backbone,
        "height": str(height),
        "width": str(width),
        "embed_dim": str(model.dim),
        "pooling": pooling_name(model),
        "feature": feature,
        "input": (f"{INPUT} (B, T, 3, {height}, {width}) float32: RGB frames resized to {height}x{width}, "
                  "scaled to [0, 1], then (x - mean) / std per channel"),
        "output": f"{OUTPUT} (B, {model.dim}) float32, not L2-normalised (the cosine distance normalises)",
        "mean": json.dumps([round(float(v), 6) for v in IMAGENET_MEAN]),
        "std": json.dumps([round(float(v), 6) for v in IMAGENET_STD]),
        "weights_sha256": weights_sha256(model),
    }
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    return meta


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's warnings and INFO logs off (a tool's INFO logging would show every pass)."""
    loggers = [logging.getLogger(name) for name in _CHATTY_LOGGERS]
    levels = [lg.level for lg in loggers]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
            for lg in loggers:
                lg.setLevel(max(lg.getEffectiveLevel(), logging.WARNING))
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def write_onnx(module: nn.Module, model: nn.Module, path: Path, *, example: torch.Tensor, input_name: str,
               output_name: str, dims: dict[int, object], opset: int, meta: Mapping[str, str], what: str) -> None:
    """Export ``module`` (in eval mode; ``model`` is the network inside it, its mode restored after)
    with ``dims`` of its one input dynamic, store ``meta`` as ``metadata_props``, write ``path`` atomically.

    Raises:
        ExportError: an opset below ``MIN_OPSET``, ``path`` is a folder, the export fails or
            cannot be written.
    """
    if opset < MIN_OPSET:
        raise ExportError(f"opset {opset}: the exporter supports opset {MIN_OPSET} and above")
    if path.is_dir():
        raise ExportError(f"{path} is a folder; give the .onnx file to write")
    was_training = model.training
    module.eval()  # eval() reaches the model: BN and dropout at test time
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(module, (example,), None, dynamo=True, input_names=[input_name],
                                        output_names=[output_name], dynamic_shapes={input_name: dims},
                                        opset_version=opset, verbose=False)
        proto = program.model_proto
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"ONNX export of the {what} failed: {first}") from exc
    finally:
        model.train(was_training)
    got = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != opset:
        raise ExportError(f"the exporter wrote opset {got}, not the {opset} asked for")
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    try:
        data = proto.SerializeToString()
        atomic_write_bytes(path, lambda f: f.write(data))
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot write {path}: {exc}") from exc


def export_onnx(model: ReIDNet, path: str | os.PathLike, *, backbone: str, height: int, width: int,
                feature: str = "embedding", opset: int = DEFAULT_OPSET,
                extra_metadata: Mapping[str, object] | None = None) -> dict[str, str]:
    """Export ``model`` (in eval mode) to the ONNX file ``path``, written atomically.

    Input ``clips`` (B, T, 3, height, width) float32 with dynamic B and T; output ``embedding``
    (B, D). Returns the metadata stored in the file.

    Raises:
        ExportError: an opset below ``MIN_OPSET``, ``path`` is a folder, the export fails or
            cannot be written.
    """
    path = Path(path)
    meta = export_metadata(model, backbone=backbone, height=height, width=width, feature=feature,
                           extra=extra_metadata)
    example = torch.zeros(_EXAMPLE_B, _EXAMPLE_T, 3, height, width)
    dims = {0: torch.export.Dim("batch"), 1: torch.export.Dim("frames")}
    write_onnx(ClipEmbedder(model, feature), model, path, example=example, input_name=INPUT, output_name=OUTPUT,
               dims=dims, opset=opset, meta=meta, what=f"{meta['backbone']}/{meta['pooling']} model")
    return meta


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in model.metadata_props}


@dataclass
class OnnxCheck:
    """onnxruntime against PyTorch on random clips of each (B, T) in ``shapes``."""

    max_abs_diff: float
    scale: float  # the largest |embedding| PyTorch gave
    shapes: list[tuple[int, int]]

    @property
    def relative(self) -> float:
        """The max abs difference over the embedding scale."""
        return self.max_abs_diff / max(self.scale, 1e-12)


def open_session(path: str | os.PathLike, threads: int | None = None):
    """An onnxruntime CPU session of ``path`` (``threads``: intra-op threads, default torch's).

    Raises:
        ExportError: onnxruntime cannot load the file.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"onnxruntime cannot load {path}: {str(exc).strip().splitlines()[0]}") from exc


def enforce_tolerance(result: OnnxCheck, path: Path, tolerance: float) -> None:
    """Remove ``path`` and raise when ``result`` differs by more than ``tolerance`` of the scale.

    Raises:
        ExportError: the check failed (the file is removed first).
    """
    if not result.relative <= tolerance:  # a NaN difference fails too
        path.unlink(missing_ok=True)
        raise ExportError(f"{path} differs from PyTorch by {result.max_abs_diff:.3g} ({result.relative:.3g} of the "
                          f"embedding scale, tolerance {tolerance:g}); removed it (--no-check keeps it)")


def check_onnx(model: ReIDNet, path: str | os.PathLike, *, batch_sizes: tuple[int, ...] = (1, 3),
               frames: tuple[int, ...] = (2, 5), feature: str | None = None, seed: int = 0) -> OnnxCheck:
    """Run the ONNX file with onnxruntime and ``model`` with PyTorch on the same random clips.

    H and W come from the file's input; ``feature`` from its metadata unless given.

    Raises:
        ExportError: the file cannot be loaded, or its input/output names or shapes are not the
            exported ones.
    """
    session, (height, width), feature = open_export(path, INPUT, "(B, T, 3, H, W)", feature)
    generator = torch.Generator().manual_seed(seed)
    cases = [((b, t), torch.randn(b, t, 3, height, width, generator=generator)) for b in batch_sizes for t in frames]
    return compare_with_session(model, ClipEmbedder(model, feature), session, cases, path=path, input_name=INPUT,
                                output_name=OUTPUT, what="clips")


def open_export(path: str | os.PathLike, input_name: str, layout: str,
                feature: str | None) -> tuple[Any, tuple[int, int], str]:
    """An onnxruntime session of an export whose one input is ``input_name`` shaped as ``layout``
    (its last two axes H and W), its (H, W), and ``feature`` (from the file's metadata when None).

    Raises:
        ExportError: the file cannot be loaded, or its input is not that one.
    """
    session = open_session(path)
    inputs = session.get_inputs()
    if [i.name for i in inputs] != [input_name] or len(inputs[0].shape) != layout.count(",") + 1:
        raise ExportError(f"{path}: expected one input {input_name} {layout}, got "
                          f"{[(i.name, i.shape) for i in inputs]}")
    height, width = inputs[0].shape[-2:]
    if feature is None:
        feature = session.get_modelmeta().custom_metadata_map.get("feature", "embedding")
    return session, (height, width), feature


def compare_with_session(model: ReIDNet, embedder: nn.Module, session: Any, cases: list[tuple[tuple[int, int], Tensor]],
                         *, path: str | os.PathLike, input_name: str, output_name: str, what: str) -> OnnxCheck:
    """Run ``embedder`` (PyTorch, eval mode) and ``session`` (onnxruntime) on each case's input and
    return the largest absolute difference, the embedding scale and the cases' shape labels.

    Raises:
        ExportError: an output's shape differs from PyTorch's.
    """
    was_training = model.training
    embedder.eval()
    worst, scale, shapes = 0.0, 0.0, []
    try:
        for label, x in cases:
            with torch.no_grad():
                expected = embedder(x).numpy()
            (got,) = session.run([output_name], {input_name: x.numpy()})
            if got.shape != expected.shape:
                raise ExportError(f"{path}: {what} of shape {tuple(x.shape)} gave {output_name} of shape "
                                  f"{got.shape}, PyTorch {expected.shape}")
            diff = float(np.abs(got - expected).max())
            worst = max(worst, diff if np.isfinite(diff) else float("inf"))  # max() would drop a NaN
            scale = max(scale, float(np.abs(expected).max()))
            shapes.append(label)
    finally:
        model.train(was_training)
    return OnnxCheck(max_abs_diff=worst, scale=scale, shapes=shapes)
