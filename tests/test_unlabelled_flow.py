"""README's "Train on your unlabelled footage", run as written: tracks of two rendered cameras,
then training with the labels ignored, on the track layout and on a flat folder of tracklets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from footage_fixtures import two_cameras
from reid.cli.main import main
from reid.data import load_dataset
from tests.test_footage_flow import FOOTAGE, TINY_TRAINING

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    "track --video cam0.avi --camid 0 --video cam1.avi --camid 1 --detections det0.txt --detections det1.txt "
    "--out footage",
    "train --config demo data.name=folder data.root=footage data.labels=ignore output_dir=run_unlabelled "
    "train.iterations=300",
    "train --config demo data.name=folder data.root=crops data.labels=ignore output_dir=run_crops "
    "train.iterations=300",
]


def test_readme_shows_the_commands_this_test_runs() -> None:
    text = (ROOT / "README.md").read_text()
    for command in COMMANDS:
        assert f".venv/bin/osmcaa-reid {command}" in text, command


@pytest.mark.slow
def test_tracks_to_training_without_labels(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    two_cameras(tmp_path, FOOTAGE)
    track, train, train_flat = (c.split() for c in COMMANDS)
    rounds = ["cluster.min_cluster_size=2"]  # a handful of tracks: clusters of two
    assert main(track) == 0
    assert main([*train, *TINY_TRAINING, *rounds]) == 0
    log = Path("run_unlabelled/log.txt").read_text()
    assert "training without identity labels" in log and "pseudo-labels, round 1 at iteration 0" in log
    assert Path("run_unlabelled/model.pt").is_file()

    for folder in Path("footage/train").glob("*/*_*"):  # the tracklets without the person level
        shutil.copytree(folder, Path("crops") / folder.name)
    flat = load_dataset("folder", "crops", cache=False)
    assert len(flat.train) == len(load_dataset("folder", "footage").train)
    assert {t.camid for t in flat.train} == {0, 1} and len({t.pid for t in flat.train}) == len(flat.train)
    assert main([*train_flat, *TINY_TRAINING, *rounds]) == 0
    assert Path("run_crops/model.pt").is_file()
