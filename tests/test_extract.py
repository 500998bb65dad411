"""Feature extraction: a tracklet's embedding is the mean of its frame embeddings (avg pooling)."""

import cv2
import numpy as np
import pytest
import torch

from reid.data.storage.frame_io import read_frames
from reid.data.tracklet import Tracklet
from reid.data.transforms import ClipTransform
from reid.engine.extract import extract_features
from reid.models import build_model


@pytest.mark.parametrize("length, seq_len, max_frames", [(5, 4, 64), (2, 8, 64), (9, 4, 64), (7, 2, 4)])
def test_tracklet_embedding_is_mean_of_frames(tmp_path, length, seq_len, max_frames):
    rng = np.random.default_rng(length)
    frames = []
    for i in range(length):
        path = tmp_path / f"f{i}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, size=(32, 16, 3), dtype=np.uint8))
        frames.append(str(path))
    tracklets = [Tracklet(frames=tuple(frames), pid=1, camid=0)]
    torch.manual_seed(0)
    model, _ = build_model(backbone="resnet18", init="random", allow_random_init=False, pooling="avg",
                           embed_dim=8, num_classes=2)
    model.eval()
    feats = extract_features(model, tracklets, height=32, width=16, seq_len=seq_len, max_frames=max_frames,
                             batch_size=4)
    used = range(length) if length <= max_frames else np.linspace(0, length - 1, max_frames).round().astype(int)
    transform = ClipTransform(32, 16)
    with torch.no_grad():
        per_frame = [model(transform(read_frames(tracklets[0], [int(i)]))[None]).embedding[0] for i in used]
    expected = torch.stack(per_frame).mean(0).numpy()
    np.testing.assert_allclose(feats[0], expected, rtol=1e-4, atol=1e-5)
