"""The multioutput task kind: per-output metrics with NaN targets, their means, MCRMSE, bootstrap CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import DataError
from verticalkit.core.evaluate.evaluator import evaluate, metrics_json
from verticalkit.core.evaluate.metrics import metric_fn, output_name, regression_metrics, task_metrics


def _data(n=120, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 5, size=(n, 3)).astype(float)
    s = np.clip(y + rng.normal(0, 0.7, size=y.shape), 0, 4)
    y[: n // 3, 2] = np.nan  # the first third has no third output...
    s[: n // 3, 2] = np.nan  # ...and no prediction for it
    return y, s


TASK = Task(kind="multioutput", target="traits", primary_metric="rmse", classes=["Content", "Word Choice", "x"],
            score_range=(0.0, 4.0), discrete=True)


def test_per_output_metrics_equal_the_one_target_metric_on_present_rows():
    y, s = _data()
    fns = task_metrics(TASK)
    one = regression_metrics(Task(kind="regression", target="t", primary_metric="rmse", score_range=(0.0, 4.0),
                                  discrete=True))
    for j, name in enumerate(TASK.classes):
        m = ~np.isnan(y[:, j])
        for metric in ("rmse", "mae", "qwk", "pearson"):
            assert fns[f"{metric}_{output_name(name)}"](y, s) == pytest.approx(one[metric](y[m, j], s[m, j]))
    per = [fns[f"rmse_{output_name(c)}"](y, s) for c in TASK.classes]
    assert fns["mcrmse"](y, s) == pytest.approx(np.mean(per)) == pytest.approx(fns["rmse"](y, s))
    assert output_name("Word Choice") == "word_choice"


def test_extra_metrics_are_applied_per_output():
    y, s = _data()
    calls = []

    def mean_error(yt, st, meta=None):
        calls.append(len(yt))
        return float(np.mean(st - yt))

    fns = task_metrics(TASK, {"bias": mean_error})
    assert fns["bias_x"](y, s) == pytest.approx(np.nanmean(s[:, 2] - y[:, 2]))
    assert 80 in calls  # the third output saw only its 80 present rows


def test_evaluate_multioutput_has_cis_for_every_output_and_fast_path_matches_loop():
    y, s = _data()
    meta = pd.DataFrame({"prompt": np.arange(len(y)) % 2})
    res = evaluate(TASK, y, s, meta=meta, seed=3)
    doc = metrics_json(res, vertical="v", dataset="d", model="m", split="test", n=len(y), seed=3,
                       train_seconds=None, versions={})
    for name in ("mcrmse", "rmse_content", "rmse_word_choice", "qwk_x", "qwk"):
        lo, hi = doc["metrics"][name]["ci95"]
        assert lo is not None and lo <= doc["metrics"][name]["value"] <= hi
    assert {r["group"] for r in doc["subgroups"]["prompt"]} == {"0", "1"}
    # the batched bootstrap equals the per-replicate loop (same index sets)
    from verticalkit.core.evaluate.bootstrap import bootstrap_ci

    fn = task_metrics(TASK)["rmse_x"]
    looped = bootstrap_ci({"r": lambda a, b, m=None: fn(a, b, m)}, y, s, n=100, seed=1)["r"]["ci95"]
    batched = bootstrap_ci({"r": fn}, y, s, n=100, seed=1)["r"]["ci95"]
    assert looped == pytest.approx(batched)


def test_multioutput_input_checks_and_sign():
    y, s = _data()
    with pytest.raises(DataError, match="multioutput y_true and scores must both have shape"):
        evaluate(TASK, y, s[:, :2])
    s2 = s.copy()
    s2[-1, 0] = np.nan  # a missing prediction where the target is present
    with pytest.raises(DataError, match="NaN or inf in 1 entries"):
        evaluate(TASK, y, s2)
    assert metric_fn(TASK, "rmse_content")(y, s) < 0 and metric_fn(TASK, "qwk_content")(y, s) > 0
