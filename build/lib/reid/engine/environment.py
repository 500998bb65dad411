"""What a run ran on: versions, device, CPU features, threads and the git commit, for the run folder."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from reid.engine.checkpoint import atomic_write_bytes
from reid.engine.precision import cpu_flags, isa_cap

PACKAGES = ("torch", "torchvision", "numpy", "opencv-python-headless", "opencv-python", "decord",
            "scikit-learn", "pandas", "scipy", "faiss-cpu", "onnxruntime", "tensorboard")


def _git_commit(folder: Path) -> dict[str, Any] | None:
    """The commit of the checkout that holds ``folder`` and whether it has local changes, if any."""
    try:
        commit = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "local_changes": bool(dirty)}


def cpu_model_name(cpuinfo: str | os.PathLike = "/proc/cpuinfo") -> str:
    """The CPU's model name from cpuinfo ("Intel(R) Xeon(R) ..."), else what platform knows."""
    try:
        for line in Path(cpuinfo).read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_environment(device: torch.device) -> dict[str, Any]:
    """Versions, device, CPU features, threads, host, command line and git commit of this process."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    info: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": socket.gethostname(),
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": str(device),
        "cpu": cpu_model_name(),
        "cpu_count": os.cpu_count(),
        "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))),
        "cpu_kernels": torch.backends.cpu.get_cpu_capability(),  # the vector ISA torch's own kernels use
        "isa_cap": isa_cap(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
    }
    if device.type == "cuda" and torch.cuda.is_available():
        index = device.index if device.index is not None else torch.cuda.current_device()
        info["gpu"] = torch.cuda.get_device_name(index)
        info["gpu_count"] = torch.cuda.device_count()
    git = _git_commit(Path(__file__).resolve().parent)
    if git is not None:
        info["git"] = git
    return info


def record_environment(path: str | os.PathLike, device: torch.device, world_size: int = 1,
                       backend: str = "none") -> dict[str, Any]:
    """Append this session's environment to ``path`` (a JSON list: one entry per start or resume)."""
    path = Path(path)
    sessions: list = []
    if path.is_file():
        try:
            sessions = json.loads(path.read_text())
        except ValueError:
            sessions = []
        sessions = sessions if isinstance(sessions, list) else []
    info = describe_environment(device)
    info["world_size"], info["dist_backend"] = world_size, backend
    sessions.append(info)
    text = json.dumps(sessions, indent=1)
    atomic_write_bytes(path, lambda f: f.write(text.encode()))
    return info
