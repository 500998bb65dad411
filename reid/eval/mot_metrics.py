"""Multi-object tracking metrics of MOT-challenge files, computed by the ``trackers`` package.

``evaluate_tracking(pairs)`` scores one or several (ground truth, prediction) file pairs, one per
camera, with ``trackers.eval`` (Roboflow's re-implementation with TrackEval parity: CLEAR MOT,
HOTA, Identity; docs/method.md section 5). Nothing is counted here by hand: this module checks and
normalises the files and reads the library's numbers.

Two ways to combine cameras:

- ``cross_camera=False`` (single-camera tracking): each camera is a sequence, the totals are
  TrackEval's combination over sequences; an identity may carry another id in each camera.
- ``cross_camera=True`` (multi-camera tracking, as the DukeMTMC MTMC protocol pools cameras): the
  cameras are concatenated into one sequence, each camera's frames after the previous camera's
  last frame, so a person must keep one id over all cameras to score a full IDF1 and AssA.

Files: ``frame, id, x, y, w, h[, conf, class, visibility...]``, frames 1-based. Ground truth rows
with ``conf`` 0 or a class other than 1 (pedestrian) are not scored (MOT16+ rules); prediction
rows with a negative id are not scored.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reid.errors import ConfigError, DatasetError

METRICS = ("CLEAR", "HOTA", "Identity")


@dataclass(frozen=True)
class TrackingScores:
    """Scores as fractions in [0, 1] (MOTA may be negative); counts are box counts."""

    det_recall: float  # CLEAR recall: matched gt boxes / gt boxes (IoU >= 0.5)
    det_precision: float  # matched predicted boxes / predicted boxes
    idf1: float
    idp: float
    idr: float
    hota: float
    deta: float
    assa: float
    mota: float
    id_switches: int
    gt_boxes: int
    pred_boxes: int


def read_rows(path: str | os.PathLike) -> list[list[str]]:
    """The comma-separated rows of a MOT file, blank and ``#`` lines left out.

    Raises:
        DatasetError: missing file, fewer than 6 fields, a non-number, or a frame that is not an integer >= 1.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"MOT file {path} not found")
    rows = []
    for line_no, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        try:
            values = [float(f) for f in fields[:6]]
        except ValueError:
            values = []
        if len(fields) < 6 or len(values) < 6 or not all(map(math.isfinite, values)):
            raise DatasetError(f"{path}:{line_no}: {line.strip()!r}; expected 'frame,id,x,y,w,h,...' numbers")
        if values[0] != int(values[0]) or values[0] < 1 or values[1] != int(values[1]):
            raise DatasetError(f"{path}:{line_no}: frame {fields[0]} / id {fields[1]}; expected integers, frame >= 1")
        rows.append([str(int(values[0])), str(int(values[1])), *fields[2:]])
    return rows


def _write(path: Path, rows: list[list[str]], offset: int, placeholder: str) -> None:
    text = "".join(",".join([str(int(r[0]) + offset), *r[1:]]) + "\n" for r in rows)
    path.write_text(text or placeholder)  # the library refuses empty files: an unscored row instead


_EMPTY_GT = "1,-1,0,0,1,1,0,1,0\n"  # conf 0: never scored
_EMPTY_PRED = "1,-1,0,0,1,1,1,-1,-1,-1\n"  # negative id: never scored


def evaluate_tracking(pairs: Sequence[tuple[str | os.PathLike, str | os.PathLike]], *,
                      cross_camera: bool = False, iou: float = 0.5) -> TrackingScores:
    """CLEAR, HOTA and Identity metrics of predicted tracks against ground truth.

    Args:
        pairs: ``(gt_file, prediction_file)`` per camera (or per sequence).
        cross_camera: pool the cameras into one sequence, so ids must agree across cameras
            (see the module docstring); False scores each camera on its own and sums.
        iou: IoU threshold of a match for CLEAR and Identity (HOTA averages 0.05..0.95).

    Raises:
        ConfigError: no pairs, or ``iou`` outside (0, 1).
        DatasetError: a missing or malformed file (one line naming the file and line).
    """
    if not pairs:
        raise ConfigError("evaluate_tracking: no (ground truth, prediction) pairs given")
    if not 0.0 < iou < 1.0:
        raise ConfigError(f"evaluate_tracking: iou={iou}, expected a value in (0, 1)")
    loaded = [(read_rows(gt), read_rows(pred)) for gt, pred in pairs]
    from trackers.eval import evaluate_mot_sequence, evaluate_mot_sequences  # imports supervision: only when used

    with tempfile.TemporaryDirectory(prefix="mot-metrics-") as tmp:
        gt_dir, pred_dir = Path(tmp, "gt"), Path(tmp, "pred")
        gt_dir.mkdir()
        pred_dir.mkdir()
        if cross_camera:
            offset, gt_rows, pred_rows = 0, [], []
            for gt, pred in loaded:
                gt_rows += [[str(int(r[0]) + offset), *r[1:]] for r in gt]
                pred_rows += [[str(int(r[0]) + offset), *r[1:]] for r in pred]
                offset += max((int(r[0]) for r in gt + pred), default=0)
            _write(gt_dir / "all.txt", gt_rows, 0, _EMPTY_GT)
            _write(pred_dir / "all.txt", pred_rows, 0, _EMPTY_PRED)
            result = evaluate_mot_sequence(gt_dir / "all.txt", pred_dir / "all.txt", metrics=list(METRICS),
                                           threshold=iou)
        else:
            for k, (gt, pred) in enumerate(loaded):
                _write(gt_dir / f"seq{k:03d}.txt", gt, 0, _EMPTY_GT)
                _write(pred_dir / f"seq{k:03d}.txt", pred, 0, _EMPTY_PRED)
            result = evaluate_mot_sequences(gt_dir, pred_dir, metrics=list(METRICS), threshold=iou).aggregate
    clear, hota, ident = result.CLEAR, result.HOTA, result.Identity
    return TrackingScores(
        det_recall=float(clear.CLR_Re), det_precision=float(clear.CLR_Pr), idf1=float(ident.IDF1),
        idp=float(ident.IDP), idr=float(ident.IDR), hota=float(hota.HOTA), deta=float(hota.DetA),
        assa=float(hota.AssA), mota=float(clear.MOTA), id_switches=int(clear.IDSW),
        gt_boxes=int(clear.CLR_TP + clear.CLR_FN), pred_boxes=int(clear.CLR_TP + clear.CLR_FP))


__all__ = ["TrackingScores", "evaluate_tracking", "read_rows"]
