"""Training without identity labels (``data.labels: ignore``): tracks, then clusters, as identities.

Stage 1 (until ``cluster.start``; 0 by default, so the first clusters come from the untrained
network): every training tracklet is its own pseudo-identity. Two tracks of one camera are two
people (TAUDL's tracklet association), a track of another camera may be the same one, so with
``cluster.stage1: camera`` every batch comes from one camera and the class-aware terms' softmax
runs over that camera's tracks only (``Trainer.batch_classes``); ``mixed`` draws across cameras.
The K clips of an identity are K random frame draws of its one tracklet. Stage 2, at the rounds
``cluster.start`` + k ``cluster.every`` (fractions of the run): the training tracklets are
embedded, standardised per camera (``cluster.camera_norm``), their k-reciprocal Jaccard distance
clustered by HDBSCAN or DBSCAN, the clusters become the identities (tracklets left out:
``cluster.outliers``), and the classifier, whose weight rows are the class centres CAA and CE use,
is rebuilt with one row per identity: the L2-normalised mean of its members' classifier inputs; the
optimizer gets the new rows with fresh state (SpCL, Cluster Contrast; docs/method.md, "Learning
without identity labels"). The colour augmentation that makes the embedding camera-invariant is
``data.white_balance`` / ``data.color_jitter`` (``auto``: on without labels).

The loop is a stream of batches that ``Trainer.train`` consumes: between two rounds it is one
DataLoader over the current labels, and a round runs between two steps (after the hooks of the
step before, so a checkpoint written there holds the labels it was trained with). The labels, the
iteration that made them and the round count go into every checkpoint, so a resumed run continues
exactly (a round due at the resumed iteration is made again from the same weights).

The training pids are never read here. ``dataset.train_truth`` (who each tracklet really shows,
where known) only feeds the logged diagnostics: cluster purity, and the CAA attention of tracks
that mix two people against the others.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from reid.config import ClusterConfig, Config
from reid.data import VideoReIDDataset
from reid.engine.cuda_choices import pin_memory
from reid.errors import ConfigError
from reid.eval.clustering import (METHODS, ONE_CAMERA, OUTLIERS, class_centres, cross_camera_recall, dbscan_clusters,
                                  drop_one_camera_clusters, hdbscan_clusters,
                                  one_camera_share, pseudo_labels, purity, ranking_auc, split_identities,
                                  standardise_per_camera)
from reid.models import ReIDNet
from reid.pipeline.builders import build_train_loader
from reid.pipeline.evaluation import embed
from reid.pipeline.track_switches import (flag_switches, frame_tracklets, kept_ranges, switch_scores, trimmed,
                                          whole_ranges)

logger = logging.getLogger(__name__)

LABELS = ("use", "ignore")
#: cluster.stage1: where a stage-1 batch's other tracks (its negatives and softmax classes) come from
STAGE1 = ("camera", "mixed")
#: cluster.centres: the classifier rows after a round are trained by the optimizer, or a momentum memory
CENTRES = ("classifier", "memory")


def check_cluster_config(c: ClusterConfig) -> None:
    """Raise ConfigError naming the first ``cluster.*`` key outside its range."""
    if c.outliers not in OUTLIERS:
        raise ConfigError(f"config key 'cluster.outliers': {c.outliers!r} is not one of {', '.join(OUTLIERS)}")
    if c.stage1 not in STAGE1:
        raise ConfigError(f"config key 'cluster.stage1': {c.stage1!r} is not one of {', '.join(STAGE1)}")
    if c.one_camera not in ONE_CAMERA:
        raise ConfigError(f"config key 'cluster.one_camera': {c.one_camera!r} is not one of {', '.join(ONE_CAMERA)}")
    if c.centres not in CENTRES:
        raise ConfigError(f"config key 'cluster.centres': {c.centres!r} is not one of {', '.join(CENTRES)}")
    if c.method not in METHODS:
        raise ConfigError(f"config key 'cluster.method': {c.method!r} is not one of {', '.join(METHODS)}")
    for key, ok, expected in (("start", 0.0 <= c.start <= 1.0, "a fraction of train.iterations in [0, 1]"),
                              ("every", 0.0 <= c.every < 1.0, "a fraction of train.iterations in [0, 1) (0: once)"),
                              ("eps", c.eps > 0, "> 0"), ("min_samples", c.min_samples >= 1, ">= 1"),
                              ("min_cluster_size", c.min_cluster_size >= 2, ">= 2"),
                              ("k1", c.k1 >= 1, ">= 1"), ("k2", c.k2 >= 1, ">= 1"),
                              ("camera_align", c.camera_align >= 0, ">= 0 (0: off)"),
                              ("memory_momentum", 0.0 <= c.memory_momentum < 1.0, "in [0, 1)"),
                              ("temperature", c.temperature > 0, "> 0"),
                              ("intra_camera", c.intra_camera >= 0, ">= 0 (0: off)"),
                              ("inter_camera", c.inter_camera >= 0, ">= 0 (0: off)"),
                              ("hard_negatives", c.hard_negatives >= 1, ">= 1"),
                              ("switch_z", c.switch_z > 0, "> 0 (robust deviations)")):
        if not ok:
            raise ConfigError(f"config key 'cluster.{key}': {getattr(c, key)!r}, expected {expected}")


def round_iterations(c: ClusterConfig, iterations: int) -> list[int]:
    """The iterations after which labels are re-made: round((start + k every) iterations) < iterations."""
    out: list[int] = []
    k = 0
    while True:
        it = round((c.start + k * c.every) * iterations)
        if it >= iterations:
            return out
        if not out or it > out[-1]:
            out.append(it)
        if c.every == 0:
            return out
        k += 1


def informative_truth(dataset: VideoReIDDataset) -> np.ndarray | None:
    """(N,) each training tracklet's (first) true identity, or None when unknown or when no two
    tracklets share one (the labels are then track ids: nothing to measure clusters against)."""
    truth = dataset.train_truth
    if truth is None or len(truth) != len(dataset.train):
        return None
    first = np.array([t[0] for t in truth])
    return first if len(np.unique(first)) < len(first) else None


class PseudoLabels:
    """The pseudo-identities of the training tracklets through a run, and the stream of batches.

    Attributes:
        labels: (N,) int64, -1 for tracklets not drawn.
        ranges: (N, 2) int64, the ``[start, end)`` frames of each tracklet trained on (whole, or one
            side of a suspected ID switch: ``cluster.trim_switches``).
        made_at: the iteration the labels were made at (0: stage 1's, one per tracklet).
        rounds_done: clustering rounds made so far.
    """

    def __init__(self, cfg: Config, dataset: VideoReIDDataset, device: torch.device) -> None:
        check_cluster_config(cfg.cluster)
        self.cfg, self.dataset, self.device = cfg, dataset, device
        self.labels = np.arange(len(dataset.train), dtype=np.int64)
        if cfg.cluster.trim_switches and any(t.video is not None for t in dataset.train):
            raise ConfigError("config key 'cluster.trim_switches': true needs image tracklets (a packed tracklet's "
                              "frames are frames of its video and cannot be cut); set data.packed=false")
        self.ranges = whole_ranges([len(t) for t in dataset.train])
        self.made_at, self.rounds_done = 0, 0
        self.rounds = round_iterations(cfg.cluster, cfg.train.iterations)
        self.truth = informative_truth(dataset)
        self.mixed = None if self.truth is None else np.array([len(t) > 1 for t in dataset.train_truth])
        self._attention_mark: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def num_classes(self) -> int:
        return int(self.labels.max(initial=-1)) + 1

    def state_dict(self) -> dict:
        return {"labels": torch.from_numpy(self.labels.copy()), "made_at": self.made_at, "rounds_done": self.rounds_done,
                "ranges": torch.from_numpy(self.ranges.copy())}

    def load_state_dict(self, state: dict) -> None:
        labels = state["labels"].numpy().astype(np.int64)
        if len(labels) != len(self.dataset.train):
            raise ConfigError(f"the checkpoint's pseudo-labels cover {len(labels)} training tracklets, this dataset "
                              f"has {len(self.dataset.train)}; use another output_dir or --force-new")
        self.labels, self.made_at, self.rounds_done = labels, int(state["made_at"]), int(state["rounds_done"])
        if "ranges" in state:  # checkpoints before cluster.trim_switches train on whole tracks
            self.ranges = state["ranges"].numpy().astype(np.int64).reshape(-1, 2)

    @property
    def tracks(self) -> VideoReIDDataset:
        """The dataset with each training tracklet cut to the frames trained on (``ranges``)."""
        if all((a, b) == (0, len(t)) for t, (a, b) in zip(self.dataset.train, self.ranges.tolist())):
            return self.dataset
        return dataclasses.replace(self.dataset, train=trimmed(self.dataset.train, self.ranges))

    def batches(self, trainer) -> Iterator:
        """``(clips, labels, camids, indices)`` from the trainer's iteration to ``train.iterations``,
        re-clustering at each round (between the steps)."""
        total = self.cfg.train.iterations
        it = trainer.state.iteration
        while it < total:
            if it in self.rounds and self.rounds_done <= self.rounds.index(it):
                self.recluster(trainer, it)
            end = min([r for r in self.rounds if r > it] + [total])
            within = self.in_stage1 and self.cfg.cluster.stage1 == "camera" and self.one_camera_fits()
            trainer.batch_classes = self.camera_classes if within else None
            loader = build_train_loader(self.cfg, self.tracks, start_batch=it, num_batches=end,
                                        labels=self.labels.tolist(), pin_memory=pin_memory(self.device),
                                        one_camera=within)
            yield from loader
            it = trainer.state.iteration
            if it < end:  # the trainer stopped
                return
        self.log_attention(trainer, total, record={})

    @property
    def in_stage1(self) -> bool:
        """True while every tracklet is still its own identity (no round has replaced the labels)."""
        return bool(np.array_equal(self.labels, np.arange(len(self.labels))))

    def one_camera_fits(self) -> bool:
        """Whether some camera has a batch's worth of tracks; warns once (and batches mix cameras) if not."""
        counts = np.bincount([t.camid for t in self.dataset.train])
        if counts.max(initial=0) >= self.cfg.data.num_identities:
            return True
        if not getattr(self, "_warned_one_camera", False):
            logger.warning("stage 1: no camera has data.num_identities=%d tracks (the busiest has %d), so its "
                           "batches mix cameras (cluster.stage1=mixed)", self.cfg.data.num_identities,
                           int(counts.max(initial=0)))
            self._warned_one_camera = True
        return False

    def camera_classes(self, camids: torch.Tensor) -> torch.Tensor:
        """The classes of the tracks of the batch's cameras (stage 1 within cameras): the softmax of
        a batch from one camera runs over that camera's tracks only, as a per-camera classifier."""
        cams = np.array([t.camid for t in self.dataset.train])
        wanted = np.isin(cams, np.unique(camids.numpy()))
        return torch.from_numpy(np.unique(self.labels[wanted & (self.labels >= 0)]))

    def recluster(self, trainer, iteration: int) -> None:
        """One round: embed, cluster, relabel, rebuild the classifier; logged into the run's history."""
        c = self.cfg.cluster
        model: ReIDNet = trainer.model
        switches = self.find_switches(model) if c.trim_switches else {}
        if switches:
            logger.info("pseudo-labels, round %d at iteration %d: %d of %d tracks switch person (a cut stands out: "
                        "score %.3f at the median, %.3f the lowest trimmed); trained on their longer side%s",
                        self.rounds_done + 1, iteration, switches["trimmed"], switches["measured"],
                        switches["switch_score_median"], switches.get("switch_score_threshold", float("nan")),
                        _switch_note(switches))
        with torch.random.fork_rng(devices=[]):  # the extraction's loader draws a seed: keep training's RNG
            feats = embed(self.cfg, model, self.tracks.train, self.device)
        cams = np.array([t.camid for t in self.dataset.train])
        inputs = classifier_inputs(model, feats, self.cfg.eval.feature)
        if trainer.tracklet_memory is not None:  # the intra-camera term's rows: every tracklet, clustered or not
            trainer.tracklet_memory[1].reset(torch.from_numpy(inputs), torch.from_numpy(cams))
        points = standardise_per_camera(feats, cams) if c.camera_norm else feats
        if c.method == "hdbscan":
            clusters = hdbscan_clusters(points, min_cluster_size=c.min_cluster_size, k1=c.k1, k2=c.k2,
                                        metric=self.cfg.eval.metric)
        else:
            clusters = dbscan_clusters(points, eps=c.eps, min_samples=c.min_samples, k1=c.k1, k2=c.k2,
                                       metric=self.cfg.eval.metric)
        one_camera = one_camera_share(clusters, cams) if (clusters >= 0).any() else None
        found = int(clusters.max(initial=-1)) + 1
        if c.one_camera == "drop":
            clusters = drop_one_camera_clusters(clusters, cams)
        labels = pseudo_labels(clusters, c.outliers)
        self.made_at, self.rounds_done = iteration, self.rounds_done + 1
        drawable = len(np.unique(labels[labels >= 0]))
        if drawable < self.cfg.data.num_identities:
            logger.warning("pseudo-labels, round %d at iteration %d: the clusters give %d identities to draw, fewer "
                           "than a batch's data.num_identities=%d; the previous identities stay (lower "
                           "cluster.min_cluster_size / cluster.eps / cluster.min_samples, or use "
                           "cluster.outliers=singleton)", self.rounds_done, iteration,
                           drawable, self.cfg.data.num_identities)
            if trainer.tracklet_memory is not None and not self.in_stage1:
                trainer.tracklet_memory[1].set_clusters(torch.from_numpy(self.labels))
            trainer.extra_state["pseudo_labels"] = self.state_dict()
            return
        self.labels = labels
        if trainer.tracklet_memory is not None:  # the inter-camera term's proxies: (cluster, camera) pairs
            trainer.tracklet_memory[1].set_clusters(torch.from_numpy(self.labels))
        centres = class_centres(inputs, self.labels, self.num_classes)
        replace_classifier(trainer, centres, memory=c.centres == "memory")
        if c.centres == "memory":
            trainer.class_temperature = c.temperature
        trainer.extra_state["num_classes"] = self.num_classes
        trainer.extra_state["pseudo_labels"] = self.state_dict()
        record = {"iteration": iteration, "clusters": int(clusters.max(initial=-1)) + 1,
                  "clustered": int((clusters >= 0).sum()), "left_out": int((clusters < 0).sum()),
                  "classes": self.num_classes}
        if one_camera is not None:
            record["one_camera_clusters"] = one_camera
        record.update(switches)
        if c.one_camera == "drop":
            record["one_camera_dropped"] = found - record["clusters"]
        sizes = np.bincount(clusters[clusters >= 0]) if (clusters >= 0).any() else np.zeros(0)
        if self.truth is not None:
            record["purity"] = purity(clusters, self.truth)
            record["clusters_per_identity"] = split_identities(clusters, self.truth)
            record["cross_camera_recall"] = cross_camera_recall(clusters, self.truth, cams)
        self.log_attention(trainer, iteration, record)
        dropped = f", {record['one_camera_dropped']} dropped" if "one_camera_dropped" in record else ""
        logger.info("pseudo-labels, round %d at iteration %d: %d clusters (largest %d; %.0f %% of those found from "
                    "one camera%s) hold %d of %d tracklets, %d left out (%s); %d identities%s", self.rounds_done,
                    iteration, record["clusters"], int(sizes.max(initial=0)),
                    100 * record.get("one_camera_clusters", 0.0), dropped,
                    record["clustered"], len(self.labels), record["left_out"],
                    "each its own identity" if c.outliers == "singleton" else "not drawn", self.num_classes,
                    _truth_note(record))

    def log_attention(self, trainer, iteration: int, record: dict) -> None:
        """CAA attention on tracks that mix two people against the others, over the steps since the
        last round (diagnostics: needs the truth); ``record`` goes into the history."""
        if self.mixed is not None and self.mixed.any() and (~self.mixed).any():
            attention = trainer.state.attention
            s, n = attention.sum.clone(), attention.count.clone()
            if self._attention_mark is not None:
                s0, n0 = self._attention_mark
                s[:len(s0)] -= s0
                n[:len(n0)] -= n0
            self._attention_mark = (attention.sum.clone(), attention.count.clone())
            mean = np.full(len(self.labels), np.nan)
            k = min(len(mean), len(s))
            seen = n[:k].numpy() > 0
            mean[:k][seen] = (s[:k].numpy() / np.maximum(n[:k].numpy(), 1))[seen]
            ok = ~np.isnan(mean)
            if ok[self.mixed].any() and ok[~self.mixed].any():
                record["attention_mixed"] = float(np.nanmean(mean[self.mixed]))
                record["attention_clean"] = float(np.nanmean(mean[~self.mixed]))
                record["attention_auc_mixed"] = ranking_auc(mean[ok], self.mixed[ok])
                if "clusters" not in record:
                    logger.info("CAA attention since iteration %d: %s", self.made_at, _truth_note(record).lstrip("; "))
        if record:
            trainer.add_record({"iteration": iteration, **record})
            board = getattr(trainer, "board", None)
            if board is not None:
                board.add("pseudo_labels", iteration, record)

    def find_switches(self, model: ReIDNet) -> dict:
        """Score every whole training track's best cut with ``model``, set ``ranges`` (the flagged
        tracks' longer sides) and return the round's record of it (with recall and precision
        against the tracks that really mix two people, where the truth is known)."""
        whole = self.dataset.train
        frames, owners, positions = frame_tracklets(whole, self.cfg.data.test_max_frames)
        if not len(frames):
            self.ranges = whole_ranges([len(t) for t in whole])
            return {"trimmed": 0, "measured": 0, "switch_score_median": float("nan")}
        with torch.random.fork_rng(devices=[]):
            feats = embed(self.cfg, model, frames, self.device, seq_len=1)
        scores, cuts = switch_scores(feats, owners, len(whole), positions)
        flagged = flag_switches(scores, self.cfg.cluster.switch_z)
        self.ranges = kept_ranges([len(t) for t in whole], flagged, cuts)
        measured = ~np.isnan(scores)
        record = {"trimmed": int(flagged.sum()), "measured": int(measured.sum()),
                  "switch_score_median": float(np.median(scores[measured]))}
        if flagged.any():
            record["switch_score_threshold"] = float(scores[flagged].min())
        if self.mixed is not None and self.mixed.any():
            mixed = self.mixed & measured
            record["switches_found"] = float(flagged[mixed].mean()) if mixed.any() else float("nan")
            record["trimmed_that_switch"] = float(self.mixed[flagged].mean()) if flagged.any() else float("nan")
            if mixed.any() and (measured & ~self.mixed).any():
                record["switch_auc"] = ranking_auc(-scores[measured], self.mixed[measured])
        return record


def _switch_note(record: dict) -> str:
    if "switches_found" not in record:
        return ""
    return (f"; truth: {100 * record['switches_found']:.0f} % of the switched tracks found, "
            f"{100 * record['trimmed_that_switch']:.0f} % of the trimmed ones switch, AUC "
            f"{record.get('switch_auc', float('nan')):.2f}")


def _truth_note(record: dict) -> str:
    parts = []
    if "purity" in record:
        parts.append(f"purity {record['purity']:.3f}, {record['clusters_per_identity']:.2f} clusters per person, "
                     f"{record['cross_camera_recall']:.3f} of one person's cross-camera pairs joined")
    if "attention_mixed" in record:
        parts.append(f"CAA attention {record['attention_mixed']:.3f} on tracks mixing two people vs "
                     f"{record['attention_clean']:.3f} on the others (AUC {record['attention_auc_mixed']:.2f})")
    return "; " + "; ".join(parts) + " (diagnostics from the known truth, not used for training)" if parts else ""


def classifier_inputs(model: ReIDNet, feats: np.ndarray, feature: str) -> np.ndarray:
    """The classifier's input for tracklet embeddings ``feats`` (N, D): the BNNeck's output in eval
    mode (an affine map, so it commutes with the clip mean), or ``feats`` themselves."""
    if feature == "neck" or isinstance(model.neck, nn.Identity):
        return feats
    neck = model.neck
    was = neck.training
    neck.eval()
    with torch.no_grad():
        out = neck(torch.from_numpy(feats).to(next(neck.parameters()).device)).float().cpu().numpy()
    neck.train(was)
    return out


def resize_classifier(model: ReIDNet, num_classes: int, std: float = 0.001) -> tuple[nn.Linear, nn.Linear]:
    """Give ``model`` a new classifier of ``num_classes`` rows (normal init of ``std``, bias 0);
    returns (old, new)."""
    old = model.classifier
    new = nn.Linear(old.in_features, max(num_classes, 1), bias=old.bias is not None)
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.normal_(0.0, std)
        if new.bias is not None:
            new.bias.zero_()
    model.classifier = new
    return old, new


def freeze_classifier(model: ReIDNet) -> None:
    """The classifier's rows and bias get no gradient (``cluster.centres: memory``)."""
    for p in model.classifier.parameters():
        p.requires_grad_(False)


def replace_classifier(trainer, centres: np.ndarray, memory: bool = False) -> None:
    """The trainer's model gets a classifier whose rows are ``centres`` (K, D) and bias 0; the
    optimizer optimises the new parameters in the old ones' places, their state started afresh.
    ``memory``: the new rows are a momentum memory instead (reid/engine/class_memory.py): they get
    no gradient and leave the optimizer."""
    if trainer.dist.enabled:
        raise ConfigError("data.labels=ignore re-clusters and rebuilds the classifier, which a distributed run "
                          "cannot do yet; train it in one process")
    old, new = resize_classifier(trainer.model, len(centres))
    with torch.no_grad():
        new.weight.copy_(torch.from_numpy(centres))
    if memory:
        freeze_classifier(trainer.model)
    swap = {id(old.weight): new.weight}
    if old.bias is not None:
        swap[id(old.bias)] = new.bias
    for group in trainer.optimizer.param_groups:
        params = [swap.get(id(p), p) for p in group["params"]]
        group["params"] = [p for p in params if p.requires_grad]
    for p in (old.weight, old.bias):
        if p is not None:
            trainer.optimizer.state.pop(p, None)
