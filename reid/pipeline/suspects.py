"""Suspect training tracklets: the ones Class-Aware Attention trusts least.

A wrong label or an outlying tracklet sits far from its class centre, so its own-class
probability, and with it the CAA attention a_i, is low. Ranking training tracklets by a_i
(lowest first) gives a list to inspect; on synthetic data the injected wrong labels are known, so
the precision of that list can be measured.

Two sources of a_i:
- ``training``: the mean attention the loss gave each tracklet over the whole run (recorded by
  the trainer in the checkpoint). Late in training a network starts to memorise wrong labels,
  which raises their final attention; the mean over the run is not fooled by that.
- ``final``: the attention of the final model on each tracklet's test-time embedding (any loss;
  also for checkpoints without recorded attention).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from reid.config import Config, OSMCAATerm
from reid.data.frame_io import read_frames
from reid.data.tracklet import Tracklet
from reid.engine.checkpoint import atomic_write_bytes
from reid.losses import OSMCAALoss
from reid.losses.functional import own_class_probability
from reid.models import ReIDNet
from reid.pipeline.evaluation import embed

logger = logging.getLogger(__name__)


def _rows(train: list[Tracklet], order: np.ndarray, attention: np.ndarray, **columns: np.ndarray) -> list[dict]:
    """One CSV row per tracklet in ``order``: rank, identity, attention and extra per-tracklet columns."""
    return [{"rank": r + 1, "index": int(i), "name": train[i].name, "pid": train[i].pid, "camid": train[i].camid,
             "frames": len(train[i]), "attention": float(attention[i]),
             **{k: v[i].item() for k, v in columns.items()}} for r, i in enumerate(order)]


def attention_variant(cfg: Config) -> str:
    """The CAA variant of the config's osm_caa loss term (``official`` when there is none)."""
    for term in cfg.loss.terms:
        if isinstance(term, OSMCAATerm):
            return term.variant
    return "official"


def rank_by_attention(cfg: Config, model: ReIDNet, train: list[Tracklet], device: torch.device) -> list[dict]:
    """One row per training tracklet, sorted by CAA attention ascending (most suspect first)."""
    feats = torch.from_numpy(embed(cfg, model, train, device)).double()
    labels = torch.tensor([t.pid for t in train])
    centres = model.centres.detach().cpu().double()
    bias = None if model.centre_bias is None else model.centre_bias.detach().cpu().double()
    loss = OSMCAALoss(variant=attention_variant(cfg))
    a = loss.attention(feats, labels, centres, bias).numpy()
    p = own_class_probability(feats, labels, centres, bias).numpy()
    return _rows(train, np.argsort(a, kind="stable"), a, p_own=p)


def caa_enabled(cfg: Config) -> bool:
    """Whether the config's loss has an osm_caa term with CAA switched on."""
    return any(isinstance(t, OSMCAATerm) and t.caa for t in cfg.loss.terms)


def training_attention(checkpoint: dict) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (sum, count) per tracklet that the attention record saved in a checkpoint, or None."""
    record = checkpoint.get("hooks", {}).get("attention")
    if record is not None:
        return record["sum"], record["count"]
    if "attention_sum" in checkpoint:  # checkpoints of the earlier layout
        return checkpoint["attention_sum"], checkpoint["attention_count"]
    return None


def rank_by_training_attention(train: list[Tracklet], attention_sum: torch.Tensor,
                               attention_count: torch.Tensor) -> list[dict]:
    """Rows sorted by the mean attention each tracklet received during training (lowest first).

    Tracklets never drawn during training have no attention; they are listed last with NaN.
    """
    total = torch.zeros(len(train), dtype=torch.float64)
    count = torch.zeros(len(train), dtype=torch.float64)
    n = min(len(train), attention_sum.numel())
    total[:n], count[:n] = attention_sum[:n].double(), attention_count[:n].double()
    mean = torch.where(count > 0, total / count.clamp(min=1), torch.tensor(float("nan"), dtype=torch.float64)).numpy()
    order = np.argsort(np.where(np.isnan(mean), np.inf, mean), kind="stable")
    return _rows(train, order, mean, draws=count.numpy().astype(int))


def injected_wrong_labels(dataset_dir: Path) -> set[str] | None:
    """Names of the tracklets the synthetic generator filed under a wrong pid (None: not synthetic)."""
    path = dataset_dir / "wrong_labels.csv"
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        return {row["name"] for row in csv.DictReader(f)}


def precision_at(rows: list[dict], truth: set[str], k: int) -> float:
    """Fraction of the first ``k`` rows whose tracklet is in ``truth``."""
    return sum(r["name"] in truth for r in rows[:k]) / k if k else float("nan")


def write_csv(path: Path, rows: list[dict], truth: set[str] | None) -> None:
    buf = io.StringIO()
    fields = list(rows[0]) + (["injected_wrong_label"] if truth is not None else [])
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, **({"injected_wrong_label": int(r["name"] in truth)} if truth is not None else {})})
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue().encode()))


def contact_sheet(path: Path, rows: list[dict], train: list[Tracklet], truth: set[str] | None,
                  *, columns: int = 10, height: int = 128, width: int = 64) -> None:
    """A grid of the middle frame of each listed tracklet, captioned with rank and attention.

    Tracklets known to carry an injected wrong label get a red frame, others a green one.
    """
    cell_h = height + 28
    n = len(rows)
    grid = np.full((cell_h * ((n + columns - 1) // columns), width * columns, 3), 255, np.uint8)
    for k, r in enumerate(rows):
        t = train[r["index"]]
        frame = cv2.resize(read_frames(t, [len(t) // 2])[0], (width, height))
        y, x = (k // columns) * cell_h, (k % columns) * width
        grid[y:y + height, x:x + width] = frame[:, :, ::-1]  # RGB -> BGR for OpenCV
        if truth is not None:
            colour = (0, 0, 220) if r["name"] in truth else (0, 160, 0)
            cv2.rectangle(grid, (x, y), (x + width - 1, y + height - 1), colour, 2)
        for line, text in enumerate((f"#{r['rank']} a={r['attention']:.2f}", r["name"][:11])):
            cv2.putText(grid, text, (x + 1, y + height + 11 + 12 * line), cv2.FONT_HERSHEY_SIMPLEX, 0.28,
                        (0, 0, 0), 1, cv2.LINE_AA)
    ok, png = cv2.imencode(".png", grid)
    if not ok:
        raise RuntimeError(f"could not encode the contact sheet {path}")
    atomic_write_bytes(path, lambda f: f.write(png.tobytes()))
