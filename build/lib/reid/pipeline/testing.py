"""Evaluate checkpoints: one split, or all splits of a two-camera set (docs/method.md, "Two-camera split protocols")."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from reid.config import Config
from reid.errors import ConfigError
from reid.eval.two_camera import SPLIT_RANKS, aggregate_splits, format_split_table
from reid.pipeline.builders import load_data, load_trained_model, resolve_device
from reid.pipeline.evaluation import evaluate_model_full
from reid.report.page import Figure, Section, Table, write_pages
from reid.report.plots import plot_cmc
from reid.report.run_report import write_json, write_report, write_text
from reid.report.sections import protocol_notes, report_sections


def run_test(cfg: Config, checkpoint: str | Path, *, write: bool = True) -> dict[str, dict]:
    """Load ``checkpoint`` into the model of ``cfg``, evaluate, write a report in ``output_dir``."""
    device = resolve_device(cfg.device)
    dataset = load_data(cfg)
    model = load_trained_model(cfg, checkpoint).to(device)
    full = evaluate_model_full(cfg, model, dataset.query, dataset.gallery, device)
    if write:
        out = Path(cfg.output_dir)
        write_report(out, title=f"Evaluation of {checkpoint} on {cfg.data.name}", results=full.results,
                     notes=protocol_notes(cfg, dataset, full), sections=report_sections(cfg, out, full, dataset))
    return full.results


def parse_splits(text: str) -> list[int]:
    """``"0-9"`` -> [0..9]; ``"0,2,5"`` -> [0, 2, 5]."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            raise ValueError(f"--splits {text!r}: expected e.g. 0-9 or 0,3,7") from None
    return out


def run_test_splits(cfg: Config, checkpoint_pattern: str, splits: list[int]) -> dict[str, str]:
    """Evaluate one checkpoint per split and aggregate mean and std over the splits.

    Args:
        cfg: the config; ``data.split_id`` is replaced by each split in turn.
        checkpoint_pattern: a path that may contain ``{split}``, e.g.
            ``outputs/ilidsvid/split{split}/checkpoint.pt`` (the same file for every split
            otherwise).
        splits: split indices.

    Returns:
        ``{setting: markdown table}`` for ``plain`` and (with re-ranking on) ``re-ranked``; the
        tables and a JSON summary are also written to ``output_dir``.
    """
    if cfg.eval.protocol == "retrieval":
        raise ConfigError(f"--splits: {cfg.data.name} is an image-retrieval set with one split (its Recall@K and "
                          "NMI come from one evaluation); run tools/test.py without --splits")
    per_setting: dict[str, list] = {}
    for split in splits:
        split_cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, split_id=split))
        results = run_test(split_cfg, checkpoint_pattern.format(split=split), write=False)
        for setting, m in results.items():
            # a gallery smaller than the largest reported rank: the CMC stays at its last value
            cmc = m["cmc"] + [m["cmc"][-1]] * max(0, max(SPLIT_RANKS) - len(m["cmc"]))
            per_setting.setdefault(setting, []).append((cmc, m["mAP"] / 100.0))
    tables, summary = {}, {}
    for setting, rows in per_setting.items():
        agg = aggregate_splits(rows)
        tables[setting] = format_split_table(agg)
        summary[setting] = {"splits": splits, **agg.as_dict(), "per_split": agg.per_split.tolist()}
    out = Path(cfg.output_dir)
    write_json(out / "splits.json", summary)
    write_text(out / "splits.md", "\n\n".join(f"## {k}\n\n{v}" for k, v in tables.items()) + "\n")
    sections = []
    for setting, rows in per_setting.items():
        agg = aggregate_splits(rows)
        body = [[str(s), *(f"{v:.1f}" for v in values)] for s, values in zip(splits, agg.per_split)]
        body += [["mean", *(f"{v:.1f}" for v in agg.mean)], ["std", *(f"{v:.1f}" for v in agg.std)]]
        sections.append(Section(f"{setting}: {len(splits)} splits", tables=[Table(["split", *agg.names], body)]))
    plot_cmc(out / "cmc.png", {f"{setting} (mean of {len(splits)} splits)":
                               np.mean([c[:min(len(c) for c, _ in rows)] for c, _ in rows], axis=0)
                               for setting, rows in per_setting.items()})
    sections.append(Section("Curves", figures=[Figure(out / "cmc.png", "CMC curves, mean over the splits")],
                            notes=[f"protocol {cfg.eval.protocol}, {cfg.eval.metric} distance; checkpoints "
                                   f"{checkpoint_pattern}; population std (ddof 0) over the splits"]))
    write_pages(out, f"Evaluation of {cfg.data.name} over splits {', '.join(map(str, splits))}", sections)
    return tables
