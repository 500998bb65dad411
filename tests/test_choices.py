"""Choice-valued config keys are checked at load, before any data is read or any step is trained."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from reid.config import Config, load_config
from reid.errors import ConfigError
from reid.pipeline.choices import CHOICES, check_choices

ROOT = Path(__file__).resolve().parents[1]

#: string keys whose value is free (a path, a name looked up elsewhere with its own error)
FREE_FORM = {"device", "output_dir", "data.name", "data.root", "synthetic.preset", "model.init", "train.resume"}


def string_keys():
    cfg = Config()
    for section in dataclasses.fields(cfg):
        value = getattr(cfg, section.name)
        if dataclasses.is_dataclass(value):
            yield from (f"{section.name}.{f.name}" for f in dataclasses.fields(value)
                        if isinstance(getattr(value, f.name), str))
        elif isinstance(value, str):
            yield section.name


def test_every_string_key_is_a_choice_or_known_to_be_free():
    """A new string key must be added to CHOICES (or here, if any value is valid)."""
    keys = set(string_keys())
    assert keys - FREE_FORM == set(CHOICES), sorted((keys - FREE_FORM) ^ set(CHOICES))


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
        check_choices(load_config(path))


def test_train_stops_on_a_bad_evaluation_metric_before_training(tmp_path):
    """eval.metric used to be read first at the end of training: a typo cost the whole run."""
    out = subprocess.run([sys.executable, "tools/train.py", "--config", "configs/demo.yaml", "eval.metric=cosin",
                          f"output_dir={tmp_path / 'run'}", f"data.root={tmp_path / 'none'}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == ("error: config key 'eval.metric': 'cosin' is not one of "
                                                  "cosine, euclidean, sqeuclidean")
    assert "Traceback" not in out.stderr and not (tmp_path / "run").exists()
