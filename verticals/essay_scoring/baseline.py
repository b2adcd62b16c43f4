"""``tfidf``: the plain essay baseline, TF-IDF word n-grams → ridge, one per prompt and score column.

No handcrafted features, no cut points: predictions are the ridge's values clipped to the prompt's
training range (a prompt with one training score, or too few essays for a vocabulary, predicts its mean). One TF-IDF per prompt serves all of its score columns (traits), so a multioutput
task (``(n, k)`` target, NaN where a prompt has no such trait) costs one vectoriser per prompt.
It is ``Vertical.baseline_model``: every essay run reports its lift over it (core/evaluate/baselines.py).
"""

from __future__ import annotations

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge

from verticalkit.core.errors import DataError
from verticalkit.core.heads.base import SklearnHead

from .data import prompt_key
from .models import check_input, clip_words, read_legacy_tfidf


class TfidfHead(SklearnHead):
    """TF-IDF (1..``ngram_max``-grams, sublinear tf) → ridge(``alpha``) per prompt and output column."""

    def __init__(self, alpha: float = 3.0, max_features: int = 20000, ngram_max: int = 2):
        self.alpha = alpha
        self.max_features = max_features
        self.ngram_max = ngram_max

    def _tfidf(self) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=2, sublinear_tf=True,
                               max_features=self.max_features)

    def fit(self, X, y, X_val=None, y_val=None, context=None) -> TfidfHead:
        X = check_input(X)
        Y = np.asarray(y, dtype=float)
        self.one_output_ = Y.ndim == 1
        Y = Y[:, None] if self.one_output_ else Y
        self.n_outputs_ = Y.shape[1]
        keys = np.array([prompt_key(p) for p in X["prompt"]], dtype=object)
        texts = np.array([clip_words(t) for t in X["text"]], dtype=object)
        self.tfidf_, self.ridges_, self.ranges_ = {}, {}, {}
        for key in sorted(set(keys)):
            m = keys == key
            try:
                self.tfidf_[key] = self._tfidf().fit(texts[m])
            except ValueError:  # too few essays or words for min_df=2: the prompt predicts its mean
                self.tfidf_[key] = None
            else:
                self.tfidf_[key].stop_words_ = None  # the pruned terms: not needed to transform
            design = None if self.tfidf_[key] is None else self.tfidf_[key].transform(texts[m])
            for j in range(self.n_outputs_):
                ok = ~np.isnan(Y[m, j])
                if not ok.any():
                    continue
                target = Y[m, j][ok]
                lo, hi = float(target.min()), float(target.max())
                col = f"{key}|{j}"  # string keys: skops-friendly
                self.ranges_[col] = [lo, hi]
                if design is None or hi == lo:
                    self.ridges_[col] = float(np.mean(target))
                else:
                    self.ridges_[col] = Ridge(alpha=self.alpha).fit(design[ok], (target - lo) / (hi - lo))
        return self

    def predict(self, X) -> np.ndarray:
        X = check_input(X)
        keys = np.array([prompt_key(p) for p in X["prompt"]], dtype=object)
        unknown = sorted(set(keys) - set(self.tfidf_))
        if unknown:
            raise DataError(f"column 'prompt': prompt(s) {unknown} were not in the training data "
                            f"(known prompts: {sorted(self.tfidf_)}); score those essays with a model trained on them")
        texts = np.array([clip_words(t) for t in X["text"]], dtype=object)
        out = np.full((len(X), self.n_outputs_), np.nan)
        for key in set(keys):
            m = keys == key
            design = None if self.tfidf_[key] is None else self.tfidf_[key].transform(texts[m])
            for j in range(self.n_outputs_):
                col = f"{key}|{j}"
                ridge = self.ridges_.get(col)
                if isinstance(ridge, float):
                    out[m, j] = ridge
                elif ridge is not None:
                    lo, hi = self.ranges_[col]
                    out[m, j] = np.clip(lo + ridge.predict(design) * (hi - lo), lo, hi)
        return out[:, 0] if self.one_output_ else out

    def __setstate__(self, state):
        super().__setstate__(state)
        read_legacy_tfidf(getattr(self, "tfidf_", {}), self._tfidf)
