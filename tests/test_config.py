import pytest

from verticalkit.core.config import RunConfig, check_params, load_yaml, merge_into, parse_set
from verticalkit.core.errors import ConfigError


def test_parse_set_nested_and_typed():
    d = parse_set(["train.epochs=5", "train.lr=0.01", "data.path=/x", "train.max_grad_norm=null", "seed=7"])
    assert d == {"train": {"epochs": 5, "lr": 0.01, "max_grad_norm": None}, "data": {"path": "/x"}, "seed": 7}


def test_merge_applies_and_coerces_int_to_float():
    cfg = RunConfig()
    merge_into(cfg, {"train": {"epochs": 3, "lr": 1}, "seed": 9}, "")
    assert cfg.train.epochs == 3 and cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float) and cfg.seed == 9


def test_unknown_key_lists_valid_ones():
    with pytest.raises(ConfigError) as e:
        merge_into(RunConfig(), {"train": {"epoch": 3}}, "")
    msg = str(e.value)
    assert "'train.epoch'" in msg and "epochs" in msg and "batch_size" in msg


def test_wrong_type_names_key_and_type():
    with pytest.raises(ConfigError, match=r"train.epochs.*expects int.*'five'"):
        merge_into(RunConfig(), parse_set(["train.epochs=five"]), "")
    with pytest.raises(ConfigError, match="expects int"):
        merge_into(RunConfig(), {"train": {"epochs": True}}, "")


def test_section_given_a_scalar_is_an_error():
    with pytest.raises(ConfigError, match="is a section"):
        merge_into(RunConfig(), {"train": 3}, "")


def test_check_params_free_sections():
    out = check_params({"C": 2}, {"C": 1.0, "max_iter": 100}, "model_params")
    assert out == {"C": 2.0, "max_iter": 100}
    with pytest.raises(ConfigError, match=r"model_params.c'.*C, max_iter"):
        check_params({"c": 2}, {"C": 1.0, "max_iter": 100}, "model_params")
    with pytest.raises(ConfigError, match="expects int"):
        check_params({"max_iter": "many"}, {"C": 1.0, "max_iter": 100}, "model_params")


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml(bad)
    lst = tmp_path / "list.yaml"
    lst.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml(lst)
