"""Builders of tiny datasets in the official on-disk layouts, for the parser tests.

Each builder writes real (tiny) image files and returns what it wrote, so that tests can derive
the expected parse with literal loops instead of trusting the parser.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import scipy.io

_IMAGE = np.full((4, 2, 3), 127, dtype=np.uint8)


def write_image(path: Path) -> None:
    """Write a 4 x 2 grey image (png or jpg by suffix), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), _IMAGE), path


# ---------------------------------------------------------------- iLIDS-VID
ILIDS_PEOPLE = (1, 2, 4, 7, 10, 11, 13, 319)  # folder numbers with gaps, like the real data
UNPADDED_FRAMES = (100, 9, 10, 2, 11)  # lexicographic order: 10, 100, 11, 2, 9


def make_ilidsvid(
    parent: Path, people: tuple[int, ...] = ILIDS_PEOPLE, num_splits: int = 3, seed: int = 0
) -> dict:
    """Write ``parent/ilids-vid`` (sequences + split .mat).

    Person ``people[0]`` in cam1 has the unpadded frame numbers ``UNPADDED_FRAMES``; every other
    sequence has ``3 + (k % 4)`` frames numbered from ``10 * k`` with 5-digit names.

    Returns:
        {"data_dir", "folders" (sorted person folder names), "frames" {(cam, folder): [frame
        numbers in creation order]}, "ls_set" (num_splits, N) 1-based, "mat" path}.
    """
    data_dir = parent / "ilids-vid"
    folders = sorted(f"person{p:03d}" for p in people)
    frames: dict[tuple[str, str], list[int]] = {}
    for k, folder in enumerate(folders):
        for cam in ("cam1", "cam2"):
            if k == 0 and cam == "cam1":
                numbers, names = list(UNPADDED_FRAMES), [f"{cam}_{folder}_{n}.png" for n in UNPADDED_FRAMES]
            else:
                numbers = [10 * k + i for i in range(3 + (k + (cam == "cam2")) % 4)][::-1]
                names = [f"{cam}_{folder}_{n:05d}.png" for n in numbers]
            for name in names:
                write_image(data_dir / "i-LIDS-VID" / "sequences" / cam / folder / name)
            frames[(cam, folder)] = numbers
    rng = np.random.default_rng(seed)
    ls_set = np.stack([rng.permutation(len(folders)) + 1 for _ in range(num_splits)]).astype(np.float64)
    mat = data_dir / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    mat.parent.mkdir(parents=True)
    scipy.io.savemat(str(mat), {"ls_set": ls_set})
    return {"data_dir": data_dir, "folders": folders, "frames": frames, "ls_set": ls_set.astype(int), "mat": mat}


# ---------------------------------------------------------------- PRID-2011
def make_prid2011(parent: Path, cam_a: dict[int, int], cam_b: dict[int, int], unpadded: int | None = None) -> dict:
    """Write ``parent/prid2011/prid_2011/multi_shot/cam_{a,b}/person_NNNN/NNNN.png``.

    Args:
        cam_a, cam_b: person number -> number of frames (frames numbered 1..n, 4-digit names).
        unpadded: a person whose cam_a frames are named without padding (``1.png`` .. ``n.png``).

    Returns:
        {"data_dir", "frames" {(cam, folder): n}}.
    """
    data_dir = parent / "prid2011"
    frames = {}
    for cam, people in (("cam_a", cam_a), ("cam_b", cam_b)):
        for person, count in people.items():
            folder = f"person_{person:04d}"
            for n in range(1, count + 1):
                name = f"{n}.png" if (person == unpadded and cam == "cam_a") else f"{n:04d}.png"
                write_image(data_dir / "prid_2011" / "multi_shot" / cam / folder / name)
            frames[(cam, folder)] = count
    return {"data_dir": data_dir, "frames": frames}


def write_split_file(path: Path, splits: list[dict]) -> Path:
    """Write a torchreid-format PRID split file."""
    path.write_text(json.dumps(splits))
    return path


# ---------------------------------------------------------------- DukeMTMC-VideoReID
def duke_frame_name(pid: int, cam: int, frame: int, padded: bool = True) -> str:
    """``0001_C6_F0016_X84094.jpg``-style name (unpadded frame number when ``padded`` is False)."""
    number = f"{frame:04d}" if padded else str(frame)
    return f"{pid:04d}_C{cam}_F{number}_X{1000 + frame}.jpg"


def make_dukev(parent: Path, spec: dict[str, dict[int, list[tuple[int, list[int]]]]], unpadded: bool = False) -> Path:
    """Write ``parent/dukemtmc-vidreid/DukeMTMC-VideoReID/{split}/PPPP/TTTT/*.jpg``.

    Args:
        spec: split -> pid -> list of (camera 1..8, frame numbers); tracklet folders are numbered
            0001, 0002, ... in list order.
        unpadded: write frame numbers without padding (``F9``, ``F10``, ``F100``).

    Returns:
        The dataset folder.
    """
    data_dir = parent / "dukemtmc-vidreid"
    for split, pids in spec.items():
        for pid, tracklets in pids.items():
            for t, (cam, numbers) in enumerate(tracklets, start=1):
                folder = data_dir / "DukeMTMC-VideoReID" / split / f"{pid:04d}" / f"{t:04d}"
                folder.mkdir(parents=True)
                for n in numbers:
                    write_image(folder / duke_frame_name(pid, cam, n, padded=not unpadded))
    return data_dir


# ---------------------------------------------------------------- own-footage video
COLOURS_BGR = {1: (0, 0, 255), 2: (0, 255, 0), 3: (255, 0, 0), 4: (0, 255, 255), 5: (255, 0, 255)}


def make_video(path: Path, boxes: dict[int, dict[int, tuple[int, int, int, int]]], num_frames: int,
               size: tuple[int, int] = (96, 72)) -> Path:
    """Write an MJPG .avi: black frames with one filled rectangle per track.

    Args:
        boxes: frame (1-based) -> track id -> (x, y, w, h), drawn in ``COLOURS_BGR[track]``.
        num_frames: video length.
        size: (width, height).
    """
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for frame in range(1, num_frames + 1):
        image = np.zeros((size[1], size[0], 3), dtype=np.uint8)
        for track, (x, y, w, h) in boxes.get(frame, {}).items():
            cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), COLOURS_BGR[track], thickness=-1)
        writer.write(image)
    writer.release()
    return path
