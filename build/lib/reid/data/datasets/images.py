"""A user's own image-retrieval data: one folder of images per class.

Layout::

    root/train/<class>/<image>.jpg      # split layout: train/ and test/ (either may be absent)
    root/test/<class>/<image>.jpg
    root/<class>/<image>.jpg            # or: no split folders

Without split folders the classes are split as CUB-200-2011 and CARS196 are: the class folders
in natural order (``9`` < ``10``; reid/data/datasets/folder.py ``natural_key``), the first half
(rounded down) train, the rest test. Train labels are 0..K-1 in that order; test pids number the
test classes 0..M-1 in natural order. Images in a class folder are taken in natural order; other
files are counted in ``skipped``; a folder inside a class folder is an error. See
reid/data/datasets/image_sets.py for how images become one-frame tracklets.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

from reid.data.datasets.folder import IMAGE_EXTENSIONS, list_dirs, list_frames, natural_key
from reid.data.datasets.image_sets import ImageItem, retrieval_dataset
from reid.data.tracklet import VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")


def _class_items(folder: Path, classes: list[str], prefix: str, skipped: Counter) -> list[ImageItem]:
    """Images of the given class folders; class k of ``classes`` gets label k."""
    items = []
    for label, name in enumerate(classes):
        class_dir = folder / name
        nested = list_dirs(class_dir)
        if nested:
            raise DatasetError(f"{class_dir / nested[0]}: a folder inside a class folder; expected "
                               f"<class>/<image> files only")
        images = list_frames(class_dir, IMAGE_EXTENSIONS, skipped)
        if not images:
            skipped["empty class folders"] += 1
        items += [ImageItem(path=str(class_dir / f), label=label, name=f"{prefix}{name}/{f}") for f in images]
    return items


def load_images(root: str | os.PathLike, split_id: int = 0) -> VideoReIDDataset:
    """Load class-per-folder images for retrieval.

    Args:
        root: the folder holding ``train/`` and/or ``test/``, or the class folders directly.
        split_id: must be 0 (one split).

    Returns:
        train (relabelled), query = gallery = the test images.

    Raises:
        DatasetError: a missing root, split_id != 0, split folders mixed with class folders,
            fewer than two classes in the no-split layout, or no image at all.
    """
    root = Path(root).expanduser().absolute()
    if not root.is_dir():
        raise DatasetError(f"image folder root {root} does not exist or is not a folder")
    if split_id != 0:
        raise DatasetError(f"image folder {root} has one split; split_id={split_id} is out of range (0..0)")
    top = list_dirs(root)
    skipped: Counter = Counter()
    parts = [d for d in top if d in SPLITS]
    if parts:
        extra = sorted(set(top) - set(SPLITS))
        if extra:
            raise DatasetError(f"{root}: found split folders {parts} and other folders {extra[:5]}; "
                               "expected only train/ and test/ (or only class folders)")
        train, test = ([] if s not in parts else
                       _class_items(root / s, sorted(list_dirs(root / s), key=natural_key), f"{s}/", skipped)
                       for s in SPLITS)
    else:
        classes = sorted(top, key=natural_key)
        if len(classes) < 2:
            raise DatasetError(f"{root} holds {len(classes)} class folder(s); expected at least 2 "
                               "(the first half train, the rest test), or train/ and test/ folders")
        half = len(classes) // 2
        train = _class_items(root, classes[:half], "", skipped)
        test = _class_items(root, classes[half:], "", skipped)
    if not train and not test:
        raise DatasetError(f"no image found under {root}: expected <class>/*.jpg, optionally inside train/, test/")
    logger.info("loaded class-folder images from %s", root)
    return retrieval_dataset("images", train, test, dict(skipped))
