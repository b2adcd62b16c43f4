"""Monitor features of essays (``verticalkit monitor``): length, vocabulary and readability."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from .features import FEATURE_NAMES, WORD, feature_matrix

MAX_VOCABULARY = 20_000  # reference words kept (the most common first)
KEPT = {"log_words": "words", "log_sentences": "sentences", "mean_word_len": "mean_word_len",
        "mean_sentence_words": "mean_sentence_words", "type_token_ratio": "type_token_ratio",
        "long_word_rate": "long_word_rate", "flesch_reading_ease": "flesch_reading_ease",
        "oov_rate": "out_of_reference_vocabulary_rate", "punct_rate": "punct_rate"}


def monitor_features(X: pd.DataFrame, state: dict[str, Any]) -> pd.DataFrame:
    """Per essay: words and sentences, type/token ratio, out-of-reference-vocabulary rate, readability
    (Flesch), word and sentence length, punctuation; plus the prompt. At training time ``state`` gets
    the reference vocabulary (words in at least 3 training essays)."""
    texts = X["text"].fillna("").astype(str)
    if "vocabulary" in state:
        vocabulary = set(state["vocabulary"])
    else:
        docs = Counter(w for t in texts for w in {x.lower() for x in WORD.findall(t)})
        state["vocabulary"] = sorted(w for w, c in docs.most_common(MAX_VOCABULARY) if c >= 3)
        # the training essays' own rate, leave-one-out: a word of essay i is known when 3 *other*
        # essays use it (4 in all), as a new essay's word is known when 3 training essays do
        vocabulary = {w for w in state["vocabulary"] if docs[w] >= 4}
    F = pd.DataFrame(feature_matrix(texts, vocabulary), columns=FEATURE_NAMES)
    out = F[list(KEPT)].rename(columns=KEPT)
    out["words"] = np.expm1(out["words"]).round()
    out["sentences"] = np.expm1(out["sentences"]).round()
    if "prompt" in X.columns:
        out["prompt"] = X["prompt"].to_numpy()
    return out
