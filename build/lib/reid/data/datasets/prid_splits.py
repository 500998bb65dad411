"""Making the standard PRID-2011 splits once: 10 seeded half/half splits of the eligible people.

The standard protocol (Wang et al., ECCV 2014; McLaughlin et al., CVPR 2016) uses the people seen
by both cameras with at least 27 frames in each (178 on the real data) and 10 random splits of
half train (89) / half test (89). The splits are written in torchreid's ``splits_prid2011.json``
format beside the data, so that every later run, and torchreid, reads the same splits.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from reid.data.datasets.folder import natural_key
from reid.data.datasets.prid2011 import CAMERAS, SPLIT_FILE, person_folders, person_frames, prid_dataset_dir
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

MIN_FRAMES = 27
NUM_SPLITS = 10


def eligible_people(data_dir: Path, min_frames: int = MIN_FRAMES) -> list[str]:
    """People folders present in both cameras with at least ``min_frames`` frames in each.

    Args:
        data_dir: the ``prid2011`` folder.
        min_frames: the protocol's minimum sequence length (27).

    Returns:
        Eligible ``person_NNNN`` names in ascending order.
    """
    in_both = set(person_folders(data_dir, CAMERAS[0])) & set(person_folders(data_dir, CAMERAS[1]))
    common = sorted(in_both, key=natural_key)
    skipped: Counter = Counter()
    eligible = [
        person
        for person in common
        if all(len(person_frames(data_dir, cam, person, skipped)) >= min_frames for cam in CAMERAS)
    ]
    logger.info(
        "PRID-2011: %d people in both cameras, %d with >= %d frames in both", len(common), len(eligible), min_frames
    )
    return eligible


def make_splits(people: list[str], num_splits: int = NUM_SPLITS, seed: int = 0) -> list[dict[str, list[str]]]:
    """``num_splits`` random half/half splits of ``people``.

    Each split permutes ``people`` with one ``numpy.random.default_rng(seed)``; the first
    ``len(people) // 2`` of the permutation are train, the rest test (test gets the extra person
    when the count is odd). Both lists are returned in natural order.

    Raises:
        DatasetError: fewer than 2 people.
    """
    if len(people) < 2:
        raise DatasetError(f"cannot split {len(people)} PRID-2011 people into train and test; expected at least 2")
    rng = np.random.default_rng(seed)
    num_train = len(people) // 2
    splits = []
    for _ in range(num_splits):
        order = rng.permutation(len(people))
        train = sorted((people[i] for i in order[:num_train]), key=natural_key)
        test = sorted((people[i] for i in order[num_train:]), key=natural_key)
        splits.append({"train": train, "test": test})
    return splits


def write_prid_splits(
    root: str | os.PathLike,
    *,
    seed: int = 0,
    num_splits: int = NUM_SPLITS,
    min_frames: int = MIN_FRAMES,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Make the splits and write them as JSON (default ``<prid2011>/splits_prid2011.json``).

    Args:
        root: the ``prid2011`` folder or its parent.
        seed, num_splits, min_frames: see ``make_splits`` and ``eligible_people``.
        out: where to write; default beside the data.
        overwrite: replace an existing file (refused otherwise: splits are made once).

    Returns:
        The path written.

    Raises:
        DatasetError: layout errors, too few people, or ``out`` exists and ``overwrite`` is False.
    """
    data_dir = prid_dataset_dir(root)
    path = Path(out).expanduser() if out is not None else data_dir / SPLIT_FILE
    if path.exists() and not overwrite:
        raise DatasetError(f"split file {path} already exists; splits are made once (--overwrite / overwrite=True replaces it)")
    splits = make_splits(eligible_people(data_dir, min_frames), num_splits=num_splits, seed=seed)
    path.write_text(json.dumps(splits, indent=1) + "\n")
    logger.info("wrote %d PRID-2011 splits (%d train / %d test people) to %s",
                num_splits, len(splits[0]["train"]), len(splits[0]["test"]), path)
    return path
