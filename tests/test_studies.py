"""The suspects ranking and the outlier study's bookkeeping."""

import math

import numpy as np
import pytest
import torch

from reid.config import load_config
from reid.studies.outliers import STUDY_LOSSES, aggregate, run_key, study_config, write_study_report
from reid.studies.suspects import precision_at, rank_by_attention


def test_precision_at():
    rows = [{"name": n} for n in ["a", "b", "c", "d"]]
    assert precision_at(rows, {"a", "c", "z"}, 2) == 0.5
    assert precision_at(rows, {"a", "c", "z"}, 3) == pytest.approx(2 / 3)
    assert math.isnan(precision_at(rows, set(), 0))


def test_study_config_changes_only_what_it_should(tmp_path):
    base = load_config("configs/outlier_study.yaml", [f"output_dir={tmp_path}/o", f"data.root={tmp_path}/d"])
    cfg = study_config(base, 0.1, "triplet", 2)
    assert cfg.seed == 2 and cfg.synthetic.wrong_labels == 0.1
    assert cfg.data.root == f"{tmp_path}/d/noise10"
    assert cfg.output_dir == f"{tmp_path}/o/noise10/triplet/seed2"
    assert [t["name"] for t in cfg.loss.terms] == ["triplet", "cross_entropy"]
    assert base.seed == 0 and base.synthetic.wrong_labels is None  # the base is not mutated (None: the preset's)
    from reid.losses import build_loss

    for terms in STUDY_LOSSES.values():
        build_loss(terms)


def test_aggregate_and_report(tmp_path):
    results = {run_key(n, loss, s): {"rank1": 10 * s + 100 * n, "mAP": 5.0 + s, "suspect_precision": 50.0, "suspect_precision_final": 40.0}
               for n in (0.0, 0.2) for loss in ("osm_caa", "triplet") for s in (0, 1, 2)}
    results = {k: ({kk: vv for kk, vv in v.items() if kk != "suspect_precision"} if "noise00" in k else v)
               for k, v in results.items()}
    table = aggregate(results, [0.0, 0.2], ["osm_caa", "triplet"])
    mean, std, n = table["osm_caa"][0.2]["rank1"]
    assert (mean, n) == (pytest.approx(30.0), 3) and std == pytest.approx(np.std([20, 30, 40]))
    assert "suspect_precision" not in table["triplet"][0.0]
    report = tmp_path / "study.md"
    write_study_report(report, tmp_path / "study.png", table, [0.0, 0.2], "cmd")
    text = report.read_text()
    assert "| osm_caa | 10.0 ± 8.2 (n=3) | 30.0 ± 8.2 (n=3) |" in text
    assert (tmp_path / "study.png").read_bytes()[:4] == b"\x89PNG"


def test_rank_by_attention_orders_by_own_class_probability(monkeypatch):
    from reid.data.tracklet import Tracklet
    from reid.studies import suspects

    cfg = load_config(None, [])
    feats = np.array([[4.0, 0.0], [0.0, 4.0], [0.1, 0.0], [3.0, 0.5]], dtype=np.float32)
    monkeypatch.setattr(suspects, "embed", lambda cfg, model, train, device: feats)
    train = [Tracklet(frames=("f",), pid=p, camid=0, name=f"t{i}") for i, p in enumerate([0, 0, 1, 1])]

    class Model:
        centres = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        centre_bias = None

    rows = rank_by_attention(cfg, Model(), train, torch.device("cpu"))
    # literal: p_own = softmax(x C^T)[y], official attention exp(-(p-1)^2 / (2 0.68^2))
    logits = feats @ Model.centres.numpy().T
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    p_own = p[np.arange(4), [0, 0, 1, 1]]
    a = np.exp(-((p_own - 1) ** 2) / (2 * 0.68**2))
    assert [r["index"] for r in rows] == list(np.argsort(a))
    assert [r["attention"] for r in rows] == pytest.approx(sorted(a), rel=1e-6)
    assert [r["name"] for r in rows[:2]] == ["t1", "t3"]  # filed under the other centre


def test_rank_by_training_attention_lowest_first_undrawn_last():
    from reid.data.tracklet import Tracklet
    from reid.studies.suspects import rank_by_training_attention

    train = [Tracklet(frames=("f",), pid=0, camid=0, name=f"t{i}") for i in range(4)]
    sums = torch.tensor([1.6, 0.3, 0.0], dtype=torch.float64)  # t3 never drawn (shorter record)
    counts = torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64)  # t2 never drawn either
    rows = rank_by_training_attention(train, sums, counts)
    assert [r["name"] for r in rows] == ["t1", "t0", "t2", "t3"]
    assert rows[0]["attention"] == pytest.approx(0.3) and rows[1]["attention"] == pytest.approx(0.8)
    assert math.isnan(rows[2]["attention"]) and rows[2]["draws"] == 0


def test_trainer_records_the_attention_the_loss_gave(tmp_path):
    from reid.config import TrainConfig
    from reid.engine.trainer import Trainer
    from reid.losses import build_loss
    from reid.models import build_model

    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=2)
    criterion = build_loss([{"name": "osm_caa"}, {"name": "cross_entropy"}])
    trainer = Trainer(model, criterion, TrainConfig(loss_level="frame"), tmp_path, torch.device("cpu"))
    clips, pids = torch.randn(4, 2, 3, 32, 16), torch.tensor([0, 0, 1, 1])
    step = trainer.run_step(clips, pids, torch.tensor([5, 1, 2, 5]))
    record = trainer.state.attention
    record.after_step(step)  # the hook the training loop calls after every step
    a = step.extras["attention"].view(4, 2).mean(1).double()  # frame level: mean over each clip's frames
    assert record.count.tolist() == [0, 1, 1, 0, 0, 2]
    torch.testing.assert_close(record.sum[[1, 2, 5]], torch.stack([a[1], a[2], a[0] + a[3]]))
    assert step.extras["attention"] is step.extras["osm_caa/attention"]
