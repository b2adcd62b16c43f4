"""Fraud heads export (ONNX for all; TorchScript and torch.export for the torch heads) with
parity against the Predictor on German credit (embedded) and on a table with NaN."""

from __future__ import annotations

import json

import numpy as np
import pytest

from verticalkit.core.serve.export import TOLERANCE, export, export_run, run_exported
from verticalkit.core.heads.base import FitContext
from verticalkit.core.config import TrainConfig
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import input_schema
from verticalkit.verticals.fraud import tiny_data
from verticalkit.verticals.fraud.boosters import LightGBMHead, XGBoostHead
from verticalkit.verticals.fraud.models import BlendHead, ForestHead, GBDTHead, LogRegHead, ScorecardHead
from verticalkit.verticals.fraud.torch_models import FTTransformerHead, MLPHead

pytest.importorskip("onnxruntime")
pytest.importorskip("skl2onnx")

HEADS = {
    "logreg": lambda: LogRegHead(),
    "gbdt": lambda: GBDTHead(max_iter=40),
    "forest": lambda: ForestHead(n_estimators=25),
    "blend": lambda: BlendHead(C=0.1, n_estimators=25),
    "scorecard": lambda: ScorecardHead(),
    "lightgbm": lambda: LightGBMHead(n_estimators=40),
    "xgboost": lambda: XGBoostHead(n_estimators=40),
    "mlp": lambda: MLPHead(hidden=(32,)),
    "ft_transformer": lambda: FTTransformerHead(d_token=16, n_layers=1, n_heads=2),
}


@pytest.fixture(scope="module")
def german():
    return tiny_data(0)


def _predictor(name, splits, X=None):
    X = splits.train.X if X is None else X
    context = FitContext(task=splits.task, seed=0, train=TrainConfig(epochs=2, progress=False, patience=None))
    head = HEADS[name]().fit(X, splits.train.y, context=context)
    return Predictor(head, vertical="fraud", model=name, dataset="german-credit", task=splits.task,
                     input_schema=input_schema(X))


def _check(predictor, folder, X):
    got = run_exported(folder, None, X, predictor=predictor)
    want = predictor.predict_score(X)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=TOLERANCE, rtol=0)


@pytest.fixture(scope="module")
def trained(german):
    return {name: _predictor(name, german) for name in HEADS}


@pytest.mark.parametrize("name", list(HEADS))
def test_onnx_parity_german(name, trained, german, tmp_path):
    predictor = trained[name]
    doc = export(predictor, tmp_path / "onnx", "onnx")
    assert doc["parity"]["max_abs_diff"] <= TOLERANCE and doc["parity"]["n"] >= 64
    assert doc["preprocessing"] == "preprocessing.json"
    pre = json.loads((tmp_path / "onnx" / "preprocessing.json").read_text())
    assert pre["contract"] == "verticalkit.table/1"
    assert [t["name"] for t in pre["tensors"]] == ["num", "cat"]
    assert [i["name"] for i in doc["inputs"]] == ["num", "cat"]
    assert "purpose" in pre["tensors"][1]["categories"]
    X = german.test.X
    _check(predictor, tmp_path / "onnx", X)  # the test fold
    _check(predictor, tmp_path / "onnx", X.iloc[:1])  # one row: the batch axis is dynamic
    unseen = X.iloc[:20].assign(purpose="spaceship", housing=None)  # unseen / null categories
    _check(predictor, tmp_path / "onnx", unseen)


@pytest.mark.parametrize("name, fmt", [("mlp", "torchscript"), ("mlp", "torch_export"),
                                       ("ft_transformer", "torchscript")])  # torch.export of ft: ~12 s more
def test_torch_formats_parity(name, fmt, trained, german, tmp_path):
    predictor = trained[name]
    doc = export(predictor, tmp_path / fmt, fmt)
    assert doc["parity"]["max_abs_diff"] <= TOLERANCE
    _check(predictor, tmp_path / fmt, german.test.X.iloc[:5])


@pytest.fixture(scope="module")
def german_nan(german):
    """German credit with NaN in two numeric columns and nulls in a text column (train and test)."""
    rng = np.random.default_rng(0)

    def holes(X):
        X = X.copy()
        for c in ("duration", "age"):
            X.loc[rng.random(len(X)) < 0.15, c] = np.nan
        X.loc[rng.random(len(X)) < 0.15, "savings_status"] = None
        return X

    return holes(german.train.X), holes(german.test.X)


@pytest.mark.parametrize("name", ["gbdt", "scorecard"])  # the heads that take NaN
def test_onnx_parity_with_missing_values(name, german, german_nan, tmp_path):
    Xtr, Xte = german_nan
    predictor = _predictor(name, german, Xtr)
    if name == "scorecard":
        assert predictor.head.bins_["duration"]["has_missing"]  # a learned missing bin
    export(predictor, tmp_path / "onnx", "onnx")
    assert Xte["duration"].isna().any()
    _check(predictor, tmp_path / "onnx", Xte)
    # NaN in a column that had none in training (scorecard: the neutral unseen bin)
    _check(predictor, tmp_path / "onnx", Xte.assign(credit_amount=np.nan))


def test_export_run_from_saved_model(trained, tmp_path):
    """`verticalkit export RUN --format onnx` path: load the saved Predictor, export beside it."""
    trained["scorecard"].save(tmp_path / "run" / "model")
    dest, doc = export_run(tmp_path / "run", "onnx")
    assert dest == tmp_path / "run" / "export" / "onnx"
    assert (dest / "model.onnx").is_file() and (dest / "export.json").is_file()
    assert json.loads((dest / "export.json").read_text())["parity"]["max_abs_diff"] <= TOLERANCE


def test_forest_thresholds_round_down_to_float32():
    """Trees compare float32 inputs with float64 thresholds; the graph's float32 threshold
    must send every float32 value the same way."""
    from verticalkit.verticals.fraud.export import _float32_floor

    a = np.nextafter(np.float32(1.0), np.float32(2.0))  # odd last bit: the midpoint rounds (to even) up
    b = np.nextafter(a, np.float32(2.0))
    t = (float(a) + float(b)) / 2  # a float64 midpoint float32 rounds up to b
    assert np.float32(t) == b
    t32 = _float32_floor(np.array([t, 0.5, -3.25]))
    assert t32[0] == a and t32[1] == 0.5 and t32[2] == -3.25
    for x in (a, b):  # the trees compare in double; the graph in float32
        assert (np.float64(x) <= t) == (x <= t32[0])
