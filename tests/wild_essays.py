"""A generator of messy essay CSVs, as they arrive from schools and competitions.

:func:`wild_essays` builds the table; :func:`write_wild` writes it with a chosen encoding,
separator and line end. What is in it (``WILD`` names each case):

* prompt NAMES with spaces, punctuation and accents, and one numeric prompt written both
  ``7`` and ``7.0``; a prompt with a single essay;
* half-point scores (1.0–5.0 step 0.5) on one prompt, 0–3 and 2–12 on others; a second,
  half-point trait column with holes;
* empty texts, empty and ``NA`` scores, an optional non-numeric score (``"four"``);
* a very long essay (over the 20,000 words the heads keep), accented and curly-quoted text
  (all Windows-1252 encodable, so the same table can be written as UTF-8, UTF-8 with BOM,
  Windows-1252 or Latin-1);
* exact duplicate rows (same id, same essay), and optionally one id on two different essays.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

BASIC = "the a is was it and to of in that we they people good bad thing very really".split()
RICH = ("consequently furthermore evidence demonstrates significant perspective community technology "
        "responsibility however although analysis argument persuasive development essential café naïve "
        "“quoted” rôle").split()
# prompt → (low, high, step)
PROMPTS = {"Afterschool homework club": (1.0, 5.0, 0.5), "Café & société: «été»": (0.0, 3.0, 1.0),
           "7": (2.0, 12.0, 1.0)}
SINGLE = "Lonely prompt, one essay"
LONG_WORDS = 25_000
WILD = ("prompt names", "float prompt ids", "single-essay prompt", "half points", "trait column with holes",
        "empty texts", "empty scores", "NA scores", "very long essay", "accents and curly quotes",
        "duplicate rows")


def _essay(rng: np.random.Generator, quality: float) -> str:
    sentences = []
    for _ in range(int(3 + 10 * quality + rng.integers(0, 3))):
        k = int(rng.integers(6, 14))
        words = np.where(rng.random(k) < quality, rng.choice(RICH, k), rng.choice(BASIC, k))
        sentences.append(" ".join(words).capitalize() + ".")
    return " ".join(sentences)


def wild_essays(n: int = 180, seed: int = 0, *, bad_score: bool = False, conflicting_id: bool = False
                ) -> pd.DataFrame:
    """Columns ``essay_id, prompt, full_text, score, organization`` (all strings, as read from a file)."""
    rng = np.random.default_rng(seed)
    names = list(PROMPTS)
    rows = []
    for i in range(n):
        prompt = names[i % len(names)]
        lo, hi, step = PROMPTS[prompt]
        levels = np.arange(lo, hi + step / 2, step)
        level = int(rng.integers(0, len(levels)))
        quality = level / (len(levels) - 1)
        org = np.clip(np.round((1 + 4 * quality + rng.normal(0, 0.5)) * 2) / 2, 1, 5)
        shown = prompt if prompt != "7" else rng.choice(["7", "7.0", " 7 "])
        rows.append({"essay_id": f"e{i:04d}", "prompt": shown, "full_text": _essay(rng, quality),
                     "score": f"{levels[level]:g}", "organization": "" if i % 7 == 0 else f"{org:g}"})
    rows.append({"essay_id": "single", "prompt": SINGLE, "full_text": _essay(rng, 0.5), "score": "3",
                 "organization": "3.5"})
    df = pd.DataFrame(rows)
    df.loc[3, "full_text"] = ""  # empty texts (scored: the raters gave them the lowest mark)
    df.loc[4, "full_text"] = "   "
    df.loc[5, "score"] = ""  # empty scores and NA: left out
    df.loc[6, "score"] = "NA"
    df.loc[8, ["score", "organization"]] = ""
    df.loc[10, "full_text"] = " ".join(["word"] * LONG_WORDS)  # far over the 20,000 words kept
    df = pd.concat([df, df.iloc[[11, 12]]], ignore_index=True)  # exact duplicate rows
    if bad_score:
        df.loc[20, "score"] = "four"
    if conflicting_id:
        df.loc[21, "essay_id"] = df.loc[22, "essay_id"]
    return df


def write_wild(path: str | Path, df: pd.DataFrame, encoding: str = "utf-8-sig", sep: str = ",",
               line_end: str = "\r\n") -> Path:
    """Write the table as a file a school might send: ``encoding`` (utf-8, utf-8-sig, cp1252, latin-1...),
    separator and line ends (CRLF by default)."""
    path = Path(path)
    text = df.to_csv(index=False, sep=sep, lineterminator=line_end)
    if encoding.replace("-", "").lower() in ("latin1", "iso88591"):
        text = text.replace("“", '"').replace("”", '"')  # not in Latin-1 (they are in cp1252)
    path.write_bytes(text.encode(encoding))
    return path
