"""Essay heads on synthetic essays: per-prompt scores in range, save/load, bad input, review flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.errors import DataError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.verticals.essay_scoring import VERTICAL
from verticalkit.verticals.essay_scoring.flags import ReviewFlagger
from verticalkit.verticals.essay_scoring.metrics import qwk_mean
from verticalkit.verticals.essay_scoring.models import BlendHead, FeaturesHead
from verticalkit.verticals.essay_scoring.tiny import tiny_data


@pytest.fixture(scope="module")
def splits():
    return tiny_data(0)


@pytest.fixture(scope="module")
def features_predictor(splits):
    head = FeaturesHead().fit(splits.train.X, splits.train.y, splits.val.X, splits.val.y)
    return Predictor(head, vertical="essay_scoring", model="features", dataset=splits.dataset, task=splits.task)


def test_features_head_scores_in_each_prompts_range(splits, features_predictor):
    s = features_predictor.predict_score(splits.test.X)
    p = splits.test.X["prompt"].to_numpy()
    assert np.all((s[p == 1] >= 0) & (s[p == 1] <= 3)) and np.all((s[p == 2] >= 1) & (s[p == 2] <= 6))
    assert np.all(s == np.round(s))  # cut points give integer scores
    assert qwk_mean(splits.test.y, s, splits.test.meta) > 0.6


def test_features_head_reloads_identically(tmp_path, splits, features_predictor):
    features_predictor.save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m")
    assert np.array_equal(again.predict_score(splits.test.X), features_predictor.predict_score(splits.test.X))
    assert again.head.review_flags(splits.test.X).tolist() == features_predictor.head.review_flags(splits.test.X).tolist()


def test_bad_input_at_predict_time(splits, features_predictor):
    base = splits.test.X.iloc[:1]["text"].iloc[0]
    X = pd.DataFrame({"text": ["", "   \n ", "word " * 100_000, base, "Caf\ufffd na\xefve", None],
                      "prompt": [1, 1, 2, 1, 2, 2]}, dtype=object)
    X.loc[5, "text"] = b"Latin-1 bytes: caf\xe9 cr\xe8me \xff"  # not UTF-8
    s = features_predictor.predict_score(X)
    assert np.all(np.isfinite(s)) and len(s) == 6
    flags = features_predictor.head.review_flags(X)
    assert flags[0] == "empty" and flags[1] == "empty" and "too_long" in flags[2] and flags[3] == ""
    with pytest.raises(DataError, match=r"column 'prompt'.*\['9'\].*known prompts: \['1', '2'\]"):
        features_predictor.predict_score(pd.DataFrame({"text": [base], "prompt": [9]}))
    with pytest.raises(DataError, match="columns 'text' and 'prompt'"):
        features_predictor.predict_score(pd.DataFrame({"essay": [base]}))


def test_multi_output_target_is_refused_with_a_pointer(splits):
    with pytest.raises(DataError, match="traits"):
        FeaturesHead().fit(splits.train.X, np.c_[splits.train.y, splits.train.y])


def test_review_flagger_catches_outliers():
    rng = np.random.default_rng(0)
    words = "the student wrote about computers and friends at school every day".split()
    texts = [" ".join(rng.choice(words, 60)) + "." for _ in range(50)]
    f = ReviewFlagger().fit(texts, [1] * 50)
    sent = "The student wrote about computers at school. "
    cases = {"": "empty", "computers school": "short_for_prompt", "xqzv jkwp " * 40: "off_vocabulary",
             sent * 10: "repetitive", texts[0]: ""}
    for text, want in cases.items():
        got = f.flag_one(text, 1)
        assert (want in got) if want else got == "", (text[:30], got)
    assert f.flag_one(texts[0], 5) == "unknown_prompt"


def test_check_vertical_features_only():
    from verticalkit.core.tools.testing import check_vertical

    report = check_vertical(VERTICAL, models=["features"])
    assert report["models"]["features"]["reloaded_identical"]


@pytest.fixture(scope="module")
def char_predictor(splits):
    head = FeaturesHead(char_ngram_max=4).fit(splits.train.X, splits.train.y, splits.val.X, splits.val.y)
    return Predictor(head, vertical="essay_scoring", model="features", dataset=splits.dataset, task=splits.task)


@pytest.fixture(scope="module")
def blend_predictor(splits):
    head = BlendHead(char_ngram_max=4, svd_dims=8, trees=30).fit(splits.train.X, splits.train.y, splits.val.X,
                                                                   splits.val.y)
    return Predictor(head, vertical="essay_scoring", model="blend", dataset=splits.dataset, task=splits.task)


def test_char_ngrams_widen_the_design_per_prompt(splits, char_predictor, features_predictor):
    head = char_predictor.head
    assert set(head.chars_) == set(head.ranges_) and all(v.analyzer == "char_wb" for v in head.chars_.values())
    text = splits.test.X["text"].tolist()[:5]
    n_chars = head.chars_["1"].transform(text).shape[1]
    assert n_chars > 0
    assert head._design("1", text).shape[1] == features_predictor.head._design("1", text).shape[1] + n_chars
    s = char_predictor.predict_score(splits.test.X)
    p = splits.test.X["prompt"].to_numpy()
    assert np.all((s[p == 1] >= 0) & (s[p == 1] <= 3)) and np.all((s[p == 2] >= 1) & (s[p == 2] <= 6))
    assert qwk_mean(splits.test.y, s, splits.test.meta) > 0.6


@pytest.mark.parametrize("name", ["char_predictor", "blend_predictor"])
def test_char_and_blend_heads_reload_identically_and_take_messy_text(tmp_path, splits, name, request):
    predictor = request.getfixturevalue(name)
    predictor.save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m")
    assert type(again.head) is type(predictor.head) and again.head.char_ngram_max == 4
    np.testing.assert_allclose(again.predict_score(splits.test.X), predictor.predict_score(splits.test.X))
    X = pd.DataFrame({"text": ["", None, "Caf\ufffd na\xefve \u00e9t\u00e9", "x" * 5000, 42,
                               b"caf\xe9 cr\xe8me"], "prompt": [1, 2, 1, 2, "1", 2]}, dtype=object)
    s = again.predict_score(X)
    assert np.all(np.isfinite(s)) and len(s) == 6
    assert again.head.review_flags(X)[0] == "empty"


def test_blend_is_the_mean_of_its_three_regressors(splits, blend_predictor):
    head = blend_predictor.head
    assert set(head.ridges_) == set(head.char_ridges_) == set(head.trees_) == {"1", "2"}
    texts = [str(t) for t in splits.test.X["text"][splits.test.X["prompt"] == 1]]
    blocks = head._blocks("1", texts)
    assert blocks[2].shape[1] == 14 + 8  # handcrafted features + the SVD of the word n-grams
    parts = [head.ridges_["1"].predict(blocks[0]), head.char_ridges_["1"].predict(blocks[1]),
             head.trees_["1"].predict(blocks[2])]
    assert not np.allclose(parts[0], parts[2])  # the trees are not the ridge
    np.testing.assert_allclose(head._predict_prompt("1", texts), np.mean(parts, axis=0))
    s = blend_predictor.predict_score(splits.test.X)
    assert np.all(s == np.round(s)) and qwk_mean(splits.test.y, s, splits.test.meta) > 0.6


def test_blend_on_a_prompt_without_shared_words_uses_the_features_alone():
    X = pd.DataFrame({"text": [f"w{i}a w{i}b." if i % 2 else "" for i in range(24)], "prompt": [3] * 24})
    y = np.arange(24) % 4
    head = BlendHead(svd_dims=4, trees=5).fit(X, y)
    assert head.tfidf_["3"] is None and head.svds_["3"] is None
    assert np.all(np.isin(head.predict(X), [0, 1, 2, 3]))


def test_model_saved_without_char_ngrams_still_predicts(splits, features_predictor):
    head = features_predictor.head
    state = dict(head.__getstate__())  # a copy: the default __getstate__ returns the live __dict__
    for key in ("chars_", "char_ngram_max", "char_max_features"):  # a model saved before the option
        state.pop(key, None)
    old = FeaturesHead.__new__(FeaturesHead)
    old.__setstate__(state)
    np.testing.assert_allclose(old.predict(splits.test.X), head.predict(splits.test.X))


def _legacy_tfidf(v):
    """A fitted TF-IDF as the essay heads saved it before core's packing did: terms + idf."""
    return None if v is None else {"terms": "\n".join(sorted(v.vocabulary_, key=v.vocabulary_.get)), "idf": v.idf_}


@pytest.mark.parametrize("name", ["char_predictor", "tfidf"])
def test_tfidf_is_packed_by_core_and_the_old_saved_format_still_loads(tmp_path, splits, name, request):
    from verticalkit.core.heads.base import skops_io
    from verticalkit.core.heads.packing import MARK, packed_vocabularies
    from verticalkit.verticals.essay_scoring.baseline import TfidfHead

    head = request.getfixturevalue(name).head if name != "tfidf" else TfidfHead().fit(splits.train.X, splits.train.y)
    tables = [d for d in (head.tfidf_, getattr(head, "chars_", None)) if d is not None]
    with packed_vocabularies(head):  # what SklearnHead.save does: one packing for every head
        assert all(set(v.vocabulary_) == {MARK} for d in tables for v in d.values())
    legacy = type(head).__new__(type(head))
    legacy.__dict__.update(head.__dict__, **{n: {k: _legacy_tfidf(v) for k, v in getattr(head, n).items()}
                                             for n in ("tfidf_", "chars_") if hasattr(head, n)})
    (tmp_path / "old").mkdir()
    skops_io().dump(legacy, tmp_path / "old" / "model.skops")  # a file of the old format
    again = type(head).load(tmp_path / "old")  # the exact trusted types: nothing beyond the head's own
    fitted = [v for n in ("tfidf_", "chars_") for v in getattr(again, n, {}).values()]
    assert fitted and all(type(v).__name__ == "TfidfVectorizer" for v in fitted)
    np.testing.assert_array_equal(again.predict(splits.test.X), head.predict(splits.test.X))


@pytest.mark.parametrize("head, params, field", [
    (FeaturesHead, {"alpha": "big"}, "alpha"), (FeaturesHead, {"alpha": -1.0}, "alpha"),
    (FeaturesHead, {"alpha": True}, "alpha"), (FeaturesHead, {"char_ngram_max": 1}, "char_ngram_max"),
    (FeaturesHead, {"char_ngram_max": "5"}, "char_ngram_max"), (BlendHead, {"char_ngram_max": 0}, "char_ngram_max"),
    (BlendHead, {"svd_dims": 0}, "svd_dims"), (BlendHead, {"trees": 2.5}, "trees")])
def test_bad_features_and_blend_params_are_config_errors(splits, head, params, field):
    from verticalkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match=f"model_params.{field}"):
        head(**params).fit(splits.train.X, splits.train.y)


def test_check_vertical_blend():
    from verticalkit.core.tools.testing import check_vertical

    report = check_vertical(VERTICAL, models=["blend"])
    assert report["models"]["blend"]["reloaded_identical"]
