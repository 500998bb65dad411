from collections import Counter

import numpy as np
import pytest
import torch

from reid.data.frame_sampling import SAMPLERS, cover_clips, sample_frames
from reid.data.identity_sampler import IdentityBatchSampler
from reid.data.transforms import IMAGENET_MEAN, IMAGENET_STD, ClipTransform
from reid.errors import ConfigError


@pytest.mark.parametrize("method", sorted(SAMPLERS))
@pytest.mark.parametrize("length", [1, 3, 4, 7, 50])
def test_samplers_return_sorted_valid_indices(method, length):
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = sample_frames(method, length, 4, rng)
        assert len(idx) == 4
        assert idx == sorted(idx)
        assert all(0 <= i < length for i in idx)


def test_restricted_takes_one_frame_per_chunk():
    rng = np.random.default_rng(1)
    for _ in range(100):
        idx = sample_frames("restricted", 40, 4, rng)
        assert [i // 10 for i in idx] == [0, 1, 2, 3]
    # every frame can be drawn
    seen = Counter(i for _ in range(2000) for i in sample_frames("restricted", 40, 4, rng))
    assert set(seen) == set(range(40))


def test_random_frames_distinct_when_possible():
    rng = np.random.default_rng(2)
    for _ in range(50):
        assert len(set(sample_frames("random", 10, 4, rng))) == 4


def test_unknown_sampler():
    with pytest.raises(ConfigError, match="data.sampling"):
        sample_frames("nope", 10, 4, np.random.default_rng(0))


def test_cover_clips_and_pad():
    clips = cover_clips(10, 4, 64)
    assert clips == [([0, 1, 2, 3], 4), ([4, 5, 6, 7], 4), ([8, 8, 9, 9], 2)]
    assert cover_clips(2, 8, 64) == [([0, 0, 0, 0, 1, 1, 1, 1], 2)]
    clips = cover_clips(100, 8, 16)
    flat = [i for c, _ in clips for i in c]
    assert len(clips) == 2 and len(set(flat)) == 16 and flat[0] == 0 and flat[-1] == 99


def test_identity_sampler_pk_structure():
    pids = [0] * 5 + [1] * 1 + [2] * 3 + [3] * 4 + [4] * 2 + [5] * 6
    sampler = IdentityBatchSampler(pids, num_identities=3, num_instances=4, seed=0, num_batches=10)
    batches = [[i for i, _ in b] for b in sampler]
    assert len(batches) == 10
    for batch in batches:
        assert len(batch) == 12
        ids = [pids[i] for i in batch]
        counts = Counter(ids)
        assert len(counts) == 3 and set(counts.values()) == {4}
    # within an epoch (2 batches of 3 ids) every identity appears exactly once
    epoch_ids = Counter(pids[i] for b in batches[:2] for i in b[::4])
    assert set(epoch_ids.values()) == {1} and len(epoch_ids) == 6


def test_identity_sampler_deterministic_and_resumable():
    pids = [i // 3 for i in range(60)]
    full = list(IdentityBatchSampler(pids, num_identities=4, num_instances=2, seed=7, num_batches=12))
    again = list(IdentityBatchSampler(pids, num_identities=4, num_instances=2, seed=7, num_batches=12))
    assert full == again
    resumed = IdentityBatchSampler(pids, num_identities=4, num_instances=2, seed=7, num_batches=12)
    resumed.start_batch = 5
    assert list(resumed) == full[5:]
    draws = [d for b in full for _, d in b]
    assert draws == list(range(12 * 8))


def test_identity_sampler_too_few_ids():
    with pytest.raises(ValueError, match="num_identities"):
        IdentityBatchSampler([0, 0, 1], num_identities=3, num_instances=2)


def test_clip_transform_same_augmentation_on_every_frame():
    frame = np.random.default_rng(0).integers(0, 255, size=(32, 16, 3), dtype=np.uint8)
    t = ClipTransform(32, 16, train=True, flip=True, pad_crop=4, random_erasing=1.0)
    for seed in range(10):
        clip = t([frame, frame.copy(), frame.copy()], np.random.default_rng(seed))
        assert clip.shape == (3, 3, 32, 16) and clip.dtype == torch.float32
        assert torch.equal(clip[0], clip[1]) and torch.equal(clip[0], clip[2])


def test_clip_transform_eval_is_deterministic_and_normalised():
    frame = np.full((64, 32, 3), 255, dtype=np.uint8)
    clip = ClipTransform(32, 16)([frame])
    expected = (1.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(clip[0, :, 0, 0].numpy(), expected, rtol=1e-5)


def _ramp(h=32, w=16):
    # distinct values everywhere, so any flip or shift changes the frame
    return (np.arange(h * w * 3).reshape(h, w, 3) % 251).astype(np.uint8)


def test_zoom_crop_enlarges_and_crops_back_half_the_time():
    frame = _ramp()
    t = ClipTransform(32, 16, train=True, flip=False, crop="zoom")
    plain = ClipTransform(32, 16)([frame])
    changed = sum(not torch.equal(t([frame], np.random.default_rng(s)), plain) for s in range(200))
    assert 70 < changed < 130  # p = 0.5; even a zoom at offset (0, 0) differs from the plain resize
    clip = t([frame], np.random.default_rng(3))
    assert clip.shape == (1, 3, 32, 16)


def test_per_frame_augmentation_draws_each_frame():
    frame = _ramp()
    t = ClipTransform(32, 16, train=True, flip=True, crop="zoom", per_frame=True)
    differs = 0
    for seed in range(20):
        clip = t([frame] * 4, np.random.default_rng(seed))
        assert clip.shape == (4, 3, 32, 16)
        differs += any(not torch.equal(clip[0], clip[i]) for i in range(1, 4))
    assert differs >= 15  # with one draw per clip the four frames would always be equal


def test_unknown_crop_is_a_config_error():
    with pytest.raises(ConfigError, match="data.crop"):
        ClipTransform(32, 16, crop="shift")


def test_tracklet_epochs_use_every_tracklet_once_and_resume_exactly():
    pids = [0] * 5 + [1] * 2 + [2] * 3 + [3] * 1 + [4] * 4 + [5] * 6
    s = IdentityBatchSampler(pids, num_identities=2, num_instances=2, seed=3, num_batches=40, epoch="tracklets")
    first = s._epoch(0)
    for batch in first:
        assert len(batch) == 4
        owners = [pids[i] for i in batch]
        assert owners[0] == owners[1] and owners[2] == owners[3] and owners[0] != owners[2]
    used = Counter(i for b in first for i in b)
    # the groups never used are those left when fewer than 2 identities had any
    assert len(used) >= len(pids) - 4
    assert max(used.values()) <= 2  # a tracklet appears at most twice (once, plus a fill draw)
    full = list(s)
    assert len(full) == 40
    resumed = IdentityBatchSampler(pids, num_identities=2, num_instances=2, seed=3, num_batches=40,
                                   epoch="tracklets")
    for start in (1, len(first), len(first) + 1, 33):
        resumed.start_batch = start
        assert list(resumed) == full[start:]
    # identities with more tracklets are drawn more often; with "identities" all are equal
    count = Counter(pids[i] for b in full for i, _ in b)
    assert count[5] > count[3]
    plain = IdentityBatchSampler(pids, num_identities=2, num_instances=2, seed=3, num_batches=30)
    flat = Counter(pids[i] for b in plain for i, _ in b)
    assert len(set(flat.values())) == 1


def test_unknown_epoch_is_a_config_error():
    with pytest.raises(ConfigError, match="data.epoch"):
        IdentityBatchSampler([0, 1], num_identities=2, num_instances=1, epoch="frames")


@pytest.mark.parametrize("factors", [(1.0, 1.0, 1.0), (1.3, 0.7, 1.4), (0.6, 1.35, 0.65), (1.5, 1.5, 0.0)])
def test_colour_jitter_equals_torchvision(factors):
    import torchvision.transforms.functional as TF

    from reid.data.transforms import jitter_colours

    frames = np.random.default_rng(1).random((3, 20, 12, 3), dtype=np.float32)
    ours = jitter_colours(frames, *factors)
    ref = torch.from_numpy(frames).permute(0, 3, 1, 2)  # torchvision: (..., 3, H, W) floats in [0, 1]
    ref = torch.stack([TF.adjust_saturation(TF.adjust_contrast(TF.adjust_brightness(f, factors[0]), factors[1]),
                                            factors[2]) for f in ref])
    np.testing.assert_allclose(ours, ref.permute(0, 2, 3, 1).numpy(), atol=2e-6)
    assert ours.dtype == np.float32 and ours.min() >= 0.0 and ours.max() <= 1.0


def test_colour_jitter_is_drawn_once_per_clip_and_changes_colours():
    frame = _ramp()
    plain = ClipTransform(32, 16, train=True, flip=False, crop="none", per_frame=True)
    jitter = ClipTransform(32, 16, train=True, flip=False, crop="none", per_frame=True, color_jitter=0.4)
    for seed in range(10):
        a = plain([frame] * 3, np.random.default_rng(seed))
        b = jitter([frame] * 3, np.random.default_rng(seed))
        assert not torch.allclose(a, b)  # the colours moved
        assert torch.equal(b[0], b[1]) and torch.equal(b[0], b[2])  # one draw for the clip, even per frame
    # off, the random stream is untouched: the same draws as before the option existed
    off = ClipTransform(32, 16, train=True, flip=True, crop="zoom", color_jitter=0.0)
    ref = ClipTransform(32, 16, train=True, flip=True, crop="zoom")
    assert torch.equal(off([frame], np.random.default_rng(5)), ref([frame], np.random.default_rng(5)))


@pytest.mark.parametrize("value", [-0.1, 1.0, 2.0])
def test_colour_jitter_out_of_range_is_a_config_error(value):
    with pytest.raises(ConfigError, match="data.color_jitter"):
        ClipTransform(32, 16, color_jitter=value)


def test_white_balance_multiplies_each_channel_once_per_clip():
    frame = _ramp()
    plain = ClipTransform(32, 16, train=True, flip=False, crop="none", per_frame=True)
    wb = ClipTransform(32, 16, train=True, flip=False, crop="none", per_frame=True, white_balance=0.3)
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    for seed in range(5):
        a = plain([frame] * 2, np.random.default_rng(seed)) * std + mean  # back to [0, 1] RGB
        b = wb([frame] * 2, np.random.default_rng(seed)) * std + mean
        assert torch.equal(b[0], b[1])  # one draw for the clip
        keep = (a > 0.05) & (b < 0.99)  # pixels neither black nor clamped
        gains = [(b[:, c][keep[:, c]] / a[:, c][keep[:, c]]) for c in range(3)]
        for g in gains:  # one gain a channel, in [0.7, 1.3]
            assert 0.7 - 1e-4 <= float(g.mean()) <= 1.3 + 1e-4 and float(g.std()) < 1e-3
        assert len({round(float(g.mean()), 3) for g in gains}) == 3  # the channels move apart
    with pytest.raises(ConfigError, match="data.white_balance"):
        ClipTransform(32, 16, white_balance=1.0)
