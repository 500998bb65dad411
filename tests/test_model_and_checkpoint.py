import errno

import pytest
import torch

from reid.engine.checkpoint import (CheckpointError, OutputWriteError, atomic_write_bytes, load_checkpoint,
                                   save_checkpoint)
from reid.models import WeightsUnavailableError, build_backbone, build_model
from reid.models import backbones as backbones_module


def _no_weights(name):
    raise WeightsUnavailableError(f"could not load ImageNet weights for {name} (test)")


def test_imagenet_unavailable_stops_with_clear_message(monkeypatch):
    monkeypatch.setattr(backbones_module, "_imagenet_state", _no_weights)
    with pytest.raises(WeightsUnavailableError, match="ImageNet weights for resnet18"):
        build_backbone("resnet18", init="imagenet", allow_random_init=False)


def test_imagenet_unavailable_falls_back_only_when_allowed(monkeypatch, caplog):
    monkeypatch.setattr(backbones_module, "_imagenet_state", _no_weights)
    _, dim, used = build_backbone("resnet18", init="imagenet", allow_random_init=True)
    assert dim == 512 and used.startswith("random")
    assert "RANDOM initialisation" in caplog.text


def test_weights_from_local_file(tmp_path):
    torch.manual_seed(0)
    src, _, _ = build_backbone("resnet18", init="random")
    path = tmp_path / "w.pth"
    torch.save(src.state_dict(), path)
    dst, _, used = build_backbone("resnet18", init=str(path))
    assert used == f"file {path}"
    for (k, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        assert torch.equal(a, b), k


def test_weights_file_missing_or_mismatched(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_backbone("resnet18", init=str(tmp_path / "missing.pth"))
    other, _, _ = build_backbone("resnet50", init="random")
    path = tmp_path / "r50.pth"
    torch.save(other.state_dict(), path)
    with pytest.raises(WeightsUnavailableError, match="does not match backbone resnet18"):
        build_backbone("resnet18", init=str(path))


@pytest.mark.parametrize("pooling", ["avg", "attention"])
def test_model_shapes_and_pooling(pooling):
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling=pooling,
                           embed_dim=32, num_classes=5)
    model.eval()
    clips = torch.randn(3, 4, 3, 64, 32)
    out = model(clips)
    assert out.embedding.shape == (3, 32) and out.frame_embeddings.shape == (3, 4, 32)
    assert model.centres.shape == (5, 32)
    if pooling == "avg":
        torch.testing.assert_close(out.embedding, out.frame_embeddings.mean(1))
    # the clip embedding does not depend on other clips in the batch (eval mode)
    torch.testing.assert_close(model(clips[:1]).embedding, out.embedding[:1], atol=1e-5, rtol=1e-4)


def test_checkpoint_round_trip_and_errors(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"w": torch.arange(3)}, "iteration": 4})
    state = load_checkpoint(path, required=("model", "iteration"))
    assert state["iteration"] == 4 and torch.equal(state["model"]["w"], torch.arange(3))
    with pytest.raises(CheckpointError, match="lacks keys"):
        load_checkpoint(path, required=("optimizer",))
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)


def test_crash_during_save_keeps_old_checkpoint(tmp_path):
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})

    class Boom:
        def __reduce__(self):
            raise RuntimeError("crash while pickling")

    with pytest.raises(RuntimeError, match="crash while pickling"):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}, "bad": Boom()})
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp file left behind


def test_a_full_disk_names_the_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    # torch.save reports a short write as "unexpected pos A vs B" (what CI printed when its disk
    # filled); the error must name the file and the free space instead, and leave no temp file
    path = tmp_path / "ck.pt"
    save_checkpoint(path, {"model": {"w": torch.ones(2)}})

    def short_write(obj, f):
        f.write(b"partial")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", short_write)
    with pytest.raises(OutputWriteError, match=r"ck\.pt: could not be written \(\d+ MB free on its disk"):
        save_checkpoint(path, {"model": {"w": torch.zeros(2)}})
    monkeypatch.undo()
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]

    def no_space(f):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputWriteError, match=r"report\.txt: could not be written .*No space left"):
        atomic_write_bytes(tmp_path / "report.txt", no_space)
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


class _RunsCode:
    """Unpickling this calls a function: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / "executed"
    path = tmp_path / "evil.pt"
    torch.save({"model": {"w": torch.ones(2)}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt was refused.*could run code") as info:
        load_checkpoint(path)
    assert "\n" not in str(info.value)
    assert not marker.exists()


def test_a_trained_checkpoint_loads_with_weights_only(tmp_path):
    # everything the trainer writes (optimizer, scheduler, scaler, RNG, history, config) is plain
    import torch.nn as nn
    model = nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: 1.0)
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
             "scaler": torch.amp.GradScaler("cpu", enabled=False).state_dict(), "torch_rng": torch.get_rng_state(),
             "history": [{"iteration": 1, "loss": 0.5}], "config": {"data": {"root": "x", "seq_len": 4}}}
    save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(back["torch_rng"], state["torch_rng"]) and back["history"] == state["history"]
