"""`osmcaa-reid study twins`: how often a training batch holds two near twins, random and mined."""

from pathlib import Path

import numpy as np
import pytest
import torch

from reid.data.synthetic import generate, preset
from reid.errors import DatasetError
from reid.studies.twin_batches import twin_batch_stats


def test_a_batch_of_every_identity_holds_every_pair():
    s = twin_batch_stats([0, 1, 2, 3], [(0, 1), (2, 3)], num_identities=4, num_instances=1, iterations=7)
    assert (s.batches, s.pairs, s.share_with_pair, s.meetings_per_pair, s.pairs_never_met) == (7, 2, 1.0, 7.0, 0.0)


def test_pairs_that_never_share_a_batch_are_counted():
    # 2 identities a batch, twin pairs (0, 1) and (2, 3): a random epoch pairs them together or not
    s = twin_batch_stats([0, 1, 2, 3], [(0, 1), (2, 3)], num_identities=2, num_instances=1, iterations=40)
    assert 0.0 < s.share_with_pair < 1.0
    # each epoch is 2 batches; a batch holding one pair means the other batch holds the other pair
    assert s.meetings_per_pair == pytest.approx(s.share_with_pair * 40 / 2)


def test_mining_by_a_similarity_that_knows_the_twins_puts_them_together():
    sim = np.kron(np.eye(2), np.ones((2, 2))).astype(np.float32)  # 0~1, 2~3
    s = twin_batch_stats([0, 1, 2, 3], [(0, 1), (2, 3)], num_identities=2, num_instances=1, iterations=40,
                         similarity=sim, temperature=1e-3)
    # epoch 0 (2 batches) is random; from epoch 1 every batch is a twin pair
    assert s.share_with_pair >= 38 / 40


def _world(tmp_path: Path) -> Path:
    return generate(tmp_path / "data", preset("tiny", num_train_ids=8, num_test_ids=4, twins=0.5)).parent


def test_the_cli_prints_random_and_mined_rows(tmp_path, capsys):
    from reid.cli.twin_batches import main

    root = _world(tmp_path)
    checkpoint = tmp_path / "model.pt"
    torch.save({"model": {"classifier.weight": torch.randn(8, 16)}}, checkpoint)
    assert main(["--root", str(root), "--iterations", "20", "--num-identities", "2", "--num-instances", "1"]) == 0
    out = capsys.readouterr().out
    assert "8 training identities, 2 near-twin pairs; 20 batches of 2 x 1" in out and "| random batches |" in out
    assert main(["--root", str(root), "--checkpoint", str(checkpoint), "--iterations", "20",
                 "--num-identities", "2", "--num-instances", "1"]) == 0
    assert "| identity mining at 0.1 |" in capsys.readouterr().out
    small = tmp_path / "small.pt"
    torch.save({"model": {"classifier.weight": torch.randn(3, 16)}}, small)
    with pytest.raises(SystemExit, match="3 classes, this training split 8"):
        main(["--root", str(root), "--checkpoint", str(small), "--iterations", "5"])


def test_a_world_without_twins_is_one_clear_line(tmp_path):
    from reid.cli.twin_batches import main

    root = generate(tmp_path / "data", preset("tiny")).parent
    with pytest.raises(DatasetError, match=r"twins\.csv not found"):
        main(["--root", str(root)])
