"""Checkpoints that a crash can never corrupt (temporary file, fsync, rename) and that cannot run code.

Loading uses ``torch.load(weights_only=True)``: the unpickler accepts tensors and plain containers
(dict, list, tuple, str, numbers, None) and nothing else, so a checkpoint from someone else can
hold weights but never an object whose unpickling executes code. Everything this project writes
into a checkpoint is of those types.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from reid.errors import ReIDError

logger = logging.getLogger(__name__)


class CheckpointError(ReIDError, RuntimeError):
    """A checkpoint file is missing, unreadable or lacks an expected key."""


class OutputWriteError(ReIDError, OSError):
    """An output file could not be written (most often: its disk is full); the old file is intact."""


def _free_mb(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.0f} MB free"
    except OSError:
        return "free space unknown"


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
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        # torch.save reports a short write as RuntimeError("... unexpected pos ..."), which names
        # neither the file nor the cause: say both, and leave any other error as it was
        if isinstance(exc, OSError) or (isinstance(exc, RuntimeError) and "unexpected pos" in str(exc)):
            raise OutputWriteError(f"{path}: could not be written ({_free_mb(path.parent)} on its disk; "
                                   f"the previous file, if any, is unchanged): {exc}") from exc
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


LATEST = "checkpoint.pt"
_NUMBERED = re.compile(r"^checkpoint-(\d+)\.pt$")


class CheckpointSeries:
    """The checkpoints of one run folder: ``checkpoint.pt`` (newest) and ``checkpoint-<iteration>.pt``.

    Saving renames the current ``checkpoint.pt`` to its numbered name (an atomic rename, no copy),
    writes the new one atomically and deletes the oldest numbered files beyond ``keep`` in all.
    A kill at any moment leaves every file complete: at worst ``checkpoint.pt`` is missing and the
    newest numbered file holds the last state. Temporary files of an interrupted write start with a
    dot and are never read.

    Args:
        folder: the run folder.
        keep: how many checkpoints to keep (>= 1; 1 = overwrite ``checkpoint.pt``).
    """

    def __init__(self, folder: str | os.PathLike, keep: int = 3) -> None:
        self.folder = Path(folder)
        self.keep = int(keep)
        self.latest_iteration: int | None = None  # the iteration checkpoint.pt holds, once known

    @property
    def latest(self) -> Path:
        return self.folder / LATEST

    def numbered(self) -> list[tuple[int, Path]]:
        """``(iteration, path)`` of the numbered checkpoints, newest first."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _NUMBERED.match(p.name))]
        return sorted(found, reverse=True)

    def candidates(self) -> list[Path]:
        """Every checkpoint of the folder, newest first."""
        return ([self.latest] if self.latest.is_file() else []) + [p for _, p in self.numbered()]

    def save(self, state: dict[str, Any], iteration: int) -> Path:
        latest = self.latest
        if (self.keep > 1 and latest.is_file() and self.latest_iteration is not None
                and self.latest_iteration != iteration):
            os.replace(latest, self.folder / f"checkpoint-{self.latest_iteration:08d}.pt")
        save_checkpoint(latest, state)
        self.latest_iteration = iteration
        for _, old in self.numbered()[max(self.keep - 1, 0):]:
            old.unlink(missing_ok=True)
        return latest

    def load_newest(self, required: tuple[str, ...] = ("model",)) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that loads; each unreadable one is skipped with a warning."""
        for path in self.candidates():
            try:
                state = load_checkpoint(path, required=required)
            except CheckpointError as exc:
                logger.warning("%s; skipped, trying an older checkpoint", exc)
                continue
            if path == self.latest:
                self.latest_iteration = int(state.get("iteration", -1))
            return path, state
        return None

    def remove_partial(self) -> int:
        """Delete temporary files that interrupted writes left (the caller holds the run lock)."""
        if not self.folder.is_dir():
            return 0
        stale = [p for p in self.folder.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")
                 and p.name[1:].startswith(("checkpoint", "best", "model"))]
        for p in stale:
            p.unlink(missing_ok=True)
        return len(stale)

    def clear(self) -> list[str]:
        """Delete every checkpoint of the folder (a new run starts there); returns their names."""
        names = []
        for path in self.candidates() + [self.folder / "best.pt", self.folder / BEST_RECORD]:
            if path.is_file():
                path.unlink()
                names.append(path.name)
        self.latest_iteration = None
        return names


BEST_RECORD = "best.json"


class BestCheckpoint:
    """``best.pt``: the weights (and config) of the evaluation with the highest ``metric`` so far.

    ``best.json`` beside it holds ``{"metric", "value", "iteration"}``, so a resumed run (or the
    final evaluation) compares against the best without loading the weights.
    """

    def __init__(self, folder: str | os.PathLike, metric: str) -> None:
        self.folder, self.metric = Path(folder), metric

    @property
    def path(self) -> Path:
        return self.folder / "best.pt"

    def record(self) -> dict | None:
        path = self.folder / BEST_RECORD
        if not path.is_file() or not self.path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and record.get("metric") == self.metric else None

    def offer(self, value: float, iteration: int, make_state) -> bool:
        """Write ``make_state()`` as best.pt when ``value`` beats the recorded best; True if it did."""
        if not math.isfinite(value):
            return False
        record = self.record()
        if record is not None and not value > float(record["value"]):
            return False
        save_checkpoint(self.path, {**make_state(), "best": {"metric": self.metric, "value": value,
                                                             "iteration": iteration}})
        text = json.dumps({"metric": self.metric, "value": value, "iteration": iteration}, indent=1)
        atomic_write_bytes(self.folder / BEST_RECORD, lambda f: f.write(text.encode()))
        logger.info("best.pt: %s %.2f at iteration %d", self.metric, value, iteration)
        return True
