"""Literal per-query loops for the standard and MARS official protocols of docs/method.md; slow on purpose."""

from __future__ import annotations

import numpy as np


def evaluate_reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50,
                       protocol="standard"):
    """Returns (cmc (max_rank,), mAP, per-query AP list with None for skipped, num_skipped)."""
    distmat = np.asarray(distmat, dtype=np.float64)
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    all_cmc, all_ap, skipped = [], [], 0
    for q in range(num_q):
        order = np.argsort(distmat[q], kind="stable")  # 1. ties broken by gallery index
        ranking = []
        for g in order:  # 2. drop junk
            same = g_pids[g] == q_pids[q] and g_camids[g] == q_camids[q]
            if same or (protocol == "mars-official" and g_pids[g] == -1):
                continue
            ranking.append(g_pids[g] == q_pids[q])
        num_rel = sum(ranking)
        if num_rel == 0:  # 3. no match: skip and count
            skipped += 1
            all_ap.append(None)
            continue
        first = ranking.index(True)
        cmc = [1.0 if k >= first else 0.0 for k in range(max_rank)]  # 4.
        ap, found = 0.0, 0
        old_recall, old_precision = 0.0, 1.0
        for k, is_match in enumerate(ranking, start=1):
            found += is_match
            if protocol == "standard":
                if is_match:  # 5. precision at every match position
                    ap += found / k
            else:  # MARS official trapezoid rule over the junk-free ranking
                recall, precision = found / num_rel, found / k
                ap += (recall - old_recall) * (old_precision + precision) / 2
                old_recall, old_precision = recall, precision
                if found == num_rel:
                    break
        all_cmc.append(cmc)
        all_ap.append(ap / num_rel if protocol == "standard" else ap)
    scored = [a for a in all_ap if a is not None]
    if not scored:
        return np.full(max_rank, np.nan), float("nan"), all_ap, skipped
    return np.mean(np.asarray(all_cmc), axis=0), float(np.mean(scored)), all_ap, skipped


def torchreid_path(relative_path):
    """Path of one file of the installed torchreid 0.2.5 package (found without importing it),
    or None if torchreid is not installed."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("torchreid")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], relative_path)
    return path if os.path.exists(path) else None


def torchreid_module(relative_path):
    """Load one torchreid file (e.g. ``reid/metrics/rank.py``) by path; None if not installed.
    (``import torchreid.reid.metrics`` would import the whole package and its dependencies.)"""
    import importlib.util

    path = torchreid_path(relative_path)
    if path is None:
        return None
    import glob
    import os
    import sys

    name = "torchreid_" + relative_path.replace("/", "_")[:-3]
    module_spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(module_spec)
    # rank.py tries ``from torchreid...rank_cy import evaluate_cy``, which imports the whole
    # package (seconds, hundreds of MB); when no compiled rank_cy exists, make that fail at once.
    compiled = glob.glob(os.path.join(os.path.dirname(path), "rank_cylib", "rank_cy*.so"))
    saved = sys.modules.get("torchreid", False)
    if not compiled and saved is False:
        sys.modules["torchreid"] = None
    try:
        module_spec.loader.exec_module(module)
    finally:
        if not compiled and saved is False:
            del sys.modules["torchreid"]
    return module
