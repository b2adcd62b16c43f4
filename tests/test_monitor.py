"""``verticalkit monitor`` (core/serve/monitor.py, core/evaluate/drift.py): drift of a batch against the run's
training reference, for the three verticals; bad input; the Python call and POST /v1/monitor."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from wild_images import MODES, _pixels, save_image

from verticalkit.core.tools.cli import main
from verticalkit.core.evaluate.drift import compare, ks_from_quantiles, psi, summarize
from verticalkit.core.serve.monitor import monitor

FAST = ["--set", "eval.n_bootstrap=20", "--set", "eval.report=false"]


# ----------------------------------------------------------------------------- statistics


def test_one_psi_in_core_and_fraud_reexports_it():
    from verticalkit.verticals.fraud import metrics

    assert metrics.psi is psi


@pytest.mark.parametrize("shift", [0.0, 0.15, 0.5])
def test_ks_from_quantiles_approximates_the_two_sample_test(shift):
    rng = np.random.default_rng(0)
    ref, batch = rng.normal(size=3000), rng.normal(shift, 1, size=800)
    s = summarize(pd.Series(ref))
    d, p = ks_from_quantiles(s["quantiles"], s["n"], batch)
    exact = ks_2samp(ref, batch)
    assert abs(d - exact.statistic) < 0.015
    assert (p < 0.01) == (exact.pvalue < 0.01)


def test_summaries_of_messy_columns_compare_without_raw_rows():
    rng = np.random.default_rng(1)
    ref = pd.Series(np.r_[rng.normal(50, 10, 990), [np.nan] * 10])
    s = summarize(ref)
    assert s["kind"] == "numeric" and s["missing"] == 10 and len(s["quantiles"]) == 101
    same = compare(s, pd.Series(rng.normal(50, 10, 500)))
    assert same["psi"] < 0.2 and same["p_value"] > 0.01
    gone = compare(s, pd.Series(["n/a"] * 300 + list(rng.normal(50, 10, 200)), dtype=object))
    assert gone["batch_missing"] == pytest.approx(0.6) and gone["psi"] > 1
    cats = pd.Series(["a", "b", None, "c", "b"] * 200, dtype="string")
    sc = summarize(cats)
    assert sc["kind"] == "categorical" and sc["counts"]["__missing__"] == 200
    new = compare(sc, pd.Series(["a", "z", "z", "b"] * 100, dtype="string"))
    assert new["batch_other"] == pytest.approx(0.5) and new["p_value"] < 1e-6 and new["psi"] > 0.2
    ids = pd.Series([f"patient-{i:05d}" for i in range(1000)])  # identifier-like: stored as digests only
    si = summarize(ids)
    assert si["hashed"] and "patient" not in json.dumps(si)
    new_ids = compare(si, pd.Series([f"patient-{i:05d}" for i in range(5000, 5300)]))
    assert new_ids["batch_other"] == 1.0 and new_ids["kind"] == "categorical"


# ----------------------------------------------------------------------------- fraud (tables)


@pytest.fixture(scope="module")
def fraud_run(tmp_path_factory):
    from verticalkit.core.registry import get_vertical
    from verticalkit.core.train.run import load_run, load_splits

    tmp = tmp_path_factory.mktemp("fraud")
    out = tmp / "run"
    assert main(["train", "fraud", "--dataset", "german-credit", "--model", "logreg", "--out", str(out), *FAST]) == 0
    assert (out / "monitor_reference.json").is_file()
    cfg, _ = load_run(out)
    s = load_splits(cfg, get_vertical("fraud"))  # the run's own test split: an unshifted batch
    test = s.test.X.assign(label=s.test.y, when=pd.date_range("2026-01-01", periods=len(s.test.y), freq="6h"))
    return out, test


def _write(df: pd.DataFrame, path):
    df.to_csv(path, index=False)
    return path


def test_fraud_unshifted_passes_and_shifted_column_exits_3(fraud_run, tmp_path, capsys):
    run, test = fraud_run
    messy = test.astype({"credit_amount": object})
    messy.loc[3, "credit_amount"] = "lots"  # not a number: the row is dropped, as predict drops it
    messy.loc[5, "age"] = np.nan  # an empty cell: scored or dropped, as the model can
    ok = _write(messy, tmp_path / "ok.csv")
    assert main(["monitor", str(run), "--input", str(ok), "--labels", "label", "--out", str(tmp_path / "m0")]) == 0
    doc = json.loads((tmp_path / "m0" / "monitor.json").read_text())
    assert doc["drift"] is False and doc["rows_dropped"] in (1, 2) and doc["n"] + doc["rows_dropped"] == len(test)
    assert doc["performance"]["metric"] == "roc_auc" and 0.6 < doc["performance"]["value"] < 1
    lo, hi = doc["performance"]["ci95"]
    assert lo < doc["performance"]["value"] < hi
    assert (tmp_path / "m0" / "monitor.html").read_text().count("data:image/png;base64,") >= 3

    shifted = test.assign(credit_amount=test["credit_amount"] * 3)
    bad = _write(shifted, tmp_path / "shifted.csv")
    assert main(["monitor", str(run), "--input", str(bad), "--out", str(tmp_path / "m1")]) == 3
    doc = json.loads((tmp_path / "m1" / "monitor.json").read_text())
    by = {r["column"]: r for r in doc["features"]}
    assert "credit_amount" in doc["drifted"] and by["credit_amount"]["drift"]
    assert by["credit_amount"]["psi"] > 0.5 and by["credit_amount"]["p_value"] < 1e-6 and not by["age"]["drift"]
    assert "DRIFT" in capsys.readouterr().out
    # a threshold above the measured PSI and a p-value threshold near 0: no drift any more
    assert main(["monitor", str(run), "--input", str(bad), "--out", str(tmp_path / "m2"),
                 "--set", "monitor.psi=50", "--set", "monitor.p_value=1.0e-300"]) == 0


def test_fraud_time_windows(fraud_run, tmp_path):
    run, test = fraud_run
    doc = monitor(run, _write(test, tmp_path / "t.csv"), labels="label", time_column="when", window="7D")
    assert len(doc["windows"]) == 4 and sum(w["n"] for w in doc["windows"]) == len(test)
    assert all(w["metric"] == "roc_auc" and "psi_score" in w for w in doc["windows"])
    assert len(monitor(run, test, time_column="when", window=3)["windows"]) == 3
    assert [w["n"] for w in monitor(run, test, time_column="when")["windows"]] == [25] * 4  # default: 4 windows


def test_python_call_returns_the_document(fraud_run, tmp_path):
    run, test = fraud_run
    doc = monitor(run, test.assign(duration=test["duration"] + 40), labels="label", out=tmp_path / "py")
    assert doc == json.loads((tmp_path / "py" / "monitor.json").read_text())
    assert doc["drift"] and "duration" in doc["drifted"] and doc["performance"]["n"] == len(test)


@pytest.mark.parametrize("case, args, needle", [
    ("missing", ["--labels", "label"], "credit_amount"),
    ("labels", ["--labels", "nope"], "'nope'"),
    ("notcsv", [], "not a CSV"),
    ("threshold", ["--set", "monitor.psi=-1"], "monitor.psi"),
    ("key", ["--set", "monitor.zzz=1"], "monitor.zzz"),
    ("window", ["--window", "7D"], "--time-column"),
    ("nofile", [], "no such file"),
])
def test_bad_input_is_one_error_line_exit_2(fraud_run, tmp_path, capsys, case, args, needle):
    run, test = fraud_run
    path = _write(test.drop(columns=["credit_amount"]) if case == "missing" else test, tmp_path / "b.csv")
    if case == "notcsv":
        path = tmp_path / "b.json"
        path.write_text("{}")
    if case == "nofile":
        path = tmp_path / "absent.csv"
    capsys.readouterr()
    assert main(["monitor", str(run), "--input", str(path), "--out", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and needle in err[0], err
    assert not (tmp_path / "o" / "monitor.json").exists()


def test_serve_monitor_endpoint(fraud_run):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from verticalkit.core.serve.app import create_app

    run, test = fraud_run
    c = TestClient(create_app(run, token="s3cret"))
    feats = test.drop(columns=["label", "when"])
    body = {"records": feats.assign(credit_amount=feats["credit_amount"] * 3).to_dict("records"),
            "labels": test["label"].tolist()}
    assert c.post("/v1/monitor", json=body).status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    r = c.post("/v1/monitor", json=body, headers=auth)
    assert r.status_code == 200, r.text
    assert r.json()["drift"] and "credit_amount" in r.json()["drifted"] and r.json()["performance"]["n"] == len(test)
    csv = test.to_csv(index=False).encode()
    r = c.post("/v1/monitor?labels=label", files={"file": ("batch.csv", csv, "text/csv")}, headers=auth)
    assert r.status_code == 200 and r.json()["drift"] is False
    bad = c.post("/v1/monitor", json={"records": [{"duration": "long"}]}, headers=auth)
    assert bad.status_code == 422 and "error" in bad.json()


# ----------------------------------------------------------------------------- essays


def test_essays_longer_essays_drift(tmp_path):
    from verticalkit.verticals.essay_scoring.tiny import synthetic_essays

    X, y = synthetic_essays(n=600, seed=0)
    train = X.assign(score=y, essay_id=[f"e{i}" for i in range(len(y))]).rename(columns={"text": "full_text"})
    _write(train, tmp_path / "essays.csv")
    run = tmp_path / "run"
    assert main(["train", "essay_scoring", "--dataset", "essay-csv", "--model", "features", "--out", str(run),
                 "--set", f"data.path={tmp_path / 'essays.csv'}", "--set", "data.prompt_column=prompt", *FAST]) == 0
    new, y_new = synthetic_essays(n=400, seed=1)
    new.loc[0, "text"] = ""  # an empty essay
    assert main(["monitor", str(run), "--input", str(_write(new, tmp_path / "new.csv")),
                 "--out", str(tmp_path / "m0")]) == 0
    longer = new.assign(text=(new["text"] + " ") * 3)
    assert main(["monitor", str(run), "--input", str(_write(longer, tmp_path / "long.csv")),
                 "--out", str(tmp_path / "m1")]) == 3
    doc = json.loads((tmp_path / "m1" / "monitor.json").read_text())
    assert "words" in doc["drifted"] and "prompt" not in doc["drifted"]
    other = new.assign(text=new["text"].str.replace("e", "x").str.replace("a", "q"))  # another vocabulary
    doc = monitor(run, other)
    assert doc["drift"] and "out_of_reference_vocabulary_rate" in doc["drifted"]


# ----------------------------------------------------------------------------- images


def _images(root, n: int, shift: float, seed: int):
    rng = np.random.default_rng(seed)
    for c, name in enumerate(("normal", "disease")):
        for i in range(n):
            h, w = int(rng.integers(16, 28)), int(rng.integers(16, 28))
            save_image(root / name / f"img_{i:03d}", np.clip(_pixels(rng, h, w, 0.3 + 0.35 * c) + shift, 0, 1),
                       MODES[i % 4])
    return root


def test_images_brighter_folder_drifts(tmp_path):
    folder = _images(tmp_path / "train", 200, 0.0, 0)
    run = tmp_path / "run"
    assert main(["train", "medical_imaging", "--dataset", "image-folder", "--model", "logreg", "--out", str(run),
                 "--set", f"data.path={folder}", "--set", "data.image_size=16", *FAST]) == 0
    same = _images(tmp_path / "same", 150, 0.0, 1)
    (same / "normal" / "notes.txt").write_text("not an image")
    (same / "disease" / "empty").mkdir()
    assert main(["monitor", str(run), "--input", str(same), "--out", str(tmp_path / "m0")]) == 0
    doc = json.loads((tmp_path / "m0" / "monitor.json").read_text())  # labelled by its class folders
    assert doc["n"] == 300 and doc["performance"]["n"] == 300 and doc["performance"]["value"] > 0.9
    bright = _images(tmp_path / "bright", 150, 0.25, 2)
    assert main(["monitor", str(run), "--input", str(bright), "--out", str(tmp_path / "m1")]) == 3
    doc = json.loads((tmp_path / "m1" / "monitor.json").read_text())
    assert {"mean", "p50"} <= set(doc["drifted"])
    assert next(r for r in doc["features"] if r["column"] == "mean")["batch_mean"] > 0.6


def test_large_batches_are_judged_by_psi_small_ones_by_the_test():
    from verticalkit.core.config import MonitorConfig
    from verticalkit.core.serve.monitor import drift_table

    rng = np.random.default_rng(3)
    ref = {"x": summarize(pd.Series(rng.normal(size=20000)))}
    small_shift = pd.DataFrame({"x": rng.normal(0.06, 1, 20000)})  # KS p ~1e-9, PSI ~0.004
    [row] = drift_table(ref, small_shift, MonitorConfig(), 1)
    assert row["p_value"] < 1e-4 and row["psi"] < 0.02 and not row["drift"]
    [row] = drift_table(ref, pd.DataFrame({"x": rng.normal(0, 1, 500)}), MonitorConfig(), 1)
    assert not row["drift"]
    [row] = drift_table(ref, pd.DataFrame({"x": rng.normal(0.6, 1, 500)}), MonitorConfig(), 1)
    assert row["drift"] and row["reasons"][0].startswith("ks p")
    [row] = drift_table(ref, pd.DataFrame({"x": rng.normal(0.6, 1, 5000)}), MonitorConfig(), 1)
    assert row["drift"] and row["reasons"][0].startswith("psi")


def test_vk_monitor_from_the_python_api(fraud_run):
    pytest.importorskip("verticalkit.api", reason="the Python API package (api/ → verticalkit) is not installed")
    import verticalkit as vk

    run, test = fraud_run
    doc = vk.monitor(run, test.assign(age=test["age"] + 30), labels="label")
    assert doc["drift"] and "age" in doc["drifted"] and doc["performance"]["metric"] == "roc_auc"
