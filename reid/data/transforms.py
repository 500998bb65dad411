"""Clip transforms: the same geometric augmentation for every frame of a clip."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from reid.errors import ConfigError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
CROPS = ("pad", "zoom", "random", "none")


@dataclass
class ClipTransform:
    """Resize, optional flip / random crop / random erasing, normalise.

    Args:
        height, width: output frame size.
        train: apply the random augmentations.
        flip: horizontal flip with probability 0.5.
        crop: ``pad``: zero-pad by ``pad_crop`` pixels and crop back at a random offset;
            ``zoom``: with probability 0.5, enlarge by 1/8 and crop back at a random offset
            (torchreid's Random2DTranslation); ``random``: the random window of ``resize``;
            ``none``.
        pad_crop: padding of the ``pad`` crop (0 disables it).
        random_erasing: probability of erasing one random rectangle.
        color_jitter: strength s of a photometric jitter drawn once for every training clip
            (also with ``per_frame``: a camera's colours hold over a tracklet):
            brightness, contrast and saturation factors each uniform in [1 - s, 1 + s], applied
            in that order and clamped to [0, 1] after each step, as torchvision's ColorJitter
            (without hue) does; 0 disables it. Cameras that render colours differently are
            the usual reason to use it.
        white_balance: strength s of a per-channel colour gain drawn once for every training
            clip: R, G and B multiplied by factors each uniform in [1 - s, 1 + s], clamped to
            [0, 1]: what differs between two cameras' white balance and colour response, which
            ``color_jitter`` (one factor for all channels) does not change; 0 disables it.
        per_frame: draw flip, crop and erasing independently for every frame (as image
            pipelines applied to video do); False: one draw for the whole clip.
        resize: 0: frames are resized to height x width. > 0: the shorter side is resized to
            ``resize`` (aspect kept) and a height x width window is cut out: at a random place
            in training with ``crop="random"`` (torchvision's Resize + RandomCrop, the 256 ->
            224 crops of metric learning), at the centre otherwise.
    """

    height: int
    width: int
    train: bool = False
    flip: bool = True
    pad_crop: int = 0
    random_erasing: float = 0.0
    crop: str = "pad"
    per_frame: bool = False
    resize: int = 0
    color_jitter: float = 0.0
    white_balance: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.white_balance < 1.0:
            raise ConfigError(f"data.white_balance: {self.white_balance} is out of range; expected 0 <= value < 1 "
                              "(channel gains are drawn from [1 - value, 1 + value])")
        if not 0.0 <= self.color_jitter < 1.0:
            raise ConfigError(f"data.color_jitter: {self.color_jitter} is out of range; expected 0 <= value < 1 "
                              "(factors are drawn from [1 - value, 1 + value])")
        if self.crop not in CROPS:
            raise ConfigError(f"data.crop: unknown crop {self.crop!r}; valid: {', '.join(CROPS)}")
        if self.resize and self.resize < max(self.height, self.width):
            raise ConfigError(f"data.resize: {self.resize} is smaller than the {self.height}x{self.width} window "
                              "cut out of it; expected 0 or >= max(data.height, data.width)")
        if self.crop == "random" and not self.resize:
            raise ConfigError("data.crop: random cuts a window out of the resized frame; it needs data.resize > 0")

    def __call__(self, frames: list[np.ndarray], rng: np.random.Generator | None = None) -> torch.Tensor:
        """Turn T RGB uint8 frames (H, W, 3) into a float tensor (T, 3, height, width)."""
        if self.train:
            rng = rng if rng is not None else np.random.default_rng()
        if self.resize:
            clip = self._resize_and_cut(frames, rng).astype(np.float32) / 255.0
        else:
            clip = np.stack(
                [cv2.resize(f, (self.width, self.height), interpolation=cv2.INTER_LINEAR) for f in frames]
            ).astype(np.float32) / 255.0  # (T, H, W, 3)
        if self.train:
            if self.per_frame:
                clip = np.stack([self._augment(frame[None], rng)[0] for frame in clip])
            else:
                clip = self._augment(clip, rng)
            if self.color_jitter > 0:  # once per clip even with per_frame: a camera's colours hold over a tracklet
                s = self.color_jitter
                clip = jitter_colours(clip, *rng.uniform(1.0 - s, 1.0 + s, size=3))
            if self.white_balance > 0:  # once per clip, as a camera's colour response
                s = self.white_balance
                gains = rng.uniform(1.0 - s, 1.0 + s, size=3).astype(np.float32)
                clip = np.clip(clip * gains, 0.0, 1.0)
        clip = (clip - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(np.ascontiguousarray(clip.transpose(0, 3, 1, 2)))

    def _resize_and_cut(self, frames: list[np.ndarray], rng: np.random.Generator | None) -> np.ndarray:
        """Shorter side to ``resize``, then a height x width window (random or centred); (T, H, W, 3) uint8."""
        random = self.train and self.crop == "random"
        offset = rng.random(2) if random else np.array([0.5, 0.5])  # fractions of the free space
        out = []
        for k, f in enumerate(frames):
            h, w = f.shape[:2]
            scale = self.resize / min(h, w)
            new_h, new_w = max(self.height, round(h * scale)), max(self.width, round(w * scale))
            f = cv2.resize(f, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            if random and self.per_frame and k > 0:
                offset = rng.random(2)
            y = int(round(offset[0] * (new_h - self.height)))
            x = int(round(offset[1] * (new_w - self.width)))
            out.append(f[y : y + self.height, x : x + self.width])
        return np.stack(out)

    def _augment(self, clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.flip and rng.random() < 0.5:
            clip = clip[:, :, ::-1]
        if self.crop == "zoom" and rng.random() < 0.5:
            big_h, big_w = round(self.height * 1.125), round(self.width * 1.125)
            y = int(round(rng.uniform(0, big_h - self.height)))
            x = int(round(rng.uniform(0, big_w - self.width)))
            clip = np.stack([cv2.resize(np.ascontiguousarray(f), (big_w, big_h), interpolation=cv2.INTER_LINEAR)
                             for f in clip])[:, y : y + self.height, x : x + self.width]
        if self.crop == "pad" and self.pad_crop > 0:
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


def jitter_colours(clip: np.ndarray, brightness: float, contrast: float, saturation: float) -> np.ndarray:
    """Brightness, contrast, saturation factors on float RGB frames in [0, 1], shape (T, H, W, 3).

    Contrast blends each frame with the mean of its grey image, saturation each pixel with its
    grey value (ITU-R 601 weights, as torchvision); every step is clamped to [0, 1]."""
    grey_weights = np.array([0.2989, 0.587, 0.114], dtype=np.float32)
    clip = np.clip(clip * np.float32(brightness), 0.0, 1.0)
    mean = (clip @ grey_weights).mean(axis=(1, 2))[:, None, None, None]
    clip = np.clip(np.float32(contrast) * clip + np.float32(1.0 - contrast) * mean, 0.0, 1.0)
    grey = (clip @ grey_weights)[..., None]
    return np.clip(np.float32(saturation) * clip + np.float32(1.0 - saturation) * grey, 0.0, 1.0).astype(np.float32)
