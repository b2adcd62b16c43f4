"""Essay metrics against scikit-learn, QWK cut points, and the per-prompt QWK as the evaluator's primary."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from verticalkit.core.evaluate.bootstrap import bootstrap_replicates
from verticalkit.core.data.adapter import Task
from verticalkit.core.evaluate.evaluator import evaluate
from verticalkit.verticals.essay_scoring.metrics import (METRICS, adjacent_agreement, exact_agreement, human_qwk_mean,
                                                         qwk_mean, qwk_per_prompt, smd)
from verticalkit.verticals.essay_scoring.thresholds import apply_cutpoints, fit_cutpoints


def _two_prompts(seed=0, n=300):
    rng = np.random.default_rng(seed)
    prompt = np.where(np.arange(n) % 2 == 0, 1, 8)
    lo = np.where(prompt == 1, 2, 0)
    hi = np.where(prompt == 1, 12, 60)
    y = np.rint(lo + rng.random(n) * (hi - lo))
    pred = np.clip(np.rint(y + rng.normal(0, np.where(prompt == 1, 1.5, 8), n)), lo, hi)
    meta = pd.DataFrame({"prompt": prompt, "score_min": lo.astype(float), "score_max": hi.astype(float),
                         "rater1": np.clip(np.rint(y / 2 + rng.normal(0, 0.7, n)), 0, 30),
                         "rater2": np.clip(np.rint(y / 2 + rng.normal(0, 0.7, n)), 0, 30)})
    return y, pred, meta


def _sk(a, b, lo, hi):
    return cohen_kappa_score(a.astype(int), b.astype(int), weights="quadratic", labels=np.arange(lo, hi + 1))


def test_qwk_per_prompt_matches_sklearn():
    y, pred, meta = _two_prompts()
    per = qwk_per_prompt(y, pred, meta)
    m1, m8 = meta["prompt"] == 1, meta["prompt"] == 8
    assert per[1] == pytest.approx(_sk(y[m1], pred[m1], 2, 12))
    assert per[8] == pytest.approx(_sk(y[m8], pred[m8], 0, 60))
    assert qwk_mean(y, pred, meta) == pytest.approx((per[1] + per[8]) / 2)


def test_human_qwk_matches_sklearn_on_rater_scale():
    y, pred, meta = _two_prompts()
    vals = []
    for p in (1, 8):
        m = (meta["prompt"] == p).to_numpy()
        r1, r2 = meta["rater1"].to_numpy()[m], meta["rater2"].to_numpy()[m]
        vals.append(_sk(r1, r2, int(min(r1.min(), r2.min())), int(max(r1.max(), r2.max()))))
    assert human_qwk_mean(y, pred, meta) == pytest.approx(np.mean(vals))
    assert np.isnan(human_qwk_mean(y, pred, meta.drop(columns=["rater1", "rater2"])))


def test_agreement_and_smd():
    y = np.array([1, 2, 3, 4, 5.0])
    s = np.array([1, 3, 3, 2, 5.0])
    assert exact_agreement(y, s) == pytest.approx(0.6)
    assert adjacent_agreement(y, s) == pytest.approx(0.8)
    assert smd(y, s) == pytest.approx((s.mean() - y.mean()) / np.sqrt((y.var() + s.var()) / 2))


def test_batch_versions_equal_the_scalar_on_resamples():
    y, pred, meta = _two_prompts(n=120)
    reps = bootstrap_replicates(METRICS, y, pred, meta, n_boot=20, seed=3)
    rng = np.random.default_rng(3)
    for b in range(20):
        idx = rng.integers(0, len(y), size=len(y))
        sub = meta.iloc[idx].reset_index(drop=True)
        for name, fn in METRICS.items():
            assert reps[name][b] == pytest.approx(fn(y[idx], pred[idx], sub), nan_ok=True, abs=1e-9), name


def test_evaluator_primary_is_the_per_prompt_mean_not_the_pooled_core_qwk():
    y, pred, meta = _two_prompts()
    task = Task(kind="regression", target="score", primary_metric="qwk", score_range=(0.0, 60.0))
    result = evaluate(task, y, pred, meta=meta, extra_metrics=METRICS)
    assert result.primary == "qwk"
    assert result.metrics["qwk"]["value"] == pytest.approx(qwk_mean(y, pred, meta))
    pooled = _sk(y, pred, 0, 60)
    assert abs(result.metrics["qwk"]["value"] - pooled) > 0.01  # the core's pooled QWK differs
    lo, hi = result.metrics["qwk"]["ci95"]
    assert lo < result.metrics["qwk"]["value"] < hi
    assert {r["group"] for r in result.subgroups["prompt"]} == {"1", "8"}


def test_cutpoints_improve_qwk_on_a_biased_predictor():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 400).astype(float)
    raw = 0.6 * y + 0.5 + rng.normal(0, 0.3, 400)  # compressed and shifted
    base = _sk(y, np.clip(np.rint(raw), 0, 3), 0, 3)
    cut = fit_cutpoints(y, raw, 0, 3)
    assert len(cut) == 3 and np.all(np.diff(cut) > 0)
    tuned = apply_cutpoints(raw, cut, 0)
    assert set(np.unique(tuned)) <= {0, 1, 2, 3}
    assert _sk(y, tuned, 0, 3) > base + 0.05


def test_apply_cutpoints_and_degenerate_cases():
    assert apply_cutpoints(np.array([-5, 0.4, 0.6, 1.7, 9]), np.array([0.5, 1.5, 2.5]), 0).tolist() == [0, 0, 1, 2, 3]
    one_class = fit_cutpoints(np.ones(20), np.linspace(0, 2, 20), 0, 3)
    assert np.allclose(one_class, [0.5, 1.5, 2.5])


def test_fast_cutpoint_qwk_equals_sklearn_qwk():
    from verticalkit.core.evaluate.metrics import quadratic_weighted_kappa
    from verticalkit.verticals.essay_scoring.thresholds import _qwk_fn

    rng = np.random.default_rng(0)
    for lo, hi in ((0, 3), (2, 12), (0, 60)):
        y = rng.integers(lo, hi + 1, 300).astype(float)
        p = rng.normal((lo + hi) / 2, (hi - lo) / 3, 300)
        assert _qwk_fn(y, lo, hi)(p) == pytest.approx(quadratic_weighted_kappa(y, p, lo, hi), abs=1e-12)


def test_human_qwk_per_trait_reads_each_traits_rater_columns_in_a_multioutput_run():
    """Traits run: ``human_qwk_<trait>`` is rater 1 vs rater 2 of that trait, on the essays that have both;
    ``qwk_double_rated_<trait>`` the model on the same essays; null where one annotation per essay."""
    rng = np.random.default_rng(0)
    n = 240
    prompt = np.where(np.arange(n) % 3 == 0, 1, 7)  # prompt 1: one annotation (ASAP++), prompt 7: two raters
    r1 = rng.integers(0, 4, (n, 2)).astype(float)
    r2 = np.clip(r1 + rng.integers(-1, 2, (n, 2)), 0, 3)
    Y = r1 + r2
    Y[prompt == 1] = rng.integers(1, 7, ((prompt == 1).sum(), 2))
    P = np.clip(Y + rng.integers(-1, 2, Y.shape), 0, 6)
    Y[:, 1][prompt == 1] = np.nan  # trait 2 exists for prompt 7 only
    P[:, 1][prompt == 1] = np.nan
    meta = pd.DataFrame({"prompt": prompt, "score_min": np.where(prompt == 1, 1.0, 0.0),
                         "score_max": 6.0})
    for j, name in enumerate(("content", "organization")):
        meta[f"rater1_{name}"] = np.where(prompt == 7, r1[:, j], np.nan)
        meta[f"rater2_{name}"] = np.where(prompt == 7, r2[:, j], np.nan)
    meta["rater1_narrativity"] = meta["rater2_narrativity"] = np.nan
    Y3 = np.column_stack([Y, np.where(prompt == 1, Y[:, 0], np.nan)])
    P3 = np.column_stack([P, np.where(prompt == 1, P[:, 0], np.nan)])
    task = Task(kind="multioutput", target="traits", primary_metric="qwk",
                classes=["Content", "Organization", "Narrativity"], score_range=(0.0, 6.0))
    res = evaluate(task, Y3, P3, meta=meta, extra_metrics=METRICS, seed=0).metrics
    p7 = prompt == 7
    for j, name in enumerate(("content", "organization")):
        want = _sk(r1[p7, j], r2[p7, j], 0, 3)
        assert res[f"human_qwk_{name}"]["value"] == pytest.approx(want)
        lo, hi = res[f"human_qwk_{name}"]["ci95"]
        assert lo <= want <= hi and lo < hi
        assert res[f"qwk_double_rated_{name}"]["value"] == pytest.approx(_sk(Y[p7, j], P[p7, j], 0, 6))
    assert res["qwk_content"]["value"] != pytest.approx(res["qwk_double_rated_content"]["value"])  # 1 + 7 vs 7
    assert np.isnan(res["human_qwk_narrativity"]["value"])  # one annotation per essay: no human figure
    assert np.isnan(res["qwk_double_rated_narrativity"]["value"])
    assert res["human_qwk"]["value"] == pytest.approx(np.mean([_sk(r1[p7, j], r2[p7, j], 0, 3) for j in (0, 1)]))


def test_holistic_human_qwk_still_reads_rater1_rater2():
    y, pred, meta = _two_prompts()
    assert METRICS["qwk_double_rated"](y, pred, meta) == pytest.approx(qwk_mean(y, pred, meta))
    assert np.isnan(METRICS["qwk_double_rated"](y, pred, meta.drop(columns=["rater1"])))
