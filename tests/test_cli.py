"""Entry-script argument handling: overrides anywhere on the line, clear errors, exit codes."""

import subprocess
import sys
from pathlib import Path

from reid.pipeline.cli import base_parser, parse

ROOT = Path(__file__).resolve().parents[1]


def test_overrides_before_and_after_options(tmp_path):
    parser = base_parser("x")
    parser.add_argument("--checkpoint")
    args, cfg = parse(parser, ["train.iterations=3", "--checkpoint", "k.pt", "eval.protocol=mars-official",
                               "--config", str(ROOT / "configs" / "demo.yaml")])
    assert args.checkpoint == "k.pt"
    assert cfg.train.iterations == 3 and cfg.eval.protocol == "mars-official"
    assert cfg.model.backbone == "resnet18"  # from the config file


def _run(*argv):
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_unknown_key_is_a_one_line_error():
    out = _run("tools/train.py", "--config", "configs/demo.yaml", "train.iteratons=3")
    assert out.returncode == 2
    assert "unknown config key 'train.iteratons'; did you mean 'train.iterations'?" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_dataset_is_a_one_line_error(tmp_path):
    out = _run("tools/test.py", "--config", "configs/mars_osm_caa.yaml", f"data.root={tmp_path}",
               "--checkpoint", str(tmp_path / "none.pt"))
    assert out.returncode == 1
    assert f"no mars dataset under {tmp_path}" in out.stderr
    assert "Traceback" not in out.stderr
