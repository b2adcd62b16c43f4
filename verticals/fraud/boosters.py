"""``lightgbm`` and ``xgboost`` heads: native missing values and categories, early stopping on
the run's validation split, per-feature reason codes from TreeSHAP contributions.

Input as the other fraud heads (:class:`~.models.FraudColumns`): numerics as float (NaN =
missing, ±inf read as NaN), categories as integer codes declared categorical to the booster
(position in the column's sorted training categories; a high-cardinality column keeps its
``max_categories - 1`` most frequent plus ``(other)``; unseen → missing). Saved without
pickle: the booster's own text (LightGBM) / JSON (XGBoost) model file and ``columns.json``
(columns, category lists, parameters). Deterministic for a seed (single-threaded by
default: ``n_threads``). ONNX export of both: export.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.errors import ConfigError, ModelLoadError
from verticalkit.core.heads.base import FitContext, Head, write_json
from verticalkit.core.progress import IterationProgress

from .models import FraudColumns, iteration_progress

FORMAT = 1


class BoosterHead(FraudColumns, Head):
    """Shared by the LightGBM and XGBoost heads: encoding, persistence, reason codes."""

    model_file = "model.txt"
    max_categories = 254
    reports_progress = True  # per-iteration lines: the run's fit step prints no heartbeat

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
            codes = pd.Categorical(self._categories(X, c), categories=self.categories_[c]).codes
            out[:, n_num + j] = np.where(codes < 0, np.nan, codes)
        return out

    def _seed(self, context: FitContext | None) -> int:
        return self.random_state if self.random_state is not None else (context.seed if context else 0)

    @staticmethod
    def _progress(name: str, total: int, metric: str, context: FitContext | None) -> IterationProgress:
        return iteration_progress(name, total, metric, context)

    @staticmethod
    def _use_val(X_val: Any, y_val: Any) -> bool:
        return X_val is not None and y_val is not None and len(np.unique(np.asarray(y_val))) == 2

    # -- predictions --------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        p = self._raw_proba(self._matrix(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def reason_codes(self, X: Any, k: int = 4) -> pd.DataFrame:
        """Per row: the fraud probability and the ``k`` features that raise the score most
        (TreeSHAP contributions to the log-odds, largest positive first)."""
        Xc = self._check_missing(X)
        M = self._matrix(Xc)
        contrib = self._contributions(M)[:, :M.shape[1]]  # the last column is the bias
        p = self._raw_proba(M)
        names = self.numeric_features_ + self.categorical_features_
        rows = []
        for r in range(len(M)):
            row: dict[str, Any] = {"probability": round(float(p[r]), 4)}
            order = [j for j in np.argsort(-contrib[r], kind="stable") if contrib[r, j] > 1e-9][:k]
            for rank in range(k):
                if rank < len(order):
                    j = order[rank]
                    value = Xc[names[j]].iloc[r]
                    shown = "missing" if pd.isna(value) else (f"{value:g}" if isinstance(value, (int, float, np.number))
                                                              else str(value))
                    row[f"reason_{rank + 1}"] = f"{names[j].replace('_', ' ')}: {shown}, +{contrib[r, j]:.2f} log-odds"
                else:
                    row[f"reason_{rank + 1}"] = ""
            rows.append(row)
        return pd.DataFrame(rows)

    # -- persistence --------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "class": type(self).__name__, "params": self.get_params(deep=False),
                "feature_names_in": self.feature_names_in_, "numeric": self.numeric_features_,
                "categorical": self.categorical_features_, "categories": self.categories_,
                "levels": self.category_levels_, "n_iter": self.n_iter_}

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_model(path / self.model_file)
        write_json(path / "columns.json", self._meta())

    @classmethod
    def load(cls, path: str | Path) -> BoosterHead:
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
        head._load_model(model)
        return head


class LightGBMHead(BoosterHead):
    """LightGBM gradient boosting (``lightgbm.train``): native NaN and categorical splits,
    early stopping on average precision over the validation split (patience
    ``early_stopping_rounds``; without a validation split, ``n_estimators`` rounds)."""

    model_file = "model.txt"

    def __init__(self, n_estimators: int = 1000, learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 20, reg_lambda: float = 1.0, colsample_bytree: float = 0.5,
                 early_stopping_rounds: int = 100, n_threads: int = 1, random_state: int | None = None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.n_threads = n_threads
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> LightGBMHead:
        import lightgbm as lgb

        M, y = self._fit_table(X), self._target(y)
        cat_idx = list(range(len(self.numeric_features_), M.shape[1]))
        params = {"objective": "binary", "learning_rate": self.learning_rate, "num_leaves": self.num_leaves,
                  "min_child_samples": self.min_child_samples, "lambda_l2": self.reg_lambda,
                  "feature_fraction": self.colsample_bytree, "seed": self._seed(context), "deterministic": True,
                  "force_row_wise": True, "num_threads": self.n_threads, "verbosity": -1,
                  "metric": "average_precision", "max_cat_to_onehot": 4}
        train = lgb.Dataset(M, y, categorical_feature=cat_idx or "auto", free_raw_data=True)
        progress = self._progress("lightgbm", self.n_estimators, "average_precision", context)
        callbacks = [lambda env: progress.update(
            env.iteration + 1, env.evaluation_result_list[0][2] if env.evaluation_result_list else None)]
        valid = []
        if self._use_val(X_val, y_val):
            valid = [lgb.Dataset(self._matrix(X_val), self._target(y_val), reference=train)]
            callbacks.append(lgb.early_stopping(self.early_stopping_rounds, verbose=False))
        booster = lgb.train(params, train, num_boost_round=self.n_estimators, valid_sets=valid,
                            valid_names=["validation"][:len(valid)], callbacks=callbacks)
        self.n_iter_ = int(booster.best_iteration or booster.current_iteration())
        progress.close()
        # keep the best iteration only: the saved text is what predicts
        self.booster_ = lgb.Booster(model_str=booster.model_to_string(num_iteration=self.n_iter_))
        return self

    def _raw_proba(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(M, num_threads=self.n_threads)

    def export_sklearn(self) -> Any:
        """ONNX export hook: the trees (categorical splits included) in the graph (export.py)."""
        from .export import export_lightgbm

        return export_lightgbm(self)

    def _contributions(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(M, pred_contrib=True, num_threads=self.n_threads)

    def _save_model(self, file: Path) -> None:
        self.booster_.save_model(str(file))

    def _load_model(self, file: Path) -> None:
        import lightgbm as lgb

        self.booster_ = lgb.Booster(model_file=str(file))


class XGBoostHead(BoosterHead):
    """XGBoost (``xgboost.train``, ``tree_method="hist"``): native NaN and categorical splits,
    early stopping on the validation split's area under the PR curve (patience
    ``early_stopping_rounds``; without a validation split, ``n_estimators`` rounds)."""

    model_file = "model.json"

    def __init__(self, n_estimators: int = 1000, learning_rate: float = 0.05, max_depth: int = 6,
                 min_child_weight: float = 1.0, reg_lambda: float = 1.0, colsample_bytree: float = 0.5,
                 early_stopping_rounds: int = 100, n_threads: int = 1, random_state: int | None = None):
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.reg_lambda = reg_lambda
        self.colsample_bytree = colsample_bytree
        self.early_stopping_rounds = early_stopping_rounds
        self.n_threads = n_threads
        self.random_state = random_state

    def _dmatrix(self, M: np.ndarray, y: np.ndarray | None = None) -> Any:
        import xgboost as xgb

        types = ["q"] * len(self.numeric_features_) + ["c"] * len(self.categorical_features_)
        return xgb.DMatrix(M, label=y, feature_types=types, enable_categorical=True, nthread=self.n_threads)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> XGBoostHead:
        import xgboost as xgb

        if self.n_estimators < 1:
            raise ConfigError(f"model_params.n_estimators={self.n_estimators!r}: must be at least 1")
        M, y = self._fit_table(X), self._target(y)
        params = {"objective": "binary:logistic", "eta": self.learning_rate, "max_depth": self.max_depth,
                  "min_child_weight": self.min_child_weight, "lambda": self.reg_lambda,
                  "colsample_bytree": self.colsample_bytree, "tree_method": "hist", "seed": self._seed(context),
                  "nthread": self.n_threads, "eval_metric": "aucpr", "max_cat_to_onehot": 4, "verbosity": 0}
        dtrain = self._dmatrix(M, y)
        progress = self._progress("xgboost", self.n_estimators, "aucpr", context)

        class Log(xgb.callback.TrainingCallback):
            def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
                scores = evals_log.get("validation", {}).get("aucpr")
                progress.update(epoch + 1, scores[-1] if scores else None)
                return False

        evals, early = [], None
        if self._use_val(X_val, y_val):
            evals, early = [(self._dmatrix(self._matrix(X_val), self._target(y_val)), "validation")], \
                self.early_stopping_rounds
        booster = xgb.train(params, dtrain, num_boost_round=self.n_estimators, evals=evals,
                            early_stopping_rounds=early, callbacks=[Log()], verbose_eval=False)
        self.n_iter_ = int(booster.best_iteration + 1) if early else booster.num_boosted_rounds()
        progress.close()
        self.booster_ = booster[:self.n_iter_]  # keep the best iteration only
        return self

    def _raw_proba(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._dmatrix(M))

    def export_sklearn(self) -> Any:
        """ONNX export hook: the trees (categorical splits included) in the graph (export.py)."""
        from .export import export_xgboost

        return export_xgboost(self)

    def _contributions(self, M: np.ndarray) -> np.ndarray:
        return self.booster_.predict(self._dmatrix(M), pred_contribs=True)

    def _save_model(self, file: Path) -> None:
        self.booster_.save_model(str(file))

    def _load_model(self, file: Path) -> None:
        import xgboost as xgb

        self.booster_ = xgb.Booster()
        self.booster_.load_model(str(file))
        self.booster_.set_param({"nthread": self.n_threads})
