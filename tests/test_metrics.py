"""Metrics: equal to direct scikit-learn calls, NaN when undefined, and the batched
(bootstrap) path equal to the scalar path on resampled rows."""

import numpy as np
import pytest
from sklearn import metrics as skm

from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import ConfigError
from verticalkit.core.evaluate.metrics import LOWER_IS_BETTER, core_metrics, metric_fn, quadratic_weighted_kappa, qwk_batch

BIN = Task(kind="binary", target="y", primary_metric="auprc", classes=["no", "yes"])
MC = Task(kind="multiclass", target="c", primary_metric="roc_auc", classes=["a", "b", "c", "d"])
ML = Task(kind="multilabel", target="l", primary_metric="roc_auc", classes=["p", "q", "r"])
ORD = Task(kind="ordinal", target="s", primary_metric="qwk", score_range=(0, 5))
REG = Task(kind="regression", target="v", primary_metric="rmse")


def binary_data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    p = np.round(np.clip(0.2 + 0.4 * y + 0.2 * rng.normal(size=n), 0, 1), 2)  # rounded: ties on purpose
    return y, p


def multiclass_data(n=400, k=4, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    P = rng.dirichlet(np.ones(k), n)
    P[np.arange(n), y] += 0.6
    return y, P / P.sum(1, keepdims=True)


def multilabel_data(n=400, k=3, seed=2):
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, k)) < 0.3).astype(int)
    return Y, np.clip(0.35 * Y + 0.65 * rng.random((n, k)), 0, 1)


def ordinal_data(n=400, seed=3):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 6, n)
    return y, y + rng.normal(0, 0.9, n)


def regression_data(n=400, seed=4):
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    return y, y + rng.normal(0, 0.5, n)


def test_binary_matches_sklearn():
    y, p = binary_data()
    m = core_metrics(BIN)
    h = (p >= 0.5).astype(int)
    assert m["roc_auc"](y, p) == pytest.approx(skm.roc_auc_score(y, p))
    assert m["auprc"](y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert m["gini"](y, p) == pytest.approx(2 * skm.roc_auc_score(y, p) - 1)
    assert m["brier"](y, p) == pytest.approx(skm.brier_score_loss(y, p))
    assert m["accuracy"](y, p) == pytest.approx(skm.accuracy_score(y, h))
    assert m["balanced_accuracy"](y, p) == pytest.approx(skm.balanced_accuracy_score(y, h))
    assert m["f1"](y, p) == pytest.approx(skm.f1_score(y, h))
    assert m["precision"](y, p) == pytest.approx(skm.precision_score(y, h))
    assert m["sensitivity"](y, p) == pytest.approx(skm.recall_score(y, h))
    assert m["specificity"](y, p) == pytest.approx(skm.recall_score(1 - y, 1 - h))
    fpr, tpr, _ = skm.roc_curve(y, p)
    assert m["ks"](y, p) == pytest.approx(np.max(tpr - fpr))


def test_multiclass_matches_sklearn():
    y, P = multiclass_data()
    m = core_metrics(MC)
    pred = P.argmax(1)
    assert m["roc_auc"](y, P) == pytest.approx(skm.roc_auc_score(y, P, multi_class="ovr", average="macro"))
    onehot = np.eye(4)[y]
    assert m["auprc"](y, P) == pytest.approx(skm.average_precision_score(onehot, P, average="macro"))
    for j in range(4):
        assert m[f"roc_auc_class{j}"](y, P) == pytest.approx(skm.roc_auc_score(y == j, P[:, j]))
        assert m[f"auprc_class{j}"](y, P) == pytest.approx(skm.average_precision_score(y == j, P[:, j]))
    assert m["accuracy"](y, P) == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"](y, P) == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["f1_macro"](y, P) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["log_loss"](y, P) == pytest.approx(skm.log_loss(y, P))


def test_multilabel_matches_sklearn():
    Y, P = multilabel_data()
    m = core_metrics(ML)
    assert m["roc_auc"](Y, P) == pytest.approx(skm.roc_auc_score(Y, P, average="macro"))
    assert m["auprc"](Y, P) == pytest.approx(skm.average_precision_score(Y, P, average="macro"))
    assert m["roc_auc_class2"](Y, P) == pytest.approx(skm.roc_auc_score(Y[:, 2], P[:, 2]))
    H = (P >= 0.5).astype(int)
    assert m["subset_accuracy"](Y, P) == pytest.approx(skm.accuracy_score(Y, H))
    assert m["accuracy"](Y, P) == pytest.approx(np.mean([skm.accuracy_score(Y[:, j], H[:, j]) for j in range(3)]))
    assert m["f1_macro"](Y, P) == pytest.approx(skm.f1_score(Y, H, average="macro", zero_division=0))


def test_ordinal_and_regression_match_sklearn():
    y, pred = ordinal_data()
    m = core_metrics(ORD)
    want = skm.cohen_kappa_score(y, np.clip(np.rint(pred), 0, 5).astype(int), weights="quadratic", labels=range(6))
    assert m["qwk"](y, pred) == pytest.approx(want)
    assert quadratic_weighted_kappa(y, pred, 0, 5) == pytest.approx(want)
    idx = np.random.default_rng(0).integers(0, len(y), len(y))
    W = np.stack([np.ones(len(y)), np.bincount(idx, minlength=len(y))])
    np.testing.assert_allclose(qwk_batch(y, pred, W, 0, 5), [want, quadratic_weighted_kappa(y[idx], pred[idx], 0, 5)])
    assert m["exact_agreement"](y, pred) == pytest.approx(np.mean(np.clip(np.rint(pred), 0, 5) == y))
    y, pred = regression_data()
    m = core_metrics(REG)
    assert "qwk" not in m  # no score_range: QWK is not defined for free regression
    assert m["mae"](y, pred) == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["rmse"](y, pred) == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)))
    assert m["r2"](y, pred) == pytest.approx(skm.r2_score(y, pred))
    assert m["pearson"](y, pred) == pytest.approx(np.corrcoef(y, pred)[0, 1])


def test_qwk_only_for_a_discrete_scale():
    """A score_range alone (a bounded continuous target) adds no QWK; a discrete scale does."""
    bounded = Task(kind="regression", target="v", primary_metric="rmse", score_range=(0.0, 1.0))
    assert "qwk" not in core_metrics(bounded)
    rated = Task(kind="regression", target="v", primary_metric="qwk", score_range=(0.0, 4.0), discrete=True)
    y = np.array([0, 1, 2, 3, 4, 2.0])
    assert core_metrics(rated)["qwk"](y, y + 0.2) == pytest.approx(1.0)
    assert Task.from_dict(rated.to_dict()).discrete and not Task.from_dict({**bounded.to_dict(), "discrete": None}).discrete


def test_undefined_metrics_return_nan():
    y0 = np.zeros(10, dtype=int)
    p = np.linspace(0, 1, 10)
    m = core_metrics(BIN)
    for name in ("roc_auc", "auprc", "gini", "ks"):
        assert np.isnan(m[name](y0, p)), name
    assert np.isnan(core_metrics(MC)["roc_auc"](np.zeros(5, int), np.full((5, 4), 0.25)))
    assert np.isnan(core_metrics(REG)["pearson"](np.ones(5), np.arange(5.0)))


CASES = [(BIN, binary_data), (MC, multiclass_data), (ML, multilabel_data), (ORD, ordinal_data),
         (Task(kind="ordinal", target="s", primary_metric="qwk"), ordinal_data), (REG, regression_data),
         (Task(kind="regression", target="v", primary_metric="qwk", score_range=(-2, 2), discrete=True),
          regression_data)]


@pytest.mark.parametrize("task,make", CASES, ids=[f"{t.kind}{i}" for i, (t, _) in enumerate(CASES)])
def test_batched_path_equals_sklearn_on_resamples(task, make):
    """fn.batch with multiplicity weights == fn on the resampled rows, for every core metric."""
    y, s = make()
    fns = core_metrics(task)
    rng = np.random.default_rng(7)
    idx = [rng.integers(0, len(y), len(y)) for _ in range(3)] + [rng.integers(0, 25, len(y))]  # last: few rows
    W = np.stack([np.bincount(i, minlength=len(y)) for i in idx]).astype(float)
    for name, fn in fns.items():
        got = fn.batch(y, s, None, W)
        want = np.array([fn(y[i], s[i]) for i in idx])
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True, err_msg=name)


def test_metric_fn_direction_and_unknown_name():
    y, p = binary_data()
    assert metric_fn(BIN, "brier")(y, p) == pytest.approx(-skm.brier_score_loss(y, p))
    assert metric_fn(BIN, "auprc")(y, p) == pytest.approx(skm.average_precision_score(y, p))
    assert {"brier", "ece", "mae", "rmse", "log_loss"} <= LOWER_IS_BETTER
    yr, pr = regression_data()
    assert metric_fn(REG, "mae")(yr, pr) < 0
    extra = {"custom": lambda y, s, meta=None: 0.25}
    assert metric_fn(BIN, "custom", extra=extra)(y, p) == 0.25
    with pytest.raises(ConfigError, match="unknown metric 'nope'.*auprc"):
        metric_fn(BIN, "nope")
