"""A run's report: metrics.json, report.html (self-contained) and report.md, CMC and training plots.

The numbers come as ``reid.eval.summary`` dicts; this module lays them out and writes the files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

from reid.eval.retrieval import RECALL_KS
from reid.eval.summary import RANKS, fmt, is_retrieval
from reid.report.page import Figure, Section, Table, write_pages, write_text
from reid.report.plots import plot_cmc, plot_training

__all__ = ["metrics_table", "metrics_section", "write_json", "write_text", "write_report"]


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _metrics(rows: dict[str, dict], digits: int = 1) -> Table:
    if rows and all(is_retrieval(m) for m in rows.values()):
        header = ["model", *(f"R@{k}" for k in RECALL_KS), "mAP", "NMI", "MAP@R", "skipped queries"]
        body = [[name, *(fmt(m, f"recall{k}", digits) for k in RECALL_KS), fmt(m, "mAP", digits),
                 fmt(m, "NMI", digits), fmt(m, "MAP@R", digits), str(m.get("num_skipped_queries", 0))]
                for name, m in rows.items()]
        return Table(header, body)
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
                    history: list[dict] | None = None, final_result: str = "plain") -> list[Section]:
    """The metrics table, the notes, the CMC curves and (with a history) the training curves, whose
    evaluation panel ends in ``results[final_result]`` (the evaluation after the last step) when
    there is one; writes cmc.png and training.png into ``out``."""
    plot_cmc(out / "cmc.png", {name: m["cmc"] for name, m in results.items() if m.get("cmc")})
    sections = [Section("Metrics", tables=[_metrics(results)], notes=list(notes))]
    figures = [Figure(out / "cmc.png", "CMC curves up to the evaluated max rank")]
    if history:
        trained = results.get(final_result, {})
        its = [h["iteration"] for h in history if "iteration" in h]
        final = ({"iteration": max(its), "rank1": trained["rank1"], "mAP": trained["mAP"]}
                 if its and "rank1" in trained and "mAP" in trained else None)
        plot_training(out / "training.png", history, final=final)
        figures.append(Figure(out / "training.png",
                              "training curves: each loss part on its own axes, lr dashed on the right axis"))
    sections.append(Section("Curves", figures=figures))
    return sections


def write_report(out_dir: str | os.PathLike, *, title: str, results: dict[str, dict], notes: list[str],
                 history: list[dict] | None = None, extra: dict | None = None,
                 sections: Sequence[Section] = (), final_result: str = "plain") -> Path:
    """Write metrics.json, cmc.png, (training.png), report.html and report.md into ``out_dir``;
    ``sections`` (ranked lists, embedding map, ...) follow the metrics and curves; ``final_result``
    names the result of the trained model, the last point of the training curves. Returns the path
    of report.html."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "metrics.json", {"results": results, **(extra or {})})
    html, _ = write_pages(out, title, [*metrics_section(results, notes, out, history, final_result), *sections])
    return html
