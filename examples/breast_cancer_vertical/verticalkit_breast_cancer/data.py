"""The Wisconsin diagnostic breast-cancer data (569 patients, 30 features), as shipped by scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_breast_cancer

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.errors import DataError
from verticalkit.core.data.splits import stratified_split


class WisconsinDiagnostic(DatasetAdapter):
    """UCI Breast Cancer Wisconsin (Diagnostic); target 1 = malignant.

    Protocol: seeded stratified split, ``test_size`` / ``val_size`` of all rows.
    The data ships inside scikit-learn, so ``path`` is not used.
    """

    id = "wdbc"
    description = "Breast Cancer Wisconsin (Diagnostic), 569 cases, 212 malignant (scikit-learn copy; CC BY 4.0)"

    def __init__(self, path=None, seed: int = 42, download: bool = False, test_size: float = 0.2,
                 val_size: float = 0.1):
        super().__init__(path, seed, download)
        self.test_size = test_size
        self.val_size = val_size

    def load(self) -> DatasetSplits:
        if not 0 < self.test_size < 1 or not 0 <= self.val_size < 1 - self.test_size:
            raise DataError(f"wdbc: test_size={self.test_size}, val_size={self.val_size} must be fractions "
                            f"with test_size + val_size < 1; fix data.test_size / data.val_size")
        bunch = load_breast_cancer(as_frame=True)
        X = bunch.data
        y = (bunch.target.to_numpy() == 0).astype(int)  # scikit-learn codes malignant as 0
        ids = np.array([f"wdbc-{i}" for i in range(len(X))])
        train, val, test = stratified_split(len(X), y, self.test_size, self.val_size, seed=self.seed)
        full = Split(X, y, ids)
        task = Task(kind="binary", target="malignant", primary_metric="roc_auc", classes=["benign", "malignant"])
        return DatasetSplits(self.id, task, full.subset(train), full.subset(val), full.subset(test),
                             protocol=f"stratified-70-10-20-seed{self.seed}",
                             info={"source": "scikit-learn load_breast_cancer (UCI WDBC)"})
