"""Packed tracklets: each tracklet's frames as one intra-only video file that decord reads.

Layout of a packed folder ``OUT``::

    OUT/packed.json            dataset name, codec, splits, frame counts, max pixel error, sizes
    OUT/index_split{K}.csv     one index (reid.data.storage.index_cache format) per split id; ``video``
                               is relative to OUT, ``frames`` are the original frame file names
    OUT/videos/{split}/{NNNNNN}_{name}.avi

Codecs (written through OpenCV's FFmpeg, measured in docs/bench_loading.md): ``hfyu`` HuffYUV RGB,
lossless, the fastest to decode (default); ``png`` PNG frames, lossless; ``mjpg`` JPEG quality
100 with 4:2:0 chroma, about the size of the source JPEGs but lossy (max error ~30 at colour
edges). A tracklet whose frames differ in size is resized to its first frame's size; those frames
are counted as ``resized_frames`` and left out of the pixel error.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from reid.data.storage.index_cache import SPLITS, read_index, write_index
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import ConfigError, DatasetError

logger = logging.getLogger(__name__)

# name -> (fourcc, OpenCV backend, writer parameters)
CODECS: dict[str, tuple[str, int, list[int]]] = {
    "hfyu": ("HFYU", cv2.CAP_FFMPEG, []),
    "png": ("MPNG", cv2.CAP_FFMPEG, []),
    "mjpg": ("MJPG", cv2.CAP_OPENCV_MJPEG, [cv2.VIDEOWRITER_PROP_QUALITY, 100]),
}
MARKER = "packed.json"
# decord 0.6.0 fails (size check) on these frame widths whatever the codec; odd widths also fail
# or come back one column short. Measured for widths 8..200 (docs/bench_loading.md).
DECORD_BAD_WIDTHS = frozenset({8, 12, 16, 24, 48, 72})


def pack_tracklet(frames: tuple[str, ...], out: Path, codec: str = "hfyu", verify: bool = True,
                  size: tuple[int, int] | None = None) -> dict[str, int]:
    """Write ``frames`` (image paths) as one video ``out`` (temp file, then os.replace).

    ``size`` = (height, width) resizes every frame (counted as resized); default: the first
    frame's size.

    Returns:
        ``{"max_error", "resized_frames", "bytes", "source_bytes"}``; ``max_error`` is the largest
        absolute difference between the decoded video and the decoded source images (-1 when
        ``verify`` is False).

    Raises:
        ConfigError: unknown codec. DatasetError: unreadable frame, a frame width decord cannot
        read back (pass ``size``), or a video not writable/readable.
    """
    if codec not in CODECS:
        raise ConfigError(f"unknown codec {codec!r}; valid codecs: {', '.join(sorted(CODECS))}")
    fourcc, api, params = CODECS[codec]
    images = []
    for f in frames:
        image = cv2.imread(f, cv2.IMREAD_COLOR)
        if image is None:
            raise DatasetError(f"cannot read frame {f}: missing, truncated or not an image")
        images.append(image)
    height, width = size or images[0].shape[:2]
    if width % 2 or width in DECORD_BAD_WIDTHS:
        raise DatasetError(f"{frames[0]}: frame width {width} cannot be read back by decord 0.6.0 "
                           f"(odd or one of {sorted(DECORD_BAD_WIDTHS)}); pack with size=(H, W), e.g. (256, 128)")
    resized = [i for i, im in enumerate(images) if im.shape[:2] != (height, width)]
    for i in resized:
        images[i] = cv2.resize(images[i], (width, height), interpolation=cv2.INTER_AREA)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{os.getpid()}{out.suffix}")
    writer = cv2.VideoWriter(str(tmp), api, cv2.VideoWriter_fourcc(*fourcc), 25.0, (width, height), params)
    if not writer.isOpened():
        raise DatasetError(f"OpenCV cannot open a {fourcc} writer for {tmp} ({width}x{height})")
    for image in images:
        writer.write(image)
    writer.release()
    max_error = -1
    if verify:
        max_error = _max_error(tmp, images, set(resized))
    os.replace(tmp, out)
    return {"max_error": max_error, "resized_frames": len(resized), "bytes": out.stat().st_size,
            "source_bytes": sum(os.path.getsize(f) for f in frames)}


def _max_error(video: Path, images: list[np.ndarray], skip: set[int]) -> int:
    """Max |decoded video - source| over frames not in ``skip``; checks the frame count."""
    import decord

    reader = decord.VideoReader(str(video), ctx=decord.cpu(0), num_threads=1)
    if len(reader) != len(images):
        raise DatasetError(f"{video}: decord reads {len(reader)} frames, {len(images)} were written")
    decoded = reader.get_batch(list(range(len(images)))).asnumpy()  # (T, H, W, 3) RGB
    errors = [int(np.abs(decoded[i].astype(np.int16) - images[i][:, :, ::-1]).max())
              for i in range(len(images)) if i not in skip]
    return max(errors, default=0)


def _pack_job(job: tuple[tuple[str, ...], str, str, bool, tuple[int, int] | None]) -> dict[str, int]:
    frames, out, codec, verify, size = job
    return pack_tracklet(frames, Path(out), codec, verify, size)


def pack_dataset(name: str, root: str | os.PathLike, out: str | os.PathLike, *, split_ids: tuple[int, ...] = (0,),
                 codec: str = "hfyu", workers: int = 1, verify: bool = True,
                 size: tuple[int, int] | None = None, **options: Any) -> dict[str, Any]:
    """Pack every tracklet of ``load_dataset(name, root, split_id=k)`` for each k in ``split_ids``.

    A tracklet present in several splits (or split ids) is packed once. Writes the layout of the
    module docstring and returns the content of ``packed.json``.
    """
    from reid.data import load_dataset

    if codec not in CODECS:
        raise ConfigError(f"unknown codec {codec!r}; valid codecs: {', '.join(sorted(CODECS))}")
    out = Path(out)
    datasets = {k: load_dataset(name, root, split_id=k, **options) for k in split_ids}
    videos: dict[tuple[str, ...], str] = {}
    for ds in datasets.values():
        for split in SPLITS:
            for t in getattr(ds, split):
                if t.frames not in videos:
                    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", t.name or "tracklet")
                    videos[t.frames] = f"videos/{split}/{len(videos):06d}_{safe}.avi"
    jobs = [(frames, str(out / rel), codec, verify, size) for frames, rel in videos.items()]
    with multiprocessing.get_context("fork").Pool(workers) if workers > 1 else _Serial() as pool:
        results = list(tqdm(pool.imap(_pack_job, jobs, chunksize=4), total=len(jobs), desc=f"pack {name}"))
    for k, ds in datasets.items():
        write_index(out / f"index_split{k}.csv", _packed_view(ds, videos))
    report = {"name": name, "codec": codec, "split_ids": list(split_ids), "videos": len(jobs),
              "frames": sum(len(f) for f in videos),
              "max_pixel_error": max((r["max_error"] for r in results), default=0),
              "resized_frames": sum(r["resized_frames"] for r in results),
              "bytes": sum(r["bytes"] for r in results),
              "source_bytes": sum(r["source_bytes"] for r in results)}
    (out / MARKER).write_text(json.dumps(report, indent=2))
    logger.info("packed %d tracklets of %s into %s: max pixel error %d, %.1f MB (source %.1f MB)",
                report["videos"], name, out, report["max_pixel_error"], report["bytes"] / 1e6,
                report["source_bytes"] / 1e6)
    return report


def _packed_view(ds: VideoReIDDataset, videos: dict[tuple[str, ...], str]) -> VideoReIDDataset:
    """The dataset with each tracklet pointing at its video (relative path) and its frame names."""
    def packed(t: Tracklet) -> Tracklet:
        return Tracklet(frames=tuple(os.path.basename(f) for f in t.frames), pid=t.pid, camid=t.camid,
                        video=videos[t.frames], name=t.name)

    return VideoReIDDataset(name=ds.name, train=[packed(t) for t in ds.train],
                            query=[packed(t) for t in ds.query], gallery=[packed(t) for t in ds.gallery],
                            skipped=dict(ds.skipped))


def load_packed(name: str, root: str | os.PathLike, split_id: int = 0) -> VideoReIDDataset:
    """Load the index of a packed folder (``root`` itself or ``root/packed-<name>``).

    Raises:
        DatasetError: no packed folder, another dataset's folder, or a split id not packed.
    """
    root = Path(root).expanduser()
    folder = next((p for p in (root, root / f"packed-{name}") if (p / MARKER).is_file()), None)
    if folder is None:
        raise DatasetError(f"no packed dataset: expected {root / MARKER} or {root / f'packed-{name}' / MARKER} "
                           f"(run data_prep/pack_videos.py {name} DATASET_ROOT OUT)")
    report = json.loads((folder / MARKER).read_text())
    if report.get("name") != name:
        raise DatasetError(f"{folder / MARKER}: packed dataset is {report.get('name')!r}, not {name!r}")
    index = folder / f"index_split{split_id}.csv"
    if not index.is_file():
        raise DatasetError(f"{folder}: split {split_id} was not packed; packed split ids: {report.get('split_ids')}")
    ds, _ = read_index(index, video_root=folder)
    return ds


class _Serial:
    """Stand-in for a Pool that runs jobs in this process."""

    def __enter__(self) -> _Serial:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    @staticmethod
    def imap(fn, jobs, chunksize: int = 1):  # noqa: ANN001, ANN205 - mirrors Pool.imap
        return map(fn, jobs)
