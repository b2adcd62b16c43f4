"""Tabular heads on a numeric + categorical table: ``LinearTabular`` (logistic / ridge
regression), ``GBDTTabular`` (histogram gradient boosting) and ``MLPTabular`` (a small
multi-layer perceptron).

Columns are parameters: ``feature_columns`` (None: every column of the training table),
``categorical_columns`` (None: the non-numeric ones). Numerics: text cells read as missing,
missing → the training median plus a missing-indicator column, then standardised;
categories: a null is the category ``missing``, one-hot with unseen categories → all zeros.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from .base import FamilyHead, frame


class TabularHead(FamilyHead):
    """The column handling every tabular head shares; see the module docstring."""

    feature_columns: list[str] | None = None
    categorical_columns: list[str] | None = None

    def _columns(self, X: pd.DataFrame) -> None:
        cols = [str(c) for c in (self.feature_columns if self.feature_columns is not None else X.columns)]
        frame(X, cols, type(self).__name__)
        cats = self.categorical_columns
        if cats is None:
            cats = [c for c in cols if not (pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]))]
        self.feature_names_in_ = cols
        self.categorical_features_ = [c for c in cols if c in set(cats)]
        self.numeric_features_ = [c for c in cols if c not in set(cats)]

    def _input(self, X: Any) -> pd.DataFrame:
        X = frame(X, self.feature_names_in_, type(self).__name__)
        out = pd.DataFrame(index=range(len(X)))
        for c in self.numeric_features_:
            out[c] = pd.to_numeric(X[c].reset_index(drop=True), errors="coerce").astype(float).replace([np.inf, -np.inf], np.nan)
        for c in self.categorical_features_:
            out[c] = X[c].reset_index(drop=True).astype("string").fillna("missing").astype(object)
        return out

    def _features(self) -> list[tuple[str, Any]]:
        num = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                        ("scale", StandardScaler())])
        cat = OneHotEncoder(handle_unknown="ignore", sparse_output=False, max_categories=self.max_categories)
        return [("columns", ColumnTransformer([("num", num, self.numeric_features_),
                                               ("cat", cat, self.categorical_features_)]))]

    max_categories = 64  # one-hot columns per categorical column; the rarest share one

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: Any = None) -> TabularHead:
        if isinstance(X, dict):
            X = pd.DataFrame(X)
        self._columns(frame(X, [], type(self).__name__))
        return super().fit(X, y, X_val, y_val, context)


class LinearTabular(TabularHead):
    """Logistic regression (classification, ``C``) or ridge regression (``alpha``)."""

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 C: float = 1.0, alpha: float = 1.0, max_iter: int = 2000):
        self.feature_columns = feature_columns
        self.categorical_columns = categorical_columns
        self.C = C
        self.alpha = alpha
        self.max_iter = max_iter

    def _estimator(self, classify: bool) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(C=self.C, max_iter=self.max_iter) if classify else Ridge(alpha=self.alpha)


class GBDTTabular(TabularHead):
    """scikit-learn's histogram gradient boosting (LightGBM's algorithm), safe to persist with skops."""

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 max_iter: int = 200, learning_rate: float = 0.05, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20):
        self.feature_columns = feature_columns
        self.categorical_columns = categorical_columns
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf

    def _estimator(self, classify: bool) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                   min_samples_leaf=self.min_samples_leaf, early_stopping=False, random_state=self.seed_)


class MLPTabular(TabularHead):
    """A multi-layer perceptron (scikit-learn's, Adam, early stopping on 10% of the training rows)."""

    trusted_types = ("sklearn.neural_network._stochastic_optimizers.AdamOptimizer",)  # plain state, see core.heads.base

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 hidden: tuple[int, ...] = (64, 32), alpha: float = 1e-4, max_iter: int = 300):
        self.feature_columns = feature_columns
        self.categorical_columns = categorical_columns
        self.hidden = hidden
        self.alpha = alpha
        self.max_iter = max_iter

    def _estimator(self, classify: bool) -> Any:
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        cls = MLPClassifier if classify else MLPRegressor
        return cls(hidden_layer_sizes=tuple(self.hidden), alpha=self.alpha, max_iter=self.max_iter,
                   early_stopping=True, n_iter_no_change=20, random_state=self.seed_)
