"""Monitor features of images (``verticalkit monitor``): intensity statistics.

Folder and DICOM adapters centre-crop and resize training images to ``image_size`` before the
reference is taken, while a batch folder is read at native sizes: batch images are brought to the
training images' common size first, so both sides are measured alike. Not monitored: image size
(lost in that resize) and embedding statistics (heads expose no common penultimate-feature interface).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

COLUMNS = ["mean", "std", "p05", "p50", "p95"]


def _unit(img: Any) -> np.ndarray:
    """One image as floats in [0, 1] (integers are 0..255, as the readers and MedMNIST give them)."""
    a = np.asarray(img)
    if a.dtype.kind in "ui" or (a.size and float(a.max()) > 1.5):
        return a.astype(np.float32) / 255.0
    return a.astype(np.float32)


def monitor_features(X: Any, state: dict[str, Any]) -> pd.DataFrame:
    """Per image: intensity mean, std and 5th/50th/95th percentiles, on a [0, 1] scale. At training
    time ``state`` keeps the images' common square size (when they share one)."""
    from verticalkit.core.families.pixels import resize

    if "size" not in state:
        shapes = {np.asarray(img).shape[-2:] for img in X}
        state["size"] = int(next(iter(shapes))[0]) if len(shapes) == 1 and len(next(iter(shapes))) == 2 \
            and len(set(next(iter(shapes)))) == 1 else None
    size = state["size"]
    rows = []
    for img in X:
        a = _unit(img)
        if size is not None and a.size and a.shape[-2:] != (size, size):
            a = resize(a if a.ndim == 3 else a[None], size)
        if not a.size:
            rows.append([np.nan] * len(COLUMNS))
            continue
        rows.append([float(a.mean()), float(a.std()), *np.percentile(a, [5, 50, 95]).tolist()])
    return pd.DataFrame(rows, columns=COLUMNS)
