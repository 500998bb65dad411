"""Tracklet index as a table (one CSV file), and a cache of parsed datasets keyed by a fingerprint.

File format (shared with the packed index): line 1 is ``#reid-index `` + a JSON header (format
version, dataset name, skipped counts, row count, sha256 of the CSV payload, caller metadata); the
rest is a pandas CSV with one row per tracklet: ``split, pid, camid, name, video, frame_dir,
frames, box`` (``frames``: JSON list of names relative to ``frame_dir``; ``box``: JSON
``[x1, y1, x2, y2]`` or empty). Files written before the ``box`` column (packed folders made then)
are read with every box None. A file whose payload hash or row count disagrees with the header is
rejected, so a truncated file is never trusted.

Fingerprint: ``scan_sources`` walks the dataset folder once (on a miss) and records the
``mtime_ns`` of every directory and ``(size, mtime_ns)`` of every non-frame file (annotations).
Adding, removing or renaming any file changes its directory's mtime; editing an annotation changes
its stat. ``is_current`` re-stats only the recorded paths: ~1,300 stats for MARS, not 1.2M.
A parser option naming an existing file (PRID-2011 ``split_file=``, possibly outside the dataset
folder) is keyed by its resolved path and recorded with its size, mtime_ns and sha256, so an edit
invalidates the entry even within one mtime tick.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MAGIC = "#reid-index "
SPLITS = ("train", "query", "gallery")
COLUMNS = ["split", "pid", "camid", "name", "video", "frame_dir", "frames", "box"]
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".avi", ".mkv", ".mp4"})
# Folder names torchreid uses (docs/method.md, "Datasets"): when ``root`` holds one, only that folder is watched.
DATASET_FOLDERS = {"mars": "mars", "ilidsvid": "ilids-vid", "prid2011": "prid2011",
                   "dukev": "dukemtmc-vidreid", "synthetic": "mars", "lpw": "lpw", "cub": "CUB_200_2011",
                   "synthetic_retrieval": "CUB_200_2011", "cars196": "cars196"}
_SCHEMA = (tuple(f.name for f in fields(Tracklet)), tuple(f.name for f in fields(VideoReIDDataset)))
# The schema and columns of files written before Tracklet had ``box``: still readable, boxes None.
_SCHEMA_NO_BOX = [[n for n in _SCHEMA[0] if n != "box"], list(_SCHEMA[1])]


class IndexFileError(DatasetError):
    """An index file is corrupt, truncated or of another format version."""


def default_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir`` if given, else ``$REID_CACHE_DIR``, else ``~/.cache/osmcaa-reid/index``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("REID_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "osmcaa-reid" / "index"


def dataset_to_table(ds: VideoReIDDataset) -> pd.DataFrame:
    """One row per tracklet, splits in order train, query, gallery (see the module docstring)."""
    rows = []
    for split in SPLITS:
        for t in getattr(ds, split):
            parents = {os.path.dirname(f) for f in t.frames}
            frame_dir = parents.pop() if len(parents) == 1 else ""
            names = [os.path.basename(f) for f in t.frames] if frame_dir else list(t.frames)
            rows.append((split, t.pid, t.camid, t.name, t.video or "", frame_dir, json.dumps(names),
                         json.dumps(list(t.box)) if t.box is not None else ""))
    return pd.DataFrame(rows, columns=COLUMNS)


def table_to_dataset(table: pd.DataFrame, name: str, skipped: dict[str, int],
                     video_root: Path | None = None) -> VideoReIDDataset:
    """Inverse of ``dataset_to_table``; relative ``video`` paths are joined to ``video_root``."""
    splits: dict[str, list[Tracklet]] = {s: [] for s in SPLITS}
    if "box" not in table.columns:  # a file written before the box column
        table = table.assign(box="")
    for split, pid, camid, tname, video, frame_dir, frames, box in table[COLUMNS].itertuples(index=False):
        names = json.loads(frames)
        paths = tuple(os.path.join(frame_dir, n) for n in names) if frame_dir else tuple(names)
        if video and video_root is not None:
            video = str(video_root / video)
        splits[split].append(Tracklet(frames=paths, pid=int(pid), camid=int(camid), video=video or None,
                                      name=tname, box=tuple(int(v) for v in json.loads(box)) if box else None))
    return VideoReIDDataset(name=name, train=splits["train"], query=splits["query"],
                            gallery=splits["gallery"], skipped=dict(skipped))


def write_index(path: Path, ds: VideoReIDDataset, meta: dict[str, Any] | None = None,
                table: pd.DataFrame | None = None) -> None:
    """Write ``ds`` (or a ready ``table``) atomically: temp file in the same folder, then os.replace."""
    table = dataset_to_table(ds) if table is None else table
    payload = table.to_csv(index=False).encode("utf-8")
    header = {"format_version": FORMAT_VERSION, "schema": _SCHEMA, "name": ds.name,
              "skipped": ds.skipped, "rows": len(table),
              "sha256": hashlib.sha256(payload).hexdigest(), "meta": meta or {}}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write((MAGIC + json.dumps(header) + "\n").encode("utf-8"))
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_index(path: Path, video_root: Path | None = None) -> tuple[VideoReIDDataset, dict[str, Any]]:
    """Read a file written by ``write_index``; returns (dataset, caller metadata).

    Raises:
        IndexFileError: wrong magic/version/schema, hash or row count mismatch, unparsable CSV.
    """
    data = Path(path).read_bytes()
    head, _, payload = data.partition(b"\n")
    try:
        if not head.startswith(MAGIC.encode()):
            raise ValueError(f"first line does not start with {MAGIC!r}")
        header = json.loads(head[len(MAGIC):])
        columns = COLUMNS if header["schema"] != _SCHEMA_NO_BOX else COLUMNS[:-1]
        if header["format_version"] != FORMAT_VERSION or header["schema"] not in ([list(s) for s in _SCHEMA],
                                                                                   _SCHEMA_NO_BOX):
            raise ValueError(f"format {header['format_version']} / schema {header['schema']}, "
                             f"expected {FORMAT_VERSION} / {_SCHEMA}")
        if hashlib.sha256(payload).hexdigest() != header["sha256"]:
            raise ValueError("payload sha256 differs from the header (truncated or edited)")
        table = pd.read_csv(io.BytesIO(payload), dtype=str, keep_default_na=False)
        if len(table) != header["rows"] or list(table.columns) != columns:
            raise ValueError(f"{len(table)} rows / columns {list(table.columns)}, expected "
                             f"{header['rows']} / {columns}")
        ds = table_to_dataset(table, header["name"], header["skipped"], video_root)
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise IndexFileError(f"index file {path} is not a valid reid index: {exc}") from exc
    return ds, header["meta"]


def scan_sources(root: Path) -> dict[str, list]:
    """Fingerprint manifest of the tree under ``root`` (directories and non-frame files)."""
    dirs: list[tuple[str, int]] = []
    files: list[tuple[str, int, int]] = []
    seen: set[tuple[int, int]] = set()
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.append((folder, st.st_mtime_ns))
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir():
                    stack.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() not in FRAME_SUFFIXES:
                    fst = entry.stat()
                    files.append((entry.path, fst.st_size, fst.st_mtime_ns))
    return {"dirs": sorted(dirs), "files": sorted(files)}


def is_current(manifest: dict[str, list]) -> bool:
    """True when every recorded directory and file still has its recorded stat."""
    try:
        for path, mtime in manifest["dirs"]:
            if os.stat(path).st_mtime_ns != mtime:
                return False
        for path, size, mtime in manifest["files"]:
            st = os.stat(path)
            if (st.st_size, st.st_mtime_ns) != (size, mtime):
                return False
        for path, size, mtime, digest in manifest.get("option_files", []):
            st = os.stat(path)
            if (st.st_size, st.st_mtime_ns) != (size, mtime) or _sha256(Path(path)) != digest:
                return False
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return True


def option_file(value: Any) -> Path | None:
    """The resolved path of the existing file an option value names (str or os.PathLike), else None."""
    if not isinstance(value, (str, os.PathLike)):
        return None
    try:
        path = Path(value).expanduser()
        return path.resolve() if path.is_file() else None
    except (OSError, TypeError, ValueError, RuntimeError):  # bytes paths, NUL bytes, symlink loops
        return None


def scan_option_files(options: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """``(resolved path, size, mtime_ns, sha256)`` of every option value that names an existing file."""
    found = []
    for value in options.values():
        path = option_file(value)
        if path is not None:
            st = path.stat()
            found.append((str(path), st.st_size, st.st_mtime_ns, _sha256(path)))
    return sorted(set(found))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def watched_root(name: str, root: str | os.PathLike) -> Path:
    """The folder whose tree is fingerprinted: ``root/<torchreid folder>`` if present, else root."""
    root = Path(root).expanduser().resolve()
    folder = DATASET_FOLDERS.get(name, "").lower()
    if folder and root.is_dir() and root.name.lower() != folder:
        for child in sorted(root.iterdir()):
            if child.is_dir() and child.name.lower() == folder:
                return child
    return root


def parser_fingerprint(module_name: str) -> str:
    """sha256 of the parser module's source and of the modules every parser builds on.

    Part of the cache key, so that a changed parser (a fix to sorting, relabelling, junk
    handling) never serves an index it built before the change.
    """
    import importlib.util

    digest = hashlib.sha256()
    for mod in (module_name, "reid.data.tracklet", "reid.data.paths", "reid.data.datasets.folder",
                "reid.data.datasets.image_sets"):
        spec = importlib.util.find_spec(mod)
        if spec is not None and spec.origin and os.path.isfile(spec.origin):
            digest.update(Path(spec.origin).read_bytes())
    return digest.hexdigest()[:16]


def cache_path(name: str, root: str | os.PathLike, split_id: int, options: dict[str, Any],
               cache_dir: str | os.PathLike | None = None, code: str = "") -> Path:
    """Cache file for one (dataset, root, split, parser options, parser code, format version).

    An option naming an existing file is keyed by its resolved path (a relative path read from
    another working folder is another file); other values by their ``repr``.
    """
    values = {k: option_file(v) for k, v in options.items()}
    key = repr((FORMAT_VERSION, code, name, str(Path(root).expanduser().resolve()), split_id,
                sorted((k, f"file:{values[k]}" if values[k] else repr(v)) for k, v in options.items())))
    return default_cache_dir(cache_dir) / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.csv"


def cached_load(name: str, root: str | os.PathLike, split_id: int, options: dict[str, Any],
                build: Callable[[], VideoReIDDataset], *,
                cache_dir: str | os.PathLike | None = None, code: str = "") -> VideoReIDDataset:
    """Return the cached dataset if its fingerprint is current, else ``build()`` and store it.

    The manifest is taken *before* ``build()``, so a change during parsing makes the next call
    rebuild. Option values that name existing files are part of the manifest (``option_files``);
    ``code`` (``parser_fingerprint``) keys the entry to the parser's source. Known limit: on file
    systems with coarse timestamps (1-2 s), an edit in the same tick as the scan goes unseen.
    A corrupt entry is logged and rebuilt; an unwritable cache folder only logs.
    """
    path = cache_path(name, root, split_id, options, cache_dir, code)
    if path.exists():
        try:
            ds, meta = read_index(path)
            if is_current(meta["manifest"]):
                logger.info("index cache hit: %s", path)
                return ds
            logger.info("index cache stale (source files changed): %s", path)
        except (IndexFileError, KeyError, OSError) as exc:
            logger.warning("rebuilding corrupt index cache %s: %s", path, exc)
    watched = watched_root(name, root)
    if not watched.is_dir():  # nothing to fingerprint: the parser says what is missing
        return build()
    manifest = scan_sources(watched)
    manifest["option_files"] = scan_option_files(options)
    ds = build()
    _watch_frame_dirs(manifest, (t.frames for s in SPLITS for t in getattr(ds, s)), watched)
    try:
        write_index(path, ds, {"manifest": manifest, "root": str(watched)})
    except OSError as exc:
        logger.warning("cannot write index cache %s: %s", path, exc)
    return ds


def _watch_frame_dirs(manifest: dict[str, list], frame_lists: Iterable[tuple[str, ...]], watched: Path) -> None:
    """Add frame folders outside ``watched`` (reached through symlinks) to the manifest."""
    known = {d for d, _ in manifest["dirs"]}
    prefix = str(watched) + os.sep
    for frames in frame_lists:
        for folder in {os.path.dirname(f) for f in frames}:
            if folder and folder not in known and not folder.startswith(prefix):
                known.add(folder)
                manifest["dirs"].append((folder, os.stat(folder).st_mtime_ns))
