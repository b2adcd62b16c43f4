"""A minimal vertical used by the core tests: synthetic tabular binary data, two heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.heads.base import SklearnHead
from verticalkit.core.registry import Vertical
from verticalkit.core.data.splits import stratified_split


class ToyAdapter(DatasetAdapter):
    id = "toy"
    description = "synthetic two-feature binary data"
    protocols, task_kinds = ("stratified",), ("binary",)

    def __init__(self, path=None, seed: int = 42, download: bool = False, n: int = 300, noise: float = 1.0):
        super().__init__(path, seed, download)
        self.n = n
        self.noise = noise

    def load(self) -> DatasetSplits:
        rng = np.random.default_rng(self.seed)
        X = rng.normal(size=(self.n, 2))
        y = (X[:, 0] + X[:, 1] + self.noise * rng.normal(size=self.n) > 0).astype(int)
        df = pd.DataFrame(X, columns=["a", "b"])
        ids = np.array([f"row{i}" for i in range(self.n)])
        tr, va, te = stratified_split(self.n, y, seed=self.seed)
        full = Split(df, y, ids)
        task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["neg", "pos"])
        return DatasetSplits("toy", task, full.subset(tr), full.subset(va), full.subset(te), "stratified")


class LogReg(SklearnHead):
    def __init__(self, C: float = 1.0):
        self.C = C

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        self.model_ = LogisticRegression(C=self.C).fit(np.asarray(X), y)
        self.classes_ = self.model_.classes_
        return self

    def predict_proba(self, X):
        return self.model_.predict_proba(np.asarray(X))

    def predict(self, X):
        return self.model_.predict(np.asarray(X))


class NoisyHead(LogReg):
    """Adds noise from the global RNG: the seed-ignoring mistake check_vertical must catch."""

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        super().fit(X, y)
        self.noise_ = np.random.normal()
        self.model_.coef_ = self.model_.coef_ + self.noise_
        return self


REFS = Path(__file__).parent / "toy_reference_results.yaml"


def toy_vertical(**changes) -> Vertical:
    kw = dict(
        id="toy", description="toy vertical for core tests", datasets={"toy": ToyAdapter},
        models={"logreg": LogReg}, primary_metric="roc_auc", default_dataset="toy", default_model="logreg",
        reference_results=REFS, tiny_data=lambda seed: ToyAdapter(seed=seed, n=200).load(),
    )
    kw.update(changes)
    return Vertical(**kw)
