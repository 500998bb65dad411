"""The crop API: a crop's embedding is the evaluation's embedding of that frame; ONNX and PyTorch agree; bad inputs."""

import cv2
import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from reid.config import config_to_dict, load_config  # noqa: E402
from reid.data.tracklet import Tracklet  # noqa: E402
from reid.tracking.embedder import CropEmbedder, EmbedderError  # noqa: E402
from reid.engine.checkpoint import save_checkpoint  # noqa: E402
from reid.engine.export import export_onnx  # noqa: E402
from reid.engine.export_image import export_image_onnx  # noqa: E402
from reid.engine.extract import extract_features  # noqa: E402
from reid.models import build_model  # noqa: E402

H, W, D = 64, 32, 16
SIZES = [(100, 40), (64, 32), (37, 19), (300, 120)]  # larger, equal, smaller than H x W, another aspect


def _tiny(pooling: str, seed: int = 0):
    torch.manual_seed(seed)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=True, pooling=pooling,
                           embed_dim=D, num_classes=5, neck="bnneck")
    with torch.no_grad():  # BN running statistics unlike a batch's own
        model.train()(torch.randn(4, 2, 3, H, W) * 2 + 1)
    return model.eval()


def _checkpoint(tmp_path, pooling="attention", overrides=()):
    cfg = load_config(None, ["model.backbone=resnet18", "model.init=random", f"model.embed_dim={D}",
                             "model.neck=bnneck", f"data.height={H}", f"data.width={W}", f"model.pooling={pooling}",
                             *overrides])
    model = _tiny(pooling)
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"model": model.state_dict(), "iteration": 3, "config": config_to_dict(cfg),
                           "num_classes": 5})
    return path, cfg, model


def _crops(tmp_path, seed=0):
    """BGR crops (smooth, so resizing matters little less than noise would) and their files."""
    rng = np.random.default_rng(seed)
    crops, files = [], []
    for k, (h, w) in enumerate(SIZES):
        crop = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (5, 5), 0)
        files.append(tmp_path / f"crop{k}.png")
        assert cv2.imwrite(str(files[-1]), crop)
        crops.append(crop)
    return crops, files


def _normalised(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("overrides", [["eval.feature=neck"], ["data.resize=80"]])
def test_crop_embedding_is_the_eval_embedding_of_that_frame(tmp_path, overrides):
    path, cfg, model = _checkpoint(tmp_path, overrides=overrides)
    crops, files = _crops(tmp_path)
    tracklets = [Tracklet(frames=(str(f),), pid=1, camid=0) for f in files]  # one-frame tracklets
    expected = _normalised(extract_features(model, tracklets, height=H, width=W, seq_len=cfg.data.test_seq_len,
                                            max_frames=cfg.data.test_max_frames, feature=cfg.eval.feature,
                                            resize=cfg.data.resize, progress=False))
    embedder = CropEmbedder.from_checkpoint(path)
    assert (embedder.height, embedder.width, embedder.resize, embedder.embed_dim) == (H, W, cfg.data.resize, D)
    from_bgr = embedder(crops)
    assert from_bgr.shape == (len(crops), D) and from_bgr.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(from_bgr, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(from_bgr, expected, atol=1e-5)
    np.testing.assert_allclose(embedder(files), expected, atol=1e-5)  # files read as the datasets read them
    np.testing.assert_allclose(embedder([c[:, :, ::-1] for c in crops], rgb=True), expected, atol=1e-5)
    np.testing.assert_allclose(embedder(crops[1]), expected[1:2], atol=1e-5)  # one crop
    np.testing.assert_allclose(embedder(np.stack([crops[1]] * 2)), expected[[1, 1]], atol=1e-5)  # (N, H, W, 3)
    np.testing.assert_allclose(embedder(crops, batch_size=3), expected, atol=1e-5)
    assert not np.allclose(embedder(crops, rgb=True), expected, atol=1e-3)  # the channel order matters
    assert embedder([]).shape == (0, D)


def test_onnx_and_pytorch_embed_crops_alike(tmp_path):
    path, _, model = _checkpoint(tmp_path, pooling="avg", overrides=["eval.feature=neck"])
    onnx_path = tmp_path / "resnet18_mars.onnx"
    export_image_onnx(model, onnx_path, backbone="resnet18", height=H, width=W, feature="neck")
    crops, _ = _crops(tmp_path, seed=1)
    ours_onnx = CropEmbedder.from_onnx(onnx_path)
    assert (ours_onnx.height, ours_onnx.width, ours_onnx.embed_dim) == (H, W, D)
    got, expected = ours_onnx(crops), CropEmbedder.from_checkpoint(path)(crops)
    diff = float(np.abs(got - expected).max())
    print(f"crop API, onnxruntime vs PyTorch: max abs difference {diff:.3g}")
    assert diff < 1e-5 and got.shape == (len(crops), D)
    assert ours_onnx([]).shape == (0, D)


def test_bad_inputs_are_one_clear_error(tmp_path):
    path, _, model = _checkpoint(tmp_path)
    embedder = CropEmbedder.from_checkpoint(path)
    good = np.zeros((20, 10, 3), np.uint8)
    cases = [
        (good.astype(np.float32), "crop 0: float32 array of shape \\(20, 10, 3\\); expected \\(H, W, 3\\) uint8"),
        ([good, good[:, :, 0]], "crop 1: uint8 array of shape \\(20, 10\\)"),
        ([np.zeros((20, 10, 4), np.uint8)], "crop 0: uint8 array of shape \\(20, 10, 4\\)"),
        ([np.zeros((0, 10, 3), np.uint8)], "with H, W > 0"),
        ([good, tmp_path / "none.png"], f"crop 1: image file {tmp_path / 'none.png'} does not exist"),
        ([7], "crop 0: int; expected"),
        ({"a": good}, "crops: dict; expected"),
    ]
    (tmp_path / "text.png").write_text("not an image")
    cases.append(([str(tmp_path / "text.png")], "crop 0: cannot read image .*text.png"))
    for crops, message in cases:
        with pytest.raises(EmbedderError, match=message):
            embedder(crops)

    with pytest.raises(EmbedderError, match="checkpoint .*none.pt does not exist"):
        CropEmbedder.from_checkpoint(tmp_path / "none.pt")
    torch.save({"model": model.state_dict()}, tmp_path / "noconfig.pt")
    with pytest.raises(EmbedderError, match="holds no saved config"):
        CropEmbedder.from_checkpoint(tmp_path / "noconfig.pt")

    with pytest.raises(EmbedderError, match="ONNX file .*none.onnx does not exist"):
        CropEmbedder.from_onnx(tmp_path / "none.onnx")
    (tmp_path / "garbage.onnx").write_bytes(b"not onnx")
    with pytest.raises(EmbedderError, match="onnxruntime cannot load .*garbage.onnx"):
        CropEmbedder.from_onnx(tmp_path / "garbage.onnx")
    export_onnx(model, tmp_path / "clip.onnx", backbone="resnet18", height=H, width=W)
    with pytest.raises(EmbedderError, match="is a clip export .*osmcaa-reid export --image"):
        CropEmbedder.from_onnx(tmp_path / "clip.onnx")
    _foreign_onnx(tmp_path / "other.onnx")
    with pytest.raises(EmbedderError, match="is not an image export of osmcaa-reid export --image"):
        CropEmbedder.from_onnx(tmp_path / "other.onnx")


def _foreign_onnx(path):
    """A valid ONNX model that is not ours: images (N, 3, H, W) -> global average, no metadata."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("GlobalAveragePool", ["images"], ["embedding"])], "other",
                              [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 3, H, W])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 3, 1, 1])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10), str(path))
