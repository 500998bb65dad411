"""A run folder has one writer (a lock) and a log.txt of what the terminal showed."""

import json
import socket
import subprocess
import sys
import time

import pytest

from reid.engine.run_lock import LOCK_NAME, RunLock
from reid.errors import ConfigError


def test_a_second_process_is_refused_while_the_first_holds_the_folder(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from reid.engine.run_lock import RunLock\n"
        f"with RunLock({str(tmp_path)!r}):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ConfigError, match=rf"{tmp_path} is in use by another run \(pid {holder.pid} on") as info:
            with RunLock(tmp_path):
                pass
        assert "\n" not in str(info.value)
    finally:
        holder.kill()
        holder.wait()
    # the holder was killed: its lock is stale and is taken over
    assert (tmp_path / LOCK_NAME).exists()
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_NAME).read_text())["pid"] != holder.pid
    assert not (tmp_path / LOCK_NAME).exists()


def test_the_lock_is_reentrant_in_one_process_and_released(tmp_path):
    with RunLock(tmp_path):
        with RunLock(tmp_path):
            pass
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_of_another_host_or_an_unreadable_lock(tmp_path):
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": socket.gethostname() + "-elsewhere",
                                                  "started": time.strftime("%Y")}))
    with pytest.raises(ConfigError, match="elsewhere"):
        with RunLock(tmp_path):
            pass
    (tmp_path / LOCK_NAME).write_text("{trunc")
    with RunLock(tmp_path):
        pass


def test_training_writes_log_txt(tmp_path):
    from reid.pipeline.training import run_training
    from tests.test_training import tiny_config

    run_training(tiny_config(tmp_path, "run", "train.iterations=2"))
    text = (tmp_path / "run" / "log.txt").read_text()
    assert "precision fp32" in text and "it 2/2" in text
    assert not (tmp_path / "run" / LOCK_NAME).exists()


def test_training_writes_train_log_csv_and_a_weights_only_model(tmp_path):
    import csv

    import torch

    from reid.engine.checkpoint import load_checkpoint
    from reid.pipeline.builders import load_trained_model
    from reid.pipeline.training import run_training
    from tests.test_training import tiny_config

    cfg = tiny_config(tmp_path, "run", "train.iterations=4", "train.log_every=2")
    model, state = run_training(cfg)
    rows = list(csv.DictReader((tmp_path / "run" / "train_log.csv").open()))
    assert [int(r["iteration"]) for r in rows] == [2, 4]
    assert {"lr", "loss", "osm_caa", "cross_entropy"} <= set(rows[0])
    assert float(rows[1]["loss"]) == state.history[1]["loss"]
    shared = load_checkpoint(tmp_path / "run" / "model.pt")  # weights_only
    assert set(shared) == {"model", "iteration", "config", "num_classes"}
    again = load_trained_model(cfg, tmp_path / "run" / "model.pt")
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k
    full = (tmp_path / "run" / "checkpoint.pt").stat().st_size
    assert (tmp_path / "run" / "model.pt").stat().st_size < full  # no optimizer state


def test_training_writes_tensorboard_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from reid.pipeline.training import run_training
    from tests.test_training import tiny_config

    run_training(tiny_config(tmp_path, "run", "train.iterations=4", "train.log_every=2"))
    board = EventAccumulator(str(tmp_path / "run" / "tensorboard"))
    board.Reload()
    tags = set(board.Tags()["scalars"])
    assert {"train/loss", "train/lr", "train/it_per_s", "train/osm_caa", "degenerate/osm_caa/batches"} <= tags
    assert [e.step for e in board.Scalars("train/loss")] == [2, 4]
    assert board.Scalars("degenerate/osm_caa/batches")[-1].value == 4
    run_training(tiny_config(tmp_path, "quiet", "train.iterations=2", "train.tensorboard=false"))
    assert not (tmp_path / "quiet" / "tensorboard").exists()
