"""``gbdt_mlp``: the mean of a gradient-boosting head's and an MLP head's fraud probabilities.

Picked for ULB temporal by forward-chaining CV inside the training period among gbdt,
mlp, forest, blend, logreg and this average (benchmarks/results/fraud_temporal_selection.md).
Probabilities, not ranks, are averaged: a row's score does not depend on the batch. No ONNX
export (``verticalkit export`` says so): serve it with the saved Predictor.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.errors import ConfigError, ModelLoadError
from verticalkit.core.heads import FitContext, Head, write_json

from .models import GBDTHead, as_frame
from .torch_models import MLPHead

FORMAT = 1


class GBDTMLPHead(Head):
    """``weight`` × P(gbdt) + (1 − ``weight``) × P(mlp).

    ``gbdt`` / ``mlp``: the parts' ``model_params``. The mlp is trained as the ``mlp`` model
    (the run's Trainer settings, early stopping on the validation split). The gbdt uses the
    validation split as its own setting says: with ``early_stopping`` it stops on it; without,
    it trains on the training and validation rows together (nothing is held out for it).
    """

    def __init__(self, gbdt: dict[str, Any] | None = None, mlp: dict[str, Any] | None = None, weight: float = 0.5,
                 random_state: int | None = None):
        self.gbdt = gbdt
        self.mlp = mlp
        self.weight = weight
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> GBDTMLPHead:
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"model_params.weight={self.weight!r}: the gbdt's weight must be in [0, 1]")
        gbdt_params = dict(self.gbdt or {})
        gbdt_params.setdefault("random_state", self.random_state)
        self.gbdt_ = GBDTHead(**gbdt_params)
        if not self.gbdt_.early_stopping and X_val is not None and len(X_val):
            Xa = pd.concat([as_frame(X), as_frame(X_val)], ignore_index=True)
            ya = np.concatenate([np.asarray(y), np.asarray(y_val)])
            self.gbdt_.fit(Xa, ya, context=context)
        else:
            self.gbdt_.fit(X, y, X_val, y_val, context=context)
        self.mlp_ = MLPHead(**(self.mlp or {})).fit(X, y, X_val, y_val, context=context)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self.weight * self.gbdt_.predict_proba(X)[:, 1] + (1 - self.weight) * self.mlp_.predict_proba(X)[:, 1]
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.gbdt_.save(path / "gbdt")
        self.mlp_.save(path / "mlp")
        write_json(path / "ensemble.json", {"format": FORMAT, "class": type(self).__name__,
                                            "params": self.get_params(deep=False)})

    @classmethod
    def load(cls, path: str | Path) -> GBDTMLPHead:
        file = Path(path) / "ensemble.json"
        if not file.is_file():
            raise ModelLoadError(f"{file} not found; the folder does not hold a saved {cls.__name__}")
        meta = json.loads(file.read_text())
        if meta.get("class") != cls.__name__ or meta.get("format") != FORMAT:
            raise ModelLoadError(f"{file} holds {meta.get('class')} format {meta.get('format')}, not "
                                 f"{cls.__name__} format {FORMAT}; retrain with this verticalkit version")
        head = cls(**meta["params"])
        head.gbdt_ = GBDTHead.load(Path(path) / "gbdt")
        head.mlp_ = MLPHead.load(Path(path) / "mlp")
        return head
