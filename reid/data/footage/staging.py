"""Writing a footage root whole or not at all, and remembering which video each camera came from.

Everything is written into a staging folder beside ROOT (same file system) and renamed into place
at the end: a failed run leaves ROOT as it was. ``ROOT/footage.json`` records, per camera, the
source video (name, size in bytes, frames decoded) and what was made of it; a later run into the
same ROOT may add cameras, and refuses a camera that ROOT already holds.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType

from reid.data.footage.video import VideoSource
from reid.errors import DatasetError

MANIFEST = "footage.json"
FORMAT = "osmcaa-reid footage tracks 1"
PID_BLOCK = 1000  # each video's pids start at a multiple of this, past the pids already used


def read_manifest(root: Path) -> dict[int, dict]:
    """Camera id -> record of ``root/footage.json``; {} for a missing or empty ``root``.

    Raises:
        DatasetError: ``root`` is a file, holds files but no manifest (not written by this tool),
            or has a manifest that does not parse.
    """
    if not root.exists():
        return {}
    if not root.is_dir():
        raise DatasetError(f"output {root} is a file; expected a folder (new or written by track_video)")
    path = root / MANIFEST
    if not path.is_file():
        if any(root.iterdir()):
            raise DatasetError(f"output {root} holds files but no {MANIFEST}, so it was not written by "
                               "track_video; choose a new --out")
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return {int(rec["camid"]): rec for rec in data["cameras"]}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DatasetError(f"{path} is not a footage manifest ({exc}); expected format {FORMAT!r}") from None


def check_new_camera(root: Path, manifest: dict[int, dict], camid: int, video: Path, source: VideoSource) -> None:
    """Refuse a camera that ``root`` already holds, naming the video its tracks came from."""
    if camid not in manifest:
        return
    old = VideoSource(**manifest[camid]["video"])
    if (old.name, old.size) != (source.name, source.size):
        raise DatasetError(f"{root} already holds the tracks of camera {camid} from another video, "
                           f"{old.describe()}, not {video} ({source.size} bytes); use another --out or --camid")
    raise DatasetError(f"{root} already holds the tracks of camera {camid} from {video} ({old.describe()}); "
                       f"delete {root} to make them again")


def next_pid_offset(records: list[dict]) -> int:
    """The first multiple of PID_BLOCK past every pid the records used (0 when there are none)."""
    if not records:
        return 0
    return math.ceil((max(rec["max_pid"] for rec in records) + 1) / PID_BLOCK) * PID_BLOCK


class Staging:
    """``with Staging(root) as stage:`` write under ``stage.dir``, then ``stage.commit(records)``.

    Leaving the block without a commit, or by an exception, deletes the staging folder.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        parent = self.root.absolute().parent
        parent.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f".{self.root.name}.", suffix=".partial", dir=parent))

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def commit(self, records: list[dict]) -> None:
        """Write the manifest and move the staged files into ``root``.

        A new (or empty) root is the staging folder renamed. Into an existing root, every staged
        file and tracklet folder is checked first (none may exist there), then moved, and the
        manifest replaced last.
        """
        manifest = json.dumps({"format": FORMAT, "cameras": sorted(records, key=lambda r: r["camid"])}, indent=1)
        (self.dir / MANIFEST).write_text(manifest + "\n")
        if self.root.is_dir() and not any(self.root.iterdir()):
            self.root.rmdir()
        if not self.root.exists():
            os.rename(self.dir, self.root)
            return
        moves = [(p, self.root / p.relative_to(self.dir)) for p in _staged(self.dir)]
        for _, target in moves:
            if target.exists():
                raise DatasetError(f"{target} already exists; nothing was written into {self.root}")
        for source, target in moves:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(source, target)
        os.replace(self.dir / MANIFEST, self.root / MANIFEST)


def _staged(stage: Path) -> list[Path]:
    """Top-level files (tracks) and tracklet folders (``<split>/<pid>/<tracklet>``) of the staging folder."""
    items = sorted(p for p in stage.iterdir() if p.is_file() and p.name != MANIFEST)
    for split in sorted(p for p in stage.iterdir() if p.is_dir()):
        items += sorted(t for pid in split.iterdir() for t in pid.iterdir())
    return items
