"""CARS196 (Stanford Cars; Krause et al., 2013) for image retrieval: 196 models, 16,185 images.

Layout inside the dataset folder (``cars196``)::

    cars_annos.mat     struct array ``annotations`` (1 x 16185) with fields relative_im_path
                       ('car_ims/000001.jpg'), bbox_x1, bbox_y1, bbox_x2, bbox_y2, class (1..196),
                       test (0/1, ignored: the metric-learning protocol splits by class); and
                       ``class_names`` (1 x 196 cell of strings)
    car_ims/000001.jpg ...

Classes 1..98 train (8,054 images), 99..196 test (8,131); see reid/data/datasets/image_sets.py.
Box coordinates are read as MATLAB's: 1-based and inclusive, so pixels x1..x2 become the 0-based
half-open ``(x1 - 1, x2)``; with ``crop_box="bbox"`` each box is checked against its image.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import scipy.io

from reid.data.datasets.image_sets import (FileChecker, ImageItem, check_crop_box, image_size, pixel_box,
                                           retrieval_dataset, split_classes)
from reid.data.paths import resolve_dataset_dir, safe_join
from reid.data.tracklet import VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

FOLDER = "cars196"
MARKER = "cars_annos.mat"
FIELDS = ("relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test")


def _load_mat(path: Path) -> dict:
    if not path.is_file():
        raise DatasetError(f"{path} not found; expected the official cars_annos.mat (struct array 'annotations')")
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, MatReadError, ...
        raise DatasetError(f"{path}: cannot read as a MATLAB (v5) file (truncated or corrupt?): {exc}") from exc


def _value(cell: object, field: str, where: str, *, text: bool = False) -> str | int:
    """The single string or integer held by one struct field (MATLAB wraps scalars in arrays)."""
    flat = np.asarray(cell).ravel()
    if flat.size != 1:
        raise DatasetError(f"{where}: field {field} holds {flat.size} values; expected one")
    value = flat[0]
    if text:
        if not isinstance(value, str):
            raise DatasetError(f"{where}: field {field} is {value!r}; expected a string path")
        return value
    if (not np.issubdtype(type(value), np.number) or not np.isfinite(value)
            or value != round(float(value))):
        raise DatasetError(f"{where}: field {field} is {value}; expected an integer")
    return int(value)


def read_annotations(path: Path) -> tuple[list[dict], int]:
    """The records of ``annotations`` (dicts of FIELDS) and the number of classes.

    Raises:
        DatasetError: unreadable file, missing variable or field, or a field of the wrong kind.
    """
    mat = _load_mat(path)
    for variable in ("annotations", "class_names"):
        if variable not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DatasetError(f"{path}: variable {variable!r} not found (found {found})")
    annotations = np.asarray(mat["annotations"])
    names = annotations.dtype.names or ()
    missing = [f for f in FIELDS if f not in names]
    if missing:
        raise DatasetError(f"{path}: 'annotations' is not a struct array with fields {', '.join(FIELDS)} "
                           f"(missing {', '.join(missing)})")
    num_classes = int(np.asarray(mat["class_names"]).size)
    if num_classes < 2:
        raise DatasetError(f"{path}: 'class_names' has {num_classes} entries; expected one per class (196)")
    records = []
    for i, record in enumerate(annotations.ravel()):
        where = f"{path}: annotations({i + 1})"
        records.append({f: _value(record[f], f, where, text=f == "relative_im_path") for f in FIELDS})
    if not records:
        raise DatasetError(f"{path}: 'annotations' is empty; expected one entry per image")
    return records, num_classes


def load_cars196(root: str | os.PathLike, split_id: int = 0, *, crop_box: str = "none") -> VideoReIDDataset:
    """Load CARS196 with the metric-learning protocol (classes 1-98 train, 99-196 test).

    Args:
        root: the ``cars196`` folder (holding cars_annos.mat and car_ims/) or its parent.
        split_id: must be 0 (one split).
        crop_box: ``none`` (whole images) or ``bbox`` (each image cropped to its box when read).

    Returns:
        train (relabelled 0..97), query = gallery = the test images.

    Raises:
        DatasetError: a truncated or malformed .mat, a class id out of range, a missing image,
            or a box outside its image; the message names the file and the entry.
    """
    use_box = check_crop_box(crop_box)
    data_dir = resolve_dataset_dir(root, FOLDER, MARKER).absolute()
    if split_id != 0:
        raise DatasetError(f"CARS196 at {data_dir} has one split; split_id={split_id} is out of range (0..0)")
    mat_path = data_dir / MARKER
    records, num_classes = read_annotations(mat_path)
    checker = FileChecker()
    items = []
    for i, r in enumerate(records):
        where = f"{mat_path}: annotations({i + 1})"
        if not 1 <= r["class"] <= num_classes:
            raise DatasetError(f"{where}: class {r['class']} out of range; expected 1..{num_classes} "
                               "(the entries of class_names)")
        path = safe_join(data_dir, r["relative_im_path"], source=where)
        box = None
        if use_box:
            edges = (r["bbox_x1"] - 1, r["bbox_y1"] - 1, r["bbox_x2"], r["bbox_y2"])
            box = pixel_box(edges, image_size(path, where), path, where)
        else:
            checker.check(path, where)
        items.append(ImageItem(path=str(path), label=r["class"], name=r["relative_im_path"], box=box))
    train, test = split_classes(items, num_classes)
    logger.info("loaded CARS196 from %s (crop_box %s)", data_dir, crop_box)
    return retrieval_dataset("cars196", train, test)
