"""Heads: standardised logistic regression and gradient boosting."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from verticalkit.core.errors import DataError
from verticalkit.core.heads.base import SklearnHead


class _TableHead(SklearnHead):
    """Shared column handling: the fitted column order is enforced at predict time."""

    def _matrix(self, X) -> np.ndarray:
        if hasattr(X, "columns") and hasattr(self, "columns_"):
            missing = [c for c in self.columns_ if c not in X.columns]
            if missing:
                raise DataError(f"input lacks columns {missing}; give all {len(self.columns_)} WDBC features")
            X = X[self.columns_]
        return np.asarray(X, dtype=float)

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        self.columns_ = list(X.columns) if hasattr(X, "columns") else None
        self.model_ = self._estimator().fit(self._matrix(X), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(self._matrix(X))

    def predict(self, X):
        return self.model_.predict(self._matrix(X))


class LogisticHead(_TableHead):
    def __init__(self, C: float = 1.0):
        self.C = C

    def _estimator(self):
        return make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=5000))


class GradientBoostingHead(_TableHead):
    def __init__(self, learning_rate: float = 0.05, max_iter: int = 300, random_state: int | None = None):
        self.learning_rate = learning_rate
        self.max_iter = max_iter
        self.random_state = random_state

    def _estimator(self):
        return HistGradientBoostingClassifier(learning_rate=self.learning_rate, max_iter=self.max_iter,
                                              early_stopping=False, random_state=self.random_state or 0)
