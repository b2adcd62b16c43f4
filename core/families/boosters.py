"""Gradient-boosting libraries as tabular family heads: ``LightGBMTabular`` (``lightgbm.train``)
and ``XGBoostTabular`` (``xgboost.train``, ``tree_method="hist"``), binary, multiclass or
regression (the run's task kind, as every family head).

Columns as the other tabular families (:class:`~.tabular.ColumnsMixin`: ``feature_columns``,
``categorical_columns``): numerics as float (NaN = missing, ±inf read as NaN, native), then
categories as integer codes declared categorical to the booster (position in the column's
sorted training categories; a column with more than ``max_categories`` keeps its
``max_categories - 1`` most frequent plus ``(other)``; unseen → missing). Early stopping on
the validation split given to ``fit`` by ``eval_metric`` (None: the task's loss), patience
``early_stopping_rounds``; without one, ``n_estimators`` rounds. Per-iteration progress and
``train_log.csv`` (:func:`~verticalkit.core.progress.iteration_progress`). Saved without
pickle: the booster's own text (LightGBM) / JSON (XGBoost) model file and ``columns.json``
(columns, category lists, parameters, task). Deterministic for a seed (single-threaded by
default: ``n_threads``). ``lightgbm`` / ``xgboost`` are imported on first use.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import ConfigError, DataError, ModelLoadError
from ..heads.base import FitContext, Head, write_json
from ..progress import IterationProgress, iteration_progress
from .base import CLASSIFICATION, REGRESSION, task_kind
from .tabular import ColumnsMixin

FORMAT = 1
HIGHER_IS_BETTER = ("auc", "aucpr", "average_precision", "map", "ndcg", "pre", "auc_mu")  # else a loss


def booster_library(name: str) -> Any:
    """``lightgbm`` / ``xgboost``; a ConfigError naming the pip package when it is not installed."""
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ConfigError(f"the {name} head needs the {name!r} package ({e}); install it: pip install {name} "
                          f"(verticalkit lists it as a dependency: pip install verticalkit)") from e


class BoosterTabular(ColumnsMixin, Head):
    """What the LightGBM and XGBoost heads share: target and task, encoding, predictions, persistence.

    A subclass sets ``library``, ``model_file``, ``METRICS`` (the default ``eval_metric`` per
    task kind) and implements ``fit``, ``_raw_predict`` (probability of class 1, class
    probabilities or scores), ``_contributions`` (TreeSHAP, bias last), ``_save_model`` and
    ``_load_model``.
    """

    library = "lightgbm"
    model_file = "model.txt"
    METRICS: dict[str, str] = {}
    eval_metric: str | None = None
    reports_progress = True  # per-iteration lines: the run's fit step prints no heartbeat

    def _store(self, params: dict[str, Any]) -> None:
        """Keep ``__init__``'s arguments (its ``locals()``) as attributes of the same names, unchanged."""
        for name, value in params.items():
            if name != "self":
                setattr(self, name, value)

    # -- target -----------------------------------------------------------------------------
    def _fit_target(self, y: Any, context: FitContext | None) -> np.ndarray:
        """Set ``task_kind_`` and ``classes_`` (None for regression); ``y`` as the booster's labels."""
        y = np.asarray(y)
        if y.ndim != 1 or not len(y):
            raise DataError(f"{type(self).__name__} needs one target value per row (got shape {y.shape})")
        if y.dtype.kind == "f" and np.isnan(y).any():
            raise DataError(f"{type(self).__name__}: {int(np.isnan(y).sum())} training rows have no target; drop them")
        self.task_kind_ = task_kind(y, context)
        if self.task_kind_ in REGRESSION:
            self.classes_ = None
            return y.astype(float)
        self.classes_, codes = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2 or (self.task_kind_ == "binary" and len(self.classes_) > 2):
            raise DataError(f"{type(self).__name__}: a {self.task_kind_} target needs "
                            f"{'two' if self.task_kind_ == 'binary' else 'two or more'} classes; the training rows "
                            f"hold {self.classes_.tolist()[:6]}")
        return codes

    def _val_target(self, y_val: Any) -> np.ndarray | None:
        """The validation labels as :meth:`_fit_target` codes them; None when they cannot stop
        early (a binary split without both classes, labels not seen in training)."""
        y_val = np.asarray(y_val)
        if self.task_kind_ in REGRESSION:
            return y_val.astype(float)
        seen = np.unique(y_val)
        if len(seen) < 2 or (self.task_kind_ == "binary" and len(seen) != 2) or not np.isin(seen, self.classes_).all():
            return None
        return np.searchsorted(self.classes_, y_val)

    def _validation(self, X_val: Any, y_val: Any) -> tuple[np.ndarray, np.ndarray] | None:
        """``(matrix, labels)`` of the validation split when it can stop early, else None."""
        if X_val is None or y_val is None:
            return None
        y = self._val_target(y_val)
        return None if y is None else (self._matrix(X_val), y)

    def _objective(self) -> str:
        return "regression" if self.task_kind_ in REGRESSION else self.task_kind_

    def _metric(self) -> str:
        return self.eval_metric or self.METRICS[self._objective()]

    # -- encoding ---------------------------------------------------------------------------
    def _fit_table(self, X: Any) -> np.ndarray:
        X = self._fit_columns(X, clean=False)
        self.categories_ = {c: sorted(set(self._categories(X, c))) for c in self.categorical_features_}
        return self._matrix(X)

    def _matrix(self, X: Any) -> np.ndarray:
        """Numerics (NaN = missing), then category codes (unseen → NaN), one float64 array."""
        X = self._check_missing(X)
        n_num = len(self.numeric_features_)
        out = np.empty((len(X), n_num + len(self.categorical_features_)))
        self._numeric_block(X, out[:, :n_num])
        for j, c in enumerate(self.categorical_features_):
            codes = pd.Index(self.categories_[c]).get_indexer(self._categories(X, c))  # unseen: -1
            out[:, n_num + j] = np.where(codes < 0, np.nan, codes)
        return out

    def _seed(self, context: FitContext | None) -> int:
        return self.random_state if self.random_state is not None else (context.seed if context else 0)

    def _progress(self, context: FitContext | None) -> IterationProgress:
        metric = self._metric()
        return iteration_progress(self.library, self.n_estimators, metric, context,
                                  maximize=metric.split("@")[0] in HIGHER_IS_BETTER)

    # -- predictions ------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        if self.task_kind_ not in CLASSIFICATION:
            raise ConfigError(f"{type(self).__name__} was trained for {self.task_kind_}: use predict")
        p = self._raw_predict(self._matrix(X))
        return np.column_stack([1 - p, p]) if p.ndim == 1 else p

    def predict(self, X: Any) -> np.ndarray:
        out = self._raw_predict(self._matrix(X))
        if self.task_kind_ in REGRESSION:
            return out
        return self.classes_[(out >= 0.5).astype(int) if out.ndim == 1 else out.argmax(axis=1)]

    def _raw_predict(self, M: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _contributions(self, M: np.ndarray) -> np.ndarray:
        """TreeSHAP contributions per feature to the raw score (binary: log-odds), the bias last."""
        raise NotImplementedError

    # -- persistence ------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "class": type(self).__name__, "params": self.get_params(deep=False),
                "feature_names_in": self.feature_names_in_, "numeric": self.numeric_features_,
                "categorical": self.categorical_features_, "categories": self.categories_,
                "levels": self.category_levels_, "n_iter": self.n_iter_, "task_kind": self.task_kind_,
                "classes": None if self.classes_ is None else self.classes_.tolist()}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_model(path / self.model_file)
        write_json(path / "columns.json", self._meta())

    @classmethod
    def load(cls, path: str | Path) -> BoosterTabular:
        file, model = Path(path) / "columns.json", Path(path) / cls.model_file
        if not file.is_file() or not model.is_file():
            raise ModelLoadError(f"{path}: columns.json or {cls.model_file} not found; the folder does not hold a "
                                 f"saved {cls.__name__}")
        meta = json.loads(file.read_text())
        if meta.get("class") != cls.__name__ or meta.get("format") != FORMAT:
            raise ModelLoadError(f"{file} holds {meta.get('class')} format {meta.get('format')}, not "
                                 f"{cls.__name__} format {FORMAT}; check the model name or retrain")
        head = cls(**meta["params"])
        head.feature_names_in_, head.numeric_features_ = meta["feature_names_in"], meta["numeric"]
        head.categorical_features_, head.categories_ = meta["categorical"], meta["categories"]
        head.category_levels_, head.n_iter_ = meta["levels"], meta["n_iter"]
        # files written before the families (the fraud heads) hold no task: binary 0/1
        head.task_kind_, classes = meta.get("task_kind", "binary"), meta.get("classes", [0, 1])
        head.classes_ = None if classes is None else np.asarray(classes)
        head._load_model(model)
        return head


class LightGBMTabular(BoosterTabular):
    """LightGBM gradient boosting (``lightgbm.train``): native NaN and categorical splits
    (one-hot below 5 categories), leaf-wise trees of ``num_leaves`` leaves."""

    library, model_file = "lightgbm", "model.txt"
    METRICS = {"binary": "binary_logloss", "multiclass": "multi_logloss", "regression": "l2"}

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 n_estimators: int = 500, learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 20, reg_lambda: float = 1.0, colsample_bytree: float = 1.0,
                 early_stopping_rounds: int = 50, eval_metric: str | None = None, n_threads: int = 1,
                 random_state: int | None = None):
        self._store(locals())

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> LightGBMTabular:
        lgb = booster_library("lightgbm")
        M, y = self._fit_table(X), self._fit_target(y, context)
        cat_idx = list(range(len(self.numeric_features_), M.shape[1]))
        params = {"objective": self._objective(), "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                  "min_child_samples": self.min_child_samples, "lambda_l2": self.reg_lambda,
                  "feature_fraction": self.colsample_bytree, "seed": self._seed(context), "deterministic": True,
                  "force_row_wise": True, "num_threads": self.n_threads, "verbosity": -1,
                  "metric": self._metric(), "max_cat_to_onehot": 4}
        if self.task_kind_ == "multiclass":
            params["num_class"] = len(self.classes_)
        train = lgb.Dataset(M, y, categorical_feature=cat_idx or "auto", free_raw_data=True)
        progress = self._progress(context)
        callbacks = [lambda env: progress.update(
            env.iteration + 1, env.evaluation_result_list[0][2] if env.evaluation_result_list else None)]
        valid, validation = [], self._validation(X_val, y_val)
        if validation is not None:
            valid = [lgb.Dataset(*validation, reference=train)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        booster = lgb.train(params, train, num_boost_round=self.n_estimators, valid_sets=valid,
                            valid_names=["validation"][:len(valid)], callbacks=callbacks)
        self.n_iter_ = int(booster.best_iteration or booster.current_iteration())
        progress.close()
        # keep the best iteration only: the saved text is what predicts
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.n_iter_))
        return self

    def _raw_predict(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(M, num_threads=self.n_threads)

    def _contributions(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(M, pred_contrib=True, num_threads=self.n_threads)

    def _save_model(self, file: Path) -> None:
        self.booster_.save_model(str(file))

    def _load_model(self, file: Path) -> None:
        self.booster_ = booster_library("lightgbm").Booster(model_file=str(file))


class XGBoostTabular(BoosterTabular):
    """XGBoost (``xgboost.train``, ``tree_method="hist"``): native NaN and categorical splits
    (one-hot below 5 categories), depth-wise trees of depth ``max_depth``."""

    library, model_file = "xgboost", "model.json"
    METRICS = {"binary": "logloss", "multiclass": "mlogloss", "regression": "rmse"}
    OBJECTIVES = {"binary": "binary:logistic", "multiclass": "multi:softprob", "regression": "reg:squarederror"}

    def __init__(self, feature_columns: list[str] | None = None, categorical_columns: list[str] | None = None,
                 n_estimators: int = 500, learning_rate: float = 0.05, max_depth: int = 6,
                 min_child_weight: float = 1.0, reg_lambda: float = 1.0, colsample_bytree: float = 1.0,
                 early_stopping_rounds: int = 50, eval_metric: str | None = None, n_threads: int = 1,
                 random_state: int | None = None):
        self._store(locals())

    def _dmatrix(self, M: np.ndarray, y: np.ndarray | None = None) -> Any:
        types = ["q"] * len(self.numeric_features_) + ["c"] * len(self.categorical_features_)
        return booster_library("xgboost").DMatrix(M, label=y, feature_types=types, enable_categorical=True,
                                                  nthread=self.n_threads)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> XGBoostTabular:
        xgb = booster_library("xgboost")
        if self.n_estimators < 1:
            raise ConfigError(f"model_params.n_estimators={self.n_estimators!r}: must be at least 1")
        M, y = self._fit_table(X), self._fit_target(y, context)
        metric = self._metric()
        params = {"objective": self.OBJECTIVES[self._objective()], "eta": self.learning_rate,
                  "max_depth": self.max_depth, "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
                  "colsample_bytree": self.colsample_bytree, "tree_method": "hist", "seed": self._seed(context),
                  "nthread": self.n_threads, "eval_metric": metric, "max_cat_to_onehot": 4, "verbosity": 0}
        if self.task_kind_ == "multiclass":
            params["num_class"] = len(self.classes_)
        dtrain = self._dmatrix(M, y)
        progress = self._progress(context)

        class Log(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
                scores = evals_log.get("validation", {}).get(metric)
                progress.update(epoch + 1, scores[-1] if scores else None)
                return False

        evals, early, validation = [], None, self._validation(X_val, y_val)
        if validation is not None:
            evals, early = [(self._dmatrix(*validation), "validation")], self.early_stopping_rounds
        booster = xgb.train(params, dtrain, num_boost_round=self.n_estimators, evals=evals,
                            early_stopping_rounds=early, callbacks=[Log()], verbose_eval=False)
        self.n_iter_ = int(booster.best_iteration + 1) if early else booster.num_boosted_rounds()
        progress.close()
        self.booster_ = booster[:self.n_iter_]  # keep the best iteration only
        return self

    def _raw_predict(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._dmatrix(M))

    def _contributions(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._dmatrix(M), pred_contribs=True)

    def _save_model(self, file: Path) -> None:
        self.booster_.save_model(str(file))

    def _load_model(self, file: Path) -> None:
        self.booster_ = booster_library("xgboost").Booster()
        self.booster_.load_model(str(file))
        self.booster_.set_param({"nthread": self.n_threads})
