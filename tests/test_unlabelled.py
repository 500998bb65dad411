"""Training without identity labels (data.labels=ignore): no training pid is read, batches mix
cameras, a pseudo-identity's clips are draws of its track, rounds resume exactly, tracker errors."""

import contextlib
import dataclasses
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reid.config import load_config
from reid.data.clip_dataset import TrainClips
from reid.data.identity_sampler import IdentityBatchSampler
from reid.data.tracker_errors import simulate_tracker_errors
from reid.data.tracklet import Tracklet, VideoReIDDataset
from reid.data.transforms import ClipTransform
from reid.errors import ConfigError

TINY = [
    "data.height=32", "data.width=16", "data.seq_len=2", "data.test_seq_len=4", "data.test_max_frames=4",
    "data.num_identities=3", "data.num_instances=2", "data.workers=0", "data.pad_crop=2",
    "synthetic.preset=tiny", "model.backbone=resnet18", "model.init=random", "model.embed_dim=16",
    "model.neck=bnneck", "train.log_every=2", "train.checkpoint_every=0", "train.tensorboard=false",
    "eval.batch_size=16", "data.labels=ignore", "cluster.start=0.34", "cluster.every=0.33", "cluster.k1=5",
    "cluster.k2=2", "cluster.min_samples=2",
]


def tiny_config(tmp_path, out, *extra):
    return load_config(None, [*TINY, f"data.root={tmp_path / 'data'}", f"output_dir={tmp_path / out}", *extra])


class HiddenPid:
    """A pid that fails on any use: comparing, hashing, converting, formatting."""

    def _read(self, *args):
        raise AssertionError("a training pid was read")

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _read
    __int__ = __index__ = __float__ = __bool__ = __str__ = __repr__ = __format__ = _read


def hide_pids(dataset: VideoReIDDataset) -> VideoReIDDataset:
    return dataclasses.replace(dataset, train=[dataclasses.replace(t, pid=HiddenPid()) for t in dataset.train])


@pytest.mark.slow
def test_no_training_pid_is_read_when_labels_are_ignored(tmp_path):
    """Stage 1, clustering rounds (with their diagnostics) and periodic evaluation run with every
    training pid replaced by an object that raises on any use; with labels used, the same fails."""
    from reid.pipeline.builders import load_data
    from reid.pipeline.training import run_training

    cfg = tiny_config(tmp_path, "ignore", "train.iterations=6", "train.eval_every=3", "data.id_switches=0.2",
                      "cluster.trim_switches=true")
    dataset = load_data(cfg)
    assert dataset.train_truth is not None  # the diagnostics' copy, taken when the data was loaded
    model, state = run_training(cfg, hide_pids(dataset))
    rounds = [h for h in state.history if "clusters" in h]
    assert [h["iteration"] for h in rounds] == [2, 4] and all("purity" in h for h in rounds)
    assert all(h["measured"] > 0 and 0.0 <= h["switches_found"] <= 1.0 and 0.0 <= h["switch_auc"] <= 1.0
               for h in rounds)
    assert all(0.0 <= h["one_camera_clusters"] <= 1.0 and 0.0 <= h["cross_camera_recall"] <= 1.0 for h in rounds)
    assert model.centres.shape[0] == rounds[-1]["classes"]
    assert any("eval_rank1" in h for h in state.history)

    used = tiny_config(tmp_path, "use", "train.iterations=6", "data.labels=use")
    with pytest.raises(AssertionError, match="a training pid was read"):
        run_training(used, hide_pids(load_data(used)))


@pytest.mark.slow
@pytest.mark.parametrize("extra", [["cluster.camera_align=0", "cluster.intra_camera=0", "cluster.inter_camera=1.0",
                                    "cluster.hard_negatives=3"],
                                   ["cluster.camera_align=1.0", "cluster.camera_spread=true", "cluster.one_camera=drop",
                                    "cluster.inter_camera=0.5"],
                                   ["cluster.centres=memory", "cluster.memory_momentum=0.2", "cluster.intra_camera=1.0",
                                    "cluster.trim_switches=true", "cluster.switch_z=0.5"]])
def test_rounds_resume_exactly(tmp_path, extra):
    """A run resumed at a round's iteration (the round not yet made) ends with the same weights and
    labels as the run straight through; so does one resumed between rounds (with the camera
    alignment's running statistics, where it is on)."""
    from reid.engine.checkpoint import load_checkpoint
    from reid.pipeline.builders import load_data
    from reid.pipeline.training import run_training

    straight = tiny_config(tmp_path, "straight", "train.iterations=6", "train.checkpoint_every=1",
                           "train.keep_checkpoints=6", *extra)
    model_a, state_a = run_training(straight)
    logged = [h for h in state_a.history if "loss" in h]
    assert logged and all(("camera_align" in h) == (extra[0] != "cluster.camera_align=0") for h in logged)
    assert any("intra_camera" in h for h in logged) == ("cluster.intra_camera=0" not in extra)
    inter = any(e.startswith("cluster.inter_camera=") for e in extra)
    assert any("inter_camera" in h for h in logged) == inter
    if inter:
        saved = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
        hooks, labels = saved["hooks"]["tracklet_memory"], saved["pseudo_labels"]["labels"]
        assert torch.equal(hooks["clusters"], labels)  # the proxies' clusters are the labels trained on
    if extra[0] != "cluster.camera_align=0":
        assert "camera_alignment" in load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    labels_a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["pseudo_labels"]["labels"]
    ranges_a = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")["pseudo_labels"]["ranges"]
    lengths = torch.tensor([len(t) for t in load_data(straight).train])
    trims = "cluster.trim_switches=true" in extra
    assert bool(((ranges_a[:, 1] - ranges_a[:, 0]) < lengths).any()) == trims  # some tracks were cut
    for at in (4, 3):
        resumed = tiny_config(tmp_path, f"resumed{at}", "train.iterations=6", *extra,
                              f"train.resume={tmp_path / 'straight' / f'checkpoint-{at:08d}.pt'}")
        model_b, state_b = run_training(resumed)
        assert state_b.iteration == 6
        assert model_b.centres.shape == model_a.centres.shape
        for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
        labels_b = load_checkpoint(tmp_path / f"resumed{at}" / "checkpoint.pt")["pseudo_labels"]["labels"]
        assert torch.equal(labels_a, labels_b)
        assert torch.equal(ranges_a, load_checkpoint(tmp_path / f"resumed{at}" / "checkpoint.pt")["pseudo_labels"]["ranges"])


def tracklets(n=12, cams=3, length=6):
    return [Tracklet(frames=tuple(f"t{i}/f{f}.jpg" for f in range(length)), pid=i // 2, camid=i % cams,
                     name=f"t{i}") for i in range(n)]


def test_batches_mix_cameras_and_skip_dropped_tracklets():
    train = tracklets(n=30, cams=3)
    labels = list(range(30))
    labels[5] = labels[7] = -1
    sampler = IdentityBatchSampler(labels, num_identities=4, num_instances=2, seed=1, num_batches=40,
                                   cameras=[t.camid for t in train])
    for batch in sampler:
        idx = [i for i, _ in batch]
        assert len({train[i].camid for i in idx}) >= 2
        assert 5 not in idx and 7 not in idx
        assert all(idx[2 * k] == idx[2 * k + 1] for k in range(4))  # K clips of one tracklet


def test_one_camera_batches_hold_one_camera_and_resume_exactly():
    train = tracklets(n=30, cams=3)
    labels = list(range(30))
    labels[5] = -1
    cams = [t.camid for t in train]
    full = list(IdentityBatchSampler(labels, num_identities=3, num_instances=2, seed=2, num_batches=25,
                                     cameras=cams, one_camera=True))
    seen = Counter()
    for batch in full:
        idx = [i for i, _ in batch]
        assert len({cams[i] for i in idx}) == 1 and 5 not in idx
        seen[cams[idx[0]]] += 1
    assert len(seen) == 3  # every camera gets batches
    resumed = IdentityBatchSampler(labels, num_identities=3, num_instances=2, seed=2, num_batches=25,
                                   cameras=cams, one_camera=True)
    resumed.start_batch = 11
    assert list(resumed) == full[11:]
    with pytest.raises(ConfigError, match="busiest camera has 10"):
        IdentityBatchSampler(labels, num_identities=11, num_instances=2, cameras=cams, one_camera=True)


class _Identity(torch.nn.Module):
    """A model whose clip embedding is its input, with a classifier of 10 rows and a neck x2."""

    def __init__(self) -> None:
        super().__init__()
        self.centres = torch.nn.Parameter(torch.randn(10, 8))
        self.centre_bias = torch.nn.Parameter(torch.randn(10))

    def neck(self, x):
        return 2 * x

    def forward(self, x):
        return SimpleNamespace(embedding=x)


def test_a_batch_softmax_over_given_classes_equals_the_restricted_problem():
    """``classes`` restricts CE and CAA to those classifier rows: the same loss as a model whose
    classifier has only those rows, with the labels renumbered."""
    from reid.engine.trainer import LossForward
    from reid.losses import build_loss

    torch.manual_seed(0)
    model = _Identity()
    criterion = build_loss([{"name": "osm_caa", "weight": 1.0}, {"name": "cross_entropy", "weight": 1.0}])
    trainer = SimpleNamespace(model=model, criterion=criterion, device=torch.device("cpu"),
                              precision=SimpleNamespace(autocast=lambda _: contextlib.nullcontext()),
                              cfg=SimpleNamespace(loss_level="clip"), dist=SimpleNamespace(enabled=False), camera_alignment=None,
                              class_temperature=None, tracklet_memory=None)
    forward = LossForward(trainer)
    emb, labels, classes = torch.randn(6, 8), torch.tensor([3, 3, 7, 7, 9, 9]), torch.tensor([1, 3, 7, 9])
    total, parts, _, _, _ = forward(emb, labels, None, classes)
    ref = criterion(emb, torch.tensor([1, 1, 2, 2, 3, 3]), model.centres[classes], model.centre_bias[classes],
                    class_embeddings=2 * emb)
    assert torch.allclose(total, ref.total) and parts == ref.parts
    everything = forward(emb, labels, None)[0]
    assert not torch.allclose(everything, ref.total)  # without ``classes`` the other rows count
    with pytest.raises(ValueError, match="not among the classes"):
        forward(emb, labels, None, torch.tensor([3, 7]))


def test_k_clips_of_one_tracklet_are_different_draws(tmp_path):
    import cv2

    frames = []
    for f in range(12):
        path = tmp_path / f"{f}.png"
        cv2.imwrite(str(path), np.full((32, 16, 3), 20 * f, np.uint8))
        frames.append(str(path))
    track = Tracklet(frames=tuple(frames), pid=HiddenPid(), camid=0)
    clips = TrainClips([track], seq_len=3, sampling="random", seed=0, labels=[7],
                       transform=ClipTransform(32, 16, train=True, flip=False, pad_crop=0, crop="none"))
    (a, label, _, _), (b, _, _, _) = clips[(0, 0)], clips[(0, 1)]
    assert label == 7 and not torch.equal(a, b)


def test_tracker_errors_switch_halfway_and_cut_tracks():
    train = tracklets(n=20, cams=2, length=8)
    ds = VideoReIDDataset("x", train, [], [])
    out = simulate_tracker_errors(ds, id_switches=0.2, fragments=0.2, seed=3)
    truth = out.train_truth
    switched = [i for i, t in enumerate(truth) if len(t) == 2]
    assert len(truth) == len(out.train) and 4 <= len(switched) <= 4 + 4 * 2  # a switched track may be cut too
    assert len(out.train) - len(train) >= 4  # 4 tracks cut into 2-3 pieces
    for i in switched:
        t = out.train[i]
        first, second = truth[i]
        assert first != second and t.pid == first
        owners = {int(f.split("/")[0][1:]) // 2 for f in t.frames}
        assert owners <= {first, second}
    pieces = [t for t in out.train if "/" in t.name]
    assert pieces and all(len(t) >= 1 for t in pieces)
    assert sum(len(t) for t in out.train if "+" not in t.name) <= sum(len(t) for t in train)
    assert simulate_tracker_errors(ds, seed=3).train == train  # nothing asked: nothing changed


@pytest.mark.parametrize("overrides, expected", [([], 0.0), (["data.labels=ignore"], 0.3),
                                                 (["data.labels=ignore", "data.white_balance=0"], 0.0),
                                                 (["data.white_balance=2e-1"], 0.2)])
def test_white_balance_auto_is_on_only_without_labels(overrides, expected):
    from reid.config import color_jitter, white_balance

    data = load_config("short_run", overrides).data
    assert white_balance(data) == pytest.approx(expected)
    assert color_jitter(data) == pytest.approx(0.2 if "data.labels=ignore" in overrides else 0.0)


@pytest.mark.parametrize("value", ["fast", "1.0", "-0.1", "true"])
@pytest.mark.parametrize("key", ["white_balance", "color_jitter"])
def test_white_balance_out_of_range_names_the_key(key, value):
    from reid.pipeline.config_checks import check_config

    with pytest.raises(ConfigError, match=f"data.{key}"):
        check_config(load_config("short_run", [f"data.{key}={value}"]))


def test_stage1_falls_back_to_mixed_batches_when_no_camera_fills_one(caplog):
    from reid.pipeline.pseudo_labels import PseudoLabels

    train = tracklets(n=12, cams=3)  # 4 tracks a camera
    ds = VideoReIDDataset("x", train, [], [])
    fits = PseudoLabels(load_config("short_run", ["data.labels=ignore", "data.num_identities=4"]), ds,
                        torch.device("cpu"))
    assert fits.in_stage1 and fits.one_camera_fits()
    small = PseudoLabels(load_config("short_run", ["data.labels=ignore", "data.num_identities=5"]), ds,
                         torch.device("cpu"))
    with caplog.at_level("WARNING"):
        assert not small.one_camera_fits() and not small.one_camera_fits()
    assert sum("batches mix cameras" in r.message for r in caplog.records) == 1  # said once
    small.labels = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5])  # a round's clusters: stage 1 is over
    assert not small.in_stage1
