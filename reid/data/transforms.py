"""Clip transforms: the same geometric augmentation for every frame of a clip."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


@dataclass
class ClipTransform:
    """Resize, optional flip / pad-and-crop / random erasing, normalise.

    Args:
        height, width: output frame size.
        train: apply the random augmentations.
        flip: horizontal flip with probability 0.5 (whole clip).
        pad_crop: zero-pad by this many pixels and crop back at a random offset (whole clip).
        random_erasing: probability of erasing one random rectangle (same rectangle on all frames).
    """

    height: int
    width: int
    train: bool = False
    flip: bool = True
    pad_crop: int = 0
    random_erasing: float = 0.0

    def __call__(self, frames: list[np.ndarray], rng: np.random.Generator | None = None) -> torch.Tensor:
        """Turn T RGB uint8 frames (H, W, 3) into a float tensor (T, 3, height, width)."""
        clip = np.stack(
            [cv2.resize(f, (self.width, self.height), interpolation=cv2.INTER_LINEAR) for f in frames]
        ).astype(np.float32) / 255.0  # (T, H, W, 3)
        if self.train:
            rng = rng if rng is not None else np.random.default_rng()
            clip = self._augment(clip, rng)
        clip = (clip - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2)))

    def _augment(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        if self.pad_crop > 0:
            p = self.pad_crop
            padded = np.pad(clip, ((0, 0), (p, p), (p, p), (0, 0)))
            y, x = rng.integers(0, 2 * p + 1, size=2)
            clip = padded[:, y : y + self.height, x : x + self.width]
        if self.random_erasing > 0 and rng.random() < self.random_erasing:
            area = self.height * self.width * rng.uniform(0.02, 0.4)
            aspect = np.exp(rng.uniform(np.log(0.3), np.log(3.3)))
            h = int(min(self.height, round(np.sqrt(area * aspect))))
            w = int(min(self.width, round(np.sqrt(area / aspect))))
            y = int(rng.integers(0, self.height - h + 1))
            x = int(rng.integers(0, self.width - w + 1))
            clip = clip.copy()
            clip[:, y : y + h, x : x + w] = rng.random(3, dtype=np.float32)
        return clip
