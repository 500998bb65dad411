"""A gallery index on disk: tracklet features, names, pids, cameras, the model that made them, FAISS.

Layout of an index folder (generation ``G``, six digits; ``add`` writes the next one)::

    meta.json              the manifest, written last: format, version, count, dim, metric, the
                           model's fingerprint and summary, FAISS settings and measured recall,
                           and the name, size and sha256 of each file below
    features-G.npy         (N, D) float32 embeddings, raw as extract_features returns them
    pids-G.npy             (N,) int64 person ids, -1 = unknown
    cameras-G.npy          (N,) int64 camera ids, -1 = unknown
    items-G.json           [{"name", "first_frame", "video", "num_frames"}] per tracklet: a unique
                           name, the absolute path of its first frame (its packed video, if any)
    faiss-G.index          only with a FAISS index: faiss.serialize_index bytes, ids = rows

Nothing in an index can run code: arrays load with ``allow_pickle=False``, JSON with ``json``, and
the FAISS file (FAISS's binary format, no pickle) is read only once its sha256 matches the manifest.
Writes are atomic: a new index is written into a temporary sibling folder and renamed into place;
``add`` writes generation G+1 beside G, replaces meta.json (temp file, fsync, rename) and only then
deletes generation G. A crash leaves the old index or the new one, never a mix.

The fingerprint is the sha256 of the model summary (backbone, pooling, input size, test clips,
feature: what shapes the embedding) and of the weights (``reid.engine.export.weights_sha256``:
every state-dict tensor's name, dtype, shape and bytes, in name order). Features of two models
are comparable only when it is equal.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from reid.engine.checkpoint import atomic_write_bytes
from reid.engine.export import weights_sha256
from reid.errors import ReIDError

FORMAT = "osmcaa-reid gallery index"
VERSION = 1
META = "meta.json"


class GalleryIndexError(ReIDError, ValueError):
    """An index folder is missing, incomplete, corrupt, or was made by another model."""


def model_fingerprint(model: nn.Module, summary: Mapping[str, Any]) -> str:
    """sha256 (hex) of ``summary`` (JSON, sorted keys) and of the weights' ``weights_sha256``
    (every state-dict tensor's name, dtype, shape and bytes in name order: the hash an ONNX export
    records as ``weights_sha256``)."""
    text = json.dumps(dict(summary), sort_keys=True) + "|" + weights_sha256(model)
    return hashlib.sha256(text.encode()).hexdigest()


def short(fingerprint: str) -> str:
    return fingerprint[:12]


@dataclass
class GalleryIndex:
    """An index in memory. ``faiss`` holds the serialized FAISS index (bytes) or None."""

    features: np.ndarray  # (N, D) float32
    pids: np.ndarray  # (N,) int64
    cameras: np.ndarray  # (N,) int64
    items: list[dict]  # per row: name, first_frame, video, num_frames
    meta: dict = field(default_factory=dict)  # metric, model {fingerprint, summary}, faiss settings
    faiss: bytes | None = None

    @property
    def names(self) -> list[str]:
        return [item["name"] for item in self.items]

    def check_model(self, fingerprint: str, folder: str | os.PathLike) -> None:
        """Raise GalleryIndexError unless the index was made by the model of ``fingerprint``."""
        made_by = self.meta["model"]["fingerprint"]
        if made_by != fingerprint:
            s = self.meta["model"].get("summary", {})
            raise GalleryIndexError(
                f"index {folder} was made by model {short(made_by)} ({s.get('backbone')} at "
                f"{s.get('height')}x{s.get('width')}), this checkpoint is model {short(fingerprint)}: "
                "features of different models do not compare; use the checkpoint that made the "
                "index, or build a new index with this one")


def _bytes_of(index: GalleryIndex) -> dict[str, bytes]:
    parts = {}
    for key, array, dtype in (("features", index.features, np.float32), ("pids", index.pids, np.int64),
                              ("cameras", index.cameras, np.int64)):
        buf = io.BytesIO()
        np.save(buf, np.ascontiguousarray(array, dtype=dtype), allow_pickle=False)
        parts[key] = buf.getvalue()
    parts["items"] = json.dumps(index.items, indent=0).encode()
    if index.faiss is not None:
        parts["faiss"] = index.faiss
    return parts


_SUFFIX = {"features": ".npy", "pids": ".npy", "cameras": ".npy", "items": ".json", "faiss": ".index"}


def _write_generation(folder: Path, index: GalleryIndex, generation: int) -> dict:
    """Write the part files of ``generation`` into ``folder``; return the manifest."""
    files = {}
    for key, data in _bytes_of(index).items():
        name = f"{key}-{generation:06d}{_SUFFIX[key]}"
        atomic_write_bytes(folder / name, lambda f, data=data: f.write(data))
        files[key] = {"name": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    n, dim = index.features.shape
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    return {"format": FORMAT, "version": VERSION, "generation": generation, "count": int(n), "dim": int(dim),
            **{k: v for k, v in index.meta.items() if k not in ("format", "version", "generation", "count",
                                                                  "dim", "files", "updated")},
            "created": index.meta.get("created", now), "updated": now, "files": files}


def _write_meta(folder: Path, meta: dict) -> None:
    text = json.dumps(meta, indent=2) + "\n"
    atomic_write_bytes(folder / META, lambda f: f.write(text.encode()))


def save_new_index(folder: str | os.PathLike, index: GalleryIndex) -> dict:
    """Write ``index`` as a new folder (temporary sibling, then renamed); returns the manifest.

    Raises:
        GalleryIndexError: ``folder`` exists and is not empty.
    """
    folder = Path(folder)
    check_new_folder(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.tmp-"))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; an index gets the usual mode
        meta = _write_generation(tmp, index, 1)
        _write_meta(tmp, meta)
        if folder.is_dir():
            folder.rmdir()  # empty (checked above): rename replaces only a missing name
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return meta


def check_new_folder(folder: Path) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        what = "an index" if (folder / META).is_file() else "files"
        raise GalleryIndexError(f"{folder} already exists and holds {what}; extend an index with "
                                "'tools/search.py add', or choose a new --out")


def save_next_generation(folder: str | os.PathLike, index: GalleryIndex) -> dict:
    """Replace the index in ``folder`` by ``index`` (next generation, manifest swap, old files removed)."""
    folder = Path(folder)
    generation = int(index.meta["generation"]) + 1
    meta = _write_generation(folder, index, generation)
    _write_meta(folder, meta)
    keep = {f["name"] for f in meta["files"].values()} | {META}
    for path in folder.iterdir():  # the previous generation, and files of an interrupted add
        stale = path.name.split("-")[0] in _SUFFIX or (path.name.startswith(".") and path.name.endswith(".tmp"))
        if path.is_file() and path.name not in keep and stale:
            path.unlink()
    return meta


def _check_manifest(meta: Any) -> None:
    """Raise ValueError unless ``meta`` has every entry ``load_index`` reads, of the right type."""
    if not isinstance(meta, dict):
        raise ValueError("not a JSON object")
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r}, "
                         f"expected {FORMAT!r} version {VERSION}")
    for key, kind in (("count", int), ("dim", int), ("generation", int), ("metric", str), ("model", dict),
                      ("files", dict)):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"entry {key!r} is missing or not of type {kind.__name__}")
    if not isinstance(meta["model"].get("fingerprint"), str):
        raise ValueError("entry 'model.fingerprint' is missing")
    for key in ("features", "pids", "cameras", "items", *(("faiss",) if "faiss" in meta["files"] else ())):
        entry = meta["files"].get(key)
        if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("bytes"), int)
                and isinstance(entry.get("sha256"), str) and Path(entry["name"]).name == entry["name"]
                and not entry["name"].startswith(".")):
            raise ValueError(f"entry 'files.{key}' is missing or not a plain file name with bytes and sha256")


def _read_part(folder: Path, meta: dict, key: str) -> bytes:
    entry = meta["files"][key]
    path = folder / entry["name"]
    if not path.is_file():
        raise GalleryIndexError(f"index {folder} is incomplete: {entry['name']} is missing")
    data = path.read_bytes()
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise GalleryIndexError(f"index {folder} is corrupt: {entry['name']} does not match the "
                                "size and sha256 recorded in meta.json (truncated or modified)")
    return data


def _array(folder: Path, meta: dict, key: str, dtype: type, ndim: int) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(_read_part(folder, meta, key)), allow_pickle=False)
    except ValueError as exc:  # also: an object array, which would need a pickle
        raise GalleryIndexError(f"index {folder}: {meta['files'][key]['name']} is not a plain "
                                f"{np.dtype(dtype).name} array ({exc})") from None
    if array.dtype != dtype or array.ndim != ndim or array.shape[0] != meta["count"]:
        raise GalleryIndexError(f"index {folder}: {meta['files'][key]['name']} has dtype {array.dtype} "
                                f"and shape {array.shape}, expected {np.dtype(dtype).name} with "
                                f"{meta['count']} rows")
    return array


def load_index(folder: str | os.PathLike) -> GalleryIndex:
    """Read and verify an index folder.

    Raises:
        GalleryIndexError: no such folder, no or unreadable meta.json, a missing part, a part
            whose size or sha256 differs from the manifest, or parts that disagree.
    """
    folder = Path(folder)
    if not (folder / META).is_file():
        what = "does not exist" if not folder.exists() else f"is not a search index (no {META})"
        raise GalleryIndexError(f"index {folder} {what}; build one with 'tools/search.py index'")
    try:
        meta = json.loads((folder / META).read_text())
        _check_manifest(meta)
    except (ValueError, AttributeError, OSError) as exc:
        raise GalleryIndexError(f"index {folder}: {META} is corrupt or of another version ({exc})") from None
    features = _array(folder, meta, "features", np.float32, 2)
    pids = _array(folder, meta, "pids", np.int64, 1)
    cameras = _array(folder, meta, "cameras", np.int64, 1)
    try:
        items = json.loads(_read_part(folder, meta, "items"))
    except ValueError as exc:
        raise GalleryIndexError(f"index {folder}: {meta['files']['items']['name']} is not JSON ({exc})") from None
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise GalleryIndexError(f"index {folder}: {meta['files']['items']['name']} is not a list of items with names")
    if features.shape[1] != meta["dim"] or len(items) != meta["count"]:
        raise GalleryIndexError(f"index {folder}: parts disagree with meta.json ({features.shape} "
                                f"features, {len(items)} items; meta: {meta['count']} x {meta['dim']})")
    faiss = _read_part(folder, meta, "faiss") if "faiss" in meta["files"] else None
    return GalleryIndex(features=features, pids=pids, cameras=cameras, items=items, meta=meta, faiss=faiss)
