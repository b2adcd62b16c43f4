"""SklearnHead saves fitted text vectorizers fast: vocabularies are packed for skops (core/heads/packing.py)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline

from verticalkit.core.heads.base import SklearnHead
from verticalkit.core.heads.packing import MARK, pack, packed_vocabularies, unpack


class TextRidge(SklearnHead):
    """TF-IDF + ridge in a pipeline, plus a second vectorizer kept in a dict attribute."""

    def __init__(self, ngram_max: int = 2):
        self.ngram_max = ngram_max

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        self.pipeline_ = make_pipeline(TfidfVectorizer(ngram_range=(1, self.ngram_max), sublinear_tf=True),
                                       Ridge()).fit(X, y)
        self.extra_ = {"chars": CountVectorizer(analyzer="char", ngram_range=(1, 2)).fit(X)}
        return self

    def predict(self, X):
        return self.pipeline_.predict(X) + 0 * self.extra_["chars"].transform(X).sum(axis=1).A1


def corpus(n=400, seed=0):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(4000)] + ["naïve", "café", "Straße", "日本"]
    docs = [" ".join(rng.choice(words, 40)) for _ in range(n)]
    docs[0] = "line one\nline two"  # a newline inside the char n-grams
    docs[1] = ""
    return docs, rng.normal(size=n)


def test_round_trip_is_exact_and_the_file_small(tmp_path):
    X, y = corpus()
    head = TextRidge().fit(X, y)
    vocab = dict(head.pipeline_[0].vocabulary_)
    chars = dict(head.extra_["chars"].vocabulary_)
    head.save(tmp_path)
    assert head.pipeline_[0].vocabulary_ == vocab  # the live head is left as it was
    back = TextRidge.load(tmp_path)
    assert back.pipeline_[0].vocabulary_ == vocab and back.extra_["chars"].vocabulary_ == chars
    np.testing.assert_allclose(back.predict(X), head.predict(X), atol=1e-12)
    size = (tmp_path / "model.skops").stat().st_size
    assert len(vocab) > 15_000 and size < 100 * len(vocab)  # unpacked, skops spends ~1 kB per term


def test_column_transformer_and_a_failed_save_restore_the_vocabulary(tmp_path, monkeypatch):
    df = pd.DataFrame({"text": corpus(200)[0], "n": np.arange(200.0)})
    y = (np.arange(200) % 2).astype(int)
    ct = ColumnTransformer([("t", TfidfVectorizer(), "text")], remainder="passthrough")
    model = make_pipeline(ct, LogisticRegression(max_iter=200)).fit(df, y)
    fitted = model[0].named_transformers_["t"]
    vocab = dict(fitted.vocabulary_)
    with pytest.raises(RuntimeError):
        with packed_vocabularies({"m": model}):
            assert set(fitted.vocabulary_) == {MARK}
            raise RuntimeError("disk full")
    assert fitted.vocabulary_ == vocab


def test_pack_refuses_what_cannot_round_trip():
    assert unpack(pack({"b": 1, "a": 0})) == {"a": 0, "b": 1}
    assert pack({"a\x00b": 0}) is None  # the separator inside a term
    assert pack({"a": 0, "b": 2}) is None  # columns not 0..n-1
    assert pack({"a": 0, 3: 1}) is None and pack({"": 0}) is None  # a term not a string; one empty term
    assert unpack(pack({"": 0, "a": 1})) == {"": 0, "a": 1}
    assert unpack(pack({})) == {}


def test_terms_are_saved_as_raw_utf8_bytes_and_the_string_format_still_loads():
    vocabulary = {"caf\xe9": 0, "日本": 1, "a b": 2}
    packed = pack(vocabulary)[MARK]
    assert packed.dtype == np.uint8 and packed.tobytes() == "caf\xe9\x00日本\x00a b".encode()
    assert unpack(pack(vocabulary)) == vocabulary
    assert unpack({MARK: "caf\xe9\x00日本\x00a b"}) == vocabulary  # files saved before the bytes format


class OwnState(TextRidge):
    """Shapes its own saved state: packing leaves it alone (its __getstate__ may read the vocabulary)."""

    def __getstate__(self):
        state = super().__getstate__()
        state["n_terms_"] = len(self.pipeline_[0].vocabulary_)
        return state


def test_a_head_with_its_own_getstate_is_left_alone(tmp_path):
    X, y = corpus(100)
    head = OwnState().fit(X, y)
    with packed_vocabularies(head):
        assert MARK not in head.pipeline_[0].vocabulary_
    head.save(tmp_path)
    back = OwnState.load(tmp_path)
    assert back.n_terms_ == len(head.pipeline_[0].vocabulary_)
    np.testing.assert_allclose(back.predict(X), head.predict(X), atol=1e-12)
