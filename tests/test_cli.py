"""CLI behaviour: bad input gives one clear error line, exit 2, and no complete-looking run."""

import json

import pandas as pd
import pytest

from verticalkit.core.tools.cli import main


def test_list_shows_registered(toy, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "toy: toy vertical" in out and "logreg" in out


@pytest.mark.parametrize("args, needle", [
    (["--set", "train.epoch=3"], "unknown config key 'train.epoch'"),
    (["--set", "train.epochs=three"], "expects int"),
    (["--set", "data.rows=3"], "unknown config key 'data.rows'"),
    (["--set", "model_params.C=high"], "model_params.C' expects float"),
    (["--model", "svm"], "no model 'svm'"),
    (["--dataset", "other"], "no dataset 'other'"),
])
def test_train_bad_input_exit_2_no_run_dir(toy, tmp_path, capsys, args, needle):
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0]
    assert not out.exists()


def test_config_file_errors(toy, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 2\n  bogus: 1\n")
    assert main(["train", "toy", "--out", str(tmp_path / "r"), "--config", str(cfg)]) == 2
    assert "train.bogus" in capsys.readouterr().err


def test_missing_run_dir_is_clear(tmp_path, capsys):
    assert main(["predict", str(tmp_path / "nope"), "--input", "x.csv", "--output", "y.csv"]) == 2
    assert "predictor.json not found" in capsys.readouterr().err


def test_help_for_every_command(capsys):
    for cmd in ("list", "train", "evaluate", "predict", "reproduce", "data"):
        with pytest.raises(SystemExit) as e:
            main([cmd, "--help"])
        assert e.value.code == 0
    assert "--set" in capsys.readouterr().out


def test_train_evaluate_predict_end_to_end(toy, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=50"]) == 0
    for name in ("config.yaml", "model/predictor.json", "metrics.json", "predictions.parquet", "report.html",
                 "model_card.md"):
        assert (out / name).exists(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["vertical"] == "toy" and m["primary"] == "roc_auc" and m["split"] == "test" and m["n"] == 60
    lo, hi = m["metrics"]["roc_auc"]["ci95"]
    assert lo <= m["metrics"]["roc_auc"]["value"] <= hi and m["metrics"]["roc_auc"]["value"] > 0.7
    assert set(m) >= {"vertical", "dataset", "model", "split", "n", "seed", "metrics", "primary", "train_seconds",
                      "versions"}
    # a complete run is not overwritten silently
    assert main(["train", "toy", "--out", str(out)]) == 2
    assert main(["evaluate", str(out), "--split", "val"]) == 0
    assert (out / "eval" / "toy-val" / "metrics.json").exists()
    inp = tmp_path / "in.csv"
    pd.DataFrame({"a": [0.1, -2.0, 3.0], "b": [0.0, -1.0, 2.0]}).to_csv(inp, index=False)
    assert main(["predict", str(out), "--input", str(inp), "--output", str(tmp_path / "o.csv"), "--quiet"]) == 0
    pred = pd.read_csv(tmp_path / "o.csv")
    assert list(pred["id"]) == [0, 1, 2] and pred["score"].between(0, 1).all()
    assert pred["score"].iloc[2] > pred["score"].iloc[1]


def test_data_list_finds_the_installed_cards(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "german-credit" in out and "simulated-transactions" in out
    assert "generated on demand" in out.split("simulated-transactions")[1].splitlines()[0]
