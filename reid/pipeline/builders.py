"""Build each part of a run from its config section."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from reid.config import Config, check_choice, color_jitter, white_balance
from reid.data import BOX_DATASETS, RETRIEVAL_DATASETS, VideoReIDDataset, load_dataset
from reid.data.clip_dataset import TrainClips
from reid.data.datasets.image_sets import CROP_BOX
from reid.data.identity_sampler import IdentityBatchSampler
from reid.data.transforms import ClipTransform
from reid.engine.checkpoint import CheckpointError, load_checkpoint
from reid.errors import ConfigError, DatasetError
from reid.models import ReIDNet, build_model

logger = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = parse_device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"config key 'device': {name!r}, but CUDA is not available here; use device=cpu or auto")
    return device


def parse_device(name: str) -> torch.device:
    """The torch device a ``device`` value names (``auto`` is resolved by resolve_device)."""
    try:
        return torch.device("cpu" if name == "auto" else name)
    except RuntimeError:
        raise ConfigError(f"config key 'device': {name!r} is not a device; expected auto, cpu, cuda or cuda:N") from None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def ensure_synthetic(cfg: Config) -> None:
    """Generate the synthetic MARS-layout data under ``data.root`` unless it is already there.

    Generation writes into a temporary folder that is renamed into place at the end, so an
    interrupted run never leaves a half-written dataset. Existing data made with other
    parameters is an error rather than a silent mismatch.
    """
    from reid.data.synthetic import generate, preset

    s = cfg.synthetic
    chosen = {k: getattr(s, k) for k in ("wrong_labels", "occlusion", "blur", "truncation")}
    params = preset(s.preset, seed=s.seed, **{k: v for k, v in chosen.items() if v is not None})
    root = Path(cfg.data.root)
    meta_path = root / "mars" / "synthetic_meta.json"
    if meta_path.is_file():
        written = json.loads(meta_path.read_text()).get("params", {})
        wanted = json.loads(json.dumps(dataclasses.asdict(params)))
        # a parameter newer than the data was written at its default (generation then ignored it)
        default = json.loads(json.dumps(dataclasses.asdict(type(params)())))
        diff = sorted(k for k in wanted if written.get(k, default[k]) != wanted[k])
        if diff:
            raise ConfigError(
                f"{meta_path} was generated with other parameters ({', '.join(diff)} differ); "
                f"delete {root / 'mars'} or point data.root elsewhere"
            )
        return
    if (root / "mars").exists():
        raise ConfigError(f"{root / 'mars'} exists but has no synthetic_meta.json; delete it or use another data.root")
    root.mkdir(parents=True, exist_ok=True)
    logger.info("generating synthetic MARS-layout data in %s (preset %s)", root, s.preset)
    with tempfile.TemporaryDirectory(dir=root, prefix=".generating-") as tmp:
        generate(tmp, params, workers=1)  # forked workers can deadlock in OpenCV once torch has run
        os.replace(Path(tmp) / "mars", root / "mars")


def check_image_retrieval(cfg: Config) -> None:
    """Refuse settings that do not fit the data kind before anything is read: an image-retrieval
    set has one image per sample (seq_len 1) and the ``retrieval`` protocol; bounding boxes exist
    for BOX_DATASETS only."""
    d, e = cfg.data, cfg.eval
    name = d.name.lower()
    check_choice(d.crop_box, CROP_BOX, "data.crop_box")
    if e.protocol == "retrieval" and name not in RETRIEVAL_DATASETS:
        raise ConfigError(f"config key 'eval.protocol': 'retrieval' ranks an image set against itself, but "
                          f"{d.name} is a video re-ID set; expected standard or mars-official")
    if d.crop_box != "none" and name not in BOX_DATASETS:
        raise ConfigError(f"config key 'data.crop_box': {d.crop_box!r}, but {d.name} has no bounding boxes; "
                          f"expected none (bbox works for {', '.join(sorted(BOX_DATASETS))})")
    if name not in RETRIEVAL_DATASETS:
        return
    for key, value, expected in (("data.seq_len", d.seq_len, 1), ("data.test_seq_len", d.test_seq_len, 1),
                                 ("eval.protocol", e.protocol, "retrieval"), ("eval.rerank", e.rerank, False),
                                 ("eval.camera_norm", e.camera_norm, "none")):
        if value != expected:
            raise ConfigError(f"config key {key!r}: {value!r}, but {d.name} is an image-retrieval set (one image "
                              f"per sample, leave-one-out evaluation); expected {expected!r}")


def load_data(cfg: Config) -> VideoReIDDataset:
    check_image_retrieval(cfg)
    if cfg.data.name == "synthetic":
        ensure_synthetic(cfg)
    if cfg.data.name == "synthetic_retrieval":
        from reid.data.synthetic.retrieval import ensure_generated

        ensure_generated(cfg.data.root, cfg.synthetic)
    dataset = load_dataset(cfg.data.name, cfg.data.root, split_id=cfg.data.split_id,
                           **({"packed": True} if cfg.data.packed else {}),
                           **({} if cfg.data.cache else {"cache": False}),
                           **({"crop_box": cfg.data.crop_box} if cfg.data.crop_box != "none" else {}))
    d = cfg.data
    if d.id_switches or d.fragments:
        from reid.data.tracker_errors import simulate_tracker_errors

        dataset = simulate_tracker_errors(dataset, id_switches=d.id_switches, fragments=d.fragments, seed=cfg.seed)
    if d.labels == "ignore" and dataset.train_truth is None:
        # the diagnostics' own copy (cluster purity); training reads no pid (reid/pipeline/pseudo_labels.py)
        dataset = dataclasses.replace(dataset, train_truth=[(t.pid,) for t in dataset.train])
    if cfg.eval.protocol == "retrieval" and dataset.query:
        test_classes = len({t.pid for t in dataset.query})
        if test_classes < 2:
            raise DatasetError(f"{cfg.data.name} at {cfg.data.root}: the test part has {len(dataset.query)} image(s) "
                               f"of {test_classes} class(es); leave-one-out retrieval and its NMI need at least 2 "
                               "test classes (or no test part at all, to train only)")
    dataset.log_summary(train_ids=d.labels == "use")
    return dataset


def build_train_loader(cfg: Config, dataset: VideoReIDDataset, start_batch: int = 0, rank: int = 0,
                       world_size: int = 1, pin_memory: bool = False, *, labels: list[int] | None = None,
                       num_batches: int | None = None, one_camera: bool = False) -> DataLoader:
    """The identity-balanced training stream from ``start_batch`` on; ``rank`` of ``world_size``
    gets its share of every global batch. ``pin_memory``: page-locked batches, for a CUDA device.

    ``labels`` (one per training tracklet, -1: never drawn) replace the tracklets' pids, which are
    then never read, and every batch mixes cameras (pseudo-identities, ``data.labels: ignore``).
    ``num_batches``: the stream ends before that batch (default ``train.iterations``).
    ``one_camera`` (with ``labels``): every batch from one camera."""
    d = cfg.data
    transform = ClipTransform(d.height, d.width, train=True, flip=d.flip, pad_crop=d.pad_crop,
                              random_erasing=d.random_erasing, crop=d.crop, per_frame=d.augment_per_frame,
                              resize=d.resize, color_jitter=color_jitter(d),
                              white_balance=white_balance(d))
    clips = TrainClips(dataset.train, seq_len=d.seq_len, sampling=d.sampling, transform=transform, seed=cfg.seed,
                       labels=labels)
    sampler = IdentityBatchSampler([t.pid for t in dataset.train] if labels is None else labels,
                                   num_identities=d.num_identities, num_instances=d.num_instances, seed=cfg.seed,
                                   num_batches=cfg.train.iterations if num_batches is None else num_batches,
                                   epoch=d.epoch, rank=rank, world_size=world_size,
                                   cameras=None if labels is None else [t.camid for t in dataset.train],
                                   one_camera=one_camera)
    sampler.start_batch = start_batch
    return DataLoader(clips, batch_sampler=sampler, num_workers=d.workers,
                      persistent_workers=False, pin_memory=pin_memory)


def build_model_for(cfg: Config, num_classes: int) -> tuple[ReIDNet, str]:
    m = cfg.model
    return build_model(backbone=m.backbone, init=m.init, allow_random_init=m.allow_random_init,
                       pooling=m.pooling, embed_dim=m.embed_dim, num_classes=num_classes,
                       classifier_bias=m.classifier_bias, classifier_std=m.classifier_std, neck=m.neck,
                       last_stride=m.last_stride)


def load_trained_model(cfg: Config, checkpoint: str | Path) -> ReIDNet:
    """Rebuild the model of ``cfg`` (random init, nothing downloaded) and load a checkpoint into it."""
    state = load_checkpoint(checkpoint)
    if "classifier.weight" not in state["model"]:
        raise CheckpointError(f"checkpoint {checkpoint} holds no re-ID model (no classifier.weight)")
    num_classes = state["model"]["classifier.weight"].shape[0]
    m = cfg.model
    model, _ = build_model(backbone=m.backbone, init="random", allow_random_init=True, pooling=m.pooling,
                           embed_dim=m.embed_dim, num_classes=num_classes, classifier_bias=m.classifier_bias,
                           neck=m.neck, last_stride=m.last_stride)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {checkpoint} does not match the model of this config "
                              f"(model.backbone={m.backbone}, embed_dim={m.embed_dim}, "
                              f"pooling={m.pooling}): {exc}") from exc
    return model
