"""PRID-2011 multi-shot (Hirzer et al., SCIA 2011): two cameras, 10 splits from a split file.

Layout inside the dataset folder (torchreid's ``prid2011``)::

    prid_2011/multi_shot/cam_a/person_0001/0001.png     # 385 people
    prid_2011/multi_shot/cam_b/person_0001/0001.png     # 749 people; the first 200 in both
    splits_prid2011.json                                # made by data_prep/make_prid_splits.py

The split file has torchreid's format: a list of ``{"train": [...], "test": [...]}`` person folder
names. Train: both cameras of the train people, pids relabelled 0..K-1; query: test people in
cam_a (camid 0); gallery: the same people in cam_b (camid 1); test pids are the folder numbers.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from pathlib import Path

from reid.data.datasets.folder import list_dirs, list_frames, relabel
from reid.data.paths import resolve_dataset_dir, safe_join
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

MULTI_SHOT = Path("prid_2011") / "multi_shot"
CAMERAS = ("cam_a", "cam_b")
SPLIT_FILE = "splits_prid2011.json"
_PERSON_DIR = re.compile(r"^person_(\d+)$")
_FRAME = re.compile(r"^(\d+)\.png$", re.IGNORECASE)


def prid_dataset_dir(root: str | os.PathLike) -> Path:
    """The ``prid2011`` folder: ``root`` itself or its child of that name (any case)."""
    return resolve_dataset_dir(root, "prid2011", "prid_2011")


def person_folders(data_dir: Path, cam: str) -> list[str]:
    """Sorted ``person_NNNN`` folder names of one camera.

    Raises:
        DatasetError: the camera folder is missing, empty, or holds a folder that does not parse.
    """
    cam_dir = data_dir / MULTI_SHOT / cam
    names = list_dirs(cam_dir)
    if not names:
        raise DatasetError(f"camera folder {cam_dir} is empty; expected person_NNNN folders")
    for name in names:
        if _PERSON_DIR.match(name) is None:
            raise DatasetError(f"{cam_dir / name}: folder name does not parse; expected 'person_NNNN'")
    return names


def person_frames(data_dir: Path, cam: str, person: str, skipped: Counter) -> tuple[str, ...]:
    """Absolute frame paths of one person in one camera, sorted by frame number.

    Raises:
        DatasetError: the folder is missing, empty, or a ``.png`` name is not ``NNNN.png``.
    """
    folder = safe_join(data_dir / MULTI_SHOT / cam, person, source=f"{cam} person list")
    if not folder.is_dir():
        raise DatasetError(f"person folder {folder} not found")
    numbered = []
    for name in list_frames(folder, (".png",), skipped):
        match = _FRAME.match(name)
        if match is None:
            raise DatasetError(f"{folder / name}: frame name does not parse; expected 'NNNN.png'")
        numbered.append((int(match.group(1)), name))
    if not numbered:
        raise DatasetError(f"{folder} holds no frame; expected NNNN.png files")
    return tuple(str(folder / name) for _, name in sorted(numbered))


def read_prid_splits(path: Path) -> list[dict[str, list[str]]]:
    """Read a torchreid-format split file: a list of ``{"train": [names], "test": [names]}``.

    Raises:
        DatasetError: unreadable JSON, wrong structure, or a person both in train and test.
    """
    if not path.is_file():
        raise DatasetError(
            f"PRID-2011 split file {path} not found; create it once with "
            f"'python data_prep/make_prid_splits.py {path.parent} --seed 0' or pass split_file="
        )
    try:
        splits = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read split file {path}: {exc}; expected JSON") from exc
    if not isinstance(splits, list) or not splits:
        raise DatasetError(f"{path}: expected a non-empty JSON list of {{'train': [...], 'test': [...]}}")
    for i, split in enumerate(splits):
        ok = isinstance(split, dict) and all(
            isinstance(split.get(k), list) and all(isinstance(n, str) for n in split[k]) for k in ("train", "test")
        )
        if not ok:
            raise DatasetError(f"{path}: split {i} is not {{'train': [names], 'test': [names]}}")
        both = sorted(set(split["train"]) & set(split["test"]))
        if both:
            raise DatasetError(f"{path}: split {i} has people both in train and test, e.g. {both[:3]}")
    return splits


def _tracklets(data_dir: Path, people: list[str], cams: tuple[str, ...], skipped: Counter) -> list[Tracklet]:
    tracklets = []
    for person in people:
        match = _PERSON_DIR.match(person)
        if match is None:
            raise DatasetError(f"split file names person {person!r}; expected 'person_NNNN'")
        for cam in cams:
            frames = person_frames(data_dir, cam, person, skipped)
            camid = CAMERAS.index(cam)
            tracklets.append(Tracklet(frames=frames, pid=int(match.group(1)), camid=camid, name=f"{cam}_{person}"))
    return tracklets


def load_prid2011(
    root: str | os.PathLike, split_id: int = 0, split_file: str | os.PathLike | None = None
) -> VideoReIDDataset:
    """Load one PRID-2011 split.

    Args:
        root: the ``prid2011`` folder or its parent.
        split_id: index into the split file's list.
        split_file: a torchreid-format split file; default ``<prid2011>/splits_prid2011.json``.

    Returns:
        The dataset; with the standard splits 89 train people (178 tracklets), 89 queries, 89
        gallery. People in the cameras but not in the split are counted in ``skipped``.

    Raises:
        DatasetError: no split file, split_id out of range, a named person without frames in
            both cameras, or names that do not parse.
    """
    data_dir = prid_dataset_dir(root)
    path = Path(split_file).expanduser() if split_file is not None else data_dir / SPLIT_FILE
    splits = read_prid_splits(path)
    if not 0 <= split_id < len(splits):
        raise DatasetError(
            f"split_id={split_id} is out of range for {path}: it has {len(splits)} splits (0..{len(splits) - 1})"
        )
    split = splits[split_id]
    on_disk = {cam: set(person_folders(data_dir, cam)) for cam in CAMERAS}
    for person in split["train"] + split["test"]:
        for cam in CAMERAS:
            safe_join(data_dir / MULTI_SHOT / cam, person, source=str(path))
            if person not in on_disk[cam]:
                raise DatasetError(
                    f"{path}: split {split_id} names person {person!r}, which has no folder in "
                    f"{data_dir / MULTI_SHOT / cam}; expected people seen by both cameras"
                )
    skipped: Counter = Counter()
    unused = (on_disk["cam_a"] | on_disk["cam_b"]) - set(split["train"]) - set(split["test"])
    if unused:
        skipped["people not in the split"] = len(unused)
    dataset = VideoReIDDataset(
        name="prid2011",
        train=relabel(_tracklets(data_dir, sorted(split["train"]), CAMERAS, skipped)),
        query=_tracklets(data_dir, sorted(split["test"]), ("cam_a",), skipped),
        gallery=_tracklets(data_dir, sorted(split["test"]), ("cam_b",), skipped),
        skipped=dict(skipped),
    )
    logger.info("loaded PRID-2011 split %d of %s from %s", split_id, path, data_dir)
    return dataset
