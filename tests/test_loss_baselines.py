"""Baseline losses against hand-worked numbers and literal loops; build_loss and CombinedLoss."""

from __future__ import annotations

import math

import pytest
import torch

from reid.errors import ConfigError
from reid.losses import (LOSSES, BatchHardTripletLoss, CombinedLoss, ContrastiveLoss, CrossEntropyLoss, OSMCAALoss,
                         WeightedSoftmaxLoss, build_loss)
from tests.reference.baseline_loops import (batch_hard_triplet_loop, contrastive_loop, logits_loop,
                                            smoothed_ce_per_sample, weighted_softmax_loop)

F64 = torch.float64


def _random(seed: int, n: int = 8, d: int = 5, k: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.tensor([0, 0, 1, 1, 1, 2, 3, 3][:n])
    return (torch.randn(n, d, generator=g, dtype=F64), labels, torch.randn(k, d, generator=g, dtype=F64),
            torch.randn(k, generator=g, dtype=F64))


def test_contrastive_hand_worked() -> None:
    # f = (1,0), (0,1) same id; (0.6,0.8) other id. mean_P d^2 = 2; negatives d = sqrt(.8), sqrt(.4).
    x = torch.tensor([[3.0, 0.0], [0.0, 0.5], [0.6, 0.8]], dtype=F64)
    out = ContrastiveLoss(alpha=1.2)(x, torch.tensor([0, 0, 1]), None)
    assert out.item() == pytest.approx(2.0 + ((1.2 - math.sqrt(0.8)) ** 2 + (1.2 - math.sqrt(0.4)) ** 2) / 2, rel=1e-12)
    assert out.item() == pytest.approx(2.2077407, abs=1e-7)


@pytest.mark.parametrize("seed", [0, 1])
def test_contrastive_matches_loop_and_gradcheck(seed: int) -> None:
    x, labels, centres, _ = _random(seed)
    loss = ContrastiveLoss(alpha=1.2)
    assert loss(x, labels, centres).item() == pytest.approx(contrastive_loop(x.tolist(), labels.tolist(), 1.2), rel=1e-12)
    assert torch.autograd.gradcheck(lambda t: loss(t, labels[:5], centres), (x[:5].clone().requires_grad_(True),))


def test_contrastive_is_twice_osm_caa_with_both_off() -> None:
    x, labels, centres, _ = _random(2)
    plain = ContrastiveLoss()(x, labels, centres)
    torch.testing.assert_close(plain, 2 * OSMCAALoss(osm=False, caa=False)(x, labels, centres))


def test_triplet_hand_worked() -> None:
    # 1-D points 0, 2 (id 0), 2.5, 5 (id 1), 10 (id 2, no positive: not an anchor).
    # anchors: 0 -> max(0, .3+2-2.5)=0; 2 -> .3+2-.5=1.8; 2.5 -> .3+2.5-.5=2.3; 5 -> .3+2.5-3 -> 0.
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [2.5, 0.0], [5.0, 0.0], [10.0, 0.0]], dtype=F64)
    out = BatchHardTripletLoss(margin=0.3)(x, torch.tensor([0, 0, 1, 1, 2]), None)
    assert out.item() == pytest.approx((1.8 + 2.3) / 4, rel=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_triplet_matches_loop_and_gradcheck(seed: int) -> None:
    x, labels, centres, _ = _random(seed)
    x = x * 0.3  # small distances so that several hinges are active
    loss = BatchHardTripletLoss(margin=0.3)
    want = batch_hard_triplet_loop(x.tolist(), labels.tolist(), 0.3)
    assert want > 0
    assert loss(x, labels, centres).item() == pytest.approx(want, rel=1e-12)
    assert torch.autograd.gradcheck(lambda t: loss(t, labels, centres), (x.clone().requires_grad_(True),))


@pytest.mark.parametrize("seed", [0, 1])
def test_soft_margin_triplet_matches_loop_and_gradcheck(seed: int) -> None:
    x, labels, centres, _ = _random(seed)
    loss = BatchHardTripletLoss(soft=True)
    want = batch_hard_triplet_loop(x.tolist(), labels.tolist(), 0.3, soft=True)
    assert loss(x, labels, centres).item() == pytest.approx(want, rel=1e-12)
    assert want != pytest.approx(batch_hard_triplet_loop(x.tolist(), labels.tolist(), 0.3))
    assert torch.autograd.gradcheck(lambda t: loss(t, labels, centres), (x.clone().requires_grad_(True),))


def test_soft_margin_triplet_pushes_a_collapsed_batch_apart() -> None:
    # every embedding at one point: the hinge's loss is the margin with no useful direction left,
    # the soft margin is log 2 and still has a gradient separating the classes
    x = (torch.ones(4, 3, dtype=F64) + 1e-4 * torch.randn(4, 3, dtype=F64)).requires_grad_(True)
    labels = torch.tensor([0, 0, 1, 1])
    out = BatchHardTripletLoss(soft=True)(x, labels)
    assert out.item() == pytest.approx(math.log(2.0), abs=1e-3)
    out.backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="soft must be true or false"):
        BatchHardTripletLoss(soft="yes")


def test_triplet_without_valid_anchor_is_zero() -> None:
    x = torch.randn(3, 4, requires_grad=True)
    out = BatchHardTripletLoss()(x, torch.tensor([0, 1, 2]), None)
    out.backward()
    assert out.item() == 0.0 and torch.equal(x.grad, torch.zeros(3, 4))


def test_cross_entropy_hand_worked_and_loop() -> None:
    # logits (1, 0, 0), label 0: -log p = log(e+2) - 1, other classes log(e+2).
    x = torch.tensor([[1.0, 0.0]], dtype=F64)
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=F64)
    lz = math.log(math.e + 2)
    out = CrossEntropyLoss(label_smoothing=0.1)(x, torch.tensor([0]), centres)
    assert out.item() == pytest.approx(0.9 * (lz - 1) + 0.1 / 3 * ((lz - 1) + 2 * lz), rel=1e-12)
    assert out.item() == pytest.approx(0.6181114, abs=1e-7)
    x, labels, centres, bias = _random(3)
    want = smoothed_ce_per_sample(logits_loop(x.tolist(), centres.tolist(), bias.tolist()), labels.tolist(), 0.1)
    got = CrossEntropyLoss()(x, labels, centres, bias)
    assert got.item() == pytest.approx(sum(want) / len(want), rel=1e-12)


def test_weighted_softmax_hand_worked() -> None:
    # p_A = e/(e+2), p_B = 1/(e+2); w = exp(-(p - .5)^2 / (2 * .18^2)); L = sum w CE / sum w.
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=F64)
    centres = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]], dtype=F64)
    out = WeightedSoftmaxLoss()(x, torch.tensor([0, 0]), centres)
    lz = math.log(math.e + 2)
    w_a = math.exp(-((math.e / (math.e + 2) - 0.5) ** 2) / (2 * 0.18**2))
    w_b = math.exp(-((1 / (math.e + 2) - 0.5) ** 2) / (2 * 0.18**2))
    assert out.item() == pytest.approx((w_a * (lz - 1) + w_b * lz) / (w_a + w_b), rel=1e-12)
    assert out.item() == pytest.approx(0.7845053, abs=1e-7)


def test_weighted_softmax_loop_and_detached_weights() -> None:
    x, labels, centres, bias = _random(4)
    loss = WeightedSoftmaxLoss()
    xg, cg = x.clone().requires_grad_(True), centres.clone().requires_grad_(True)
    out = loss(xg, labels, cg, bias)
    want = weighted_softmax_loop(logits_loop(x.tolist(), centres.tolist(), bias.tolist()), labels.tolist(), 0.5, 0.18)
    assert out.item() == pytest.approx(want, rel=1e-12)
    gx, gc = torch.autograd.grad(out, [xg, cg])
    # Reference gradient: the same weights as Python constants.
    w = loss.compute(x, labels, centres, bias).extras["weights"].tolist()
    x2, c2 = x.clone().requires_grad_(True), centres.clone().requires_grad_(True)
    ce = torch.nn.functional.cross_entropy(x2 @ c2.T + bias, labels, reduction="none")
    ref = sum(wi * ci for wi, ci in zip(w, ce)) / sum(w)
    rx, rc = torch.autograd.grad(ref, [x2, c2])
    torch.testing.assert_close(gx, rx, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gc, rc, rtol=1e-10, atol=1e-12)


def test_build_loss_combines_weighted_terms() -> None:
    x, labels, centres, bias = _random(5)
    combined = build_loss([
        {"name": "osm_caa", "weight": 1.0, "variant": "paper"},
        {"name": "cross_entropy", "weight": 0.5, "label_smoothing": 0.1},
        {"name": "triplet", "margin": 0.5},
    ])
    assert isinstance(combined, CombinedLoss) and isinstance(combined.terms["osm_caa"], OSMCAALoss)
    cg = centres.clone().requires_grad_(True)
    total, values = combined(x, labels, cg, bias)
    osm = OSMCAALoss(variant="paper")(x, labels, centres, bias).item()
    ce = CrossEntropyLoss(0.1)(x, labels, centres, bias).item()
    tri = BatchHardTripletLoss(0.5)(x, labels, centres).item()
    assert set(values) == {"osm_caa", "cross_entropy", "triplet"}
    assert all(isinstance(v, float) for v in values.values())
    assert values["osm_caa"] == pytest.approx(osm, rel=1e-12) and values["triplet"] == pytest.approx(tri, rel=1e-12)
    assert total.item() == pytest.approx(osm + 0.5 * ce + tri, rel=1e-12)
    total.backward()
    assert cg.grad is not None and cg.grad.abs().sum() > 0  # through the CE term only


def test_every_registered_loss_builds_with_defaults() -> None:
    x, labels, centres, bias = _random(6)
    for name in LOSSES:
        total, values = build_loss([{"name": name, "weight": 2.0}])(x, labels, centres, bias)
        assert total.item() == pytest.approx(2.0 * values[name], rel=1e-12) and math.isfinite(total.item())


@pytest.mark.parametrize("terms,match", [
    ([{"name": "arcface", "weight": 1.0}], r"'arcface' is not a loss; valid names: osm_caa, contrastive, triplet"),
    ([{"weight": 1.0}], r"loss\.terms\[0\]\.name': None is not a loss"),
    ([{"name": "osm_caa", "weight": 1.0, "margin": 0.3}], r"unknown config key 'loss\.terms\[0\]\.margin'"),
    ([{"name": "triplet", "alpha": 1.2}], r"unknown config key 'loss\.terms\[0\]\.alpha'"),
    ([{"name": "osm_caa", "variant": "caffe"}], r"\(osm_caa\): OSMCAALoss: variant='caffe'"),
    ([{"name": "osm_caa", "alpha": -1}], r"alpha=-1(\.0)?, expected a number > 0"),
    ([{"name": "osm_caa", "lam": 2}], r"lam=2(\.0)?, expected a number in \[0, 1\]"),
    ([{"name": "osm_caa", "osm": "yes"}], r"loss\.terms\[0\]\.osm': expected true or false, got 'yes'"),
    ([{"name": "cross_entropy", "label_smoothing": 1.5}], "label_smoothing=1.5"),
    ([{"name": "contrastive", "weight": -1}], r"loss\.terms\[0\]\.weight': -1\.0, expected a number >= 0"),
    ([{"name": "contrastive"}, {"name": "contrastive"}], r"\['contrastive'\] appear more than once"),
    ([], "no terms given"),
    ({"name": "osm_caa"}, "expected a list"),
    (["osm_caa"], r"terms\[0\]': got 'osm_caa', expected a mapping"),
])
def test_build_loss_errors(terms: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_loss(terms)  # type: ignore[arg-type]


def test_typed_term_configs_mirror_the_loss_classes() -> None:
    """Every term dataclass has exactly its loss class's parameters, with the same defaults."""
    import dataclasses
    import inspect

    from reid.config import LOSS_TERMS
    from reid.losses import LOSSES

    assert LOSS_TERMS.keys() == LOSSES.keys()
    for name, term in LOSS_TERMS.items():
        fields = {f.name: f.default for f in dataclasses.fields(term) if f.name not in ("name", "weight")}
        params = {k: p.default for k, p in inspect.signature(LOSSES[name].__init__).parameters.items() if k != "self"}
        assert fields == params, name
        assert term().name == name


def test_a_misspelled_term_parameter_fails_at_config_load() -> None:
    from reid.config import load_config

    with pytest.raises(ConfigError, match=r"unknown config key 'loss\.terms\[1\]\.label_smoothin'; did you mean "
                                          r"'loss\.terms\[1\]\.label_smoothing'"):
        load_config("configs/mars_osm_caa.yaml",
                    ["loss.terms=[{name: osm_caa}, {name: cross_entropy, label_smoothin: 0.1}]"])
