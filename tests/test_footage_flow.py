"""README's "From your video to a trained model, and back into the tracker", run as written.

Two small rendered cameras with ground truth, detections drawn from it with misses and jitter
(the simulated detector), then each README command in turn through the osmcaa-reid program;
the trained model is tiny (overrides appended to the training command) but the path is the real one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from footage_fixtures import two_cameras
from reid.cli.main import main
from reid.data import load_dataset
from reid.data.synthetic.footage import FootageConfig, sequence_dir
from reid.engine.export import read_metadata
from reid.eval.mot_metrics import evaluate_tracking
from reid.tracking.embedder import CropEmbedder

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = [
    "track --video cam0.avi --camid 0 --video cam1.avi --camid 1 --detections det0.txt --detections det1.txt "
    "--out footage",
    "train --config demo data.name=folder data.root=footage output_dir=run train.iterations=300",
    "export --checkpoint run/model.pt --image",
    "link --video cam0.avi --tracks footage/tracks_cam0.txt --video cam1.avi --tracks footage/tracks_cam1.txt "
    "--checkpoint run/model.pt --out linked",
]
TINY_TRAINING = ["train.iterations=4", "train.eval_every=0", "train.log_every=1", "train.tensorboard=false",
                 "data.num_identities=2", "data.num_instances=2", "data.workers=0", "model.embed_dim=16",
                 "data.test_max_frames=4", "device=cpu"]
FOOTAGE = FootageConfig(width=192, height=144, fps=5, train_frames=2, test_frames=80, train_people=1,
                        test_people=8, num_cameras=2, revisit=0.5, gap=(2, 6))


def test_readme_shows_the_commands_this_test_runs() -> None:
    text = (ROOT / "README.md").read_text()
    for command in COMMANDS:
        assert f".venv/bin/osmcaa-reid {command}" in text, command


@pytest.mark.slow
def test_video_to_tracks_to_training_to_export_to_linking(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    rendered = two_cameras(tmp_path, FOOTAGE)
    track, train, export, link = (c.split() for c in COMMANDS)

    assert main(track) == 0
    out = capsys.readouterr().out
    assert "dropped tracks shorter than" in out
    dataset = load_dataset("folder", "footage")
    assert len(dataset.train) >= 4 and {t.camid for t in dataset.train} == {0, 1}

    assert main([*train, *TINY_TRAINING]) == 0
    assert Path("run/model.pt").is_file()

    assert main(export) == 0
    onnx = Path("run/resnet18_folder.onnx")
    assert read_metadata(onnx)["kind"] == "image"
    crops = [np.asarray(np.random.default_rng(i).integers(0, 255, (80, 40, 3)), dtype=np.uint8) for i in range(3)]
    from_onnx, from_torch = CropEmbedder.from_onnx(onnx)(crops), CropEmbedder.from_checkpoint("run/model.pt")(crops)
    assert from_onnx.shape == (3, 16) and np.allclose(np.linalg.norm(from_onnx, axis=1), 1.0, atol=1e-5)
    assert np.abs(from_onnx - from_torch).max() < 1e-4

    assert main(link) == 0
    assert "linked" in capsys.readouterr().out
    gt = [sequence_dir(rendered, "test", cam) / "gt" / "gt.txt" for cam in range(2)]
    alone = evaluate_tracking(list(zip(gt, ["footage/tracks_cam0.txt", "footage/tracks_cam1.txt"])))
    linked = evaluate_tracking(list(zip(gt, ["linked/cam0.txt", "linked/cam1.txt"])))
    assert linked.det_recall == pytest.approx(alone.det_recall)  # linking renames tracks, never moves boxes
    ids = lambda path: {line.split(",")[1] for line in Path(path).read_text().splitlines()}  # noqa: E731
    assert len(ids("linked/cam0.txt") | ids("linked/cam1.txt")) <= len(ids("footage/tracks_cam0.txt")) + len(
        ids("footage/tracks_cam1.txt"))
