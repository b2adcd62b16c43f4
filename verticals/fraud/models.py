"""Heads of the fraud vertical: logreg, gbdt, forest, blend, scorecard (scikit-learn,
skops-persisted) and the torch heads mlp / ft_transformer (in torch_models.py).

All heads take a DataFrame: numeric columns (NaN = missing, ±inf read as NaN), plus text /
category columns used as categories (any cardinality: see core's
:class:`~verticalkit.core.families.tabular.ColumnsMixin`; logreg and gbdt are core's ``LinearTabular``
and ``GBDTTabular`` with the fraud target check and defaults). Missing
numerics: gbdt and forest natively; logreg, blend and the torch heads by the training median
plus a missing-indicator feature, fitted in the model; scorecard → a ``missing`` bin. At
predict time extra columns are ignored, missing ones raise a DataError naming them, and a
category not seen in training is handled per head: logreg → all-zero one-hot (no
contribution); forest → all-zero one-hot (never the category's side of a split on it); blend
→ as its logreg and forest; gbdt → treated as a missing value; scorecard → the ``unseen``
bin with WoE 0 (0 points). In a column cut to its most frequent categories, an unseen
category is ``(other)`` instead, as the rare ones were in training.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import OneHotEncoder

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.families.tabular import (  # noqa: F401 - as_frame, is_categorical, NULL, OTHER: fraud's API
    NULL, OTHER, ColumnsMixin, GBDTTabular, LinearTabular, as_frame, is_categorical, linear_preprocessor)
from verticalkit.core.heads.base import FitContext, SklearnHead
from verticalkit.core.progress import iteration_progress

from . import scorecard as sc
from .validate import binary_target


class FraudColumns(ColumnsMixin):
    """core's column handling (:class:`~verticalkit.core.families.tabular.ColumnsMixin`) and the
    fraud target check: every fraud head (sklearn, boosters, torch) reads its input through it."""

    @staticmethod
    def _target(y: Any) -> np.ndarray:
        return binary_target(np.asarray(y), "training data", "target")


class TabularHead(FraudColumns, SklearnHead):
    """A scikit-learn fraud head (a binary classifier), persisted with skops."""

    # Exact types a fraud head's skops file may hold (see core.heads.base.TRUSTED_TYPES): the blend's
    # members, and ``partial(sklearn.utils.validation.check_array, ...)``, which scikit-learn's
    # native categorical support stores in a gbdt.
    trusted_types = (f"{__name__}.LogRegHead", f"{__name__}.ForestHead", "functools.partial",
                     "sklearn.utils.validation.check_array")

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(self._input(X))  # no task check: models saved before the families load too

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


class LogRegHead(TabularHead, LinearTabular):
    """Standardised logistic regression (one-hot categories; unseen → all zeros); NaN →
    the training median plus a missing-indicator feature: core's ``LinearTabular`` on a
    fraud target (:func:`~verticalkit.core.families.tabular.linear_preprocessor`)."""

    def __init__(self, C: float = 1.0, max_iter: int = 2000, class_weight: str | None = None):
        self.C = C
        self.max_iter = max_iter
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> LogRegHead:
        return super().fit(X, self._target(y), context=context)

    def export_sklearn(self) -> Any:
        """ONNX export hook: the whole head in the graph, text → code by the table contract (export.py)."""
        from .export import export_logreg

        return export_logreg(self)


class GBDTHead(TabularHead, GBDTTabular):
    """core's ``GBDTTabular`` (HistGradientBoosting) with defaults that stay stable at 0.17% prevalence.

    scikit-learn's defaults stop after ~10 iterations at this prevalence (early stopping
    on the loss over 10% of the training rows, patience 10). Here: learning rate 0.05,
    L2 1.0, half the features per split (``max_features=0.5``), up to ``max_iter`` trees
    with early stopping on average precision over the run's validation split (or
    ``validation_fraction`` of train when none is given), patience ``n_iter_no_change``.
    Chosen on ULB validation AUPRC (stratified and temporal) among 8 settings; see
    reference_results.yaml for the measured figures.
    Categories are ordinal-encoded as native categorical features; unseen → missing (or
    ``(other)`` in a column cut to its ``max_categories`` most frequent); NaN is native.
    """

    def __init__(self, learning_rate: float = 0.05, max_iter: int = 1000, max_leaf_nodes: int = 31,
                 min_samples_leaf: int = 20, l2_regularization: float = 1.0, max_features: float = 0.5,
                 early_stopping: bool = True, n_iter_no_change: int = 100, validation_fraction: float = 0.2,
                 scoring: str = "average_precision", class_weight: str | None = None,
                 random_state: int | None = None):
        super().__init__(None, None, max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization,
                         max_features, early_stopping, n_iter_no_change, validation_fraction, scoring, class_weight,
                         random_state)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> GBDTHead:
        if X_val is None or y_val is None or len(np.unique(y_val)) != 2:
            X_val = y_val = None  # early stopping then holds out validation_fraction of train
        self._progress_context = context
        try:
            return super().fit(X, self._target(y), X_val, None if y_val is None else self._target(y_val), context)
        finally:  # nothing of the progress hook stays on the head or its estimator (skops saves them)
            self.__dict__.pop("_progress_context", None)
            if getattr(self, "model_", None) is not None:
                self.model_.__dict__.pop("_should_stop", None)
            progress = self.__dict__.pop("_progress", None)
            if progress is not None:
                progress.close()

    @property
    def reports_progress(self) -> bool:
        """Per-iteration progress needs early stopping (its per-iteration check is the hook)."""
        return bool(self.early_stopping)

    def _estimator(self, classify: bool) -> Any:
        """The family's estimator, with per-iteration progress: scikit-learn's HistGradientBoosting
        has no callback, but with early stopping it calls ``_should_stop(scores)`` once per iteration
        with the validation scores so far; a wrapper on the instance reports them and leaves the fit
        as it is (removed again after ``fit``)."""
        model = super()._estimator(classify)
        if not self.early_stopping or not callable(getattr(model, "_should_stop", None)):
            return model
        metric = "neg. log-loss" if self.scoring == "loss" else str(self.scoring)
        progress = self._progress = iteration_progress("gbdt", self.max_iter, metric,
                                                       getattr(self, "_progress_context", None))
        should_stop = model._should_stop

        def report(scores: list[float]) -> bool:
            n = len(getattr(model, "_predictors", ()))
            if n:  # the first call scores the model before its first tree
                progress.update(n, float(scores[-1]) if len(scores) else None)
            return should_stop(scores)

        model._should_stop = report
        return model

    def export_sklearn(self) -> Any:
        """ONNX export hook: the trees (categorical splits included) in the graph (export.py)."""
        from .export import export_gbdt

        return export_gbdt(self)


FORESTS = {"random_forest": RandomForestClassifier, "extra_trees": ExtraTreesClassifier}


class ForestHead(TabularHead):
    """A random forest (``kind="random_forest"``) or extremely randomised trees
    (``"extra_trees"``) on the numeric columns and one-hot categories (unseen → all zeros).

    Defaults are scikit-learn's (√(features) per split, fully grown trees,
    ``min_samples_leaf=1``) with 500 trees, not tuned on any benchmark's test folds.
    The validation split is not used (no early stopping). NaN is native (scikit-learn's trees
    learn a side per split for it). At most ``max_categories`` one-hot columns per category.
    """

    max_categories = 64

    def __init__(self, n_estimators: int = 500, kind: str = "random_forest", max_features: Any = "sqrt",
                 min_samples_leaf: int = 1, max_depth: int | None = None, class_weight: str | None = None,
                 n_jobs: int | None = None, random_state: int | None = None):
        self.n_estimators = n_estimators
        self.kind = kind
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.random_state = random_state

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> ForestHead:
        if self.kind not in FORESTS:
            raise ConfigError(f"model_params.kind={self.kind!r}: forest kinds are {sorted(FORESTS)}")
        X = self._fit_columns(X, clean=False)
        y = self._target(y)
        self.encoder_ = OneHotEncoder(handle_unknown="ignore", sparse_output=False, dtype=np.float64)
        self._fit_encoder(X)
        seed = self.random_state if self.random_state is not None else (context.seed if context else 0)
        self.model_ = FORESTS[self.kind](
            n_estimators=self.n_estimators, max_features=self.max_features, min_samples_leaf=self.min_samples_leaf,
            max_depth=self.max_depth, class_weight=self.class_weight, n_jobs=self.n_jobs, random_state=seed)
        self.model_.fit(self._encode(X), y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(self._encode(X))

    def export_sklearn(self) -> Any:
        """ONNX export hook: one-hot and the trees (an ONNX-ML tree ensemble) in the graph (export.py)."""
        from .export import export_forest

        return export_forest(self)


C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


class BlendHead(TabularHead):
    """The weighted average of two probabilities: a regularised logistic regression
    (standardised numerics, one-hot categories) and a forest (:class:`ForestHead`).

    A linear model and a forest make different errors on small credit tables; averaging
    their probabilities (not ranks: a row's score must not depend on the rest of the
    batch) is steadier than either. Nothing is tuned on a benchmark's test rows:
    ``weight=0.5`` (an equal average) is fixed; the default ``C=None`` picks the logistic
    regression's inverse penalty from ``Cs`` by ``cv``-fold stratified ROC-AUC on the
    training rows only when ``C`` is None (inner CV; the chosen value is ``C_``, the
    scores ``cv_scores_``), or give ``C``; the forest keeps its defaults. The
    validation split is not used.
    """

    max_categories = ForestHead.max_categories  # both parts see the same categories

    def __init__(self, C: float | None = None, Cs: tuple[float, ...] = C_GRID, cv: int = 5, weight: float = 0.5,
                 n_estimators: int = 500, kind: str = "random_forest", min_samples_leaf: int = 1,
                 max_features: Any = "sqrt", n_jobs: int | None = None, random_state: int | None = None):
        self.C = C
        self.Cs = Cs
        self.cv = cv
        self.weight = weight
        self.n_estimators = n_estimators
        self.kind = kind
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _choose_C(self, Xc: pd.DataFrame, y: np.ndarray, seed: int) -> tuple[float, dict[float, float]]:
        """Inner CV on the training rows: mean ROC-AUC per C; ties → the smaller C (stronger penalty)."""
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold

        n_splits = min(self.cv, int(np.bincount(y).min()))
        if n_splits < 2:
            raise DataError(f"choosing C by inner CV needs at least 2 rows of each class; the training data has "
                            f"{np.bincount(y).tolist()} rows per class; set model_params.C to a number")
        grid = sorted(float(c) for c in self.Cs)
        aucs: dict[float, list[float]] = {C: [] for C in grid}
        for tr, te in StratifiedKFold(n_splits, shuffle=True, random_state=seed).split(Xc, y):
            pre = linear_preprocessor(self.numeric_features_, self.categorical_features_)  # as LogRegHead
            A, B = pre.fit_transform(Xc.iloc[tr]), pre.transform(Xc.iloc[te])
            for C in grid:
                lr = LogisticRegression(C=C, max_iter=2000).fit(A, y[tr])
                aucs[C].append(roc_auc_score(y[te], lr.predict_proba(B)[:, 1]))
        scores = {C: float(np.mean(v)) for C, v in aucs.items()}
        best = max(scores.values())
        return next(C for C, v in scores.items() if v >= best - 1e-12), scores

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> BlendHead:
        if not 0.0 <= self.weight <= 1.0:
            raise ConfigError(f"model_params.weight={self.weight!r}: the logistic regression's weight must be in "
                              f"[0, 1]")
        Xc = self._fit_columns(X)
        y = self._target(y)
        seed = self.random_state if self.random_state is not None else (context.seed if context else 0)
        if self.C is None:
            self.C_, scores = self._choose_C(Xc, y, seed)
            self.cv_scores_ = {f"{C:g}": round(v, 6) for C, v in scores.items()}  # C → inner-CV ROC-AUC
        else:
            self.C_ = float(self.C)
        self.logreg_ = LogRegHead(C=self.C_).fit(Xc, y)
        self.forest_ = ForestHead(n_estimators=self.n_estimators, kind=self.kind, max_features=self.max_features,
                                  min_samples_leaf=self.min_samples_leaf, n_jobs=self.n_jobs,
                                  random_state=seed).fit(Xc, y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        Xc = self._clean(X)
        p_lr, p_forest = self.logreg_.predict_proba(Xc)[:, 1], self.forest_.predict_proba(Xc)[:, 1]
        p = self.weight * p_lr + (1 - self.weight) * p_forest
        return np.column_stack([1 - p, p])

    def export_sklearn(self) -> Any:
        """ONNX export hook: both models and the average in one graph (export.py)."""
        from .export import export_blend

        return export_blend(self)


class ScorecardHead(TabularHead):
    """Monotone-WoE logistic scorecard with points and reason codes (see scorecard.py)."""

    def __init__(self, n_prebins: int = 20, min_bin_size: float = 0.05, max_bins: int = 8, min_iv: float = 0.02,
                 C: float = 1.0, points0: float = 600.0, odds0: float = 1 / 19, pdo: float = 50.0,
                 descriptions: dict[str, str] | None = None):
        self.n_prebins = n_prebins
        self.min_bin_size = min_bin_size
        self.max_bins = max_bins
        self.min_iv = min_iv
        self.C = C
        self.points0 = points0
        self.odds0 = odds0
        self.pdo = pdo
        self.descriptions = descriptions

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> ScorecardHead:
        Xc = self._fit_columns(X)
        y = self._target(y)
        bins = {}
        for c in self.feature_names_in_:
            if c in self.categorical_features_:
                bins[c] = sc.bin_categorical(Xc[c].to_numpy(), y, self.min_bin_size)
            else:
                bins[c] = sc.bin_numeric(Xc[c].to_numpy(float), y, self.n_prebins, self.min_bin_size, self.max_bins)
        ivs = {c: b["iv"] for c, b in bins.items()}
        selected = [c for c in self.feature_names_in_ if ivs[c] >= self.min_iv] or [max(ivs, key=ivs.get)]
        self.bins_ = bins
        self.selected_ = selected
        self.lr_ = LogisticRegression(C=self.C, max_iter=2000).fit(self._woe(Xc), y)
        return self

    def _woe(self, Xc: pd.DataFrame) -> np.ndarray:
        return np.column_stack([sc.woe_values(self.bins_[c], Xc[c].to_numpy()) for c in self.selected_])

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.lr_.predict_proba(self._woe(self._clean(X)))

    def export_sklearn(self) -> Any:
        """ONNX export hook: WoE bins and the logistic regression in the graph (export.py)."""
        from .export import export_scorecard

        return export_scorecard(self)

    # -- points ----------------------------------------------------------------------
    def _scaling(self) -> tuple[float, float]:
        return sc.points_scaling(self.points0, self.odds0, self.pdo)

    def base_points(self) -> float:
        offset, factor = self._scaling()
        return float(offset - factor * self.lr_.intercept_[0])

    def _bin_points(self, c: str) -> np.ndarray:
        _, factor = self._scaling()
        j = self.selected_.index(c)
        return -factor * self.lr_.coef_[0, j] * np.asarray(self.bins_[c]["woe"], dtype=float)

    def points_table(self) -> pd.DataFrame:
        """One row per attribute and bin: count, bad rate, WoE, IV, points (plus the base)."""
        rows = [{"attribute": "(base points)", "description": "", "bin": "", "count": np.nan, "bad_rate": np.nan,
                 "woe": np.nan, "iv": np.nan, "points": round(self.base_points(), 1)}]
        for c in self.selected_:
            b = self.bins_[c]
            pts = self._bin_points(c)
            for i, label in enumerate(b["labels"]):
                rows.append({"attribute": c, "description": self._describe(c), "bin": label, "count": b["n"][i],
                             "bad_rate": round(b["bad_rate"][i], 4), "woe": round(b["woe"][i], 4),
                             "iv": round(b["iv"], 4), "points": round(float(pts[i]), 1)})
            rows.append({"attribute": c, "description": self._describe(c), "bin": sc.UNSEEN, "count": 0,
                         "bad_rate": np.nan, "woe": 0.0, "iv": round(b["iv"], 4), "points": 0.0})
        return pd.DataFrame(rows)

    def _describe(self, c: str) -> str:
        return (self.descriptions or {}).get(c, c.replace("_", " "))

    def _points_matrix(self, Xc: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
        pts, idxs = [], []
        for c in self.selected_:
            idx = sc.bin_index(self.bins_[c], Xc[c].to_numpy())
            pts.append(np.append(self._bin_points(c), 0.0)[idx])
            idxs.append(idx)
        return np.column_stack(pts), idxs

    def score(self, X: Any) -> np.ndarray:
        """Scorecard points per row (higher = lower risk); equals the logistic model's odds scaled."""
        pts, _ = self._points_matrix(self._clean(X))
        return self.base_points() + pts.sum(axis=1)

    def reason_codes(self, X: Any, k: int = 4) -> pd.DataFrame:
        """Per row: score and the ``k`` attributes that cost the most points against each
        attribute's best bin, in plain words (adverse-action reasons)."""
        Xc = self._clean(X)
        pts, idxs = self._points_matrix(Xc)
        best = np.array([self._bin_points(c).max() for c in self.selected_])
        lost = best[None, :] - pts
        out = []
        for r in range(len(Xc)):
            order = [j for j in np.argsort(-lost[r], kind="stable") if lost[r, j] > 1e-9][:k]
            row: dict[str, Any] = {"score": round(float(self.base_points() + pts[r].sum()), 1)}
            for rank in range(k):
                if rank < len(order):
                    j = order[rank]
                    c = self.selected_[j]
                    i = idxs[j][r]
                    label = sc.UNSEEN if i < 0 else self.bins_[c]["labels"][i]
                    shown = Xc[c].iloc[r]
                    value = f"{shown:g}" if isinstance(shown, (int, float, np.floating)) else str(shown)
                    where = f"{value}" if c in self.categorical_features_ else f"{value} (bin {label})"
                    row[f"reason_{rank + 1}"] = f"{self._describe(c)}: {where}, -{lost[r, j]:.0f} points"
                else:
                    row[f"reason_{rank + 1}"] = ""
            out.append(row)
        return pd.DataFrame(out)
