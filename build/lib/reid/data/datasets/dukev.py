"""DukeMTMC-VideoReID (Wu et al., CVPR 2018): 8 cameras, fixed train / query / gallery.

Layout inside the dataset folder (torchreid's ``dukemtmc-vidreid``)::

    DukeMTMC-VideoReID/{train,query,gallery}/PPPP/TTTT/0001_C6_F0016_X84094.jpg

The camera is read from the frame name (``_C6_`` -> camid 5); the old naming without underscores
(``0001C6F0099X30823.jpg``) is accepted too. Frames are sorted by their ``F`` number (some
tracklets start at F0002). Train pids are relabelled 0..K-1; query and gallery keep the original
pids (the gallery holds 408 distractor ids besides the 702 test ids). Real counts: train 702 ids /
2,196 tracklets, query 702 tracklets.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

from reid.data.datasets.folder import list_dirs, list_frames, relabel
from reid.data.paths import is_id, resolve_dataset_dir
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

DATA = "DukeMTMC-VideoReID"
SPLITS = ("train", "query", "gallery")
_FRAME = re.compile(r"^(\d+)_?C(\d+)_?F(\d+)_?X(\d+)\.jpg$", re.IGNORECASE)


def _tracklet(folder: Path, pid: int, skipped: Counter) -> Tracklet | None:
    """One tracklet folder; None (counted) when it holds no frame."""
    numbered, cams = [], set()
    for name in list_frames(folder, (".jpg",), skipped):
        match = _FRAME.match(name)
        if match is None:
            raise DatasetError(f"{folder / name}: frame name does not parse; expected 'PPPP_C<cam>_F<frame>_X<n>.jpg'")
        if int(match.group(1)) != pid:
            raise DatasetError(f"{folder / name}: pid {int(match.group(1))} in the name differs from folder pid {pid}")
        cams.add(int(match.group(2)))
        numbered.append((int(match.group(3)), name))
    if not numbered:
        skipped["empty tracklet folders"] += 1
        return None
    if len(cams) != 1 or min(cams) < 1:
        raise DatasetError(f"{folder}: frames name cameras {sorted(cams)}; expected one camera numbered from 1")
    return Tracklet(
        frames=tuple(str(folder / name) for _, name in sorted(numbered)),
        pid=pid,
        camid=cams.pop() - 1,
        name=f"{folder.parent.parent.name}/{folder.parent.name}/{folder.name}",
    )


def read_duke_split(split_dir: Path, skipped: Counter) -> list[Tracklet]:
    """Tracklets of one split folder ``PPPP/TTTT/*.jpg`` with the original pids.

    Raises:
        DatasetError: a folder or frame name that does not parse, or a tracklet seen by two cameras.
    """
    tracklets = []
    for pid_name in list_dirs(split_dir):
        if not is_id(pid_name):
            raise DatasetError(f"{split_dir / pid_name}: person folder name does not parse; expected digits (PPPP)")
        for tdir in list_dirs(split_dir / pid_name):
            if not is_id(tdir):
                raise DatasetError(
                    f"{split_dir / pid_name / tdir}: tracklet folder name does not parse; expected digits (TTTT)"
                )
            tracklet = _tracklet(split_dir / pid_name / tdir, int(pid_name), skipped)
            if tracklet is not None:
                tracklets.append(tracklet)
    if not tracklets:
        raise DatasetError(f"split folder {split_dir} holds no tracklet; expected PPPP/TTTT/*.jpg")
    return tracklets


def load_dukev(root: str | os.PathLike, split_id: int = 0) -> VideoReIDDataset:
    """Load DukeMTMC-VideoReID.

    Args:
        root: the ``dukemtmc-vidreid`` folder or its parent.
        split_id: must be 0 (the dataset has one fixed split).

    Returns:
        The dataset with train (relabelled), query and gallery tracklets.

    Raises:
        DatasetError: split_id != 0, a missing or empty split folder, or names that do not parse.
    """
    data_dir = resolve_dataset_dir(root, "dukemtmc-vidreid", DATA)
    if split_id != 0:
        raise DatasetError(
            f"DukeMTMC-VideoReID at {data_dir} has one split; split_id={split_id} is out of range (0..0)"
        )
    skipped: Counter = Counter()
    parts = {split: read_duke_split(data_dir / DATA / split, skipped) for split in SPLITS}
    dataset = VideoReIDDataset(
        name="dukev",
        train=relabel(parts["train"]),
        query=parts["query"],
        gallery=parts["gallery"],
        skipped=dict(skipped),
    )
    logger.info("loaded DukeMTMC-VideoReID from %s", data_dir)
    return dataset
