"""Robustness of the command line (issue #15): nothing of the user's is overwritten, a broken
plug-in does not take the CLI down, ordinary events end in one line (no traceback), and YAML's
1.1 typing does not break string config keys."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import types
import typing
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.tools import cli
from verticalkit.core import registry
from verticalkit.core.tools.cli import main
from verticalkit.core.config import RunConfig, check_params, load_yaml, merge_into, parse_set
from verticalkit.core.errors import ConfigError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import RUN_MARKER, input_schema

TESTS = Path(__file__).parent


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


# -- predict --output = --input ---------------------------------------------------------------------------
@pytest.fixture
def toy_run_dir(toy, tmp_path):
    from toy_vertical import LogReg

    s = toy.tiny_data(0)
    Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy", task=s.task,
              input_schema=input_schema(s.train.X)).save(tmp_path / "run" / "model")
    return tmp_path / "run"


@pytest.mark.parametrize("how", ["same", "relative", "symlink", "symlinked-folder", "errors-file"])
def test_predict_refuses_to_overwrite_its_input(toy_run_dir, tmp_path, monkeypatch, capsys, how):
    data = tmp_path / "data"
    data.mkdir()
    inp = data / "in.csv"
    pd.DataFrame({"a": [1.0, "x", None], "b": ["2", "", 3.5]}).to_csv(inp, index=False)
    before = inp.read_bytes()
    monkeypatch.chdir(tmp_path)
    if how == "same":
        args = [str(inp), str(inp)]
    elif how == "relative":
        args = [str(inp), "data/../data/./in.csv"]
    elif how == "symlink":
        (tmp_path / "link.csv").symlink_to(inp)
        args = ["data/in.csv", str(tmp_path / "link.csv")]
    elif how == "symlinked-folder":
        (tmp_path / "alias").symlink_to(data, target_is_directory=True)
        args = [str(inp), "alias/in.csv"]
    else:  # the side file of bad rows would replace the input
        args = [str(inp), str(data / "in")]
        inp = data / "in.errors.csv"
        inp.write_bytes(before)
        args[0] = str(inp)
    assert main(["predict", str(toy_run_dir), "--input", args[0], "--output", args[1], "--quiet"]) == 2
    assert "would overwrite the input" in _one_error_line(capsys)
    assert inp.read_bytes() == before


def test_predict_to_another_file_still_works(toy_run_dir, tmp_path, capsys):
    inp = tmp_path / "in.csv"
    pd.DataFrame({"a": np.linspace(-1, 1, 7), "b": np.linspace(1, -1, 7)}).to_csv(inp, index=False)
    assert main(["predict", str(toy_run_dir), "--input", str(inp), "--output", str(tmp_path / "o.csv"), "--quiet"]) == 0
    assert len(pd.read_csv(tmp_path / "o.csv")) == 7


# -- train --out into a folder that is not a run ----------------------------------------------------------
@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("notes", [True, False], ids=["with-notes", "only-a-model-folder"])
def test_train_refuses_a_folder_of_user_files(toy, tmp_path, capsys, overwrite, notes):
    out = tmp_path / "mine"
    (out / "model").mkdir(parents=True)  # a folder named like a run output, holding the user's files
    (out / "model" / "thesis.tex").write_text("years of work")
    if notes:
        (out / "notes.txt").write_text("keep me")
    assert main(["train", "toy", "--out", str(out), *(["--overwrite"] if overwrite else [])]) == 2
    assert "not a verticalkit run" in _one_error_line(capsys)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == \
        ["model", "model/thesis.tex", *(["notes.txt"] if notes else [])]
    assert (out / "model" / "thesis.tex").read_text() == "years of work"


def test_train_into_an_empty_folder_then_overwrite_keeps_foreign_files(toy, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 0
    assert (out / "metrics.json").is_file() and (out / RUN_MARKER).is_file()
    (out / "my-notes.txt").write_text("mine")  # a user's file added to a run folder
    (out / "report.html").write_text("stale")
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 2  # complete: needs --overwrite
    assert "--overwrite" in _one_error_line(capsys)
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20", "--overwrite"]) == 0
    assert (out / "my-notes.txt").read_text() == "mine"
    assert (out / "report.html").read_text() != "stale" and (out / "metrics.json").is_file()


def test_overwrite_replaces_a_run_of_an_older_kit(toy, tmp_path):
    """A complete run written before the marker existed (config.yaml + metrics.json) is a run."""
    out = tmp_path / "old"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 0
    (out / RUN_MARKER).unlink()
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20", "--overwrite"]) == 0


@pytest.mark.parametrize("marker", [True, False], ids=["marker", "older-kit"])
def test_an_interrupted_torch_run_resumes_in_the_same_folder(tmp_path, monkeypatch, capsys, marker):
    from test_torch_head import MLPHead
    from toy_vertical import LogReg, toy_vertical

    from verticalkit.core.train import run as run_mod

    v = registry.register(toy_vertical(models={"logreg": LogReg, "mlp": MLPHead}))
    out = tmp_path / "run"
    args = ["train", "toy", "--model", "mlp", "--out", str(out), "--set", "train.epochs=3",
            "--set", "train.device=cpu", "--set", "train.progress=false", "--set", "eval.n_bootstrap=20"]
    try:
        with monkeypatch.context() as m:  # Ctrl-C once the weights are checkpointed
            m.setattr(run_mod, "write_artifacts", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
            assert main(args) == 130
        assert "interrupted" in capsys.readouterr().err
        assert any((out / "checkpoints").rglob("*.safetensors")) and not (out / "metrics.json").exists()
        if not marker:
            (out / RUN_MARKER).unlink()
        assert main(args) == 0
        assert (out / "metrics.json").is_file()
    finally:
        registry.unregister(v.id)


# -- broken and clashing plug-ins -------------------------------------------------------------------------
def _dist(site: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}")
    for mod, code in modules.items():
        (site / f"{mod}.py").write_text(code)


@pytest.fixture
def bad_plugins(tmp_path, monkeypatch):
    site = tmp_path / "site"
    _dist(site, "brokenplug", {"ghost": "brokenplug_missing_module:VERTICAL", "raiser": "raiser_mod:VERTICAL"},
          {"raiser_mod": "raise RuntimeError('boom at import')\n"})
    _dist(site, "dupplug", {"fraud": "dup_mod:VERTICAL"},
          {"dup_mod": "from toy_vertical import toy_vertical\nVERTICAL = toy_vertical(id='fraud', "
                      "description='IMPOSTOR')\n"})
    monkeypatch.syspath_prepend(str(site))
    builtins = [ep.name for ep in metadata.entry_points(group=registry.ENTRY_POINT_GROUP)
                if registry._package(ep) == "verticalkit"]
    if "fraud" not in builtins:
        pytest.skip("verticalkit's own entry points are not installed (pip install -e .)")
    monkeypatch.setattr(registry, "_warned", set())
    return site


def test_list_shows_broken_plugins_and_carries_on(bad_plugins, capsys):
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    assert "IMPOSTOR" not in out and "fraud: " in out and "medical_imaging: " in out
    ghost = next(line for line in out.splitlines() if line.startswith("ghost:"))
    assert "BROKEN" in ghost and "brokenplug" in ghost and "ModuleNotFoundError" in ghost
    raiser = next(line for line in out.splitlines() if line.startswith("raiser:"))
    assert "RuntimeError: boom at import" in raiser
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "dupplug" in warning[0] and "verticalkit" in warning[0] and "'fraud'" in warning[0]
    assert "Traceback" not in out + err


def test_the_builtin_wins_a_name_clash_and_broken_plugins_give_one_line(bad_plugins, tmp_path, capsys):
    with pytest.warns(registry.PluginWarning, match="dupplug"):
        assert registry.get_vertical("fraud").description != "IMPOSTOR"
    assert main(["train", "raiser", "--out", str(tmp_path / "r")]) == 2
    line = _one_error_line(capsys)
    assert "brokenplug" in line and "boom at import" in line and not (tmp_path / "r").exists()


# -- ordinary events: closed pipe, unexpected errors, Ctrl-C ----------------------------------------------
@pytest.mark.parametrize("args", [["data", "list"], ["--help"]])
def test_closed_pipe_ends_quietly(args):
    """`verticalkit list | head -1` once head has exited (`data list` and `--help`: the same main(),
    without importing every vertical in a subprocess)."""
    r, w = os.pipe()
    os.close(r)
    try:
        proc = subprocess.run([sys.executable, "-m", "verticalkit.core.tools.cli", *args], stdout=w,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    finally:
        os.close(w)
    assert proc.stderr == "", proc.stderr  # no traceback, no "Exception ignored ..." at exit
    assert proc.returncode == 141 or (args == ["--help"] and proc.returncode == 0)  # argparse ignores OSError


def _boom(args):
    raise RuntimeError("something odd\nsecond line")


def test_unexpected_error_is_one_line_and_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setattr(cli, "cmd_list", _boom)
    monkeypatch.delenv("VERTICALKIT_DEBUG", raising=False)
    assert main(["list"]) == 1
    line = _one_error_line(capsys)
    assert "RuntimeError: something odd" in line and "--debug" in line and "VERTICALKIT_DEBUG=1" in line
    with pytest.raises(RuntimeError, match="something odd"):
        main(["--debug", "list"])
    monkeypatch.setenv("VERTICALKIT_DEBUG", "1")
    with pytest.raises(RuntimeError, match="something odd"):
        main(["list"])


def test_ctrl_c_is_one_line_exit_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_list", interrupted)
    assert main(["list"]) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["interrupted"]


# -- YAML 1.1 typing of string config keys ----------------------------------------------------------------
TRAPS = ["no", "yes", "off", "On", "y", "NO", "1.0e3", "1e3", "12", "0x1F", "null", "~", "True", "3.5"]


def _str_keys() -> list[str]:
    """Every config key typed str (or str | None) of the config dataclasses."""
    keys = []

    def walk(cls, prefix):
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            tp = hints[f.name]
            if dataclasses.is_dataclass(tp):
                walk(tp, f"{prefix}{f.name}.")
            elif tp is str or (typing.get_origin(tp) in (typing.Union, types.UnionType) and str in typing.get_args(tp)):
                keys.append(prefix + f.name)
    walk(RunConfig, "")
    return keys


@pytest.mark.parametrize("key", _str_keys())
def test_every_string_key_keeps_the_text_from_set_and_yaml(tmp_path, key):
    assert "train.mixed_precision" in _str_keys() and "train.device" in _str_keys()
    section, _, name = key.rpartition(".")
    for text in TRAPS:
        cfg = RunConfig()
        merge_into(cfg, parse_set([f"{key}={text}"]), "")
        got = getattr(cfg.train if section == "train" else cfg.eval if section == "eval" else cfg, name)
        assert got == text, (key, text, got)
        f = tmp_path / "c.yaml"
        f.write_text(f"{section}:\n  {name}: {text}\n" if section else f"{name}: {text}\n")
        cfg = RunConfig()
        merge_into(cfg, load_yaml(f), "")
        assert getattr(cfg.train if section == "train" else cfg.eval if section == "eval" else cfg, name) == text


@pytest.mark.parametrize("precision", ["no", "fp16", "bf16", "fp8"])
def test_accelerate_precisions_from_set_and_config_file(toy, tmp_path, precision):
    from verticalkit.core.train.run import build_config

    cfg = build_config("toy", None, None, str(tmp_path / "r"), sets=[f"train.mixed_precision={precision}"])
    assert cfg.train.mixed_precision == precision
    f = tmp_path / "c.yaml"
    f.write_text(f"train:\n  mixed_precision: {precision}\n  epochs: 2\n")
    cfg = build_config("toy", None, None, str(tmp_path / "r"), config_file=str(f))
    assert cfg.train.mixed_precision == precision and cfg.train.epochs == 2


def test_fp8_reaches_accelerate_and_its_refusal_is_a_config_error():
    from test_trainer import _trainer

    try:
        trainer = _trainer(mixed_precision="fp8")
    except ConfigError as e:  # no transformer_engine / torchao here: accelerate's reason, one line
        assert "train.mixed_precision=fp8" in str(e) and "\n" not in str(e)
    else:
        assert trainer.accelerator.mixed_precision == "fp8"


def test_typed_keys_still_typed_and_free_sections_keep_text():
    cfg = RunConfig()
    merge_into(cfg, parse_set(["train.epochs=3", "train.max_grad_norm=null", "train.progress=no", "train.lr=1"]), "")
    assert cfg.train.epochs == 3 and cfg.train.max_grad_norm is None and cfg.train.progress is False
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)
    with pytest.raises(ConfigError, match="expects int"):
        merge_into(RunConfig(), parse_set(["train.epochs=no"]), "")
    # data / model_params: typed by the adapter's / head's defaults, known only at check_params
    merge_into(cfg, parse_set(["data.voi=no", "data.image_size=32", "data.window_center=null"]), "")
    out = check_params(cfg.data, {"voi": "auto", "image_size": 128, "window_center": None}, "data")
    assert out == {"voi": "no", "image_size": 32, "window_center": None}


def test_dataset_string_params_keep_their_text_end_to_end(tmp_path):
    from verticalkit.core.train.run import build_config

    f = tmp_path / "c.yaml"
    f.write_text("data:\n  label_column: yes\n  key_column: 1.0e3\n  image_size: 16\n")
    cfg = build_config("medical_imaging", "dicom-folder", "logreg", str(tmp_path / "r"), config_file=str(f),
                       sets=["data.voi=off"])
    assert cfg.data["label_column"] == "yes" and cfg.data["key_column"] == "1.0e3" and cfg.data["voi"] == "off"
    assert cfg.data["image_size"] == 16
