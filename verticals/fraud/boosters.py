"""The fraud vertical's ``lightgbm`` and ``xgboost`` heads: core's
:class:`~verticalkit.core.families.boosters.LightGBMTabular` and ``XGBoostTabular`` (encoding,
native NaN and categories, early stopping, per-iteration progress, persistence: the booster's own
text / JSON model file and ``columns.json``) with the fraud domain parts: the binary target
check (:class:`~.models.FraudColumns`), tuned defaults (half the features per tree, early
stopping on average precision / the area under the PR curve, patience 100), per-feature reason
codes from TreeSHAP contributions, and ONNX export of both (export.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.families.boosters import BoosterTabular, LightGBMTabular, XGBoostTabular
from verticalkit.core.heads.base import FitContext

from .models import FraudColumns


class BoosterHead(FraudColumns, BoosterTabular):
    """Shared by the fraud LightGBM and XGBoost heads: a binary 0/1 target, reason codes."""

    def _fit_target(self, y: Any, context: FitContext | None) -> np.ndarray:
        self.task_kind_, self.classes_ = "binary", np.array([0, 1])
        return self._target(y)

    def _val_target(self, y_val: Any) -> np.ndarray | None:
        return self._target(y_val) if len(np.unique(np.asarray(y_val))) == 2 else None

    def reason_codes(self, X: Any, k: int = 4) -> pd.DataFrame:
        """Per row: the fraud probability and the ``k`` features that raise the score most
        (TreeSHAP contributions to the log-odds, largest positive first)."""
        Xc = self._check_missing(X)
        M = self._matrix(Xc)
        contrib = self._contributions(M)[:, :M.shape[1]]  # the last column is the bias
        p = self._raw_predict(M)
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


class LightGBMHead(BoosterHead, LightGBMTabular):
    """core's ``LightGBMTabular`` on a fraud target: early stopping on average precision over
    the validation split (patience ``early_stopping_rounds``; without a validation split,
    ``n_estimators`` rounds)."""

    def __init__(self, n_estimators: int = 1000, learning_rate: float = 0.05, num_leaves: int = 31,
                 min_child_samples: int = 20, reg_lambda: float = 1.0, colsample_bytree: float = 0.5,
                 early_stopping_rounds: int = 100, n_threads: int = 1, random_state: int | None = None):
        super().__init__(n_estimators=n_estimators, learning_rate=learning_rate, num_leaves=num_leaves,
                         min_child_samples=min_child_samples, reg_lambda=reg_lambda,
                         colsample_bytree=colsample_bytree, early_stopping_rounds=early_stopping_rounds,
                         eval_metric="average_precision", n_threads=n_threads, random_state=random_state)

    def export_sklearn(self) -> Any:
        """ONNX export hook: the trees (categorical splits included) in the graph (export.py)."""
        from .export import export_lightgbm

        return export_lightgbm(self)


class XGBoostHead(BoosterHead, XGBoostTabular):
    """core's ``XGBoostTabular`` on a fraud target: early stopping on the validation split's area
    under the PR curve (patience ``early_stopping_rounds``; without a validation split,
    ``n_estimators`` rounds)."""

    def __init__(self, n_estimators: int = 1000, learning_rate: float = 0.05, max_depth: int = 6,
                 min_child_weight: float = 1.0, reg_lambda: float = 1.0, colsample_bytree: float = 0.5,
                 early_stopping_rounds: int = 100, n_threads: int = 1, random_state: int | None = None):
        super().__init__(n_estimators=n_estimators, learning_rate=learning_rate, max_depth=max_depth,
                         min_child_weight=min_child_weight, reg_lambda=reg_lambda,
                         colsample_bytree=colsample_bytree, early_stopping_rounds=early_stopping_rounds,
                         eval_metric="aucpr", n_threads=n_threads, random_state=random_state)

    def export_sklearn(self) -> Any:
        """ONNX export hook: the trees (categorical splits included) in the graph (export.py)."""
        from .export import export_xgboost

        return export_xgboost(self)
