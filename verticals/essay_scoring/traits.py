"""Trait scores: a multi-output head over all traits (the ASAP++ adapter, one trait per run, is in data.py).

``verticalkit train essay_scoring --dataset asap-plusplus --set data.trait=Organization`` trains
and evaluates one trait like any holistic score. :class:`TraitsHead` fits one per-prompt head per
trait column of an ``(n, k)`` target (NaN where a prompt has no such trait) and predicts
``(n, k)``; :func:`trait_table` gives QWK per trait (mean over prompts) and MCRMSE.
The core evaluator scores one column at a time, so the multi-output head is used from Python:

    python -m verticalkit.verticals.essay_scoring.traits [--base features] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from verticalkit.core.data import DatasetSplits, Split, Task
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.heads import SklearnHead
from verticalkit.core.sources import resolve_source

from .data import TRAIT_RANGES, TRAITS, ASAPPlusPlus, read_asap_plusplus  # noqa: F401  (re-exported)
from .metrics import qwk_mean

class TraitsHead(SklearnHead):
    """Multi-output: one per-prompt ``base`` head (features | encoder) per trait column; NaN = no such trait."""

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
        Y = np.asarray(Y, dtype=float)
        Y = Y[:, None] if Y.ndim == 1 else Y
        Yv = None if Y_val is None else np.asarray(Y_val, dtype=float).reshape(len(Y_val), -1)
        self.heads_ = []
        for j in range(Y.shape[1]):
            m = ~np.isnan(Y[:, j])
            if not m.any():
                raise DataError(f"trait column {j} has no scores in the training data")
            mv = None if Yv is None else ~np.isnan(Yv[:, j])
            head = self._base_cls()(**(self.base_params or {}))
            head.fit(X[m].reset_index(drop=True), Y[m, j],
                     None if mv is None else X_val[mv].reset_index(drop=True), None if mv is None else Yv[mv, j])
            self.heads_.append(head)
        return self

    def predict(self, X) -> np.ndarray:
        from .data import prompt_key

        out = np.full((len(X), len(self.heads_)), np.nan)
        keys = np.array([prompt_key(p) for p in X["prompt"]], dtype=object)
        for j, head in enumerate(self.heads_):
            m = np.isin(keys, list(head.ranges_))
            if m.any():
                out[m, j] = head.predict(X[m].reset_index(drop=True))
        return out


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


def multi_output_splits(path=None) -> tuple[DatasetSplits, list[str]]:
    """All ASAP++ traits as one ``(n, 8)`` target (NaN where the prompt has no such trait)."""
    file = resolve_source(ASAPPlusPlus.id, ASAPPlusPlus.files, path)
    df = read_asap_plusplus(file)
    prompts = df["essay_set"].astype(int)
    X = pd.DataFrame({"text": df["essay"].to_numpy(), "prompt": prompts.to_numpy()})
    meta = pd.DataFrame({"prompt": prompts, "score_min": prompts.map(lambda p: float(TRAIT_RANGES[p][0])),
                         "score_max": prompts.map(lambda p: float(TRAIT_RANGES[p][1]))})
    full = Split(X, df[TRAITS].to_numpy(float), df["essay_id"].astype(int).to_numpy(), meta=meta)
    part = {name: np.flatnonzero(df["cts_split"].to_numpy() == name) for name in ("train", "dev", "test")}
    task = Task(kind="regression", target="traits", primary_metric="qwk", classes=list(TRAITS))
    return DatasetSplits(ASAPPlusPlus.id, task, full.subset(part["train"]), full.subset(part["dev"]),
                         full.subset(part["test"]), protocol="cts-split"), list(TRAITS)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ASAP++ traits: multi-output head, QWK per trait on the cts test split")
    ap.add_argument("--base", default="features", help="features | encoder")
    ap.add_argument("--path", help="traits_prompts1-6.tsv (default: $VERTICALKIT_DATA/asap-plusplus/)")
    ap.add_argument("--out", help="write the table as JSON here")
    args = ap.parse_args(argv)
    try:
        s, names = multi_output_splits(args.path)
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
