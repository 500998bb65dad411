"""The package layout: each capability in one folder, imports one way, thin entry scripts.

The import rules are read from the source (every ``import`` statement, also those inside
functions; a type-hint-only import under ``if TYPE_CHECKING:`` is allowed), so a new upward import
fails here before it can become an import circle.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from reid.cli.main import COMMANDS, main

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "reid"

# Each folder (or top-level module) and the layers it may import, besides itself.
BASE = {"reid", "reid.config", "reid.errors"}
ALLOWED = {
    "reid.config": {"reid.errors"},
    "reid.errors": set(),
    "reid.data": BASE,
    "reid.models": BASE,
    "reid.losses": BASE,
    "reid.engine": BASE | {"reid.data", "reid.models", "reid.losses"},
    "reid.eval": BASE | {"reid.data"},
    "reid.report": BASE | {"reid.data", "reid.engine", "reid.eval"},
    "reid.pipeline": BASE | {"reid.data", "reid.models", "reid.losses", "reid.engine", "reid.eval", "reid.report"},
}
ALLOWED["reid.search"] = ALLOWED["reid.pipeline"] | {"reid.pipeline"}
ALLOWED["reid.tracking"] = ALLOWED["reid.pipeline"] | {"reid.pipeline"}
ALLOWED["reid.studies"] = ALLOWED["reid.search"] | {"reid.search", "reid.tracking"}  # bench_large measures the search index
ALLOWED["reid.cli"] = set(ALLOWED) | {"reid.search", "reid.studies", "reid.tracking", "reid.pipeline"}
DRAWING = {"matplotlib", "PIL", "cv2", "faiss"}


def layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else module


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, except under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(), str(path))
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for child in node.body for n in ast.walk(child)}
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"reid.{a.name}" for a in node.names if node.module == "reid" and is_module(f"reid.{a.name}")]
    return found


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        out.append((name.removesuffix(".__init__"), path))
    return out


@pytest.mark.parametrize("name,path", modules(), ids=lambda v: v if isinstance(v, str) else "")
def test_imports_go_one_way(name: str, path: Path) -> None:
    own = layer(name)
    allowed = ALLOWED.get(own, BASE) | {own}
    bad = [m for m in imports(path) if m.startswith("reid.") and layer(m) not in allowed]
    assert not bad, f"{path.relative_to(ROOT)} ({own}) imports {bad}; {own} may import {sorted(allowed)}"


def test_eval_is_metrics_only() -> None:
    for path in sorted((PACKAGE / "eval").glob("*.py")):
        drawing = [m for m in imports(path) if m.split(".")[0] in DRAWING]
        assert not drawing, f"{path.relative_to(ROOT)} imports {drawing}: drawing and FAISS live in reid.report / reid.search"


def test_every_module_imports_in_a_fresh_interpreter() -> None:
    names = [n for n, _ in modules() if not n.endswith("__main__")]
    code = "import importlib, sys\nfor n in sys.argv[1:]: importlib.import_module(n)"
    subprocess.run([sys.executable, "-c", code, *names], check=True, cwd=ROOT)


def scripts() -> list[Path]:
    return sorted([*(ROOT / "tools").glob("*.py"), *(ROOT / "data_prep").glob("*.py")])


@pytest.mark.parametrize("path", scripts(), ids=lambda p: p.name)
def test_entry_scripts_are_thin(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert len(lines) <= 80, f"{path.name}: {len(lines)} lines; its logic belongs in the package"


def leaf_commands() -> list[list[str]]:
    out = []
    for name, entry in COMMANDS.items():
        out += [[name, sub] for sub in entry] if isinstance(entry, dict) else [[name]]
    return out


@pytest.mark.parametrize("command", leaf_commands(), ids=" ".join)
def test_every_command_has_help(command: list[str], capsys) -> None:
    try:
        code = main([*command, "--help"])
    except SystemExit as stop:  # argparse's --help
        code = stop.code
    text = capsys.readouterr().out
    assert code == 0 and "usage" in text.lower(), text


def test_program_help_lists_every_command(capsys) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in COMMANDS)
    assert main(["study", "--help"]) == 0
    assert "recipe" in capsys.readouterr().out
    assert main(["nonsense"]) == 2
    assert "unknown command 'nonsense'" in capsys.readouterr().err
