"""Essay metrics: QWK per prompt on each prompt's own score range, averaged (the primary).

Every metric is ``fn(y_true, scores, meta)``; ``meta`` carries ``prompt`` (any type: numbers or
names) and, where the adapter knows them, ``score_min`` / ``score_max`` / ``score_step`` (the
prompt's scale; per trait ``score_min_<trait>`` ...) and ``rater1`` / ``rater2`` (per trait:
``rater1_<trait>`` / ``rater2_<trait>``). Scores are compared as ranks on the scale (scales.py):
a half-point scale has twice as many levels as whole points. Each metric also has a ``.batch``
for the core bootstrap.
The vertical's ``qwk`` replaces the core ``qwk`` (pooled over prompts on one range)
in the evaluator, because extra metrics override core metrics of the same name.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from verticalkit.core.evaluate.metrics import quadratic_weighted_kappa, qwk_batch

from .data import prompt_key
from .scales import infer_step, n_ranks, to_ranks

Scale = tuple[float, float, "float | None"]


def _prompts(meta: pd.DataFrame | None, n: int) -> np.ndarray:
    """The prompt of each essay as a string key (3, 3.0 and "3" are one prompt; names stay names)."""
    if meta is not None and "prompt" in meta:
        return np.array([prompt_key(p) for p in meta["prompt"]], dtype=object)
    return np.full(n, "1", dtype=object)


def _scale_columns(meta: pd.DataFrame) -> tuple[str, str, str]:
    """``score_min_<output>`` ... where the core's per-output metrics name a trait that has them, else
    ``score_min`` / ``score_max`` / ``score_step``."""
    output = meta.attrs.get("output", "") if hasattr(meta, "attrs") else ""
    if output and f"score_min_{output}" in meta:
        return f"score_min_{output}", f"score_max_{output}", f"score_step_{output}"
    return "score_min", "score_max", "score_step"


def _scale(meta: pd.DataFrame | None, m: np.ndarray, y: np.ndarray) -> Scale:
    """The prompt's scale from meta (official range, step), else the observed range and step of ``y``."""
    lo, hi = float(np.min(y)), float(np.max(y))
    step = None
    if meta is not None:
        c_lo, c_hi, c_step = _scale_columns(meta)
        if c_lo in meta and c_hi in meta:
            a, b = meta[c_lo].to_numpy(float)[m], meta[c_hi].to_numpy(float)[m]
            if len(a) and np.isfinite(a[0]) and np.isfinite(b[0]):
                lo, hi = float(a[0]), float(b[0])
        if c_step in meta:
            st = meta[c_step].to_numpy(float)[m]
            if len(st) and np.isfinite(st[0]) and st[0] > 0:
                return lo, hi, float(st[0])
    return lo, hi, infer_step(y, lo)


def _qwk_ranks(y: np.ndarray, s: np.ndarray, scale: Scale, W: np.ndarray | None = None):
    """QWK of ``y`` vs ``s`` as ranks on the scale (per bootstrap row of ``W`` when given)."""
    k = n_ranks(*scale) - 1 if scale[2] is not None else int(np.rint(scale[1]) - np.rint(scale[0]))
    a, b = to_ranks(y, *scale), to_ranks(s, *scale)
    if W is not None:
        return qwk_batch(a, b, W, 0, k)
    return float(quadratic_weighted_kappa(a, b, 0, k))


def qwk_per_prompt(y_true, scores, meta: pd.DataFrame | None) -> dict:
    """QWK of each prompt on its own scale, keyed by the prompt as ``meta`` holds it."""
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    prompts = _prompts(meta, len(y))
    out = {}
    for p in sorted(set(prompts)):
        m = prompts == p
        lo, hi, step = _scale(meta, m, y[m])
        label = meta["prompt"].to_numpy()[m][0] if meta is not None and "prompt" in meta else 1
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out[label.item() if isinstance(label, np.generic) else label] = (
                _qwk_ranks(y[m], s[m], (lo, hi, step)) if hi > lo else float("nan"))
    return out


def qwk_mean(y_true, scores, meta=None) -> float:
    """Mean over prompts of the QWK on that prompt's score range (ASAP convention)."""
    vals = [v for v in qwk_per_prompt(y_true, scores, meta).values() if np.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


def _qwk_mean_batch(y_true, scores, meta, W) -> np.ndarray:
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    prompts = _prompts(meta, len(y))
    rows = []
    for p in sorted(set(prompts)):
        m = prompts == p
        lo, hi, step = _scale(meta, m, y[m])
        if hi > lo:
            rows.append(_qwk_ranks(y[m], s[m], (lo, hi, step), W[:, m]))
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
    prompts = _prompts(meta, len(r1))
    vals = []
    for p in sorted(set(prompts[ok])):
        m = ok & (prompts == p)
        both = np.r_[r1[m], r2[m]]
        lo = float(both.min())
        scale = (lo, float(both.max()), infer_step(both, lo))
        vals.append(_qwk_ranks(r1[m], r2[m], scale, None if W is None else W[:, m]))
    return np.asarray(vals, dtype=float)


def _human_batch(y_true, scores, meta, W) -> np.ndarray:
    if _raters(meta) is None:
        return np.full(len(W), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.nanmean(_human_rows(meta, W), axis=0)


human_qwk_mean.batch = _human_batch  # type: ignore[attr-defined]


def _rank_gap(y_true, scores, meta) -> np.ndarray:
    """Per essay, |machine − human| in levels of the essay's prompt scale (whole points where no step fits)."""
    y, s = np.asarray(y_true, float), np.asarray(scores, float)
    prompts = _prompts(meta, len(y))
    gap = np.zeros(len(y))
    for p in set(prompts):
        m = prompts == p
        lo, _, step = _scale(meta, m, y[m])
        lo, step = (lo, step) if step is not None else (0.0, 1.0)  # continuous: whole points
        gap[m] = np.abs(np.rint((s[m] - lo) / step) - np.rint((y[m] - lo) / step))
    return gap


def exact_agreement(y_true, scores, meta=None) -> float:
    """Share of essays whose score, on the prompt's scale, equals the human score."""
    return float(np.mean(_rank_gap(y_true, scores, meta) == 0))


def adjacent_agreement(y_true, scores, meta=None) -> float:
    """Share of essays within one level (one point; half a point on a half-point scale) of the human score."""
    return float(np.mean(_rank_gap(y_true, scores, meta) <= 1))


exact_agreement.batch = lambda y, s, meta, W: W @ (_rank_gap(y, s, meta) == 0) / W.sum(1)  # type: ignore
adjacent_agreement.batch = lambda y, s, meta, W: W @ (_rank_gap(y, s, meta) <= 1) / W.sum(1)  # type: ignore


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
