"""Reports: metrics.json, a Markdown summary and plots (CMC curves, training loss)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reid.engine.checkpoint import atomic_write_bytes

RANKS = (1, 5, 10, 20)


def summarise(cmc: np.ndarray, mAP: float, num_skipped: int = 0) -> dict:
    """Rank-1/5/10/20 and mAP in percent, plus the full CMC curve and the skipped-query count."""
    out = {f"rank{r}": round(100.0 * float(cmc[r - 1]), 2) for r in RANKS if r <= len(cmc)}
    out["mAP"] = round(100.0 * float(mAP), 2)
    out["num_skipped_queries"] = int(num_skipped)
    out["cmc"] = [float(x) for x in cmc]
    return out


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def plot_cmc(path: str | os.PathLike, curves: dict[str, Sequence[float]], max_rank: int = 20) -> None:
    """One CMC curve per entry of ``curves`` (label -> cmc values in [0, 1])."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, cmc in curves.items():
        cmc = np.asarray(cmc)[:max_rank]
        ax.plot(np.arange(1, len(cmc) + 1), 100 * cmc, marker="o", markersize=3, label=label)
    ax.set_xlabel("rank")
    ax.set_xticks([1, 5, 10, 15, 20][: 1 + max_rank // 5])
    ax.set_ylabel("matching rate (%)")
    ax.set_title("CMC")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    _save(fig, path)


def plot_losses(path: str | os.PathLike, history: list[dict]) -> None:
    """Training loss terms against iteration (records without a ``loss`` key are skipped)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [h for h in history if "loss" in h]
    fig, ax = plt.subplots(figsize=(5.5, 4))
    if rows:
        keys = [k for k in rows[0] if k not in ("iteration", "lr")]
        its = [h["iteration"] for h in rows]
        for k in keys:
            ax.plot(its, [h[k] for h in rows], label=k)
        ax.legend()
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title("training loss")
    ax.grid(alpha=0.3)
    _save(fig, path)


def _save(fig, path: str | os.PathLike) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    atomic_write_bytes(path, lambda f: f.write(buf.getvalue()))


def metrics_table(rows: dict[str, dict]) -> str:
    """A Markdown table: one row per named result (``summarise`` dicts)."""
    head = "| model | rank-1 | rank-5 | rank-10 | rank-20 | mAP |\n|---|---|---|---|---|---|\n"
    body = "".join(
        f"| {name} | {m.get('rank1', float('nan')):.1f} | {m.get('rank5', float('nan')):.1f} | "
        f"{m.get('rank10', float('nan')):.1f} | {m.get('rank20', float('nan')):.1f} | {m['mAP']:.1f} |\n"
        for name, m in rows.items()
    )
    return head + body


def write_report(out_dir: str | os.PathLike, *, title: str, results: dict[str, dict], notes: list[str],
                 history: list[dict] | None = None, extra: dict | None = None) -> Path:
    """Write metrics.json, cmc.png, (loss.png) and report.md into ``out_dir``; return report path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"results": results, **(extra or {})})
    plot_cmc(out / "cmc.png", {name: m["cmc"] for name, m in results.items()})
    images = ["![CMC curves](cmc.png)"]
    if history:
        plot_losses(out / "loss.png", history)
        images.append("![training loss](loss.png)")
    lines = [f"# {title}", "", metrics_table(results), *[f"- {n}" for n in notes], "", *images, ""]
    write_text(out / "report.md", "\n".join(lines))
    return out / "report.md"
