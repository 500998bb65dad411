"""What a CUDA device changes in a run, each decision a small function of the device.

No CUDA code path of this project has run on a GPU yet (README, "What has run on a GPU"): the
decisions are kept here, apart from the code that acts on them, so that CPU tests cover each one
(tests/test_cuda_choices.py). The others live beside their subject: the process group's backend
(``reid.engine.distributed.choose_backend``), SyncBatchNorm under NCCL
(``reid.engine.distributed.convert_global_bn``) and fp16 with a gradient scaler for ``auto``
(``reid.engine.precision.resolve_precision``).

cuDNN: a CUDA run autotunes its convolutions (``cudnn.benchmark``): a training batch always has
the same shape (P x K clips of T frames at H x W), so the search runs once and the fastest
kernels run after it. The kernels it picks may differ between runs, so a GPU run is not
bit-reproducible (the CPU runs are, README "Long runs"); ``deterministic=True`` would give that
up speed for a promise this project makes on CPU only.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def is_cuda(device: torch.device | str) -> bool:
    return torch.device(device).type == "cuda"


def pin_memory(device: torch.device | str) -> bool:
    """Whether a DataLoader feeding ``device`` should return page-locked batches (CUDA only:
    pinning costs a copy and locked RAM, and helps nothing but host-to-GPU transfers)."""
    return is_cuda(device)


def non_blocking(device: torch.device | str) -> bool:
    """Whether ``tensor.to(device)`` may return before the copy is done (host to CUDA; with pinned
    memory the copy then overlaps the computation). On a CPU the flag means nothing: False."""
    return is_cuda(device)


def cudnn_settings(device: torch.device | str) -> dict[str, bool] | None:
    """``torch.backends.cudnn`` flags a run on ``device`` sets, None where it sets none (CPU)."""
    if not is_cuda(device):
        return None
    return {"benchmark": True, "deterministic": False}


def apply_cudnn_settings(device: torch.device | str) -> dict[str, bool] | None:
    """Set ``cudnn_settings(device)`` (process-wide) and return them."""
    settings = cudnn_settings(device)
    if settings is not None:
        torch.backends.cudnn.benchmark = settings["benchmark"]
        torch.backends.cudnn.deterministic = settings["deterministic"]
    return settings


def ddp_device_ids(device: torch.device) -> list[int] | None:
    """DistributedDataParallel's ``device_ids``: the one GPU of this process, None on a CPU."""
    if not is_cuda(device):
        return None
    return [device.index if device.index is not None else torch.cuda.current_device()]


def extraction_autocast(device: torch.device | str, amp: bool) -> tuple[torch.dtype, bool]:
    """(dtype, enabled) of feature extraction's autocast: fp16 on CUDA when ``amp``; never on a
    CPU, where bf16 features would create spurious distance ties."""
    cuda = is_cuda(device)
    return (torch.float16 if cuda else torch.bfloat16), amp and cuda
