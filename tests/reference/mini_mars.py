"""A tiny dataset in the MARS layout (docs/method.md, "Datasets") and a literal, slow parser of that layout.

Used by the index-cache, packing and validation tests so that they do not depend on the real
MARS parser. Register the parser with ``monkeypatch.setitem(DATASETS, "mini", MINI_ENTRY)``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from reid.data.tracklet import Tracklet, VideoReIDDataset

MINI_ENTRY = ("tests.reference.mini_mars", "load_mini_mars")


def _frame(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth random BGR image (compresses like a photo, not like noise)."""
    small = rng.integers(0, 256, (4, 2, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def write_mini_mars(out: Path, *, seed: int = 0, height: int = 64, width: int = 32) -> Path:
    """Write ``out/mars``: train pids 1, 2; test pids 3, 4, 0 (distractor), -1 (junk).

    Tracks: train 4 (lengths 3, 4, 5, 3), test 6; queries are test rows 1 and 3 (1-based).
    Returns the ``mars`` folder.
    """
    rng = np.random.default_rng(seed)
    root = out / "mars"
    layout = {"train": [(1, 1, 3), (1, 2, 4), (2, 1, 5), (2, 3, 3)],
              "test": [(3, 1, 4), (3, 2, 3), (4, 1, 3), (4, 2, 5), (0, 1, 2), (-1, 2, 2)]}
    for split, tracks in layout.items():
        names, rows = [], []
        for tnum, (pid, cam, length) in enumerate(tracks, start=1):
            folder = "00-1" if pid == -1 else f"{pid:04d}"
            start = len(names) + 1
            for f in range(1, length + 1):
                name = f"{folder}C{cam}T{tnum:04d}F{f:03d}.jpg"
                path = root / f"bbox_{split}" / folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(path), _frame(rng, height, width))
                names.append(name)
            rows.append([start, len(names), pid, cam])
        (root / "info").mkdir(parents=True, exist_ok=True)
        (root / "info" / f"{split}_name.txt").write_text("\n".join(names) + "\n")
        scipy.io.savemat(root / "info" / f"tracks_{split}_info.mat", {f"track_{split}_info": np.array(rows)})
    scipy.io.savemat(root / "info" / "query_IDX.mat", {"query_IDX": np.array([[1, 3]])})
    return root


def load_mini_mars(root: str | os.PathLike, split_id: int = 0, **options: object) -> VideoReIDDataset:
    """Literal parser of the layout above (train pids relabelled, junk dropped and counted)."""
    root = Path(root)
    if not (root / "info").is_dir():
        root = root / "mars"
    result: dict[str, list[Tracklet]] = {"train": [], "query": [], "gallery": []}
    skipped = {"junk_tracklets": 0}
    query_rows = set(scipy.io.loadmat(root / "info" / "query_IDX.mat")["query_IDX"].ravel().tolist())
    for split in ("train", "test"):
        names = (root / "info" / f"{split}_name.txt").read_text().split()
        info = scipy.io.loadmat(root / "info" / f"tracks_{split}_info.mat")[f"track_{split}_info"]
        train_pids = sorted({int(r[2]) for r in info}) if split == "train" else []
        for row_number, (start, end, pid, cam) in enumerate(info.tolist(), start=1):
            frames = []
            for name in names[start - 1:end]:
                folder = "00-1" if pid == -1 else name[:4]
                frames.append(str(root / f"bbox_{split}" / folder / name))
            track = Tracklet(frames=tuple(frames), pid=train_pids.index(pid) if split == "train" else int(pid),
                             camid=int(cam) - 1, name=names[start - 1][:11])
            if split == "train":
                result["train"].append(track)
            elif pid == -1:
                skipped["junk_tracklets"] += 1
            elif row_number in query_rows:
                result["query"].append(track)
            else:
                result["gallery"].append(track)
    return VideoReIDDataset(name="mini", train=result["train"], query=result["query"],
                            gallery=result["gallery"], skipped=skipped)
