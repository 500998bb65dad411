"""The footage bench (tools/bench_footage.py): does re-ID linking improve tracking on synthetic
multi-camera footage?

Per seed: render the footage (reid/data/synthetic/footage.py), simulate a detector from its
ground truth (misses, occlusion losses, box noise), track each camera with the footage tracker
(ByteTrack, reid/data/footage/tracking.py), then link the tracks (reid/tracking) with (ii) an
untrained model and (iii) a model trained on the footage's training part (its ground-truth tracks
cropped into the own-footage layout, trained by the project's training with configs/demo.yaml at
128x64), and (iv) a model trained without any label on the tracker's own tracks of the training part
(``data.labels=ignore``: what a user with unlabelled video has). Each model's linking threshold is calibrated on the training part's tracker tracks: of
the 1st..60th percentiles of that model's track distances there (30 values: an untrained model's
distances are on another scale than a trained one's), the one with the best multi-camera IDF1. All scores are on the test part (same cameras, later time,
other people), computed by reid/eval/mot_metrics.py. Optionally OpenCV's HOG detector on the first
frames of the test part instead of the simulated one.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from reid.config import Config, apply_overrides, config_from_dict, config_to_dict, load_config
from reid.data.footage.crop import crop_tracklets
from reid.data.footage.detection import build_detector
from reid.data.footage.detections_file import read_mot_detections
from reid.data.footage.tracking import PersonTracker, write_mot
from reid.data.footage.video import VideoReader
from reid.data.synthetic.footage import FootageConfig, render_footage, sequence_dir
from reid.data.synthetic.footage_detections import simulate_detections
from reid.eval.mot_metrics import TrackingScores, evaluate_tracking
from reid.models import ReIDNet
from reid.pipeline.builders import build_model_for, load_data, seed_everything
from reid.pipeline.training import run_training
from reid.tracking.videos import embed_videos, write_linked
from reid.tracking.linking import calibrate_threshold, link_tracks, track_distances

logger = logging.getLogger(__name__)

GRID = np.linspace(0.01, 0.6, 30)  # thresholds tried: these quantiles of the model's track distances


@dataclass
class Row:
    """One line of the bench table."""

    seed: int
    stage: str
    scores: TrackingScores  # cameras pooled: ids must agree across cameras
    per_camera: TrackingScores  # each camera on its own
    fps: float | None  # frames (all cameras) per second of this stage alone
    threshold: float | None = None


def prepare(root: Path, seed: int, footage: FootageConfig) -> list[Path]:
    """Render the footage of ``seed`` under ``root`` unless there, and simulated detections per sequence."""
    if not (root / "footage_meta.json").is_file():
        render_footage(root, replace(footage, seed=seed))
    dets = []
    for part in ("train", "test"):
        for cam in range(footage.num_cameras):
            seq = sequence_dir(root, part, cam)
            det = seq / "det" / "det.txt"
            simulate_detections(seq / "gt" / "gt.txt", det, width=footage.width, height=footage.height,
                                seed=seed * 100 + cam, frames=footage.frames(part))
            dets.append(det)
    return dets


def track_part(root: Path, part: str, footage: FootageConfig, out: Path, *, hog_frames: int = 0) -> tuple[list, float]:
    """Track every camera of ``part``: returns ``[(video, gt, tracks)]`` and the tracking seconds.

    ``hog_frames`` > 0: detect with HOG on the first that many frames instead (gt cut to them).
    """
    seqs, seconds = [], 0.0
    detector = build_detector("hog", hog_min_height=96) if hog_frames else None
    for cam in range(footage.num_cameras):
        seq = sequence_dir(root, part, cam)
        tracker, gt = PersonTracker(footage.fps), seq / "gt" / "gt.txt"
        start = time.perf_counter()
        if detector is None:
            dets = read_mot_detections(seq / "det" / "det.txt")
            for f in range(1, footage.frames(part) + 1):
                tracker.update(f, dets.detections(f, footage.width, footage.height))
        else:
            for f, image in VideoReader(seq / "video.avi"):
                if f > hog_frames:
                    break
                tracker.update(f, detector(image))
            rows = [r for r in gt.read_text().splitlines() if int(r.split(",")[0]) <= hog_frames]
            gt = out / f"gt_cam{cam}.txt"
            gt.parent.mkdir(parents=True, exist_ok=True)
            gt.write_text("".join(f"{r}\n" for r in rows))
        seconds += time.perf_counter() - start
        write_mot(out / f"tracks_cam{cam}.txt", tracker.rows)
        seqs.append((seq / "video.avi", gt, out / f"tracks_cam{cam}.txt"))
    return seqs, seconds


def score(seqs: list, files: list[Path] | None = None) -> tuple[TrackingScores, TrackingScores]:
    """(cameras pooled, per camera) scores of the tracks files (default: the trackers')."""
    pairs = [(gt, f) for (_, gt, _), f in zip(seqs, files or [s[2] for s in seqs])]
    return evaluate_tracking(pairs, cross_camera=True), evaluate_tracking(pairs)


def model_config(out: Path, seed: int, iterations: int, base: str = "configs/demo.yaml") -> Config:
    """configs/demo.yaml at 128x64 on a folder dataset in ``out/crops`` (the training part's crops)."""
    return load_config(base, [f"seed={seed}", "device=cpu", f"output_dir={out / 'train_run'}", "data.name=folder",
                              f"data.root={out / 'crops'}", "data.height=128", "data.width=64", "data.workers=0",
                              f"train.iterations={iterations}", "train.eval_every=0",
                              f"train.checkpoint_every={iterations}", "eval.rerank=false",
                              "train.resume=auto"])  # a second call reuses the trained model in --work


def train_on_footage(root: Path, cfg: Config, footage: FootageConfig) -> ReIDNet:
    """Crop the training part's ground-truth tracks (pid = person, one camera each) and train on them."""
    crops = Path(cfg.data.root)
    if not crops.is_dir():
        for cam in range(footage.num_cameras):
            seq = sequence_dir(root, "train", cam)
            crop_tracklets(seq / "video.avi", seq / "gt" / "gt.txt", cam, crops, min_length=8)
    model, _ = run_training(cfg, load_data(cfg))
    return model.cpu().eval()


def train_without_labels(out: Path, cfg: Config, train_seqs: list, overrides: Sequence[str] = ()) -> ReIDNet:
    """Crop the tracker's tracks of the training part (no ground truth) and train with ``data.labels=ignore``;
    ``overrides`` (``key=value``, as on the command line) change that run's config, which then trains
    in a folder named after them (``train_unlabelled_<overrides>``), so each variant is kept apart."""
    crops = out / "tracker_crops"
    if not crops.is_dir():
        for cam, (video, _gt, tracks) in enumerate(train_seqs):
            crop_tracklets(video, tracks, cam, crops, min_length=8, pid_offset=100_000 * cam)
    name = "train_unlabelled" + "".join("_" + re.sub(r"[^A-Za-z0-9._=-]+", "-", o) for o in overrides)
    ucfg = replace(cfg, output_dir=str(out / name), data=replace(cfg.data, root=str(crops), labels="ignore"))
    if overrides:
        ucfg = config_from_dict(apply_overrides(config_to_dict(ucfg), list(overrides)))
    model, _ = run_training(ucfg, load_data(ucfg))
    return model.cpu().eval()


def link_stage(model: ReIDNet, cfg: Config, train_seqs: list, test_seqs: list, out: Path,
               *, rerank: bool = False, auto: bool = False) -> tuple[float, list[Path], float]:
    """Link the test part: (threshold, files, seconds). The threshold is calibrated on the training
    part's ground truth, or with ``auto`` on the test part's own tracks, without any ground truth
    (``calibrate_threshold``, what ``osmcaa-reid link`` does by default)."""
    d = cfg.data
    kw = dict(height=d.height, width=d.width, seq_len=d.test_seq_len, max_frames=d.test_max_frames,
              batch_size=cfg.eval.batch_size)
    if auto:
        start = time.perf_counter()
        spans, feats = embed_videos(model, [(v, t) for v, _, t in test_seqs], **kw)
        dist = track_distances(feats, rerank=rerank)
        threshold = calibrate_threshold(spans, dist)
        files = [out / f"linked_cam{c}.txt" for c in range(len(test_seqs))]
        write_linked(spans, link_tracks(spans, dist, threshold=threshold), [(v, t) for v, _, t in test_seqs], files)
        return threshold, files, time.perf_counter() - start
    spans, feats = embed_videos(model, [(v, t) for v, _, t in train_seqs], **kw)
    dist = track_distances(feats, rerank=rerank)
    calib = [out / f"calib_cam{c}.txt" for c in range(len(train_seqs))]

    def idf1(threshold: float) -> float:
        write_linked(spans, link_tracks(spans, dist, threshold=threshold), [(v, t) for v, _, t in train_seqs], calib)
        return score(train_seqs, calib)[0].idf1

    finite = dist[np.triu_indices(len(dist), 1)]
    finite = finite[finite < 1e5]  # tracks without a crop are far from everything
    best = max(np.quantile(finite, GRID) if len(finite) else [0.0], key=idf1)
    start = time.perf_counter()
    spans, feats = embed_videos(model, [(v, t) for v, _, t in test_seqs], **kw)
    labels = link_tracks(spans, track_distances(feats, rerank=rerank), threshold=best)
    files = [out / f"linked_cam{c}.txt" for c in range(len(test_seqs))]
    write_linked(spans, labels, [(v, t) for v, _, t in test_seqs], files)
    return float(best), files, time.perf_counter() - start


def bench_seed(work: Path, seed: int, footage: FootageConfig, *, iterations: int, rerank: bool = True,
               hog_frames: int = 0, unlabelled: Sequence[str] = ()) -> list[Row]:
    """Every stage of the bench on the footage of one seed (see the module docstring)."""
    root, out = work / f"footage_s{seed}", work / f"run_s{seed}"
    prepare(root, seed, footage)
    frames = footage.test_frames * footage.num_cameras
    train_seqs, _ = track_part(root, "train", footage, out / "tracker_train")
    test_seqs, seconds = track_part(root, "test", footage, out / "tracker_test")
    rows = [Row(seed, "tracker alone (simulated detector + ByteTrack)", *score(test_seqs), frames / seconds)]
    cfg = model_config(out, seed, iterations)
    seed_everything(seed)
    untrained, _ = build_model_for(cfg, num_classes=2)
    stages = [("untrained", "+ linking, untrained model", untrained.eval(), False, False)]
    trained = train_on_footage(root, cfg, footage)
    stages += [("trained", "+ linking, model trained on the train part", trained, False, False)]
    if rerank:
        stages += [("trained_rerank", "+ linking, trained model, re-ranked", trained, True, False)]
    unlabelled_model = train_without_labels(out, cfg, train_seqs, unlabelled)
    stages += [("untrained_auto", "+ linking, untrained model, threshold from the footage", untrained, False, True),
               ("trained_auto", "+ linking, trained model, threshold from the footage", trained, False, True),
               ("unlabelled_auto", "+ linking, model trained without labels on the tracker's tracks, threshold "
                                   "from the footage" + "".join(f", {o}" for o in unlabelled), unlabelled_model, False, True)]
    for slug, name, model, rr, auto in stages:
        threshold, files, seconds = link_stage(model, cfg, train_seqs, test_seqs, out / slug, rerank=rr, auto=auto)
        rows.append(Row(seed, name, *score(test_seqs, files), frames / seconds, threshold))
    if hog_frames:
        hog_seqs, seconds = track_part(root, "test", footage, out / "hog_test", hog_frames=hog_frames)
        rows.append(Row(seed, f"HOG detector + ByteTrack (first {hog_frames} frames)", *score(hog_seqs),
                        hog_frames * footage.num_cameras / seconds))
    return rows


def format_table(rows: list[Row]) -> str:
    """A markdown table: one line per seed and stage, then the mean over seeds per stage."""
    head = ("| seed | stage | det recall | det precision | IDF1 (per camera) | IDF1 (multi-camera) | "
            "HOTA (multi-camera) | MOTA | ID switches | threshold | frames/s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def line(seed: str, r: Row) -> str:
        t = "" if r.threshold is None else f"{r.threshold:.2f}"
        fps = "" if r.fps is None else f"{r.fps:.0f}"
        return (f"| {seed} | {r.stage} | {100 * r.scores.det_recall:.1f} | {100 * r.scores.det_precision:.1f} | "
                f"{100 * r.per_camera.idf1:.1f} | {100 * r.scores.idf1:.1f} | {100 * r.scores.hota:.1f} | "
                f"{100 * r.per_camera.mota:.1f} | {r.per_camera.id_switches} | {t} | {fps} |")

    lines += [line(str(r.seed), r) for r in rows]
    for stage in dict.fromkeys(r.stage for r in rows):
        same = [r for r in rows if r.stage == stage]
        if len(same) > 1:
            mean = lambda key, attr: float(np.mean([getattr(getattr(r, attr), key) for r in same]))  # noqa: E731
            avg = {a: replace(same[0].__getattribute__(a), **{k: mean(k, a) for k in
                                                               ("det_recall", "det_precision", "idf1", "hota", "mota")})
                   for a in ("scores", "per_camera")}
            avg["per_camera"] = replace(avg["per_camera"], id_switches=round(
                float(np.mean([r.per_camera.id_switches for r in same]))))
            fps = [r.fps for r in same if r.fps]
            lines.append(line("mean", Row(-1, stage, avg["scores"], avg["per_camera"],
                                          float(np.mean(fps)) if fps else None)))
    return "\n".join(lines)


__all__ = ["Row", "bench_seed", "format_table", "link_stage", "model_config", "prepare", "score", "track_part",
           "train_on_footage", "train_without_labels"]
