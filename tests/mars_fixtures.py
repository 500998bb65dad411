"""Helpers for the MARS / synthetic tests: a tiny generated dataset and a literal reference parser.

``reference_parse`` is written from docs/method.md, "Datasets", as a plain loop in the manner of
torchreid's ``mars.py`` (no validation), to compare ``load_mars`` against.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import scipy.io

from reid.data.synthetic import generate, preset

# Outliers and wrong labels switched on, so every record file has content.
TINY_OUTLIERS = {"wrong_labels": 0.2, "occlusion": 0.1, "blur": 0.1, "truncation": 0.1}


def build_tiny(parent: Path, seed: int = 3, **overrides: object) -> Path:
    """Generate the tiny preset (with outliers) under ``parent``; returns ``parent/mars``."""
    return generate(parent, preset("tiny", seed=seed, **{**TINY_OUTLIERS, **overrides}))


def copy_dataset(src: Path, parent: Path) -> Path:
    """A private copy of a generated ``mars`` folder, to corrupt; returns ``parent/mars``."""
    dst = parent / "mars"
    shutil.copytree(src, dst)
    return dst


def meta(root: Path) -> dict:
    return json.loads((root / "synthetic_meta.json").read_text())


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def load_var(path: Path, variable: str) -> np.ndarray:
    return scipy.io.loadmat(str(path))[variable]


def save_var(path: Path, variable: str, array: np.ndarray) -> None:
    scipy.io.savemat(str(path), {variable: np.asarray(array, dtype=np.float64)})


def reference_parse(root: Path) -> dict[str, list[tuple[tuple[str, ...], int, int]]]:
    """Literal parse: {'train'|'query'|'gallery': [(frame paths, pid, camid)]}, junk dropped."""
    info = root / "info"
    out: dict[str, list[tuple[tuple[str, ...], int, int]]] = {"train": [], "query": [], "gallery": []}
    for split, var, home in (("train", "track_train_info", "bbox_train"), ("test", "track_test_info", "bbox_test")):
        names = [line.rstrip("\n") for line in open(info / f"{split}_name.txt")]
        rows = scipy.io.loadmat(str(info / f"tracks_{split}_info.mat"))[var]
        pid_list = sorted(set(int(r[2]) for r in rows if int(r[2]) != -1))
        pid2label = {pid: label for label, pid in enumerate(pid_list)}
        query_idx = []
        if split == "test":
            query_idx = [int(q) - 1 for q in scipy.io.loadmat(str(info / "query_IDX.mat"))["query_IDX"][0]]
        items = []
        for row in rows:
            start, end, pid, camid = (int(v) for v in row)
            frames = []
            for k in range(start - 1, end):
                frames.append(str(root.absolute() / home / names[k][:4] / names[k]))
            label = pid2label[pid] if split == "train" and pid != -1 else pid
            items.append((tuple(frames), label, camid - 1))
        if split == "train":
            out["train"] = [it for it in items if it[1] != -1]
        else:
            out["query"] = [items[i] for i in query_idx if items[i][1] != -1]
            out["gallery"] = [it for i, it in enumerate(items) if i not in query_idx and it[1] != -1]
    return out
