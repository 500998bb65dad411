"""Per-camera normalisation of embeddings: each camera's items moved to a common centre.

Whatever one camera adds to everything it sees (a colour cast, its lighting, background and
viewpoint) moves all of that camera's embeddings the same way, so a query's nearest neighbours
are then the other people its own camera saw. Subtracting each camera's mean embedding (and, for
``standardise``, dividing by its per-dimension spread) removes that shift using nothing but the
camera ids: camera-based normalisation (Zhuang et al., ECCV 2020), studied as a test-time step by
Song, Park and Lee ("Exploring the Camera Bias of Person Re-identification", 2025). The clustering
rounds of unlabelled training use it (``cluster.camera_norm``), and so may the evaluation
(``eval.camera_norm``).
"""

from __future__ import annotations

import numpy as np

#: eval.camera_norm
CAMERA_NORMS = ("none", "centre", "standardise")


def normalise_per_camera(features: np.ndarray, cameras: np.ndarray, mode: str = "standardise",
                         min_items: int = 1) -> np.ndarray:
    """(N, D) float32: each camera's rows minus that camera's mean (``centre``), also divided by
    its per-dimension standard deviation (``standardise``); ``none`` returns the rows unchanged.

    A camera with fewer than ``min_items`` rows gets the statistics of all the rows instead (its
    own mean from one or two items would erase them). A zero standard deviation divides by 1.

    Raises:
        ValueError: an unknown mode, or not one camera id per row.
    """
    if mode not in CAMERA_NORMS:
        raise ValueError(f"camera normalisation {mode!r} is not one of {', '.join(CAMERA_NORMS)}")
    x = np.asarray(features, dtype=np.float64)
    cams = np.asarray(cameras)
    if len(cams) != len(x):
        raise ValueError(f"{len(cams)} camera ids for {len(x)} features")
    if mode == "none" or not len(x):
        return x.astype(np.float32)
    out = np.empty_like(x)

    def moved(rows: np.ndarray, ref: np.ndarray) -> np.ndarray:
        part = rows - ref.mean(axis=0)
        if mode == "centre":
            return part
        std = ref.std(axis=0)
        return part / np.where(std > 1e-12, std, 1.0)

    for c in np.unique(cams):
        rows = cams == c
        out[rows] = moved(x[rows], x[rows] if rows.sum() >= min_items else x)
    return out.astype(np.float32)
