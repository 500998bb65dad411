"""What the image-retrieval parsers (CUB-200-2011, CARS196, class folders) share.

An image set becomes a VideoReIDDataset of one-frame tracklets (T = 1), so that the model, loss,
sampler, trainer and evaluation of video re-ID run on it unchanged:

- ``train``: the training classes' images, labels relabelled 0..K-1 in ascending class order;
- ``query`` and ``gallery``: both the test images, in the same order (the ``retrieval``
  protocol ranks every test image against all the others; docs/method.md, "Image retrieval");
  test pids are the class ids the parser gives (as annotated for CUB and CARS196).
- ``camid``: the image's position in its split. The only same-class, same-"camera" item of an
  image is then the image itself, so a same-camera filter (ranked-list pictures, the standard
  protocol) removes the query itself and nothing else.

Bounding boxes (``crop_box="bbox"``) are stored on the tracklet (``Tracklet.box``) and applied
when the image is read (reid/data/storage/frame_io.py).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import ConfigError, DatasetError

CROP_BOX = ("none", "bbox")
# Box edges up to this many pixels outside the image are clamped to it: annotations in 1-based
# or rounded coordinates reach one pixel past the border. Farther out is an error.
BOX_TOLERANCE = 2


@dataclass(frozen=True)
class ImageItem:
    """One annotated image: absolute path, class id as annotated, a name for reports, a box."""

    path: str
    label: int
    name: str
    box: tuple[int, int, int, int] | None = None


def check_crop_box(value: str) -> bool:
    """True for ``bbox``, False for ``none``.

    Raises:
        ConfigError: any other value.
    """
    if value not in CROP_BOX:
        raise ConfigError(f"config key 'data.crop_box': {value!r} is not one of {', '.join(CROP_BOX)}")
    return value == "bbox"


def image_size(path: Path, where: str) -> tuple[int, int]:
    """(width, height) of an image file, from its header.

    Raises:
        DatasetError: the file is missing or not an image (``where`` names the annotation line).
    """
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DatasetError(f"{where}: image {path} not found") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{where}: cannot read image {path}: {exc}") from exc


def pixel_box(edges: tuple[float, float, float, float], size: tuple[int, int], path: Path,
              where: str) -> tuple[int, int, int, int]:
    """Whole-pixel ``(x1, y1, x2, y2)`` (x2, y2 exclusive) of a box given by its edges.

    The box is widened to whole pixels (floor of x1, y1; ceiling of x2, y2); edges at most
    ``BOX_TOLERANCE`` pixels outside the image are clamped to it.

    Raises:
        DatasetError: an empty box, or one reaching farther outside the image.
    """
    x1, y1, x2, y2 = edges
    w, h = size
    t = BOX_TOLERANCE
    ok = all(math.isfinite(v) for v in edges) and x1 < x2 and y1 < y2
    if ok:
        box = (math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2))
        ok = box[0] >= -t and box[1] >= -t and box[2] <= w + t and box[3] <= h + t
        clamped = (max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3]))
        ok = ok and clamped[0] < clamped[2] and clamped[1] < clamped[3]  # nothing left once clamped
    if not ok:
        raise DatasetError(
            f"{where}: bounding box x {x1:g}..{x2:g}, y {y1:g}..{y2:g} is empty or outside the {w}x{h} image "
            f"{path}; expected 0 <= x1 < x2 <= {w} and 0 <= y1 < y2 <= {h}"
        )
    return clamped


class FileChecker:
    """Existence checks of many images with one directory listing per folder."""

    def __init__(self) -> None:
        self._listing: dict[str, set[str]] = {}

    def check(self, path: Path, where: str) -> None:
        """Raise DatasetError (naming ``where``) unless ``path`` is an existing file."""
        folder, name = os.path.split(str(path))
        if folder not in self._listing:
            try:
                self._listing[folder] = {e.name for e in os.scandir(folder) if e.is_file()}
            except OSError:
                self._listing[folder] = set()
        if name not in self._listing[folder]:
            raise DatasetError(f"{where}: image {path} not found")


def split_classes(items: list[ImageItem], num_classes: int) -> tuple[list[ImageItem], list[ImageItem]]:
    """The metric-learning split: class ids 1..num_classes // 2 train, the others test.

    Args:
        items: the images, in annotation order (kept within each part).
        num_classes: the number of annotated classes (200 for CUB, 196 for CARS196).
    """
    half = num_classes // 2
    return [it for it in items if it.label <= half], [it for it in items if it.label > half]


def retrieval_dataset(name: str, train_items: list[ImageItem], test_items: list[ImageItem],
                      skipped: dict[str, int] | None = None) -> VideoReIDDataset:
    """The dataset described in the module docstring from its train and test images.

    Args:
        name: the dataset name.
        train_items, test_items: the images of each part, in the order they keep.
        skipped: counts of what the parser left out.
    """
    labels = {label: k for k, label in enumerate(sorted({it.label for it in train_items}))}
    train = [Tracklet(frames=(it.path,), pid=labels[it.label], camid=i, name=it.name, box=it.box)
             for i, it in enumerate(train_items)]
    test = [Tracklet(frames=(it.path,), pid=it.label, camid=i, name=it.name, box=it.box)
            for i, it in enumerate(test_items)]
    return VideoReIDDataset(name=name, train=train, query=test, gallery=list(test), skipped=dict(skipped or {}))
