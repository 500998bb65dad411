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
from reid.data.storage.frame_io import read_frames
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


def rank_by_attention(cfg: Config, model: ReIDNet, train: list[Tracklet], device: torch.device,
                      feats: np.ndarray | None = None) -> list[dict]:
    """One row per training tracklet, sorted by CAA attention ascending (most suspect first);
    ``feats``: the tracklets' embeddings when already computed."""
    feats = torch.from_numpy(embed(cfg, model, train, device) if feats is None else feats).double()
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


def nearest_identities(feats: np.ndarray, pids: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """Per training tracklet: the identity (other than its own label) whose mean embedding is nearest,
    and that distance. ``metric`` cosine compares L2-normalised embeddings."""
    x = np.asarray(feats, dtype=np.float64)
    if metric == "cosine":
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    classes = np.unique(pids)
    means = np.stack([x[pids == c].mean(0) for c in classes])
    d = ((x[:, None, :] - means[None]) ** 2).sum(-1) if len(x) * len(classes) < 4_000_000 else \
        (x ** 2).sum(1)[:, None] - 2 * x @ means.T + (means ** 2).sum(1)[None]
    d[np.arange(len(x)), np.searchsorted(classes, pids)] = np.inf
    best = d.argmin(1)
    return classes[best], np.sqrt(np.maximum(d[np.arange(len(x)), best], 0))


def typical_members(feats: np.ndarray, pids: np.ndarray, pid: int, count: int, exclude: int = -1) -> list[int]:
    """Up to ``count`` tracklets of identity ``pid`` nearest its mean embedding (``exclude`` left out)."""
    members = np.flatnonzero(pids == pid)
    members = members[members != exclude]
    if not len(members):
        return []
    x = np.asarray(feats, dtype=np.float64)
    centre = x[pids == pid].mean(0)
    order = np.argsort(((x[members] - centre) ** 2).sum(1), kind="stable")
    return [int(i) for i in members[order[:count]]]


def contact_sheet(path: Path, rows: list[dict], train: list[Tracklet], truth: set[str] | None,
                  feats: np.ndarray | None = None, *, metric: str = "euclidean", typical: int = 3,
                  height: int = 128, width: int = 64) -> None:
    """One row per suspect: its middle frame, ``typical`` tracklets of the identity it is filed
    under and ``typical`` of the identity its embedding is nearest to (by the class means of
    ``feats``, the training tracklets' embeddings). Suspects known to carry an injected wrong
    label get a red frame, others a green one (no colour when the truth is unknown)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reid.report.plots import save_figure

    pids = np.array([t.pid for t in train])
    if feats is not None and len(rows):
        nearest, near_d = nearest_identities(feats, pids, metric)
    cols = 1 + (2 * typical if feats is not None else 0)
    fig, axes = plt.subplots(max(1, len(rows)), cols, figsize=(1.05 * cols + 0.6, 1.95 * max(1, len(rows))),
                             squeeze=False)

    def show(ax, t: Tracklet, caption: str, colour: str | None) -> None:
        ax.imshow(cv2.resize(read_frames(t, [len(t) // 2])[0], (width, height), interpolation=cv2.INTER_AREA))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(caption, fontsize=6.5)
        for spine in ax.spines.values():
            spine.set_edgecolor(colour or "0.7")
            spine.set_linewidth(3 if colour else 0.8)

    for k, r in enumerate(rows):
        i = r["index"]
        colour = None if truth is None else ("red" if r["name"] in truth else "green")
        show(axes[k, 0], train[i], f"#{r['rank']} a={r['attention']:.2f}\nid {r['pid']}\n{r['name'][:13]}", colour)
        if feats is None:
            continue
        own = typical_members(feats, pids, int(r["pid"]), typical, exclude=i)
        other = typical_members(feats, pids, int(nearest[i]), typical)
        for j in range(typical):
            ax = axes[k, 1 + j]
            if j < len(own):
                show(ax, train[own[j]], f"filed id {r['pid']}\n{train[own[j]].name[:13]}", "tab:blue")
            else:
                ax.axis("off")
            ax = axes[k, 1 + typical + j]
            if j < len(other):
                show(ax, train[other[j]], f"nearest id {nearest[i]}\nd={near_d[i]:.2f}", "tab:orange")
            else:
                ax.axis("off")
    if not rows:
        axes[0, 0].axis("off")
    fig.suptitle("suspects (lowest CAA attention first): the tracklet | typical tracklets of the identity it "
                 "is filed under (blue) | of the identity it is nearest to (orange)" if feats is not None else
                 "suspects (lowest CAA attention first)", fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
