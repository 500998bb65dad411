"""The outlier study: which loss copes with wrong labels and outlier frames (issue: OSM+CAA in full).

Each noise level (fraction of training tracklets filed under a wrong identity) gets its own
synthetic MARS-layout dataset, with the same outlier frames (occlusion, blur, truncation). Every
loss is trained with several seeds on each; metric losses are paired with cross-entropy (beta = 1,
the paper's total loss), so the comparison isolates the metric term. Results are appended to a
JSON file after every run, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np

from reid.config import Config
from reid.data.paths import resolve_dataset_dir
from reid.pipeline.builders import load_data, resolve_device
from reid.pipeline.evaluation import evaluate_model
from reid.pipeline.training import run_training
from reid.report.run_report import write_json, write_text
from reid.studies.suspects import (caa_enabled, injected_wrong_labels, precision_at, rank_by_attention,
                                   rank_by_training_attention)

logger = logging.getLogger(__name__)

CE = {"name": "cross_entropy", "weight": 1.0, "label_smoothing": 0.1}
STUDY_LOSSES: dict[str, list[dict]] = {
    "osm_caa": [{"name": "osm_caa", "variant": "official"}, CE],
    "osm_only": [{"name": "osm_caa", "variant": "official", "caa": False}, CE],
    "caa_only": [{"name": "osm_caa", "variant": "official", "osm": False}, CE],
    "contrastive": [{"name": "contrastive"}, CE],
    "triplet": [{"name": "triplet", "margin": 0.3}, CE],
    "cross_entropy": [CE],
}


def run_key(noise: float, loss: str, seed: int) -> str:
    return f"noise{round(100 * noise):02d}/{loss}/seed{seed}"


def study_config(base: Config, noise: float, loss: str, seed: int) -> Config:
    cfg = copy.deepcopy(base)
    tag = f"noise{round(100 * noise):02d}"
    cfg.seed = seed
    cfg.synthetic = dataclasses.replace(cfg.synthetic, wrong_labels=noise)
    cfg.data = dataclasses.replace(cfg.data, root=str(Path(base.data.root) / tag))
    cfg.loss = dataclasses.replace(cfg.loss, terms=copy.deepcopy(STUDY_LOSSES[loss]))
    cfg.output_dir = str(Path(base.output_dir) / run_key(noise, loss, seed))
    return cfg


def run_one(cfg: Config) -> dict:
    """Train and evaluate one run; also the precision of its lowest-attention training tracklets."""
    start = time.perf_counter()
    dataset = load_data(cfg)
    model, state = run_training(cfg, dataset)
    device = resolve_device(cfg.device)
    plain = evaluate_model(cfg, model, dataset.query, dataset.gallery, device, rerank_too=False)["plain"]
    out = {"rank1": plain["rank1"], "mAP": plain["mAP"], "seconds": time.perf_counter() - start}
    truth = injected_wrong_labels(resolve_dataset_dir(cfg.data.root, "mars", "info"))
    if truth:
        rows = rank_by_attention(cfg, model, dataset.train, device)
        out["suspect_precision_final"] = 100.0 * precision_at(rows, truth, len(truth))
        if caa_enabled(cfg):
            rows = rank_by_training_attention(dataset.train, state.attention.sum, state.attention.count)
            out["suspect_precision"] = 100.0 * precision_at(rows, truth, len(truth))
    return out


def run_study(base: Config, *, noises: list[float], losses: list[str], seeds: list[int],
              results_path: Path) -> dict:
    """Run every (noise, loss, seed) not yet in ``results_path``; returns all results."""
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for noise in noises:
        for loss in losses:
            for seed in seeds:
                key = run_key(noise, loss, seed)
                if key in results:
                    continue
                logger.info("outlier study: %s", key)
                cfg = study_config(base, noise, loss, seed)
                results[key] = run_one(cfg)
                if not (loss == "osm_caa" and seed == seeds[0]):  # 135 MB each; keep one per noise level
                    (Path(cfg.output_dir) / "checkpoint.pt").unlink(missing_ok=True)
                logger.info("outlier study: %s -> %s", key, results[key])
                write_json(results_path, results)
    return results


def aggregate(results: dict, noises: list[float], losses: list[str]) -> dict:
    """``{loss: {noise: {metric: (mean, std, n)}}}`` over seeds."""
    table: dict = {}
    for loss in losses:
        for noise in noises:
            prefix = f"noise{round(100 * noise):02d}/{loss}/"
            runs = [v for k, v in results.items() if k.startswith(prefix)]
            cell = {}
            for metric in ("rank1", "mAP", "suspect_precision", "suspect_precision_final"):
                values = [r[metric] for r in runs if metric in r]
                if values:
                    cell[metric] = (float(np.mean(values)), float(np.std(values)), len(values))
            table.setdefault(loss, {})[noise] = cell
    return table


def write_study_report(path: Path, plot_path: Path, table: dict, noises: list[float], command: str,
                       findings: str = "") -> None:
    """Markdown tables (mean +- std over seeds) and a rank-1 / mAP plot against the noise level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = ["# Outlier study", "", f"Command: `{command}`", ""]
    for metric, title in (("rank1", "Rank-1 (%)"), ("mAP", "mAP (%)"),
                          ("suspect_precision", "Suspects: precision of the lowest mean training attention "
                           "at k = #wrong labels (%) (runs with CAA)"),
                          ("suspect_precision_final", "Suspects: precision of the lowest final-model attention "
                           "at k = #wrong labels (%)")):
        lines += [f"## {title}", "", "| loss | " + " | ".join(f"{round(100 * n)} % wrong labels" for n in noises) + " |",
                  "|---|" + "---|" * len(noises)]
        for loss, row in table.items():
            cells = [f"{row[n][metric][0]:.1f} ± {row[n][metric][1]:.1f} (n={row[n][metric][2]})"
                     if metric in row[n] else "—" for n in noises]
            lines.append(f"| {loss} | " + " | ".join(cells) + " |")
        lines.append("")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, metric in zip(axes, ("rank1", "mAP")):
        for loss, row in table.items():
            xs = [100 * n for n in noises if metric in row[n]]
            ys = [row[n][metric][0] for n in noises if metric in row[n]]
            es = [row[n][metric][1] for n in noises if metric in row[n]]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=loss)
        ax.set_xlabel("wrong labels in training (%)")
        ax.set_ylabel(f"{metric} (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(plot_path, dpi=100)
    plt.close(fig)
    lines += [f"![rank-1 and mAP against the wrong-label fraction]({plot_path.name})", ""]
    if findings:
        lines += ["## Findings", "", findings, ""]
    write_text(path, "\n".join(lines))
