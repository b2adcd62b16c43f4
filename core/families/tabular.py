"""Tabular heads on a numeric + categorical table: ``LinearTabular`` (logistic / ridge
regression), ``GBDTTabular`` (histogram gradient boosting, native categories) and
``MLPTabular`` (a small multi-layer perceptron), and the column handling they share with a
vertical's own tabular heads (:class:`ColumnsMixin`; the fraud heads use it).

Columns are parameters: ``feature_columns`` (None: every column of the training table),
``categorical_columns`` (None: the non-numeric ones). Numerics: NaN (and ±inf) is missing;
text that is not a number is a DataError naming the column and row; linear / MLP: missing →
the training median plus a missing-indicator column, then standardised; gbdt: native.
Categories: a null is the category ``missing``; a column with more than ``max_categories``
keeps its most frequent ones and maps the rest to ``(other)``; unseen categories: one-hot all
zeros (linear, MLP), missing (gbdt).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from ..errors import DataError
from .base import CLASSIFICATION, FamilyHead

OTHER = "(other)"  # the level of a high-cardinality column's rare and unseen categories
NULL = "missing"  # the level of a null category (the fraud export contract's null_category)


def as_frame(X: Any) -> pd.DataFrame:
    """``X`` as a DataFrame (a 2-D array gets columns ``x0, x1, ...``; a dict is a table)."""
    if isinstance(X, pd.DataFrame):
        return X
    if isinstance(X, dict):
        return pd.DataFrame(X)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"model input must be a table (DataFrame or 2-D array), got shape {arr.shape}")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def is_categorical(s: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s))


def numeric_values(s: pd.Series, column: str, where: str) -> pd.Series:
    """A column as numbers (empty cells → NaN); a cell of text that is not a number is a DataError."""
    conv = pd.to_numeric(s, errors="coerce")
    bad = conv.isna() & s.notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{where}: column {column!r} must be numeric but row {i} holds {str(s.iloc[i])[:40]!r} "
                        f"({int(bad.sum())} such rows); fix the values or declare {column!r} categorical")
    return conv


def linear_preprocessor(numeric: list[str], categorical: list[str]) -> ColumnTransformer:
    """Numerics: median imputation with a missing-indicator column per feature that had NaN in
    training, then standardisation; categories: one-hot (unseen → all zeros). Without NaN in
    training the imputer adds nothing (the plain standardised linear model)."""
    num = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)),
                    ("scale", StandardScaler())])
    return ColumnTransformer([("num", num, numeric), ("cat", OneHotEncoder(handle_unknown="ignore"), categorical)])


class ColumnsMixin:
    """Column bookkeeping for tabular heads (fit records, predict checks) and the messy-table rules:

    * columns: ``feature_columns`` (None: all of the training table), categorical ones
      ``categorical_columns`` (None: the non-numeric ones); extra columns at predict time are
      ignored, missing ones raise a DataError naming them;
    * numerics: NaN is a missing value (±inf too: it is read as NaN); each head handles it
      (trees natively, the others by an imputer fitted on the training rows);
    * categories: text / category columns, a null is the category ``missing``; a column with
      more than ``max_categories`` categories in training keeps its ``max_categories - 1``
      most frequent ones (ties by name) and maps the rest, and at predict time every category
      not kept (unseen ones included), to ``(other)`` (``category_levels_`` holds the kept ones).
    """

    max_categories = 254  # a HistGradientBoosting categorical feature takes at most 255 codes
    feature_columns: list[str] | None = None
    categorical_columns: list[str] | None = None

    def _fit_columns(self, X: Any, clean: bool = True) -> pd.DataFrame:
        """Record the columns and category levels; return the cleaned training table (``clean``)
        or the input as a frame (the tree heads encode it straight into one array)."""
        X = as_frame(X)
        chosen = self.feature_columns if self.feature_columns is not None else X.columns
        self.feature_names_in_ = [str(c) for c in chosen]
        X = self._check_missing(X)
        cats = self.categorical_columns
        cats = set(cats) if cats is not None else {c for c in self.feature_names_in_ if is_categorical(X[c])}
        self.categorical_features_ = [c for c in self.feature_names_in_ if c in cats]
        self.numeric_features_ = [c for c in self.feature_names_in_ if c not in cats]
        self.category_levels_: dict[str, list[str]] = {}
        for c in self.categorical_features_:
            counts = pd.Series(self._raw_categories(X, c)).value_counts(sort=False)
            if len(counts) > self.max_categories:
                ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                self.category_levels_[c] = sorted(k for k, _ in ranked[:self.max_categories - 1])
        return self._clean(X) if clean else X

    def _check_missing(self, X: Any) -> pd.DataFrame:
        X = as_frame(X)
        missing = [c for c in self.feature_names_in_ if c not in X.columns]
        if missing:
            raise DataError(f"input is missing column{'s' if len(missing) > 1 else ''} {missing} the model was "
                            f"trained on; add {'them' if len(missing) > 1 else 'it'} (extra columns are ignored)")
        return X

    def _numeric_block(self, X: pd.DataFrame, out: np.ndarray | None = None) -> np.ndarray:
        """The numeric training columns as one float64 array (written into ``out`` when given:
        one copy of the data), ±inf → NaN; text in a numeric column raises DataError."""
        cols = self.numeric_features_
        out = np.empty((len(X), len(cols))) if out is None else out
        for j, c in enumerate(cols):
            out[:, j] = self._numeric_column(X, c)
        return out

    @staticmethod
    def _numeric_column(X: pd.DataFrame, c: str) -> np.ndarray:
        """One numeric column as float64, ±inf → NaN; text that is not a number raises DataError."""
        s = X[c]
        if is_categorical(s):
            s = numeric_values(s, c, "model input")
        v = s.to_numpy(dtype=np.float64, na_value=np.nan)
        return np.where(np.isinf(v), np.nan, v)

    @staticmethod
    def _category_names(X: pd.DataFrame, c: str) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, names)``: each row's code into ``names``, the column's distinct values as text
        (``names[-1]`` is ``missing``, the code of an empty cell). Text is made once per distinct
        value, not once per row (a 400k-row table: millions of small strings otherwise)."""
        s = X[c]
        if s.dtype == object:  # mixed Python values: 1, True and 1.0 are one category but three texts
            s = s.astype("string")
        if not isinstance(s.dtype, pd.CategoricalDtype):
            s = s.astype("category")
        names = pd.Series(s.cat.categories).astype("string").astype(str).to_numpy(dtype=object)
        return s.cat.codes.to_numpy(), np.append(names, NULL).astype(object)

    @classmethod
    def _raw_categories(cls, X: pd.DataFrame, c: str) -> np.ndarray:
        codes, names = cls._category_names(X, c)
        return names[codes]

    def _categories(self, X: pd.DataFrame, c: str) -> np.ndarray:
        """The column as the model's category text: ``missing`` for empty cells, ``(other)`` for a
        value outside a cut column's kept levels."""
        codes, names = self._category_names(X, c)
        levels = getattr(self, "category_levels_", {}).get(c)
        if levels is not None:
            names = np.where(pd.Series(names).isin(levels).to_numpy(), names, OTHER).astype(object)
        return names[codes]

    def _fit_encoder(self, X: pd.DataFrame) -> None:
        if self.categorical_features_:
            self.encoder_.fit(pd.DataFrame({c: self._categories(X, c) for c in self.categorical_features_}))

    def _encode(self, X: Any) -> np.ndarray:
        """The numeric block, then the categories through the fitted ``encoder_`` (the tree heads'
        feature order: ordinal codes for gbdt, unseen → NaN; one-hot for a forest), built in
        one float64 array."""
        X = self._check_missing(X)
        n_num = len(self.numeric_features_)
        if not self.categorical_features_:
            return self._numeric_block(X)
        cats = pd.DataFrame({c: self._categories(X, c) for c in self.categorical_features_})
        coded = self.encoder_.transform(cats)
        out = np.empty((len(X), n_num + coded.shape[1]))
        self._numeric_block(X, out[:, :n_num])
        out[:, n_num:] = coded
        return out

    def _encode_frame(self, X: Any) -> pd.DataFrame:
        """:meth:`_encode`'s values as a frame of columns (numerics, then the categories' codes),
        sharing the input's float64 columns instead of copying them into one array."""
        X = self._check_missing(X)
        num = self.numeric_features_
        if all(X[c].dtype == np.float64 and not np.isinf(X[c].to_numpy()).any() for c in num):
            out = X[num].reset_index(drop=True)  # the csv adapter's float block: a view
        else:
            out = pd.DataFrame({c: self._numeric_column(X, c) for c in num}, copy=False)
        if self.categorical_features_:
            cats = pd.DataFrame({c: self._categories(X, c) for c in self.categorical_features_})
            codes = self.encoder_.transform(cats)
            out = pd.concat([out, pd.DataFrame(codes, columns=self.categorical_features_)], axis=1)
        return out

    def _clean(self, X: Any) -> pd.DataFrame:
        """Select the training columns (extra ignored, missing named), numerics as float64
        (NaN = missing), categories as text with the kept levels."""
        X = self._check_missing(X)
        out = pd.DataFrame(self._numeric_block(X), columns=self.numeric_features_, index=None)
        for c in self.categorical_features_:
            out[c] = self._categories(X, c)
        return out[self.feature_names_in_]


class TabularHead(ColumnsMixin, FamilyHead):
    """A family head on :class:`ColumnsMixin`'s cleaned table; see the module docstring."""

    def _input(self, X: Any) -> pd.DataFrame:
        return self._clean(X)

    def _features(self) -> list[tuple[str, Any]]:
        return [("pre", linear_preprocessor(self.numeric_features_, self.categorical_features_))]

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: Any = None) -> TabularHead:
        self._fit_columns(X, clean=False)
        return super().fit(X, y, X_val, y_val, context)


class LinearTabular(TabularHead):
    """Logistic regression (classification, ``C``, ``class_weight``) or ridge regression (``alpha``)
    on :func:`linear_preprocessor`'s standardised numerics and one-hot categories."""

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 C: float = 1.0, alpha: float = 1.0, max_iter: int = 2000, class_weight: str | None = None):
        self.feature_columns = feature_columns
        self.categorical_columns = categorical_columns
        self.C = C
        self.alpha = alpha
        self.max_iter = max_iter
        self.class_weight = class_weight

    def _estimator(self, classify: bool) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        if classify:
            return LogisticRegression(C=self.C, max_iter=self.max_iter, class_weight=self.class_weight)
        return Ridge(alpha=self.alpha)


class GBDTTabular(TabularHead):
    """scikit-learn's histogram gradient boosting (LightGBM's algorithm), safe to persist with skops.

    Numerics as they are (NaN native), categories as native categorical features (ordinal
    codes, unseen → missing). ``early_stopping``: on the validation split given to ``fit``
    (else ``validation_fraction`` of the training rows) by ``scoring``, patience
    ``n_iter_no_change``. ``model_`` is the fitted estimator itself (no pipeline).
    """

    # scikit-learn's native categorical support stores ``partial(check_array, ...)`` in the model
    trusted_types = ("functools.partial", "sklearn.utils.validation.check_array")

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 max_iter: int = 200, learning_rate: float = 0.05, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, l2_regularization: float = 0.0, max_features: float = 1.0,
                 early_stopping: bool = False, n_iter_no_change: int = 10, validation_fraction: float = 0.1,
                 scoring: str | None = "loss", class_weight: str | None = None, random_state: int | None = None):
        self.feature_columns = feature_columns
        self.categorical_columns = categorical_columns
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_features = max_features
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.scoring = scoring
        self.class_weight = class_weight
        self.random_state = random_state

    def _features(self) -> list[tuple[str, Any]]:
        return []

    def _input(self, X: Any) -> pd.DataFrame | np.ndarray:
        if getattr(self.model_, "feature_names_in_", None) is None:  # saved when fit took one encoded array
            return self._encode(X)
        return self._encode_frame(X)

    def _estimator(self, classify: bool) -> Any:
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        mask = [False] * len(self.numeric_features_) + [True] * len(self.categorical_features_)
        extra = {"class_weight": self.class_weight} if classify else {}
        seed = self.random_state if self.random_state is not None else self.seed_
        cls = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return cls(learning_rate=self.learning_rate, max_iter=self.max_iter, max_leaf_nodes=self.max_leaf_nodes,
                   min_samples_leaf=self.min_samples_leaf, l2_regularization=self.l2_regularization,
                   max_features=self.max_features, early_stopping=self.early_stopping,
                   n_iter_no_change=self.n_iter_no_change, validation_fraction=self.validation_fraction,
                   scoring=self.scoring, random_state=seed, categorical_features=mask if any(mask) else None, **extra)

    def _fit_model(self, X: Any, y: np.ndarray, X_val: Any, y_val: Any) -> None:
        self.encoder_ = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan,
                                       encoded_missing_value=np.nan)
        self._fit_encoder(as_frame(X))
        classify = self.task_kind_ in CLASSIFICATION
        use_val = self.early_stopping and X_val is not None and y_val is not None
        if use_val and classify:
            use_val = len(np.unique(y_val)) >= 2
        if use_val:
            y_val = np.asarray(y_val).astype(int if classify else float)
            self.model_.fit(self._encode_frame(X), y, X_val=self._encode_frame(X_val), y_val=y_val)
        else:
            self.model_.fit(self._encode_frame(X), y)
        self.n_iter_ = int(self.model_.n_iter_)
        # scorer-based early stopping leaves a scorer and a bound-method cache of
        # ``_raw_predict`` on the instance: used only while fitting, not persistable by skops
        self.model_.__dict__.pop("_raw_predict", None)
        if getattr(self.model_, "_scorer", None) is not None:
            self.model_._scorer = None


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
