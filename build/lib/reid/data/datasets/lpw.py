"""LPW, Labeled Pedestrian in the Wild (Song et al., AAAI 2018): three scenes, eleven cameras.

Layout inside the dataset folder (``lpw``)::

    pep_256x128/scen1/view{1,2,3}/<pid>/<frame>.jpg
    pep_256x128/scen2/view{1,2,3,4}/<pid>/<frame>.jpg
    pep_256x128/scen3/view{1,2,3,4}/<pid>/<frame>.jpg

Each person folder of a view is one tracklet; frames are sorted numerically. Person ids are
numbered per scene. Protocol: train on scenes 2 and 3, labels the (scene, pid) pairs relabelled
0..K-1 in ascending order (1,975 identities on the real set); test on scene 1 (756 identities):
query = view 2, gallery = views 1 and 3, test pids as in the folder names. Camera ids number the
eleven views: scene 1 views 1-3 are 0-2, scene 2 views 1-4 are 3-6, scene 3 views 1-4 are 7-10.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections import Counter
from pathlib import Path

from reid.data.datasets.folder import list_dirs, list_frames
from reid.data.paths import is_id, resolve_dataset_dir
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.errors import DatasetError

logger = logging.getLogger(__name__)

DATA = "pep_256x128"
VIEWS = {1: 3, 2: 4, 3: 4}  # scene -> number of views
CAMERA_OFFSET = {1: 0, 2: 3, 3: 7}  # scene -> camid of its view 1
TRAIN_SCENES = (2, 3)
QUERY_VIEWS = (2,)
GALLERY_VIEWS = (1, 3)
_VIEW_DIR = re.compile(r"^view(\d+)$")


def _count_strays(folder: Path, expected: set[str], skipped: Counter, what: str) -> None:
    """Count the entries of ``folder`` that the protocol does not read (hidden ones aside)."""
    strays = [e.name for e in os.scandir(folder) if not e.name.startswith(".") and e.name not in expected]
    if strays:
        skipped[what] += len(strays)


def _views(scene_dir: Path, scene: int) -> dict[int, Path]:
    """view number -> folder, checked against the official views of the scene."""
    views = {}
    for name in list_dirs(scene_dir):
        match = _VIEW_DIR.match(name)
        if match is None or not 1 <= int(match.group(1)) <= VIEWS[scene]:
            raise DatasetError(f"{scene_dir / name}: folder name does not parse; expected view1..view{VIEWS[scene]}")
        views[int(match.group(1))] = scene_dir / name
    return views


def _view_tracklets(view_dir: Path, scene: int, view: int, skipped: Counter) -> list[Tracklet]:
    """One tracklet per person folder of a view; pid = the folder number (per scene)."""
    tracklets = []
    for person in list_dirs(view_dir):
        if not is_id(person):
            raise DatasetError(f"{view_dir / person}: person folder name does not parse; expected digits (the pid)")
        frames = list_frames(view_dir / person, (".jpg",), skipped)
        if not frames:
            skipped["empty tracklet folders"] += 1
            continue
        tracklets.append(Tracklet(frames=tuple(str(view_dir / person / f) for f in frames), pid=int(person),
                                  camid=CAMERA_OFFSET[scene] + view - 1, name=f"scen{scene}/view{view}/{person}"))
    return tracklets


def load_lpw(root: str | os.PathLike, split_id: int = 0) -> VideoReIDDataset:
    """Load LPW with its standard protocol (train scenes 2 and 3; test scene 1, query view 2).

    Args:
        root: the ``lpw`` folder (holding pep_256x128/) or its parent.
        split_id: must be 0 (one split).

    Returns:
        train (relabelled (scene, pid) pairs), query (scene 1 view 2), gallery (scene 1 views 1, 3).

    Raises:
        DatasetError: a missing scene or view the protocol uses, or a folder name that does not parse.
    """
    data_dir = resolve_dataset_dir(root, "lpw", DATA).absolute()
    if split_id != 0:
        raise DatasetError(f"LPW at {data_dir} has one split; split_id={split_id} is out of range (0..0)")
    skipped: Counter = Counter()
    _count_strays(data_dir / DATA, {f"scen{scene}" for scene in VIEWS}, skipped,
                  f"entries beside scen1-3 in {DATA} (not read)")
    per_view: dict[tuple[int, int], list[Tracklet]] = {}
    for scene in VIEWS:
        scene_dir = data_dir / DATA / f"scen{scene}"
        if not scene_dir.is_dir():
            raise DatasetError(f"scene folder {scene_dir} not found; expected {DATA}/scen1, scen2, scen3")
        views = _views(scene_dir, scene)
        _count_strays(scene_dir, {p.name for p in views.values()}, skipped, "files beside view folders (not read)")
        for view, view_dir in views.items():
            _count_strays(view_dir, set(list_dirs(view_dir)), skipped, "files beside person folders (not read)")
            per_view[(scene, view)] = _view_tracklets(view_dir, scene, view, skipped)
    for view in QUERY_VIEWS + GALLERY_VIEWS:
        if (1, view) not in per_view:
            raise DatasetError(f"{data_dir / DATA / 'scen1'}: view{view} not found; the test protocol needs "
                               f"views {', '.join(map(str, sorted(QUERY_VIEWS + GALLERY_VIEWS)))}")
    train_parts = [(scene, t) for (scene, _), items in sorted(per_view.items()) if scene in TRAIN_SCENES
                   for t in items]
    if not train_parts:
        raise DatasetError(f"no tracklet in scenes {TRAIN_SCENES} under {data_dir / DATA}; expected view*/<pid>/*.jpg")
    labels = {pair: k for k, pair in enumerate(sorted({(scene, t.pid) for scene, t in train_parts}))}
    dataset = VideoReIDDataset(
        name="lpw",
        train=[dataclasses.replace(t, pid=labels[(scene, t.pid)]) for scene, t in train_parts],
        query=[t for v in QUERY_VIEWS for t in per_view[(1, v)]],
        gallery=[t for v in GALLERY_VIEWS for t in per_view[(1, v)]],
        skipped=dict(skipped),
    )
    logger.info("loaded LPW from %s", data_dir)
    return dataset
