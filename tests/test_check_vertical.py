"""check_vertical over every registered vertical, and the plug-in mistakes it catches."""

import numpy as np
import pytest
from toy_vertical import LogReg, NoisyHead, ToyAdapter, toy_vertical

from verticalkit.core.data.adapter import Task
from verticalkit.core.registry import get_vertical, list_verticals, register, unregister
from verticalkit.core.tools.testing import VerticalCheckError, check_vertical, protocol_matches


@pytest.mark.parametrize("vertical_id", [v for v in list_verticals() if v != "toy"])
def test_every_registered_vertical_conforms(vertical_id):
    report = check_vertical(get_vertical(vertical_id))
    assert report["models"] and all(m["reloaded_identical"] for m in report["models"].values())
    assert "prior" in report["baselines"] and ("simple" in report["baselines"]) == bool(
        get_vertical(vertical_id).baseline_model)


def test_toy_passes():
    report = check_vertical(toy_vertical())
    assert report["models"]["logreg"]["reloaded_identical"]
    assert set(report["baselines"]) == {"prior"}
    assert set(check_vertical(toy_vertical(baseline_model="logreg"))["baselines"]) == {"prior", "simple"}


def test_catches_seed_ignoring_head():
    with pytest.raises(VerticalCheckError, match="trained twice with seed.*random_state"):
        check_vertical(toy_vertical(models={"logreg": LogReg, "noisy": NoisyHead}))


def test_catches_overlapping_splits():
    def overlapping(seed):
        s = ToyAdapter(seed=seed, n=200).load()
        s.test = s.train.subset(np.arange(10))
        return s

    with pytest.raises(VerticalCheckError, match="splits overlap.*train and test"):
        check_vertical(toy_vertical(tiny_data=overlapping))


def test_catches_missing_and_malformed_reference_results(tmp_path):
    with pytest.raises(VerticalCheckError, match="reference results.*not found"):
        check_vertical(toy_vertical(reference_results=tmp_path / "none.yaml"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("- dataset: toy\n  model: logreg\n  metric: roc_auc\n  value: 0.9\n")
    with pytest.raises(VerticalCheckError, match="lacks.*tolerance"):
        check_vertical(toy_vertical(reference_results=bad))


class Forgetful(LogReg):
    """Loses a fitted attribute on save: reload gives other outputs."""

    def predict_proba(self, X):
        p = super().predict_proba(X)
        return p if getattr(self, "calibrated_", False) else p[:, ::-1]

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        super().fit(X, y)
        self.calibrated_ = True
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("calibrated_", None)
        return state


def test_catches_model_that_does_not_reload():
    with pytest.raises(VerticalCheckError, match="does not reload to identical outputs"):
        check_vertical(toy_vertical(models={"logreg": LogReg, "forgetful": Forgetful}))


# -- reference entries against the adapter: metric of the task kind, protocol -------------------

REF = """- dataset: {dataset}
  protocol: {protocol}
  model: {model}
  metric: {metric}
  value: 0.5
  seeds: [42]
  tolerance: 0.5
  anchors: []
  command: verticalkit reproduce {vid}
"""


def _refs(tmp_path, name="refs.yaml", dataset="toy", protocol="stratified-70-10-20-seed42", model="logreg",
          metric="roc_auc", vid="toy"):
    f = tmp_path / name
    f.write_text(REF.format(dataset=dataset, protocol=protocol, model=model, metric=metric, vid=vid))
    return f


class ToyRegression(ToyAdapter):
    """The toy data with a continuous target; declares nothing (kinds come from tiny_data)."""

    id = "toy-reg"
    protocols, task_kinds = (), ()

    def load(self):
        s = super().load()
        for part in (s.train, s.val, s.test):
            part.y = part.X["a"].to_numpy() * 2.0 + 0.1 * np.arange(len(part.y))
        s.dataset = "toy-reg"
        s.task = Task(kind="regression", target="y", primary_metric="rmse")
        return s


class Ridge(LogReg):
    def fit(self, X, y, X_val=None, y_val=None, context=None):
        from sklearn.linear_model import Ridge as R

        self.model_ = R().fit(np.asarray(X), y)
        return self

    def predict(self, X):
        return self.model_.predict(np.asarray(X))


def regression_toy(refs):
    return toy_vertical(id="toyreg", datasets={"toy-reg": ToyRegression}, models={"ridge": Ridge},
                        primary_metric="rmse", default_dataset="toy-reg", default_model="ridge",
                        reference_results=refs, tiny_data=lambda seed: ToyRegression(seed=seed, n=200).load())


def test_catches_metric_of_another_task_kind(tmp_path):
    # roc_auc on a regression task (the kind read from the tiny data's task)
    bad = _refs(tmp_path, dataset="toy-reg", protocol="stratified", model="ridge", metric="roc_auc", vid="toyreg")
    with pytest.raises(VerticalCheckError, match="metric 'roc_auc', which a regression task does not have"):
        check_vertical(regression_toy(bad))
    good = _refs(tmp_path, "good.yaml", dataset="toy-reg", protocol="stratified", model="ridge", metric="rmse",
                 vid="toyreg")
    assert check_vertical(regression_toy(good))["models"]["ridge"]["reloaded_identical"]


def test_catches_metric_outside_declared_task_kinds(tmp_path):
    # the toy adapter declares task_kinds=("binary",): rmse is not a binary metric
    with pytest.raises(VerticalCheckError, match="metric 'rmse', which a binary task"):
        check_vertical(toy_vertical(reference_results=_refs(tmp_path, metric="rmse")))


def test_catches_protocol_that_is_not_the_adapters(tmp_path):
    with pytest.raises(VerticalCheckError, match="protocol 'temporal-80-20', but adapter ToyAdapter splits by "
                                                 "'stratified'"):
        check_vertical(toy_vertical(reference_results=_refs(tmp_path, protocol="temporal-80-20")))
    # a prefix that merely shares letters is not the same protocol
    with pytest.raises(VerticalCheckError, match="protocol 'stratifiedish'"):
        check_vertical(toy_vertical(reference_results=_refs(tmp_path, protocol="stratifiedish")))


def test_protocol_match_rule():
    assert protocol_matches("5-fold", "5-fold") and protocol_matches("stratified-80-20-seed42", "stratified-80-20")
    assert protocol_matches("cts-split+asap-folds-7-8", "cts-split")
    assert not protocol_matches("temporal-80-20", "stratified") and not protocol_matches("5-folds", "5-fold")


def test_catches_unknown_vertical_primary_metric():
    with pytest.raises(VerticalCheckError, match="primary_metric 'qwk' is not a metric of its tasks"):
        check_vertical(toy_vertical(primary_metric="qwk"))


def test_cli_check_vertical(tmp_path, capsys):
    from verticalkit.core.tools.cli import main

    register(toy_vertical())
    try:
        assert main(["check-vertical", "toy"]) == 0
        assert "OK toy: 1 reference entries (1 with a declared protocol), models logreg" in capsys.readouterr().out
        register(toy_vertical(reference_results=_refs(tmp_path, protocol="temporal-80-20")))
        assert main(["check-vertical", "toy"]) == 1
        err = capsys.readouterr().err
        assert err.startswith("FAIL vertical 'toy': reference entry 0 (toy/logreg) says protocol") and "Fix:" in err
    finally:
        unregister("toy")
    assert main(["check-vertical", "no_such_vertical"]) == 2
    assert "error: unknown vertical 'no_such_vertical'" in capsys.readouterr().err
