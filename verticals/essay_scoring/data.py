"""Dataset adapters of the essay-scoring vertical: ASAP (5 standard folds) and generic essay CSVs."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.data.sources import resolve_source
from verticalkit.core.data.splits import stratified_split
from verticalkit.core.families.text import decode_text, group_key

from .flags import ReviewFlagger
from .scales import infer_step, on_scale, score_scale

# domain1_score range per ASAP prompt (essay_set)
ASAP_RANGES: dict[int, tuple[int, int]] = {1: (2, 12), 2: (1, 6), 3: (0, 3), 4: (0, 3), 5: (0, 4), 6: (0, 4),
                                           7: (0, 30), 8: (0, 60)}
ASAP_N_ESSAYS = 12978


def read_asap(path: str | Path) -> pd.DataFrame:
    """Read ``training_set_rel3.tsv`` with every essay intact.

    The essay text is quoted, and essay 10534 holds a stray double quote that makes
    a default CSV reader merge two rows: read with QUOTE_NONE, then undo the quoting
    field by field (outer quotes off, doubled quotes halved).
    """
    path = Path(path)
    text = decode_text(path.read_bytes(), str(path))
    rows = list(csv.reader(io.StringIO(text), delimiter="\t", quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: empty file; expected the ASAP training_set_rel3.tsv")
    header, body = rows[0], rows[1:]
    need = ["essay_id", "essay_set", "essay", "domain1_score"]
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(f"{path}: columns {missing} not found (header: {header[:8]}...); "
                        f"expected the ASAP tab-separated layout")
    width = len(header)
    bad = [i + 2 for i, r in enumerate(body) if len(r) > width]
    if bad:
        raise DataError(f"{path}: lines {bad[:5]} have more fields than the header; is it tab-separated?")
    body = [r + [""] * (width - len(r)) for r in body]
    df = pd.DataFrame(body, columns=header)
    df["essay"] = df["essay"].map(_unquote)
    for col in header:
        if col != "essay":
            df[col] = pd.to_numeric(df[col].replace("", np.nan), errors="coerce")
    return df


def _unquote(field: str) -> str:
    """Undo CSV quoting of one field read with QUOTE_NONE: outer quotes off, ``""`` → ``"``."""
    field = field.strip()
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"':
        field = field[1:-1].replace('""', '"')
    return field.strip()


def flag_splits(train: Split, *others: Split) -> None:
    """Set ``meta["flag"]`` of every split from a ReviewFlagger fitted on the training essays."""
    flagger = ReviewFlagger().fit(train.X["text"], train.X["prompt"])
    for part in (train, *others):
        if part.meta is not None and len(part):
            part.meta["flag"] = flagger.flags(part.X["text"], part.X["prompt"]).to_numpy()


def _frame(texts: pd.Series, prompts: pd.Series) -> pd.DataFrame:
    """The heads' input: one row per essay, columns ``text`` and ``prompt``."""
    return pd.DataFrame({"text": texts.astype(str).to_numpy(), "prompt": prompts.astype(int).to_numpy()})


def _need(df: pd.DataFrame, raw: list[str]) -> None:
    """DataError unless ``df`` holds the raw columns ``raw`` (or the model's ``text`` / ``prompt``)."""
    missing = [c for c in raw if c not in df.columns]
    if missing:
        raise DataError(f"input: missing column(s) {missing}; give the dataset's own columns {raw} or the "
                        f"model's columns ['text', 'prompt'] (columns found: {list(df.columns)[:20]})")


class _ASAPInput:
    """``to_model_input`` of the ASAP-layout adapters: ``essay`` / ``essay_set`` → ``text`` / ``prompt``."""

    def to_model_input(self, df: pd.DataFrame) -> pd.DataFrame:
        if {"text", "prompt"} <= set(df.columns):
            return df
        _need(df, ["essay", "essay_set"])
        prompts = pd.to_numeric(df["essay_set"], errors="coerce")
        bad = np.flatnonzero((prompts.isna() | (prompts != prompts.round())).to_numpy())
        if len(bad):
            raise DataError(f"input: column 'essay_set' row {bad[0]} holds {df['essay_set'].iloc[bad[0]]!r}, "
                            f"not a prompt number; fix or drop the {len(bad)} such rows")
        return _frame(df["essay"].fillna("").astype(str).map(_unquote), prompts)


class ASAP(_ASAPInput, DatasetAdapter):
    """Hewlett ASAP AES, ``domain1_score``; the standard 5-fold protocol from ``folds.csv``.

    fold: the test fold (0–4); the validation set (``val_size`` of the rest) is carved
    from the training folds, seeded and stratified by prompt. prompt: one prompt, or None for all.
    """

    id = "asap-aes"
    description = "ASAP automated essay scoring, 12,978 essays, 8 prompts, 5 standard folds"
    files = ("training_set_rel3.tsv",)
    card = "asap-aes.yaml"
    protocols, task_kinds = ("5-fold",), ("regression",)

    def __init__(self, path=None, seed: int = 42, download: bool = False, fold: int = 0, prompt: int | None = None,
                 val_size: float = 0.1):
        super().__init__(path, seed, download)
        self.fold = fold
        self.prompt = prompt
        self.val_size = val_size

    def load(self) -> DatasetSplits:
        file = resolve_source(self.id, self.files, self.path)
        df = read_asap(file)
        folds_file = file.with_name("folds.csv")
        if not folds_file.is_file():
            raise DataError(f"{folds_file} not found: the 5-fold protocol needs it beside {file.name}")
        folds = pd.read_csv(folds_file)
        df = df.merge(folds[["essay_id", "fold"]], on="essay_id", how="left")
        if df["fold"].isna().any():
            raise DataError(f"{folds_file}: {int(df['fold'].isna().sum())} essays have no fold; use the matching folds.csv")
        if self.fold not in range(5):
            raise DataError(f"data.fold={self.fold}: ASAP has folds 0–4")
        check_prompts(df, file)
        if self.prompt is not None:
            if self.prompt not in ASAP_RANGES:
                raise DataError(f"data.prompt={self.prompt}: unknown ASAP prompt; use 1–8 or null for all")
            df = df[df["essay_set"] == self.prompt].reset_index(drop=True)
        check_ranges(df, file)
        X = _frame(df["essay"], df["essay_set"])
        prompts = df["essay_set"].astype(int)
        meta = pd.DataFrame({"prompt": prompts, "score_min": prompts.map(lambda p: ASAP_RANGES[p][0]).astype(float),
                             "score_max": prompts.map(lambda p: ASAP_RANGES[p][1]).astype(float),
                             "rater1": df["rater1_domain1"], "rater2": df["rater2_domain1"], "flag": ""})
        full = Split(X, df["domain1_score"].to_numpy(dtype=float), df["essay_id"].astype(int).to_numpy(), meta=meta)
        test_idx = np.flatnonzero(df["fold"].to_numpy() == self.fold)
        rest = np.flatnonzero(df["fold"].to_numpy() != self.fold)
        tr, _, va = stratified_split(len(rest), df["essay_set"].to_numpy()[rest], test_size=self.val_size,
                                     val_size=0, seed=self.seed)
        lo, hi = ASAP_RANGES[self.prompt] if self.prompt is not None else (0, 60)
        task = Task(kind="regression", target="domain1_score", primary_metric="qwk", score_range=(float(lo), float(hi)),
                    discrete=True)
        train, val, test = full.subset(rest[tr]), full.subset(rest[va]), full.subset(test_idx)
        flag_splits(train, val, test)
        return DatasetSplits(self.id, task, train, val, test, protocol=f"5-fold-test-fold{self.fold}",
                             info={"prompt": self.prompt if self.prompt is not None else "all",
                                   "source": "Hewlett Foundation ASAP (Kaggle)"})


def check_prompts(df: pd.DataFrame, file: Path | str) -> None:
    """Every essay_set must be an ASAP prompt (1–8)."""
    bad = ~df["essay_set"].isin(list(ASAP_RANGES))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(f"{file}: column 'essay_set' row {i + 2} (essay_id {df['essay_id'].iloc[i]}) holds "
                        f"{df['essay_set'].iloc[i]!r}, not an ASAP prompt 1–8; fix or drop the "
                        f"{int(bad.sum())} such rows")


def check_ranges(df: pd.DataFrame, file: Path | str) -> None:
    """Every domain1_score must lie in its prompt's official range."""
    for p, (lo, hi) in ASAP_RANGES.items():
        sub = df[df["essay_set"] == p]
        s = sub["domain1_score"]
        bad = sub[(s < lo) | (s > hi) | s.isna()]
        if len(bad):
            raise DataError(f"{file}: column 'domain1_score' of prompt {p} holds {sorted(set(bad['domain1_score'].tolist()))[:5]} "
                            f"outside {lo}–{hi} (essay_id {bad['essay_id'].astype(int).tolist()[:5]}); "
                            f"fix or drop those rows")


prompt_key = group_key  # a prompt id as a dictionary key: 3, 3.0, "3" and " 3.0" are one prompt


MISSING = {"", "na", "n/a", "nan", "null", "none"}  # score cells read as empty
MIN_PROMPT_ESSAYS = 10  # prompts with fewer essays go to training whole (a test essay needs a known prompt)


def note(message: str) -> None:
    """A one-line notice on stderr (rows left out and why)."""
    print(f"note: {message}", file=sys.stderr)


def sniff_separator(text: str) -> str:
    """``,``, ``;`` or tab: the one the header line holds most often (``,`` for a one-column file)."""
    header = text.split("\n", 1)[0]
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


class EssayCSV(DatasetAdapter):
    """Any CSV with a text column, score column(s) and (optionally) a prompt column.

    The defaults read the AES 2.0 layout (``essay_id, full_text, score``); ELLIPSE is
    ``text_column=full_text, id_column=text_id, score_column=cohesion`` (one trait) or
    ``score_column="cohesion,syntax,vocabulary,phraseology,grammar,conventions"`` (all
    traits: an ``(n, k)`` target of a ``multioutput`` task for ``--model traits``, primary
    metric MCRMSE as in the ELLIPSE competition).

    Prompt ids may be numbers or names. Each prompt's scale (min, max, step: whole or half
    points...) comes from its scores, or from ``score_min`` / ``score_max`` / ``score_step``
    (which then also check every score). Text: UTF-8 (with or without BOM), else Windows-1252 /
    Latin-1, or ``encoding``; ``,`` ``;`` or tab separated (``sep``, else from the header line).
    Rows with no score (or no prompt) and exact duplicate rows are left out with a note; a
    score that is not a number, or one id on different essays, is an error. The split is
    ``split_column`` (train / val or dev / test) if given, else seeded, stratified by prompt
    and (first) score, with prompts of under 10 essays in training whole (a prompt the model
    never saw cannot be scored).
    """

    id = "essay-csv"
    description = "generic essay CSV (AES 2.0 layout by default: essay_id, full_text, score; ELLIPSE traits)"
    files = ("train.csv",)
    table_target = "score_column"  # vk.train("essay_scoring", data=frame, target="score")
    protocols, task_kinds = ("stratified-70-10-20", "column"), ("regression", "multioutput")

    def __init__(self, path=None, seed: int = 42, download: bool = False, text_column: str = "full_text",
                 score_column: str = "score", prompt_column: str | None = None, id_column: str = "essay_id",
                 score_min: float | None = None, score_max: float | None = None, score_step: float | None = None,
                 encoding: str | None = None, sep: str | None = None, split_column: str | None = None):
        super().__init__(path, seed, download)
        self.text_column, self.score_column, self.prompt_column = text_column, score_column, prompt_column
        self.id_column, self.score_min, self.score_max = id_column, score_min, score_max
        self.score_step, self.encoding, self.sep = score_step, encoding, sep
        self.split_column = split_column

    def read(self) -> tuple[Path, pd.DataFrame]:
        """The file as a table of strings (empty cells ``""``), line ends normalised to ``\\n``."""
        file = resolve_source(self.id, self.files, self.path)
        text = decode_text(Path(file).read_bytes(), str(file), self.encoding)
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        sep = self.sep or ("\t" if str(file).endswith(".tsv") else sniff_separator(text))
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
        except pd.errors.EmptyDataError as e:
            raise DataError(f"{file}: empty file; expected a CSV with a header row") from e
        except pd.errors.ParserError as e:
            raise DataError(f"{file}: not a readable CSV ({str(e).splitlines()[0]}); quote texts that hold "
                            f"{sep!r}, or set data.sep") from e
        df.columns = [str(c).strip() for c in df.columns]
        return Path(file), df

    def _clean(self, file: Path, df: pd.DataFrame, targets: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(rows kept, their scores as floats): rows without a score or prompt and exact duplicates left out."""
        scores = pd.DataFrame({c: df[c].str.strip() for c in targets})
        empty = scores.apply(lambda col: col.str.lower().isin(MISSING))
        numbers = scores.where(~empty).apply(pd.to_numeric, errors="coerce")
        for col in targets:
            bad = np.flatnonzero((numbers[col].isna() & ~empty[col]).to_numpy())
            if len(bad):
                raise DataError(f"{file}: column {col!r} row {bad[0] + 2} holds {df[col].iloc[bad[0]]!r}, not a "
                                f"number; fix or drop it ({len(bad)} such rows)")
        keep = ~empty.all(axis=1).to_numpy()
        if not keep.all():
            note(f"{file}: {int((~keep).sum())} rows with no score in {', '.join(map(repr, targets))} left out")
        if self.prompt_column:
            no_prompt = df[self.prompt_column].str.strip().eq("").to_numpy() & keep
            if no_prompt.any():
                note(f"{file}: {int(no_prompt.sum())} rows with an empty {self.prompt_column!r} left out")
                keep &= ~no_prompt
        dup = df.duplicated().to_numpy() & keep
        if dup.any():
            note(f"{file}: {int(dup.sum())} exact duplicate rows left out")
            keep &= ~dup
        return df[keep].reset_index(drop=True), numbers[keep].reset_index(drop=True)

    def _scales(self, file: Path, scores: pd.Series, keys: np.ndarray, col: str) -> pd.DataFrame:
        """Per row, its prompt's (score_min, score_max, score_step) for one score column."""
        out = pd.DataFrame(index=range(len(keys)), columns=["score_min", "score_max", "score_step"], dtype=float)
        for key in sorted(set(keys)):
            m = keys == key
            v = scores.to_numpy(float)[m]
            if not np.isfinite(v).any():
                continue
            lo, hi, step = score_scale(v)
            lo = lo if self.score_min is None else float(self.score_min)
            hi = hi if self.score_max is None else float(self.score_max)
            if self.score_step is not None:
                step = float(self.score_step)
                if step <= 0 or not on_scale(v[np.isfinite(v)], lo, step):
                    raise DataError(f"{file}: column {col!r} of prompt {key!r} holds scores off the "
                                    f"data.score_step={step:g} scale from {lo:g}; fix those rows or data.score_step")
            else:
                step = infer_step(v, lo)
            out.loc[m, ["score_min", "score_max", "score_step"]] = [lo, hi, np.nan if step is None else step]
        return out

    def _split(self, keys: np.ndarray, first: np.ndarray, file: Path) -> tuple[np.ndarray, ...]:
        """Seeded train / val / test indices, stratified by prompt and score; small prompts train only."""
        counts = pd.Series(keys).value_counts()
        small = np.isin(keys, counts[counts < MIN_PROMPT_ESSAYS].index.to_numpy())
        if small.any():
            note(f"{file}: {int(small.sum())} essays of {int((counts < MIN_PROMPT_ESSAYS).sum())} prompt(s) with "
                 f"under {MIN_PROMPT_ESSAYS} essays go to training only")
        rest = np.flatnonzero(~small)
        if not len(rest):
            raise DataError(f"{file}: every prompt has under {MIN_PROMPT_ESSAYS} essays; a test split needs "
                            f"at least one prompt with {MIN_PROMPT_ESSAYS}")
        score = np.array([f"{v:g}" for v in np.round(first[rest], 6)], dtype=object)
        prompt = keys[rest].astype(object)
        # the finest strata sklearn can split 70/10/20: every stratum in every part
        fits = [k for k in (prompt + "|" + score, prompt, score)
                if pd.Series(k).value_counts().min() >= 3 and 1 < len(set(k)) <= int(0.1 * len(rest))]
        tr, va, te = stratified_split(len(rest), fits[0] if fits else None, seed=self.seed)
        return np.sort(np.r_[rest[tr], np.flatnonzero(small)]), rest[va], rest[te]

    def _given_split(self, df: pd.DataFrame, file: Path) -> tuple[np.ndarray, ...]:
        """Train / val / test indices from ``split_column``."""
        names = {"train": 0, "val": 1, "dev": 1, "valid": 1, "validation": 1, "test": 2}
        part = df[self.split_column].str.strip().str.lower().map(names)
        if part.isna().any():
            i = int(np.flatnonzero(part.isna().to_numpy())[0])
            raise DataError(f"{file}: column {self.split_column!r} holds {df[self.split_column].iloc[i]!r}; use "
                            f"train, val (or dev) and test")
        return tuple(np.flatnonzero(part.to_numpy() == k) for k in range(3))

    def load(self) -> DatasetSplits:
        file, df = self.read()
        targets = [c.strip() for c in self.score_column.split(",") if c.strip()]
        for col in (self.text_column, *targets, self.prompt_column, self.split_column):
            if col is not None and col not in df.columns:
                raise DataError(f"{file}: column {col!r} not found (columns: {list(df.columns)}); "
                                f"set data.text_column / data.score_column / data.prompt_column")
        df, scores = self._clean(file, df, targets)
        if len(df) < 10:
            raise DataError(f"{file}: {len(df)} rows with a score; at least 10 essays are needed to train and test")
        for col in targets:
            lo = self.score_min if self.score_min is not None else -np.inf
            hi = self.score_max if self.score_max is not None else np.inf
            out = np.flatnonzero(((scores[col] < lo) | (scores[col] > hi)).to_numpy())
            if len(out):
                raise DataError(f"{file}: column {col!r} row {out[0] + 2} holds {scores[col].iloc[out[0]]:g}, outside "
                                f"{lo:g}–{hi:g} (data.score_min / data.score_max); fix those {len(out)} rows")
        prompts = (df[self.prompt_column].map(prompt_key) if self.prompt_column
                   else pd.Series(["1"] * len(df)))
        keys = prompts.to_numpy(dtype=object)
        X = self.to_model_input(df)
        if self.id_column in df.columns:
            ids = df[self.id_column].str.strip().to_numpy(dtype=object)
            repeated = pd.Series(ids).value_counts()
            if (repeated > 1).any():
                raise DataError(f"{file}: column {self.id_column!r} repeats ids on different essays (e.g. "
                                f"{list(repeated[repeated > 1].index[:3])}); give every essay a unique id")
        else:
            ids = np.array([f"row{i}" for i in range(len(df))], dtype=object)
        multi = len(targets) > 1
        scales = [self._scales(file, scores[col], keys, col) for col in targets]
        meta = pd.DataFrame({"prompt": X["prompt"]}).join(scales[0])
        if multi:
            from verticalkit.core.evaluate.metrics import output_name

            for col, sc in zip(targets, scales):
                meta = meta.join(sc.add_suffix(f"_{output_name(col)}"))
        meta["flag"] = ""
        y = scores[targets[0]].to_numpy(float) if not multi else scores.to_numpy(float)
        full = Split(X, y, ids, meta=meta)
        first = scores[targets[0]].fillna(scores.mean(axis=1)).to_numpy(float)
        tr, va, te = self._given_split(df, file) if self.split_column else self._split(keys, first, file)
        train, val, test = full.subset(tr), full.subset(va), full.subset(te)
        flag_splits(train, val, test)
        lo = float(np.nanmin([sc["score_min"].min() for sc in scales]))
        hi = float(np.nanmax([sc["score_max"].max() for sc in scales]))
        task = Task(kind="multioutput" if multi else "regression", target=self.score_column,
                    primary_metric="mcrmse" if multi else "qwk", classes=targets if multi else [],
                    score_range=(lo, hi), discrete=bool(((scores % 1 == 0) | scores.isna()).all(axis=None)))
        protocol = f"column-{self.split_column}" if self.split_column else f"stratified-70-10-20-seed{self.seed}"
        return DatasetSplits(self.id, task, train, val, test, protocol=protocol, info={"prompts": len(set(keys))})

    def to_model_input(self, df: pd.DataFrame) -> pd.DataFrame:
        """``text_column`` / ``prompt_column`` → the model's ``text`` / ``prompt`` (prompt 1 without one)."""
        if {"text", "prompt"} <= set(df.columns) and self.text_column not in df.columns:
            return df
        _need(df, [c for c in (self.text_column, self.prompt_column) if c])
        prompts = (df[self.prompt_column].map(prompt_key) if self.prompt_column
                   else pd.Series(["1"] * len(df)))
        return pd.DataFrame({"text": df[self.text_column].fillna("").astype(str).to_numpy(),
                             "prompt": _prompt_values(prompts)})


def _prompt_values(keys: pd.Series) -> np.ndarray:
    """Integer prompt ids where all are integers, else strings."""
    try:
        return keys.astype(int).to_numpy()
    except ValueError:
        return keys.astype(str).to_numpy()


TRAITS = ["Content", "Organization", "Word Choice", "Sentence Fluency", "Conventions", "Prompt Adherence",
          "Language", "Narrativity"]
TRAIT_RANGES = {1: (1, 6), 2: (1, 6), 3: (0, 3), 4: (0, 3), 5: (0, 4), 6: (0, 4), 7: (0, 6), 8: (2, 12)}
# Prompts 7-8: ASAP's own rater trait columns (rater1_traitK + rater2_traitK, as in Ridley et al. 2021).
# 7: trait1 Ideas, 2 Organization, 3 Style, 4 Conventions (0-3 per rater);
# 8: trait1 Ideas and Content, 2 Organization, 3 Voice, 4 Word Choice, 5 Sentence Fluency, 6 Conventions (1-6).
# Style and Voice have no ASAP++ counterpart and are left out.
ASAP_TRAIT_COLUMNS = {7: {"Content": 1, "Organization": 2, "Conventions": 4},
                      8: {"Content": 1, "Organization": 2, "Word Choice": 4, "Sentence Fluency": 5, "Conventions": 6}}
ASAP_RATER_TRAIT_RANGES = {7: (0, 3), 8: (1, 6)}  # one rater's trait score


def read_asap_plusplus(path: str | Path) -> pd.DataFrame:
    """``traits_prompts1-6.tsv``: quoted essays read like the ASAP file (QUOTE_NONE, then unquoted)."""
    path = Path(path)
    rows = list(csv.reader(io.StringIO(decode_text(path.read_bytes(), str(path))), delimiter="\t",
                           quoting=csv.QUOTE_NONE))
    if not rows:
        raise DataError(f"{path}: empty file; expected the ASAP++ traits_prompts1-6.tsv")
    header, body = rows[0], rows[1:]
    missing = [c for c in ("essay_id", "essay_set", "essay", "cts_split", "Content") if c not in header]
    if missing:
        raise DataError(f"{path}: columns {missing} not found (header: {header[:6]}...); expected the ASAP++ layout")
    df = pd.DataFrame([r + [""] * (len(header) - len(r)) for r in body], columns=header)
    df["essay"] = df["essay"].map(_unquote)
    for col in header:
        if col not in ("essay", "cts_split"):
            df[col] = pd.to_numeric(df[col].replace("", np.nan), errors="coerce")
    return df


def read_asap_traits(path: str | Path) -> pd.DataFrame:
    """Prompts 7-8 of the ASAP file in the ASAP++ layout: trait = rater1 + rater2 trait score.

    The two raters' trait scores are kept as ``rater1_<trait>`` / ``rater2_<trait>`` (NaN for
    traits the prompt lacks) for the human–human agreement beside the model.

    Split by the ASAP ``folds.csv`` beside the file: fold 0 → test, fold 1 → dev, folds 2-4 →
    train (60/20/20, as the ASAP++ cts split of prompts 1-6).
    """
    path = Path(path)
    df = read_asap(path)
    folds_file = path.with_name("folds.csv")
    if not folds_file.is_file():
        raise DataError(f"{folds_file} not found: the prompts 7-8 trait split needs it beside {path.name}")
    df = df[df["essay_set"].isin(list(ASAP_TRAIT_COLUMNS))].reset_index(drop=True)
    df = df.merge(pd.read_csv(folds_file)[["essay_id", "fold"]], on="essay_id", how="left")
    if df["fold"].isna().any():
        raise DataError(f"{folds_file}: {int(df['fold'].isna().sum())} essays of prompts 7-8 have no fold")
    out = pd.DataFrame({"cts_split": df["fold"].map(lambda f: "test" if f == 0 else "dev" if f == 1 else "train"),
                        "essay_id": df["essay_id"], "essay_set": df["essay_set"], "essay": df["essay"],
                        "score": df["domain1_score"]})
    for t in TRAITS:
        out[t] = np.nan
    for t in TRAITS:
        for r in (1, 2):
            out[rater_column(r, t)] = np.nan
    for p, columns in ASAP_TRAIT_COLUMNS.items():
        m = (df["essay_set"] == p).to_numpy()
        for trait, k in columns.items():
            cols = [f"rater1_trait{k}", f"rater2_trait{k}"]
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise DataError(f"{path}: columns {missing} not found; prompts 7-8 traits come from the ASAP rater "
                                f"trait columns (or set data.prompts_7_8=false)")
            check_rater_range(df[m], cols, p, path)
            out.loc[m, trait] = df.loc[m, cols[0]] + df.loc[m, cols[1]]
            out.loc[m, rater_column(1, trait)] = df.loc[m, cols[0]]
            out.loc[m, rater_column(2, trait)] = df.loc[m, cols[1]]
    return out


def check_rater_range(df: pd.DataFrame, cols: list[str], prompt: int, path: Path) -> None:
    """Each rater's trait score within the prompt's per-rater range (a sum in range can hide one outside)."""
    lo, hi = ASAP_RATER_TRAIT_RANGES[prompt]
    for col in cols:
        bad = df[(df[col] < lo) | (df[col] > hi)]
        if len(bad):
            raise DataError(f"{path}: column {col!r} of prompt {prompt} holds {sorted(set(bad[col].tolist()))[:5]} "
                            f"outside {lo}–{hi} (essay_id {bad['essay_id'].astype(int).tolist()[:5]}); fix those "
                            f"rows or set data.prompts_7_8=false")


def rater_column(rater: int, trait: str) -> str:
    """The meta column of one rater's score of a trait: ``rater1_word_choice`` (see metrics.human_qwk_mean)."""
    from verticalkit.core.evaluate.metrics import output_name

    return f"rater{rater}_{output_name(trait)}"


class ASAPPlusPlus(_ASAPInput, DatasetAdapter):
    """ASAP++ trait scores of prompts 1–6, plus prompts 7–8 from the ASAP rater trait columns.

    ``trait`` picks the target: one of TRAITS, ``score`` (the holistic one), or ``all``: every
    trait the file holds as one ``(n, k)`` target of a ``multioutput`` task (NaN where a prompt
    has no such trait), for ``--model traits``. Prompts without the chosen trait are left out.
    The split is the file's ``cts_split`` (train / dev / test) for prompts 1–6, ASAP folds for
    7–8 (see :func:`read_asap_traits`; ``asap_path`` or ``$VERTICALKIT_DATA/asap-aes/``;
    ``prompts_7_8=false`` leaves them out).
    """

    id = "asap-plusplus"
    description = "ASAP++ trait scores (prompts 1-6; 7-8 from ASAP's rater traits), one trait or all, cts split"
    files = ("traits_prompts1-6.tsv",)
    card = "asap-plusplus.yaml"
    protocols, task_kinds = ("cts-split",), ("regression", "multioutput")

    def __init__(self, path=None, seed: int = 42, download: bool = False, trait: str = "Content",
                 prompts_7_8: bool = True, asap_path: str | None = None):
        super().__init__(path, seed, download)
        self.trait = trait
        self.prompts_7_8 = prompts_7_8
        self.asap_path = asap_path

    def read(self) -> tuple[Path, pd.DataFrame]:
        file = resolve_source(self.id, self.files, self.path)
        df = read_asap_plusplus(file)
        if self.prompts_7_8:
            try:
                asap = resolve_source(ASAP.id, ASAP.files, self.asap_path)
            except DataError as e:
                raise DataError(f"{e}. Prompts 7-8 traits come from the ASAP file; give data.asap_path or set "
                                f"data.prompts_7_8=false") from e
            df = pd.concat([df[df["essay_set"].isin(range(1, 7))], read_asap_traits(asap)], ignore_index=True)
        return file, df

    @staticmethod
    def _add_raters(meta: pd.DataFrame, df: pd.DataFrame, targets: list[str]) -> None:
        """Each trait's two rater scores (prompts 7-8; NaN for 1-6, which ASAP++ scored once per essay):
        ``rater1_<trait>`` / ``rater2_<trait>``, and also ``rater1`` / ``rater2`` for one trait."""
        for t in targets:
            for r in (1, 2):
                col = rater_column(r, t)
                meta[col] = df[col].to_numpy(float) if col in df else np.nan
                if len(targets) == 1:
                    meta[f"rater{r}"] = meta[col]

    def load(self) -> DatasetSplits:
        if self.trait not in (*TRAITS, "score", "all"):
            raise ConfigError(f"data.trait={self.trait!r}: choose one of {TRAITS + ['score', 'all']}")
        file, df = self.read()
        targets = [t for t in TRAITS if df[t].notna().any()] if self.trait == "all" else [self.trait]
        df = df[df[targets].notna().any(axis=1)].reset_index(drop=True)
        prompts = df["essay_set"].astype(int)
        ranges = TRAIT_RANGES if self.trait != "score" else {p: (float(df.loc[prompts == p, "score"].min()),
                                                                 float(df.loc[prompts == p, "score"].max()))
                                                             for p in prompts.unique()}
        for p in prompts.unique():
            if p not in ranges:
                raise DataError(f"{file}: column 'essay_set' holds prompt {p}; ASAP++ has prompts 1-8")
            lo, hi = ranges[p]
            for t in targets:
                s = df.loc[prompts == p, t]
                bad = df.loc[(prompts == p) & ((s < lo) | (s > hi)), "essay_id"]
                if len(bad):
                    raise DataError(f"{file}: column {t!r} of prompt {p} is outside {lo}–{hi} for essay_id "
                                    f"{bad.astype(int).tolist()[:5]}; fix those rows")
        X = pd.DataFrame({"text": df["essay"].to_numpy(), "prompt": prompts.to_numpy()})
        meta = pd.DataFrame({"prompt": prompts, "score_min": prompts.map(lambda p: float(ranges[p][0])),
                             "score_max": prompts.map(lambda p: float(ranges[p][1])), "flag": ""})
        self._add_raters(meta, df, targets)
        y = df[targets].to_numpy(float)
        full = Split(X, y[:, 0] if len(targets) == 1 else y, df["essay_id"].astype(int).to_numpy(), meta=meta)
        part = {name: np.flatnonzero(df["cts_split"].to_numpy() == name) for name in ("train", "dev", "test")}
        train, val, test = full.subset(part["train"]), full.subset(part["dev"]), full.subset(part["test"])
        flag_splits(train, val, test)
        used = [ranges[p] for p in prompts.unique()]
        score_range = (float(min(r[0] for r in used)), float(max(r[1] for r in used)))
        if self.trait == "all":
            task = Task(kind="multioutput", target="traits", primary_metric="qwk", classes=targets,
                        score_range=score_range, discrete=True)
        else:
            task = Task(kind="regression", target=self.trait, primary_metric="qwk", score_range=score_range,
                        discrete=True)
        return DatasetSplits(self.id, task, train, val, test, protocol="cts-split" + ("+asap-folds-7-8" if (
            self.prompts_7_8 and prompts.isin([7, 8]).any()) else ""),
            info={"trait": self.trait, "prompts": ",".join(map(str, sorted(prompts.unique())))})
