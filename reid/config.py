"""Typed configuration: one dataclass tree, loaded strictly from YAML, overridable from the CLI.

Unknown keys are errors that name the key and the nearest valid one; values are checked against
the field's type. Overrides use ``section.key=value`` with the value parsed as YAML
(``train.iterations=200``, ``loss.terms=[{name: triplet, weight: 1.0}]``).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import logging
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reid.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass
class DataConfig:
    name: str = "synthetic"
    root: str = "data/synthetic"
    split_id: int = 0
    height: int = 256
    width: int = 128
    seq_len: int = 4  # frames per training clip
    sampling: str = "restricted"  # restricted | random | evenly | consecutive
    test_seq_len: int = 8  # frames per test clip; a tracklet's embedding averages its clips
    test_max_frames: int = 64  # at most this many frames per test tracklet, evenly spaced
    num_identities: int = 8  # P: identities per batch
    num_instances: int = 4  # K: tracklets per identity
    epoch: str = "identities"  # identities (each once per epoch) | tracklets (each tracklet once; torchreid's)
    # > 0: soft identity mining at this temperature: each batch is an anchor identity and companions
    # drawn by the similarity of their classifier centres (docs/method.md §6.1a); 0: random batches.
    # Off: at 0.1, +4.1 / +4.3 rank-1 on the look-alike levels but -3.3 on hard (docs/recipe_study.md §9)
    identity_mining: float = 0.0
    workers: int = 2
    packed: bool = False
    cache: bool = True
    flip: bool = True
    crop: str = "pad"  # pad (zero-pad by pad_crop, crop back) | zoom (enlarge 1/8, crop back; half the time) | random | none
    # > 0: resize each frame's shorter side to this (aspect kept), then cut height x width out of it: at a
    # random place in training with crop: random (the 256 -> 224 crops of metric learning), else the centre
    resize: int = 0
    crop_box: str = "none"  # none | bbox: image-retrieval sets (cub, cars196) cropped to their bounding boxes
    pad_crop: int = 10  # pixels of padding for the pad crop; 0 disables it
    random_erasing: float = 0.0  # probability per clip (per frame with augment_per_frame)
    # brightness/contrast/saturation factors in [1 - x, 1 + x] per training clip; 0: off;
    # auto: UNLABELLED_COLOR_JITTER with labels=ignore, 0 with labels (the recipe study's N3)
    color_jitter: float | str = "auto"
    # R, G, B gains each in [1 - x, 1 + x] per training clip (a camera's colour response); 0: off;
    # auto: UNLABELLED_WHITE_BALANCE with labels=ignore (docs/unlabelled_study.md), 0 with labels
    white_balance: float | str = "auto"
    augment_per_frame: bool = False  # draw flip/crop/erasing for each frame instead of once per clip
    # use: train on the training split's identity labels; ignore: never read them (each training
    # tracklet starts as its own pseudo-identity, then clusters; the cluster section, README
    # "Train on your unlabelled footage")
    labels: str = "use"
    # Simulated tracker errors on the training split, for studies (reid/data/tracker_errors.py):
    # this fraction of training tracklets carries an ID switch halfway (its second half shows
    # another person), and this fraction is cut into 2-3 tracklets (fragments of one track)
    id_switches: float = 0.0
    fragments: float = 0.0


@dataclass
class SyntheticConfig:
    """How the synthetic MARS-layout data is generated when data.name is ``synthetic``."""

    preset: str = "demo"  # demo | hard | study | tiny (reid/data/synthetic/ PRESETS)
    seed: int = 0
    # None: the preset's value
    wrong_labels: float | None = None  # fraction of training tracklets filed under another identity
    occlusion: float | None = None  # fractions of identity frames with each injected outlier
    blur: float | None = None
    truncation: float | None = None


@dataclass
class ModelConfig:
    backbone: str = "resnet50"
    init: str = "imagenet"  # imagenet | random | path to a torchvision-compatible state dict
    allow_random_init: bool = False  # fall back to random init when ImageNet weights cannot be had
    pooling: str = "avg"  # avg | max | attention
    neck: str = "none"  # none | bnneck (metric losses before a BatchNorm, the classifier after it)
    last_stride: int = 2  # 1: the last ResNet stage keeps its resolution
    embed_dim: int = 0  # 0: use the backbone's feature dimension, else a linear projection
    classifier_bias: bool = False
    classifier_std: float = 0.001  # std of the classifier's normal init


@dataclass
class TrainConfig:
    iterations: int = 2000
    optimizer: str = "adam"  # adam | sgd
    lr: float = 3.5e-4
    weight_decay: float = 5e-4
    momentum: float = 0.9
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])  # Adam's (beta1, beta2)
    # The schedule is written in fractions of ``iterations``, so ``train.iterations=N`` alone gives
    # a coherent run of N iterations: linear warmup over the first ``warmup`` of them, then
    # ``schedule``: ``step`` (lr x lr_gamma at each fraction in lr_steps; none = constant) or
    # ``cosine`` (half a cosine from lr down to lr x min_lr_factor at the last iteration).
    warmup: float = 0.0
    schedule: str = "step"  # step | cosine
    lr_steps: list[float] = field(default_factory=list)
    lr_gamma: float = 0.1
    min_lr_factor: float = 0.0
    loss_level: str = "clip"  # clip | frame (docs/method.md, "Clip-level and frame-level loss")
    # fp32 | bf16 | fp16 | auto. auto: fp16 autocast on CUDA; on CPU bf16 only where the CPU has
    # native bf16 and a timed probe of the real batch finds it faster, else fp32 (bf16 is emulated,
    # ~20x slower, on CPUs without avx512_bf16 / amx).
    precision: str = "fp32"
    channels_last: bool = False
    # Distributed runs (torchrun): BN statistics of the backbone over every rank's share of the batch
    # (SyncBatchNorm on CUDA, reid's GlobalBatchNorm on CPU/gloo); the process group's backend.
    sync_bn: bool = False
    dist_backend: str = "auto"  # auto (nccl with CUDA, else gloo) | gloo | nccl
    tensorboard: bool = True  # scalars (loss parts, lr, it/s, eval, degenerate batches) in output_dir/tensorboard
    max_nonfinite: int = 5  # a non-finite loss/gradient skips the step; this many in a row stop the run
    log_every: int = 20
    eval_every: int = 0  # 0: evaluate only at the end
    checkpoint_every: int = 500
    keep_checkpoints: int = 1  # checkpoint.pt (newest) + older checkpoint-<iteration>.pt, this many in all
    best_metric: str = "mAP"  # mAP | rank1: best.pt keeps the weights of the best evaluation by it
    # "" (start over), a checkpoint path, or "auto": the newest readable checkpoint in output_dir
    # (an unreadable one is skipped with a warning); a new run in a folder removes its old checkpoints
    resume: str = ""


# One dataclass per loss term: a misspelled parameter or a wrong type fails when the config is
# loaded, before any data is read. Defaults equal the loss classes' own (a test checks that);
# value ranges are checked when the terms are built, which training does before reading data.
@dataclass
class OSMCAATerm:
    name: str = "osm_caa"
    weight: float = 1.0
    variant: str = "official"  # official (authors' code) | paper (the paper's formulas)
    osm: bool = True
    caa: bool = True
    alpha: float = 1.2
    lam: float = 0.5
    sigma: float | None = None  # None: 1.0 for official, 0.8 for paper
    caa_sigma: float = 0.68


@dataclass
class ContrastiveTerm:
    name: str = "contrastive"
    weight: float = 1.0
    alpha: float = 1.2


@dataclass
class TripletTerm:
    name: str = "triplet"
    weight: float = 1.0
    margin: float = 0.3
    soft: bool = False  # soft margin log(1 + exp(d_ap - d_an)); margin unused


@dataclass
class CrossEntropyTerm:
    name: str = "cross_entropy"
    weight: float = 1.0
    label_smoothing: float = 0.1


@dataclass
class WeightedSoftmaxTerm:
    name: str = "weighted_softmax"
    weight: float = 1.0
    mu: float = 0.5
    sigma: float = 0.18
    label_smoothing: float = 0.0


LossTerm = OSMCAATerm | ContrastiveTerm | TripletTerm | CrossEntropyTerm | WeightedSoftmaxTerm

#: ``loss.terms[i].name`` -> the dataclass of that term's parameters.
LOSS_TERMS: dict[str, type] = {
    "osm_caa": OSMCAATerm,
    "contrastive": ContrastiveTerm,
    "triplet": TripletTerm,
    "cross_entropy": CrossEntropyTerm,
    "weighted_softmax": WeightedSoftmaxTerm,
}


@dataclass
class LossConfig:
    terms: list[LossTerm] = field(default_factory=lambda: [OSMCAATerm(), CrossEntropyTerm()])


def loss_term_from_dict(item: Any, key: str = "loss.terms[0]") -> Any:
    """One loss term from its mapping ``{name, weight, **params}``, strictly (unknown keys fail)."""
    if dataclasses.is_dataclass(item) and type(item) in LOSS_TERMS.values():
        return item
    if not isinstance(item, dict):
        raise ConfigError(f"config key {key!r}: got {item!r}, expected a mapping {{name, weight, **params}}")
    name = item.get("name")
    if name not in LOSS_TERMS:
        raise ConfigError(f"config key '{key}.name': {name!r} is not a loss; valid names: {', '.join(LOSS_TERMS)}")
    term = _build(LOSS_TERMS[name], item, f"{key}.")
    if isinstance(term.weight, bool) or term.weight < 0:
        raise ConfigError(f"config key '{key}.weight': {term.weight!r}, expected a number >= 0")
    return term


def _build_terms(value: Any, key: str) -> list:
    if not isinstance(value, list):
        raise ConfigError(f"config key {key!r}: got {value!r}, expected a list of {{name, weight, **params}} mappings")
    if not value:
        raise ConfigError(f"config key {key!r}: no terms given, expected at least one {{name, weight}} entry")
    return [loss_term_from_dict(item, f"{key}[{i}]") for i, item in enumerate(value)]


@dataclass
class EvalConfig:
    metric: str = "cosine"  # cosine | euclidean | sqeuclidean
    protocol: str = "standard"  # standard | mars-official | retrieval (image sets: leave-one-out Recall@K, NMI)
    rerank: bool = True
    k1: int = 20
    k2: int = 6
    lambda_value: float = 0.3
    max_rank: int = 50
    batch_size: int = 32  # clips per forward pass during feature extraction
    feature: str = "embedding"  # embedding | neck: retrieve with the embedding or its BNNeck copy
    # none | centre | standardise: move each camera's test embeddings (query and gallery together) to
    # a common centre before ranking (reid/eval/camera_norm.py); a camera with fewer than 10 test
    # tracklets takes the statistics of all of them
    camera_norm: str = "none"
    # report.html: ranked lists of the `visualise` worst queries (lowest AP) and `visualise_random`
    # random ones, top `visualise_topk` each (0 draws none); a t-SNE map of at most
    # `tsne_max_points` test tracklets (whole identities, drawn at random; 0: no map)
    visualise: int = 8
    visualise_random: int = 4
    visualise_topk: int = 10
    tsne_max_points: int = 1500


@dataclass
class ClusterConfig:
    """Pseudo-identities when ``data.labels`` is ``ignore`` (docs/method.md, "Learning without identity labels").

    Until ``start`` (a fraction of train.iterations) every training tracklet is its own identity
    (stage 1); at ``start`` and then every ``every`` of the run (0: once) the training tracklets
    are embedded, their k-reciprocal Jaccard distance (k1, k2) is clustered by HDBSCAN
    (min_cluster_size) or DBSCAN (eps, min_samples), and the clusters become the identities, the
    classifier's centres their L2-normalised mean embeddings (stage 2). ``start: 1.0`` trains
    stage 1 only.
    """

    start: float = 0.0  # 0: the first clusters come from the untrained network (docs/unlabelled_study.md, E/I)
    every: float = 0.1
    method: str = "hdbscan"  # hdbscan (no distance scale to set) | dbscan (SpCL's: eps, min_samples)
    min_cluster_size: int = 2  # hdbscan: a person is a cluster once seen in this many tracklets
    eps: float = 0.6
    min_samples: int = 4
    k1: int = 30
    k2: int = 6
    outliers: str = "drop"  # tracklets the clustering leaves out: drop (not drawn) | singleton (own identity)
    camera_norm: bool = True  # standardise each camera's embeddings before clustering
    # keep | drop: a cluster whose tracklets all come from one camera is kept as an identity, or its
    # tracklets are treated as left out (cluster.outliers): such a cluster says nothing about how a
    # person looks in another camera and is often one camera's look rather than one person
    # (Song et al. 2025, "discarding biased clusters"); drop at seed 0: 40.6 / 45.7 against 43.1 / 50.0
    # (docs/unlabelled_study.md, sixth session), so keep
    one_camera: str = "keep"
    stage1: str = "camera"  # camera: stage-1 batches and softmax within one camera | mixed: across cameras
    # weight of the camera-alignment term (reid/losses/camera_alignment.py; 0: off): rank-1 23.1 -> 43.1
    # on the hard preset at 1.0, 15.6 at 10.0 (docs/unlabelled_study.md, rows J, K)
    camera_align: float = 1.0
    camera_spread: bool = False  # the term also matches each camera's spread: 37.5 against 43.1 (row L)
    # classifier | memory: after each round the classifier's rows (the class centres of CE and CAA) are
    # trained by the optimizer, or are a memory moved by momentum towards each class's hardest sample
    # of a batch, the classifier then seeing the L2-normalised feature over `temperature`
    # (Cluster Contrast; reid/engine/class_memory.py). memory at seed 0: 44.4 / 49.5 against 48.8 / 55.5
    # (docs/unlabelled_study.md, seventh session), so classifier
    centres: str = "classifier"
    memory_momentum: float = 0.1  # centres=memory: the share of a row kept at each update (Cluster Contrast's)
    temperature: float = 0.05  # the softmax temperature of the memories' cosine logits (Cluster Contrast's)
    # weight of the intra-camera term (0: off): every clip classified against the tracklets of its own
    # camera, a memory of one row per training tracklet (reid/engine/class_memory.py, TrackletMemory).
    # 1.0: rank-1 57.3 against 45.6 off on the hard preset, better at each of 3 seeds
    # (docs/unlabelled_study.md, seventh session)
    intra_camera: float = 1.0
    # weight of the inter-camera term (0: off): every clip against the (cluster, camera) proxies of
    # its cluster, the `hard_negatives` nearest proxies of other clusters as negatives (camera-aware
    # proxies, Wang et al. 2021; the proxies are the intra-camera memory's rows averaged per pair).
    # 0.5 on the hard preset, 3 seeds, fp32: mAP 59.3 against 58.0 (higher at every seed), rank-1
    # 54.2 against 54.6 (docs/unlabelled_study.md, ninth session): off until it pays in rank-1 too
    inter_camera: float = 0.0
    hard_negatives: int = 50
    # find the tracks that switch person (the cut whose two sides' mean frame embeddings are farthest
    # apart, standing out from the run's other tracks by more than `switch_z` robust deviations) and
    # train on their longer side until the next round (reid/pipeline/track_switches.py). It finds the
    # switched tracks (AUC 0.94-0.98), but with 10 % ID switches on the hard preset rank-1 moved +3.1,
    # -3.1, -3.7 at seeds 0-2 (51.0 against 52.3; fp32 runs against bf16 baselines of another CPU),
    # and -0.6 on clean tracks at seed 0
    # (docs/unlabelled_study.md, eighth session): off by default, and each round embeds every
    # training frame once more
    trim_switches: bool = False
    switch_z: float = 3.0


#: data.white_balance=auto and data.color_jitter=auto when training without labels: nothing else
#: tells the network that two cameras render one person's colours differently
#: (docs/unlabelled_study.md); with labels the cross-camera positives teach it, and jitter cost
#: the supervised short-run recipe 4.4 rank-1 (docs/recipe_study.md, N3)
UNLABELLED_WHITE_BALANCE = 0.3
UNLABELLED_COLOR_JITTER = 0.2


def _auto_strength(d: "DataConfig", key: str, unlabelled: float) -> float:
    value = getattr(d, key)
    if value == "auto":
        return unlabelled if d.labels == "ignore" else 0.0
    expected = f"config key 'data.{key}': expected auto or a number in [0, 1), got {value!r}"
    if isinstance(value, bool):
        raise ConfigError(expected)
    try:
        number = _parse_float(value, f"data.{key}") if isinstance(value, str) else float(value)
    except (TypeError, ValueError, ConfigError) as exc:
        raise ConfigError(expected) from exc
    if not 0.0 <= number < 1.0:
        raise ConfigError(expected)
    return number


def white_balance(d: "DataConfig") -> float:
    """The ``data.white_balance`` strength a run uses (``auto`` resolved by ``data.labels``).

    Raises:
        ConfigError: neither ``auto`` nor a number in [0, 1).
    """
    return _auto_strength(d, "white_balance", UNLABELLED_WHITE_BALANCE)


def color_jitter(d: "DataConfig") -> float:
    """The ``data.color_jitter`` strength a run uses (``auto`` resolved by ``data.labels``).

    Raises:
        ConfigError: neither ``auto`` nor a number in [0, 1).
    """
    return _auto_strength(d, "color_jitter", UNLABELLED_COLOR_JITTER)


@dataclass
class Config:
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    output_dir: str = "outputs/run"
    data: DataConfig = field(default_factory=DataConfig)
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)


def _parse_float(text: str, key: str) -> float:
    """A float written as Python's ``float()`` reads it: YAML 1.1 leaves ``3e-4``, ``1E-5`` or ``.5e1``
    (no dot, or no digit before the dot) as strings, so they arrive here."""
    try:
        return float(text.strip())
    except ValueError:
        raise ConfigError(f"config key {key!r}: expected a number, got {text!r}") from None


def _check_type(value: Any, annotation: Any, key: str) -> Any:
    """Return ``value`` converted to ``annotation`` (int -> float is allowed) or raise ConfigError."""
    origin = typing.get_origin(annotation)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"config key {key!r}: expected a list, got {value!r}")
        (item_type,) = typing.get_args(annotation) or (Any,)
        return [_check_type(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        if value is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) == 1:  # X | None
            return _check_type(value, rest[0], key)
        return value
    if annotation is Any:
        return value
    if annotation is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"config key {key!r}: expected a mapping, got {value!r}")
        return value
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if annotation is float and isinstance(value, str):
        return _parse_float(value, key)
    if annotation is bool and not isinstance(value, bool):
        raise ConfigError(f"config key {key!r}: expected true or false, got {value!r}")
    if annotation is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"config key {key!r}: expected an integer, got {value!r}")
    if annotation in (float, str) and not isinstance(value, annotation):
        raise ConfigError(f"config key {key!r}: expected {annotation.__name__}, got {value!r}")
    return value


#: Keys of earlier versions: an old config gets told what replaced them.
_RENAMED = {
    "train.warmup_iters": "train.warmup (a fraction of train.iterations, e.g. 0.05)",
    "train.amp": "train.precision (auto, fp32, bf16 or fp16)",
}


def _build(cls: type, data: dict, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"config section {prefix.rstrip('.') or '<top>'!r}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if f"{prefix}{key}" in _RENAMED:
            raise ConfigError(f"config key '{prefix}{key}' was replaced by {_RENAMED[prefix + key]}")
        if key not in names:
            near = difflib.get_close_matches(str(key), names, n=1)
            hint = f"; did you mean '{prefix}{near[0]}'?" if near else f"; valid keys: {', '.join(names)}"
            raise ConfigError(f"unknown config key '{prefix}{key}'{hint}")
        annotation = hints[key]
        if cls is LossConfig and key == "terms":
            kwargs[key] = _build_terms(value, f"{prefix}{key}")
        elif dataclasses.is_dataclass(annotation):
            kwargs[key] = _build(annotation, value, f"{prefix}{key}.")
        else:
            kwargs[key] = _check_type(value, annotation, f"{prefix}{key}")
    return cls(**kwargs)


def config_from_dict(data: dict) -> Config:
    """Build a Config from a nested dict, strictly."""
    return _build(Config, data or {}, "")


def drop_unknown_keys(data: dict) -> dict:
    """``data`` without the keys this version's Config does not have (an older checkpoint's saved
    config), each dropped key logged; the rest is left for ``config_from_dict`` to check."""

    def prune(cls: type, node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        hints = typing.get_type_hints(cls)
        kept = {}
        for key, value in node.items():
            if key not in hints:
                logger.warning("the checkpoint's config has key %s, unknown to this version: ignored", key)
                continue
            kept[key] = prune(hints[key], value) if dataclasses.is_dataclass(hints[key]) else value
        return kept

    return prune(Config, data)


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    """Apply ``a.b=value`` overrides (value parsed as YAML) to a nested dict, in place."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected KEY=VALUE, e.g. train.iterations=100")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is not a section")
        node[parts[-1]] = yaml.safe_load(raw)
    return data


#: The configs shipped inside the package (the repository's ``configs/`` links here).
PACKAGED_CONFIGS = Path(__file__).resolve().parent / "configs"


def resolve_config_path(path: str | Path) -> Path:
    """``path`` itself when it is a file; else the shipped config it names (``mars_osm_caa``,
    ``demo.yaml``, ``configs/studies/recipe_study.yaml``), so that commands work from any folder
    after ``pip install``; else ConfigError listing the shipped configs."""
    path = Path(path)
    if path.is_file():
        return path
    parts = path.parts[1:] if path.parts[:1] == ("configs",) else path.parts
    if parts and not path.is_absolute():
        shipped = PACKAGED_CONFIGS.joinpath(*parts)
        for candidate in (shipped, shipped.with_name(shipped.name + ".yaml")):
            if candidate.is_file():
                return candidate
    names = sorted(p.relative_to(PACKAGED_CONFIGS).with_suffix("").as_posix() for p in PACKAGED_CONFIGS.rglob("*.yaml"))
    raise ConfigError(f"config file {path} does not exist (nor is it a shipped config: {', '.join(names)})")


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config file (or the defaults when ``path`` is None) and apply overrides.

    ``path`` may also name a shipped config (``resolve_config_path``)."""
    data: dict = {}
    if path is not None:
        path = resolve_config_path(path)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {path}: expected a mapping of sections (data:, model:, ...), "
                              f"found a {type(data).__name__}")
    file_data = copy.deepcopy(data)
    apply_overrides(data, overrides or [])
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{_blame(path, file_data, overrides, exc)}{exc}") from None


def _blame(path: Path | None, file_data: dict, overrides: list[str] | None, exc: ConfigError) -> str:
    """Who an error of the merged config comes from: the file when the file alone fails the same
    way, else the overrides (on the file, if there is one)."""
    if not overrides:
        return f"{path}: " if path is not None else ""
    try:
        config_from_dict(file_data)
    except ConfigError as file_exc:
        if path is not None and str(file_exc) == str(exc):
            return f"{path}: "
    return f"overrides on {path}: " if path is not None else "overrides: "


def config_to_dict(cfg: Config) -> dict:
    return dataclasses.asdict(cfg)


def check_choice(value: str, choices: typing.Iterable[str], key: str) -> str:
    """Raise ConfigError unless ``value`` is one of ``choices``."""
    choices = list(choices)
    if value not in choices:
        raise ConfigError(f"config key {key!r}: {value!r} is not one of {', '.join(choices)}")
    return value
