import json

import numpy as np
import pytest

from verticalkit.core.errors import ConfigError, ModelLoadError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.registry import get_vertical, list_verticals


def _fit(toy):
    splits = toy.tiny_data(0)
    head = toy.models["logreg"]().fit(splits.train.X, splits.train.y)
    return splits, Predictor(head, vertical="toy", model="logreg", dataset="toy", task=splits.task)


def test_registry_lists_registered_and_errors_on_unknown(toy):
    assert "toy" in list_verticals()
    assert get_vertical("toy") is toy
    with pytest.raises(ConfigError, match="unknown vertical 'nope'.*toy"):
        get_vertical("nope")
    with pytest.raises(ConfigError, match="no model 'x'.*logreg"):
        toy.model("x")


def test_predictor_roundtrip_identical(toy, tmp_path):
    splits, pred = _fit(toy)
    pred.save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m")
    np.testing.assert_allclose(again.predict_score(splits.test.X), pred.predict_score(splits.test.X), rtol=0, atol=1e-12)
    assert again.task.to_dict() == splits.task.to_dict()
    assert pred.predict_score(splits.test.X).shape == (len(splits.test),)


def test_incompatible_version_fails_clearly(toy, tmp_path):
    _, pred = _fit(toy)
    pred.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "predictor.json").read_text())
    meta["format_version"] = 99
    (tmp_path / "m" / "predictor.json").write_text(json.dumps(meta))
    with pytest.raises(ModelLoadError, match="format 99.*retrain"):
        Predictor.load(tmp_path / "m")


def test_skops_refuses_untrusted_types(toy, tmp_path):
    import skops.io as sio

    class Evil:  # a type outside sklearn/numpy/verticalkit
        pass

    _, pred = _fit(toy)
    pred.head.extra_ = Evil()
    pred.save(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="refusing to load"):
        Predictor.load(tmp_path / "m")
    assert sio  # skops is the persistence format


def test_predict_proba_refused_for_regression(toy):
    _, pred = _fit(toy)
    pred.task.kind = "regression"
    with pytest.raises(TypeError, match="predict_score"):
        pred.predict_proba(np.zeros((1, 2)))
