"""The camera-alignment term against hand-computed values, its running statistics and its state."""

import pytest
import torch

from reid.losses.camera_alignment import CameraAlignment


def batch():
    # camera 0: (0, 0), (2, 0), mean (1, 0); camera 1: (4, 2), (6, 2), mean (5, 2); centre (3, 1)
    x = torch.tensor([[0.0, 0.0], [2.0, 0.0], [4.0, 2.0], [6.0, 2.0]], requires_grad=True)
    return x, torch.tensor([0, 0, 1, 1])


def test_value_and_gradient_by_hand():
    x, cams = batch()
    term = CameraAlignment(momentum=1.0)  # the statistics are this batch's
    value = term(x, cams)
    # variance over the batch: dim 0 of 0, 2, 4, 6 is 5; dim 1 of 0, 0, 2, 2 is 1
    # every sample's camera offset is (+-2, +-1): (4 / 5 + 1 / 1) / D = 0.9
    assert value.item() == pytest.approx(0.9, rel=1e-5)
    value.backward()
    # 2 offset / var / (D N) = 2 (-2 / 5, -1) / 8 for camera 0, the opposite for camera 1
    expected = torch.tensor([[-0.1, -0.25], [-0.1, -0.25], [0.1, 0.25], [0.1, 0.25]])
    torch.testing.assert_close(x.grad, expected, rtol=1e-5, atol=1e-6)


def test_aligned_cameras_give_zero():
    x = torch.tensor([[0.0, 1.0], [2.0, 3.0], [0.0, 1.0], [2.0, 3.0]], requires_grad=True)
    value = CameraAlignment(momentum=1.0)(x, torch.tensor([0, 0, 1, 1]))
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-9)
    assert x.grad.abs().max().item() == pytest.approx(0.0, abs=1e-9)


def test_running_means_follow_the_batches():
    term = CameraAlignment(momentum=0.5)
    x, cams = batch()
    term(x, cams)
    # second batch: camera 1 only, at (9, 4): its mean moves halfway, camera 0's stays
    term(torch.tensor([[9.0, 4.0]]), torch.tensor([1]))
    torch.testing.assert_close(term.camera_means, torch.tensor([[1.0, 0.0], [7.0, 3.0]]))
    # a camera first seen later starts at its batch mean, and the table grows to hold it
    term(torch.tensor([[1.0, 1.0], [3.0, 1.0]]), torch.tensor([3, 3]))
    assert term.camera_means.shape == (4, 2)
    assert term.seen.tolist() == [True, True, False, True]
    torch.testing.assert_close(term.camera_means[3], torch.tensor([2.0, 1.0]))


def test_state_round_trip_continues_identically():
    a = CameraAlignment(momentum=0.3)
    x, cams = batch()
    a(x, cams)
    b = CameraAlignment(momentum=0.3)
    b.load_state_dict(a.state_dict())
    nxt = torch.tensor([[1.0, 5.0], [0.0, -1.0]])
    assert a(nxt, torch.tensor([0, 1])).item() == b(nxt, torch.tensor([0, 1])).item()
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key])


def test_bad_momentum_and_dimension_are_refused():
    with pytest.raises(ValueError, match="momentum"):
        CameraAlignment(momentum=0.0)
    term = CameraAlignment()
    term(*batch())
    with pytest.raises(ValueError, match="dimension 3"):
        term(torch.zeros(2, 3), torch.tensor([0, 1]))


def test_spread_by_hand():
    """Camera 0 at 0, 2 (mean 1, variance 1), camera 1 at 4, 8 (mean 6, variance 4), one dimension."""
    term = CameraAlignment(momentum=1.0, spread=True)
    x0 = torch.tensor([[0.0], [2.0], [4.0], [8.0]])
    cams = torch.tensor([0, 0, 1, 1])
    first = term(x0, cams)  # a new camera starts at the overall spread: no spread term yet
    assert first.item() == pytest.approx(2.5 ** 2 / 8.75, rel=1e-5)
    x = x0.clone().requires_grad_(True)
    value = term(x, cams)
    r = torch.log(torch.tensor(4.0)).item() / 4  # log(v_c / geometric mean) / 2 = -+log(4) / 4
    assert value.item() == pytest.approx(2.5 ** 2 / 8.75 + r ** 2, rel=1e-5)
    value.backward()
    # mean part 2 (-+2.5) / 8.75 / 4; spread part 2 r_c (x - m_c) / v_c / 4
    expected = [-2.5 / 8.75 / 2 + 2 * -r * -1 / 1 / 4, -2.5 / 8.75 / 2 + 2 * -r * 1 / 1 / 4,
                2.5 / 8.75 / 2 + 2 * r * -2 / 4 / 4, 2.5 / 8.75 / 2 + 2 * r * 2 / 4 / 4]
    torch.testing.assert_close(x.grad.flatten(), torch.tensor(expected), rtol=1e-4, atol=1e-6)
