"""Entry-script argument handling: overrides anywhere on the line, clear errors, exit codes."""

import subprocess
import sys
from pathlib import Path

from reid.cli.common import base_parser, parse

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


def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    out = _run("tools/test.py", "--config", "configs/mars_osm_caa.yaml", f"data.root={tmp_path}",
               "--checkpoint", str(tmp_path / "none.pt"))
    assert out.returncode == 2
    assert f"checkpoint {tmp_path / 'none.pt'} does not exist" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_dataset_is_a_one_line_error(tmp_path):
    import torch

    torch.save({"model": {}, "config": {"model": {"backbone": "resnet18"}}}, tmp_path / "c.pt")
    out = _run("tools/test.py", "--config", "configs/mars_osm_caa.yaml", f"data.root={tmp_path}",
               "--checkpoint", str(tmp_path / "c.pt"))
    assert out.returncode == 1
    assert f"no mars dataset under {tmp_path}" in out.stderr
    assert "Traceback" not in out.stderr


def test_evaluation_takes_the_model_from_the_checkpoint_and_writes_beside_it(tmp_path, capsys):
    import pytest

    from reid.cli.common import parse_for_checkpoint
    from reid.config import load_config
    from reid.pipeline.testing import run_test
    from reid.pipeline.training import run_training
    from tests.test_training import TINY

    run_dir = tmp_path / "run"
    train_cfg = load_config(None, [*TINY, f"data.root={tmp_path / 'data'}", f"output_dir={run_dir}",
                                   "train.iterations=2"])
    run_training(train_cfg)
    (run_dir / "report.md").write_text("the training report")
    parser = base_parser("x")
    parser.add_argument("--checkpoint")
    parser.add_argument("--out")
    ckpt = str(run_dir / "checkpoint.pt")
    # a config for another model (ResNet-50, no embedding layer): the checkpoint's model wins
    args, cfg = parse_for_checkpoint(parser, ["--config", str(ROOT / "configs" / "mars_osm_caa.yaml"),
                                              "--checkpoint", ckpt, *TINY[:8], "synthetic.preset=tiny",
                                              "data.name=synthetic", f"data.root={tmp_path / 'data'}", "eval.k1=6", "eval.k2=3"])
    assert cfg.model == train_cfg.model and cfg.model.backbone == "resnet18" and cfg.model.embed_dim == 32
    assert cfg.output_dir.startswith(str(run_dir / "eval-"))
    results = run_test(cfg, ckpt)
    assert 0 <= results["plain"]["rank1"] <= 100
    assert (run_dir / "report.md").read_text() == "the training report"
    assert (tmp_path / cfg.output_dir / "report.md").is_file()
    # without --config the saved config is used whole; --out chooses the folder
    _, same = parse_for_checkpoint(parser, ["--checkpoint", ckpt, "--out", str(tmp_path / "mine")])
    assert same.data == train_cfg.data and same.output_dir == str(tmp_path / "mine")
    with pytest.raises(SystemExit):
        parse_for_checkpoint(parser, ["--checkpoint", ckpt, "model.embed_dim=64"])
    with pytest.raises(SystemExit):  # a bad value stops the evaluation before it reads any data
        parse_for_checkpoint(parser, ["--checkpoint", ckpt, "eval.metric=cosin"])
    assert "error: config key 'eval.metric': 'cosin' is not one of" in capsys.readouterr().err


def _own_footage(root, pids=(1, 2, 3)):
    import cv2
    import numpy as np

    for p in pids:
        for cam in (0, 1):
            d = root / "train" / str(p) / f"{cam}_0001"
            d.mkdir(parents=True)
            for i in range(4):
                cv2.imwrite(str(d / f"{i}.jpg"), np.full((64, 32, 3), 60 * p + 20 * cam, np.uint8))


def test_train_only_own_footage_trains_and_skips_evaluation(tmp_path, caplog):
    import logging

    from tests.test_training import TINY

    _own_footage(tmp_path / "own")
    from reid.cli import train as tool
    with caplog.at_level(logging.WARNING):
        tool.main([*[t for t in TINY if not t.startswith("synthetic.")], "data.name=folder",
                   f"data.root={tmp_path / 'own'}", f"output_dir={tmp_path / 'run'}", "train.iterations=2"])
    assert (tmp_path / "run" / "model.pt").is_file()
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert any("evaluation skipped" in r.getMessage() and "0 query and 0 gallery" in r.getMessage()
               for r in caplog.records)


def test_too_few_identities_for_the_batch_is_a_one_line_error(tmp_path):
    _own_footage(tmp_path / "own")
    out = _run("tools/train.py", "--config", "configs/demo.yaml", "data.name=folder", f"data.root={tmp_path / 'own'}",
               f"output_dir={tmp_path / 'run'}", "train.iterations=1", "data.workers=0")
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert ("data.num_identities=8: a batch needs 8 identities but the training set has 3; lower "
            "data.num_identities to at most 3") in out.stderr
