"""What a plain (non-editable) ``pip install .`` gets: the package, its shipped configs, the program."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reid.cli.main import main
from reid.config import PACKAGED_CONFIGS, load_config, resolve_config_path
from reid.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("setuptools")
    out, src = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):  # a copy, so the build leaves nothing in the checkout
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "reid", src / "reid", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(out), str(src)], check=True, cwd=out)
    (path,) = out.glob("osmcaa_reid-*.whl")
    return path


def test_the_wheel_ships_every_config_and_the_program(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {p.relative_to(ROOT / "reid").as_posix() for p in PACKAGED_CONFIGS.rglob("*.yaml")}
    assert {"configs/demo.yaml", "configs/mars_osm_caa.yaml", "configs/studies/recipe_study.yaml"} <= shipped
    assert {f"reid/{name}" for name in shipped} <= set(names)
    assert {"reid/cli/main.py", "reid/report/page.py", "reid/search/query.py", "reid/studies/recipe.py"} <= set(names)
    (entry_points,) = [n for n in names if n.endswith("entry_points.txt")]
    assert "osmcaa-reid = reid.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not [n for n in names if n.startswith(("tests/", "tools/", "data_prep/"))]


def test_a_shipped_config_is_found_by_name_from_any_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("demo", "demo.yaml", "configs/demo.yaml"):
        assert resolve_config_path(name) == PACKAGED_CONFIGS / "demo.yaml"
    assert load_config("mars_osm_caa").model.backbone == "resnet50"
    (tmp_path / "demo.yaml").write_text("seed: 7\n")  # a file of the user's wins over the shipped one
    assert load_config("demo.yaml").seed == 7
    with pytest.raises(ConfigError, match=r"config file nope.yaml does not exist \(nor is it a shipped config: .*demo"):
        load_config("nope.yaml")


def test_the_program_runs_as_a_module_outside_the_repository(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "reid.cli", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0 and "train" in out.stdout and "study" in out.stdout, out.stderr
    assert main(["--version"]) == 0
