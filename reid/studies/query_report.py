"""The per-query analysis as files: ``queries.csv`` (one row per query) and ``queries.md`` (tables).

Both are written atomically (a temporary file renamed into place, ``reid.report.run_report.write_text``).
"""

from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path

from reid.data.synthetic.layout import OUTLIER_KINDS
from reid.report.run_report import write_text
from reid.studies.query_analysis import (DESCRIPTIONS, HEAVY, Agreement, GroupStats, QueryRow, SideFiles, breakdown,
                                         camera_breakdown, compare)

COLUMNS = ("index", "name", "pid", "camid", "frames", "ap", "rank1", "first_match", "top1", "top1_pid", "top1_camid",
           "top1_is_twin", "top1_same_camera", "occlusion", "blur", "truncation", "twin_pid", "categories")
AGAINST_COLUMNS = ("against_ap", "against_rank1", "against_first_match", "against_top1")


def _flag(value: bool | None) -> str:
    return "" if value is None else str(int(value))


def _text(value: int | None) -> str:
    return "" if value is None else str(value)


def _row(r: QueryRow, side: SideFiles) -> list[str]:
    wrong = r.scored and not r.rank1
    fractions = [f"{r.fractions[k]:.3f}" for k in OUTLIER_KINDS] if r.fractions else ["", "", ""]
    return [str(r.index), r.name, str(r.pid), str(r.camid), str(r.frames), "" if not r.scored else f"{r.ap:.4f}",
            _flag(r.rank1 if r.scored else None), _text(r.first_match), r.top1 or "", _text(r.top1_pid),
            _text(r.top1_camid),
            _flag(r.top1_is_twin if wrong and side.twins is not None else None),
            _flag(r.top1_same_camera if wrong else None), *fractions,
            _text(r.twin_pid), ";".join(r.categories)]


def queries_csv(rows: list[QueryRow], side: SideFiles, against: list[QueryRow] | None = None) -> str:
    """One line per query; with ``against``, that ranking's AP, rank-1, first match and rank-1 item too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS + (AGAINST_COLUMNS if against is not None else ()))
    for i, r in enumerate(rows):
        line = _row(r, side)
        if against is not None:
            b = against[i]
            line += ["" if not b.scored else f"{b.ap:.4f}", _flag(b.rank1 if b.scored else None),
                     _text(b.first_match), b.top1 or ""]
        writer.writerow(line)
    return buffer.getvalue()


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}"


def _stats_table(stats: list[GroupStats], head: str, described: bool) -> list[str]:
    what = " what |" if described else ""
    lines = [f"| {head} |{what} queries | rank-1 | mAP | rank-1 failures | share of failures (%) |",
             f"|---|{'---|' if described else ''}---:|---:|---:|---:|---:|"]
    for s in stats:
        what = f" {DESCRIPTIONS.get(s.name, 'every scored query')} |" if described else ""
        lines.append(f"| {s.name} |{what} {s.queries} | {_pct(s.rank1)} | {_pct(s.mAP)} | {s.failures} | "
                     f"{_pct(s.share)} |")
    return lines


def _failure_line(rows: list[QueryRow], side: SideFiles) -> str:
    wrong = [r for r in rows if r.scored and not r.rank1]
    if not wrong:
        return "No rank-1 failures."
    parts = []
    if side.twins is not None:
        parts.append(f"the query's near twin in {sum(r.top1_is_twin for r in wrong)}")
    parts.append(f"seen by the query's own camera in {sum(r.top1_same_camera for r in wrong)}")
    parts.append(f"a distractor (pid 0) in {sum(r.top1_pid == 0 for r in wrong)}")
    return f"{len(wrong)} rank-1 failures; the wrong rank-1 item is " + ", ".join(parts) + "."


def _section(label: str, rows: list[QueryRow], side: SideFiles) -> list[str]:
    lines = [f"## {label}", "", "By category:", ""]
    lines += _stats_table(breakdown(rows, side.categories), "category", described=True)
    lines += ["", "By query camera:", ""] + _stats_table(camera_breakdown(rows), "camera", described=False)
    return lines + ["", _failure_line(rows, side), ""]


def _agreement_table(table: list[Agreement], a: str, b: str) -> list[str]:
    lines = [f"| category | queries | both right | only {a} | only {b} | both wrong |",
             "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {x.name} | {x.queries} | {x.both} | {x.only_a} | {x.only_b} | {x.neither} |" for x in table]
    return lines


def queries_markdown(rows: list[QueryRow], side: SideFiles, *, label: str, source: str,
                     against: list[QueryRow] | None = None, against_label: str = "", against_source: str = "") -> str:
    """The breakdown tables of ``rows`` (and of ``against``), and, with ``against``, rank-1 of both per category."""
    scored = sum(r.scored for r in rows)
    lines = [f"# Per-query analysis: {label}", "",
             f"{len(rows)} queries ({scored} with a true match in the gallery, scored); {label}: {source}"
             + (f"; {against_label}: {against_source}" if against is not None else "") + ".",
             ("Standard protocol: gallery items of the query's identity seen by its camera are left out. "
              f"A query is occluded (blurred, truncated) when at least {HEAVY:.0%} of its frames are. "
              "The categories overlap (a query can be in several), so the shares of the failures can sum past "
              "100 %."), ""]
    lines += [f"- {note}" for note in side.notes] + ([""] if side.notes else [])
    lines += _section(label, rows, side)
    if against is not None:
        lines += _section(against_label, against, side)
        lines += [f"## {label} against {against_label}: rank-1 on the same queries", ""]
        lines += _agreement_table(compare(rows, against, side.categories), label, against_label) + [""]
    return "\n".join(lines)


def write_query_report(out: str | os.PathLike, rows: list[QueryRow], side: SideFiles, *, label: str, source: str,
                       against: list[QueryRow] | None = None, against_label: str = "",
                       against_source: str = "") -> tuple[Path, Path]:
    """Write ``queries.csv`` and ``queries.md`` into ``out``; returns their paths."""
    out = Path(out)
    write_text(out / "queries.csv", queries_csv(rows, side, against))
    write_text(out / "queries.md", queries_markdown(rows, side, label=label, source=source, against=against,
                                                    against_label=against_label, against_source=against_source))
    return out / "queries.csv", out / "queries.md"
