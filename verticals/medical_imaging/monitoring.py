"""Monitor features of images (``verticalkit monitor``): intensity and size.

Embedding statistics (the head's penultimate features) are not monitored: heads do not expose
them through one interface, and intensity, contrast and size catch the common acquisition shifts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["mean", "std", "p05", "p50", "p95", "height", "width", "channels"]


def _unit(img: Any) -> np.ndarray:
    """One image as floats in [0, 1] (integers are 0..255, as the readers and MedMNIST give them)."""
    a = np.asarray(img)
    if a.dtype.kind in "ui" or (a.size and float(a.max()) > 1.5):
        return a.astype(np.float32) / 255.0
    return a.astype(np.float32)


def monitor_features(X: Any, state: dict[str, Any]) -> pd.DataFrame:
    """Per image: intensity mean, std, 5th/50th/95th percentiles (in [0, 1]), height, width, channels."""
    rows = []
    for img in X:
        a = _unit(img)
        c, h, w = (1, *a.shape) if a.ndim == 2 else a.shape[-3:]
        p05, p50, p95 = np.percentile(a, [5, 50, 95]) if a.size else (np.nan,) * 3
        rows.append([float(a.mean()) if a.size else np.nan, float(a.std()) if a.size else np.nan,
                     p05, p50, p95, h, w, c])
    return pd.DataFrame(rows, columns=COLUMNS)
