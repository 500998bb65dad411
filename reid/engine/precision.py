"""Which arithmetic a training step runs in: ``train.precision`` resolved for this machine.

On CUDA, mixed precision is fp16 autocast with a gradient scaler. On a CPU, bf16 autocast is fast
only where the CPU multiplies bf16 natively (``avx512_bf16`` or ``amx_bf16``); elsewhere (AVX2-only
CPUs such as many AMD EPYC servers) oneDNN emulates it and a ResNet step runs ~20x slower than in
fp32. ``auto`` therefore never picks emulated arithmetic, and where bf16 is native it still times
the real model on the real batch shape before choosing it.

A process whose oneDNN is capped below bf16 (``ONEDNN_MAX_CPU_ISA=AVX2``, the way to reproduce an
AVX2-only machine's kernels on a newer CPU) counts as having no native bf16: the cap, not the CPU,
decides which kernels run.

fp16 on a CPU runs only when asked for (``train.precision=fp16``) and where torch's CPU autocast
takes fp16 (torch >= 2.3 or so): it is the CUDA mixed-precision path, autocast plus
``torch.amp.GradScaler("cpu")``, so that the scaler's skips, checkpoints and resume are tested
without a GPU. Its arithmetic is emulated there (7-14x slower than fp32 for a small ResNet-18 step on
an AMD EPYC with AVX-512 and avx512_bf16, no avx512_fp16), so ``auto`` never picks it and a warning
says so.
"""

from __future__ import annotations

import copy
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from reid.config import check_choice
from reid.errors import ConfigError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # CPU flags of native bf16 arithmetic
# oneDNN's ISA cap names (ONEDNN_MAX_CPU_ISA) whose kernels have no native bf16 dot products; the
# names from AVX512_CORE_BF16 up (AVX10_1_512, the AMX ones, ALL, DEFAULT) keep them.
ISA_CAPS_WITHOUT_BF16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")
ISA_CAP_VARIABLES = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")
_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16
    reason: str  # why this one runs, for the log

    @property
    def dtype(self) -> torch.dtype | None:
        """The autocast dtype, None for plain fp32."""
        return _DTYPES[self.name]

    @property
    def needs_scaler(self) -> bool:
        """Whether gradients need a ``GradScaler`` (fp16's narrow range; bf16 has fp32's)."""
        return self.name == "fp16"

    def autocast(self, device_type: str) -> torch.autocast:
        """The autocast context of this precision (disabled for fp32)."""
        return _autocast(device_type, self.dtype)


def _autocast(device_type: str, dtype: torch.dtype | None) -> torch.autocast:
    return torch.autocast(device_type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)


def cpu_autocast_supports(dtype: torch.dtype) -> bool:
    """Whether this torch's CPU autocast runs in ``dtype`` (it disables itself, with a warning, where not)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autocast("cpu", dtype=dtype):
            return torch.is_autocast_enabled("cpu")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags of the first processor ('' where the file cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def isa_cap(environ: dict[str, str] | None = None) -> str | None:
    """``NAME=VALUE`` of the oneDNN ISA cap set in the environment, None where none is."""
    environ = os.environ if environ is None else environ
    for name in ISA_CAP_VARIABLES:
        if environ.get(name):
            return f"{name}={environ[name]}"
    return None


def cpu_has_native_bf16(flags: set[str] | None = None, environ: dict[str, str] | None = None) -> bool:
    """Whether bf16 matrix products run natively here: the CPU has the flags and no ISA cap hides them."""
    flags = cpu_flags() if flags is None else flags
    cap = isa_cap(environ)
    if cap is not None and cap.split("=", 1)[1].strip().upper() in ISA_CAPS_WITHOUT_BF16:
        return False
    return bool(flags & set(NATIVE_BF16_FLAGS))


def resolve_precision(requested: str, device: torch.device, *, native_bf16: bool | None = None) -> Precision:
    """The precision to run for ``train.precision = requested`` on ``device``.

    ``auto`` on a CPU with native bf16 comes back as ``Precision("bf16", "probe")``: the caller
    decides with :func:`probe_faster` on its real batch.

    Raises:
        ConfigError: an unknown name, or fp16 on a CPU whose torch has no fp16 CPU autocast.
    """
    check_choice(requested, PRECISIONS, "train.precision")
    native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    if device.type == "cuda":
        if requested == "auto":
            return Precision("fp16", "auto: fp16 autocast with a gradient scaler on CUDA")
        return Precision(requested, "train.precision")
    if requested == "fp16":
        if not cpu_autocast_supports(torch.float16):
            raise ConfigError(f"train.precision=fp16 is for CUDA (torch {torch.__version__} has no fp16 CPU "
                              "autocast); on a CPU use bf16, fp32 or auto")
        logger.warning("train.precision=fp16 on a CPU: the CUDA mixed-precision path (fp16 autocast and a "
                       "gradient scaler) with emulated arithmetic, several times slower than fp32; for "
                       "testing that path, not for training")
        return Precision("fp16", "train.precision (fp16 on a CPU: emulated, for testing)")
    cap = isa_cap()
    why = f"oneDNN is capped by {cap}" if cap else "no avx512_bf16/amx_bf16"
    if requested == "auto":
        if not native:
            return Precision("fp32", f"auto: this CPU has no native bf16 ({why})")
        return Precision("bf16", "probe")
    if requested == "bf16" and not native:
        logger.warning("train.precision=bf16 on a CPU without native bf16 (%s): the arithmetic is emulated "
                       "and a step is typically ~20x slower than fp32", why)
    return Precision(requested, "train.precision")


def _step_seconds(model: nn.Module, clips: torch.Tensor, dtype: torch.dtype | None, steps: int) -> float:
    """Median seconds of a forward+backward of ``model`` on ``clips`` (after one warm-up step)."""
    times = []
    for i in range(steps + 1):
        start = time.perf_counter()
        with _autocast("cpu", dtype):
            out = model(clips)
        out.embedding.float().square().mean().backward()
        model.zero_grad(set_to_none=True)
        if i:
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def probe_faster(model: nn.Module, clips: torch.Tensor, steps: int = 2) -> Precision:
    """Time bf16 against fp32 on a copy of ``model`` (its weights and statistics stay untouched)."""
    trial = copy.deepcopy(model).train()
    fp32 = _step_seconds(trial, clips, None, steps)
    bf16 = _step_seconds(trial, clips, torch.bfloat16, steps)
    name = "bf16" if bf16 < 0.9 * fp32 else "fp32"
    return Precision(name, f"auto: timed on this batch, bf16 {bf16:.2f} s vs fp32 {fp32:.2f} s a step")
