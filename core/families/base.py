"""What every sklearn head of the families shares: the task kind (classification or
regression, from the run's :class:`FitContext` or guessed from ``y``), the final estimator
chosen by it, and ``predict`` / ``predict_proba`` on a fitted ``model_`` pipeline."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError
from ..heads.base import FitContext, SklearnHead

CLASSIFICATION = ("binary", "multiclass")
REGRESSION = ("regression", "ordinal")


def task_kind(y: np.ndarray, context: FitContext | None) -> str:
    """``context.task.kind``; without a context: regression for non-integer ``y``, else binary/multiclass."""
    if context is not None:
        kind = context.task.kind
        if kind not in CLASSIFICATION + REGRESSION:
            raise ConfigError(f"the family heads predict one label or one score; task kind {kind!r} is not "
                              f"supported (use {', '.join(CLASSIFICATION + REGRESSION)})")
        return kind
    if np.issubdtype(y.dtype, np.floating) and not np.all(y == np.round(y)):
        return "regression"
    return "binary" if len(np.unique(y)) <= 2 else "multiclass"


def frame(X: Any, columns: list[str], what: str) -> pd.DataFrame:
    """``X`` as a DataFrame holding ``columns``; a DataError naming the missing ones otherwise."""
    if isinstance(X, dict):
        X = pd.DataFrame(X)
    if not isinstance(X, pd.DataFrame):
        raise DataError(f"{what} input must be a table (DataFrame) with column(s) {columns}, got {type(X).__name__}")
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise DataError(f"{what} input has no column(s) {missing} (columns: {list(X.columns)[:20]}); "
                        f"rename them or set the head's column parameter(s)")
    return X


class FamilyHead(SklearnHead):
    """A head whose ``model_`` is a fitted scikit-learn pipeline (or estimator): a classifier or regressor.

    Subclasses implement ``_features()`` (the steps turning ``X`` into a matrix, or ``[]``: then
    ``model_`` is the estimator itself), ``_estimator(classify)`` and ``_input(X)`` (the checked
    model input); ``_fit_model`` may use the validation rows (early stopping).
    """

    def _features(self) -> list[tuple[str, Any]]:
        return []

    def _estimator(self, classify: bool) -> Any:
        raise NotImplementedError

    def _input(self, X: Any) -> Any:
        return X

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> FamilyHead:
        from sklearn.pipeline import Pipeline

        y = np.asarray(y)
        if y.ndim != 1 or not len(y):
            raise DataError(f"{type(self).__name__} needs one target value per row (got shape {y.shape})")
        self.task_kind_ = task_kind(y, context)
        classify = self.task_kind_ in CLASSIFICATION
        y = y.astype(int) if classify else y.astype(float)
        if not classify and np.isnan(y).any():
            raise DataError(f"{type(self).__name__}: {int(np.isnan(y).sum())} training rows have no target; drop them")
        self.seed_ = context.seed if context is not None else 0
        features, estimator = self._features(), self._estimator(classify)
        self.model_ = Pipeline([*features, ("model", estimator)]) if features else estimator
        self._fit_model(X, y, X_val, y_val)
        return self

    def _fit_model(self, X: Any, y: np.ndarray, X_val: Any, y_val: Any) -> None:
        """Fit ``model_`` (built, unfitted) on the training rows; a head may use the validation rows."""
        self.model_.fit(self._input(X), y)

    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task_kind_ not in CLASSIFICATION:
            raise ConfigError(f"{type(self).__name__} was trained for {self.task_kind_}: use predict")
        return self.model_.predict_proba(self._input(X))

    def predict(self, X: Any) -> np.ndarray:
        return self.model_.predict(self._input(X))
