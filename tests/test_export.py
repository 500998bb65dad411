"""ONNX export: dynamic B and T for every pooling, onnxruntime against PyTorch, the entry script."""

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from reid.cli.common import run_main  # noqa: E402
from reid.config import config_to_dict, load_config  # noqa: E402
from reid.engine.checkpoint import save_checkpoint  # noqa: E402
from reid.engine.export import ExportError, check_onnx, export_onnx, read_metadata, weights_sha256  # noqa: E402
from reid.models import build_model  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
H, W, D = 64, 32, 16
TINY_MODEL = ["model.backbone=resnet18", "model.init=random", f"model.embed_dim={D}", "model.neck=bnneck",
              f"data.height={H}", f"data.width={W}"]


def _tool():
    from reid.cli import export

    return export


def _tiny(pooling: str, seed: int = 0):
    torch.manual_seed(seed)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=True, pooling=pooling,
                           embed_dim=D, num_classes=5, neck="bnneck")
    with torch.no_grad():  # BN running statistics unlike a batch's own: a train-mode export would differ
        model.train()(torch.randn(4, 2, 3, H, W) * 2 + 1)
    return model


@pytest.mark.parametrize("pooling", ["avg", "max", "attention"])
def test_export_has_dynamic_batch_and_frames_and_matches_pytorch(tmp_path, pooling):
    model = _tiny(pooling)
    model.train()
    path = tmp_path / "m.onnx"
    meta = export_onnx(model, path, backbone="resnet18", height=H, width=W)
    assert model.training  # exported in eval mode, the mode restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file left

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("clips", "embedding")
    assert isinstance(inp.shape[0], str) and isinstance(inp.shape[1], str) and inp.shape[2:] == [3, H, W]
    model.eval()
    generator = torch.Generator().manual_seed(1)
    for b in (1, 3):
        for t in (2, 5):
            clips = torch.randn(b, t, 3, H, W, generator=generator)
            with torch.no_grad():
                expected = model(clips).embedding.numpy()
            (got,) = session.run(["embedding"], {"clips": clips.numpy()})
            assert got.shape == (b, D)
            np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())

    result = check_onnx(model, path)
    assert result.shapes == [(1, 2), (1, 5), (3, 2), (3, 5)]
    assert result.scale > 0.1 and result.relative < 1e-4
    print(f"{pooling}: max abs difference {result.max_abs_diff:.3g}, scale {result.scale:.3g}")

    stored = read_metadata(path)
    assert stored == meta
    assert (stored["backbone"], stored["height"], stored["width"]) == ("resnet18", str(H), str(W))
    assert (stored["embed_dim"], stored["pooling"], stored["feature"]) == (str(D), pooling, "embedding")
    assert stored["mean"] == "[0.485, 0.456, 0.406]" and stored["std"] == "[0.229, 0.224, 0.225]"
    assert stored["weights_sha256"] == weights_sha256(model)

    with torch.no_grad():  # the check sees a model that no longer matches the file
        model.embed.bias += 0.5
    assert check_onnx(model, path, batch_sizes=(2,), frames=(3,)).max_abs_diff > 0.4


def test_weights_fingerprint_is_stable_and_sensitive():
    a, b = (build_model(backbone="resnet18", init="random", allow_random_init=True, pooling="avg", embed_dim=D,
                        num_classes=5)[0] for _ in range(2))
    b.load_state_dict(a.state_dict())
    assert weights_sha256(a) == weights_sha256(b)  # same weights, other objects: same fingerprint
    with torch.no_grad():
        b.classifier.weight[0, 0] += 1e-3
    assert weights_sha256(a) != weights_sha256(b)


def test_bad_opset_and_folder_target_are_errors(tmp_path):
    model = _tiny("avg")
    with pytest.raises(ExportError, match="opset 13"):
        export_onnx(model, tmp_path / "m.onnx", backbone="resnet18", height=H, width=W, opset=13)
    with pytest.raises(ExportError, match="is a folder"):
        export_onnx(model, tmp_path, backbone="resnet18", height=H, width=W)


def test_tool_exports_a_trained_model_pt_beside_it(tmp_path, capsys):
    """model.pt as training writes it (Trainer.weights_state): weights, iteration, config, num_classes."""
    from reid.pipeline.builders import load_trained_model

    cfg = load_config(None, [*TINY_MODEL, "model.pooling=max", "eval.feature=neck"])
    model = _tiny("max", seed=3)
    run = tmp_path / "run"
    save_checkpoint(run / "model.pt", {"model": model.state_dict(), "iteration": 7,
                                       "config": config_to_dict(cfg), "num_classes": 5})
    tool = _tool()
    assert run_main(tool.main, ["--checkpoint", str(run / "model.pt"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "max abs difference" in printed and "B x T = 1x2, 1x5, 3x2, 3x5" in printed
    meta = read_metadata(run / "model.onnx")
    assert (meta["pooling"], meta["feature"], meta["checkpoint"]) == ("max", "neck", "model.pt")
    loaded = load_trained_model(cfg, run / "model.pt")
    assert meta["weights_sha256"] == weights_sha256(loaded) == weights_sha256(model)
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    clips = torch.randn(2, 4, 3, H, W)
    with torch.no_grad():
        expected = loaded.eval().neck(loaded(clips).embedding).numpy()  # eval.feature=neck
    (got,) = session.run(["embedding"], {"clips": clips.numpy()})
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_tool_removes_a_file_that_fails_the_check(tmp_path, capsys, monkeypatch):
    from reid.engine.export import OnnxCheck

    cfg = load_config(None, [*TINY_MODEL, "model.pooling=avg"])
    save_checkpoint(tmp_path / "best.pt", {"model": _tiny("avg").state_dict(), "iteration": 1,
                                           "config": config_to_dict(cfg), "num_classes": 5})
    tool = _tool()

    def fake_export(model, out, **kwargs):  # the check's verdict is what is tested: no real export
        Path(out).write_bytes(b"onnx")
        return dict.fromkeys(("backbone", "pooling", "feature", "embed_dim", "height", "width"), "?")

    monkeypatch.setattr(tool, "export_onnx", fake_export)
    monkeypatch.setattr(tool, "check_onnx", lambda model, out: OnnxCheck(0.01, 1.0, [(1, 2)]))
    assert run_main(tool.main, ["--checkpoint", str(tmp_path / "best.pt"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'best.onnx'} differs from PyTorch by 0.01") and "\n" not in err
    assert not (tmp_path / "best.onnx").exists()
    assert run_main(tool.main, ["--checkpoint", str(tmp_path / "best.pt"), "--quiet", "--tolerance", "0.1"]) == 0
    assert (tmp_path / "best.onnx").exists()


def test_missing_or_garbage_checkpoint_is_one_clear_line(tmp_path, capsys):
    tool = _tool()
    with pytest.raises(SystemExit) as info:
        tool.main(["--checkpoint", str(tmp_path / "none.pt")])
    assert info.value.code == 2
    assert capsys.readouterr().err.strip() == f"error: checkpoint {tmp_path / 'none.pt'} does not exist"

    torch.save({"weights": torch.zeros(2)}, tmp_path / "nomodel.pt")
    with pytest.raises(SystemExit):
        tool.main(["--checkpoint", str(tmp_path / "nomodel.pt")])
    assert "lacks keys ['model']" in capsys.readouterr().err

    torch.save({"model": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pt")
    assert run_main(tool.main, ["--checkpoint", str(tmp_path / "other.pt"), "--quiet"]) == 1
    assert "holds no re-ID model" in capsys.readouterr().err

    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(SystemExit) as info:
        tool.main(["--checkpoint", str(tmp_path / "garbage.pt")])
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: checkpoint {tmp_path / 'garbage.pt'} ")
    assert not (tmp_path / "garbage.onnx").exists()
