"""Small synthetic images (offline, seconds to train) for the conformance check and fast tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetSplits, Split, Task
from verticalkit.core.data.splits import grouped_split


def synthetic_images(n: int = 160, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grey ``(n, 1, size, size)`` uint8 images, 2 per synthetic patient; class 1 carries a bright blob."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    X = np.empty((n, 1, size, size), dtype=np.uint8)
    y = (np.arange(n) // 2) % 2  # both images of a patient share the label
    for i in range(n):
        img = rng.normal(0.35, 0.12, (size, size))
        if y[i]:
            cy, cx = rng.uniform(size * 0.3, size * 0.7, 2)
            img += 0.45 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (size / 8) ** 2))
        X[i, 0] = np.clip(img * 255, 0, 255).astype(np.uint8)
    groups = np.array([f"p{i // 2:04d}" for i in range(n)])
    return X, y.astype(np.int64), groups


def tiny_data(seed: int = 0) -> DatasetSplits:
    X, y, groups = synthetic_images(seed=seed)
    meta = pd.DataFrame({"sex": np.where(np.arange(len(y)) % 4 < 2, "F", "M")})
    full = Split(X, y, np.array([f"img{i:04d}" for i in range(len(y))]), groups=groups, meta=meta)
    tr, va, te = grouped_split(groups, y, seed=seed)
    task = Task(kind="binary", target="label", primary_metric="roc_auc", classes=["normal", "finding"])
    return DatasetSplits("pneumoniamnist", task, full.subset(tr), full.subset(va), full.subset(te),
                         "synthetic-patient-grouped")
