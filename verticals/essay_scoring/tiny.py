"""Small synthetic essays (offline) for the conformance check and fast tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetSplits, Split, Task
from verticalkit.core.data.splits import stratified_split

BASIC = "the a is was it and to of in that we they people good bad thing very really".split()
RICH = ("consequently furthermore evidence demonstrates significant perspective community technology "
        "responsibility however although analysis argument persuasive development essential").split()


def synthetic_essays(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Essays for prompts 1 (scores 0–3) and 2 (scores 1–6); better essays are longer and richer."""
    rng = np.random.default_rng(seed)
    texts, prompts, scores = [], [], []
    for i in range(n):
        prompt = 1 + i % 2
        lo, hi = (0, 3) if prompt == 1 else (1, 6)
        score = int(rng.integers(lo, hi + 1))
        quality = (score - lo) / (hi - lo)
        n_sent = int(3 + 12 * quality + rng.integers(0, 3))
        sentences = []
        for _ in range(n_sent):
            k = int(rng.integers(6, 14))
            pool = np.where(rng.random(k) < quality, rng.choice(RICH, k), rng.choice(BASIC, k))
            sentences.append(" ".join(pool).capitalize() + ".")
        texts.append(" ".join(sentences))
        prompts.append(prompt)
        scores.append(score)
    return pd.DataFrame({"text": texts, "prompt": prompts}), np.asarray(scores, dtype=float)


def tiny_data(seed: int = 0) -> DatasetSplits:
    X, y = synthetic_essays(seed=seed)
    meta = pd.DataFrame({"prompt": X["prompt"], "score_min": np.where(X["prompt"] == 1, 0.0, 1.0),
                         "score_max": np.where(X["prompt"] == 1, 3.0, 6.0), "flag": ""})
    full = Split(X, y, np.array([f"essay{i}" for i in range(len(y))]), meta=meta)
    tr, va, te = stratified_split(len(y), X["prompt"].to_numpy(), seed=seed)
    task = Task(kind="regression", target="score", primary_metric="qwk", score_range=(0.0, 6.0), discrete=True)
    return DatasetSplits("essay-csv", task, full.subset(tr), full.subset(va), full.subset(te), "synthetic")


def tiny_traits(seed: int = 0) -> DatasetSplits:
    """:func:`tiny_data` as a two-trait ``multioutput`` task for ``--model traits`` tests: ``Content`` (the
    score, both prompts) and ``Organization`` (prompt 1 only, NaN on prompt 2; 0-3) with a second rater's
    score (meta ``rater1_organization`` / ``rater2_organization``, as ASAP prompts 7-8)."""
    base = tiny_data(seed)
    rng = np.random.default_rng(seed + 1)
    parts = []
    for part in (base.train, base.val, base.test):
        p1 = (part.X["prompt"] == 1).to_numpy()
        r1 = np.where(p1, part.y, np.nan)
        r2 = np.where(p1, np.clip(part.y + rng.integers(-1, 2, len(part.y)), 0, 3), np.nan)
        meta = part.meta.assign(rater1_organization=r1, rater2_organization=r2,
                                rater1_content=np.nan, rater2_content=np.nan)
        Y = np.column_stack([part.y, r1])
        parts.append(Split(part.X, Y, part.ids, meta=meta))
    task = Task(kind="multioutput", target="traits", primary_metric="qwk", classes=["Content", "Organization"],
                score_range=(0.0, 6.0), discrete=True)
    return DatasetSplits("essay-csv", task, *parts, "synthetic-traits")
