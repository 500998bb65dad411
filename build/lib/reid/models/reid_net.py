"""The re-ID network: backbone -> frame features -> embedding -> temporal pooling (+ centres)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from reid.errors import ConfigError
from reid.models.backbones import build_backbone
from reid.models.temporal_pooling import POOLINGS

NECKS = ("none", "bnneck")


@dataclass
class ReIDOutput:
    embedding: torch.Tensor  # (B, D) clip embeddings (raw, not normalised)
    frame_embeddings: torch.Tensor  # (B, T, D)


class ReIDNet(nn.Module):
    """Clip (B, T, 3, H, W) -> embedding (B, D); ``centres`` (K, D) is the identity classifier.

    The classifier acts on the raw embedding (CAA needs logits of the raw embedding, docs/method.md, "Class-Aware Attention"),
    and the same embedding head is applied to every frame before pooling, so the loss can be taken
    on clips or on frames with one set of weights.
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, *, embed_dim: int, num_classes: int,
                 pooling: str, classifier_bias: bool, neck: str = "none",
                 classifier_std: float = 0.001) -> None:
        super().__init__()
        if neck not in NECKS:
            raise ConfigError(f"model.neck: unknown neck {neck!r}; valid: {', '.join(NECKS)}")
        self.backbone = backbone
        self.embed = nn.Linear(feat_dim, embed_dim) if embed_dim else nn.Identity()
        self.dim = embed_dim or feat_dim
        self.channels_last = False  # feed frames to the backbone in channels_last (set by the trainer)
        self.pool = POOLINGS[pooling](self.dim)
        # BNNeck (Luo et al. 2019): metric losses see the embedding, the classifier (and CE, and
        # CAA's class probabilities) a batch-normalised copy whose shift is frozen at 0.
        self.neck: nn.Module = nn.Identity()
        if neck == "bnneck":
            self.neck = nn.BatchNorm1d(self.dim)
            self.neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(self.dim, max(num_classes, 1), bias=classifier_bias)
        if not classifier_std > 0:
            raise ConfigError(f"model.classifier_std: {classifier_std!r}, expected a positive number")
        nn.init.normal_(self.classifier.weight, std=classifier_std)
        if classifier_bias:
            nn.init.zeros_(self.classifier.bias)

    @property
    def centres(self) -> torch.Tensor:
        return self.classifier.weight

    @property
    def centre_bias(self) -> torch.Tensor | None:
        return self.classifier.bias

    def forward(self, clips: torch.Tensor) -> ReIDOutput:  # (B, T, 3, H, W)
        b, t = clips.shape[:2]
        frames = clips.flatten(0, 1)  # (B*T, 3, H, W)
        if self.channels_last:
            frames = frames.contiguous(memory_format=torch.channels_last)
        feats = self.backbone(frames)  # (B*T, F)
        frame_emb = self.embed(feats).view(b, t, -1)  # (B, T, D)
        return ReIDOutput(embedding=self.pool(frame_emb), frame_embeddings=frame_emb)


def build_model(*, backbone: str, init: str, allow_random_init: bool, pooling: str, embed_dim: int,
                num_classes: int, classifier_bias: bool = False, neck: str = "none",
                last_stride: int = 2, classifier_std: float = 0.001) -> tuple[ReIDNet, str]:
    """Build a ReIDNet; returns it and a description of the backbone initialisation used."""
    if pooling not in POOLINGS:
        raise ConfigError(f"model.pooling: unknown pooling {pooling!r}; valid: {', '.join(POOLINGS)}")
    net, feat_dim, used = build_backbone(backbone, init=init, allow_random_init=allow_random_init,
                                         last_stride=last_stride)
    model = ReIDNet(net, feat_dim, embed_dim=embed_dim, num_classes=num_classes, pooling=pooling,
                    classifier_bias=classifier_bias, neck=neck, classifier_std=classifier_std)
    return model, used
