"""CUB-200-2011 (Wah et al., 2011) for image retrieval: 200 bird species, 11,788 images.

Layout inside the dataset folder (the official archive's ``CUB_200_2011``)::

    images.txt              <image_id> <relative path under images/>
    image_class_labels.txt  <image_id> <class_id>           (1..200)
    classes.txt             <class_id> <class name>
    bounding_boxes.txt      <image_id> <x> <y> <width> <height>   (pixels, floats)
    train_test_split.txt    ignored: the metric-learning protocol splits by class
    images/<NNN.class_name>/<name>.jpg

Classes 1..100 train (5,864 images), 101..200 test (5,924); see reid/data/datasets/image_sets.py
for how images become one-frame tracklets. ``bounding_boxes.txt`` is read only with
``crop_box="bbox"``; each box is checked against its image's size (read from the file header).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from reid.data.datasets.image_sets import (FileChecker, ImageItem, check_crop_box, image_size, pixel_box,
                                           retrieval_dataset, split_classes)
from reid.data.paths import is_id, resolve_dataset_dir, safe_join
from reid.data.tracklet import VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

FOLDER = "CUB_200_2011"
MARKER = "images.txt"
SYNTHETIC_META = "synthetic_meta.json"


def _read_table(path: Path, columns: int, expected: str, *, rest_is_text: bool = False) -> list[tuple[int, list[str]]]:
    """Non-empty lines of a whitespace-separated file as ``(1-based line number, fields)``.

    Each line must have ``columns`` fields (with ``rest_is_text``, the last field is the rest
    of the line), the first an integer id; ids must be distinct.

    Raises:
        DatasetError: the file is missing, or a line does not parse (``expected`` says how it should read).
    """
    if not path.is_file():
        raise DatasetError(f"{path} not found; expected lines '{expected}'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}; expected UTF-8 text lines '{expected}'") from exc
    rows, seen = [], set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=columns - 1) if rest_is_text else line.split()
        if len(parts) != columns or not is_id(parts[0]):
            raise DatasetError(f"{path}: line {number} {line.strip()!r} does not parse; expected '{expected}'")
        if int(parts[0]) in seen:
            raise DatasetError(f"{path}: line {number}: id {parts[0]} appears twice; expected distinct ids")
        seen.add(int(parts[0]))
        rows.append((number, parts))
    if not rows:
        raise DatasetError(f"{path} is empty; expected lines '{expected}'")
    return rows


def _read_classes(data_dir: Path) -> int:
    """The number of classes of classes.txt, whose ids must be 1..N."""
    path = data_dir / "classes.txt"
    rows = _read_table(path, 2, "<class_id> <class name>", rest_is_text=True)
    ids = sorted(int(parts[0]) for _, parts in rows)
    if ids != list(range(1, len(ids) + 1)):
        raise DatasetError(f"{path}: class ids are not 1..{len(ids)}; expected consecutive ids from 1")
    return len(ids)


def _read_labels(data_dir: Path, image_ids: dict[int, int], num_classes: int) -> dict[int, int]:
    """image id -> class id, one for every image of images.txt."""
    path = data_dir / "image_class_labels.txt"
    labels = {}
    for number, parts in _read_table(path, 2, "<image_id> <class_id>"):
        image_id = int(parts[0])
        if not is_id(parts[1]) or not 1 <= int(parts[1]) <= num_classes:
            raise DatasetError(f"{path}: line {number}: class id {parts[1]!r} out of range; expected "
                               f"1..{num_classes} (the ids of classes.txt)")
        if image_id not in image_ids:
            raise DatasetError(f"{path}: line {number}: image id {image_id} is not in images.txt")
        labels[image_id] = int(parts[1])
    missing = [i for i in image_ids if i not in labels]
    if missing:
        raise DatasetError(f"{path}: image id {missing[0]} of images.txt has no class; expected one line per image")
    return labels


def _read_boxes(data_dir: Path, image_ids: dict[int, int]) -> dict[int, tuple[float, float, float, float]]:
    """image id -> box edges (x1, y1, x2, y2) from ``<x> <y> <width> <height>``."""
    path = data_dir / "bounding_boxes.txt"
    boxes = {}
    for number, parts in _read_table(path, 5, "<image_id> <x> <y> <width> <height>"):
        try:
            x, y, w, h = (float(v) for v in parts[1:])
            if not all(math.isfinite(v) for v in (x, y, w, h)):
                raise ValueError("not finite")
        except ValueError:
            raise DatasetError(f"{path}: line {number}: box {' '.join(parts[1:])!r} is not four finite numbers; "
                               "expected '<image_id> <x> <y> <width> <height>'") from None
        if int(parts[0]) not in image_ids:
            raise DatasetError(f"{path}: line {number}: image id {parts[0]} is not in images.txt")
        boxes[int(parts[0])] = (x, y, x + w, y + h)
    missing = [i for i in image_ids if i not in boxes]
    if missing:
        raise DatasetError(f"{path}: image id {missing[0]} of images.txt has no box; expected one line per image")
    return boxes


def read_cub(data_dir: Path, name: str, crop_box: str) -> VideoReIDDataset:
    """Parse and check a CUB-200-2011 folder (``data_dir`` holds images.txt)."""
    use_box = check_crop_box(crop_box)
    data_dir = data_dir.absolute()
    images_txt = data_dir / MARKER
    rows = _read_table(images_txt, 2, "<image_id> <relative path>", rest_is_text=True)
    image_ids = {int(parts[0]): number for number, parts in rows}
    num_classes = _read_classes(data_dir)
    labels = _read_labels(data_dir, image_ids, num_classes)
    boxes = _read_boxes(data_dir, image_ids) if use_box else {}
    checker = FileChecker()
    items = []
    for number, (image_id, relative) in ((n, (int(p[0]), p[1].strip())) for n, p in rows):
        where = f"{images_txt}: line {number}"
        path = safe_join(data_dir / "images", relative, source=where)
        box = None
        if use_box:
            box = pixel_box(boxes[image_id], image_size(path, where), path,
                            f"{data_dir / 'bounding_boxes.txt'}: image id {image_id}")
        else:
            checker.check(path, where)
        items.append(ImageItem(path=str(path), label=labels[image_id], name=relative, box=box))
    train, test = split_classes(items, num_classes)
    return retrieval_dataset(name, train, test)


def load_cub(root: str | os.PathLike, split_id: int = 0, *, crop_box: str = "none") -> VideoReIDDataset:
    """Load CUB-200-2011 with the metric-learning protocol (classes 1-100 train, 101-200 test).

    Args:
        root: the ``CUB_200_2011`` folder or its parent.
        split_id: must be 0 (one split).
        crop_box: ``none`` (whole images) or ``bbox`` (each image cropped to its box when read).

    Returns:
        train (relabelled 0..99), query = gallery = the test images.

    Raises:
        DatasetError: a missing or malformed file, a class id out of range, a missing image, or a
            box outside its image; the message names the file and line.
    """
    data_dir = resolve_dataset_dir(root, FOLDER, MARKER)
    if split_id != 0:
        raise DatasetError(f"CUB-200-2011 at {data_dir} has one split; split_id={split_id} is out of range (0..0)")
    dataset = read_cub(data_dir, "cub", crop_box)
    logger.info("loaded CUB-200-2011 from %s (crop_box %s)", data_dir, crop_box)
    return dataset


def load_synthetic_retrieval(root: str | os.PathLike, split_id: int = 0, *,
                             crop_box: str = "none") -> VideoReIDDataset:
    """Load data written by reid/data/synthetic/retrieval.py (the CUB layout + synthetic_meta.json).

    Same arguments and result as ``load_cub``, named ``synthetic_retrieval``.
    """
    data_dir = resolve_dataset_dir(root, FOLDER, MARKER)
    if not (data_dir / SYNTHETIC_META).is_file():
        raise DatasetError(f"{data_dir / SYNTHETIC_META} not found: {data_dir} is not a synthetic retrieval set "
                           "(make one with data_prep/make_synthetic.py --preset retrieval)")
    if split_id != 0:
        raise DatasetError(f"synthetic_retrieval at {data_dir} has one split; split_id={split_id} is out of range")
    return read_cub(data_dir, "synthetic_retrieval", crop_box)
