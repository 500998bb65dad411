"""Checks of a whole config, run before any data is read or any step is trained.

``check_config`` brings forward the checks that the modules using a value make where they use it
(they keep them, for code that calls the library directly): a typo such as ``eval.metric=cosin``
then stops a run at its start, not after hours of training when the evaluation first reads it, and
a bad ``data.sampling`` is one line, not an error re-raised from inside a loader worker. The
entry scripts (reid/cli/common.py), run_training, the recipe study, the peer comparison and
bench_model's loader call it on every config they build.
"""

from __future__ import annotations

from collections.abc import Collection

from reid.config import Config, check_choice, color_jitter, white_balance
from reid.data.datasets.image_sets import CROP_BOX
from reid.data.frame_sampling import SAMPLERS
from reid.data.identity_sampler import EPOCHS
from reid.data.transforms import CROPS
from reid.engine.distributed import DIST_BACKENDS
from reid.engine.extract import FEATURES
from reid.engine.precision import PRECISIONS
from reid.engine.trainer import BEST_METRICS, LOSS_LEVELS, OPTIMIZERS, SCHEDULES, check_schedule
from reid.errors import ConfigError
from reid.eval.camera_norm import CAMERA_NORMS
from reid.eval.clustering import METHODS, ONE_CAMERA, OUTLIERS
from reid.eval.distance import METRICS
from reid.losses import build_loss
from reid.models.backbones import BACKBONES
from reid.models.reid_net import NECKS
from reid.models.temporal_pooling import POOLINGS
from reid.pipeline.builders import check_image_retrieval, parse_device
from reid.pipeline.evaluation import EVAL_PROTOCOLS
from reid.pipeline.pseudo_labels import CENTRES, LABELS, STAGE1, check_cluster_config

#: config key -> the values it accepts
CHOICES: dict[str, Collection[str]] = {
    "data.sampling": tuple(SAMPLERS),
    "data.epoch": EPOCHS,
    "data.crop": CROPS,
    "data.crop_box": CROP_BOX,
    "data.labels": LABELS,
    "model.backbone": tuple(BACKBONES),
    "model.pooling": tuple(POOLINGS),
    "model.neck": NECKS,
    "train.optimizer": OPTIMIZERS,
    "train.schedule": SCHEDULES,
    "train.loss_level": LOSS_LEVELS,
    "train.best_metric": BEST_METRICS,
    "train.precision": PRECISIONS,
    "train.dist_backend": ("auto", *DIST_BACKENDS),
    "eval.metric": METRICS,
    "eval.protocol": EVAL_PROTOCOLS,
    "eval.feature": FEATURES,
    "eval.camera_norm": CAMERA_NORMS,
    "cluster.outliers": OUTLIERS,
    "cluster.method": METHODS,
    "cluster.stage1": STAGE1,
    "cluster.one_camera": ONE_CAMERA,
    "cluster.centres": CENTRES,
}


def check_choices(cfg: Config) -> Config:
    """Raise ConfigError naming the first key of ``CHOICES`` whose value is not one it accepts."""
    for key, choices in CHOICES.items():
        section, name = key.split(".")
        check_choice(getattr(getattr(cfg, section), name), choices, key)
    return cfg


def check_config(cfg: Config) -> Config:
    """Every check that needs no data: choices, the device name, the loss terms (built once, so a
    bad loss parameter such as ``variant`` fails here), the schedule's ranges, and the settings an
    image-retrieval set requires. Returns ``cfg``; raises ConfigError naming the key otherwise.
    Whether CUDA is present is checked when the device is used (an evaluation on another machine
    may name a device the saved config was trained on)."""
    check_choices(cfg)
    parse_device(cfg.device)
    build_loss(cfg.loss.terms)
    check_schedule(cfg.train)
    check_image_retrieval(cfg)
    check_cluster_config(cfg.cluster)
    white_balance(cfg.data)
    color_jitter(cfg.data)
    for key in ("id_switches", "fragments"):
        if not 0.0 <= getattr(cfg.data, key) <= 1.0:
            raise ConfigError(f"config key 'data.{key}': {getattr(cfg.data, key)!r}, expected a fraction in [0, 1]")
    mining = cfg.data.identity_mining
    if isinstance(mining, bool) or not isinstance(mining, (int, float)) or mining < 0:
        raise ConfigError(f"config key 'data.identity_mining': {mining!r}, expected a temperature > 0, or 0 (off)")
    if mining > 0 and (cfg.data.labels != "use" or cfg.data.epoch != "identities"):
        raise ConfigError(f"config key 'data.identity_mining': {mining!r} groups identities by their classifier "
                          "centres, which needs data.labels=use and data.epoch=identities (got "
                          f"data.labels={cfg.data.labels}, data.epoch={cfg.data.epoch}); set it to 0")
    return cfg
