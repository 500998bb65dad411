"""``osmcaa-reid``: one program, one subcommand per thing users run.

    osmcaa-reid COMMAND [ARGS ...]            osmcaa-reid COMMAND --help
    osmcaa-reid GROUP COMMAND [ARGS ...]      osmcaa-reid GROUP --help

Each subcommand is the ``main(argv)`` of one module, imported only when it runs (so ``--help``
starts fast and a missing optional package only matters to the command that needs it). The
``tools/`` and ``data_prep/`` scripts call the same functions.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from reid import __version__

PROG = "osmcaa-reid"

#: name -> (module whose main(argv) runs it, one line of help); a dict value is a group of subcommands
COMMANDS: dict[str, tuple[str, str] | dict[str, tuple[str, str]]] = {
    "train": ("reid.cli.train", "train a model from a config (--config FILE key.sub=value ...)"),
    "test": ("reid.cli.test", "evaluate a trained checkpoint: CMC/mAP, re-ranking, report"),
    "demo": ("reid.cli.demo", "synthetic MARS-layout data, a short training, evaluation and report"),
    "export": ("reid.cli.export", "export a trained model to ONNX"),
    "search": ("reid.cli.search", "search a gallery of tracklets: index, add, query"),
    "validate": ("reid.cli.validate", "check a dataset on disk: counts, and every frame decodes"),
    "track": ("reid.cli.track", "detect and track people in videos, cut the tracks into a tracklet dataset"),
    "crop": ("reid.cli.crop", "cut tracklets out of a video with a MOT tracks file"),
    "link": ("reid.cli.link", "link tracks of one person across gaps and cameras with a re-ID model"),
    "suspects": ("reid.cli.suspects", "training tracklets ranked by CAA attention (likely wrong labels)"),
    "synthetic": ("reid.cli.make_synthetic", "generate a synthetic dataset in the MARS layout"),
    "footage": ("reid.cli.render_footage", "render synthetic multi-camera footage with MOT ground truth"),
    "pack": ("reid.cli.pack", "pack each tracklet of a dataset into one video file"),
    "prid-splits": ("reid.cli.prid_splits", "write the 10 PRID-2011 train/test splits"),
    "study": {
        "recipe": ("reid.cli.recipe_study", "the recipe study: rows x seeds, one table"),
        "outliers": ("reid.cli.outlier_study", "the outlier study: injected wrong labels and CAA"),
        "peer": ("reid.studies.compare_peer", "this project against torchreid's video pipeline"),
        "queries": ("reid.cli.query_analysis", "per-query failures: twins, occlusion, blur, camera; against a peer"),
        "twins": ("reid.cli.twin_batches", "how often training batches hold two near twins (random, mined)"),
    },
    "bench": {
        "model": ("reid.studies.bench_model", "training step and loader throughput per backbone"),
        "eval": ("reid.studies.bench_eval", "CMC/mAP and re-ranking time and memory against torchreid"),
        "extract": ("reid.studies.bench_extract", "feature extraction throughput"),
        "large": ("reid.studies.bench_large", "chunked evaluation at large gallery sizes"),
        "loading": ("reid.studies.bench_loading", "frame loading: JPEG folders against packed videos"),
        "footage": ("reid.cli.bench_footage", "tracking alone and with re-ID linking on synthetic footage"),
        "gpu": ("reid.studies.gpu_check", "on a GPU: fp16/fp32 training, memory, extraction, re-ranking, NCCL"),
    },
}


def _usage(table: dict, path: Sequence[str]) -> str:
    head = " ".join([PROG, *path])
    width = max(len(name) for name in table) + 2
    lines = [f"usage: {head} {'GROUP ' if not path else ''}COMMAND [ARGS ...]", "", "commands:"]
    for name, entry in table.items():
        text = entry[1] if isinstance(entry, tuple) else f"{', '.join(entry)} (see {head} {name} --help)"
        lines.append(f"  {name:<{width}}{text}")
    lines += ["", f"'{head} COMMAND --help' describes a command's arguments."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, *, prog: str | None = None) -> int:
    """Dispatch ``argv`` (default ``sys.argv[1:]``) to its subcommand; returns the exit code.

    ``prog`` names the program in the subcommand's usage line (default ``osmcaa-reid COMMAND``)."""
    from reid.cli.common import run_main

    argv = list(sys.argv[1:] if argv is None else argv)
    table: dict = COMMANDS
    path: list[str] = []
    while True:
        if not argv or argv[0] in ("-h", "--help"):
            print(_usage(table, path))
            return 0 if argv else 2
        if not path and argv[0] == "--version":
            print(f"{PROG} {__version__}")
            return 0
        name = argv.pop(0)
        if name not in table:
            known = ", ".join(table)
            print(f"{' '.join([PROG, *path])}: unknown command {name!r}; expected one of: {known}", file=sys.stderr)
            return 2
        path.append(name)
        entry = table[name]
        if isinstance(entry, dict):
            table = entry
            continue
        module = importlib.import_module(entry[0])
        sys.argv = [prog or " ".join([PROG, *path]), *argv]  # argparse names the program after sys.argv[0]
        return run_main(module.main, argv)


def script(command: str, module_name: str) -> None:
    """Run ``command`` as the program when called from a script's top level (``tools/``, ``data_prep/``)."""
    if module_name == "__main__":
        sys.exit(main([*command.split(), *sys.argv[1:]], prog=os.path.basename(sys.argv[0])))


if __name__ == "__main__":
    sys.exit(main())
