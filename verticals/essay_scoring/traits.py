"""Trait scores: a multi-output head over all traits (the ASAP++ adapter is in data.py).

From the command line, every trait at once (a ``multioutput`` task: metrics.json holds QWK and
RMSE per trait, their means and MCRMSE, each with a bootstrap CI)::

    verticalkit train essay_scoring --dataset asap-plusplus --model traits --set data.trait=all --out runs/traits

or one trait like any holistic score (``--set data.trait=Organization``, any head).
:class:`TraitsHead` fits one per-prompt head per trait column of an ``(n, k)`` target (NaN where
a prompt has no such trait) and predicts ``(n, k)`` (NaN there too); :func:`trait_table` gives
QWK per trait (mean over prompts) and MCRMSE, and beside them, where two raters scored the trait
(ASAP prompts 7-8; ASAP++ prompts 1-6 have one annotation per essay), rater 1 vs rater 2 QWK on the
same test essays and over all essays (also ``human_qwk_<trait>`` in metrics.json and a report
section). The table also comes from

    python -m verticalkit.verticals.essay_scoring.traits [--base features] [--out results.json] [--save]

(``--save``: benchmarks/results/essay_traits.{json,md}; ``--no-prompts-7-8``: ASAP++ prompts 1-6 only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetSplits
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.heads.base import SklearnHead
from verticalkit.core.evaluate.metrics import output_name

from .data import TRAIT_RANGES, TRAITS, ASAPPlusPlus, prompt_key, read_asap_plusplus  # noqa: F401  (re-exported)
from .metrics import human_qwk_mean, qwk_double_rated, qwk_mean, rater_columns
from .models import check_input


class TraitsHead(SklearnHead):
    """Multi-output: one per-prompt ``base`` head (features | encoder) per trait column; NaN = no such trait.

    base_params: the base head's parameters (e.g. ``{"alpha": 1.0}``). A 1-D target gives
    1-D predictions (one trait), so the head also serves single-score tasks.
    """

    # the base heads it holds, one per trait (see core.heads.base.TRUSTED_TYPES)
    trusted_types = tuple(f"verticalkit.verticals.essay_scoring.{t}" for t in (
        "flags.ReviewFlagger", "models.FeaturesHead", "models.EncoderHead"))

    def __init__(self, base: str = "features", base_params: dict | None = None):
        self.base = base
        self.base_params = base_params

    def _base_cls(self):
        from .models import EncoderHead, FeaturesHead

        heads = {"features": FeaturesHead, "encoder": EncoderHead}
        if self.base not in heads:
            raise ConfigError(f"model_params.base={self.base!r}: choose one of {list(heads)}")
        return heads[self.base]

    def fit(self, X, Y, X_val=None, Y_val=None, context=None):
        X = check_input(X)
        Y = np.asarray(Y, dtype=float)
        self.one_output_ = Y.ndim == 1
        Y = Y[:, None] if Y.ndim == 1 else Y
        Yv = None if Y_val is None or X_val is None else np.asarray(Y_val, dtype=float).reshape(len(Y_val), -1)
        self.heads_ = []
        for j in range(Y.shape[1]):
            m = ~np.isnan(Y[:, j])
            if not m.any():
                raise DataError(f"trait column {j} has no scores in the training data; drop it from the target")
            mv = None if Yv is None else ~np.isnan(Yv[:, j])
            head = self._base_cls()(**(self.base_params or {}))
            head.fit(X[m].reset_index(drop=True), Y[m, j],
                     None if mv is None else X_val[mv].reset_index(drop=True), None if mv is None else Yv[mv, j])
            self.heads_.append(head)
        return self

    def predict(self, X) -> np.ndarray:
        X = check_input(X)
        out = np.full((len(X), len(self.heads_)), np.nan)
        keys = np.array([prompt_key(p) for p in X["prompt"]], dtype=object)
        known = set().union(*(h.ranges_ for h in self.heads_))
        unknown = sorted(set(keys) - known)
        if unknown:
            raise DataError(f"column 'prompt': prompt(s) {unknown} were not in the training data "
                            f"(known prompts: {sorted(known)}); score those essays with a model trained on them")
        for j, head in enumerate(self.heads_):
            m = np.isin(keys, list(head.ranges_))
            if m.any():
                out[m, j] = head.predict(X[m].reset_index(drop=True))
        return out[:, 0] if getattr(self, "one_output_", False) else out

    def review_flags(self, X) -> pd.Series:
        """Per essay, the flags of the first trait head trained on its prompt (every trait head of a prompt saw
        the same training essays); ``unknown_prompt`` where no head knows the prompt."""
        X = check_input(X).reset_index(drop=True)
        keys = np.array([prompt_key(p) for p in X["prompt"]], dtype=object)
        out = pd.Series([""] * len(X), dtype=object)
        todo = np.ones(len(X), dtype=bool)
        for head in self.heads_:
            m = todo & np.isin(keys, list(head.ranges_))
            if m.any():
                out[m] = head.review_flags(X[m].reset_index(drop=True)).to_numpy()
                todo &= ~m
        if todo.any():
            out[todo] = self.heads_[0].review_flags(X[todo].reset_index(drop=True)).to_numpy()
        return out


def mcrmse(Y, P) -> float:
    """Mean over trait columns of the RMSE (rows where both are present)."""
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    vals = [np.sqrt(np.mean((Y[m, j] - P[m, j]) ** 2)) for j in range(Y.shape[1])
            if (m := ~(np.isnan(Y[:, j]) | np.isnan(P[:, j]))).any()]
    return float(np.mean(vals)) if vals else float("nan")


NO_SECOND_RATER = "ASAP++ (prompts 1-6) holds one annotation per essay: no human-human figure"


def _trait_meta(meta: pd.DataFrame, trait: str) -> pd.DataFrame:
    """``meta`` named for one trait, as the core's per-output metrics pass it (reads rater1_<trait>)."""
    out = meta.reset_index(drop=True)
    out.attrs["output"] = output_name(trait)
    return out


def human_agreement(meta: pd.DataFrame, trait: str) -> tuple[float, int]:
    """(rater 1 vs rater 2 QWK of ``trait``, mean over prompts on the raters' scale; essays with both).

    NaN and 0 where no essay has two raters of the trait (ASAP++ prompts 1-6).
    """
    m = _trait_meta(meta, trait)
    cols = rater_columns(m)
    if cols is None:
        return float("nan"), 0
    n = int((m[cols[0]].notna() & m[cols[1]].notna()).sum())
    return (human_qwk_mean(None, None, m), n) if n else (float("nan"), 0)


def trait_table(Y, P, meta: pd.DataFrame, names: list[str], all_meta: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per trait: QWK (mean over the prompts that have it, each on its own range), RMSE and n; where
    ``meta`` holds the raters' trait scores (``rater1_<trait>``, prompts 7-8) also the model's QWK on the
    double-rated essays, rater 1 vs rater 2 on the same essays, and (``all_meta``) over all essays."""
    rows = []
    for j, name in enumerate(names):
        m = ~(np.isnan(Y[:, j]) | np.isnan(P[:, j]))
        sub = meta[m].reset_index(drop=True)
        row = {"trait": name, "n": int(m.sum()), "prompts": ",".join(map(str, sorted(sub["prompt"].unique()))),
               "qwk": qwk_mean(Y[m, j], P[m, j], sub), "rmse": float(np.sqrt(np.mean((Y[m, j] - P[m, j]) ** 2)))}
        human, n2 = human_agreement(sub, name)
        if n2 or all_meta is not None:
            tm = _trait_meta(sub, name)
            row.update({"n_double_rated": n2,
                        "qwk_double_rated": qwk_double_rated(Y[m, j], P[m, j], tm) if n2 else float("nan"),
                        "human_qwk": human})
            if all_meta is not None:
                row["human_qwk_all_essays"], row["n_all_essays"] = human_agreement(all_meta, name)
        rows.append(row)
    return pd.DataFrame(rows)


def multi_output_splits(path=None, prompts_7_8: bool = False, asap_path=None) -> tuple[DatasetSplits, list[str]]:
    """All traits as one ``(n, 8)`` target (NaN where the prompt has no such trait); prompts 1-6 by default."""
    s = ASAPPlusPlus(path=path, trait="all", prompts_7_8=prompts_7_8, asap_path=asap_path).load()
    return s, list(s.task.classes)


def all_meta(splits: DatasetSplits) -> pd.DataFrame:
    """The meta of every essay of the splits (train + val + test), for the whole-file human agreement."""
    return pd.concat([part.meta for part in (splits.train, splits.val, splits.test) if part.meta is not None],
                     ignore_index=True)


HUMAN_EXPLAIN = ("<p>Model QWK per trait beside rater 1 vs rater 2 QWK of the same trait. Only ASAP prompts 7-8 have "
                 "two raters per trait (the trait target there is their sum; the humans are compared on one rater's "
                 "scale, 0-3 / 1-6): <i>qwk_double_rated</i> is the model and <i>human_qwk</i> rater 1 vs rater 2 on "
                 "those same test essays, <i>human_qwk_all_essays</i> rater 1 vs rater 2 on every essay of prompts "
                 f"7-8; <i>qwk_prompts_1_6</i>: the model on ASAP++ prompts 1-6. {NO_SECOND_RATER}.</p>")


def human_section(splits: DatasetSplits, scores: np.ndarray) -> list[tuple[str, str]]:
    """report.html: the per-trait table with human agreement (multi-output runs with rater columns)."""
    Y = np.asarray(splits.test.y, float)
    if Y.ndim != 2 or splits.test.meta is None:
        return []
    P, names = np.asarray(scores, float), list(splits.task.classes)
    if not any(rater_columns(_trait_meta(splits.test.meta, t)) for t in names):
        return []  # no rater columns at all (e.g. ELLIPSE): nothing to say about human agreement
    table = trait_table(Y, P, splits.test.meta, names, all_meta(splits))
    table = benchmark_table(table, per_group_qwk(Y, P, splits.test.meta, names))
    return [("Human agreement per trait", HUMAN_EXPLAIN + table.to_html(index=False, float_format="%.3f",
                                                                      na_rep="—", escape=True))]


def save_benchmark(rows: list[dict], command: str, notes: str) -> Path:
    """benchmarks/results/essay_traits.{json,md} with the checkout's benchmarks/_common.save_results."""
    bench = Path(__file__).resolve().parents[2] / "benchmarks"
    if not (bench / "_common.py").is_file():
        raise ConfigError(f"{bench / '_common.py'} not found: --save writes benchmarks/results/ of a source "
                          f"checkout; use --out FILE.json instead")
    sys.path.insert(0, str(bench))
    from _common import save_results  # noqa: E402

    return save_results("essay_traits", rows, command, notes)


COMMAND = "VERTICALKIT_DATA=../shared/data python -m verticalkit.verticals.essay_scoring.traits --base features --save"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ASAP++ traits: multi-output head, QWK per trait on the test split, "
                                             "beside rater 1 vs rater 2 where two raters exist (prompts 7-8)")
    ap.add_argument("--base", default="features", help="features | encoder")
    ap.add_argument("--path", help="traits_prompts1-6.tsv (default: $VERTICALKIT_DATA/asap-plusplus/)")
    ap.add_argument("--asap-path", help="training_set_rel3.tsv + folds.csv for prompts 7-8 (default: "
                                        "$VERTICALKIT_DATA/asap-aes/)")
    ap.add_argument("--out", help="write the table as JSON here")
    ap.add_argument("--save", action="store_true", help="write benchmarks/results/essay_traits.{json,md}")
    ap.add_argument("--no-prompts-7-8", dest="prompts_7_8", action="store_false",
                    help="ASAP++ prompts 1-6 only (by default prompts 7-8 come from the ASAP rater trait columns)")
    ap.add_argument("--prompts-7-8", dest="prompts_7_8", action="store_true", help="the default; kept for old commands")
    ap.set_defaults(prompts_7_8=True)
    args = ap.parse_args(argv)
    try:
        t0 = time.perf_counter()
        s, names = multi_output_splits(args.path, args.prompts_7_8, args.asap_path)
        head = TraitsHead(base=args.base).fit(s.train.X, s.train.y, s.val.X, s.val.y)
        seconds = time.perf_counter() - t0
        pred = head.predict(s.test.X)
        table = trait_table(s.test.y, pred, s.test.meta, names, all_meta(s))
        table = benchmark_table(table, per_group_qwk(s.test.y, pred, s.test.meta, names))
    except (DataError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    summary = (f"mean QWK over traits {table['qwk'].mean():.3f}; MCRMSE {mcrmse(s.test.y, pred):.3f}; "
               f"fit {seconds:.0f} s")
    print(summary)
    rows = [{k: (round(v, 4) if isinstance(v, float) and np.isfinite(v) else None if isinstance(v, float) else v)
             for k, v in r.items()} for r in table.to_dict(orient="records")]
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=2))
    if args.save:
        command = COMMAND + ("" if args.prompts_7_8 else " --no-prompts-7-8")
        if args.base != "features":
            command = command.replace("--base features", f"--base {args.base}")
        save_benchmark(rows, command, notes(s, summary))
    return 0


def per_group_qwk(Y, P, meta: pd.DataFrame, names: list[str], prompts=(1, 2, 3, 4, 5, 6)) -> pd.Series:
    """Model QWK per trait on ASAP++ prompts 1-6 alone (prompts 7-8 alone: ``qwk_double_rated``)."""
    ids = meta["prompt"].to_numpy()
    vals = []
    for j in range(len(names)):
        m = ~(np.isnan(Y[:, j]) | np.isnan(P[:, j])) & np.isin(ids, list(prompts))
        vals.append(qwk_mean(Y[m, j], P[m, j], meta[m].reset_index(drop=True)) if m.any() else float("nan"))
    return pd.Series(vals, name="qwk_prompts_1_6")


def benchmark_table(table: pd.DataFrame, qwk_1_6: pd.Series) -> pd.DataFrame:
    """The results table: model columns first, then the human ones and which essays they come from."""
    out = table.copy()
    out.insert(out.columns.get_loc("qwk") + 1, "qwk_prompts_1_6", qwk_1_6.to_numpy())
    if "human_qwk" in out:
        out["human_raters"] = ["prompts 7-8, rater1 vs rater2" if n else "none: one annotation per essay (ASAP++)"
                               for n in out["n_double_rated"]]
    return out


def notes(s: DatasetSplits, summary: str) -> str:
    """The results file's notes: data, split, protocol, how to read the human columns."""
    return (f"{s.dataset} data.trait=all, protocol {s.protocol} (prompts {s.info.get('prompts')}; train "
            f"{len(s.train)} / dev {len(s.val)} / test {len(s.test)}), fixed split, deterministic head (seed 42); "
            f"TraitsHead = one per-prompt head per trait, cut points on out-of-fold train + dev predictions; qwk = "
            f"mean over the prompts that have the trait, each on its own range (qwk_prompts_1_6: the same on "
            f"ASAP++ prompts 1-6 only; prompts 7-8 alone: qwk_double_rated). human_qwk = rater 1 vs rater 2 on "
            f"the same test essays (prompts 7-8, on one rater's scale 0-3 / 1-6; the model's target there is "
            f"their sum), qwk_double_rated = the model on exactly those essays, human_qwk_all_essays = rater 1 vs "
            f"rater 2 over every essay of prompts 7-8 (train + dev + test); {NO_SECOND_RATER} (the traits of "
            f"prompts 3-6 have none; Content's and Organization's human figures cover prompts 7-8 only). "
            f"{summary}. x86_64 CPU, 2 shared cores.")


if __name__ == "__main__":
    raise SystemExit(main())
