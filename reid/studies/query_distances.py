"""Query x gallery distances for the per-query analysis: from a checkpoint, or read from a file.

A checkpoint is embedded as ``osmcaa-reid test`` embeds it (``reid.pipeline.evaluation.embed``,
then ``pairwise_distance`` with ``eval.metric``). A file is a (Q, G) ``.npy`` matrix or an ``.npz``
with ``distmat`` and, when known, ``q_pids``, ``g_pids``, ``q_camids``, ``g_camids`` (what
``tools/peer/torchreid_video.py --save-distmat`` writes); the labels are checked against the dataset,
so distances of other data or in another order are refused.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from reid.config import Config
from reid.data.tracklet import Tracklet
from reid.errors import DatasetError
from reid.eval.distance import pairwise_distance
from reid.pipeline.builders import load_trained_model, resolve_device
from reid.pipeline.evaluation import embed

DISTANCE_SUFFIXES = (".npy", ".npz")
LABELS = ("q_pids", "g_pids", "q_camids", "g_camids")


def checkpoint_distances(cfg: Config, checkpoint: str | os.PathLike, query: list[Tracklet],
                         gallery: list[Tracklet]) -> np.ndarray:
    """(Q, G) distances of the model in ``checkpoint`` (built as ``cfg.model`` says) between the
    query and gallery tracklets, embedded with ``cfg``'s test settings."""
    device = resolve_device(cfg.device)
    model = load_trained_model(cfg, checkpoint).to(device)
    qf, gf = embed(cfg, model, query, device), embed(cfg, model, gallery, device)
    return pairwise_distance(qf, gf, metric=cfg.eval.metric)


def load_distances(path: str | os.PathLike, query: list[Tracklet], gallery: list[Tracklet]) -> np.ndarray:
    """The (Q, G) distances saved in ``path`` (``.npy``, or ``.npz`` with ``distmat`` and labels).

    Raises:
        DatasetError: the file is missing or unreadable, has the wrong shape or non-finite values, or
            its labels differ from ``query``/``gallery`` (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path} not found: expected a (queries x gallery) distance matrix, .npy or .npz")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: cannot read as .npy or .npz: {exc}") from None
    if isinstance(data, np.lib.npyio.NpzFile):
        with data:
            if "distmat" not in data.files:
                raise DatasetError(f"{path}: no array 'distmat' (holds {data.files})")
            arrays = {k: data[k] for k in data.files}
        dist = arrays["distmat"]
        expected = {"q_pids": [t.pid for t in query], "g_pids": [t.pid for t in gallery],
                    "q_camids": [t.camid for t in query], "g_camids": [t.camid for t in gallery]}
        for key in LABELS:
            got = arrays.get(key)
            if got is None:
                continue
            want = np.asarray(expected[key])
            got = got.reshape(-1)
            if got.shape != want.shape or not np.array_equal(got, want):
                at = next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), len(want)))
                raise DatasetError(f"{path}: {key} ({len(got)} entries) differs from the dataset's ({len(want)}) "
                                   f"at position {at}: the distances are of other data or in another order")
    else:
        dist = data
    if dist.ndim != 2 or dist.shape != (len(query), len(gallery)):
        raise DatasetError(f"{path}: distances of shape {dist.shape}, expected ({len(query)}, {len(gallery)}): "
                           "the queries x gallery tracklets of the dataset at --root")
    if not np.issubdtype(dist.dtype, np.floating):
        raise DatasetError(f"{path}: distances of dtype {dist.dtype}; expected floating point")
    if not np.isfinite(dist).all():
        row, col = np.argwhere(~np.isfinite(dist))[0]
        raise DatasetError(f"{path}: NaN or inf distance at row {row}, column {col}; expected finite distances")
    return dist
