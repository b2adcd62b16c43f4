"""Raw inputs at predict and serve time: a file that trained is scored as it is (adapter hook
``DatasetAdapter.to_model_input``; the essay adapters rename their columns at load time)."""

import numpy as np
import pandas as pd
import pytest

import verticalkit as vk
from verticalkit.core.tools.cli import main
from verticalkit.core.errors import DataError
from verticalkit.verticals.essay_scoring.data import ASAP, EssayCSV

WORDS = ["the", "dog", "ran", "far", "away", "quickly", "élan", "naïve", ".", ","]


def essay_file(path, n=80, seed=0):
    """An AES 2.0-layout CSV (essay_id, full_text, score) with messy text: accents, an empty essay."""
    rng = np.random.default_rng(seed)
    scores = rng.integers(1, 7, n)
    texts = [" ".join(rng.choice(WORDS, 10 + 8 * s)) for s in scores]
    texts[3] = ""
    pd.DataFrame({"essay_id": [f"e{i}" for i in range(n)], "full_text": texts, "score": scores}).to_csv(
        path, index=False)
    return path


@pytest.fixture(scope="module")
def essay_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("essay")
    csv = essay_file(tmp / "train.csv")
    run = vk.train("essay_scoring", "essay-csv", "features", data={"path": str(csv), "score_min": 1, "score_max": 6},
                   out=tmp / "run", eval={"n_bootstrap": 20, "report": False})
    return run, csv


def test_cli_predict_scores_the_training_file_as_it_is(essay_run, tmp_path, capsys):
    run, csv = essay_run
    out = tmp_path / "scores.csv"
    assert main(["predict", str(run.dir), "--input", str(csv), "--output", str(out), "--quiet",
                 "--id-column", "essay_id"]) == 0, capsys.readouterr().err
    scored = pd.read_csv(out)
    assert len(scored) == 80 and scored["id"].iloc[0] == "e0"
    # the same essays in the model's own columns score the same
    raw = pd.read_csv(csv)
    model_cols = pd.DataFrame({"text": raw["full_text"].fillna("").astype(str), "prompt": 1})
    np.testing.assert_allclose(scored["prediction"], vk.load(run.dir).predict(model_cols)["prediction"], atol=1e-9)


def test_api_predict_takes_raw_and_model_columns(essay_run):
    run, csv = essay_run
    model = vk.load(run.dir)
    raw = pd.read_csv(csv)
    a = model.predict(raw, id_column="essay_id")
    b = model.predict(pd.DataFrame({"text": raw["full_text"].fillna("").astype(str), "prompt": 1}))
    assert list(a["id"][:2]) == ["e0", "e1"] and list(a.columns[:2]) == ["id", "prediction"]
    np.testing.assert_allclose(a["prediction"], b["prediction"], atol=1e-9)
    with pytest.raises(DataError, match=r"missing column\(s\) \['full_text'\].*model's columns \['text', 'prompt'\]"):
        model.predict(pd.DataFrame({"body": ["an essay"]}))


def test_serve_accepts_raw_records(essay_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from verticalkit.core.serve.app import create_app

    run, csv = essay_run
    c = TestClient(create_app(run.dir, token=""))
    raw = c.post("/v1/predict", json={"records": [{"full_text": "the dog ran far away quickly .", "essay_id": "x"}]})
    own = c.post("/v1/predict", json={"records": [{"text": "the dog ran far away quickly .", "prompt": 1}]})
    assert raw.status_code == own.status_code == 200, raw.text
    assert raw.json()["predictions"][0]["score"] == pytest.approx(own.json()["predictions"][0]["score"])
    bad = c.post("/v1/predict", json={"records": [{"body": "x"}]})
    assert bad.status_code in (400, 422) and "full_text" in bad.text


def test_adapter_params_come_from_the_run_config(tmp_path):
    """An essay-csv run with its own column names maps them at predict time (data.text_column)."""
    src = essay_file(tmp_path / "f.csv", n=60, seed=1)
    df = pd.read_csv(src).rename(columns={"full_text": "Essay Body"})
    df["Prompt"] = np.where(np.arange(60) % 2 == 0, "3", "3.0")  # one prompt, written two ways
    df.to_csv(tmp_path / "own.csv", index=False)
    run = vk.train("essay_scoring", "essay-csv", "features", out=tmp_path / "run",
                   data={"path": str(tmp_path / "own.csv"), "text_column": "Essay Body", "prompt_column": "Prompt"},
                   eval={"n_bootstrap": 10, "report": False})
    scored = vk.load(run.dir).predict(df.head(5))
    assert len(scored) == 5 and scored["prediction"].notna().all()


def test_asap_layout_maps_essay_and_essay_set():
    raw = pd.DataFrame({"essay_id": [1, 2], "essay_set": [1, 8.0], "essay": ['"Dear editor, ""quoted""."', None]})
    X = ASAP().to_model_input(raw)
    assert list(X.columns) == ["text", "prompt"] and X["prompt"].tolist() == [1, 8]
    assert X["text"].tolist() == ['Dear editor, "quoted".', ""]
    with pytest.raises(DataError, match="column 'essay_set' row 1 holds 'eight'"):
        ASAP().to_model_input(raw.assign(essay_set=["1", "eight"]))
    same = pd.DataFrame({"text": ["x"], "prompt": [2]})
    assert ASAP().to_model_input(same) is same


def test_default_hook_is_identity():
    from verticalkit.core.data.adapter import DatasetAdapter

    df = pd.DataFrame({"a": [1]})
    assert DatasetAdapter().to_model_input(df) is df
    assert EssayCSV(text_column="t").to_model_input(pd.DataFrame({"t": ["x", None]}))["text"].tolist() == ["x", ""]
