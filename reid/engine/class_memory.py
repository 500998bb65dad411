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
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reid.engine.hooks import HookBase, StepOutput


@torch.no_grad()
def hard_momentum_update(memory: Tensor, features: Tensor, labels: Tensor, momentum: float) -> None:
    """Move, in place, the row of every class in ``labels`` towards its least similar sample.

    Args:
        memory: ``(K, D)`` unit rows (updated in place).
        features: ``(N, D)`` the batch's features (normalised here).
        labels: ``(N,)`` int64 rows of ``memory``; negative labels are skipped.
        momentum: the share of the old row kept, in [0, 1).
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"momentum {momentum} must be in [0, 1)")
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
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum {momentum} must be in [0, 1)")
        self.momentum = momentum

    def after_step(self, step: StepOutput) -> None:
        feats, labels = step.extras.get("class_embeddings"), step.extras.get("class_labels")
        if step.skipped is not None or self.trainer.class_temperature is None or feats is None or labels is None:
            return
        hard_momentum_update(self.trainer.model.classifier.weight.data, feats, labels, self.momentum)
