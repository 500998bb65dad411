"""Feature extraction: one embedding per tracklet, the mean over its test clips."""

from __future__ import annotations

import sys

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from reid.config import check_choice
from reid.data.clip_dataset import EvalClips
from reid.data.tracklet import Tracklet
from reid.data.transforms import ClipTransform
from reid.engine.cuda_choices import extraction_autocast, non_blocking, pin_memory
from reid.models.reid_net import ReIDNet

FEATURES = ("embedding", "neck")  # eval.feature: what a clip is represented by at test time


@torch.no_grad()
def extract_features(
    model: ReIDNet,
    tracklets: list[Tracklet],
    *,
    height: int,
    width: int,
    seq_len: int,
    max_frames: int,
    batch_size: int = 32,
    workers: int = 0,
    device: torch.device | str = "cpu",
    amp: bool = False,  # CUDA only: on CPU, bfloat16 features would create spurious distance ties
    progress: bool | None = None,  # None: a bar when stderr is a terminal
    feature: str = "embedding",
    resize: int = 0,
) -> np.ndarray:
    """Embed every tracklet.

    Returns:
        (N, D) float32 array: per tracklet, the mean of its clip embeddings weighted by each
        clip's number of distinct frames (raw, not normalised; the cosine distance normalises).
        With average pooling this is the mean of the frame embeddings. ``feature="neck"``
        embeds with the model's BNNeck output instead (an affine map of the embedding in eval
        mode, so the clip mean commutes with it). ``resize`` > 0: frames are resized to that
        shorter side and centre-cropped to height x width (``ClipTransform``).
    """
    check_choice(feature, FEATURES, "eval.feature")
    device = torch.device(device)
    dataset = EvalClips(tracklets, seq_len=seq_len, max_frames=max_frames,
                        transform=ClipTransform(height, width, train=False, resize=resize))
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        pin_memory=pin_memory(device))
    was_training = model.training
    model.eval()
    sums = torch.zeros(len(tracklets), model.dim, dtype=torch.float64)
    counts = torch.zeros(len(tracklets), dtype=torch.float64)
    amp_dtype, amp_on = extraction_autocast(device, amp)
    async_copy = non_blocking(device)
    show = sys.stderr.isatty() if progress is None else progress
    for clips, owner, real in tqdm(loader, desc="extract", disable=not show, leave=False):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_on):
            emb = model(clips.to(device, non_blocking=async_copy)).embedding
            if feature == "neck":
                emb = model.neck(emb)
        weight = real.double()
        sums.index_add_(0, owner, emb.float().cpu().double() * weight[:, None])
        counts.index_add_(0, owner, weight)
    model.train(was_training)
    return (sums / counts.clamp(min=1).unsqueeze(1)).float().numpy()
