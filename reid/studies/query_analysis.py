"""Per-query failure analysis of one ranking of a synthetic MARS-layout test set (docs/query_analysis.md).

Which queries fail, and what they have in common: per query its AP, whether rank-1 is right, the
rank of its first true match, the share of its frames the generator occluded, blurred or
truncated (``outliers.csv``), whether its near twin is in the gallery (``twins.csv``), its camera,
and what the wrong rank-1 item is (the twin? seen by the query's own camera?). ``breakdown`` then
gives rank-1 and mAP per category and each category's share of the rank-1 failures; ``compare``
sets two rankings of the same queries side by side (this project against torchreid, or two runs).

Ranking is the standard protocol of ``reid.eval.evaluate``: a gallery item of the query's identity
seen by the query's camera is left out. AP comes from ``evaluate``, the ranked list from
``reid.report.ranked_lists.ranked_list`` (the same rule, ties broken by gallery index).
"""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reid.data.paths import resolve_dataset_dir
from reid.data.synthetic.layout import OUTLIER_KINDS
from reid.data.tracklet import Tracklet
from reid.errors import DatasetError
from reid.eval.ranking import evaluate
from reid.report.ranked_lists import ranked_list

HEAVY = 0.25  # a query is "occluded" (blurred, truncated) when at least this share of its frames is
CATEGORY_OF_KIND = {"occlusion": "occluded", "blur": "blurred", "truncation": "truncated"}
DESCRIPTIONS = {"twin": "its near twin is in the gallery",
                **{c: f">= {HEAVY:.0%} of its frames {c}" for c in CATEGORY_OF_KIND.values()},
                "clean": "in none of the categories above"}


@dataclass(frozen=True)
class SideFiles:
    """What the synthetic generator recorded about the test set (None: its file is not there).

    Attributes:
        twins: test pid -> its near twin's pid, both ways round (``twins.csv``).
        outliers: test frame name (``0001C1T0001F001.jpg``) -> its outlier kinds (``outliers.csv``).
        notes: one line per file that is missing, saying which categories are left out.
    """

    twins: dict[int, int] | None
    outliers: dict[str, tuple[str, ...]] | None
    notes: tuple[str, ...] = ()

    @property
    def categories(self) -> tuple[str, ...]:
        """The categories these records allow, in table order."""
        named = (["twin"] if self.twins is not None else []) + \
            (list(CATEGORY_OF_KIND.values()) if self.outliers is not None else [])
        return tuple(named + ["clean"]) if named else ()


def _read_csv(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a CSV file with at least ``columns`` in its header."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{path}: header {reader.fieldnames} lacks {missing}; expected {','.join(columns)}")
        return [(reader.line_num, row) for row in reader]


def generator_dir(root: str | os.PathLike) -> Path:
    """The folder where the generator wrote its records: the ``mars`` folder of ``root`` (or ``root``)."""
    try:
        return resolve_dataset_dir(root, "mars", "info")
    except DatasetError:
        return Path(root)


def read_twin_pairs(path: Path, split: str) -> list[tuple[int, int]]:
    """The (pid, twin's pid) rows of one split of the generator's ``twins.csv`` at ``path``.

    Raises:
        DatasetError: the file is malformed (the message names the file and line).
    """
    pairs = []
    for line, row in _read_csv(path, ("split", "pid", "twin_pid")):
        if row["split"] == split:
            try:
                pairs.append((int(row["pid"]), int(row["twin_pid"])))
            except (TypeError, ValueError):
                raise DatasetError(f"{path}: line {line}: pid {row['pid']!r}, twin_pid {row['twin_pid']!r}; "
                                   "expected integers") from None
    return pairs


def read_side_files(root: str | os.PathLike) -> SideFiles:
    """The generator's ``twins.csv`` and ``outliers.csv`` of the dataset at ``root`` (the ``mars``
    folder or its parent), test split only; a missing file leaves its categories out, with a note.

    Raises:
        DatasetError: a file is there but malformed (the message names the file and line).
    """
    base = generator_dir(root)
    notes = []
    twins: dict[int, int] | None = None
    path = base / "twins.csv"
    if path.is_file():
        twins = {}
        for a, b in read_twin_pairs(path, "test"):
            twins[a], twins[b] = b, a
    else:
        meta = base / "synthetic_meta.json"
        why = "not a synthetic dataset"
        if meta.is_file():
            try:
                level = json.loads(meta.read_text()).get("params", {}).get("twins", 0.0)
                why = f"synthetic_meta.json: twins {level}; the generator writes the file only with near twins"
            except (OSError, ValueError, AttributeError):
                why = f"{meta} is unreadable"
        notes.append(f"{path} not found ({why}): the twin category is left out")
    outliers: dict[str, tuple[str, ...]] | None = None
    path = base / "outliers.csv"
    if path.is_file():
        found: dict[str, list[str]] = {}
        for line, row in _read_csv(path, ("split", "name", "kind")):
            if row["kind"] not in OUTLIER_KINDS:
                raise DatasetError(f"{path}: line {line}: kind {row['kind']!r}; expected one of {OUTLIER_KINDS}")
            if row["split"] == "test":
                found.setdefault(row["name"], []).append(row["kind"])
        outliers = {name: tuple(kinds) for name, kinds in found.items()}
    else:
        notes.append(f"{path} not found: the {', '.join(CATEGORY_OF_KIND.values())} categories are left out")
    return SideFiles(twins, outliers, tuple(notes))


@dataclass(frozen=True)
class QueryRow:
    """One query of one ranking (``first_match``: None where the query has no true match; ``top1_*``:
    the first gallery item after the protocol's removals, None where nothing is left)."""

    index: int
    name: str
    pid: int
    camid: int
    frames: int
    ap: float  # NaN: no true match in the gallery (not scored)
    first_match: int | None  # 1-based rank of the first true match
    top1: str | None  # the rank-1 gallery tracklet's name, pid and camid
    top1_pid: int | None
    top1_camid: int | None
    fractions: dict[str, float] | None  # outlier kind -> share of the query's frames (None: unknown)
    twin_pid: int | None  # the query's near twin, when it is in the gallery
    categories: tuple[str, ...]

    @property
    def scored(self) -> bool:
        return not math.isnan(self.ap)

    @property
    def rank1(self) -> bool:
        return self.first_match == 1

    @property
    def top1_is_twin(self) -> bool:
        return not self.rank1 and self.twin_pid is not None and self.top1_pid == self.twin_pid

    @property
    def top1_same_camera(self) -> bool:
        return not self.rank1 and self.top1_camid == self.camid


def analyse_queries(distmat: np.ndarray, query: list[Tracklet], gallery: list[Tracklet],
                    side: SideFiles) -> list[QueryRow]:
    """One ``QueryRow`` per query of a (Q, G) distance matrix (smaller = closer)."""
    dist = np.asarray(distmat)
    if dist.shape != (len(query), len(gallery)):
        raise ValueError(f"distances of shape {dist.shape}, expected ({len(query)}, {len(gallery)}) "
                         "(queries x gallery tracklets)")
    q_pids, q_cams = np.array([t.pid for t in query]), np.array([t.camid for t in query])
    g_pids, g_cams = np.array([t.pid for t in gallery]), np.array([t.camid for t in gallery])
    ap = evaluate(dist, q_pids, g_pids, q_cams, g_cams, max_rank=1).ap
    gallery_pids = set(g_pids.tolist())
    rows = []
    for i, t in enumerate(query):
        top = ranked_list(dist, i, t.pid, t.camid, g_pids, g_cams, topk=1)
        j = int(top.gallery[0]) if len(top.gallery) else None
        twin = (side.twins or {}).get(t.pid)
        twin = twin if twin in gallery_pids else None
        categories = ["twin"] if twin is not None else []
        fractions = None
        if side.outliers is not None:
            kinds = [k for f in t.frames for k in side.outliers.get(os.path.basename(f), ())]
            fractions = {k: kinds.count(k) / len(t.frames) for k in OUTLIER_KINDS}
            categories += [CATEGORY_OF_KIND[k] for k in OUTLIER_KINDS if fractions[k] >= HEAVY]
        if side.categories and not categories:
            categories = ["clean"]
        rows.append(QueryRow(i, t.name, t.pid, t.camid, len(t.frames), float(ap[i]), top.first_match,
                             gallery[j].name if j is not None else None, int(g_pids[j]) if j is not None else None,
                             int(g_cams[j]) if j is not None else None, fractions, twin, tuple(categories)))
    return rows


@dataclass(frozen=True)
class GroupStats:
    """Rank-1 and mAP of a group of scored queries (fractions; NaN for an empty group) and its
    rank-1 failures, also as a share of all rank-1 failures (NaN when there are none)."""

    name: str
    queries: int
    rank1: float
    mAP: float
    failures: int
    share: float


def group_stats(rows: list[QueryRow], groups: dict[str, list[bool]]) -> list[GroupStats]:
    """``GroupStats`` of each named group (one bool per row: the row is in the group)."""
    scored = [r.scored for r in rows]
    all_failures = sum(1 for r in rows if r.scored and not r.rank1)
    out = []
    for name, member in groups.items():
        picked = [r for r, m, s in zip(rows, member, scored) if m and s]
        failures = sum(1 for r in picked if not r.rank1)
        n = len(picked)
        out.append(GroupStats(name, n, sum(r.rank1 for r in picked) / n if n else math.nan,
                              float(np.mean([r.ap for r in picked])) if n else math.nan, failures,
                              failures / all_failures if all_failures else math.nan))
    return out


def breakdown(rows: list[QueryRow], categories: tuple[str, ...]) -> list[GroupStats]:
    """``all`` and each category; a query may be in several categories, so shares may sum past 100 %."""
    groups = {"all": [True] * len(rows), **{c: [c in r.categories for r in rows] for c in categories}}
    return group_stats(rows, groups)


def camera_breakdown(rows: list[QueryRow]) -> list[GroupStats]:
    """One group per query camera, named as in the tracklet names (``C1`` is camid 0)."""
    return group_stats(rows, {f"C{c + 1}": [r.camid == c for r in rows] for c in sorted({r.camid for r in rows})})


@dataclass(frozen=True)
class Agreement:
    """Rank-1 of two rankings on the same scored queries of one group."""

    name: str
    queries: int
    both: int
    only_a: int
    only_b: int
    neither: int


def compare(a: list[QueryRow], b: list[QueryRow], categories: tuple[str, ...]) -> list[Agreement]:
    """Queries both rankings get right at rank 1, only ``a``, only ``b``, neither: ``all`` and per category."""
    if [(r.name, r.pid, r.camid) for r in a] != [(r.name, r.pid, r.camid) for r in b]:
        raise ValueError("the two rankings are of different queries (names, pids or cameras differ)")
    out = []
    for name in ("all", *categories):
        pairs = [(x.rank1, y.rank1) for x, y in zip(a, b) if x.scored and y.scored
                 and (name == "all" or name in x.categories)]
        out.append(Agreement(name, len(pairs), pairs.count((True, True)), pairs.count((True, False)),
                             pairs.count((False, True)), pairs.count((False, False))))
    return out
