"""Compare this project with torchreid 0.2.5's video pipeline on one MARS-layout dataset.

    make peer   # once: torchreid in .peer-venv
    .venv/bin/python tools/compare_peer.py --root /data --seeds 0 1 2 --iterations 510 --out outputs/peer \\
        --height 128 --width 64 --seq-len 4 --num-identities 4 --num-instances 2 --workers 2 --threads 2 \\
        --config configs/short_run.yaml [key=value ...] [--variant NAME:key=value,key=value ...]

For each seed it runs, one after the other, torchreid (tools/peer/torchreid_video.py in
.peer-venv), this project (tools/train.py with the matched settings, ResNet-18 random init, plus
the trailing ``key=value`` overrides) and then each ``--variant`` (the same plus its own
overrides), so a drift in machine load touches every row. Each run gets its own folder
``<out>/<row>/seed<S>/`` with ``run.log`` and ``run.json``; a run whose ``run.json`` holds the same
command (up to the checkout's folder, the config file's copy and output-only flags: ``run_key``)
and whose ``metrics.json`` exists is read back instead of run again (``--force`` reruns).
The table of mean ± sample std over seeds goes to stdout, ``<out>/compare.md`` and, with every
per-seed number, ``<out>/compare.json``. With ``--eval-every N`` the project rows are evaluated
every N iterations and the files also say, per seed, at which iteration and after how many
training seconds each first reaches torchreid's final rank-1 and mAP (torchreid is evaluated once,
at its end: its final accuracy is the target).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from reid.config import load_config
from reid.engine.environment import cpu_model_name
from reid.engine.precision import isa_cap
from reid.errors import ConfigError
from reid.pipeline.config_checks import check_config

REPO = Path(__file__).resolve().parents[2]  # the repository: tools/ and the peer script live there
TRAIN = REPO / "tools" / "train.py"
PEER_SCRIPT = REPO / "tools" / "peer" / "torchreid_video.py"
PEER_LABEL = "torchreid 0.2.5"
PEER_SLUG = "torchreid"
SIDES = ("peer", "ours")
# the trainer's progress line: "it 510/510  loss ...  lr 3.50e-04  (1.23 it/s)"
RATE_LINE = re.compile(r"\bit (\d+)/(\d+)\b.*\(([0-9.]+) it/s\)")
# the trainer's first line: "device cpu, precision bf16 (auto: ...), memory format ..."
PRECISION_LINE = re.compile(r"\bdevice \w+, precision (\w+) \(")
KEY_START = re.compile(r"^\s*[A-Za-z_][\w.]*=")


@dataclass
class Row:
    """One line of the table: a name, the folder name and the project overrides (none for the peer)."""

    name: str
    slug: str
    side: str  # "peer" or "ours"
    overrides: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """One seed of one row, as read from its metrics.json (and log, for our training speed)."""

    seed: int
    rank1: float
    mAP: float
    s_per_it: float
    iterations: int
    rr_rank1: float | None = None
    rr_mAP: float | None = None
    wall_seconds: float | None = None
    step_s_per_it: float | None = None  # torchreid: forward/backward/step alone, without data loading
    s_per_it_source: str = ""
    run_dir: str = ""
    precision: str = ""  # the arithmetic the training steps ran in
    # ours with --eval-every: [iteration, rank-1, mAP] of each periodic evaluation, then the final one
    curve: list[list[float]] = field(default_factory=list)


def slug(name: str) -> str:
    """A folder name for a row name: lower case, runs of other characters become ``_``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").lower()


def split_overrides(text: str) -> list[str]:
    """``a=1,b=[x, y],c=z`` -> ``["a=1", "b=[x, y]", "c=z"]``.

    A comma starts a new override only where a ``key=`` follows it, so YAML values holding
    commas (lists, mappings) stay whole.
    """
    parts: list[str] = []
    for piece in text.split(","):
        if parts and not KEY_START.match(piece):
            parts[-1] += "," + piece
        else:
            parts.append(piece.strip())
    return [p for p in parts if p]


def parse_variant(text: str) -> Row:
    """``NAME:key=value,key=value`` -> a project row; SystemExit naming the argument otherwise.

    NAME ends at the first colon that a ``key=`` follows, so a name may hold colons of its own
    (``K6: weight 2:loss.terms=...``).
    """
    name, sep, rest = text, "", ""
    for match in re.finditer(":", text):
        if KEY_START.match(text[match.end():]):
            name, sep, rest = text[:match.start()], ":", text[match.end():]
            break
    name = name.strip()
    overrides = split_overrides(rest)
    if not sep or not name or not overrides:
        raise SystemExit(f"--variant {text!r}: expected NAME:key=value[,key=value...]")
    for item in overrides:
        if "=" not in item:
            raise SystemExit(f"--variant {text!r}: override {item!r} is not key=value")
    return Row(name, slug(name), "ours", overrides)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", required=True, help="MARS-layout dataset parent (holds mars/{bbox_train,bbox_test,info})")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--iterations", type=_positive, default=510, help="training iterations per run")
    p.add_argument("--out", default="outputs/peer", help="output folder")
    p.add_argument("--config", default=str(REPO / "configs" / "short_run.yaml"),
                   help="project config file (default: the short-run recipe, configs/short_run.yaml)")
    p.add_argument("--height", type=_positive, default=128)
    p.add_argument("--width", type=_positive, default=64)
    p.add_argument("--seq-len", type=_positive, default=4)
    p.add_argument("--num-identities", type=_positive, default=4, help="P")
    p.add_argument("--num-instances", type=_positive, default=2, help="K")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=_positive, default=2, help="OMP/MKL threads (and torch threads of the peer)")
    p.add_argument("--sides", default="peer,ours", help="comma list of peer, ours (variants run with ours)")
    p.add_argument("--label", default="ours", help="table name of the project row")
    p.add_argument("--variant", action="append", default=[], metavar="NAME:key=value,...",
                   help="one more project row with these overrides on top of the common ones (repeatable)")
    p.add_argument("--peer-venv", default=str(REPO / ".peer-venv"), help="torchreid's virtualenv (make peer)")
    p.add_argument("--eval-every", type=int, default=0, metavar="N",
                   help="evaluate the project rows every N iterations (train.eval_every) and report the iteration "
                        "and training seconds at which each first reaches torchreid's final rank-1 and mAP")
    p.add_argument("--force", action="store_true", help="rerun runs whose results are already there")
    p.add_argument("overrides", nargs="*", help="key=value overrides for every project row")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and check the arguments; ``args.rows`` is the list of table rows in run order."""
    args = build_parser().parse_intermixed_args(argv)
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    bad = [s for s in sides if s not in SIDES]
    if bad or not sides:
        raise SystemExit(f"--sides {args.sides!r}: expected a comma list of {', '.join(SIDES)}")
    if args.workers < 0:
        raise SystemExit(f"--workers: expected 0 or more, got {args.workers}")
    if args.eval_every < 0:
        raise SystemExit(f"--eval-every: expected 0 (off) or more, got {args.eval_every}")
    if len(set(args.seeds)) != len(args.seeds):
        raise SystemExit(f"--seeds {args.seeds}: expected distinct seeds")
    for item in args.overrides:
        if "=" not in item:
            raise SystemExit(f"override {item!r}: expected key=value, e.g. eval.metric=euclidean")
    rows: list[Row] = []
    if "peer" in sides:
        rows.append(Row(PEER_LABEL, PEER_SLUG, "peer"))
    if "ours" in sides:
        rows.append(Row(args.label, slug(args.label), "ours"))
        rows += [parse_variant(v) for v in args.variant]
    elif args.variant:
        raise SystemExit("--variant: variants are project rows; add ours to --sides")
    slugs = [r.slug for r in rows]
    if len(set(slugs)) != len(slugs) or not all(slugs):
        raise SystemExit(f"--label/--variant: row names must differ (folder names {slugs})")
    args.sides, args.rows = sides, rows
    return args


def peer_python(venv: str | os.PathLike) -> Path:
    """The peer virtualenv's python, or SystemExit telling to run ``make peer``."""
    python = Path(venv) / "bin" / "python"
    if not python.is_file():
        raise SystemExit(f"{python} not found: the torchreid peer virtualenv is missing; run make peer first")
    return python


def peer_command(args: argparse.Namespace, python: Path, seed: int, run_dir: Path) -> list[str]:
    return [str(python), str(PEER_SCRIPT), "--root", str(Path(args.root).resolve()), "--out", str(run_dir),
            "--seed", str(seed), "--height", str(args.height), "--width", str(args.width),
            "--seq-len", str(args.seq_len), "--num-identities", str(args.num_identities),
            "--num-instances", str(args.num_instances), "--iterations", str(args.iterations),
            "--workers", str(args.workers), "--threads", str(args.threads),
            "--save-distmat"]  # <run_dir>/distmat.npz: torchreid's ranking, for osmcaa-reid study queries --against


def ours_overrides(args: argparse.Namespace, row: Row) -> list[str]:
    """The matched settings, then the user's overrides, then the row's (a later one wins)."""
    matched = [
        "data.name=mars", f"data.root={Path(args.root).resolve()}", "model.backbone=resnet18", "model.init=random",
        f"data.height={args.height}", f"data.width={args.width}", f"data.seq_len={args.seq_len}",
        f"data.num_identities={args.num_identities}", f"data.num_instances={args.num_instances}",
        f"data.workers={args.workers}", f"train.iterations={args.iterations}",
        "train.resume=''",  # every run trains from scratch, even in a reused folder
    ]
    if getattr(args, "eval_every", 0):
        matched.append(f"train.eval_every={args.eval_every}")
    return [*matched, *args.overrides, *row.overrides]


def check_ours_configs(args: argparse.Namespace) -> None:
    """Build every project row's config before any run starts: SystemExit naming the row otherwise."""
    for row in args.rows:
        if row.side == "ours":
            try:
                check_config(load_config(args.config, ours_overrides(args, row)))
            except ConfigError as exc:
                raise SystemExit(f"project row {row.name!r}: {exc}") from None


def ours_command(args: argparse.Namespace, row: Row, seed: int, run_dir: Path) -> list[str]:
    """tools/train.py with the row's overrides (ours_overrides) and the seed's folder."""
    return [sys.executable, str(TRAIN), "--config", str(Path(args.config).resolve()), *ours_overrides(args, row),
            f"seed={seed}", f"output_dir={run_dir}"]


def parse_rate(log_text: str) -> tuple[int, float] | None:
    """(iteration, it/s) of the last trainer progress line in a log, or None when there is none."""
    found = RATE_LINE.findall(log_text)
    if not found:
        return None
    iteration, _total, rate = found[-1]
    return int(iteration), float(rate)


def read_metrics(path: Path) -> dict:
    if not path.is_file():
        raise SystemExit(f"{path} not found: the run wrote no metrics")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SystemExit(f"{path}: not valid JSON ({exc})") from None


def read_result(row: Row, seed: int, run_dir: Path, wall_seconds: float | None = None) -> RunResult:
    """The per-seed numbers of a finished run from ``metrics.json`` (+ ``run.log`` for our speed)."""
    metrics_path = run_dir / "metrics.json"
    m = read_metrics(metrics_path)
    results = m.get("results", {})
    if "plain" not in results or not {"rank1", "mAP"} <= set(results["plain"]):
        raise SystemExit(f"{metrics_path}: expected results.plain.rank1 and results.plain.mAP")
    plain, rr = results["plain"], results.get("re-ranked")
    if row.side == "peer":
        s_per_it, iterations, source = m.get("seconds_per_iteration"), m.get("iterations"), "torchreid training time"
        if s_per_it is None or iterations is None:
            raise SystemExit(f"{metrics_path}: expected seconds_per_iteration and iterations")
        precision = "fp32"  # torchreid's video engine has no mixed precision on CPU
    else:
        log = run_dir / "run.log"
        log_text = log.read_text(errors="replace") if log.is_file() else ""
        rate = parse_rate(log_text)
        found = PRECISION_LINE.search(log_text)
        precision = found.group(1) if found else "unknown"
        training = m.get("training", {})
        if "seconds_per_iteration" in training:
            s_per_it, source = training["seconds_per_iteration"], "metrics.json training.seconds_per_iteration"
            iterations = training.get("iterations", rate[0] if rate else None)
        elif rate is not None:
            iterations, s_per_it = rate[0], (1.0 / rate[1] if rate[1] > 0 else math.nan)
            source = "trainer log (x.xx it/s) of the last step"
        else:
            raise SystemExit(f"{log}: no trainer progress line '(x.xx it/s)' and no training.seconds_per_iteration "
                             f"in {metrics_path}; run without --quiet")
    step = m.get("step_seconds_per_iteration") if row.side == "peer" else None
    curve = [] if row.side == "peer" else read_curve(run_dir / "train_log.csv")
    if curve and iterations is not None:
        curve.append([int(iterations), float(plain["rank1"]), float(plain["mAP"])])
    return RunResult(seed=seed, rank1=float(plain["rank1"]), mAP=float(plain["mAP"]), s_per_it=float(s_per_it),
                     iterations=int(iterations) if iterations is not None else -1,
                     rr_rank1=float(rr["rank1"]) if rr else None, rr_mAP=float(rr["mAP"]) if rr else None,
                     wall_seconds=wall_seconds, step_s_per_it=float(step) if step is not None else None,
                     s_per_it_source=source, run_dir=str(run_dir), precision=precision, curve=curve)


def read_curve(path: Path) -> list[list[float]]:
    """[iteration, rank-1, mAP] of the periodic evaluations in a run's ``train_log.csv`` (none: [])."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        if r.get("eval_rank1") not in (None, "") and r.get("eval_mAP") not in (None, ""):
            out.append([int(float(r["iteration"])), float(r["eval_rank1"]), float(r["eval_mAP"])])
    return out


def first_reached(curve: list[list[float]], column: int, target: float) -> int | None:
    """The first evaluated iteration whose value in ``column`` (1: rank-1, 2: mAP) is >= ``target``."""
    return next((int(point[0]) for point in curve if point[column] >= target), None)


def time_to_peer(rows: list[Row], results: dict[str, list[RunResult]]) -> dict:
    """Per project row and seed: when its evaluations first reach the same seed's torchreid final rank-1
    and mAP, as an iteration, training seconds (iteration x its s/it) and a fraction of torchreid's
    training seconds (its iterations x its s/it); None where never reached or not evaluated."""
    peers = [r for r in rows if r.side == "peer"]
    if not peers:
        return {}
    peer_runs = {r.seed: r for r in results.get(peers[0].name, [])}
    out: dict = {}
    for row in rows:
        if row.side != "ours":
            continue
        entries = []
        for run in results.get(row.name, []):
            peer = peer_runs.get(run.seed)
            if peer is None or not run.curve:
                continue
            peer_seconds = peer.iterations * peer.s_per_it
            entry = {"seed": run.seed, "peer_rank1": peer.rank1, "peer_mAP": peer.mAP, "peer_seconds": peer_seconds}
            for name, column, target in (("rank1", 1, peer.rank1), ("mAP", 2, peer.mAP)):
                it = first_reached(run.curve, column, target)
                seconds = None if it is None else it * run.s_per_it
                entry[f"{name}_iteration"] = it
                entry[f"{name}_seconds"] = seconds
                entry[f"{name}_fraction"] = None if seconds is None or peer_seconds <= 0 else seconds / peer_seconds
            entries.append(entry)
        if entries:
            out[row.name] = entries
    return out


def format_time_to_peer(reached: dict, peer_name: str) -> str:
    """Markdown: one line per project row and seed (``-``: not reached within the run)."""
    if not reached:
        return ""

    def cell(e: dict, name: str) -> str:
        if e[f"{name}_iteration"] is None:
            return "not reached"
        return f"it {e[f'{name}_iteration']}, {e[f'{name}_seconds']:.0f} s ({e[f'{name}_fraction']:.2f}x)"

    lines = [f"| run | seed | {peer_name} final rank-1 / mAP | reaches its rank-1 at | reaches its mAP at |",
             "|---|---:|---:|---|---|"]
    for name, entries in reached.items():
        for e in entries:
            lines.append(f"| {name} | {e['seed']} | {e['peer_rank1']:.2f} / {e['peer_mAP']:.2f} | {cell(e, 'rank1')} | "
                         f"{cell(e, 'mAP')} |")
        fractions = [max(e["rank1_fraction"], e["mAP_fraction"]) for e in entries
                     if e["rank1_fraction"] is not None and e["mAP_fraction"] is not None]
        if len(fractions) == len(entries):
            lines.append(f"| {name} | mean | | both reached at {sum(fractions) / len(fractions):.2f}x "
                         f"{peer_name}'s training time | |")
    return "\n".join(lines) + "\n"


#: flags that only add output files: a finished run without them holds the same result
OUTPUT_ONLY_FLAGS = ("--save-distmat",)


def run_key(cmd: list[str]) -> list[str]:
    """What decides a run's result, for reading a finished run back: the command without the
    interpreter's and the script's folders (a checkout in another folder reuses the runs), with the
    ``--config`` file by its content (a copy of the same file matches) and without the flags in
    ``OUTPUT_ONLY_FLAGS``."""
    key = [Path(part).name for part in cmd[:2]]
    previous = ""
    for part in cmd[2:]:
        if part in OUTPUT_ONLY_FLAGS:
            continue
        if previous == "--config" and Path(part).is_file():
            part = "sha256:" + hashlib.sha256(Path(part).read_bytes()).hexdigest()
        key.append(part)
        previous = part
    return key


def run_one(row: Row, seed: int, cmd: list[str], run_dir: Path, threads: int, force: bool) -> RunResult:
    """Run ``cmd`` (output to ``run_dir/run.log``) unless a run with the same ``run_key`` already
    finished there."""
    record = run_dir / "run.json"
    if not force and record.is_file() and (run_dir / "metrics.json").is_file():
        saved = json.loads(record.read_text())
        if isinstance(saved.get("command"), list) and run_key(saved["command"]) == run_key(cmd):
            print(f"  {row.name} seed {seed}: finished before, read back from {run_dir}", flush=True)
            return read_result(row, seed, run_dir, saved.get("wall_seconds"))
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in (record, run_dir / "metrics.json"):
        stale.unlink(missing_ok=True)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONUNBUFFERED="1")
    print(f"  {row.name} seed {seed}: running, log {run_dir / 'run.log'}", flush=True)
    start = time.perf_counter()
    with open(run_dir / "run.log", "w") as log:
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = (run_dir / "run.log").read_text(errors="replace").strip().splitlines()[-1:] or [""]
        raise SystemExit(f"{row.name} seed {seed} failed (exit {done.returncode}), see {run_dir / 'run.log'}: "
                         f"{tail[0]}")
    result = read_result(row, seed, run_dir, round(wall, 1))
    record.write_text(json.dumps({"command": cmd, "wall_seconds": round(wall, 1)}, indent=2) + "\n")
    return result


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return mean, std


def _cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.2f} ± {std:.2f}" if len(values) > 1 else f"{mean:.2f}"


def format_table(rows: list[Row], results: dict[str, list[RunResult]]) -> str:
    """Markdown table, one line per row with results (and one more for its re-ranked numbers)."""
    lines = ["| run | rank-1 mean ± std | mAP mean ± std | s/it mean | seeds |", "|---|---:|---:|---:|---|"]
    for row in rows:
        runs = results.get(row.name, [])
        if not runs:
            continue
        seeds = ",".join(str(r.seed) for r in runs)
        s_per_it = f"{mean_std([r.s_per_it for r in runs])[0]:.3f}"
        lines.append(f"| {row.name} | {_cell([r.rank1 for r in runs])} | {_cell([r.mAP for r in runs])} | "
                     f"{s_per_it} | {seeds} |")
        if all(r.rr_rank1 is not None and r.rr_mAP is not None for r in runs):
            lines.append(f"| {row.name} (re-ranked) | {_cell([r.rr_rank1 for r in runs])} | "
                         f"{_cell([r.rr_mAP for r in runs])} | {s_per_it} | {seeds} |")
    return "\n".join(lines) + "\n"


def summary(rows: list[Row], results: dict[str, list[RunResult]]) -> dict:
    """compare.json's per-row aggregate numbers."""
    out = {}
    for row in rows:
        runs = results.get(row.name, [])
        if not runs:
            continue
        entry = {"side": row.side, "overrides": row.overrides, "seeds": [r.seed for r in runs]}
        for key in ("rank1", "mAP", "rr_rank1", "rr_mAP", "s_per_it"):
            values = [getattr(r, key) for r in runs]
            if all(v is not None for v in values):
                entry[f"{key}_mean"], entry[f"{key}_std"] = mean_std(values)
        out[row.name] = entry
    return out


def machine_description() -> str:
    """The CPU, the vector ISA of torch's kernels and any oneDNN ISA cap of this process (and its runs)."""
    cap = isa_cap()
    return (f"{cpu_model_name()}, {os.cpu_count()} logical CPUs, torch kernels "
            f"{torch.backends.cpu.get_cpu_capability()}, " + (f"oneDNN capped by {cap}" if cap else "no ISA cap"))


def write_outputs(out: Path, args: argparse.Namespace, rows: list[Row], results: dict[str, list[RunResult]]) -> str:
    """Write compare.md and compare.json; return the table."""
    table = format_table(rows, results)
    settings = {k: getattr(args, k) for k in ("root", "seeds", "iterations", "config", "height", "width", "seq_len",
                                              "num_identities", "num_instances", "workers", "threads", "overrides",
                                              "eval_every")}
    notes = [
        f"- {args.iterations} iterations wanted, {args.height}x{args.width}, {args.seq_len}-frame clips, "
        f"P={args.num_identities} x K={args.num_instances}, {args.workers} loader workers, {args.threads} threads; "
        f"seeds {' '.join(map(str, args.seeds))}; mean ± sample std over seeds.",
        "- s/it is training time only, data loading included, evaluation excluded: torchreid's from its "
        "epochs (whole epochs: the iterations are rounded up), ours from metrics.json "
        "training.seconds_per_iteration (or, without it, the trainer's last '(x.xx it/s)' log line).",
        *[f"- {r.name}: {mean_std([x.step_s_per_it for x in results[r.name]])[0]:.3f} s/it in forward/backward/step "
          "alone (torchreid restarts its loader workers every epoch)" for r in rows
          if r.side == "peer" and results.get(r.name) and all(x.step_s_per_it is not None for x in results[r.name])],
        f"- machine: {machine_description()}",
        *[f"- {r.name}: trained in {', '.join(sorted({x.precision or 'unknown' for x in results[r.name]}))}"
          for r in rows if results.get(r.name)],
        f"- project config {args.config}, overrides: {' '.join(args.overrides) or '(none)'}",
        *[f"- {r.name}: {' '.join(r.overrides)}" for r in rows if r.overrides],
    ]
    reached = time_to_peer(rows, results)
    timing = format_time_to_peer(reached, PEER_LABEL)
    if timing:
        timing = ("\n## Time to torchreid's final accuracy\n\nThe first periodic evaluation (every "
                  f"{args.eval_every} iterations, then the last) at or above torchreid's final rank-1 / mAP of "
                  "the same seed; seconds are training seconds (iterations x s/it), the fraction is of "
                  "torchreid's whole training time.\n\n" + timing)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare.md").write_text("# Peer comparison: torchreid 0.2.5 video pipeline vs this project\n\n"
                                    + table + "\n" + "\n".join(notes) + "\n" + timing)
    data = {"settings": settings, "rows": summary(rows, results), "time_to_peer": reached,
            "runs": {name: [asdict(r) for r in runs] for name, runs in results.items()}}
    (out / "compare.json").write_text(json.dumps(data, indent=2) + "\n")
    return table


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(args.root)
    if not (root / "mars" / "info").is_dir():
        raise SystemExit(f"--root {args.root}: expected a MARS-layout parent, "
                         f"but {root / 'mars' / 'info'} is not a folder")
    if "ours" in args.sides and not Path(args.config).is_file():
        raise SystemExit(f"--config {args.config}: file not found")
    check_ours_configs(args)
    python = peer_python(args.peer_venv) if "peer" in args.sides else None
    out = Path(args.out).resolve()
    results: dict[str, list[RunResult]] = {r.name: [] for r in args.rows}
    for seed in args.seeds:
        print(f"seed {seed}", flush=True)
        for row in args.rows:  # peer, ours, variants: alternating per seed
            run_dir = out / row.slug / f"seed{seed}"
            if row.side == "peer":
                cmd = peer_command(args, python, seed, run_dir)
            else:
                cmd = ours_command(args, row, seed, run_dir)
            r = run_one(row, seed, cmd, run_dir, args.threads, args.force)
            print(f"  {row.name} seed {seed}: rank-1 {r.rank1:.2f}  mAP {r.mAP:.2f}  {r.s_per_it:.3f} s/it  "
                  f"({r.iterations} iterations)", flush=True)
            results[row.name].append(r)
        write_outputs(out, args, args.rows, results)  # partial results survive an interrupted comparison
    table = write_outputs(out, args, args.rows, results)
    print()
    print(table, end="")
    timing = format_time_to_peer(time_to_peer(args.rows, results), PEER_LABEL)
    if timing:
        print("\ntime to torchreid's final accuracy:\n" + timing, end="")
    print(f"\nwritten: {out / 'compare.md'}, {out / 'compare.json'}")
    return 0
