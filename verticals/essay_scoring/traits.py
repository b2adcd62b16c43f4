"""Trait scores: a multi-output head over all traits (the ASAP++ adapter is in data.py).

From the command line, every trait at once (a ``multioutput`` task: metrics.json holds QWK and
RMSE per trait, their means and MCRMSE, each with a bootstrap CI)::

    verticalkit train essay_scoring --dataset asap-plusplus --model traits --set data.trait=all --out runs/traits

or one trait like any holistic score (``--set data.trait=Organization``, any head).
:class:`TraitsHead` fits one per-prompt head per trait column of an ``(n, k)`` target (NaN where
a prompt has no such trait) and predicts ``(n, k)`` (NaN there too); :func:`trait_table` gives
QWK per trait (mean over prompts) and MCRMSE. The table also comes from

    python -m verticalkit.verticals.essay_scoring.traits [--base features] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from verticalkit.core.data import DatasetSplits
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.heads import SklearnHead

from .data import TRAIT_RANGES, TRAITS, ASAPPlusPlus, prompt_key, read_asap_plusplus  # noqa: F401  (re-exported)
from .metrics import qwk_mean
from .models import check_input


class TraitsHead(SklearnHead):
    """Multi-output: one per-prompt ``base`` head (features | encoder) per trait column; NaN = no such trait.

    base_params: the base head's parameters (e.g. ``{"alpha": 1.0}``). A 1-D target gives
    1-D predictions (one trait), so the head also serves single-score tasks.
    """

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
        """The flags of the first trait's head (all heads saw the same training essays of their prompts)."""
        return self.heads_[0].review_flags(X)


def mcrmse(Y, P) -> float:
    """Mean over trait columns of the RMSE (rows where both are present)."""
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    vals = [np.sqrt(np.mean((Y[m, j] - P[m, j]) ** 2)) for j in range(Y.shape[1])
            if (m := ~(np.isnan(Y[:, j]) | np.isnan(P[:, j]))).any()]
    return float(np.mean(vals)) if vals else float("nan")


def trait_table(Y, P, meta: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """QWK per trait (mean over the prompts that have it, each on its own range), RMSE and n."""
    rows = []
    for j, name in enumerate(names):
        m = ~(np.isnan(Y[:, j]) | np.isnan(P[:, j]))
        sub = meta[m].reset_index(drop=True)
        rows.append({"trait": name, "n": int(m.sum()), "prompts": ",".join(map(str, sorted(sub["prompt"].unique()))),
                     "qwk": qwk_mean(Y[m, j], P[m, j], sub), "rmse": float(np.sqrt(np.mean((Y[m, j] - P[m, j]) ** 2)))})
    return pd.DataFrame(rows)


def multi_output_splits(path=None, prompts_7_8: bool = False) -> tuple[DatasetSplits, list[str]]:
    """All traits as one ``(n, 8)`` target (NaN where the prompt has no such trait); prompts 1-6 by default."""
    s = ASAPPlusPlus(path=path, trait="all", prompts_7_8=prompts_7_8).load()
    return s, list(s.task.classes)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ASAP++ traits: multi-output head, QWK per trait on the cts test split")
    ap.add_argument("--base", default="features", help="features | encoder")
    ap.add_argument("--path", help="traits_prompts1-6.tsv (default: $VERTICALKIT_DATA/asap-plusplus/)")
    ap.add_argument("--out", help="write the table as JSON here")
    ap.add_argument("--prompts-7-8", action="store_true", help="add prompts 7-8 (ASAP rater trait columns)")
    args = ap.parse_args(argv)
    try:
        s, names = multi_output_splits(args.path, args.prompts_7_8)
        head = TraitsHead(base=args.base).fit(s.train.X, s.train.y, s.val.X, s.val.y)
        pred = head.predict(s.test.X)
        table = trait_table(s.test.y, pred, s.test.meta, names)
    except (DataError, ConfigError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"mean QWK over traits {table['qwk'].mean():.3f}; MCRMSE {mcrmse(s.test.y, pred):.3f}")
    if args.out:
        Path(args.out).write_text(json.dumps(table.to_dict(orient="records"), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
