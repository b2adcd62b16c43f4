"""Interpretable essay features: length, vocabulary, sentences, readability, spelling, punctuation."""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pandas as pd

WORD = re.compile(r"[A-Za-z']+")
SENTENCE = re.compile(r"[^.!?]+[.!?]*")
VOWELS = re.compile(r"[aeiouy]+")
FEATURE_NAMES = ["log_chars", "log_words", "log_sentences", "mean_word_len", "mean_sentence_words",
                 "type_token_ratio", "log_unique_words", "long_word_rate", "flesch_reading_ease",
                 "oov_rate", "comma_rate", "punct_rate", "capital_start_rate", "paragraphs"]


def _syllables(word: str) -> int:
    return max(1, len(VOWELS.findall(word.lower())) - word.lower().endswith("e"))


def essay_features(text: str, vocabulary: frozenset[str] | set[str] = frozenset()) -> list[float]:
    """The FEATURE_NAMES values of one essay; ``vocabulary`` (known words) drives ``oov_rate``."""
    words = WORD.findall(text)
    lower = [w.lower() for w in words]
    sentences = [s for s in SENTENCE.findall(text) if WORD.search(s)]
    n_w, n_s = max(len(words), 1), max(len(sentences), 1)
    syllables = sum(_syllables(w) for w in words[:5000])
    flesch = 206.835 - 1.015 * (len(words) / n_s) - 84.6 * (syllables / max(min(len(words), 5000), 1))
    oov = sum(w not in vocabulary for w in lower) / n_w if vocabulary else 0.0
    return [
        np.log1p(len(text)), np.log1p(len(words)), np.log1p(len(sentences)),
        float(np.mean([len(w) for w in words])) if words else 0.0, len(words) / n_s,
        len(set(lower)) / n_w, np.log1p(len(set(lower))), sum(len(w) > 6 for w in words) / n_w,
        float(np.clip(flesch, -100, 150)), oov, text.count(",") / n_w,
        sum(text.count(c) for c in ".,;:!?") / n_w,
        sum(s.strip()[:1].isupper() for s in sentences) / n_s, float(text.count("\n\n") + 1),
    ]


def build_vocabulary(texts: pd.Series | list[str], min_docs: int = 3) -> set[str]:
    """Words used in at least ``min_docs`` essays: an offline stand-in for a dictionary."""
    counts: dict[str, int] = {}
    for t in texts:
        for w in set(x.lower() for x in WORD.findall(t)):
            counts[w] = counts.get(w, 0) + 1
    return {w for w, c in counts.items() if c >= min_docs}


def pack_words(words) -> str:
    """A word list as one newline-joined string (words hold no newlines): skops saves it as one node,
    where a set or dict of 10k words costs seconds and megabytes."""
    return "\n".join(words)


@lru_cache(maxsize=32)
def word_set(packed: str) -> frozenset[str]:
    """The words of a :func:`pack_words` string, built once per string (a prompt's vocabulary is read
    at every prediction; nothing to drop from a head's saved state)."""
    return frozenset(packed.split("\n")) if packed else frozenset()


def feature_matrix(texts, vocabulary: frozenset[str] | set[str]) -> np.ndarray:
    return np.array([essay_features(t, vocabulary) for t in texts], dtype=float)
