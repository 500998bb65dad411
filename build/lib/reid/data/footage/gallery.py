"""Tracklets to search among, and query tracklets: a folder of crops, a gallery folder, a dataset split.

A gallery folder ``ROOT`` is one of three layouts, told apart by what it holds:

- packed: ``ROOT/packed.json`` (written by data_prep/pack_videos.py);
- own footage (``load_dataset("folder")``, docs/own_footage.md): ``ROOT/<pid>/<camid>_<tracklet>/``
  folders of frames, optionally under ``train/``, ``query/``, ``gallery/``;
- unlabelled: ``ROOT/<tracklet>/<frame>.jpg``, each sub-folder one tracklet of frames directly,
  no person level. Its pid is -1 (unknown); its camera is ``<camid>`` when the folder is named
  ``<camid>_<tracklet>`` (both integers, as crop_tracklets.py names them), else -1.

Tracklets keep the pid written in the folder name (also in ``train/``, which
``load_dataset`` relabels 0..K-1) so that results name the person as the folders do.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from reid.data import load_dataset
from reid.data.datasets.folder import IMAGE_EXTENSIONS, SPLITS, list_dirs, list_frames
from reid.data.storage.packing import MARKER
from reid.data.tracklet import Tracklet
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

_CAMERA_NAME = re.compile(r"^(\d+)_(\d+)$")


def tracklet_from_folder(folder: str | os.PathLike, *, name: str | None = None, pid: int = -1,
                         camid: int | None = None) -> Tracklet:
    """One tracklet from a folder of frame images (natural order).

    Args:
        camid: the camera; None: from a ``<camid>_<tracklet>`` folder name, else -1.

    Raises:
        DatasetError: not a folder, or no image in it.
    """
    folder = Path(folder).expanduser().resolve()
    if not folder.is_dir():
        raise DatasetError(f"tracklet folder {folder} does not exist or is not a folder")
    skipped: Counter = Counter()
    frames = list_frames(folder, IMAGE_EXTENSIONS, skipped)
    if not frames:
        raise DatasetError(f"tracklet folder {folder} holds no image ({', '.join(IMAGE_EXTENSIONS)})")
    if camid is None:
        match = _CAMERA_NAME.match(folder.name)
        camid = int(match.group(1)) if match else -1
    return Tracklet(frames=tuple(str(folder / f) for f in frames), pid=pid, camid=camid,
                    name=name or folder.name)


def gallery_layout(root: Path) -> str:
    """``"packed"``, ``"folder"`` or ``"unlabelled"`` (module docstring).

    Raises:
        DatasetError: no sub-folder, or sub-folders of frames mixed with sub-folders of folders.
    """
    if (root / MARKER).is_file():
        return "packed"
    top = list_dirs(root)
    if not top:
        raise DatasetError(f"gallery folder {root} holds no tracklet folder")
    if any(d in SPLITS for d in top):
        return "folder"
    of_frames, of_folders = [], []
    for d in top:
        entries = list(os.scandir(root / d))
        if any(e.is_file() and e.name.lower().endswith(IMAGE_EXTENSIONS) for e in entries):
            of_frames.append(d)
        elif any(e.is_dir() and not e.name.startswith(".") for e in entries):
            of_folders.append(d)
    if of_frames and of_folders:
        raise DatasetError(
            f"gallery folder {root} mixes folders of frames ({root / of_frames[0]}) with folders of "
            f"folders ({root / of_folders[0]}); expected <tracklet>/<frame>.jpg (unlabelled) or "
            "<pid>/<camid>_<tracklet>/<frame>.jpg (own footage)")
    return "folder" if of_folders else "unlabelled"


def load_unlabelled(root: str | os.PathLike) -> list[Tracklet]:
    """Every ``root/<tracklet>/`` folder of frames as a tracklet, pid -1; empty folders are logged."""
    root = Path(root).expanduser()
    tracklets, empty = [], 0
    for d in list_dirs(root):
        try:
            tracklets.append(tracklet_from_folder(root / d, name=d))
        except DatasetError:
            empty += 1
    if empty:
        logger.warning("%s: %d tracklet folders without images left out", root, empty)
    if not tracklets:
        raise DatasetError(f"gallery folder {root}: no tracklet folder holds an image")
    return tracklets


def _original_pid(t: Tracklet) -> Tracklet:
    """The pid written in the own-footage folder name ``<split>/<pid>/<camid>_<tracklet>``."""
    pid = int(t.name.split("/")[1])
    return t if pid == t.pid else Tracklet(frames=t.frames, pid=pid, camid=t.camid, video=t.video, name=t.name)


def load_gallery_folder(root: str | os.PathLike, splits: Sequence[str] | None = None) -> list[Tracklet]:
    """The tracklets of a gallery folder in any of the three layouts, of ``splits`` (None: all).

    Raises:
        DatasetError: missing folder, a layout that does not parse, splits asked of an unlabelled
            folder, or no tracklet.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(f"gallery folder {root} does not exist or is not a folder")
    layout = gallery_layout(root)
    logger.info("gallery %s: %s layout", root, layout)
    if layout == "unlabelled":
        if splits is not None:
            raise DatasetError(f"gallery folder {root} is unlabelled (<tracklet>/<frame>.jpg): it has no "
                               f"{'/'.join(splits)} split")
        return load_unlabelled(root)
    if layout == "packed":
        try:
            name = json.loads((root / MARKER).read_text())["name"]
        except (ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{root / MARKER} is not a packed dataset's report ({exc!r})") from None
        ds = load_dataset(str(name), root, packed=True)
    else:
        ds = load_dataset("folder", root)
    splits = SPLITS if splits is None else splits
    tracklets = [t for s in splits for t in getattr(ds, s)]
    if layout == "folder" or ds.name == "folder":
        tracklets = [_original_pid(t) for t in tracklets]
    if not tracklets:
        raise DatasetError(f"gallery folder {root} has no tracklet in split(s) {', '.join(splits)}")
    return tracklets


def load_dataset_split(name: str, root: str | os.PathLike, split: str, *, packed: bool = False) -> list[Tracklet]:
    """``load_dataset(name, root)`` 's ``split`` (train pids relabelled as the loader does)."""
    if split not in SPLITS:
        raise DatasetError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    tracklets = getattr(load_dataset(name, root, **({"packed": True} if packed else {})), split)
    if not tracklets:
        raise DatasetError(f"dataset {name} at {root} has no {split} tracklet")
    return tracklets
