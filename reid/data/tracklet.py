"""The one in-memory format every dataset parser produces."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracklet:
    """One person track seen by one camera.

    Attributes:
        frames: ordered frame names. For image tracklets these are absolute paths to image files;
            for packed tracklets (``video`` set) they are the original frame names, and frame ``i``
            of the tracklet is frame ``i`` of the video file.
        pid: person id (train pids are relabelled to 0..K-1; test pids keep their original value,
            MARS distractors have pid 0).
        camid: camera id, 0-based.
        video: path of the packed video file, or None for image tracklets.
        name: a short human-readable identifier (e.g. ``0001C1T0001``), used in reports.
        box: ``(x1, y1, x2, y2)``, 0-based pixels with x2, y2 exclusive: every frame is cropped
            to it when read (image-retrieval sets loaded with ``data.crop_box: bbox``); None
            keeps the whole frame.
    """

    frames: tuple[str, ...]
    pid: int
    camid: int
    video: str | None = None
    name: str = ""
    box: tuple[int, int, int, int] | None = None

    def __len__(self) -> int:
        return len(self.frames)


@dataclass
class VideoReIDDataset:
    """Train, query and gallery tracklets of one dataset (and split).

    Attributes:
        name: dataset name (``mars``, ``ilidsvid``, ...).
        train, query, gallery: lists of tracklets.
        skipped: reason -> number of tracklets (or frames) left out while loading; nothing is
            dropped without being counted here.
        train_truth: per training tracklet, the identities it really shows (one; two after a
            simulated ID switch), where known: for diagnostics of training without labels only,
            never for training (``reid.pipeline.pseudo_labels``); None when unknown.
    """

    name: str
    train: list[Tracklet]
    query: list[Tracklet]
    gallery: list[Tracklet]
    skipped: dict[str, int] = field(default_factory=dict)
    train_truth: list[tuple[int, ...]] | None = None

    @property
    def num_train_pids(self) -> int:
        return len({t.pid for t in self.train})

    @property
    def num_train_cams(self) -> int:
        return len({t.camid for t in self.train})

    def summary(self, train_ids: bool = True) -> str:
        """A small table of ids, tracklets and frames per split, plus skipped counts.

        ``train_ids=False`` leaves the training identities uncounted (``-``): their labels are
        not read (``data.labels: ignore``)."""
        lines = [f"dataset {self.name}", f"  {'split':<8}{'ids':>7}{'tracklets':>11}{'frames':>10}"]
        for split in ("train", "query", "gallery"):
            items = getattr(self, split)
            ids = len({t.pid for t in items}) if split != "train" or train_ids else "-"
            frames = sum(len(t) for t in items)
            lines.append(f"  {split:<8}{ids:>7}{len(items):>11}{frames:>10}")
        for reason, count in sorted(self.skipped.items()):
            lines.append(f"  skipped {reason}: {count}")
        return "\n".join(lines)

    def log_summary(self, train_ids: bool = True) -> None:
        for line in self.summary(train_ids).splitlines():
            logger.info(line)


def count_by(items: list[Tracklet], key: str) -> Counter:
    """Counter of an attribute over tracklets (e.g. ``count_by(ds.query, "camid")``)."""
    return Counter(getattr(t, key) for t in items)
