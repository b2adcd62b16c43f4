"""Flags for human review: essays far outside the training distribution of their prompt.

A :class:`ReviewFlagger` learns, per prompt, the word-count range and the vocabulary
of the training essays; ``flags(texts, prompts)`` returns one string per essay,
``""`` when nothing is unusual, else ``;``-joined reasons:

empty · too_long (> MAX_WORDS words) · unknown_prompt · short_for_prompt /
long_for_prompt (outside [½ × 1st percentile, 2 × 99th percentile] of the prompt's
word counts) · off_vocabulary (under half of the words are known to the prompt:
gibberish, another language) · repetitive (under 60% of the sentences are distinct).
State is plain dicts and strings (a vocabulary is one newline-joined string: features.pack_words),
so heads that hold a flagger save quickly with skops.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .features import WORD, build_vocabulary, pack_words, word_set

MAX_WORDS = 20_000  # longer texts are flagged, and cut for feature extraction
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")
MIN_KNOWN_RATE = 0.5
MIN_DISTINCT_SENTENCES = 0.6


def word_count(text: str) -> int:
    return len(text.split())


def known_rate(text: str, vocabulary: set[str]) -> float:
    words = [w.lower() for w in WORD.findall(text[:200_000])]
    return sum(w in vocabulary for w in words) / len(words) if words else 0.0


def distinct_sentence_rate(text: str) -> float:
    sentences = [s.strip().lower() for s in SENTENCE_SPLIT.split(text[:200_000]) if len(s.split()) >= 3]
    return len(set(sentences)) / len(sentences) if len(sentences) >= 4 else 1.0


class ReviewFlagger:
    """Per-prompt training statistics and the flags they imply (see the module docstring)."""

    def __init__(self) -> None:
        self.stats: dict[str, dict] = {}

    def fit(self, texts, prompts) -> ReviewFlagger:
        texts, prompts = list(texts), np.asarray(prompts)
        for p in np.unique(prompts):
            sub = [t for t, q in zip(texts, prompts) if q == p]
            counts = np.array([word_count(t) for t in sub if t.strip()] or [0])
            self.stats[str(p)] = {"words_lo": float(np.percentile(counts, 1)) / 2,
                                  "words_hi": float(np.percentile(counts, 99)) * 2,
                                  "vocabulary": pack_words(sorted(build_vocabulary(sub, min_docs=2)))}
        return self

    def vocabulary(self, key: str) -> frozenset[str]:
        """The known words of a prompt's training essays."""
        return word_set(self.stats[key]["vocabulary"])

    def flag_one(self, text: str, prompt) -> str:
        reasons = []
        n = word_count(text)
        if not text.strip():
            return "empty"
        if n > MAX_WORDS:
            reasons.append("too_long")
        key = str(prompt)
        st = self.stats.get(key)
        if st is None:
            if self.stats:
                reasons.append("unknown_prompt")
        else:
            if n < st["words_lo"]:
                reasons.append("short_for_prompt")
            elif n > st["words_hi"] and "too_long" not in reasons:
                reasons.append("long_for_prompt")
            if known_rate(text, self.vocabulary(key)) < MIN_KNOWN_RATE:
                reasons.append("off_vocabulary")
        if distinct_sentence_rate(text) < MIN_DISTINCT_SENTENCES:
            reasons.append("repetitive")
        return ";".join(reasons)

    def flags(self, texts, prompts) -> pd.Series:
        return pd.Series([self.flag_one(str(t), p) for t, p in zip(texts, np.asarray(prompts))], dtype=object)


def basic_flags(texts) -> pd.Series:
    """Flags that need no training statistics: empty, too_long, repetitive."""
    return ReviewFlagger().flags(texts, np.zeros(len(texts), dtype=int))


def review_reasons(predictor, X) -> list[list[str]]:
    """/v1/predict reason codes of an essay model: its review flags (empty list: nothing unusual).
    Heads that keep their training statistics (``review_flags``: the finetune head) give every flag;
    the others the flags that need none (empty, too_long, repetitive)."""
    head = predictor.head
    flags = head.review_flags(X) if hasattr(head, "review_flags") else basic_flags(X["text"].astype(str).tolist())
    return [[f for f in str(s).split(";") if f] for s in flags]
