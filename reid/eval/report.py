"""Reports: metrics.json, report.html (self-contained) and report.md, CMC and training plots.

Metrics a result does not have (rank-5 of a 3-tracklet gallery) show as ``n/a``, never as 0.
Re-ID summaries (``summarise``) carry rank-1/5/10/20 and mAP; image-retrieval summaries
(``summarise_retrieval``) carry Recall@1..32, mAP and NMI, and tables and lines show those.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reid.eval.html_report import Figure, Section, Table, write_pages, write_text
from reid.eval.plots import plot_cmc, plot_training
from reid.eval.retrieval import RECALL_KS

RANKS = (1, 5, 10, 20)

__all__ = ["RANKS", "summarise", "summarise_retrieval", "summary_line", "fmt", "metrics_table", "metrics_section",
           "write_json", "write_text", "write_report", "plot_cmc", "plot_training"]


def summarise(cmc: np.ndarray, mAP: float, num_skipped: int = 0) -> dict:
    """Rank-1/5/10/20 and mAP in percent, plus the full CMC curve and the skipped-query count.

    A rank beyond the gallery's size (the CMC is cut there) is left out, not set to 0."""
    out = {f"rank{r}": round(100.0 * float(cmc[r - 1]), 2) for r in RANKS if r <= len(cmc)}
    out["mAP"] = round(100.0 * float(mAP), 2)
    out["num_skipped_queries"] = int(num_skipped)
    out["cmc"] = [float(x) for x in cmc]
    return out


def summarise_retrieval(cmc: np.ndarray, mAP: float, nmi: float, num_skipped: int = 0) -> dict:
    """Recall@1/2/4/8/16/32 (CMC at K), mAP and NMI in percent, the CMC curve and the skipped-query count.

    ``rank1`` repeats ``recall1`` (they are the same number), so that ``train.best_metric`` and
    the training log read the same key for both tasks. A K beyond the test set is left out."""
    out = {f"recall{k}": round(100.0 * float(cmc[k - 1]), 2) for k in RECALL_KS if k <= len(cmc)}
    out["mAP"] = round(100.0 * float(mAP), 2)
    out["NMI"] = round(100.0 * float(nmi), 2)
    out["rank1"] = out["recall1"]
    out["num_skipped_queries"] = int(num_skipped)
    out["cmc"] = [float(x) for x in cmc]
    return out


def is_retrieval(m: dict) -> bool:
    """True for a ``summarise_retrieval`` summary."""
    return "recall1" in m


def summary_line(m: dict, digits: int = 2) -> str:
    """One line of a summary: ``rank-1 .. rank-20 .. mAP`` (re-ID) or ``Recall@1 .. @32 .. mAP .. NMI``."""
    if is_retrieval(m):
        recalls = "  ".join(f"@{k} {fmt(m, f'recall{k}', digits)}" for k in RECALL_KS[1:])
        return (f"Recall@1 {fmt(m, 'recall1', digits)}  {recalls}  mAP {fmt(m, 'mAP', digits)}  "
                f"NMI {fmt(m, 'NMI', digits)}")
    return (f"rank-1 {fmt(m, 'rank1', digits)}  rank-5 {fmt(m, 'rank5', digits)}  "
            f"rank-10 {fmt(m, 'rank10', digits)}  rank-20 {fmt(m, 'rank20', digits)}  mAP {fmt(m, 'mAP', digits)}")


def fmt(m: dict, key: str, digits: int = 1) -> str:
    """``m[key]`` with ``digits`` decimals, or ``n/a`` when the result has no such metric."""
    value = m.get(key)
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def write_json(path: str | os.PathLike, data: dict) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def _metrics(rows: dict[str, dict], digits: int = 1) -> Table:
    if rows and all(is_retrieval(m) for m in rows.values()):
        header = ["model", *(f"R@{k}" for k in RECALL_KS), "mAP", "NMI", "skipped queries"]
        body = [[name, *(fmt(m, f"recall{k}", digits) for k in RECALL_KS), fmt(m, "mAP", digits),
                 fmt(m, "NMI", digits), str(m.get("num_skipped_queries", 0))] for name, m in rows.items()]
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
