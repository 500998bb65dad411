"""The classifier as a memory of class centres moved by momentum, not by gradients.

Training without labels rebuilds the classifier at every clustering round with one row per
cluster: the L2-normalised mean of its members' features. Optimised as an ordinary classifier,
those rows drift from the clusters they stand for and carry the fresh optimizer state of a new
layer; Cluster Contrast (Dai et al., ACCV 2022) keeps them as a memory instead. With a memory:

- the classifier sees the L2-normalised feature over a temperature ``tau`` (a cosine classifier
  against unit rows), so cross-entropy is the cluster-level InfoNCE
  ``-log exp(f . m_y / tau) / sum_k exp(f . m_k / tau)`` and CAA's class probabilities are the same
  softmax;
- the rows get no gradient and no optimizer state; after every step each class in the batch moves
  its row towards its hardest sample (the one least similar to the row):
  ``m_y <- normalise(mu m_y + (1 - mu) f_hard)`` with ``mu`` the share of the old row kept.

The rows live in the model's classifier weight, so checkpoints hold them and a resumed run goes on
from them.

``TrackletMemory`` is the same idea one level down (the intra-camera term of camera-aware
proxies, Wang et al. AAAI 2021, and of Xuan and Zhang's intra-inter camera similarity, CVPR 2021;
TAUDL's per-camera tracklet discrimination): one unit row per training tracklet, and every sample
classified against the tracklets of its own camera (``reid.losses.functional.intra_camera_nce``).
Two tracks of one camera are two people whatever the clusters say, so this term keeps the
tracker's free labels in play after the first round, also for the tracklets no cluster takes.
The same rows, averaged per (cluster, camera), are the camera proxies of the inter-camera term
(``inter_loss``, ``reid.losses.functional.inter_camera_nce``): a sample is pulled towards its
cluster's look in every camera it was seen in and pushed from the nearest proxies of other
clusters, so a cluster's cameras are brought together by the loss, not only by its mean.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reid.engine.hooks import HookBase, StepOutput
from reid.losses.functional import camera_proxies, inter_camera_nce, intra_camera_nce


def check_momentum(momentum: float) -> None:
    """Raise ValueError unless ``momentum`` (the share of a row kept at an update) is in [0, 1)."""
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum {momentum} must be in [0, 1)")


@torch.no_grad()
def hard_momentum_update(memory: Tensor, features: Tensor, labels: Tensor, momentum: float) -> None:
    """Move, in place, the row of every class in ``labels`` towards its least similar sample.

    Args:
        memory: ``(K, D)`` unit rows (updated in place).
        features: ``(N, D)`` the batch's features (normalised here).
        labels: ``(N,)`` int64 rows of ``memory``; negative labels are skipped.
        momentum: the share of the old row kept, in [0, 1).
    """
    check_momentum(momentum)
    f = F.normalize(features.detach().to(memory.dtype), dim=1)
    labels = labels.to(memory.device).long()
    keep = labels >= 0
    f, labels = f[keep], labels[keep]
    if not len(labels):
        return
    similarity = (f * memory[labels]).sum(1)
    for y in torch.unique(labels).tolist():
        members = (labels == y).nonzero().flatten()
        hard = members[similarity[members].argmin()]
        memory[y] = F.normalize(momentum * memory[y] + (1.0 - momentum) * f[hard], dim=0)


class ClassMemory(HookBase):
    """After every step taken while ``trainer.class_temperature`` is set, the batch's classes move
    their rows of the model's classifier weight (``hard_momentum_update``); the step's extras
    ``class_embeddings`` and ``class_labels`` say with what (``LossForward`` puts them there)."""

    def __init__(self, momentum: float) -> None:
        check_momentum(momentum)
        self.momentum = momentum

    def after_step(self, step: StepOutput) -> None:
        feats, labels = step.extras.get("class_embeddings"), step.extras.get("class_labels")
        if step.skipped is not None or self.trainer.class_temperature is None or feats is None or labels is None:
            return
        hard_momentum_update(self.trainer.model.classifier.weight.data, feats, labels, self.momentum)


class TrackletMemory(HookBase):
    """One unit row per training tracklet and its camera; the intra-camera term of a batch
    (``loss``), the inter-camera term against the rows' (cluster, camera) means (``inter_loss``,
    with the clusters given by ``set_clusters``), and after every step taken each drawn tracklet's
    row moved towards the mean of its clips: ``m_t <- normalise(mu m_t + (1 - mu) f_t)``. Empty
    until ``reset`` (the first clustering round gives it the tracklets' features); saved in
    checkpoints as a hook's state."""

    name = "tracklet_memory"

    def __init__(self, momentum: float, temperature: float, hard_negatives: int = 50) -> None:
        check_momentum(momentum)
        if not temperature > 0:
            raise ValueError(f"temperature {temperature} must be > 0")
        if hard_negatives < 1:
            raise ValueError(f"hard_negatives {hard_negatives} must be >= 1")
        self.momentum, self.temperature, self.hard_negatives = momentum, temperature, hard_negatives
        self.memory, self.cameras = torch.zeros(0, 0), torch.zeros(0, dtype=torch.long)
        self.clusters = torch.zeros(0, dtype=torch.long)

    @property
    def ready(self) -> bool:
        return self.memory.numel() > 0

    def reset(self, features: Tensor, cameras: Tensor) -> None:
        """Rows from ``features`` (N, D) (normalised here), cameras ``(N,)``."""
        self.memory = F.normalize(torch.as_tensor(features).detach().float(), dim=1)
        self.cameras = torch.as_tensor(cameras).long().clone()
        self.clusters = torch.full((len(self.cameras),), -1, dtype=torch.long)

    def set_clusters(self, clusters: Tensor) -> None:
        """Each row's cluster ``(N,)`` (negative: none), for the inter-camera term's proxies."""
        clusters = torch.as_tensor(clusters).long()
        if clusters.shape != self.cameras.shape:
            raise ValueError(f"{len(clusters)} clusters for a memory of {len(self.cameras)} tracklets")
        self.clusters = clusters.clone().to(self.cameras.device)

    def loss(self, features: Tensor, indices: Tensor, camids: Tensor) -> Tensor:
        """``intra_camera_nce`` of the batch's unit ``features`` (B, D) against the memory."""
        self._move_to(features.device)
        return intra_camera_nce(features, indices, camids, self.memory, self.cameras, self.temperature)

    def inter_loss(self, features: Tensor, indices: Tensor) -> Tensor:
        """``inter_camera_nce`` of the batch's unit ``features`` (B, D), tracklets ``indices`` (B,),
        against the (cluster, camera) means of the rows as they are now."""
        self._move_to(features.device)
        proxies, proxy_clusters = camera_proxies(self.memory, self.cameras, self.clusters)
        return inter_camera_nce(features, self.clusters[indices.to(features.device).long()], proxies, proxy_clusters,
                                self.temperature, self.hard_negatives)

    def _move_to(self, device: torch.device) -> None:
        """The rows, cameras and clusters onto ``device`` (the batch's), once."""
        if self.memory.device != device:
            self.memory, self.cameras = self.memory.to(device), self.cameras.to(device)
            self.clusters = self.clusters.to(device)

    def after_step(self, step: StepOutput) -> None:
        feats, indices = step.extras.get("tracklet_embeddings"), step.extras.get("tracklet_indices")
        if step.skipped is not None or feats is None or indices is None or not self.ready:
            return
        self.update(feats, indices)

    @torch.no_grad()
    def update(self, features: Tensor, indices: Tensor) -> None:
        """Each tracklet in ``indices`` (B,) moves towards the mean of its samples' unit features."""
        f = F.normalize(features.detach().to(self.memory.device, self.memory.dtype), dim=1)
        indices = indices.to(self.memory.device).long()
        for t in torch.unique(indices).tolist():
            mean = f[indices == t].mean(0)
            self.memory[t] = F.normalize(self.momentum * self.memory[t] + (1.0 - self.momentum) * mean, dim=0)

    def state_dict(self) -> dict:
        return {"memory": self.memory.cpu(), "cameras": self.cameras.cpu(), "clusters": self.clusters.cpu()}

    def load_state_dict(self, state: dict) -> None:
        self.memory, self.cameras = state["memory"].clone(), state["cameras"].clone()
        # checkpoints before the inter-camera term have no clusters: none until the next round
        self.clusters = state["clusters"].clone() if "clusters" in state else \
            torch.full((len(self.cameras),), -1, dtype=torch.long)
