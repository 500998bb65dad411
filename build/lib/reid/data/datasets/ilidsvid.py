"""iLIDS-VID (Wang et al., ECCV 2014): 300 people, two cameras, 10 train/test splits.

Layout inside the dataset folder (torchreid's ``ilids-vid``)::

    i-LIDS-VID/sequences/cam1/person001/cam1_person001_00317.png
    i-LIDS-VID/sequences/cam2/person001/cam2_person001_00317.png
    train-test people splits/train_test_splits_ilidsvid.mat      # variable ls_set, 10 x 300

``ls_set`` holds 1-based indices into the sorted person folders; per row the first half are the
test people, the rest the train people. Train: both cameras of the train people, pids relabelled
0..K-1; query: test people in cam1 (camid 0); gallery: the same people in cam2 (camid 1); test pids
are the person numbers of the folder names. Frames are sorted by their number, not by name.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path

import numpy as np
import scipy.io

from reid.data.datasets.folder import list_dirs, list_frames, relabel
from reid.data.paths import resolve_dataset_dir
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

SEQUENCES = Path("i-LIDS-VID") / "sequences"
SPLIT_MAT = Path("train-test people splits") / "train_test_splits_ilidsvid.mat"
SPLIT_VAR = "ls_set"
CAMERAS = ("cam1", "cam2")
_PERSON_DIR = re.compile(r"^person(\d+)$")
_FRAME = re.compile(r"^cam(\d)_person(\d+)_(\d+)\.png$", re.IGNORECASE)


def read_ls_set(mat_path: Path, num_people: int) -> np.ndarray:
    """Read and check ``ls_set``: 0-based person indices, (num_splits, num_people) int64.

    Raises:
        DatasetError: the file is missing/unreadable, lacks ``ls_set``, or a row is not a
            permutation of 1..num_people.
    """
    if not mat_path.is_file():
        raise DatasetError(f"iLIDS-VID split file {mat_path} not found; expected the official {SPLIT_MAT}")
    try:
        mat = scipy.io.loadmat(str(mat_path))
    except Exception as exc:  # scipy raises ValueError, TypeError, NotImplementedError (v7.3)...
        raise DatasetError(f"cannot read {mat_path}: {exc}; expected a MATLAB (v5) .mat file") from exc
    if SPLIT_VAR not in mat:
        found = sorted(k for k in mat if not k.startswith("__"))
        raise DatasetError(f"{mat_path}: variable {SPLIT_VAR!r} not found (found {found})")
    ls_set = np.asarray(mat[SPLIT_VAR])
    if ls_set.ndim != 2 or ls_set.shape[1] != num_people or not np.issubdtype(ls_set.dtype, np.number):
        raise DatasetError(
            f"{mat_path}: {SPLIT_VAR} has shape {ls_set.shape} and dtype {ls_set.dtype}; "
            f"expected a numeric (num_splits, {num_people}) array, one column per person folder"
        )
    if not np.array_equal(ls_set, np.round(ls_set)):
        raise DatasetError(f"{mat_path}: {SPLIT_VAR} holds non-integer values; expected 1-based indices")
    indices = ls_set.astype(np.int64)
    for row, values in enumerate(indices):
        bad = values[(values < 1) | (values > num_people)]
        if bad.size:
            raise DatasetError(
                f"{mat_path}: {SPLIT_VAR} row {row} has index {int(bad[0])} out of range; "
                f"expected 1..{num_people} (the number of person folders)"
            )
        if len(set(values.tolist())) != num_people:
            raise DatasetError(f"{mat_path}: {SPLIT_VAR} row {row} repeats a person index; expected a permutation")
    return indices - 1


def _person_folders(data_dir: Path) -> list[str]:
    """Sorted person folder names, identical in both cameras."""
    per_cam = {}
    for cam in CAMERAS:
        names = list_dirs(data_dir / SEQUENCES / cam)
        if not names:
            raise DatasetError(f"camera folder {data_dir / SEQUENCES / cam} is empty; expected person folders")
        for name in names:
            if _PERSON_DIR.match(name) is None:
                raise DatasetError(
                    f"{data_dir / SEQUENCES / cam / name}: folder name does not parse; expected 'personNNN'"
                )
        per_cam[cam] = names
    if per_cam["cam1"] != per_cam["cam2"]:
        only = sorted(set(per_cam["cam1"]) ^ set(per_cam["cam2"]))
        raise DatasetError(f"{data_dir / SEQUENCES}: cam1 and cam2 hold different people, e.g. {only[:5]}")
    return per_cam["cam1"]


def _sequence(data_dir: Path, cam: str, person: str, skipped: Counter) -> tuple[str, ...]:
    """Absolute frame paths of one sequence, sorted by frame number."""
    folder = data_dir / SEQUENCES / cam / person
    numbered = []
    for name in list_frames(folder, (".png",), skipped):
        match = _FRAME.match(name)
        if match is None or f"cam{match.group(1)}" != cam or f"person{match.group(2)}" != person:
            raise DatasetError(f"{folder / name}: frame name does not parse; expected '{cam}_{person}_FFFFF.png'")
        numbered.append((int(match.group(3)), name))
    if not numbered:
        raise DatasetError(f"{folder} holds no frame; expected {cam}_{person}_FFFFF.png files")
    return tuple(str(folder / name) for _, name in sorted(numbered))


def _tracklets(data_dir: Path, people: list[str], cams: tuple[str, ...], skipped: Counter) -> list[Tracklet]:
    tracklets = []
    for person in people:
        pid = int(_PERSON_DIR.match(person).group(1))
        for cam in cams:
            frames = _sequence(data_dir, cam, person, skipped)
            tracklets.append(Tracklet(frames=frames, pid=pid, camid=CAMERAS.index(cam), name=f"{cam}_{person}"))
    return tracklets


def load_ilidsvid(root: str | os.PathLike, split_id: int = 0) -> VideoReIDDataset:
    """Load one of the 10 standard iLIDS-VID splits.

    Args:
        root: the ``ilids-vid`` folder or its parent.
        split_id: row of ``ls_set`` (0-based).

    Returns:
        The dataset; on the real data 150 train people (300 tracklets), 150 queries, 150 gallery.

    Raises:
        DatasetError: layout, split file or frame names not as documented above; split_id out of range.
    """
    data_dir = resolve_dataset_dir(root, "ilids-vid", "i-LIDS-VID")
    people = _person_folders(data_dir)
    splits = read_ls_set(data_dir / SPLIT_MAT, len(people))
    if not 0 <= split_id < len(splits):
        raise DatasetError(
            f"split_id={split_id} is out of range for {data_dir / SPLIT_MAT}: "
            f"it has {len(splits)} splits (0..{len(splits) - 1})"
        )
    num_test = len(people) // 2
    test = [people[i] for i in sorted(splits[split_id, :num_test])]
    train = [people[i] for i in sorted(splits[split_id, num_test:])]
    skipped: Counter = Counter()
    dataset = VideoReIDDataset(
        name="ilidsvid",
        train=relabel(_tracklets(data_dir, train, CAMERAS, skipped)),
        query=_tracklets(data_dir, test, ("cam1",), skipped),
        gallery=_tracklets(data_dir, test, ("cam2",), skipped),
        skipped=dict(skipped),
    )
    logger.info("loaded iLIDS-VID split %d from %s", split_id, data_dir)
    return dataset
