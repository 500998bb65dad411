"""check_config: choice values, device names, loss terms and schedule ranges, checked before any data is read
or any step is trained."""

import dataclasses
import subprocess
import sys
import typing
from pathlib import Path

import numpy as np
import pytest

from reid.config import Config, load_config
from reid.errors import ConfigError
from reid.pipeline.config_checks import CHOICES, check_choices, check_config

ROOT = Path(__file__).resolve().parents[1]

#: string keys whose value is free (a path, a name looked up elsewhere with its own error, a device)
FREE_FORM = {"device", "output_dir", "data.name", "data.root", "synthetic.preset", "model.init", "train.resume"}
# "auto" or a number, checked by their resolvers in check_config (tests/test_unlabelled.py)
AUTO_OR_NUMBER = {"data.white_balance", "data.color_jitter"}


def string_keys(cls=Config, prefix=""):
    """Every key whose declared type is str (by type hints, so a field defaulting to None counts too)."""
    for name, hint in typing.get_type_hints(cls).items():
        if dataclasses.is_dataclass(hint):
            yield from string_keys(hint, f"{prefix}{name}.")
        elif hint is str or str in typing.get_args(hint):
            yield f"{prefix}{name}"


def test_every_string_key_is_a_choice_or_known_to_be_free():
    """A new string key must be added to CHOICES (or here, if any value is valid)."""
    keys = set(string_keys())
    assert "eval.metric" in keys and "device" in keys
    assert keys - FREE_FORM - AUTO_OR_NUMBER == set(CHOICES), sorted((keys - FREE_FORM - AUTO_OR_NUMBER) ^ set(CHOICES))


def test_the_owning_code_accepts_every_listed_value():
    """The table is only as good as its sets: the functions that use the values take each one."""
    from reid.data.frame_sampling import sample_frames
    from reid.eval.distance import pairwise_distance

    feats = np.eye(3, 4, dtype=np.float32)
    for metric in CHOICES["eval.metric"]:
        assert pairwise_distance(feats, feats, metric).shape == (3, 3)
    for method in CHOICES["data.sampling"]:
        assert len(sample_frames(method, 10, 4, np.random.default_rng(0))) == 4


@pytest.mark.parametrize("key", sorted(CHOICES))
def test_a_value_outside_the_choices_names_the_key_and_the_valid_values(key):
    for good in CHOICES[key]:
        check_choices(load_config(None, [f"{key}={good}"]))
    with pytest.raises(ConfigError) as err:
        check_choices(load_config(None, [f"{key}=nonesuch"]))
    msg = str(err.value)
    assert f"'{key}'" in msg and "'nonesuch'" in msg and ", ".join(CHOICES[key]) in msg


def test_every_shipped_config_passes():
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        check_config(load_config(path))


@pytest.mark.parametrize("override, match", [
    ("device=cuad", r"config key 'device': 'cuad' is not a device"),
    ("loss.terms=[{name: osm_caa, variant: papr}]", r"variant='papr'"),
    ("train.warmup=2.0", r"config key 'train.warmup': 2.0 must be a fraction"),
    ("eval.protocol=retrieval", r"config key 'eval.protocol': 'retrieval' ranks an image set"),
])
def test_check_config_catches_what_would_stop_a_run_at_its_start(override, match):
    with pytest.raises(ConfigError, match=match):
        check_config(load_config(ROOT / "configs" / "mars_osm_caa.yaml", [override]))


def test_train_stops_on_a_bad_evaluation_metric_before_training(tmp_path):
    """eval.metric used to be read first at the end of training: a typo cost the whole run."""
    out = subprocess.run([sys.executable, "tools/train.py", "--config", "configs/demo.yaml", "eval.metric=cosin",
                          f"output_dir={tmp_path / 'run'}", f"data.root={tmp_path / 'none'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == ("error: config key 'eval.metric': 'cosin' is not one of "
                                                  "cosine, euclidean, sqeuclidean")
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()


def test_a_cuda_device_without_cuda_is_one_config_error():
    import torch

    from reid.pipeline.builders import resolve_device

    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ConfigError, match=r"config key 'device': 'cuda:1', but CUDA is not available here"):
        resolve_device("cuda:1")
    check_config(load_config(None, ["device=cuda"]))  # availability is checked where the device is used
