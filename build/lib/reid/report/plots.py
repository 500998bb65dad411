"""Plots of a run: CMC curves, training curves, a 2-D embedding map and the CAA attention histogram.

Every function writes one image (PNG, or JPEG by the suffix) atomically and returns nothing; matplotlib runs headless (Agg).
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence

import numpy as np

from reid.engine.checkpoint import atomic_write_bytes

#: history keys that are not loss parts
_NOT_LOSS = ("iteration", "lr", "eval_rank1", "eval_mAP")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | os.PathLike, dpi: int = 110) -> None:
    plt = _pyplot()
    buf = io.BytesIO()
    fmt = "jpeg" if str(path).lower().endswith((".jpg", ".jpeg")) else "png"
    options = {"pil_kwargs": {"quality": 88}} if fmt == "jpeg" else {}
    fig.savefig(buf, format=fmt, dpi=dpi, bbox_inches="tight", **options)
    plt.close(fig)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))


def _rank_ticks(max_rank: int) -> list[int]:
    step = max(1, int(np.ceil(max_rank / 10 / 5)) * 5) if max_rank > 10 else 1
    ticks = [1] + list(range(step, max_rank + 1, step))
    return sorted(set(ticks + [max_rank]))


def plot_cmc(path: str | os.PathLike, curves: dict[str, Sequence[float]], max_rank: int | None = None) -> None:
    """One CMC curve per entry of ``curves`` (label -> cmc values in [0, 1]) up to ``max_rank``
    (default: the longest curve, i.e. the evaluated max rank). The legend sits below the axes, so
    it never covers a curve."""
    plt = _pyplot()
    longest = max((len(c) for c in curves.values()), default=1)
    max_rank = min(max_rank or longest, longest)
    fig, ax = plt.subplots(figsize=(6, 4.2))
    for label, cmc in curves.items():
        cmc = np.asarray(cmc, dtype=float)[:max_rank]
        ax.plot(np.arange(1, len(cmc) + 1), 100 * cmc, marker="o", markersize=2.5, linewidth=1.4, label=label)
    ax.set_xlabel("rank")
    ax.set_xlim(0.5, max_rank + 0.5)
    ax.set_xticks(_rank_ticks(max_rank))
    ax.set_ylabel("matching rate (%)")
    ax.set_title(f"CMC (ranks 1-{max_rank})")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=min(3, max(1, len(curves))), frameon=False)
    save_figure(fig, path)


def loss_keys(history: list[dict]) -> list[str]:
    """The loss parts logged in ``history``, in the order they first appear (``loss`` first)."""
    keys: list[str] = []
    for row in history:
        for k in row:
            if k not in _NOT_LOSS and k not in keys and isinstance(row[k], (int, float)):
                keys.append(k)
    return sorted(keys, key=lambda k: k != "loss")


def plot_training(path: str | os.PathLike, history: list[dict], final: dict | None = None) -> None:
    """Training curves: each loss part on its own axes (their scales differ by orders of magnitude),
    the learning rate on a second axis of the total-loss panel, and rank-1/mAP of the periodic
    evaluations when there were any, ending in ``final`` ({"iteration", "rank1", "mAP"}: the
    evaluation after the last step, drawn as a star) when given."""
    plt = _pyplot()
    rows = [h for h in history if "loss" in h]
    evals = [h for h in history if "eval_rank1" in h or "eval_mAP" in h]
    keys = loss_keys(rows)
    panels = max(1, len(keys)) + (1 if evals else 0)
    cols = min(3, panels)
    nrows = int(np.ceil(panels / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    flat = list(axes.ravel())
    if not keys:
        flat[0].text(0.5, 0.5, "no training iterations logged", ha="center", va="center",
                     transform=flat[0].transAxes)
    for ax, key in zip(flat, keys):
        its = [h["iteration"] for h in rows if key in h]
        ax.plot(its, [h[key] for h in rows if key in h], color="tab:blue", linewidth=1.4,
                marker="o" if len(its) < 30 else None, markersize=3)
        ax.set_title("total loss" if key == "loss" else key)
        ax.set_xlabel("iteration")
        ax.grid(alpha=0.3)
        if key == "loss" and any("lr" in h for h in rows):
            twin = ax.twinx()
            twin.plot([h["iteration"] for h in rows if "lr" in h], [h["lr"] for h in rows if "lr" in h],
                      color="tab:orange", linewidth=1.0, linestyle="--")
            twin.set_ylim(0, 1.15 * max(h["lr"] for h in rows if "lr" in h) or 1.0)  # a constant lr stays readable
            twin.set_ylabel("learning rate", color="tab:orange")
            twin.tick_params(axis="y", colors="tab:orange")
            twin.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
            ax.set_ylabel("loss", color="tab:blue")
    used = max(1, len(keys))
    if evals:
        ax = flat[used]
        for key, label in (("eval_rank1", "rank-1"), ("eval_mAP", "mAP")):
            pts = [(h["iteration"], h[key]) for h in evals if key in h]
            last = final.get(key.removeprefix("eval_")) if final else None
            if last is not None and pts and final["iteration"] > pts[-1][0]:
                pts.append((final["iteration"], last))
            if pts:
                line, = ax.plot(*zip(*pts), marker="o", markersize=3, label=label)
                if last is not None and pts[-1] == (final["iteration"], last):
                    ax.plot([pts[-1][0]], [last], marker="*", markersize=11, color=line.get_color())
        ax.set_title("evaluations during training" + (" (star: final)" if final else ""))
        ax.set_xlabel("iteration")
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right", frameon=False, ncol=2)
        used += 1
    for ax in flat[used:]:
        ax.axis("off")
    fig.tight_layout()
    save_figure(fig, path)


def plot_embedding(path: str | os.PathLike, points: np.ndarray, pids: np.ndarray, is_query: np.ndarray,
                   title: str) -> None:
    """A 2-D map of tracklet embeddings: colour = identity, circle = gallery, cross = query."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 6))
    uniq = np.unique(pids)
    cmap = plt.get_cmap("hsv")
    colour = {p: cmap(i / max(len(uniq), 1)) for i, p in enumerate(np.random.default_rng(0).permutation(uniq))}
    colours = np.array([colour[p] for p in pids]) if len(pids) else np.zeros((0, 4))
    g = ~is_query
    ax.scatter(points[g, 0], points[g, 1], c=colours[g], s=14, marker="o", alpha=0.75, linewidths=0)
    ax.scatter(points[is_query, 0], points[is_query, 1], c=colours[is_query], s=26, marker="x", linewidths=1.2)
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color="0.35", marker="o", linestyle="", markersize=5, label="gallery"),
               Line2D([], [], color="0.35", marker="x", linestyle="", markersize=6, label="query")]
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, frameon=False,
              title=f"{len(uniq)} identities, one colour each (colours repeat when there are many)",
              title_fontsize=8)
    save_figure(fig, path)


def plot_attention_histogram(path: str | os.PathLike, attention: np.ndarray, *, bins: int = 40) -> None:
    """Histogram of the mean CAA attention per training tracklet (low = the loss trusted it least)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.6))
    a = np.asarray(attention, dtype=float)
    ax.hist(a, bins=bins, color="tab:purple", alpha=0.85)
    if len(a):
        for q, style in ((0.05, ":"), (0.5, "--")):
            v = float(np.quantile(a, q))
            ax.axvline(v, color="k", linestyle=style, linewidth=1, label=f"{int(q * 100)} % quantile {v:.3f}")
        ax.legend(loc="upper left", frameon=False)
    ax.set_xlabel("mean CAA attention over the run")
    ax.set_ylabel("training tracklets")
    ax.set_title(f"CAA attention of {len(a)} training tracklets")
    ax.grid(alpha=0.3)
    save_figure(fig, path)
