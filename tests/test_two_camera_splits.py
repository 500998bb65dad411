"""tools/test.py --splits: one checkpoint per split, mean and std over the splits (docs/method.md, "Two-camera split protocols")."""

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from parser_fixtures import make_ilidsvid
from reid.config import load_config
from reid.engine.checkpoint import save_checkpoint
from reid.models import build_model
from reid.pipeline.testing import parse_splits, run_test, run_test_splits


def test_parse_splits():
    assert parse_splits("0-9") == list(range(10))
    assert parse_splits("0,3,7") == [0, 3, 7]
    assert parse_splits("1-2,5") == [1, 2, 5]
    with pytest.raises(ValueError, match="--splits"):
        parse_splits("a-b")


def _features_by_construction(cfg, model, tracklets, device, dist=None):
    """Distinct per tracklet and clustered by identity, whatever CPU runs the test: a random
    ResNet on the fixture's plain frames can give every tracklet the same embedding on one CPU
    and not on another, so the model's output must not decide what this test sees."""
    rows = []
    for t in tracklets:
        centre = np.random.default_rng(t.pid).standard_normal(8)
        noise = np.random.default_rng(zlib.crc32(Path(t.frames[0]).name.encode())).standard_normal(8)
        rows.append(centre + 0.8 * noise)
    return np.asarray(rows, dtype=np.float32)


def test_ten_split_summary_equals_per_split_results(tmp_path, monkeypatch):
    monkeypatch.setattr("reid.pipeline.evaluation.embed", _features_by_construction)
    make_ilidsvid(tmp_path, num_splits=3)
    for split in range(3):  # a different random model per split, as if trained per split
        torch.manual_seed(split)
        model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                               embed_dim=8, num_classes=4)
        save_checkpoint(tmp_path / f"split{split}" / "checkpoint.pt", {"model": model.state_dict()})
    cfg = load_config(None, [
        "data.name=ilidsvid", f"data.root={tmp_path}", "data.height=32", "data.width=16", "data.workers=0",
        "data.test_seq_len=2", "data.test_max_frames=4", "data.cache=false", "model.backbone=resnet18",
        "model.embed_dim=8", "eval.k1=2", "eval.k2=1", f"output_dir={tmp_path / 'out'}",
    ])
    pattern = str(tmp_path / "split{split}" / "checkpoint.pt")
    tables = run_test_splits(cfg, pattern, [0, 1, 2])
    assert set(tables) == {"plain", "re-ranked"}
    summary = json.loads((tmp_path / "out" / "splits.json").read_text())
    expected = []
    for split in range(3):
        cfg.data.split_id = split
        m = run_test(cfg, pattern.format(split=split), write=False)["plain"]
        expected.append([m.get(f"rank{r}", 100.0) for r in (1, 5, 10, 20)] + [m["mAP"]])
    expected = np.array(expected)
    np.testing.assert_allclose(summary["plain"]["per_split"], expected, atol=1e-9)
    assert summary["plain"]["rank1"]["mean"] == pytest.approx(expected[:, 0].mean())
    assert summary["plain"]["mAP"]["std"] == pytest.approx(expected[:, 4].std())
    assert "| mean |" in (tmp_path / "out" / "splits.md").read_text()
    page = (tmp_path / "out" / "report.html").read_text()
    assert ">plain: 3 splits<" in page and ">re-ranked: 3 splits<" in page and "src='data:image/png" in page
    mean_row = f"<td>mean</td><td>{expected[:, 0].mean():.1f}</td>"
    assert mean_row in page
