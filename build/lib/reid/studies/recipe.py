"""The recipe study: one change at a time from a baseline, several seeds, mean and std.

A study file (YAML) names a base config, overrides common to every run, the seeds, and rows. A row
is a name, optionally a parent row whose overrides it inherits, and its own overrides, so a chain
"baseline -> + frame-level loss -> + evenly sampling" reads as what each step changed. Every run is
``tools/train.py`` in a subprocess (its own memory and threads), and a run whose ``metrics.json``
exists is not run again: an interrupted study resumes where it stopped.

Study file::

    base: configs/mars_osm_caa.yaml
    common: [data.name=mars, data.root=data/hard, model.backbone=resnet18]
    seeds: [0, 1, 2]
    rows:
      - {name: triplet, set: ["loss.terms=[{name: triplet}, {name: cross_entropy}]"]}
      - {name: triplet + frame loss, parent: triplet, set: [train.loss_level=frame]}
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from reid.config import load_config
from reid.errors import ConfigError
from reid.pipeline.config_checks import check_config

logger = logging.getLogger(__name__)

_TRAIN = Path(__file__).resolve().parents[2] / "tools" / "train.py"


@dataclass
class Row:
    name: str
    parent: str = ""
    set: list[str] = field(default_factory=list)
    note: str = ""


@dataclass
class Study:
    base: str
    common: list[str]
    seeds: list[int]
    rows: list[Row]

    def row(self, name: str) -> Row:
        for r in self.rows:
            if r.name == name:
                return r
        raise ConfigError(f"study row {name!r} does not exist; rows: {', '.join(r.name for r in self.rows)}")

    def overrides(self, name: str) -> list[str]:
        """The row's overrides after its ancestors' (a later one wins)."""
        chain, row = [], self.row(name)
        while True:
            chain.append(row)
            if not row.parent:
                break
            row = self.row(row.parent)
            if row in chain:
                raise ConfigError(f"study row {name!r}: its parents form a cycle")
        return [item for r in reversed(chain) for item in r.set]

    def check_configs(self, names: list[str]) -> None:
        """Build each named row's config before any run starts: a ConfigError naming the row otherwise.

        Catches what reid.pipeline.config_checks.check_config does: unknown keys, values of the
        wrong type or outside a key's choices, bad loss terms, schedule ranges."""
        for name in names:
            try:
                check_config(load_config(self.base or None, [*self.common, *self.overrides(name)]))
            except ConfigError as exc:
                raise ConfigError(f"study row {name!r}: {exc}") from None


def load_study(path: str | Path) -> Study:
    """Read a study file strictly (unknown keys, missing parents and duplicate names are errors)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"study file {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"study file {path}: expected a mapping with base, common, seeds, rows")
    unknown = sorted(set(data) - {"base", "common", "seeds", "rows"})
    if unknown:
        raise ConfigError(f"study file {path}: unknown key {unknown[0]!r}; valid: base, common, seeds, rows")
    rows = []
    for i, item in enumerate(data.get("rows") or []):
        if not isinstance(item, dict) or "name" not in item:
            raise ConfigError(f"study file {path}: rows[{i}] needs a name")
        bad = sorted(set(item) - {"name", "parent", "set", "note"})
        if bad:
            raise ConfigError(f"study file {path}: rows[{i}] has unknown key {bad[0]!r}; valid: name, parent, set, note")
        rows.append(Row(str(item["name"]), str(item.get("parent", "")), [str(s) for s in item.get("set", [])],
                        str(item.get("note", ""))))
    names = [r.name for r in rows]
    for r in rows:
        if names.count(r.name) > 1:
            raise ConfigError(f"study file {path}: row name {r.name!r} is used twice")
        if r.parent and r.parent not in names:
            raise ConfigError(f"study file {path}: row {r.name!r} has parent {r.parent!r}, which is not a row")
    study = Study(str(data.get("base", "")), [str(s) for s in data.get("common", [])],
                  [int(s) for s in data.get("seeds", [0])], rows)
    for r in rows:
        study.overrides(r.name)  # cycles
    return study


#: Keys a retrieval run's plain results add to rank-1 (= Recall@1) and mAP.
RETRIEVAL_EXTRA = ("recall2", "recall4", "recall8", "NMI")


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def read_run(run_dir: Path) -> dict | None:
    """rank-1, mAP (plain and re-ranked) and seconds per iteration of a finished run, else None."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    m = json.loads(path.read_text())
    res, out = m.get("results", {}), {}
    for setting, key in (("plain", ""), ("re-ranked", "rr_")):
        if setting in res:
            out[f"{key}rank1"], out[f"{key}mAP"] = res[setting]["rank1"], res[setting]["mAP"]
    for extra in RETRIEVAL_EXTRA:  # image-retrieval runs: Recall@K and NMI
        if extra in res.get("plain", {}):
            out[extra] = res["plain"][extra]
    out["s_per_it"] = m.get("training", {}).get("seconds_per_iteration", float("nan"))
    return out


def run_row(study: Study, name: str, out_dir: Path, seeds: list[int], threads: int | None = None) -> list[dict]:
    """Train and evaluate the row for each seed (skipping finished runs); per-seed results."""
    results = []
    for seed in seeds:
        run_dir = out_dir / slug(name) / f"seed{seed}"
        found = read_run(run_dir)
        if found is None:
            cmd = [sys.executable, str(_TRAIN), *(["--config", study.base] if study.base else []),
                   *study.common, *study.overrides(name), f"seed={seed}", f"output_dir={run_dir}"]
            env = dict(os.environ)
            if threads:
                env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            run_dir.mkdir(parents=True, exist_ok=True)
            start = time.perf_counter()
            with open(run_dir / "train.log", "w") as log:
                done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            if done.returncode != 0:
                raise RuntimeError(f"study run {name!r} seed {seed} failed (exit {done.returncode}); "
                                   f"see {run_dir / 'train.log'}")
            found = read_run(run_dir)
            if found is None:
                raise RuntimeError(f"study run {name!r} seed {seed} wrote no metrics.json in {run_dir}")
            logger.info("%s seed %d: rank-1 %.1f mAP %.1f (%.0f s)", name, seed, found["rank1"], found["mAP"],
                        time.perf_counter() - start)
        results.append({"seed": seed, **found})
    return results


def _stat(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    return f"{v.mean():.1f} ± {v.std():.1f}" if len(v) > 1 else f"{v.mean():.1f}"


def format_retrieval_table(study: Study, results: dict[str, list[dict]]) -> str:
    """Markdown for image-retrieval rows: Recall@1/2/4/8, mAP and NMI, mean ± std over the seeds."""
    keys = ["rank1", *RETRIEVAL_EXTRA[:3], "mAP", "NMI"]
    lines = ["| row | changes | R@1 | R@2 | R@4 | R@8 | mAP | NMI | s/it | seeds |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for row in study.rows:
        runs = results.get(row.name)
        if not runs:
            continue
        cells = [_stat([r[k] for r in runs]) for k in keys]
        changes = "; ".join(f"`{s}`" for s in row.set) or "(base)"
        lines.append(f"| {row.name} | {changes} | {' | '.join(cells)} | "
                     f"{np.mean([r['s_per_it'] for r in runs]):.2f} | {','.join(str(r['seed']) for r in runs)} |")
    return "\n".join(lines) + "\n"


def format_table(study: Study, results: dict[str, list[dict]]) -> str:
    """Markdown: one line a row with mean ± std over its seeds and the rank-1 / mAP change from its
    parent, over the seeds both rows have run (all seeds of each where they share none).

    Retrieval runs (every run has Recall@K and NMI) get ``format_retrieval_table`` instead."""
    done = [r for runs in results.values() for r in runs]
    if done and all(all(k in r for k in RETRIEVAL_EXTRA) for r in done):
        return format_retrieval_table(study, results)
    head = ("| row | changes from parent | rank-1 | mAP | Δ rank-1 | Δ mAP | re-ranked rank-1 / mAP | s/it | seeds |\n"
            "|---|---|---:|---:|---:|---:|---:|---:|---|\n")
    lines = []
    for row in study.rows:
        runs = results.get(row.name)
        if not runs:
            continue
        r1, ap = [r["rank1"] for r in runs], [r["mAP"] for r in runs]
        delta = ["", ""]
        parent = results.get(row.parent) if row.parent else None
        if parent:
            # paired over the seeds both rows have (seed noise largely cancels), else all of each
            shared = {r["seed"] for r in runs} & {p["seed"] for p in parent}
            mine = [r for r in runs if r["seed"] in shared] or runs
            theirs = [p for p in parent if p["seed"] in shared] or parent
            delta = [f"{np.mean([r[k] for r in mine]) - np.mean([p[k] for p in theirs]):+.1f}"
                     for k in ("rank1", "mAP")]
        rr = (f"{_stat([r['rr_rank1'] for r in runs])} / {_stat([r['rr_mAP'] for r in runs])}"
              if all("rr_rank1" in r for r in runs) else "")
        changes = "; ".join(f"`{s}`" for s in row.set) or "(base)"
        lines.append(f"| {row.name} | {changes} | {_stat(r1)} | {_stat(ap)} | {delta[0]} | {delta[1]} | {rr} | "
                     f"{np.mean([r['s_per_it'] for r in runs]):.2f} | {','.join(str(r['seed']) for r in runs)} |")
    return head + "\n".join(lines) + "\n"
