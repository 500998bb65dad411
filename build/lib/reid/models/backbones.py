"""torchvision backbones that turn a frame (N, 3, H, W) into a feature vector (N, F).

ImageNet weights come from a local file, else torchvision's cache or its download. When none of
these works the build stops with a clear message, unless the config allows random init: a model
is never trained from scratch by surprise.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from reid.errors import ConfigError, ReIDError

logger = logging.getLogger(__name__)


class WeightsUnavailableError(ReIDError, RuntimeError):
    """ImageNet weights were asked for and could not be loaded."""


# name -> (constructor, weights enum, feature dimension)
BACKBONES: dict[str, tuple[Callable[..., nn.Module], object, int]] = {
    "resnet18": (torchvision.models.resnet18, torchvision.models.ResNet18_Weights.IMAGENET1K_V1, 512),
    "resnet34": (torchvision.models.resnet34, torchvision.models.ResNet34_Weights.IMAGENET1K_V1, 512),
    "resnet50": (torchvision.models.resnet50, torchvision.models.ResNet50_Weights.IMAGENET1K_V1, 2048),
    "googlenet": (torchvision.models.googlenet, torchvision.models.GoogLeNet_Weights.IMAGENET1K_V1, 1024),
}


def _construct(name: str) -> nn.Module:
    ctor = BACKBONES[name][0]
    if name == "googlenet":  # the BN-GoogLeNet of the paper; aux heads kept so ImageNet weights load
        # torchvision's ImageNet GoogLeNet weights expect its input transform (ImageNet-normalised
        # input re-mapped to (x - 0.5) / 0.5); it is kept on for every init so that a checkpoint
        # rebuilt with random init behaves exactly as the model that was trained.
        return ctor(weights=None, aux_logits=True, transform_input=True, init_weights=True)
    return ctor(weights=None)


def _imagenet_state(name: str) -> dict:
    weights = BACKBONES[name][1]
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except Exception as exc:  # no network, no cache, corrupt file: all end here
        raise WeightsUnavailableError(
            f"could not load ImageNet weights for {name} from torchvision's cache "
            f"({torch.hub.get_dir()}/checkpoints) or by download ({weights.url}): {exc}. "
            f"Either place the file there, set model.init to a local weights path, or set "
            f"model.allow_random_init=true to train from random initialisation on purpose."
        ) from exc


def _file_state(path: Path) -> dict:
    if not path.is_file():
        raise WeightsUnavailableError(f"model.init: weights file {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise WeightsUnavailableError(f"model.init: cannot read weights file {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailableError(f"model.init: {path} holds no state dict")
    return state


def _set_last_stride(model: nn.Module, name: str, stride: int) -> None:
    """Stride of the last ResNet stage (1 doubles the final feature map, as in strong re-ID baselines)."""
    if stride not in (1, 2):
        raise ConfigError(f"model.last_stride: {stride!r}, expected 1 or 2")
    if stride == 2:
        return
    if not name.startswith("resnet"):
        raise ConfigError(f"model.last_stride=1 is for ResNet backbones, not {name}")
    block = model.layer4[0]
    conv = block.conv2 if hasattr(block, "conv3") else block.conv1  # Bottleneck strides its 3x3 conv
    conv.stride = (1, 1)
    block.downsample[0].stride = (1, 1)


def build_backbone(name: str, *, init: str = "imagenet", allow_random_init: bool = False,
                   last_stride: int = 2) -> tuple[nn.Module, int, str]:
    """Build a backbone whose forward maps (N, 3, H, W) -> (N, F).

    Args:
        name: a key of ``BACKBONES``.
        init: ``imagenet``, ``random``, or a path to a torchvision state dict.
        allow_random_init: with ``init=imagenet``, fall back to random init (with a warning)
            instead of stopping when the weights cannot be had.

    Returns:
        (module, feature dimension F, a description of the initialisation actually used).
    """
    if name not in BACKBONES:
        raise ConfigError(f"model.backbone: unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")
    model = _construct(name)
    used = "random"
    state = None
    if init == "imagenet":
        try:
            state, used = _imagenet_state(name), "imagenet"
        except WeightsUnavailableError as exc:
            if not allow_random_init:
                raise
            logger.warning("%s -- continuing with RANDOM initialisation (model.allow_random_init=true)", exc)
            used = "random (ImageNet weights unavailable)"
    elif init != "random":
        state, used = _file_state(Path(init)), f"file {init}"
    if state is not None:
        try:
            missing, unexpected = model.load_state_dict(state, strict=False)
        except RuntimeError as exc:  # shape mismatches are raised even when strict=False
            raise WeightsUnavailableError(f"model.init ({used}) does not match backbone {name}: {exc}") from exc
        real_missing = [k for k in missing if not k.startswith(("fc.", "aux"))]
        if real_missing or unexpected:
            raise WeightsUnavailableError(
                f"model.init ({used}) does not match backbone {name}: missing {real_missing[:5]}, "
                f"unexpected {list(unexpected)[:5]}"
            )
    model.fc = nn.Identity()
    _set_last_stride(model, name, last_stride)
    if name == "googlenet":
        model.aux_logits, model.aux1, model.aux2 = False, None, None
        model.dropout = nn.Identity()
    return model, BACKBONES[name][2], used
