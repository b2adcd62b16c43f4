"""The memory-lean table paths give the same results as the plain ones: features built in split
order, category text made once per distinct value, gbdt fitted on a frame of columns, and
prediction on a large table in row chunks."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from verticalkit.core import families
from verticalkit.core.data.schema import TableSchema
from verticalkit.core.families.tabular import NULL, ColumnsMixin
from verticalkit.core.heads import predictor as predictor_module
from verticalkit.core.heads.predictor import Predictor

from test_families import _context
from wild import wild_frame


def _features(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A messy table's features as the csv adapter makes them (money, dates, flags parsed; NaN, inf)."""
    df = wild_frame(n, seed=seed, target="int", empty_targets=0, n_text_values=300)
    schema = TableSchema.infer(df, exclude=["status", "txn_id"])
    return schema.transform(df), df["status"].to_numpy().astype(int)


def _plain_categories(X: pd.DataFrame, c: str) -> np.ndarray:
    """The per-row conversion the kit used before making text once per distinct value."""
    return X[c].astype("string").fillna(NULL).astype(str).to_numpy()


def test_category_text_is_the_per_row_conversion():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({
        "category": pd.Categorical(rng.choice(["a", "b", None, " c"], 500)),
        "object": rng.choice(["x", "y", None], 500).astype(object),
        "mixed": pd.Series([1, "a", None, 2.5, True, 1.0, "True"] * 50, dtype=object),  # 1 == True == 1.0
        "float": rng.choice([1.0, 2.5, np.nan], 500),
        "int": rng.integers(0, 5, 500),
        "bool": rng.random(500) < 0.5,
        "string": pd.Series(rng.choice(["p", None], 500), dtype="string"),
        "numeric category": pd.Categorical(rng.choice([1, 2, 3], 500)),
    })
    for c in X.columns:
        assert (ColumnsMixin._raw_categories(X, c) == _plain_categories(X, c)).all(), c


def test_transform_in_row_order_equals_transform_then_take():
    df = wild_frame(300, seed=3, target="int", empty_targets=0)
    schema = TableSchema.infer(df, exclude=["status", "txn_id"])
    rows = np.random.default_rng(1).permutation(len(df))[:250]
    full = schema.transform(df).iloc[rows].reset_index(drop=True)
    pd.testing.assert_frame_equal(schema.transform(df, rows=rows), full)


def test_gbdt_on_a_frame_equals_the_one_array_fit():
    df, y = _features(600, seed=5)
    head = families.GBDTTabular(max_iter=40, early_stopping=True, n_iter_no_change=5, random_state=0)
    head.fit(df.iloc[:450], y[:450], df.iloc[450:], y[450:], context=_context("binary"))
    assert head.model_.feature_names_in_ is not None
    # a model saved when fit took one encoded array predicts through that array, without warnings
    old = head._estimator(True)
    old.fit(head._encode(df.iloc[:450]), y[:450], X_val=head._encode(df.iloc[450:]), y_val=y[450:])
    new_scores = head.predict_proba(df)[:, 1]
    head.model_ = old
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        old_scores = head.predict_proba(df)[:, 1]
    np.testing.assert_allclose(new_scores, old_scores, atol=1e-9)


def test_prediction_in_row_chunks_equals_one_call(monkeypatch):
    df, y = _features(500, seed=7)
    head = families.GBDTTabular(max_iter=20).fit(df, y, context=_context("binary"))
    predictor = Predictor(head, vertical="toy", model="gbdt", dataset="x", task=_context("binary").task)
    whole = predictor.predict_score(df)
    calls = []
    original = head.predict_proba
    monkeypatch.setattr(head, "predict_proba", lambda X: calls.append(len(X)) or original(X))
    monkeypatch.setattr(predictor_module, "CHUNK_ROWS", 128)
    chunked = predictor.predict_score(df)
    assert calls == [128, 128, 128, 116]
    np.testing.assert_allclose(chunked, whole, atol=1e-9)
    assert predictor.predict(df).shape == (500,)


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q"])
