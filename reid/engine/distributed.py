"""Distributed data-parallel training: the process group, collectives with gradients, global BN.

A run started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) joins a process group; every
rank draws its share of the same global P x K batch, the loss sees the whole batch (embeddings and
labels gathered from all ranks) and DistributedDataParallel averages the gradients. The same loss
value is then computed on every rank; the gathering collectives sum their gradients over ranks,
and DDP's average divides that sum by the world size again, so every parameter receives exactly the
gradient of the one-process run on the global batch (tests/test_distributed.py checks it).
"""

from __future__ import annotations

import gc
import logging
import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from reid.errors import ConfigError

logger = logging.getLogger(__name__)

DIST_BACKENDS = ("gloo", "nccl")  # train.dist_backend: one of these, or auto

__all__ = ["DistContext", "GlobalBatchNorm", "choose_backend", "convert_global_bn", "gather_rows", "gather_with_grad",
           "init_distributed", "shutdown_distributed", "share_of"]


@dataclass
class DistContext:
    """Where this process stands in the run: rank, world size, backend (``none`` alone)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = "none"

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs and reports."""
        return self.rank == 0

    def describe(self) -> str:
        if not self.enabled:
            return "world size 1 (no process group)"
        return f"world size {self.world_size}, backend {self.backend}, rank {self.rank}"

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def broadcast_object(self, obj, src: int = 0):
        """``obj`` of rank ``src`` on every rank (a picklable value of our own making)."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def all_true(self, flag: bool) -> bool:
        """True when ``flag`` is true on every rank (one all-reduce)."""
        if not self.enabled:
            return flag
        t = torch.tensor([0 if flag else 1], dtype=torch.int64, device=self.collective_device)
        dist.all_reduce(t)
        return int(t.item()) == 0

    @property
    def collective_device(self) -> torch.device:
        return torch.device("cuda", torch.cuda.current_device()) if self.backend == "nccl" else torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r}: expected an integer (as torchrun sets it)") from None


def choose_backend(requested: str, device: str, cuda_available: bool) -> str:
    """``train.dist_backend`` resolved: ``auto`` is NCCL where the processes train on GPUs (``device``
    auto or cuda with CUDA present, or an explicit cuda:N), gloo otherwise.

    Raises:
        ConfigError: an unknown backend, or nccl without CUDA.
    """
    use_cuda = cuda_available and device in ("auto", "cuda") or device.startswith("cuda:")
    backend = ("nccl" if use_cuda else "gloo") if requested == "auto" else requested
    if backend not in DIST_BACKENDS:
        raise ConfigError(f"config key 'train.dist_backend': {backend!r}; valid: auto, {', '.join(DIST_BACKENDS)}")
    if backend == "nccl" and not cuda_available:
        raise ConfigError("config key 'train.dist_backend': nccl needs CUDA; use gloo (or auto) on CPU")
    return backend


def init_distributed(device: str = "auto", backend: str = "auto", timeout_s: float = 1800.0) -> DistContext:
    """Join the process group that ``torchrun`` describes in the environment, if it describes one.

    Args:
        device: the config's ``device``; ``auto`` or ``cuda`` with CUDA present gives NCCL and one GPU
            per process (``cuda:LOCAL_RANK``), anything else gloo on CPU.
        backend: ``auto``, ``gloo`` or ``nccl``.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistContext()
    if dist.is_initialized():
        return DistContext(dist.get_rank(), dist.get_world_size(), _env_int("LOCAL_RANK", 0), dist.get_backend())
    rank, local = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    backend = choose_backend(backend, device, torch.cuda.is_available())
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(backend=backend, rank=rank, world_size=world, timeout=timedelta(seconds=timeout_s))
    return DistContext(rank, world, local, backend)


def shutdown_distributed(ctx: DistContext, clean: bool = True) -> None:
    """Leave the process group so that every rank exits cleanly.

    On a clean finish the ranks first meet at a barrier (a rank that returned early, such as a
    non-writing rank after evaluation, waits for rank 0's report), then unreferenced DDP reducers
    and their pending gloo work are collected while the interpreter is fully alive: otherwise gloo's
    worker threads can release tensors during interpreter shutdown and abort the process (SIGABRT,
    "terminate called without an active exception"), failing a run that had succeeded. After an
    error no barrier is attempted (the other ranks may never arrive); torchrun stops them.
    """
    if not ctx.enabled or not dist.is_initialized():
        return
    if clean:
        dist.barrier()
    gc.collect()
    dist.destroy_process_group()


def share_of(batch_size: int, ctx: DistContext) -> slice:
    """The slots of a global batch that this rank draws: a contiguous 1/world_size of it."""
    if batch_size % ctx.world_size:
        raise ConfigError(f"a global batch of {batch_size} clips (data.num_identities x data.num_instances) does not "
                          f"split into {ctx.world_size} equal shares; choose a multiple of the world size")
    n = batch_size // ctx.world_size
    return slice(ctx.rank * n, (ctx.rank + 1) * n)


class _GatherRows(torch.autograd.Function):
    """all_gather along dim 0; the gradient of each rank's slice is the sum over the ranks of theirs."""

    @staticmethod
    def forward(fn_ctx, x: torch.Tensor, world: int, rank: int) -> torch.Tensor:
        fn_ctx.world, fn_ctx.rank, fn_ctx.rows = world, rank, x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(fn_ctx, grad: torch.Tensor):
        grad = grad.contiguous()
        dist.all_reduce(grad)
        n = fn_ctx.rows
        return grad[fn_ctx.rank * n : (fn_ctx.rank + 1) * n], None, None


def gather_with_grad(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's ``x`` (equal shapes) along dim 0, rank order; differentiable.

    The backward pass sums each slice's gradient over the ranks (every rank computes the same loss
    on the gathered tensor, so that sum is world_size times the gradient, which DDP's average undoes).
    """
    if not ctx.enabled:
        return x
    return _GatherRows.apply(x, ctx.world_size, ctx.rank)


def gather_rows(x: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Concatenate every rank's ``x`` along dim 0 without gradients (labels, indices)."""
    if not ctx.enabled:
        return x
    out = [torch.empty_like(x) for _ in range(ctx.world_size)]
    dist.all_gather(out, x.contiguous())
    return torch.cat(out, dim=0)


def gather_features(features: np.ndarray, owners: np.ndarray, total: int, ctx: DistContext) -> np.ndarray:
    """Reassemble a feature matrix that the ranks computed in parts.

    Args:
        features: (n_r, D) this rank's rows.
        owners: (n_r,) the row index of each of them in the full matrix.
        total: rows of the full matrix; every row must come from exactly one rank.
    """
    if not ctx.enabled:
        return features
    parts: list = [None] * ctx.world_size
    dist.all_gather_object(parts, (np.asarray(owners, dtype=np.int64), np.asarray(features, dtype=np.float32)))
    dim = max((f.shape[1] for _, f in parts if f.ndim == 2 and f.shape[0]), default=features.shape[1])
    full = np.zeros((total, dim), dtype=np.float32)
    seen = np.zeros(total, dtype=np.int64)
    for rows, feats in parts:
        if len(rows):
            full[rows] = feats
            np.add.at(seen, rows, 1)
    if not (seen == 1).all():
        raise RuntimeError(f"gathered features cover {int((seen == 1).sum())} of {total} rows exactly once")
    return full


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are taken over the batch of every rank (any device).

    torch's SyncBatchNorm runs on GPUs only; this gathers each rank's per-channel count, mean and
    sum of squared deviations (differentiably) and merges them with Chan's pairwise formula, which stays
    accurate where a raw sum of squares would cancel, so the result equals BatchNorm on the concatenated
    batch, on CPU with gloo as well. In eval mode, or alone, it is plain batch norm.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, ctx: DistContext | None = None) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats)
        self.ctx = ctx or DistContext()

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2-D input (got {input.dim()}-D)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.ctx.enabled):
            return super().forward(x)
        dims = [0] + list(range(2, x.dim()))
        xf = x.float()
        c = self.num_features
        n_local = x.numel() // c
        # Each rank's mean and sum of squared deviations, merged exactly (Chan et al.): no
        # E[x^2] - E[x]^2 cancellation, so the result is batch norm on the concatenated batch.
        mean_r = xf.mean(dims)
        m2_r = ((xf - mean_r.view([1, c] + [1] * (x.dim() - 2))) ** 2).sum(dims)
        count = torch.full((1,), float(n_local), device=x.device)
        rows = _GatherRows.apply(torch.cat([mean_r, m2_r, count])[None], self.ctx.world_size, self.ctx.rank)
        means, m2s, counts = rows[:, :c], rows[:, c : 2 * c], rows[:, 2 * c : 2 * c + 1]
        n = counts.sum()
        mean = (means * counts).sum(0) / n
        var = ((m2s + counts * (means - mean) ** 2).sum(0) / n).clamp(min=0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * (n / (n - 1).clamp(min=1))
                self.running_mean.mul_(1 - m).add_(mean.detach().to(self.running_mean.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_(unbiased.detach().to(self.running_var.dtype), alpha=m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (xf - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(x.dtype)


def convert_global_bn(module: nn.Module, ctx: DistContext) -> nn.Module:
    """Every batch norm inside ``module`` synchronised over the ranks: torch's SyncBatchNorm on CUDA
    (NCCL), GlobalBatchNorm elsewhere. Weights and running statistics carry over, so the state
    dict keys do not change and a checkpoint loads into the model with or without it."""
    if ctx.backend == "nccl":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, GlobalBatchNorm):
        new = GlobalBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                              module.track_running_stats, ctx)
        with torch.no_grad():
            if module.affine:
                new.weight.copy_(module.weight)
                new.bias.copy_(module.bias)
                new.weight.requires_grad_(module.weight.requires_grad)
                new.bias.requires_grad_(module.bias.requires_grad)
            if module.track_running_stats:
                new.running_mean.copy_(module.running_mean)
                new.running_var.copy_(module.running_var)
                new.num_batches_tracked.copy_(module.num_batches_tracked)
        new.train(module.training)
        return new
    for name, child in module.named_children():
        module.add_module(name, convert_global_bn(child, ctx))
    return module


def broadcast_buffers(module: nn.Module, ctx: DistContext) -> None:
    """Rank 0's buffers (BN running statistics) on every rank, e.g. before all ranks evaluate."""
    if ctx.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def describe_world(ctx: DistContext, device: torch.device) -> str:
    """The first line of a distributed run, e.g. ``world size 2, backend gloo, device cpu``."""
    if not ctx.enabled:
        return f"world size 1, device {device}"
    return (f"world size {ctx.world_size}, backend {ctx.backend}, device {device.type} "
            f"(rank 0 of {ctx.world_size} writes)")


def quiet_other_ranks(ctx: DistContext) -> None:
    """Ranks other than 0 log warnings only, prefixed with their rank."""
    if ctx.enabled and not ctx.is_main:
        root = logging.getLogger()
        root.setLevel(logging.WARNING)
        for handler in root.handlers:
            handler.setFormatter(logging.Formatter(f"[rank {ctx.rank}] %(levelname)s %(name)s: %(message)s"))
