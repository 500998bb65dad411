"""reid/studies/footage_bench.py: tracking, calibrated linking and the table on tiny footage."""

from dataclasses import replace

import pytest
import torch

from reid.data.synthetic.footage import FootageConfig
from reid.errors import ConfigError
from reid.studies.footage_bench import Row, format_table, link_stage, model_config, prepare, score, track_part

TINY = FootageConfig(width=192, height=144, fps=4, train_frames=60, test_frames=60, train_people=5,
                     test_people=5, revisit=0.5, gap=(2, 6), num_cameras=2)


def test_tracker_and_untrained_linking_on_tiny_footage(tmp_path):
    from reid.pipeline.builders import build_model_for

    root = tmp_path / "footage"
    dets = prepare(root, 0, TINY)
    assert len(dets) == 4 and all(d.is_file() for d in dets)
    train_seqs, _ = track_part(root, "train", TINY, tmp_path / "trk_train")
    test_seqs, seconds = track_part(root, "test", TINY, tmp_path / "trk_test")
    alone, per_camera = score(test_seqs)
    assert 0.5 < alone.det_recall <= 1 and seconds > 0
    cfg = model_config(tmp_path, 0, 1)
    cfg = replace(cfg, data=replace(cfg.data, height=32, width=16, test_seq_len=2, test_max_frames=4))
    torch.manual_seed(0)
    model, _ = build_model_for(cfg, num_classes=2)
    threshold, files, _ = link_stage(model.eval(), cfg, train_seqs, test_seqs, tmp_path / "link")
    linked, linked_per_camera = score(test_seqs, files)
    assert threshold > 0 and linked.det_recall == pytest.approx(alone.det_recall)  # linking only renames
    table = format_table([Row(0, "alone", alone, per_camera, 100.0), Row(0, "linked", linked, linked_per_camera,
                                                                          10.0, threshold),
                          Row(1, "alone", alone, per_camera, 50.0)])
    lines = table.splitlines()
    assert len(lines) == 2 + 3 + 1 and lines[-1].startswith("| mean | alone |") and "| 75 |" in lines[-1]
    assert f"{100 * linked.idf1:.1f}" in lines[3]


def test_training_without_labels_on_the_trackers_own_tracks(tmp_path):
    from reid.studies.footage_bench import train_without_labels

    root = tmp_path / "footage"
    prepare(root, 0, TINY)
    train_seqs, _ = track_part(root, "train", TINY, tmp_path / "trk_train")
    cfg = model_config(tmp_path, 0, 2)
    cfg = replace(cfg, data=replace(cfg.data, height=32, width=16, seq_len=2, test_seq_len=2, test_max_frames=4,
                                    num_identities=2, num_instances=2),
                  cluster=replace(cfg.cluster, start=0.5))
    model = train_without_labels(tmp_path, cfg, train_seqs)
    crops = tmp_path / "tracker_crops" / "train"
    assert {p.name.split("_")[0] for p in crops.glob("*/*")} == {"0", "1"}  # both cameras' tracks
    log = (tmp_path / "train_unlabelled" / "log.txt").read_text()
    assert "training without identity labels" in log and "pseudo-labels, round 1 at iteration 1" in log
    assert not model.training  # returned ready to embed
    # a variant trains in a folder of its own; an unknown key stops with the key's name
    train_without_labels(tmp_path, cfg, train_seqs, ["cluster.trim_switches=true"])
    log = (tmp_path / "train_unlabelled_cluster.trim_switches=true" / "log.txt").read_text()
    assert "tracks switch person" in log and "trim_switches: true" in (
        tmp_path / "train_unlabelled_cluster.trim_switches=true" / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="cluster.trim_switchs"):
        train_without_labels(tmp_path, cfg, train_seqs, ["cluster.trim_switchs=true"])
