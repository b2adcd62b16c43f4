"""``gbdt_mlp``: the mean of a gradient-boosting head's and an MLP head's fraud probabilities,
optionally each a seed bag (``n_members`` copies trained with seeds ``seed``, ``seed + 1``, ...).

Picked for ULB temporal (with its defaults) by forward-chaining CV inside the training period
over a search space fixed in code (benchmarks/fraud_temporal_selection.py,
benchmarks/results/fraud_temporal_selection.md).
Probabilities, not ranks, are averaged: a row's score does not depend on the batch. No ONNX
export (``verticalkit export`` says so): serve it with the saved Predictor.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.errors import ConfigError, ModelLoadError
from verticalkit.core.heads.base import FitContext, Head, write_json
from verticalkit.core.heads.torch_head import standalone_context

from .models import GBDTHead, as_frame
from .torch_models import MLPHead

FORMAT = 2


class GBDTMLPHead(Head):
    """``weight`` × P(gbdt) + (1 − ``weight``) × P(mlp).

    ``gbdt`` / ``mlp``: the parts' ``model_params``. The mlp is trained as the ``mlp`` model
    (the run's Trainer settings, early stopping on the validation split). The gbdt uses the
    validation split as its own setting says: with ``early_stopping`` it stops on it; without,
    it trains on the training and validation rows together (nothing is held out for it).
    ``n_members``: each part is the mean of this many copies, member i trained with seed
    ``random_state + i`` (gbdt; the run seed when ``random_state`` is None) and the run seed + i
    (mlp); 1 is a single model of each.
    """

    def __init__(self, gbdt: dict[str, Any] | None = None, mlp: dict[str, Any] | None = None, weight: float = 0.5,
                 n_members: int = 1, random_state: int | None = None):
        self.gbdt = gbdt
        self.mlp = mlp
        self.weight = weight
        self.n_members = n_members
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> GBDTMLPHead:
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"model_params.weight={self.weight!r}: the gbdt's weight must be in [0, 1]")
        if not isinstance(self.n_members, int) or self.n_members < 1:
            raise ConfigError(f"model_params.n_members={self.n_members!r}: the number of seeds per part must be "
                              f"an integer >= 1")
        gbdt_params = dict(self.gbdt or {})
        seed = gbdt_params.pop("random_state", self.random_state)
        early = GBDTHead(**gbdt_params).early_stopping
        if not early and X_val is not None and len(X_val):
            Xa = pd.concat([as_frame(X), as_frame(X_val)], ignore_index=True)
            ya = np.concatenate([np.asarray(y), np.asarray(y_val)])
            gbdt_data: tuple = (Xa, ya, None, None)
        else:
            gbdt_data = (X, y, X_val, y_val)
        context = context or standalone_context(y)
        seed = context.seed if seed is None else seed
        self.gbdts_, self.mlps_ = [], []
        for i in range(self.n_members):
            self.gbdts_.append(GBDTHead(**gbdt_params, random_state=seed + i).fit(*gbdt_data, context=context))
            self.mlps_.append(MLPHead(**(self.mlp or {})).fit(
                X, y, X_val, y_val, context=dataclasses.replace(context, seed=context.seed + i)))
        return self

    def part_probabilities(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """(P(fraud) of the gbdt part, of the mlp part), each the mean over its members."""
        g = np.mean([m.predict_proba(X)[:, 1] for m in self.gbdts_], axis=0)
        m = np.mean([m.predict_proba(X)[:, 1] for m in self.mlps_], axis=0)
        return g, m

    def predict_proba(self, X: Any) -> np.ndarray:
        g, m = self.part_probabilities(X)
        p = self.weight * g + (1 - self.weight) * m
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)

    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for i, (g, m) in enumerate(zip(self.gbdts_, self.mlps_)):
            g.save(path / f"gbdt_{i}")
            m.save(path / f"mlp_{i}")
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
        head.gbdts_ = [GBDTHead.load(Path(path) / f"gbdt_{i}") for i in range(head.n_members)]
        head.mlps_ = [MLPHead.load(Path(path) / f"mlp_{i}") for i in range(head.n_members)]
        return head
