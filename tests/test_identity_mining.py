"""Soft identity mining: batches that group identities whose classifier centres are alike."""

from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reid.data.identity_sampler import IdentityBatchSampler, mined_groups
from reid.engine.hooks import IdentityMining, StepOutput
from reid.errors import ConfigError


def block_similarity(n: int, block: int) -> np.ndarray:
    """1 inside consecutive blocks of ``block`` identities, 0 across blocks."""
    ids = np.arange(n) // block
    return (ids[:, None] == ids[None, :]).astype(np.float32)


def test_a_cold_temperature_groups_the_most_similar_identities():
    sim = block_similarity(12, 3)
    rng = np.random.default_rng(0)
    groups = mined_groups(rng.permutation(12), sim, 3, 1e-3, rng)
    assert sorted(sorted(g) for g in groups) == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]


def test_a_hot_temperature_draws_companions_almost_uniformly():
    sim = block_similarity(6, 2)
    together = Counter()
    for seed in range(3000):
        rng = np.random.default_rng(seed)
        for group in mined_groups(rng.permutation(6), sim, 2, 1e3, rng):
            together[frozenset(group)] += 1
    same_block = sum(together[frozenset((b, b + 1))] for b in (0, 2, 4))
    # 9000 pairs drawn; a uniform draw makes 1 pair in 5 (the anchor's partner among 5) a block pair
    assert same_block / 9000 == pytest.approx(0.2, abs=0.02)


def test_the_companion_draw_follows_the_softmax_of_similarity():
    # 3 identities, groups of 2, anchor 0 (first in the order): companion 1 with p = e^(s01/T) / (e^(s01/T) + e^(s02/T))
    sim = np.array([[0, 0.5, 0.2], [0.5, 0, 0], [0.2, 0, 0]], dtype=np.float32)
    temperature = 0.25
    picks = Counter()
    for seed in range(4000):
        rng = np.random.default_rng(seed)
        (group,) = mined_groups(np.array([0, 1, 2]), sim, 2, temperature, rng)
        assert group[0] == 0
        picks[group[1]] += 1
    expected = np.exp(0.5 / temperature) / (np.exp(0.5 / temperature) + np.exp(0.2 / temperature))
    assert picks[1] / 4000 == pytest.approx(expected, abs=0.025)


def test_every_identity_once_an_epoch_and_more_near_twins_together():
    pids = [i // 2 for i in range(80)]  # 40 identities, 2 tracklets each
    twins = {frozenset((2 * k, 2 * k + 1)) for k in range(20)}  # 0-1, 2-3, ...: each other's near twin
    sim = block_similarity(40, 2) * 0.9
    sims = {e: torch.from_numpy(sim) for e in range(1, 20)}

    def share_with_twins(temperature):
        sampler = IdentityBatchSampler(pids, num_identities=4, num_instances=2, seed=3, num_batches=100)
        if temperature:
            sampler.enable_mining(temperature, sims)
        batches = [[pids[i] for i, _ in b] for b in sampler]
        for epoch in range(1, 10):  # every identity once in an epoch of 10 batches, 2 clips each
            seen = Counter(p for b in batches[10 * epoch : 10 * epoch + 10] for p in b)
            assert set(seen.values()) == {2} and len(seen) == 40
        return np.mean([any(frozenset((a, b)) in twins for a in set(batch) for b in set(batch) if a < b)
                        for batch in batches[10:]])

    random_share, mined_share = share_with_twins(0.0), share_with_twins(0.1)
    assert random_share < 0.3
    assert mined_share > 0.95


def test_an_epoch_without_its_similarity_is_an_error():
    sampler = IdentityBatchSampler([i // 2 for i in range(40)], num_identities=4, num_instances=2, seed=0,
                                   num_batches=20)
    sampler.enable_mining(0.1, {})
    with pytest.raises(RuntimeError, match="no identity similarity for epoch 1"):
        list(sampler)


def test_mining_needs_identity_epochs_and_labels():
    tracklets = IdentityBatchSampler([i // 2 for i in range(40)], num_identities=4, num_instances=2,
                                     epoch="tracklets")
    with pytest.raises(ConfigError, match="data.identity_mining"):
        tracklets.enable_mining(0.1, {})
    cameras = IdentityBatchSampler([i // 2 for i in range(40)], num_identities=4, num_instances=2,
                                   cameras=[i % 3 for i in range(40)])
    with pytest.raises(ConfigError, match="data.identity_mining"):
        cameras.enable_mining(0.1, {})


def test_the_hook_takes_the_centres_cosine_after_each_epochs_first_step():
    centres = torch.tensor([[1.0, 0.0], [3.0, 4.0], [0.0, -2.0]])
    hook = IdentityMining()
    hook.trainer = SimpleNamespace(model=SimpleNamespace(centres=centres))
    shared = hook.attach(5)
    for iteration in range(1, 12):
        hook.after_step(StepOutput(iteration=iteration, values={}))
        if iteration == 1:
            expected = torch.tensor([[1.0, 0.6, 0.0], [0.6, 1.0, -0.8], [0.0, -0.8, 1.0]])
            torch.testing.assert_close(shared[1], expected)
        centres.mul_(1.0)  # same directions: the similarity does not move
    # after batches 0, 5 and 10 (the first of epochs 0, 1, 2): epochs 1, 2, 3 set; epoch 1's dropped
    # once epoch 2 is under way
    assert sorted(shared) == [2, 3]
    state = hook.state_dict()
    again = IdentityMining()
    again.load_state_dict(state)
    assert sorted(again.similarity) == [2, 3]
    torch.testing.assert_close(again.similarity[3], shared[3])


@pytest.mark.parametrize("value, match", [("-0.1", "data.identity_mining"), ("true", "data.identity_mining")])
def test_bad_mining_values_are_one_clear_line(value, match):
    from reid.config import load_config
    from reid.pipeline.config_checks import check_config

    with pytest.raises(ConfigError, match=match):
        check_config(load_config(None, [f"data.identity_mining={value}"]))


def test_mining_without_labels_is_refused():
    from reid.config import load_config
    from reid.pipeline.config_checks import check_config

    with pytest.raises(ConfigError, match="needs data.labels=use"):
        check_config(load_config(None, ["data.identity_mining=0.1", "data.labels=ignore"]))


def test_training_with_mining_resumes_exactly(tmp_path):
    from reid.pipeline.training import run_training
    from tests.test_training import tiny_config

    extra = ["data.identity_mining=0.05", "train.checkpoint_every=0"]
    straight = tiny_config(tmp_path, "straight", "train.iterations=7", *extra)
    model_a, state_a = run_training(straight)
    run_training(tiny_config(tmp_path, "resumed", "train.iterations=3", *extra))
    model_b, state_b = run_training(tiny_config(tmp_path, "resumed", "train.iterations=7", "train.resume=auto",
                                                *extra))
    assert state_b.iteration == 7
    for (name, a), (_, b) in zip(model_a.state_dict().items(), model_b.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    # mining changes the batches (hence the weights) against a run without it
    model_c, _ = run_training(tiny_config(tmp_path, "random", "train.iterations=7", "train.checkpoint_every=0"))
    assert any(not torch.allclose(a, c) for a, c in zip(model_a.state_dict().values(),
                                                          model_c.state_dict().values()) if a.is_floating_point())


def test_an_epoch_shorter_than_the_loaders_lead_is_refused(tmp_path):
    from reid.pipeline.training import run_training
    from tests.test_training import tiny_config

    cfg = tiny_config(tmp_path, "run", "train.iterations=2", "data.identity_mining=0.1", "data.workers=1")
    with pytest.raises(ConfigError, match="loader's lead of 3 batches"):
        run_training(cfg)
