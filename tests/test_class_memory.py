"""The classifier as a momentum memory (cluster.centres=memory): the update against hand values,
the cosine logits the loss sees, and a run without labels that keeps the rows out of the optimizer."""

import contextlib
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from reid.engine.class_memory import ClassMemory, hard_momentum_update
from reid.engine.hooks import StepOutput
from reid.errors import ConfigError


def test_each_class_moves_towards_its_least_similar_sample():
    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    features = torch.tensor([[0.8, 0.6], [2.0, 0.0], [0.0, 3.0], [5.0, 5.0]])
    labels = torch.tensor([0, 0, 1, -1])
    hard_momentum_update(memory, features, labels, momentum=0.5)
    # class 0: similarities 0.8 and 1.0, so (0.8, 0.6) moves it: (0.5 + 0.4, 0.3) / |.|
    norm = math.hypot(0.9, 0.3)
    torch.testing.assert_close(memory[0], torch.tensor([0.9 / norm, 0.3 / norm]))
    torch.testing.assert_close(memory[1], torch.tensor([0.0, 1.0]))  # its one sample is its own direction
    torch.testing.assert_close(memory[2], torch.tensor([0.6, 0.8]))  # not in the batch; label -1 is skipped
    hard_momentum_update(memory, torch.tensor([[0.0, -1.0]]), torch.tensor([2]), momentum=0.0)
    torch.testing.assert_close(memory[2], torch.tensor([0.0, -1.0]))  # momentum 0: the sample itself
    with pytest.raises(ValueError, match="momentum 1.0"):
        hard_momentum_update(memory, features, labels, momentum=1.0)


def test_the_hook_updates_only_taken_steps_while_the_memory_is_on():
    weight = torch.nn.Parameter(torch.eye(2), requires_grad=False)
    trainer = SimpleNamespace(model=SimpleNamespace(classifier=SimpleNamespace(weight=weight)), class_temperature=None)
    hook = ClassMemory(momentum=0.0)
    hook.trainer = trainer
    extras = {"class_embeddings": torch.tensor([[0.0, 1.0]]), "class_labels": torch.tensor([0])}
    hook.after_step(StepOutput(1, {}, extras))
    assert torch.equal(weight, torch.eye(2))  # the memory is not on yet (before the first round)
    trainer.class_temperature = 0.05
    hook.after_step(StepOutput(2, {}, extras, skipped="loss"))
    assert torch.equal(weight, torch.eye(2))  # no update from a skipped step
    hook.after_step(StepOutput(3, {}, extras))
    torch.testing.assert_close(weight[0], torch.tensor([0.0, 1.0]))


def test_with_a_memory_the_classifier_sees_the_unit_feature_over_the_temperature():
    """Cross-entropy becomes the cluster InfoNCE -log softmax(f . m / tau)[y] (no bias), and the step
    hands the memory hook the unit features and the labels."""
    from reid.engine.trainer import LossForward
    from reid.losses import build_loss

    torch.manual_seed(0)

    class Model(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.centres = torch.nn.Parameter(F.normalize(torch.randn(5, 8), dim=1), requires_grad=False)
            self.centre_bias = torch.nn.Parameter(torch.randn(5), requires_grad=False)

        def neck(self, x):
            return 3 * x + 1

        def forward(self, x):
            return SimpleNamespace(embedding=x)

    model = Model()
    criterion = build_loss([{"name": "cross_entropy", "weight": 1.0, "label_smoothing": 0.0}])
    trainer = SimpleNamespace(model=model, criterion=criterion, device=torch.device("cpu"),
                              precision=SimpleNamespace(autocast=lambda _: contextlib.nullcontext()),
                              cfg=SimpleNamespace(loss_level="clip"), dist=SimpleNamespace(enabled=False),
                              camera_alignment=None, class_temperature=0.05, tracklet_memory=None)
    emb, labels = torch.randn(4, 8), torch.tensor([0, 0, 3, 4])
    total, _, extras, _, _ = LossForward(trainer)(emb, labels, None)
    unit = F.normalize(3 * emb + 1, dim=1)
    expected = F.cross_entropy(unit @ model.centres.T / 0.05, labels)
    torch.testing.assert_close(total, expected)
    torch.testing.assert_close(extras["class_embeddings"], unit)
    assert torch.equal(extras["class_labels"], labels)


@pytest.mark.parametrize("key, value", [("centres", "bank"), ("memory_momentum", "1.0"), ("temperature", "0"),
                                            ("intra_camera", "-1"), ("inter_camera", "-0.5"),
                                            ("hard_negatives", "0")])
def test_memory_keys_out_of_range_name_the_key(key, value):
    from reid.config import load_config
    from reid.pipeline.config_checks import check_config

    cfg = load_config("short_run", [f"cluster.{key}={value}"])
    with pytest.raises(ConfigError, match=f"cluster.{key}"):
        check_config(cfg)


@pytest.mark.slow
def test_a_run_with_a_memory_keeps_its_rows_unit_and_out_of_the_optimizer(tmp_path):
    from reid.engine.checkpoint import load_checkpoint
    from reid.pipeline.training import run_training
    from tests.test_unlabelled import tiny_config

    cfg = tiny_config(tmp_path, "memory", "train.iterations=6", "cluster.centres=memory", "train.checkpoint_every=1")
    model, state = run_training(cfg)
    rounds = [h for h in state.history if "clusters" in h]
    assert rounds and model.centres.shape[0] == rounds[-1]["classes"]
    assert not model.classifier.weight.requires_grad
    torch.testing.assert_close(model.centres.norm(dim=1), torch.ones(model.centres.shape[0]))
    optimizer = load_checkpoint(tmp_path / "memory" / "checkpoint.pt")["optimizer"]
    trained = sum(len(g["params"]) for g in optimizer["param_groups"])
    assert trained == sum(1 for p in model.parameters() if p.requires_grad)


def test_the_intra_camera_term_only_compares_tracklets_of_the_sample_camera():
    from reid.losses.functional import intra_camera_nce

    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    cameras = torch.tensor([0, 0, 1])
    features = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    # sample 0 (tracklet 0, camera 0): logits 2 and 0 over rows 0, 1; row 2 is another camera's.
    # sample 1 (tracklet 2, camera 1): the only row of its camera, so its loss is 0
    value = intra_camera_nce(features, torch.tensor([0, 2]), torch.tensor([0, 1]), memory, cameras, 0.5)
    torch.testing.assert_close(value, torch.tensor(math.log(1 + math.exp(-2)) / 2))
    with pytest.raises(ValueError, match="camera differs"):
        intra_camera_nce(features, torch.tensor([0, 2]), torch.tensor([0, 0]), memory, cameras, 0.5)


def test_the_tracklet_memory_moves_each_drawn_tracklet_towards_its_clips_mean():
    from reid.engine.class_memory import TrackletMemory

    hook = TrackletMemory(momentum=0.5, temperature=0.1)
    assert not hook.ready
    hook.after_step(StepOutput(1, {}, {"tracklet_embeddings": torch.ones(1, 2), "tracklet_indices": torch.tensor([0])}))
    hook.reset(torch.tensor([[2.0, 0.0], [0.0, 3.0]]), torch.tensor([0, 1]))
    torch.testing.assert_close(hook.memory, torch.eye(2))  # rows normalised
    extras = {"tracklet_embeddings": torch.tensor([[0.0, 1.0], [0.0, 5.0], [1.0, 0.0]]),
              "tracklet_indices": torch.tensor([0, 0, 1])}
    hook.after_step(StepOutput(2, {}, extras, skipped="gradient"))
    torch.testing.assert_close(hook.memory, torch.eye(2))
    hook.after_step(StepOutput(3, {}, extras))
    # tracklet 0: its clips' unit mean (0, 1); 0.5 (1, 0) + 0.5 (0, 1) normalised
    torch.testing.assert_close(hook.memory[0], torch.tensor([1.0, 1.0]) / math.sqrt(2))
    torch.testing.assert_close(hook.memory[1], torch.tensor([0.70710678, 0.70710678]))
    restored = TrackletMemory(momentum=0.5, temperature=0.1)
    restored.load_state_dict(hook.state_dict())
    assert torch.equal(restored.memory, hook.memory) and torch.equal(restored.cameras, torch.tensor([0, 1]))


def test_camera_proxies_average_each_cluster_camera_pair():
    from reid.losses.functional import camera_proxies

    memory = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0], [0.0, -1.0]])
    cameras = torch.tensor([0, 0, 1, 0, 2])
    clusters = torch.tensor([0, 0, 0, -1, 1])
    proxies, owners = camera_proxies(memory, cameras, clusters)
    # (cluster 0, camera 0): rows 0 and 1 -> (1, 1)/sqrt 2; (0, 1): row 2; (1, 2): row 4; row 3 is in no cluster
    expected = torch.tensor([[1 / math.sqrt(2), 1 / math.sqrt(2)], [0.6, 0.8], [0.0, -1.0]])
    torch.testing.assert_close(proxies, expected)
    assert owners.tolist() == [0, 0, 1]
    empty, none = camera_proxies(memory, cameras, torch.full((5,), -1))
    assert empty.shape == (0, 2) and none.numel() == 0


def test_the_inter_camera_term_against_hand_values():
    from reid.losses.functional import inter_camera_nce

    proxies = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
    owners = torch.tensor([0, 0, 1, 2])
    features = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    clusters = torch.tensor([0, -1, 2])  # the second sample is in no cluster: left out of the mean
    e = math.e
    # hardest negative only: sample 0 (logits 1, 0 | -1, 0): its two positives against the negative 0;
    # sample 2 (logits 0, 1, 0 | -1): its positive -1 against the negative 1
    first = (math.log(e + 1) - 1 + math.log(2)) / 2
    third = math.log(math.exp(-1) + e) + 1
    value = inter_camera_nce(features, clusters, proxies, owners, temperature=1.0, hard_negatives=1)
    torch.testing.assert_close(value, torch.tensor((first + third) / 2))
    value.backward()
    assert torch.equal(features.grad[1], torch.zeros(2))
    # every negative: sample 0 has two (-1, 0), sample 2 three (0, 1, 0)
    first = (math.log(e + 1 / e + 1) - 1 + math.log(1 + 1 / e + 1)) / 2
    third = math.log(1 / e + 1 + e + 1) + 1
    value = inter_camera_nce(features, clusters, proxies, owners, temperature=1.0, hard_negatives=50)
    torch.testing.assert_close(value, torch.tensor((first + third) / 2))
    # temperature divides the logits; no sample in a cluster: exactly 0 with a gradient path
    half = inter_camera_nce(features[:1], clusters[:1], proxies, owners, temperature=0.5, hard_negatives=1)
    torch.testing.assert_close(half, torch.tensor((math.log(e ** 2 + 1) - 2 + math.log(2)) / 2))
    zero = inter_camera_nce(features, torch.full((3,), -1), proxies, owners, temperature=1.0, hard_negatives=1)
    assert zero.item() == 0.0 and zero.requires_grad
    with pytest.raises(ValueError, match="no proxy"):
        inter_camera_nce(features, torch.tensor([0, 0, 5]), proxies, owners, temperature=1.0, hard_negatives=1)


def test_the_tracklet_memory_gives_the_inter_camera_term_its_clusters_and_keeps_them():
    from reid.engine.class_memory import TrackletMemory
    from reid.losses.functional import camera_proxies, inter_camera_nce

    hook = TrackletMemory(momentum=0.5, temperature=0.1, hard_negatives=2)
    rows = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]])
    hook.reset(rows, torch.tensor([0, 1, 0, 1]))
    assert hook.clusters.tolist() == [-1] * 4  # a reset forgets the clusters until they are set
    with pytest.raises(ValueError, match="3 clusters for a memory of 4"):
        hook.set_clusters(torch.tensor([0, 0, 1]))
    hook.set_clusters(torch.tensor([0, 0, 1, 1]))
    features = F.normalize(torch.tensor([[1.0, 1.0], [1.0, -1.0]]), dim=1)
    proxies, owners = camera_proxies(rows, hook.cameras, hook.clusters)
    expected = inter_camera_nce(features, torch.tensor([0, 1]), proxies, owners, 0.1, 2)
    torch.testing.assert_close(hook.inter_loss(features, torch.tensor([1, 3])), expected)
    again = TrackletMemory(momentum=0.5, temperature=0.1)
    again.load_state_dict(hook.state_dict())
    assert again.clusters.tolist() == [0, 0, 1, 1]
    old = {k: v for k, v in hook.state_dict().items() if k != "clusters"}  # a checkpoint from before the term
    again.load_state_dict(old)
    assert again.clusters.tolist() == [-1] * 4
    with pytest.raises(ValueError, match="hard_negatives 0"):
        TrackletMemory(momentum=0.5, temperature=0.1, hard_negatives=0)
