"""Fast skops persistence of fitted text vectorizers inside any :class:`SklearnHead`.

skops stores a dict entry by entry, so a fitted ``CountVectorizer`` / ``TfidfVectorizer``
with a 50k-term ``vocabulary_`` takes tens of seconds and tens of MB to save. While a head
is saved, each such vocabulary is replaced by one string of its terms in column order (a
dict of two entries for skops), and put back on load. Vectorizers are found anywhere in the
head: its attributes, lists, tuples and dicts, and inside fitted estimators (pipelines,
column transformers), except below an estimator with its own ``__getstate__`` (which already
decides how its attributes are saved).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from sklearn.base import BaseEstimator

MARK = "__verticalkit_packed_vocabulary__"
SEP = "\x00"  # terms never hold NUL in practice; a vocabulary whose terms do is left as it is


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
                stack.extend(vars(o).values())
        elif isinstance(o, dict):
            stack.extend(o.values())
        elif isinstance(o, (list, tuple)):
            stack.extend(o)


def _is_packed(vocabulary: Any) -> bool:
    return isinstance(vocabulary, dict) and set(vocabulary) == {MARK} and isinstance(vocabulary[MARK], str)


def pack(vocabulary: dict[str, int]) -> dict[str, str] | None:
    """``{MARK: "term0\\0term1..."}`` (terms in column order), or None when it cannot round-trip."""
    terms = sorted(vocabulary, key=vocabulary.get)
    if any(not isinstance(t, str) or SEP in t for t in terms):
        return None
    if [vocabulary[t] for t in terms] != list(range(len(terms))):
        return None
    return {MARK: SEP.join(terms)}


def unpack(packed: dict[str, str]) -> dict[str, int]:
    text = packed[MARK]
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
