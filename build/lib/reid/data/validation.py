"""Dataset validation: per-split statistics, a full decode of every frame, published counts.

``validate_dataset`` returns a JSON-serialisable report whose ``errors`` list is empty when the
dataset is usable. Frames are decoded with Pillow (``Image.load``), which rejects a truncated JPEG;
OpenCV would return a partly grey image with only a warning.
"""

from __future__ import annotations

import logging
import os
import statistics
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from PIL import Image
from tqdm import tqdm

from reid.data.tracklet import Tracklet, VideoReIDDataset

logger = logging.getLogger(__name__)

# docs/method.md, "Datasets" and "Image retrieval" (DukeMTMC-VideoReID gallery: 2,636 tracklets,
# Wu et al. CVPR 2018; LPW: only the train identities are published per split).
# Keys are "<split>.<stat>"; "full" is the stat that decides whether the full dataset is present.
PUBLISHED: dict[str, dict[str, int]] = {
    "mars": {"train.ids": 625, "train.tracklets": 8298, "train.frames": 509914, "query.tracklets": 1980,
             "gallery.tracklets": 9330, "gallery.pid0": 3248},
    "ilidsvid": {"train.ids": 150, "train.tracklets": 300, "query.tracklets": 150, "gallery.tracklets": 150},
    "prid2011": {"train.ids": 89, "train.tracklets": 178, "query.tracklets": 89, "gallery.tracklets": 89},
    "dukev": {"train.ids": 702, "train.tracklets": 2196, "query.tracklets": 702, "gallery.tracklets": 2636},
    "lpw": {"train.ids": 1975},
    # image retrieval: a tracklet is one image; query and gallery are both the test images
    "cub": {"train.ids": 100, "train.tracklets": 5864, "query.ids": 100, "query.tracklets": 5924,
            "gallery.tracklets": 5924},
    "cars196": {"train.ids": 98, "train.tracklets": 8054, "query.ids": 98, "query.tracklets": 8131,
                "gallery.tracklets": 8131},
}
FULL_KEY = "train.ids"


def split_stats(tracklets: list[Tracklet]) -> dict[str, Any]:
    """ids, tracklets, frames, cameras, length min/median/max, pid 0 and pid -1 tracklet counts."""
    lengths = [len(t) for t in tracklets]
    return {"ids": len({t.pid for t in tracklets}), "tracklets": len(tracklets), "frames": sum(lengths),
            "cameras": len({t.camid for t in tracklets}),
            "len_min": min(lengths, default=0), "len_median": statistics.median(lengths) if lengths else 0,
            "len_max": max(lengths, default=0),
            "pid0": sum(t.pid == 0 for t in tracklets), "pid_minus1": sum(t.pid == -1 for t in tracklets)}


def check_image(path: str) -> str | None:
    """None if the image decodes completely, else the reason."""
    try:
        with Image.open(path) as image:
            image.load()
    except (OSError, SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_video(tracklet: Tracklet) -> str | None:
    """None if the packed video decodes and has one frame per frame name, else the reason."""
    import decord

    try:
        reader = decord.VideoReader(tracklet.video, ctx=decord.cpu(0), num_threads=1)
        if len(reader) != len(tracklet):
            return f"{len(reader)} frames in the video, {len(tracklet)} in the index"
        reader.get_batch(list(range(len(reader)))).asnumpy()
    except Exception as exc:  # decord raises its own DECORDError and RuntimeError types
        return f"{type(exc).__name__}: {exc}"
    return None


def check_frames(ds: VideoReIDDataset, workers: int = 4) -> list[dict[str, str]]:
    """Decode every frame (or packed video) of every split, in ``workers`` threads, with a progress bar.

    Returns:
        ``[{"path", "error"}]`` for each unreadable image or video (an item shared by several
        splits is checked once).
    """
    tracklets = ds.train + ds.query + ds.gallery
    videos = sorted({t.video: t for t in tracklets if t.video}.items())
    images = sorted({f for t in tracklets if not t.video for f in t.frames})
    jobs = [(p, check_image, p) for p in images] + [(p, check_video, t) for p, t in videos]
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = list(tqdm(pool.map(lambda job: job[1](job[2]), jobs), total=len(jobs),
                            desc=f"decode {ds.name}", unit="file"))
    return [{"path": p, "error": err} for (p, _, _), err in zip(jobs, results) if err is not None]


def compare_published(name: str, stats: dict[str, dict[str, Any]], full: bool | None) -> dict[str, Any]:
    """Expected vs found counts; ``full=None`` decides by the train identity count."""
    expected = PUBLISHED.get(name)
    if expected is None:
        return {"compared": False, "reason": f"no published counts for {name!r}", "mismatches": []}
    found = {key: stats[key.split(".")[0]][key.split(".")[1]] for key in expected}
    if full is None:
        full = found[FULL_KEY] == expected[FULL_KEY]
    if not full:
        return {"compared": False, "reason": f"partial dataset ({FULL_KEY} {found[FULL_KEY]} != "
                f"{expected[FULL_KEY]})", "expected": expected, "found": found, "mismatches": []}
    mismatches = [f"{k}: expected {v}, found {found[k]}" for k, v in expected.items() if found[k] != v]
    return {"compared": True, "expected": expected, "found": found, "mismatches": mismatches}


def validate_dataset(ds: VideoReIDDataset, *, name: str, workers: int = 4, full: bool | None = None,
                     decode: bool = True) -> dict[str, Any]:
    """Statistics, decode check and published-count check of a loaded dataset.

    Args:
        ds: the dataset (image or packed).
        name: the dataset key of ``reid.data.DATASETS`` (selects the published counts).
        workers: decoding threads.
        full: compare with the published counts (True), do not (False), or decide by the train
            identity count (None).
        decode: decode every frame.

    Returns:
        ``{"name", "splits": {split: stats}, "skipped", "unreadable", "published", "errors"}``.
    """
    stats = {split: split_stats(getattr(ds, split)) for split in ("train", "query", "gallery")}
    unreadable = check_frames(ds, workers) if decode else []
    published = compare_published(name, stats, full)
    errors = [f"unreadable {u['path']}: {u['error']}" for u in unreadable] + published["mismatches"]
    empty = [split for split, s in stats.items() if s["tracklets"] == 0]
    warnings: list[str] = []
    if name == "folder":  # own footage: train-only and query/gallery-only folders are both valid
        if len(empty) == 3:
            errors.append("no split has any tracklet")
        elif "train" in empty:
            warnings.append("train has no tracklets: enough for evaluation and search, not for training")
        if ("query" in empty) != ("gallery" in empty):
            warnings.append(f"{'query' if 'query' in empty else 'gallery'} has no tracklets: "
                            f"no evaluation is possible (a gallery alone can still be indexed for search)")
        elif "query" in empty and "train" not in empty:
            warnings.append("no query or gallery tracklets: enough for training; evaluation will be skipped")
    else:
        errors += [f"{split} has no tracklets" for split in empty]
    return {"name": name, "splits": stats, "skipped": dict(ds.skipped), "unreadable": unreadable,
            "published": published, "errors": errors, "warnings": warnings}


def format_report(report: dict[str, Any]) -> str:
    """The report's statistics as a fixed-width table, then the published check and errors."""
    cols = ["ids", "tracklets", "frames", "cameras", "len_min", "len_median", "len_max", "pid0", "pid_minus1"]
    lines = [f"dataset {report['name']}", "split    " + "".join(f"{c:>11}" for c in cols)]
    for split, s in report["splits"].items():
        lines.append(f"{split:<9}" + "".join(f"{s[c]:>11}" for c in cols))
    lines += [f"skipped {k}: {v}" for k, v in sorted(report["skipped"].items())]
    pub = report["published"]
    lines.append("published counts: " + ("match" if pub["compared"] and not pub["mismatches"]
                                         else pub.get("reason", "MISMATCH")))
    lines += [f"WARNING {w}" for w in report.get("warnings", [])]
    lines += [f"ERROR {e}" for e in report["errors"]]
    lines.append(f"{len(report['errors'])} error(s)")
    return os.linesep.join(lines)
