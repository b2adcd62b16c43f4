"""check_vertical over every registered vertical, and the plug-in mistakes it catches."""

import numpy as np
import pytest
from toy_vertical import LogReg, NoisyHead, ToyAdapter, toy_vertical

from verticalkit.core.registry import get_vertical, list_verticals
from verticalkit.core.testing import VerticalCheckError, check_vertical


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
