"""Essay metrics: QWK per prompt on each prompt's own score range, averaged (the primary).

Every metric is ``fn(y_true, scores, meta)``; ``meta`` carries ``prompt`` and, where the
adapter knows them, ``score_min`` / ``score_max`` (the prompt's official range) and
``rater1`` / ``rater2`` (per trait: ``rater1_<trait>`` / ``rater2_<trait>``). Each metric
also has a ``.batch`` for the core bootstrap.
The vertical's ``qwk`` replaces the core ``qwk`` (pooled over prompts on one range)
in the evaluator, because extra metrics override core metrics of the same name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from verticalkit.core.metrics import quadratic_weighted_kappa, qwk_batch


def _prompts(meta: pd.DataFrame | None, n: int) -> np.ndarray:
    if meta is not None and "prompt" in meta:
        return meta["prompt"].to_numpy()
    return np.ones(n, dtype=int)


def _range(meta: pd.DataFrame | None, m: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The prompt's official range from meta, else the observed range of ``y``."""
    if meta is not None and "score_min" in meta and "score_max" in meta:
        lo, hi = meta["score_min"].to_numpy()[m], meta["score_max"].to_numpy()[m]
        if len(lo) and np.isfinite(lo[0]) and np.isfinite(hi[0]):
            return float(lo[0]), float(hi[0])
    return float(np.min(y)), float(np.max(y))


def qwk_per_prompt(y_true, scores, meta: pd.DataFrame | None) -> dict[int, float]:
    """QWK of each prompt on its own score range."""
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    prompts = _prompts(meta, len(y))
    out = {}
    for p in np.unique(prompts):
        m = prompts == p
        lo, hi = _range(meta, m, y[m])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[int(p)] = float(quadratic_weighted_kappa(y[m], s[m], lo, hi)) if hi > lo else float("nan")
    return out


def qwk_mean(y_true, scores, meta=None) -> float:
    """Mean over prompts of the QWK on that prompt's score range (ASAP convention)."""
    vals = [v for v in qwk_per_prompt(y_true, scores, meta).values() if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _qwk_mean_batch(y_true, scores, meta, W) -> np.ndarray:
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    prompts = _prompts(meta, len(y))
    rows = []
    for p in np.unique(prompts):
        m = prompts == p
        lo, hi = _range(meta, m, y[m])
        if hi > lo:
            rows.append(qwk_batch(y[m], s[m], W[:, m], lo, hi))
    if not rows:
        return np.full(len(W), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(np.vstack(rows), axis=0)


qwk_mean.batch = _qwk_mean_batch  # type: ignore[attr-defined]


def rater_columns(meta) -> tuple[str, str] | None:
    """The two raters' columns of ``meta``: ``rater1_<output>`` / ``rater2_<output>`` when the core's
    per-output metrics name the output (``meta.attrs["output"]``, a trait), else ``rater1`` / ``rater2``."""
    if meta is None:
        return None
    output = meta.attrs.get("output", "") if hasattr(meta, "attrs") else ""
    cols = (f"rater1_{output}", f"rater2_{output}") if output else ("rater1", "rater2")
    return cols if cols[0] in meta and cols[1] in meta else None


def _raters(meta) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    cols = rater_columns(meta)
    if cols is None:
        return None
    r1, r2 = meta[cols[0]].to_numpy(dtype=float), meta[cols[1]].to_numpy(dtype=float)
    ok = ~(np.isnan(r1) | np.isnan(r2))
    return (r1, r2, ok) if ok.any() else None


def human_qwk_mean(y_true, scores, meta=None) -> float:
    """Rater 1 vs rater 2 QWK, averaged over prompts: the human agreement beside every model.

    Each prompt's QWK is on the raters' own scale (ASAP prompt 1: 1–6 per rater, 2–12 for
    domain1; prompt 7 traits: 0–3 per rater, 0–6 summed), taken as the range the two raters
    used (QWK does not change with empty categories at the ends of the range). In a
    multi-output (traits) run it is per trait: ``human_qwk_<trait>`` from the meta columns
    ``rater1_<trait>`` / ``rater2_<trait>``; NaN (null) where no essay has two raters.
    """
    return float(np.nanmean(_human_rows(meta, None))) if _raters(meta) is not None else float("nan")


def qwk_double_rated(y_true, scores, meta=None) -> float:
    """The model's :func:`qwk_mean` on the essays that have two rater scores: the essays
    ``human_qwk`` is measured on (all of ASAP; prompts 7-8 only for ASAP++ traits)."""
    r = _raters(meta)
    if r is None:
        return float("nan")
    ok = r[2]
    return qwk_mean(np.asarray(y_true, float)[ok], np.asarray(scores, float)[ok], meta[ok].reset_index(drop=True))


def _double_rated_batch(y_true, scores, meta, W) -> np.ndarray:
    r = _raters(meta)
    if r is None:
        return np.full(len(W), np.nan)
    ok = r[2]
    return _qwk_mean_batch(np.asarray(y_true, float)[ok], np.asarray(scores, float)[ok],
                           meta[ok].reset_index(drop=True), W[:, ok])


qwk_double_rated.batch = _double_rated_batch  # type: ignore[attr-defined]


def _human_rows(meta, W) -> np.ndarray:
    r1, r2, ok = _raters(meta)
    prompts = meta["prompt"].to_numpy() if "prompt" in meta else np.ones(len(r1), int)
    vals = []
    for p in np.unique(prompts[ok]):
        m = ok & (prompts == p)
        lo, hi = min(r1[m].min(), r2[m].min()), max(r1[m].max(), r2[m].max())
        if W is None:
            vals.append(quadratic_weighted_kappa(r1[m], r2[m], lo, hi))
        else:
            vals.append(qwk_batch(r1[m], r2[m], W[:, m], lo, hi))
    return np.asarray(vals, dtype=float)


def _human_batch(y_true, scores, meta, W) -> np.ndarray:
    if _raters(meta) is None:
        return np.full(len(W), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(_human_rows(meta, W), axis=0)


human_qwk_mean.batch = _human_batch  # type: ignore[attr-defined]


def _rounded(y_true, scores) -> tuple[np.ndarray, np.ndarray]:
    return np.rint(np.asarray(y_true, float)), np.rint(np.asarray(scores, float))


def exact_agreement(y_true, scores, meta=None) -> float:
    """Share of essays whose rounded score equals the human score."""
    y, s = _rounded(y_true, scores)
    return float(np.mean(s == y))


def adjacent_agreement(y_true, scores, meta=None) -> float:
    """Share of essays within one point of the human score."""
    y, s = _rounded(y_true, scores)
    return float(np.mean(np.abs(s - y) <= 1))


exact_agreement.batch = lambda y, s, meta, W: W @ (_rounded(y, s)[1] == _rounded(y, s)[0]) / W.sum(1)  # type: ignore
adjacent_agreement.batch = (  # type: ignore[attr-defined]
    lambda y, s, meta, W: W @ (np.abs(_rounded(y, s)[1] - _rounded(y, s)[0]) <= 1) / W.sum(1))


def smd(y_true, scores, meta=None) -> float:
    """Standardised mean difference (machine − human) / pooled SD; |SMD| > 0.15 is a warning sign."""
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    pooled = np.sqrt((y.var() + s.var()) / 2)
    return float((s.mean() - y.mean()) / pooled) if pooled > 0 else float("nan")


def _smd_batch(y_true, scores, meta, W) -> np.ndarray:
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    tot = W.sum(1)
    my, ms = W @ y / tot, W @ s / tot
    vy, vs = W @ y ** 2 / tot - my ** 2, W @ s ** 2 / tot - ms ** 2
    pooled = np.sqrt(np.maximum((vy + vs) / 2, 0))
    with np.errstate(all="ignore"):
        return np.where(pooled > 0, (ms - my) / pooled, np.nan)


smd.batch = _smd_batch  # type: ignore[attr-defined]


METRICS = {"qwk": qwk_mean, "human_qwk": human_qwk_mean, "qwk_double_rated": qwk_double_rated,
           "exact_agreement": exact_agreement,
           "adjacent_agreement": adjacent_agreement, "smd": smd}
