"""Reports: metrics.json, report.html (self-contained) and report.md, CMC and training plots.

Metrics a result does not have (rank-5 of a 3-tracklet gallery) show as ``n/a``, never as 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reid.eval.html_report import Figure, Section, Table, write_pages, write_text
from reid.eval.plots import plot_cmc, plot_training

RANKS = (1, 5, 10, 20)

__all__ = ["RANKS", "summarise", "fmt", "metrics_table", "metrics_section", "write_json", "write_text",
           "write_report", "plot_cmc", "plot_training"]


def summarise(cmc: np.ndarray, mAP: float, num_skipped: int = 0) -> dict:
    """Rank-1/5/10/20 and mAP in percent, plus the full CMC curve and the skipped-query count.

    A rank beyond the gallery's size (the CMC is cut there) is left out, not set to 0."""
    out = {f"rank{r}": round(100.0 * float(cmc[r - 1]), 2) for r in RANKS if r <= len(cmc)}
    out["mAP"] = round(100.0 * float(mAP), 2)
    out["num_skipped_queries"] = int(num_skipped)
    out["cmc"] = [float(x) for x in cmc]
    return out


def fmt(m: dict, key: str, digits: int = 1) -> str:
    """``m[key]`` with ``digits`` decimals, or ``n/a`` when the result has no such metric."""
    value = m.get(key)
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _metrics(rows: dict[str, dict], digits: int = 1) -> Table:
    header = ["model", "rank-1", "rank-5", "rank-10", "rank-20", "mAP", "skipped queries"]
    body = [[name, *(fmt(m, f"rank{r}", digits) for r in RANKS), fmt(m, "mAP", digits),
             str(m.get("num_skipped_queries", 0))] for name, m in rows.items()]
    return Table(header, body)


def metrics_table(rows: dict[str, dict]) -> str:
    """A Markdown table: one row per named result (``summarise`` dicts)."""
    t = _metrics(rows)
    return "\n".join(["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header),
                      *("| " + " | ".join(r) + " |" for r in t.rows)]) + "\n"


def metrics_section(results: dict[str, dict], notes: Sequence[str], out: Path,
                    history: list[dict] | None = None) -> list[Section]:
    """The metrics table, the notes, the CMC curves and (with a history) the training curves;
    writes cmc.png and training.png into ``out``."""
    plot_cmc(out / "cmc.png", {name: m["cmc"] for name, m in results.items() if m.get("cmc")})
    sections = [Section("Metrics", tables=[_metrics(results)], notes=list(notes))]
    figures = [Figure(out / "cmc.png", "CMC curves up to the evaluated max rank")]
    if history:
        plot_training(out / "training.png", history)
        figures.append(Figure(out / "training.png",
                              "training curves: each loss part on its own axes, lr dashed on the right axis"))
    sections.append(Section("Curves", figures=figures))
    return sections


def write_report(out_dir: str | os.PathLike, *, title: str, results: dict[str, dict], notes: list[str],
                 history: list[dict] | None = None, extra: dict | None = None,
                 sections: Sequence[Section] = ()) -> Path:
    """Write metrics.json, cmc.png, (training.png), report.html and report.md into ``out_dir``;
    ``sections`` (ranked lists, embedding map, ...) follow the metrics and curves. Returns the
    path of report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"results": results, **(extra or {})})
    html, _ = write_pages(out, title, [*metrics_section(results, notes, out, history), *sections])
    return html
