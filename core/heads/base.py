"""The model-head contract and persistence for scikit-learn-style heads.

A head is a scikit-learn estimator (``__init__`` stores params, ``fit`` returns
self, fitted attributes end in ``_``) with:

* ``fit(X, y, X_val=None, y_val=None, context=None) -> self``
* ``predict(X)``: labels (classification) or scores (regression / ordinal)
* ``predict_proba(X)``: ``(n, k)`` probabilities (classification heads)
* ``save(path)`` / ``classmethod load(path)``: a folder, no pickle of untrusted code

Torch heads subclass :class:`verticalkit.core.heads.torch_head.TorchHead`, which trains an
``nn.Module`` with the core Trainer and saves safetensors. Other heads subclass
:class:`SklearnHead`, persisted with skops.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator

from ..config import TrainConfig
from ..data.adapter import Task
from ..errors import ModelLoadError

# Exact type names a saved skops file may hold beyond skops's own trusted defaults (which
# cover scikit-learn estimators, numpy and builtin containers): what
# ``skops.io.get_untrusted_types`` reports for the heads the kit saves (tests/test_model_trust.py
# checks every registered skops head). A head adds its own in ``SklearnHead.trusted_types``;
# anything else is refused at load, by exact name, never by prefix.
TRUSTED_TYPES = frozenset({
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "numpy.dtype",  # SimpleImputer's fitted dtype; skops rebuilds it from an empty .npy array, no pickle
})


@dataclass
class FitContext:
    """What the run pipeline hands a head besides the data.

    task: what is predicted; seed: the run seed; train: Trainer settings (torch heads);
    checkpoint_dir: where torch heads keep resumable checkpoints (None: no checkpoints);
    score_fn: ``score_fn(y_true, scores) -> float``, the primary metric (higher is better),
    used for early stopping; log_dir: where per-epoch CSV logs go.
    """

    task: Task
    seed: int = 42
    train: TrainConfig = field(default_factory=TrainConfig)
    checkpoint_dir: Path | None = None
    log_dir: Path | None = None
    score_fn: Callable[[np.ndarray, np.ndarray], float] | None = None


class Head(BaseEstimator):
    """Base class of all heads. Subclasses implement fit / predict / save / load."""

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None) -> Head:
        raise NotImplementedError

    def predict(self, X: Any) -> np.ndarray:
        raise NotImplementedError

    def save(self, path: str | Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: str | Path) -> Head:
        raise NotImplementedError

    @classmethod
    def default_params(cls) -> dict[str, Any]:
        """The head's constructor parameters and defaults (the valid ``model_params`` keys)."""
        return cls().get_params(deep=False)


def skops_io() -> Any:
    """``skops.io``, imported without torch. Building its trusted-type list walks every
    scikit-learn package, and walking ``sklearn.externals.array_api_compat.torch`` imports torch
    (~0.5 GB of memory) wherever it is installed; that package holds no estimator, so it is left
    out of the walk (the walk skips a package that fails to import)."""
    name = "sklearn.externals.array_api_compat.torch"
    block = "skops.io" not in sys.modules and "torch" not in sys.modules and name not in sys.modules
    if block:
        sys.modules[name] = None  # type: ignore[assignment]  # its import now fails at once
    try:
        import skops.io as sio
    finally:
        if block and sys.modules.get(name, False) is None:
            del sys.modules[name]
    return sio


class SklearnHead(Head):
    """A head persisted with skops: the whole fitted estimator, types checked on load."""

    skops_file = "model.skops"
    trusted_types: tuple[str, ...] = ()  # exact type names this head's file holds besides TRUSTED_TYPES

    def save(self, path: str | Path) -> None:
        from .packing import packed_vocabularies

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with packed_vocabularies(self):  # a text vectorizer's vocabulary as one string: fast to save
            skops_io().dump(self, path / self.skops_file)

    @classmethod
    def load(cls, path: str | Path) -> Head:
        sio = skops_io()
        file = Path(path) / cls.skops_file
        if not file.is_file():
            raise ModelLoadError(f"{file} not found; the folder does not hold a saved {cls.__name__}")
        untrusted = sio.get_untrusted_types(file=file)
        refused = sorted(set(untrusted) - cls.allowed_types())
        if refused:
            raise ModelLoadError(
                f"{file}: holds type(s) {', '.join(refused)} that a {cls.__name__} never saves; refusing to "
                f"load it (loading could run code): only load models saved by verticalkit, or retrain"
            )
        from .packing import unpack_vocabularies

        obj = unpack_vocabularies(sio.load(file, trusted=untrusted))
        if not isinstance(obj, cls):
            raise ModelLoadError(f"{file} holds a {type(obj).__name__}, not a {cls.__name__}; check the model name")
        return obj

    @classmethod
    def allowed_types(cls) -> frozenset[str]:
        """The exact type names a file of this head may hold: the core list, the class's own
        name and ``trusted_types`` of the class and its bases."""
        own = {f"{c.__module__}.{c.__qualname__}" for c in cls.__mro__ if issubclass(c, SklearnHead)}
        extra = {t for c in cls.__mro__ for t in getattr(c, "trusted_types", ())}
        return TRUSTED_TYPES | own | extra


def write_json(path: str | Path, obj: Any) -> None:
    """Write JSON atomically (temp file, then rename)."""
    from ..io import atomic_write_text

    atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
