"""MARS parser (docs/method.md, "Datasets"), and the synthetic dataset written in the same layout.

Like torchreid's ``mars.py``: train pids are relabelled to 0..K-1 in sorted order, camids become
0-based, ``query_IDX`` rows are the queries and every other test row is gallery; junk tracklets
(pid -1) are removed from query and gallery and counted in ``dataset.skipped``; distractors
(pid 0) stay in the gallery. Unlike torchreid, every inconsistency raises a DatasetError naming
the file instead of an ``assert``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import scipy.io

from reid.data.paths import resolve_dataset_dir, safe_join
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

# PPPP (or 00-1 for junk) C camera T tracklet F frame .jpg, e.g. 0001C1T0001F001.jpg
NAME_RE = re.compile(r"^(\d{4}|00-1)C([1-9])T(\d{4})F(\d{3})\.jpg$")


def load_mars(root: str | os.PathLike, split_id: int = 0, *, check_files: bool = True) -> VideoReIDDataset:
    """Load MARS from its official layout.

    Args:
        root: the ``mars`` folder (it holds ``info/``) or its parent.
        split_id: MARS has one split; anything but 0 is an error.
        check_files: verify that every listed frame exists (one ``os.listdir`` per pid folder).

    Returns:
        VideoReIDDataset named ``mars``; frames are absolute paths in name-list order.

    Raises:
        DatasetError: a file is missing, truncated or inconsistent; the message names it.
    """
    return _load(resolve_dataset_dir(root, "mars", "info"), "mars", split_id, check_files)


def load_synthetic(root: str | os.PathLike, split_id: int = 0, *, check_files: bool = True) -> VideoReIDDataset:
    """Load a dataset written by ``data_prep/make_synthetic.py`` (MARS layout + synthetic_meta.json).

    Same arguments and result as ``load_mars``, named ``synthetic``.

    Raises:
        DatasetError: the folder is not a MARS layout or lacks ``synthetic_meta.json``.
    """
    base = resolve_dataset_dir(root, "mars", "info")
    if not (base / "synthetic_meta.json").is_file():
        raise DatasetError(f"{base / 'synthetic_meta.json'} not found: {base} is not a synthetic dataset "
                           "(generate one with data_prep/make_synthetic.py)")
    return _load(base, "synthetic", split_id, check_files)


def _load(base: Path, name: str, split_id: int, check_files: bool) -> VideoReIDDataset:
    if split_id != 0:
        raise DatasetError(f"{name} has a single split; split_id={split_id!r}, expected 0")
    base = base.absolute()
    info = base / "info"
    train_rows, train_names = _read_split(base, "train", "track_train_info", check_files)
    test_rows, test_names = _read_split(base, "test", "track_test_info", check_files)
    query_rows = _read_query_idx(info / "query_IDX.mat", len(test_rows))

    skipped = {"junk_train": int((train_rows[:, 2] == -1).sum())}
    train_pids = sorted({int(p) for p in train_rows[:, 2] if p != -1})
    relabel = {pid: label for label, pid in enumerate(train_pids)}
    train = [_tracklet(base / "bbox_train", train_names, row, relabel) for row in train_rows if row[2] != -1]

    is_query = np.zeros(len(test_rows), dtype=bool)
    is_query[query_rows] = True
    junk = test_rows[:, 2] == -1
    skipped["junk_query"] = int((junk & is_query).sum())
    skipped["junk_gallery"] = int((junk & ~is_query).sum())
    test_dir = base / "bbox_test"
    query = [_tracklet(test_dir, test_names, test_rows[i], None) for i in query_rows if not junk[i]]
    gallery = [_tracklet(test_dir, test_names, row, None) for row, q, j in zip(test_rows, is_query, junk)
               if not q and not j]
    dataset = VideoReIDDataset(name, train, query, gallery, skipped)
    return dataset


def _read_split(base: Path, split: str, variable: str, check_files: bool) -> tuple[np.ndarray, list[str]]:
    """Read and validate one split's name list and track info.

    Returns:
        rows (N, 4) int64 [start, end, pid, camid] (1-based, inclusive) and the frame names.
    """
    name_file = base / "info" / f"{split}_name.txt"
    mat_file = base / "info" / f"tracks_{split}_info.mat"
    if not name_file.is_file():
        raise DatasetError(f"{name_file} not found: expected one frame name per line")
    names = [line.strip() for line in name_file.read_text().splitlines() if line.strip()]
    pids, cams = _parse_names(names, base / f"bbox_{split}", name_file)
    rows = _load_matrix(mat_file, variable)
    if rows.ndim != 2 or rows.shape[1] != 4:
        raise DatasetError(f"{mat_file}: {variable} has shape {rows.shape}, expected (N, 4) rows "
                           "[start, end, pid, camid]")
    for i, (start, end, pid, cam) in enumerate(rows):
        where = f"{mat_file}: row {i + 1} [{start}, {end}, {pid}, {cam}]"
        if not 1 <= start <= end <= len(names):
            raise DatasetError(f"{where}: expected 1 <= start <= end <= {len(names)} (lines of {name_file.name})")
        if not 1 <= cam <= 9:
            raise DatasetError(f"{where}: camid {cam} out of range, expected 1..9")
        if np.any(pids[start - 1:end] != pid) or np.any(cams[start - 1:end] != cam):
            bad = next(n for n, p, c in zip(names[start - 1:end], pids[start - 1:end], cams[start - 1:end])
                       if p != pid or c != cam)
            raise DatasetError(f"{where}: frame {bad!r} in {name_file.name} does not match pid {pid} camera {cam}")
    if check_files:
        _check_frames(base / f"bbox_{split}", names, name_file)
    return rows, names


def _parse_names(names: list[str], folder: Path, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """pid and camid (1-based) of every frame name; (N,) int64 each."""
    pids = np.empty(len(names), np.int64)
    cams = np.empty(len(names), np.int64)
    for i, name in enumerate(names):
        match = NAME_RE.match(name)
        if match is None:
            safe_join(folder, name, source=f"{source}: line {i + 1}")  # raises on '..' or absolute
            raise DatasetError(f"{source}: line {i + 1}: frame name {name!r} does not parse, "
                               "expected PPPPCcTttttFfff.jpg (e.g. 0001C1T0001F001.jpg)")
        pids[i] = -1 if match.group(1) == "00-1" else int(match.group(1))
        cams[i] = int(match.group(2))
    return pids, cams


def _load_matrix(path: Path, variable: str) -> np.ndarray:
    """One integer-valued variable of a .mat file as int64."""
    if not path.is_file():
        raise DatasetError(f"{path} not found: expected a MATLAB file with variable {variable!r}")
    try:
        content = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises ValueError, TypeError, OSError, MatReadError, ...
        raise DatasetError(f"{path}: cannot read as a MATLAB file (truncated or corrupt?): {exc}") from exc
    if variable not in content:
        found = sorted(k for k in content if not k.startswith("__"))
        raise DatasetError(f"{path}: variable {variable!r} not found, file holds {found}")
    array = np.asarray(content[variable])
    if array.size and (not np.issubdtype(array.dtype, np.number) or np.any(array != np.round(array))):
        raise DatasetError(f"{path}: {variable} must hold integers, found dtype {array.dtype}")
    return array.astype(np.int64)


def _read_query_idx(path: Path, num_test: int) -> np.ndarray:
    """0-based query rows of the test tracks, (Q,) int64, in file order."""
    idx = _load_matrix(path, "query_IDX").ravel()
    bad = idx[(idx < 1) | (idx > num_test)]
    if bad.size:
        raise DatasetError(f"{path}: query_IDX value {int(bad[0])} out of range, expected 1..{num_test} "
                           "(1-based rows of track_test_info)")
    if len(np.unique(idx)) != len(idx):
        raise DatasetError(f"{path}: query_IDX lists a row twice, expected distinct rows")
    return idx - 1


def _check_frames(folder: Path, names: list[str], source: Path) -> None:
    """Every listed frame exists: one listdir per pid folder, then set membership."""
    listing: dict[str, set[str]] = {}
    for name in names:
        sub = name[:4]
        if sub not in listing:
            try:
                listing[sub] = set(os.listdir(folder / sub))
            except OSError as exc:
                raise DatasetError(f"{source} lists {name} but folder {folder / sub} cannot be read: {exc}") from exc
        if name not in listing[sub]:
            raise DatasetError(f"{source} lists {name} but {folder / sub / name} does not exist")


def _tracklet(folder: Path, names: list[str], row: np.ndarray, relabel: dict[int, int] | None) -> Tracklet:
    start, end, pid, cam = (int(v) for v in row)
    chunk = names[start - 1:end]
    prefix = str(folder) + os.sep
    frames = tuple(f"{prefix}{n[:4]}{os.sep}{n}" for n in chunk)
    return Tracklet(frames=frames, pid=relabel[pid] if relabel is not None else pid, camid=cam - 1,
                    name=chunk[0][:11])
