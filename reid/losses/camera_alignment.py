"""Camera alignment: pull every camera's mean embedding onto the mean of all cameras' means.

Without identity labels nothing in a batch says that two cameras show one person, and a network
orders its embeddings by camera (colour response, background, scale) before the person; the
clusters, the ranking and a tracker's linking then follow the camera. ``CameraAlignment`` keeps a
running mean of each camera's embeddings and of all of them (exponential moving averages of the
batches, per dimension, in units of the running standard deviation) and gives every sample the
gradient that moves it against its camera's offset from the overall mean:

    value = mean_i  sum_d ((mu_{c_i, d} - mu_d) / sigma_d)^2 / D
    d value / d x_i = 2 (mu_{c_i} - mu) / sigma^2 / (D N)        (the running means held fixed)

where mu_c is camera c's running mean, mu the mean of the cameras' means (each camera counts once)
and sigma^2 the running variance of the batches.

so the value is the batch's mean squared standardised camera offset, and the push fades as the
offsets do. It is the training-time counterpart of standardising each camera's features
(camera-based normalisation, Zhuang et al., ECCV 2020), which needs camera ids at test time;
after alignment the raw embedding itself carries less of the camera.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class CameraAlignment(nn.Module):
    """Running per-camera means of the embeddings and the alignment term (module docstring).

    Args:
        momentum: weight of each batch in the running statistics (0 < momentum <= 1).
        spread: also pull each camera's spread (per-dimension variance) onto the cameras' geometric
            mean, with the term (1/D) sum_d r_{c,d}^2, r = log(v_c / v) / 2 (see ``forward``).

    The statistics are buffers (saved in ``state_dict``); a camera first seen in a batch starts
    from that batch's mean. ``forward(embeddings (N, D), camids (N,)) -> ()`` updates them with
    the batch (detached), then returns the term with its gradient.
    """

    def __init__(self, momentum: float = 0.1, spread: bool = False) -> None:
        super().__init__()
        if not 0.0 < momentum <= 1.0:
            raise ValueError(f"momentum {momentum} must be in (0, 1]")
        self.momentum, self.spread = momentum, spread
        self.register_buffer("camera_means", torch.zeros(0, 0))
        self.register_buffer("camera_squares", torch.zeros(0, 0))  # running E[x^2] of each camera
        self.register_buffer("seen", torch.zeros(0, dtype=torch.bool))
        self.register_buffer("overall_mean", torch.zeros(0))
        self.register_buffer("overall_var", torch.zeros(0))

    def _grow(self, cameras: int, dim: int, like: Tensor) -> None:
        """Make room for camera ids < ``cameras`` (and, on the first batch, for ``dim`` dimensions)."""
        if self.overall_mean.numel() == 0:
            self.overall_mean, self.overall_var = like.new_zeros(dim), like.new_ones(dim)
            self.camera_means, self.camera_squares = like.new_zeros(0, dim), like.new_zeros(0, dim)
            self.seen = torch.zeros(0, dtype=torch.bool, device=like.device)
        elif self.overall_mean.numel() != dim:
            raise ValueError(f"embedding dimension {dim} differs from the running statistics' "
                             f"{self.overall_mean.numel()}")
        have = self.camera_means.shape[0]
        if cameras > have:
            self.camera_means = torch.cat([self.camera_means, like.new_zeros(cameras - have, dim)])
            self.camera_squares = torch.cat([self.camera_squares, like.new_zeros(cameras - have, dim)])
            self.seen = torch.cat([self.seen, torch.zeros(cameras - have, dtype=torch.bool, device=like.device)])

    @torch.no_grad()
    def update(self, embeddings: Tensor, camids: Tensor) -> None:
        """Fold a batch (detached) into the running statistics."""
        x = embeddings.detach().float()
        camids = camids.to(x.device).long()
        first = self.overall_mean.numel() == 0
        self._grow(int(camids.max()) + 1, x.shape[1], x)
        m = self.momentum
        if first:
            self.overall_mean.copy_(x.mean(0))
            self.overall_var.copy_(x.var(0, unbiased=False) if len(x) > 1 else torch.ones_like(x[0]))
        else:
            self.overall_mean.mul_(1 - m).add_(m * x.mean(0))
            if len(x) > 1:
                self.overall_var.mul_(1 - m).add_(m * x.var(0, unbiased=False))
        for c in camids.unique().tolist():
            batch_mean, batch_squares = x[camids == c].mean(0), (x[camids == c] ** 2).mean(0)
            if bool(self.seen[c]):
                self.camera_means[c].mul_(1 - m).add_(m * batch_mean)
                self.camera_squares[c].mul_(1 - m).add_(m * batch_squares)
            else:  # a new camera: its batch's mean, and the overall spread around it
                self.camera_means[c] = batch_mean
                self.camera_squares[c] = batch_mean ** 2 + self.overall_var
                self.seen[c] = True

    def forward(self, embeddings: Tensor, camids: Tensor) -> Tensor:
        """The term (module docstring), with ``spread`` plus (1/N) sum_i (1/D) sum_d r_{c_i,d}^2 where
        r_c = log(v_c / v) / 2, v_c = E_c[x^2] - m_c^2 the camera's running variance and v the
        geometric mean of the cameras' v_c; its gradient 2 r_c (x_i - m_c) / (v_c D N) shrinks a
        wide camera's samples towards its mean and spreads a narrow one's."""
        self.update(embeddings, camids)
        camids = camids.to(embeddings.device).long()
        var = self.overall_var + 1e-6
        centre = self.camera_means[self.seen].mean(0)  # every camera counts once, however many samples
        offsets = ((self.camera_means - centre) / var)[camids]  # (N, D), no gradient
        x = embeddings.float()
        n, d = x.shape
        value = (((self.camera_means - centre) ** 2 / var)[camids]).sum(1).mean() / d
        grad = 2.0 * offsets
        if self.spread:
            v = (self.camera_squares - self.camera_means ** 2).clamp_min(1e-6)  # (C, D)
            log_v = v.log()
            r = (log_v - log_v[self.seen].mean(0)) / 2
            value = value + (r ** 2)[camids].sum(1).mean() / d
            grad = grad + 2.0 * r[camids] * (x.detach() - self.camera_means[camids]) / v[camids]
        # value + (x - x.detach()) . grad / (D N): the value above, with the gradient of the docstrings
        return value + ((x - x.detach()) * grad).sum() / (d * n)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # buffers may be empty or grown
        for key in ("camera_means", "camera_squares", "seen", "overall_mean", "overall_var"):
            if key in state_dict:
                setattr(self, key, state_dict[key].clone())
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
