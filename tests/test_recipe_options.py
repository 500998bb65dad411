"""Recipe options of the model: BNNeck routing, last stride 1, max pooling, neck features."""

import pytest
import torch

from reid.config import TrainConfig
from reid.engine.trainer import Trainer
from reid.errors import ConfigError
from reid.losses import build_loss
from reid.losses.baselines import BatchHardTripletLoss, CrossEntropyLoss
from reid.losses.osm_caa import OSMCAALoss
from reid.models import build_model


def small(**kw):
    torch.manual_seed(0)
    args = {"backbone": "resnet18", "pooling": "avg", "embed_dim": 8, **kw}
    model, _ = build_model(init="random", allow_random_init=False, num_classes=3, **args)
    return model


def test_combined_loss_routes_the_neck_output():
    torch.manual_seed(1)
    emb, cls = torch.randn(6, 5), torch.randn(6, 5)
    labels, centres = torch.tensor([0, 0, 1, 1, 2, 2]), torch.randn(3, 5)
    combined = build_loss([{"name": "triplet"}, {"name": "cross_entropy"}, {"name": "osm_caa"}])
    _, parts = combined(emb, labels, centres, None, class_embeddings=cls)
    assert parts["triplet"] == pytest.approx(float(BatchHardTripletLoss()(emb, labels)))
    assert parts["cross_entropy"] == pytest.approx(float(CrossEntropyLoss()(cls, labels, centres)))
    osm = OSMCAALoss()
    assert parts["osm_caa"] == pytest.approx(float(osm(emb, labels, centres, class_embeddings=cls)))
    # the attention came from cls, the distances from emb: neither alone gives this value
    assert parts["osm_caa"] != pytest.approx(float(osm(emb, labels, centres)))
    assert parts["osm_caa"] != pytest.approx(float(osm(cls, labels, centres)))
    _, same = combined(emb, labels, centres, None)  # no neck: everything on the embedding
    assert same["cross_entropy"] == pytest.approx(float(CrossEntropyLoss()(emb, labels, centres)))


def test_bnneck_trains_its_scale_not_its_shift(tmp_path):
    model = small(neck="bnneck")
    assert isinstance(model.neck, torch.nn.BatchNorm1d) and not model.neck.bias.requires_grad
    trainer = Trainer(model, build_loss([{"name": "triplet"}, {"name": "cross_entropy"}]), TrainConfig(lr=1e-2),
                      tmp_path, torch.device("cpu"))
    weight = model.neck.weight.detach().clone()
    trainer.run_step(torch.randn(6, 2, 3, 32, 16), torch.tensor([0, 0, 1, 1, 2, 2]))
    assert not torch.equal(model.neck.weight, weight) and torch.count_nonzero(model.neck.bias) == 0
    assert model.neck.num_batches_tracked == 1


def test_neck_features_are_the_affine_map_of_the_embedding():
    from reid.engine.extract import extract_features

    model = small(neck="bnneck").eval()
    with torch.no_grad():
        model.neck.running_mean.uniform_(-1, 1)
        model.neck.running_var.uniform_(0.5, 2)
        model.neck.weight.uniform_(0.5, 2)
    from reid.data.tracklet import Tracklet

    assert Tracklet  # extraction from frames is tested elsewhere; here the map itself
    x = torch.randn(4, 8)
    with torch.no_grad():
        expected = (x - model.neck.running_mean) / torch.sqrt(model.neck.running_var + model.neck.eps) * model.neck.weight
        torch.testing.assert_close(model.neck(x), expected)
    with pytest.raises(ConfigError, match="eval.feature"):
        extract_features(model, [], height=32, width=16, seq_len=2, max_frames=2, feature="pre")


def test_last_stride_one_doubles_the_final_map():
    for backbone in ("resnet18", "resnet50"):
        feats = {}
        for stride in (2, 1):
            model = small(backbone=backbone, last_stride=stride, embed_dim=0)
            model.backbone.layer4.register_forward_hook(lambda m, i, o, s=stride: feats.__setitem__(s, o.shape))
            model.eval()(torch.randn(1, 1, 3, 64, 32))
        assert feats[1][-2:] == (4, 2) and feats[2][-2:] == (2, 1), (backbone, feats)
    with pytest.raises(ConfigError, match="last_stride=1 is for ResNet"):
        small(backbone="googlenet", last_stride=1)
    with pytest.raises(ConfigError, match="last_stride"):
        small(last_stride=3)


def test_max_pooling_and_unknown_neck():
    model = small(pooling="max").eval()
    clips = torch.randn(2, 3, 3, 32, 16)
    out = model(clips)
    torch.testing.assert_close(out.embedding, out.frame_embeddings.amax(1))
    with pytest.raises(ConfigError, match="model.neck"):
        small(neck="bn")


def test_classifier_init_std_and_its_check():
    wide = small(classifier_std=0.01, classifier_bias=True)
    narrow = small()
    assert 0.005 < float(wide.classifier.weight.detach().std()) < 0.015
    assert float(narrow.classifier.weight.detach().std()) < 0.0015
    assert torch.count_nonzero(wide.classifier.bias) == 0
    with pytest.raises(ConfigError, match="model.classifier_std"):
        small(classifier_std=0.0)


def test_adam_betas_reach_the_optimizer_and_are_checked(tmp_path):
    model = small()
    cfg = TrainConfig(iterations=2, betas=[0.9, 0.99])
    trainer = Trainer(model, build_loss([{"name": "triplet"}]), cfg, tmp_path, torch.device("cpu"))
    assert trainer.optimizer.param_groups[0]["betas"] == (0.9, 0.99)
    for bad in ([0.9], [0.9, 1.0], [-0.1, 0.9]):
        with pytest.raises(ConfigError, match="train.betas"):
            Trainer(model, build_loss([{"name": "triplet"}]), TrainConfig(betas=bad), tmp_path, torch.device("cpu"))
