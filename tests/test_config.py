import pytest

from reid.config import Config, apply_overrides, config_from_dict, load_config
from reid.errors import ConfigError


def test_defaults_round_trip():
    cfg = config_from_dict({})
    assert isinstance(cfg, Config)
    assert cfg.train.loss_level == "clip"
    assert cfg.loss.terms[0].name == "osm_caa"


def test_unknown_key_names_key_and_nearest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  iteratons: 5\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    msg = str(err.value)
    assert "train.iteratons" in msg and "train.iterations" in msg and str(path) in msg


def test_unknown_section():
    with pytest.raises(ConfigError, match="modle"):
        config_from_dict({"modle": {}})


@pytest.mark.parametrize("data, key", [
    ({"train": {"iterations": "ten"}}, "train.iterations"),
    ({"train": {"iterations": 1.5}}, "train.iterations"),
    ({"train": {"channels_last": "yes"}}, "train.channels_last"),
    ({"train": {"amp": True}}, "train.amp' was replaced by train.precision"),
    ({"train": {"warmup_iters": 100}}, "train.warmup_iters' was replaced by train.warmup"),
    ({"train": {"lr_steps": 3}}, "train.lr_steps"),
    ({"data": {"name": 3}}, "data.name"),
    ({"data": 5}, "data"),
])
def test_type_errors_name_the_key(data, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        config_from_dict(data)


def test_int_to_float_allowed():
    assert config_from_dict({"train": {"lr": 1}}).train.lr == 1.0


def test_overrides_parse_yaml_values(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  iterations: 5\n")
    cfg = load_config(path, ["train.iterations=7", "train.lr_steps=[0.5, 0.75]", "data.root=/x/y",
                             "loss.terms=[{name: triplet, weight: 0.5}]"])
    assert cfg.train.iterations == 7
    assert cfg.train.lr_steps == [0.5, 0.75]
    assert cfg.data.root == "/x/y"
    from reid.config import TripletTerm

    assert cfg.loss.terms == [TripletTerm(weight=0.5)]


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        apply_overrides({}, ["train.iterations"])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_shipped_configs_load():
    from pathlib import Path

    configs = sorted(Path(__file__).resolve().parents[1].joinpath("configs").glob("*.yaml"))
    assert configs
    for path in configs:
        load_config(path)
