"""Image export for trackers: (N, 3, H, W) -> L2-normalised (N, D), dynamic N, equal to the frame embedding."""

from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from reid.config import config_to_dict, load_config  # noqa: E402
from reid.engine.checkpoint import save_checkpoint  # noqa: E402
from reid.engine.export import ExportError, read_metadata, weights_sha256  # noqa: E402
from reid.engine.export_image import check_image_onnx, default_image_name, export_image_onnx  # noqa: E402
from reid.cli.common import run_main  # noqa: E402

from tests.test_export import D, H, W, _tiny  # noqa: E402  (the same tiny models as the clip export's tests)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("pooling,feature", [("attention", "embedding"), ("avg", "neck")])
def test_image_export_is_the_normalised_frame_embedding_with_dynamic_n(tmp_path, pooling, feature):
    model = _tiny(pooling).train()
    path = tmp_path / "resnet18_mars.onnx"
    meta = export_image_onnx(model, path, backbone="resnet18", height=H, width=W, feature=feature,
                             extra_metadata={"dataset": "mars"})
    assert model.training  # exported in eval mode, the mode restored
    assert sorted(p.name for p in tmp_path.iterdir()) == ["resnet18_mars.onnx"]

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name, inp.type) == ("images", "embedding", "tensor(float)")
    assert isinstance(inp.shape[0], str) and inp.shape[1:] == [3, H, W]  # N dynamic, H x W fixed (BoxMOT reads them)
    model.eval()
    frames = torch.randn(5, 3, H, W, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        out_model = model(frames[:, None])
        frame_emb = out_model.frame_embeddings[:, 0]  # the embedding head on each frame, before any pooling
        expected = model.neck(frame_emb) if feature == "neck" else frame_emb
        assert torch.allclose(out_model.embedding, frame_emb, atol=1e-6)  # pooling over one frame is the frame
        expected = torch.nn.functional.normalize(expected, dim=1).numpy()
    for n in (1, 2, 5):
        (got,) = session.run(["embedding"], {"images": frames[:n].numpy()})
        assert got.shape == (n, D)
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(got, expected[:n], atol=1e-5)

    result = check_image_onnx(model, path)
    assert result.shapes == [(1, 1), (4, 1)] and result.relative < 1e-4 and result.scale > 0.05
    print(f"{pooling}/{feature}: max abs difference {result.max_abs_diff:.3g}")

    stored = read_metadata(path)
    assert stored == meta
    assert (stored["kind"], stored["backbone"], stored["height"], stored["width"]) == ("image", "resnet18", str(H), str(W))
    assert (stored["embed_dim"], stored["feature"], stored["dataset"], stored["resize"]) == (str(D), feature, "mars", "0")
    assert stored["weights_sha256"] == weights_sha256(model)
    assert "L2-normalised" in stored["output"] and stored["mean"] == "[0.485, 0.456, 0.406]"

    with torch.no_grad():  # the check sees a model that no longer matches the file
        model.embed.bias += 0.5
    assert check_image_onnx(model, path, batch_sizes=(2,)).max_abs_diff > 0.01


def test_default_name_is_what_boxmot_reads_the_architecture_from():
    assert default_image_name("resnet50", "mars") == "resnet50_mars.onnx"
    assert default_image_name("ResNet18", "DukeV") == "resnet18_dukev.onnx"


def test_a_clip_file_is_not_an_image_file(tmp_path):
    from reid.engine.export import export_onnx

    model = _tiny("avg")
    export_onnx(model, tmp_path / "clip.onnx", backbone="resnet18", height=H, width=W)
    with pytest.raises(ExportError, match="expected one input images"):
        check_image_onnx(model, tmp_path / "clip.onnx")


def _tool():
    from reid.cli import export

    return export


def test_tool_writes_backbone_dataset_onnx_beside_the_checkpoint(tmp_path, capsys):
    cfg = load_config(None, ["model.backbone=resnet18", "model.init=random", f"model.embed_dim={D}",
                             "model.neck=bnneck", f"data.height={H}", f"data.width={W}", "model.pooling=attention",
                             "eval.feature=neck"])
    model = _tiny("attention", seed=2)
    run = tmp_path / "run"
    save_checkpoint(run / "model.pt", {"model": model.state_dict(), "iteration": 7,
                                       "config": config_to_dict(cfg), "num_classes": 5})
    assert run_main(_tool().main, ["--checkpoint", str(run / "model.pt"), "--image", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "N x T = 1x1, 4x1" in printed and "max abs difference" in printed
    out = run / f"resnet18_{cfg.data.name}.onnx"
    assert sorted(p.name for p in run.iterdir()) == sorted(["model.pt", out.name])
    meta = read_metadata(out)
    assert (meta["kind"], meta["feature"], meta["checkpoint"], meta["pooling"]) == ("image", "neck", "model.pt", "attention")
    assert meta["weights_sha256"] == weights_sha256(model)


def test_tool_removes_an_image_file_that_fails_the_check_and_warns_about_resize(tmp_path, capsys, caplog,
                                                                                monkeypatch):
    from reid.engine.export import OnnxCheck

    cfg = load_config(None, ["model.backbone=resnet18", "model.init=random", f"model.embed_dim={D}",
                             "model.neck=bnneck", f"data.height={H}", f"data.width={W}", "data.resize=80"])
    save_checkpoint(tmp_path / "best.pt", {"model": _tiny("avg").state_dict(), "iteration": 1,
                                           "config": config_to_dict(cfg), "num_classes": 5})
    tool = _tool()
    seen = {}

    def fake_export(model, out, **kwargs):  # the verdict and the warning are what is tested: no real export
        seen.update(kwargs)
        Path(out).write_bytes(b"onnx")
        return dict.fromkeys(("backbone", "feature", "embed_dim"), "?")

    monkeypatch.setattr(tool, "export_image_onnx", fake_export)
    monkeypatch.setattr(tool, "check_image_onnx", lambda model, out: OnnxCheck(0.01, 1.0, [(1, 1)]))
    assert run_main(tool.main, ["--checkpoint", str(tmp_path / "best.pt"), "--image"]) == 1
    out = tmp_path / f"resnet18_{cfg.data.name}.onnx"
    assert capsys.readouterr().err.strip().startswith(f"error: {out} differs from PyTorch by 0.01")
    assert not out.exists() and seen["resize"] == 80
    assert "data.resize=80" in caplog.text and "BoxMOT resizes the whole crop" in caplog.text
