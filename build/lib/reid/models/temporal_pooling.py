"""Temporal aggregation of frame embeddings (B, T, D) into one clip embedding (B, D)."""

from __future__ import annotations

import torch
from torch import nn


class AveragePooling(nn.Module):
    """Mean over frames."""

    def __init__(self, dim: int) -> None:
        super().__init__()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, D)
        return frames.mean(dim=1)


class MaxPooling(nn.Module):
    """Element-wise maximum over frames."""

    def __init__(self, dim: int) -> None:
        super().__init__()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, D)
        return frames.amax(dim=1)


class AttentionPooling(nn.Module):
    """Softmax-weighted mean over frames, the weight of a frame a learned linear score of it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:  # (B, T, D) -> (B, D)
        weights = torch.softmax(self.score(frames).squeeze(-1), dim=1)  # (B, T)
        return torch.einsum("bt,btd->bd", weights, frames)


POOLINGS: dict[str, type[nn.Module]] = {"avg": AveragePooling, "max": MaxPooling, "attention": AttentionPooling}
