"""Cameras, the tracklet plan and the MARS info files of the synthetic data set.

``build_world(config)`` draws identities, cameras, tracklets, wrong labels, outlier frames and
queries (everything but the pixels); ``write_info_files`` writes ``info/`` in the MARS layout
(docs/method.md, "Datasets") plus ``synthetic_meta.json``, ``wrong_labels.csv``, ``outliers.csv`` and,
when there are near twins, ``twins.csv``.
The frames themselves are rendered by reid/data/synthetic/.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import scipy.io

from reid.data.synthetic.people import Person, near_twin, pt, random_person
from reid.data.synthetic.presets import GeneratorParams
from reid.errors import ConfigError

# Outlier kinds in the order their frames are drawn (the keys of reid.data.synthetic.render._OUTLIERS and
# the GeneratorParams fields holding their fractions).
OUTLIER_KINDS = ("occlusion", "blur", "truncation")

TWIN_STREAM = 0x7781  # tags the near-twin pairing stream (see _make_twins)


@dataclass(frozen=True)
class Camera:
    """One camera: its scene, its colour response and its sensor noise."""

    background: np.ndarray  # (1.3 H, 3 W, 3) uint8 BGR scene; tracklets crop (H, W) windows
    lut: np.ndarray  # (256, 1, 3) uint8 per-channel gain / colour cast / brightness
    noise: np.ndarray  # (2 H, 2 W, 3) int16 noise bank, cropped per frame
    scale: float  # typical person height factor (viewpoint distance)


def _random_camera(rng: np.random.Generator, h: int, w: int, cast: float = 1.0) -> Camera:
    bh, bw = int(h * 1.3), 3 * w
    horizon = int(bh * rng.uniform(0.45, 0.7))
    bg = np.empty((bh, bw, 3), np.uint8)
    bg[:horizon], bg[horizon:] = rng.integers(50, 210, 3), rng.integers(50, 210, 3)
    for _ in range(int(rng.integers(5, 12))):  # windows, doors, signs on the wall
        x, y = int(rng.integers(0, bw)), int(rng.integers(0, horizon))
        size = pt(rng.uniform(0.1, 0.6) * w, rng.uniform(0.1, 0.5) * horizon)
        cv2.rectangle(bg, (x, y), (x + size[0], y + size[1]), tuple(int(c) for c in rng.integers(30, 230, 3)), -1)
    line = tuple(int(c) for c in bg[-1, 0] * 0.8)
    step = max(4, int(w * rng.uniform(0.08, 0.2)))
    for x in range(0, bw, step):  # floor tiles in perspective
        cv2.line(bg, (x, horizon), pt(x + (x - bw / 2) * 0.3, bh), line, 1)
    for y in range(horizon, bh, max(2, step // 2)):
        cv2.line(bg, (0, y), (bw, y), line, 1)
    bg = cv2.GaussianBlur(bg, (0, 0), max(0.5, w / 128))
    gain = rng.uniform(0.75, 1.25, 3) * rng.uniform(0.7, 1.2)
    gain = 1.0 + cast * (gain - 1.0) if cast != 1.0 else gain
    lut = np.clip(np.arange(256)[:, None] * gain + rng.uniform(-15, 20), 0, 255).astype(np.uint8)
    noise = np.round(rng.normal(0.0, rng.uniform(2.0, 7.0), (2 * h, 2 * w, 3))).astype(np.int16)
    return Camera(bg, lut.reshape(256, 1, 3), noise, float(rng.uniform(0.78, 0.98)))


@dataclass
class TrackSpec:
    """One tracklet to render. ``pid`` is what the files say; ``true_pid`` who is drawn."""

    split: str  # "train" or "test"
    pid: int  # written pid: -1 junk, 0 distractor
    true_pid: int
    camera: int  # 1-based
    length: int
    kind: str  # "person", "fragment" (a piece of a body, too close) or "background"
    person: int  # index into World.persons, -1 for background
    name: str = ""  # PPPPCcTtttt
    outliers: dict[int, list[str]] = field(default_factory=dict)  # frame index -> kinds

    @property
    def home(self) -> str:
        return "bbox_train" if self.split == "train" else "bbox_test"


@dataclass
class World:
    """Everything ``generate`` renders and writes, drawn by ``build_world`` (no pixels yet)."""

    config: GeneratorParams
    persons: list[Person]
    cameras: list[Camera]
    tracks: list[TrackSpec]  # train rows then test rows, each in MARS row order (sorted names)
    queries: list[int]  # 1-based rows of the test tracks
    twins: list[tuple[str, int, int, str]] = field(default_factory=list)  # split, pid, twin's pid, difference


def _pid_str(pid: int) -> str:
    return "00-1" if pid == -1 else f"{pid:04d}"


def build_world(cfg: GeneratorParams) -> World:
    """Draw identities (near twins among them), cameras, tracklets, wrong labels, outlier frames and queries."""
    rng = np.random.default_rng([cfg.seed, 1])
    n = cfg.num_train_ids + cfg.num_test_ids
    pids = rng.choice(np.arange(1, min(9999, max(1500, 2 * n)) + 1), n, replace=False)
    train_pids = sorted(int(p) for p in pids[:cfg.num_train_ids])
    cameras = [_random_camera(rng, cfg.height, cfg.width, cfg.colour_cast) for _ in range(cfg.num_cameras)]
    persons: list[Person] = []
    tracks: list[TrackSpec] = []

    def add(split: str, pid: int, cam: int, kind: str, person: int) -> None:
        length = int(rng.integers(cfg.tracklet_length[0], cfg.tracklet_length[1] + 1))
        tracks.append(TrackSpec(split, pid, pid, cam, length, kind, person))

    dress, narrow = _outfit_picker(cfg), _clothing_narrower(cfg)
    test_pids = sorted(int(p) for p in pids[cfg.num_train_ids:])
    for split, plist in (("train", train_pids), ("test", test_pids)):
        for pid in plist:
            persons.append(dress(narrow(random_person(rng))))
            k = int(rng.integers(cfg.cameras_per_id[0], cfg.cameras_per_id[1] + 1))
            for cam in sorted(int(c) + 1 for c in rng.choice(cfg.num_cameras, k, replace=False)):
                for _ in range(int(rng.integers(cfg.tracklets_per_camera[0], cfg.tracklets_per_camera[1] + 1))):
                    add(split, pid, cam, "person", len(persons) - 1)
    # Distractors (pid 0): unknown people and bad detections; junk (pid -1): fragments, background.
    for pid, count, kinds, p in ((0, cfg.num_distractors, ["person", "fragment", "background"], [0.6, 0.2, 0.2]),
                                 (-1, cfg.num_junk, ["fragment", "background"], [0.5, 0.5])):
        for _ in range(count):
            kind = str(rng.choice(kinds, p=p))
            if kind != "background":
                persons.append(narrow(random_person(rng)))
            add("test", pid, int(rng.integers(1, cfg.num_cameras + 1)), kind,
                len(persons) - 1 if kind != "background" else -1)
    train_rows = [i for i, t in enumerate(tracks) if t.split == "train"]
    for i in sorted(rng.choice(train_rows, round(cfg.wrong_labels * len(train_rows)), replace=False)):
        tracks[i].pid = int(rng.choice([p for p in train_pids if p != tracks[i].true_pid]))
    counters: dict[tuple[str, int, int], int] = {}
    for t in tracks:
        key = (t.split, t.pid, t.camera)
        counters[key] = counters.get(key, 0) + 1
        if counters[key] > 9999:
            raise ConfigError(f"more than 9999 tracklets of pid {t.pid} in camera {t.camera}: "
                              "MARS names have four tracklet digits; lower num_distractors/num_junk")
        t.name = f"{_pid_str(t.pid)}C{t.camera}T{counters[key]:04d}"
    tracks = sorted((t for t in tracks if t.split == "train"), key=lambda t: t.name) + \
        sorted((t for t in tracks if t.split == "test"), key=lambda t: t.name)
    eligible = [(i, f) for i, t in enumerate(tracks) if t.kind == "person" and t.true_pid > 0 for f in range(t.length)]
    for kind in OUTLIER_KINDS:
        for j in sorted(rng.choice(len(eligible), round(getattr(cfg, kind) * len(eligible)), replace=False)):
            i, f = eligible[j]
            tracks[i].outliers.setdefault(f, []).append(kind)
    twins = _make_twins(cfg, persons, train_pids + test_pids)
    return World(cfg, persons, cameras, tracks, _choose_queries(rng, [t for t in tracks if t.split == "test"]), twins)


_OUTFIT_FIELDS = ("top", "pattern", "pattern_colour", "logo_shape", "short_sleeves", "bottom", "bottom_style")


def _outfit_picker(cfg: GeneratorParams):
    """Person -> the same person in one of ``cfg.outfits`` shared outfits (identity when 0).

    Outfits and the choice among them come from their own random streams, so the rest of the
    world (cameras, tracklets, everything but clothing) is the one drawn without outfits.
    """
    if cfg.outfits == 0:
        return lambda person: person
    templates = [random_person(np.random.default_rng([cfg.seed, 11, k]), colours=cfg.palette_colours,
                               patterns=cfg.patterns) for k in range(cfg.outfits)]
    choose = np.random.default_rng([cfg.seed, 12])

    def dress(person: Person) -> Person:
        outfit = templates[int(choose.integers(0, cfg.outfits))]
        return replace(person, **{f: getattr(outfit, f) for f in _OUTFIT_FIELDS})

    return dress


def _clothing_narrower(cfg: GeneratorParams):
    """Person -> the same person in clothing of ``cfg.palette_colours`` colours and ``cfg.patterns``
    patterns, redrawn from its own random stream as outfits are (identity when neither narrows:
    0, or the whole palette of 10 and all 5 patterns)."""
    if not (0 < cfg.palette_colours < 10 or 0 < cfg.patterns < 5):
        return lambda person: person
    stream = np.random.default_rng([cfg.seed, 13])

    def narrow(person: Person) -> Person:
        clothes = random_person(stream, colours=cfg.palette_colours, patterns=cfg.patterns)
        return replace(person, **{f: getattr(clothes, f) for f in _OUTFIT_FIELDS})

    return narrow


def _make_twins(cfg: GeneratorParams, persons: list[Person], pids: list[int]) -> list[tuple[str, int, int, str]]:
    """Pair ``cfg.twins`` of each split's identities at random and redraw the second of each pair as a
    near twin of the first (people.near_twin), in place; ``persons[i]`` is identity ``pids[i]``.

    Returns (split, pid, twin's pid, what differs) per pair. Its own random stream.
    """
    if not cfg.twins:
        return []
    # its own stream, tagged so that no other stream shares it: with [seed, 14] the identity
    # sampler's epoch 14 (default_rng([seed, epoch]).permutation of the training ids) drew the
    # very permutation whose consecutive pairs are the twins, and put every training twin pair in
    # one batch at that epoch of a seed-0 run on a seed-0 world
    rng, twins = np.random.default_rng([cfg.seed, 14, TWIN_STREAM]), []
    for split, start, count in (("train", 0, cfg.num_train_ids), ("test", cfg.num_train_ids, cfg.num_test_ids)):
        chosen = start + rng.permutation(count)[:2 * round(cfg.twins * count / 2)]
        for a, b in zip(chosen[0::2].tolist(), chosen[1::2].tolist()):
            persons[b], what = near_twin(persons[a], rng)
            twins.append((split, pids[a], pids[b], what))
    return twins


def _choose_queries(rng: np.random.Generator, test: list[TrackSpec]) -> list[int]:
    """One query per (identity, camera) as in MARS, keeping a cross-camera gallery match for each.

    A camera with a single tracklet that becomes a query leaves no gallery item there; so unless
    two cameras of the identity have two or more tracklets, one single-tracklet camera (chosen at
    random) stays gallery-only. Returns sorted 1-based rows of the test tracks.
    """
    by_pid: dict[int, dict[int, list[int]]] = {}
    for row, t in enumerate(test, start=1):
        if t.pid > 0:
            by_pid.setdefault(t.pid, {}).setdefault(t.camera, []).append(row)
    queries = []
    for pid in sorted(by_pid):
        cams = by_pid[pid]
        if len(cams) < 2:
            continue
        singles = sorted(c for c, rows in cams.items() if len(rows) == 1)
        gallery_only = None if len(cams) - len(singles) >= 2 else int(rng.choice(singles))
        queries += [int(rng.choice(rows)) for c, rows in sorted(cams.items()) if c != gallery_only]
    return sorted(queries)


def write_info_files(root: Path, world: World, *, params: dict[str, object]) -> None:
    """Write ``info/`` (name lists, track and query .mat files) and the generator's records.

    ``wrong_labels.csv``: row (0-based row of ``track_train_info``), name, true_pid, written_pid.
    ``outliers.csv``: split, frame name, kind (occlusion, blur or truncation). ``twins.csv`` (only
    with near twins): split, pid, twin_pid (drawn as pid with one detail changed), difference.
    """
    info = root / "info"
    info.mkdir(parents=True)
    for split, var, filename in (("train", "track_train_info", "tracks_train_info.mat"),
                                 ("test", "track_test_info", "tracks_test_info.mat")):
        names: list[str] = []
        rows = []
        for t in (t for t in world.tracks if t.split == split):
            start = len(names) + 1
            names += [f"{t.name}F{f + 1:03d}.jpg" for f in range(t.length)]
            rows.append([start, len(names), t.pid, t.camera])
        (info / f"{split}_name.txt").write_text("".join(n + "\n" for n in names))
        _savemat(info / filename, var, np.array(rows, np.int32).reshape(-1, 4))  # integer, as the real files
    _savemat(info / "query_IDX.mat", "query_IDX", np.array(world.queries, np.int32).reshape(1, -1))
    train = [t for t in world.tracks if t.split == "train"]
    wrong = ["row,name,true_pid,written_pid"] + [f"{i},{t.name},{t.true_pid},{t.pid}"
                                                for i, t in enumerate(train) if t.pid != t.true_pid]
    (root / "wrong_labels.csv").write_text("\n".join(wrong) + "\n")
    outliers = ["split,name,kind"] + [f"{t.split},{t.name}F{f + 1:03d}.jpg,{kind}" for t in world.tracks
                                      for f, kinds in sorted(t.outliers.items()) for kind in kinds]
    (root / "outliers.csv").write_text("\n".join(outliers) + "\n")
    if world.twins:
        rows = ["split,pid,twin_pid,difference"] + [",".join(map(str, row)) for row in world.twins]
        (root / "twins.csv").write_text("\n".join(rows) + "\n")
    meta = {"generator": "reid.data.synthetic", "seed": world.config.seed, "params": params,
            "counts": _counts(world, num_wrong=len(wrong) - 1)}
    (root / "synthetic_meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")


def _counts(world: World, *, num_wrong: int) -> dict[str, int]:
    train = [t for t in world.tracks if t.split == "train"]
    test = [t for t in world.tracks if t.split == "test"]
    junk = [t for t in test if t.pid == -1]
    distractors = [t for t in test if t.pid == 0]
    counts = {
        "train_ids": len({t.pid for t in train}), "train_tracklets": len(train),
        "train_frames": sum(t.length for t in train),
        "test_ids": len({t.pid for t in test if t.pid > 0}), "test_tracklets": len(test),
        "test_frames": sum(t.length for t in test),
        "junk_tracklets": len(junk), "junk_frames": sum(t.length for t in junk),
        "distractor_tracklets": len(distractors), "distractor_frames": sum(t.length for t in distractors),
        "queries": len(world.queries), "gallery_tracklets": len(test) - len(junk) - len(world.queries),
        "wrong_labels": num_wrong,
    }
    for kind in OUTLIER_KINDS:
        counts[f"{kind}_frames"] = sum(kinds.count(kind) for t in world.tracks for kinds in t.outliers.values())
    return counts


def _savemat(path: Path, variable: str, array: np.ndarray) -> None:
    """scipy.io.savemat with a fixed header text (scipy writes the date), so bytes are reproducible."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {variable: array})
    data = bytearray(buffer.getvalue())
    data[:116] = b"MATLAB 5.0 MAT-file, Platform: posix, Created by: reid.data.synthetic".ljust(116, b" ")
    path.write_bytes(bytes(data))
