"""Own footage: tracklet folders ``<pid>/<camid>_<tracklet>/*.jpg``, optionally under train/query/gallery.

Layout (see docs/own_footage.md)::

    root/train/<pid>/<camid>_<tracklet>/<frame>.jpg     # split layout: any of train, query,
    root/query/<pid>/<camid>_<tracklet>/<frame>.jpg     # gallery may be present
    root/gallery/<pid>/<camid>_<tracklet>/<frame>.jpg
    root/<pid>/<camid>_<tracklet>/<frame>.jpg           # or: no split folders, everything is train
    root/<camid>_<tracklet>/<frame>.jpg                 # or: unlabelled, every folder one tracklet

In the unlabelled layout (``reid.data.footage.gallery.load_unlabelled``) everything is train and
each tracklet is its own pid (0..N-1 in folder order): the labels are track ids, for training
without identity labels (``data.labels: ignore``); the camera is ``<camid>`` of a
``<camid>_<tracklet>`` folder name, else -1.

``pid``, ``camid`` and ``tracklet`` are non-negative integers (camid 0-based). Frames are sorted
numerically by the digit groups of their names (``9.jpg`` < ``10.jpg`` < ``100.jpg``). Train pids
are relabelled 0..K-1 in ascending order of the original pid; query and gallery keep theirs.

The small listing helpers here (``natural_key``, ``list_dirs``, ``list_frames``) are shared with
the other folder-based parsers.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from pathlib import Path

from reid.data.paths import is_id
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
SPLITS = ("train", "query", "gallery")
_DIGITS = re.compile(r"(\d+)")
_TRACKLET_DIR = re.compile(r"^(\d+)_(\d+)$")


def natural_key(name: str) -> tuple:
    """Sort key comparing the digit groups of ``name`` as numbers: ``f9`` < ``f10`` < ``f100``."""
    parts = _DIGITS.split(name)
    return tuple((0, int(p), p) if is_id(p) else (1, 0, p) for p in parts if p)


def list_dirs(path: Path) -> list[str]:
    """Names of the sub-folders of ``path``, sorted as strings (hidden folders ignored).

    Raises:
        DatasetError: ``path`` is not a folder.
    """
    if not path.is_dir():
        raise DatasetError(f"expected a folder at {path}, found none")
    return sorted(e.name for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))


def list_frames(
    path: Path, extensions: tuple[str, ...], skipped: Counter
) -> list[str]:
    """File names in ``path`` with one of ``extensions`` (any case), in natural order.

    Other files (``Thumbs.db``, ``.DS_Store``, ...) are left out and counted in
    ``skipped["non-image files"]``.
    """
    names, others = [], 0
    for entry in os.scandir(path):
        if not entry.is_file():
            continue
        if entry.name.lower().endswith(extensions) and not entry.name.startswith("."):
            names.append(entry.name)
        else:
            others += 1
    if others:
        skipped["non-image files"] += others
    return sorted(names, key=natural_key)


def _parse_int_dir(name: str, where: Path, what: str) -> int:
    if not is_id(name):
        raise DatasetError(f"{where / name}: folder name {name!r} is not a {what} (expected digits only)")
    return int(name)


def _read_split(split_dir: Path, split: str, skipped: Counter) -> list[Tracklet]:
    """Tracklets of one split folder ``<pid>/<camid>_<tracklet>/*``, pids as written."""
    tracklets = []
    for pid_name in list_dirs(split_dir):
        pid = _parse_int_dir(pid_name, split_dir, "person id")
        pid_dir = split_dir / pid_name
        for tdir in list_dirs(pid_dir):
            match = _TRACKLET_DIR.match(tdir)
            if match is None:
                raise DatasetError(
                    f"{pid_dir / tdir}: tracklet folder name {tdir!r} does not parse; "
                    "expected '<camid>_<tracklet>' with both integers, e.g. '0_0001'"
                )
            frames = list_frames(pid_dir / tdir, IMAGE_EXTENSIONS, skipped)
            if not frames:
                skipped["empty tracklet folders"] += 1
                continue
            tracklets.append(
                Tracklet(
                    frames=tuple(str(pid_dir / tdir / f) for f in frames),
                    pid=pid,
                    camid=int(match.group(1)),
                    name=f"{split}/{pid_name}/{tdir}",
                )
            )
    return tracklets


def relabel(tracklets: list[Tracklet]) -> list[Tracklet]:
    """Copy of ``tracklets`` with pids mapped to 0..K-1 in ascending order of the original pid."""
    mapping = {pid: label for label, pid in enumerate(sorted({t.pid for t in tracklets}))}
    return [dataclasses.replace(t, pid=mapping[t.pid]) for t in tracklets]


def load_folder(root: str | os.PathLike, split_id: int = 0) -> VideoReIDDataset:
    """Load own footage in the layout written by ``data_prep/crop_tracklets.py``.

    Args:
        root: the folder holding either ``train/``, ``query/``, ``gallery/`` (any subset) or
            the ``<pid>`` folders directly (then everything is train).
        split_id: must be 0; own footage has a single split.

    Returns:
        The dataset; query/gallery are empty in the no-split layout.

    Raises:
        DatasetError: missing root, split_id != 0, a name that does not parse, a mix of split
            folders and pid folders at the top level, or no tracklet at all.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"own-footage root {root} does not exist or is not a folder")
    if split_id != 0:
        raise DatasetError(f"own-footage dataset {root} has one split; split_id={split_id} is out of range (0..0)")
    from reid.data.footage.gallery import gallery_layout, load_unlabelled

    top = list_dirs(root)
    split_dirs = [d for d in top if d in SPLITS]
    if top and not split_dirs and gallery_layout(root) == "unlabelled":
        train = [dataclasses.replace(t, pid=i) for i, t in enumerate(load_unlabelled(root))]
        logger.info("loaded own footage from %s: unlabelled layout, %d tracklets, each its own pid", root, len(train))
        return VideoReIDDataset(name="folder", train=train, query=[], gallery=[])
    skipped: Counter = Counter()
    parts: dict[str, list[Tracklet]] = {s: [] for s in SPLITS}
    if split_dirs:
        extra = sorted(set(top) - set(SPLITS))
        if extra:
            raise DatasetError(
                f"{root}: found split folders {split_dirs} and other folders {extra[:5]}; "
                "expected only train/, query/, gallery/ (or only <pid> folders)"
            )
        for split in split_dirs:
            parts[split] = _read_split(root / split, split, skipped)
    else:
        parts["train"] = _read_split(root, "train", skipped)
    if not any(parts.values()):
        raise DatasetError(
            f"no tracklet found under {root}: expected <pid>/<camid>_<tracklet>/*.jpg, "
            "optionally inside train/, query/, gallery/"
        )
    dataset = VideoReIDDataset(
        name="folder",
        train=relabel(parts["train"]),
        query=parts["query"],
        gallery=parts["gallery"],
        skipped=dict(skipped),
    )
    logger.info("loaded own footage from %s", root)
    return dataset
