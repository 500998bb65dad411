"""Evaluate a trained checkpoint on a dataset's query/gallery split."""

from __future__ import annotations

from pathlib import Path

from reid.config import Config
from reid.eval.report import write_report
from reid.pipeline.builders import load_data, load_trained_model, resolve_device
from reid.pipeline.evaluation import evaluate_model


def run_test(cfg: Config, checkpoint: str | Path) -> dict[str, dict]:
    """Load ``checkpoint`` into the model of ``cfg``, evaluate, write a report in ``output_dir``."""
    device = resolve_device(cfg.device)
    dataset = load_data(cfg)
    model = load_trained_model(cfg, checkpoint).to(device)
    results = evaluate_model(cfg, model, dataset.query, dataset.gallery, device)
    write_report(Path(cfg.output_dir), title=f"Evaluation of {checkpoint} on {cfg.data.name}",
                 results=results, notes=[f"protocol {cfg.eval.protocol}, metric {cfg.eval.metric}"])
    return results
