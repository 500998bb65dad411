"""Checkpoints that a crash can never corrupt (temporary file, fsync, rename) and that cannot run code.

Loading uses ``torch.load(weights_only=True)``: the unpickler accepts tensors and plain containers
(dict, list, tuple, str, numbers, None) and nothing else, so a checkpoint from someone else can
hold weights but never an object whose unpickling executes code. Everything this project writes
into a checkpoint is of those types.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from reid.errors import ReIDError


class CheckpointError(ReIDError, RuntimeError):
    """A checkpoint file is missing, unreadable or lacks an expected key."""


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, then atomically replace ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; outputs get the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Save ``state`` with torch.save, atomically (the old file stays intact on any failure)."""
    atomic_write_bytes(path, lambda f: torch.save(state, f))


def load_checkpoint(path: str | os.PathLike, required: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """Load a checkpoint on the CPU and check it has the ``required`` keys."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights_only" in str(exc) or "Weights only" in str(exc):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CheckpointError(
                f"checkpoint {path} was refused: it holds objects other than tensors and plain containers, "
                f"and loading them could run code ({first})"
            ) from None
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or not a checkpoint): {exc}") from exc
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read (truncated or not a checkpoint): {exc}") from exc
    missing = [k for k in required if not isinstance(state, dict) or k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks keys {missing}")
    return state
