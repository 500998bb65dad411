"""Builders of tiny CUB-200-2011, CARS196 and LPW trees in the official layouts, for the tests.

Each builder writes real (tiny) images with OpenCV and returns what it wrote, so that the tests
derive the expected parse from the spec instead of trusting the parser.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import scipy.io


def write_image(path: Path, width: int, height: int, value: int = 127) -> None:
    """A width x height image, pixel (y, x) = (value, x % 256, y % 256) in BGR, so crops are recognisable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([np.full_like(xs, value), xs % 256, ys % 256], axis=2).astype(np.uint8)
    assert cv2.imwrite(str(path), image), path


# ---------------------------------------------------------------- CUB-200-2011
# (image id, class id, width, height, box x, y, w, h); ids out of order, classes 1..6 (1-3 train,
# 4-6 test), class 6 has one image (its query has no match).
CUB_IMAGES = [
    (3, 1, 20, 16, 1.0, 2.0, 10.0, 8.0), (1, 1, 24, 18, 0.0, 0.0, 24.0, 18.0), (7, 2, 22, 20, 3.5, 2.2, 10.1, 9.0),
    (2, 2, 20, 16, 4.0, 4.0, 6.0, 6.0), (5, 2, 26, 16, 2.0, 1.0, 20.0, 14.0), (4, 3, 20, 20, 5.0, 5.0, 5.0, 5.0),
    (9, 4, 28, 18, 1.0, 1.0, 12.0, 12.0), (8, 4, 20, 16, 2.0, 3.0, 9.0, 7.0), (6, 4, 20, 16, 0.0, 0.0, 19.0, 15.0),
    (10, 5, 24, 24, 6.0, 6.0, 12.0, 12.0), (11, 5, 20, 18, 2.0, 2.0, 8.0, 8.0), (12, 6, 20, 16, 1.0, 1.0, 5.0, 5.0),
]
CUB_CLASSES = 6


def cub_relative(image_id: int, class_id: int) -> str:
    return f"{class_id:03d}.Bird_{class_id}/Bird_{class_id}_{image_id:04d}.jpg"


def make_cub(parent: Path, images=CUB_IMAGES, num_classes: int = CUB_CLASSES) -> Path:
    """Write ``parent/CUB_200_2011`` with the five annotation files and the images; returns it."""
    root = parent / "CUB_200_2011"
    root.mkdir(parents=True)
    for image_id, class_id, w, h, *_ in images:
        write_image(root / "images" / cub_relative(image_id, class_id), w, h, value=10 * class_id)
    (root / "images.txt").write_text("".join(f"{i} {cub_relative(i, c)}\n" for i, c, *_ in images))
    (root / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, c, *_ in images))
    (root / "classes.txt").write_text("".join(f"{c} {c:03d}.Bird_{c}\n" for c in range(1, num_classes + 1)))
    (root / "bounding_boxes.txt").write_text(
        "".join(f"{i} {x} {y} {bw} {bh}\n" for i, _, _, _, x, y, bw, bh in images))
    (root / "train_test_split.txt").write_text("".join(f"{i} {i % 2}\n" for i, *_ in images))
    return root


# ---------------------------------------------------------------- CARS196
# (relative path, x1, y1, x2, y2 (1-based, inclusive), class, test flag, width, height); classes
# 1..4: 1-2 train, 3-4 test.
CARS_RECORDS = [
    ("car_ims/000001.jpg", 1, 1, 30, 20, 1, 0, 30, 20), ("car_ims/000002.jpg", 3, 2, 20, 15, 1, 1, 24, 18),
    ("car_ims/000003.jpg", 5, 5, 14, 12, 2, 0, 20, 16), ("car_ims/000004.jpg", 2, 3, 18, 16, 2, 1, 22, 18),
    ("car_ims/000005.jpg", 4, 4, 25, 19, 3, 0, 28, 20), ("car_ims/000006.jpg", 1, 2, 19, 15, 3, 1, 20, 16),
    ("car_ims/000007.jpg", 6, 1, 17, 13, 3, 0, 20, 16), ("car_ims/000008.jpg", 2, 2, 21, 17, 4, 1, 24, 18),
    ("car_ims/000009.jpg", 3, 3, 12, 12, 4, 0, 16, 16),
]
CARS_CLASSES = 4


def write_cars_mat(path: Path, records, num_classes: int = CARS_CLASSES, drop_field: str | None = None) -> None:
    """``cars_annos.mat`` in the official struct layout: ``annotations`` 1 x N struct, ``class_names`` 1 x C cell."""
    fields = ["relative_im_path", "bbox_x1", "bbox_y1", "bbox_x2", "bbox_y2", "class", "test"]
    fields = [f for f in fields if f != drop_field]
    annotations = np.zeros((1, len(records)), dtype=[(f, "O") for f in fields])
    for i, (rel, x1, y1, x2, y2, cls, test, *_) in enumerate(records):
        values = {"relative_im_path": np.array([rel]), "bbox_x1": np.array([[x1]], np.uint16),
                  "bbox_y1": np.array([[y1]], np.uint16), "bbox_x2": np.array([[x2]], np.uint16),
                  "bbox_y2": np.array([[y2]], np.uint16), "class": np.array([[cls]], np.uint8),
                  "test": np.array([[test]], np.uint8)}
        annotations[0, i] = tuple(values[f] for f in fields)
    class_names = np.empty((1, num_classes), dtype=object)
    for c in range(num_classes):
        class_names[0, c] = np.array([f"Car Model {c + 1} 2012"])
    scipy.io.savemat(str(path), {"annotations": annotations, "class_names": class_names})


def make_cars(parent: Path, records=CARS_RECORDS, num_classes: int = CARS_CLASSES) -> Path:
    """Write ``parent/cars196`` (cars_annos.mat + car_ims/); returns it."""
    root = parent / "cars196"
    root.mkdir(parents=True)
    for rel, *_, cls, _test, w, h in records:
        write_image(root / rel, w, h, value=20 * cls)
    write_cars_mat(root / "cars_annos.mat", records, num_classes)
    return root


# ---------------------------------------------------------------- LPW
# (scene, view) -> {pid: number of frames}; frames are named 1.jpg .. n.jpg (natural order matters).
LPW_SPEC = {
    (1, 1): {1: 3, 2: 2, 3: 2}, (1, 2): {1: 2, 2: 11, 4: 2}, (1, 3): {2: 2, 3: 3, 4: 2},
    (2, 1): {1: 2, 2: 3}, (2, 2): {1: 3, 3: 2}, (2, 3): {2: 2}, (2, 4): {3: 2},
    (3, 1): {1: 2, 2: 2}, (3, 2): {1: 3}, (3, 3): {2: 2}, (3, 4): {1: 2},
}


def make_lpw(parent: Path, spec=LPW_SPEC) -> Path:
    """Write ``parent/lpw/pep_256x128/scen{s}/view{v}/<pid>/<n>.jpg``; returns the ``lpw`` folder."""
    root = parent / "lpw"
    for (scene, view), people in spec.items():
        for pid, frames in people.items():
            for n in range(1, frames + 1):
                write_image(root / "pep_256x128" / f"scen{scene}" / f"view{view}" / str(pid) / f"{n}.jpg", 8, 16)
    return root
