"""A run killed with SIGKILL resumes bit-identically, and no kill ever leaves an unreadable checkpoint."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from reid.engine.checkpoint import CheckpointSeries, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from tests.test_training import tiny_config
    from reid.engine import trainer as trainer_module
    from reid.pipeline.training import run_training

    tmp, out, iterations, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if kill_at:
        save = trainer_module.Trainer.save

        def save_then_die(self):
            save(self)
            if self.state.iteration == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

        trainer_module.Trainer.save = save_then_die
    import pathlib
    cfg = tiny_config(pathlib.Path(tmp), out, f"train.iterations={{iterations}}", "train.checkpoint_every={every}", "train.keep_checkpoints=3",
                      "train.resume=auto", "train.log_every=1", "train.tensorboard=false")
    run_training(cfg)
""")


def _child(tmp_path, out, iterations, kill_at=0, every=2):
    script = tmp_path / f"child_{every}.py"
    script.write_text(CHILD.format(root=str(ROOT), every=every))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), str(tmp_path), out, str(iterations), str(kill_at)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sigkill_after_a_checkpoint_then_resume_is_bit_identical(tmp_path):
    straight = _child(tmp_path, "straight", 6)
    assert straight.wait(timeout=300) == 0, straight.stderr.read()
    killed = _child(tmp_path, "killed", 6, kill_at=4)
    assert killed.wait(timeout=300) == -signal.SIGKILL
    assert load_checkpoint(tmp_path / "killed" / "checkpoint.pt", required=("iteration",))["iteration"] == 4
    resumed = _child(tmp_path, "killed", 6)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt", required=("model", "iteration"))
    b = load_checkpoint(tmp_path / "killed" / "checkpoint.pt", required=("model", "iteration"))
    assert a["iteration"] == b["iteration"] == 6
    for name, value in a["model"].items():
        assert torch.equal(value, b["model"][name]), name
    for name, value in a["optimizer"]["state"].items():
        assert all(torch.equal(v, b["optimizer"]["state"][name][k]) for k, v in value.items())
    # the same logged losses, iteration by iteration (log_every=1)
    assert [(h["iteration"], h["loss"]) for h in a["history"]] == [(h["iteration"], h["loss"]) for h in b["history"]]


@pytest.mark.slow
def test_kills_at_random_moments_never_leave_an_unreadable_checkpoint(tmp_path):
    rng = random.Random(0)
    path = tmp_path / "often" / "checkpoint.pt"
    progress = []
    for attempt in range(5):
        before = path.stat().st_mtime_ns if path.exists() else 0
        child = _child(tmp_path, "often", 400, every=1)  # a checkpoint write at every iteration
        deadline = time.time() + 120
        while time.time() < deadline and (not path.exists() or path.stat().st_mtime_ns == before):
            time.sleep(0.05)  # until this run has written a checkpoint of its own
        time.sleep(rng.uniform(0.0, 1.5))  # then at any moment: inside a step, or inside a write
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
        series = CheckpointSeries(path.parent)
        kept = series.candidates()
        assert 1 <= len(kept) <= 3  # train.keep_checkpoints=3 (a kill between rename and write: 2 files)
        states = [load_checkpoint(p, required=("model", "optimizer", "iteration")) for p in kept]  # all readable
        assert [s["iteration"] for s in states] == sorted((s["iteration"] for s in states), reverse=True)
        progress.append(states[0]["iteration"])
    assert progress == sorted(progress) and progress[-1] > progress[0]  # each run resumed the last
