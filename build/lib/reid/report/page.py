"""A self-contained HTML page (images embedded as data URIs) built from sections of text, tables
and pictures; the same sections render to Markdown beside it."""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from reid.engine.checkpoint import atomic_write_bytes

_CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px;
       color: #222; line-height: 1.4; padding: 0 16px; }
h1 { font-size: 1.5em; border-bottom: 2px solid #ddd; padding-bottom: 6px; }
h2 { font-size: 1.2em; margin-top: 1.8em; border-bottom: 1px solid #eee; }
h3 { font-size: 1.0em; margin-bottom: 4px; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
img { max-width: 100%; height: auto; margin: 6px 0; }
figure { margin: 10px 0 18px; }
figcaption { font-size: 0.85em; color: #555; }
ul.notes { font-size: 0.92em; color: #333; }
.grid { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.grid figure { flex: 1 1 420px; }
"""


@dataclass
class Figure:
    path: Path  # a PNG or JPEG file; embedded into the HTML, linked from the Markdown by its name
    caption: str = ""


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    heading: str
    text: list[str] = field(default_factory=list)  # paragraphs
    notes: list[str] = field(default_factory=list)  # bullet points
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    grid: bool = False  # figures side by side
    subsections: list["Section"] = field(default_factory=list)


def _data_uri(path: Path) -> str:
    mime = "image/jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "image/png"
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html_section(s: Section, level: int) -> str:
    parts = [f"<h{level}>{html.escape(s.heading)}</h{level}>"]
    parts += [f"<p>{html.escape(p)}</p>" for p in s.text]
    parts += [_html_table(t) for t in s.tables]
    if s.notes:
        parts.append("<ul class='notes'>" + "".join(f"<li>{html.escape(n)}</li>" for n in s.notes) + "</ul>")
    figs = [f"<figure><img src='{_data_uri(f.path)}' alt='{html.escape(f.caption or f.path.name)}'>"
            + (f"<figcaption>{html.escape(f.caption)}</figcaption>" if f.caption else "") + "</figure>"
            for f in s.figures]
    if figs:
        parts.append(f"<div class='grid'>{''.join(figs)}</div>" if s.grid else "".join(figs))
    parts += [_html_section(sub, min(level + 1, 4)) for sub in s.subsections]
    return "\n".join(parts)


def render_html(title: str, sections: list[Section]) -> str:
    body = "\n".join(_html_section(s, 2) for s in sections)
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>\n{body}\n</body></html>\n")


def _md_table(t: Table) -> str:
    esc = [[c.replace("|", "\\|") for c in r] for r in t.rows]
    return "\n".join(["| " + " | ".join(t.header) + " |", "|" + "---|" * len(t.header),
                      *("| " + " | ".join(r) + " |" for r in esc)]) + "\n"


def _md_section(s: Section, level: int, base: Path) -> list[str]:
    lines = ["#" * level + " " + s.heading, ""]
    for p in s.text:
        lines += [p, ""]
    for t in s.tables:
        lines += [_md_table(t)]
    lines += [f"- {n}" for n in s.notes]
    if s.notes:
        lines.append("")
    for f in s.figures:
        rel = os.path.relpath(f.path, base)
        lines += [f"![{f.caption or f.path.name}]({rel})", ""]
    for sub in s.subsections:
        lines += _md_section(sub, min(level + 1, 4), base)
    return lines


def render_markdown(title: str, sections: list[Section], base: Path) -> str:
    lines = [f"# {title}", ""]
    for s in sections:
        lines += _md_section(s, 2, base)
    return "\n".join(lines)


def write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, lambda f: f.write(text.encode()))


def write_pages(out_dir: str | os.PathLike, title: str, sections: list[Section]) -> tuple[Path, Path]:
    """Write ``report.html`` (self-contained) and ``report.md`` (images beside it) into ``out_dir``."""
    out = Path(out_dir)
    write_text(out / "report.html", render_html(title, sections))
    write_text(out / "report.md", render_markdown(title, sections, out))
    return out / "report.html", out / "report.md"
