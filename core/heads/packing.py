"""Fast skops persistence of fitted text vectorizers inside any :class:`SklearnHead`.

skops stores a dict entry by entry, so a fitted ``CountVectorizer`` / ``TfidfVectorizer``
with a 50k-term ``vocabulary_`` takes tens of seconds and tens of MB to save. While a head
is saved, each such vocabulary is replaced by its terms in column order, NUL-joined, as one
array of UTF-8 bytes (a one-entry dict for skops; the array is stored raw, where a string
would be JSON-escaped twice: 7 bytes per NUL), and put back on load. Files holding the
joined terms as a string (the earlier format) load too. Vectorizers are found anywhere in the
head: its attributes, lists, tuples and dicts, and inside fitted estimators (pipelines,
column transformers), except below an estimator with its own ``__getstate__`` (which already
decides how its attributes are saved).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from sklearn.base import BaseEstimator

MARK = "__verticalkit_packed_vocabulary__"
SEP = "\x00"  # terms never hold NUL in practice; a vocabulary whose terms do is left as it is
CONTAINERS = (BaseEstimator, dict, list, tuple)  # what may hold an estimator


def estimators(obj: Any) -> Iterator[BaseEstimator]:
    """Every scikit-learn estimator reachable from ``obj`` (attributes, lists, tuples, dicts)."""
    seen: set[int] = set()
    stack = [obj]
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, BaseEstimator):
            yield o
            if type(o).__getstate__ is BaseEstimator.__getstate__:  # a custom __getstate__ shapes its own state
                # not into a vocabulary: term -> column, no estimator, and 100k entries to step over
                stack.extend(v for k, v in vars(o).items() if k != "vocabulary_" and isinstance(v, CONTAINERS))
        elif isinstance(o, dict):
            stack.extend(v for v in o.values() if isinstance(v, CONTAINERS))
        elif isinstance(o, (list, tuple)):
            stack.extend(v for v in o if isinstance(v, CONTAINERS))


def _is_packed(vocabulary: Any) -> bool:
    if not (isinstance(vocabulary, dict) and len(vocabulary) == 1 and MARK in vocabulary):
        return False
    terms = vocabulary[MARK]
    return isinstance(terms, str) or (isinstance(terms, np.ndarray) and terms.dtype == np.uint8 and terms.ndim == 1)


def pack(vocabulary: dict[str, int]) -> dict[str, np.ndarray] | None:
    """``{MARK: UTF-8 bytes of "term0\\0term1..."}`` (terms in column order), or None when it cannot round-trip."""
    terms = sorted(vocabulary, key=vocabulary.get)
    if list(map(vocabulary.__getitem__, terms)) != list(range(len(terms))):
        return None
    try:
        text = SEP.join(terms)
    except TypeError:  # a term that is not a string
        return None
    if text.count(SEP) != max(len(terms) - 1, 0) or terms == [""]:  # the separator in a term; {"": 0} reads as {}
        return None
    return {MARK: np.frombuffer(text.encode("utf-8", "surrogatepass"), dtype=np.uint8)}


def unpack(packed: dict[str, Any]) -> dict[str, int]:
    text = packed[MARK]
    if isinstance(text, np.ndarray):
        text = text.tobytes().decode("utf-8", "surrogatepass")
    return {t: i for i, t in enumerate(text.split(SEP))} if text else {}


@contextmanager
def packed_vocabularies(obj: Any) -> Iterator[None]:
    """Within the block, every fitted vectorizer vocabulary under ``obj`` is packed; restored after."""
    originals = []
    for est in list(estimators(obj)):
        vocabulary = vars(est).get("vocabulary_")
        if isinstance(vocabulary, dict) and not _is_packed(vocabulary):
            packed = pack(vocabulary)
            if packed is not None:
                originals.append((est, vocabulary))
                est.vocabulary_ = packed
    try:
        yield
    finally:
        for est, vocabulary in originals:
            est.vocabulary_ = vocabulary


def unpack_vocabularies(obj: Any) -> Any:
    """Undo :func:`packed_vocabularies` on a loaded object (in place); return it."""
    for est in list(estimators(obj)):
        if _is_packed(vars(est).get("vocabulary_")):
            est.vocabulary_ = unpack(est.vocabulary_)
    return obj
