"""One writer per run folder: a lock file that a second run into the same folder refuses to pass.

The lock holds the owner's pid, host and start time. A lock left by a process that no longer runs
on this host (a killed run) is taken over with a warning; a lock of a live process, or of another
host (whose processes cannot be checked), is an error that names it. The same process may take
the lock again (the entry script around ``run_training``), so it is re-entrant.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path

from reid.errors import ConfigError

logger = logging.getLogger(__name__)

LOCK_NAME = ".run.lock"
_held: dict[Path, int] = {}  # lock path -> nesting depth, for this process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(output_dir): ...``; raises ConfigError when another run holds the folder."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder).resolve() / LOCK_NAME

    def __enter__(self) -> "RunLock":
        if self.path in _held:
            _held[self.path] += 1
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._handle_existing()
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            _held[self.path] = 1
            return self
        raise ConfigError(f"could not take the lock {self.path}: it keeps reappearing")

    def _handle_existing(self) -> None:
        try:
            owner = json.loads(self.path.read_text())
            pid, host, started = int(owner["pid"]), str(owner["host"]), str(owner.get("started", "?"))
        except (OSError, ValueError, KeyError, TypeError):
            logger.warning("%s is unreadable (a run killed while writing it?): taking it over", self.path)
            self.path.unlink(missing_ok=True)
            return
        if host == socket.gethostname() and not _alive(pid):
            logger.warning("%s was left by pid %d, which no longer runs (killed?): taking it over", self.path, pid)
            self.path.unlink(missing_ok=True)
            return
        raise ConfigError(f"{self.path.parent} is in use by another run (pid {pid} on {host}, since {started}); "
                          f"wait for it, choose another output_dir, or delete {self.path} if that run is gone")

    def __exit__(self, *exc: object) -> None:
        _held[self.path] -= 1
        if _held[self.path] == 0:
            del _held[self.path]
            self.path.unlink(missing_ok=True)
