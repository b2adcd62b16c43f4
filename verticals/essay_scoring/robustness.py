"""Robustness suite: how far do scores move when essays are perturbed in ways a human would penalise?

Perturbations (seeded): sentences shuffled, paragraphs repeated, off-topic text
inserted, gibberish (every word replaced by random letters of the same length), the
prompt's keywords stuffed in, length padding with filler sentences. For each: the mean
score shift (points, and as a share of the prompt's range), the share of essays whose
score went up, and the share the model's review flags catch. A traits (multi-output) model gets
the shift per trait as a share of the trait's range, and its mean over traits.

Run it on a trained run directory::

    python -m verticalkit.verticals.essay_scoring.robustness runs/essay --n 200

``verticalkit train`` adds the table to report.html (``VERTICALKIT_ESSAY_ROBUSTNESS_N``
essays of the test split, default 100; 0 turns it off).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import string
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

SENTENCE = re.compile(r"(?<=[.!?])\s+")
OFF_TOPIC = ("Photosynthesis is the process by which green plants use sunlight to turn carbon dioxide and water "
             "into glucose and oxygen. The light reactions take place in the thylakoid membranes, while the Calvin "
             "cycle fixes carbon in the stroma of the chloroplast.")
FILLER = "This is a very important point that everyone should think about carefully."
DEFAULT_N = 100


def _sentences(text: str) -> list[str]:
    return [s for s in SENTENCE.split(text.strip()) if s]


def shuffle_sentences(text: str, rng: np.random.Generator, keywords: list[str]) -> str:
    s = _sentences(text)
    return " ".join(s[i] for i in rng.permutation(len(s))) if len(s) > 1 else text


def repeat_paragraphs(text: str, rng: np.random.Generator, keywords: list[str]) -> str:
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if p.strip()] or [text]
    return "\n\n".join(p for p in paragraphs for _ in range(2)) if len(paragraphs) > 1 else f"{text}\n\n{text}"


def insert_off_topic(text: str, rng: np.random.Generator, keywords: list[str]) -> str:
    s = _sentences(text)
    cut = len(s) // 2
    return " ".join(s[:cut] + [OFF_TOPIC] + s[cut:])


def gibberish(text: str, rng: np.random.Generator, keywords: list[str]) -> str:
    letters = np.array(list(string.ascii_lowercase))
    return " ".join("".join(rng.choice(letters, max(len(w), 1))) for w in text.split())


def stuff_keywords(text: str, rng: np.random.Generator, keywords: list[str]) -> str:
    if not keywords:
        return text
    return text + " " + " ".join(rng.choice(keywords, 50))


def pad_length(text: str, rng: np.random.Generator, keywords: list[str]) -> str:
    n = max(len(text.split()), 20)
    return text + " " + " ".join([FILLER] * max(1, n // len(FILLER.split())))


PERTURBATIONS: dict[str, Callable[[str, np.random.Generator, list[str]], str]] = {
    "sentences_shuffled": shuffle_sentences, "paragraphs_repeated": repeat_paragraphs,
    "off_topic_inserted": insert_off_topic, "gibberish": gibberish, "keywords_stuffed": stuff_keywords,
    "length_padding": pad_length,
}


def prompt_keywords(texts: list[str], k: int = 15) -> list[str]:
    """The most frequent content words of a prompt's essays (a stand-in for the prompt's keywords)."""
    counts = Counter(w for t in texts for w in set(re.findall(r"[a-z]{4,}", t.lower()))
                     if w not in ENGLISH_STOP_WORDS)
    return [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]]  # ties: alphabetical


def sample_essays(X: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """Up to ``n`` essays, spread evenly over prompts, non-empty."""
    X = X[X["text"].astype(str).str.strip() != ""]
    per = max(1, n // max(X["prompt"].nunique(), 1))
    parts = [g.sample(min(len(g), per), random_state=seed) for _, g in X.groupby("prompt", sort=True)]
    return pd.concat(parts).reset_index(drop=True) if parts else X.iloc[:0]


def _spans(predictor: Any, X: pd.DataFrame, k: int) -> np.ndarray:
    """Score range width per essay, ``(n,)``; per essay and trait, ``(n, k)``, for a multi-output head
    (``heads_``: one per trait). 1 where the head keeps no ranges (the shift stays in points)."""
    from .data import prompt_key

    keys = [prompt_key(p) for p in X["prompt"]]
    heads = getattr(predictor.head, "heads_", None) if k else None
    tables = [getattr(h, "ranges_", {}) for h in heads] if heads else [getattr(predictor.head, "ranges_", {})]
    cols = [[max(t.get(key, [0, 1])[1] - t.get(key, [0, 1])[0], 1) for key in keys] for t in tables]
    span = np.asarray(cols, dtype=float).T
    return span[:, 0] if not k else np.broadcast_to(span, (len(keys), k))


def _names(predictor: Any, k: int) -> list[str]:
    classes = list(getattr(getattr(predictor, "task", None), "classes", None) or [])
    return [str(c) for c in classes] if len(classes) == k else [f"output_{j}" for j in range(k)]


def _row(name: str, shift: np.ndarray, span: np.ndarray, flags: float, traits: list[str]) -> dict[str, Any]:
    """One table row. 1-D: mean shift in points and as a share of the range. 2-D (traits): the mean over
    traits of each trait's mean shift as a share of its range, then that per-trait figure per column."""
    if shift.ndim == 1:
        return {"perturbation": name, "n": len(shift), "mean_shift": float(np.mean(shift)),
                "mean_shift_range": float(np.mean(shift / span)), "mean_abs_shift": float(np.mean(np.abs(shift))),
                "share_up": float(np.mean(shift > 0)), "share_flagged": flags}
    share = shift / span
    present = ~np.isnan(share)
    with np.errstate(all="ignore"):
        per_trait = [float(np.mean(share[present[:, j], j])) if present[:, j].any() else float("nan")
                     for j in range(share.shape[1])]
        per_abs = [float(np.mean(np.abs(share[present[:, j], j])))
                   for j in range(share.shape[1]) if present[:, j].any()]
    finite = [v for v in per_trait if np.isfinite(v)]
    row: dict[str, Any] = {"perturbation": name, "n": len(shift),
                           "mean_shift_range": float(np.mean(finite)) if finite else float("nan"),
                           "mean_abs_shift_range": float(np.mean(per_abs)) if per_abs else float("nan"),
                           "share_up": float(np.mean(shift[present] > 0)) if present.any() else float("nan"),
                           "share_flagged": flags}
    row.update(dict(zip(traits, per_trait)))
    return row


def run_suite(predictor: Any, X: pd.DataFrame, n: int = DEFAULT_N, seed: int = 0,
              keyword_texts: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per perturbation: mean shift (points, share of range), share up, share flagged.

    A multi-output (traits) predictor gives the shift as a share of each trait's range: the mean
    over traits (``mean_shift_range``, ``mean_abs_shift_range``), then one column per trait;
    ``share_up``: the share of (essay, trait) scores that went up.
    """
    base_X = sample_essays(X, n, seed)
    ref = keyword_texts if keyword_texts is not None else X
    keywords = {p: prompt_keywords(list(ref.loc[ref["prompt"] == p, "text"].astype(str))) for p in base_X["prompt"]}
    base = np.asarray(predictor.predict_score(base_X), dtype=float)
    k = base.shape[1] if base.ndim == 2 else 0
    span, traits = _spans(predictor, base_X, k), _names(predictor, k)
    flagger = getattr(predictor.head, "review_flags", None)

    def flagged(px: pd.DataFrame) -> float:
        return float(np.mean(flagger(px) != "")) if flagger else float("nan")

    rows = [_row("none", base - base, span, flagged(base_X), traits)]
    for name, fn in PERTURBATIONS.items():
        rng = np.random.default_rng(seed)
        texts = [fn(str(t), rng, keywords[p]) for t, p in zip(base_X["text"], base_X["prompt"])]
        px = pd.DataFrame({"text": texts, "prompt": base_X["prompt"].to_numpy()})
        shift = np.asarray(predictor.predict_score(px), dtype=float) - base
        rows.append(_row(name, shift, span, flagged(px), traits))
    return pd.DataFrame(rows)


EXPLAIN = ("<p>Mean change of the predicted score when each essay is perturbed (points; <i>range</i>: as a share of "
           "the prompt's score range). A robust scorer lowers the score for gibberish, off-topic text and "
           "repetition, and does not reward keyword stuffing or padding; <i>flagged</i>: share the review flags "
           "send to a human.</p>")
EXPLAIN_TRAITS = ("<p>Mean change of each trait's predicted score when each essay is perturbed, as a share of that "
                  "trait's score range on the essay's prompt: <i>mean_shift_range</i> is the mean over traits, one "
                  "column per trait follows (blank where no sampled prompt has the trait); <i>share_up</i>: share of "
                  "(essay, trait) scores that went up. A robust scorer lowers the scores for gibberish, off-topic "
                  "text and repetition, and does not reward keyword stuffing or padding; <i>flagged</i>: share the "
                  "review flags send to a human.</p>")


def report_section(predictor: Any, splits: Any, scores: np.ndarray, run_dir: Path) -> list[tuple[str, str]]:
    """Vertical.report_sections hook: the robustness table on a sample of the test essays
    (also written as robustness.csv and robustness.json in the run folder)."""
    n = int(os.environ.get("VERTICALKIT_ESSAY_ROBUSTNESS_N", DEFAULT_N))
    if n <= 0 or not isinstance(splits.test.X, pd.DataFrame) or len(splits.test) == 0:
        return []
    table = run_suite(predictor, splits.test.X, n=n, keyword_texts=splits.train.X)
    table.to_csv(run_dir / "robustness.csv", index=False)
    write_json(run_dir / "robustness.json", table)
    explain = EXPLAIN if "mean_shift" in table else EXPLAIN_TRAITS
    return [("Robustness to perturbed essays", explain + table.to_html(index=False, float_format="%.3f",
                                                                         na_rep="", escape=True))]


def write_json(path: Path, table: pd.DataFrame) -> None:
    """The table as a list of records; NaN (a trait no sampled prompt has) as null."""
    records = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in r.items()}
               for r in table.to_dict(orient="records")]
    path.write_text(json.dumps(records, indent=2))


def main(argv: list[str] | None = None) -> int:
    """CLI: ``python -m verticalkit.verticals.essay_scoring.robustness RUN_DIR [--n N] [--split S]``."""
    from verticalkit.core.errors import VerticalkitError
    from verticalkit.core.registry import get_vertical
    from verticalkit.core.train.run import load_run, load_splits, resolve_sections

    ap = argparse.ArgumentParser(description="score shift of a trained essay model under perturbations")
    ap.add_argument("run_dir")
    ap.add_argument("--n", type=int, default=200, help="essays sampled from the split (spread over prompts)")
    ap.add_argument("--split", default="test", choices=["train", "val", "test"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    try:
        cfg, predictor = load_run(args.run_dir)
        vertical = get_vertical(cfg.vertical)
        resolve_sections(cfg, vertical)
        splits = load_splits(cfg, vertical)
        table = run_suite(predictor, splits.split(args.split).X, n=args.n, seed=args.seed,
                          keyword_texts=splits.train.X)
    except VerticalkitError as e:
        print(f"error: {e}")
        return 2
    out = Path(args.run_dir) / "robustness.json"
    write_json(out, table)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["PERTURBATIONS", "prompt_keywords", "report_section", "run_suite"]
