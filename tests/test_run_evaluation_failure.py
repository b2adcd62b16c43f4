"""A failed evaluation never loses the trained model: the model folder is complete and loadable, the CLI
prints one ``error:`` line naming the cause and where the model is, and ``verticalkit evaluate`` finishes
the run (metrics.json, predictions, report, model card)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from toy_vertical import ToyAdapter, toy_vertical

from verticalkit.core.tools.cli import main
from verticalkit.core.errors import DataError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.registry import register, unregister


@pytest.fixture
def exploding(monkeypatch):
    """The toy vertical with an extra metric that raises while ``state["raise"]`` holds an exception."""
    state: dict = {"raise": RuntimeError("metric exploded")}

    def boom(y, scores, meta=None) -> float:
        if state["raise"] is not None:
            raise state["raise"]
        return float(np.mean(scores))

    v = register(toy_vertical(metrics={"boom": boom}))
    yield state
    unregister(v.id)


@pytest.mark.parametrize("cause, code, needle", [(RuntimeError("metric exploded"), 1, "RuntimeError: metric exploded"),
                                                 (DataError("column 'x' is odd"), 2, "column 'x' is odd")])
def test_failed_evaluation_keeps_the_model_and_evaluate_completes_the_run(exploding, tmp_path, capsys, cause, code,
                                                                         needle):
    exploding["raise"] = cause
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == code
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert "evaluation failed" in err and needle in err and str(out / "model") in err
    assert f"verticalkit evaluate {out}" in err
    # the model folder is complete and loads; the run is not marked complete
    assert not (out / "metrics.json").exists() and (out / "config.yaml").is_file()
    pending = json.loads((out / "evaluation_pending.json").read_text())
    assert pending["train_seconds"] is not None and needle in pending["error"]
    split = ToyAdapter(n=300).load().test
    scores = Predictor.load(out / "model").predict_score(split.X)
    assert scores.shape == (len(split),) and np.all((scores >= 0) & (scores <= 1))
    assert not (out / ".staging").exists()

    exploding["raise"] = None  # the cause fixed: evaluate finishes the run in place
    assert main(["evaluate", str(out)]) == 0
    capsys.readouterr()
    for name in ("metrics.json", "predictions.parquet", "report.html", "model_card.md"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["split"] == "test" and m["train_seconds"] == pending["train_seconds"] and "boom" in m["metrics"]
    assert not (out / "evaluation_pending.json").exists() and not (out / "eval").exists()
    # now a complete run: training into it again is refused, evaluate writes eval/<dataset>-<split>/
    assert main(["train", "toy", "--out", str(out)]) == 2
    assert main(["evaluate", str(out), "--split", "val"]) == 0
    assert (out / "eval" / "toy-val" / "metrics.json").is_file()


def test_training_again_over_a_pending_run_completes_it(exploding, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 1
    exploding["raise"] = None
    assert main(["train", "toy", "--out", str(out), "--set", "eval.n_bootstrap=20"]) == 0
    assert (out / "metrics.json").is_file() and not (out / "evaluation_pending.json").exists()
