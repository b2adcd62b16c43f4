"""Own tables in the finance vertical (issue #14 A, data side): the csv adapter reads messy
files as they come: types inferred, missing values kept as NaN, raw files parsed at predict."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from wild import wild_frame, write_wild

from verticalkit.core.tools.cli import main
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.data.schema import TableSchema, find_date_formats, parse_numbers, separating_columns
from verticalkit.core.data.tabular import read_any_table
from verticalkit.verticals.fraud.data import TabularCSV

EXPECTED_KINDS = {"txn_id": "id", "event_time": "datetime", "opened": "datetime", "amount": "money",
                  "fee_rate": "money", "balance_eur": "money", "flag": "boolean", "is_online": "boolean",
                  "merchant": "categorical", "city": "categorical", "card_type": "categorical",
                  "mcc": "categorical", "n_items": "numeric", "currency": "constant", "num_0": "numeric",
                  "num_1": "numeric"}


def adapter(path, **kw) -> TabularCSV:
    params = dict(target="status", positive_label="Charged Off", verbose=False)
    params.update(kw)
    return TabularCSV(path=str(path), **params)


def kinds(splits) -> dict[str, str]:
    return {c: s["kind"] for c, s in splits.info["table_schema"]["columns"].items()}


def test_parse_numbers_money_percent_and_parentheses():
    s = pd.Series(["$60,000.00 ", "(1,200)", "12%", "€ 5", "£1,234.50", "-3.5", "abc", None, "$-7"])
    got = parse_numbers(s).to_numpy()
    want = [60000.0, -1200.0, 12.0, 5.0, 1234.5, -3.5, np.nan, np.nan, -7.0]
    np.testing.assert_allclose(got, want, equal_nan=True)


def test_date_formats_found_and_mixed():
    assert find_date_formats(pd.Series(["28-Feb-97", "01-Mar-97", "15-Jan-05"])) == ["%d-%b-%y"]
    mixed = pd.Series(["2021-01-03 10:00:00", "2021-02-05", "13/04/2021 08:30", "25/12/2021 00:00"])
    fmts = find_date_formats(mixed)
    assert fmts[0] == "ISO8601" and "%d/%m/%Y %H:%M" in fmts
    assert find_date_formats(pd.Series(["Paris", "Lyon", "12"])) == []


def test_wild_table_loads_with_inferred_kinds(tmp_path, capsys):
    df = wild_frame(n=1500, seed=1)
    path = write_wild(df, tmp_path / "loans.csv")
    s = adapter(path, time_column="event_time", protocol="temporal", verbose=True).load()
    out = capsys.readouterr().out
    assert "5 rows with an empty target 'status' left out" in out
    assert "money" in out and "txn_id" in out  # the schema table is printed
    got = kinds(s)
    assert "event_time" not in got and "status" not in got  # time and target are not features
    for c, k in EXPECTED_KINDS.items():
        if c != "event_time":
            assert got[c] == k, (c, got[c])
    X = pd.concat([s.train.X, s.val.X, s.test.X])
    assert len(X) == 1500 - 5
    assert "txn_id" not in X.columns and "currency" not in X.columns
    assert {"opened__dow", "opened__month", "opened__days"} <= set(X.columns)
    for c in X.columns:  # the contract with the heads: float64 with NaN, or category
        assert X[c].dtype == np.float64 or isinstance(X[c].dtype, pd.CategoricalDtype), (c, X[c].dtype)
    num = X.select_dtypes("number").to_numpy()
    assert not np.isinf(num).any() and np.isnan(num).any()
    assert X["merchant"].nunique() > 1000  # high cardinality kept
    assert set(X["flag"].dropna().unique()) == {0.0, 1.0} and set(X["is_online"].dropna().unique()) == {0.0, 1.0}
    assert s.train.meta["time"].max() <= s.test.meta["time"].min()
    # money: the raw "$1,234.56 " and "($12.00)" strings come out as the numbers
    raw = df[df["status"].notna()].reset_index(drop=True)
    full = pd.concat([s.train.X.assign(_id=s.train.ids), s.val.X.assign(_id=s.val.ids),
                      s.test.X.assign(_id=s.test.ids)]).set_index("_id")
    row = raw.index[raw["amount"].astype(str).str.startswith("(", na=False)][0]
    expect = -float(raw.loc[row, "amount"].strip("($) ").replace(",", ""))
    assert full.loc[f"row-{row}", "amount"] == pytest.approx(expect)
    assert s.info["positive_label"] == "Charged Off"


@pytest.mark.parametrize("how", ["bom", "latin1", "semicolon", "tab_gz"])
def test_encodings_and_separators(tmp_path, how):
    df = wild_frame(n=600, seed=2)
    df["balance_eur"] = df["balance_eur"].str.replace("€", "£")  # Latin-1 has no euro sign
    if how == "bom":
        path = write_wild(df, tmp_path / "t.csv", bom=True)
    elif how == "latin1":
        path = write_wild(df, tmp_path / "t.csv", encoding="latin-1")
    elif how == "semicolon":
        path = write_wild(df, tmp_path / "t.csv", sep=";")
    else:
        path = tmp_path / "t.tsv.gz"
        df.to_csv(path, sep="\t", index=False, compression="gzip")
    s = adapter(path).load()
    got = kinds(s)
    assert got["txn_id"] == "id" and got["amount"] == "money" and got["balance_eur"] == "money"
    assert got["city"] == "categorical"
    cities = set(pd.concat([s.train.X, s.test.X])["city"].dropna().astype(str))
    assert "Nîmes" in cities and "Köln" in cities  # decoded, not mojibake


def test_string_target_needs_positive_label_and_three_values_refused(tmp_path):
    path = write_wild(wild_frame(n=300, seed=3), tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"'Paid' \(\d+\), 'Charged Off' \(\d+\).*data.positive_label"):
        adapter(path, positive_label=None).load()
    with pytest.raises(DataError, match=r"positive_label='Repaid' is not among"):
        adapter(path, positive_label="Repaid").load()
    path3 = write_wild(wild_frame(n=300, seed=3, target="three"), tmp_path / "t3.csv")
    with pytest.raises(DataError, match=r"target 'status' has 3 values \(") as e:
        adapter(path3).load()
    assert all(f"'{v}' (" in str(e.value) for v in ("Paid", "Current", "Charged Off"))
    # Y/N and 0/1 targets need no positive_label
    for target in ("yn", "int"):
        p = write_wild(wild_frame(n=300, seed=3, target=target), tmp_path / f"{target}.csv")
        s = adapter(p, positive_label=None).load()
        assert s.info["positive_label"] in ("Y", "1")


def test_overrides_validated(tmp_path):
    path = write_wild(wild_frame(n=300, seed=4), tmp_path / "t.csv")
    s = adapter(path, columns={"n_items": "categorical", "amount": "drop"}, drop="city").load()  # one name: a str
    got = kinds(s)
    assert got["n_items"] == "categorical" and got["amount"] == "drop" and got["city"] == "drop"
    assert isinstance(s.train.X["n_items"].dtype, pd.CategoricalDtype) and "city" not in s.train.X
    with pytest.raises(ConfigError, match=r"\['cardd4'\].*not in the file"):
        adapter(path, columns={"cardd4": "categorical"}).load()
    with pytest.raises(ConfigError, match=r"\['nope'\]"):
        adapter(path, drop=["nope"]).load()
    with pytest.raises(ConfigError, match=r"kind \{'amount': 'text'\} unknown"):
        adapter(path, columns={"amount": "text"}).load()


def test_leakage_column_named(tmp_path, capsys):
    df = wild_frame(n=800, seed=5)
    df["recovery_amount"] = np.where(df["status"] == "Charged Off", "$1,000", "$0")  # known only after default
    df.loc[df["status"].isna(), "recovery_amount"] = None
    df["settled_code"] = np.where(df["status"] == "Charged Off", "WO", "OK")  # the same leak, as text
    path = write_wild(df, tmp_path / "t.csv")
    s = adapter(path).load()
    err = capsys.readouterr().err
    assert "'recovery_amount' alone separates the target" in err and "'settled_code'" in err
    assert any(x.startswith("recovery_amount") for x in s.info["leakage"])
    assert not any(x.startswith(("amount ", "num_0")) for x in s.info["leakage"])


def test_separating_columns_does_not_flag_near_unique_text():
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.1).astype(int)
    X = pd.DataFrame({"noise_text": pd.Series([f"v{i}" for i in rng.integers(0, 3500, 4000)], dtype="category"),
                      "neg_leak": -y + rng.normal(0, 0.01, 4000)})
    assert [c for c, _ in separating_columns(X, y)] == ["neg_leak"]


def test_unusable_data_one_error_line_exit_2(tmp_path, capsys):
    df = wild_frame(n=300, seed=6)
    path = write_wild(df, tmp_path / "t.csv")
    base = ["train", "fraud", "--dataset", "csv", "--out", str(tmp_path / "run"), "--set", f"data.path={path}"]
    cases = [
        (["--set", "data.target=status"], "data.positive_label"),
        (["--set", "data.target=nope"], "missing column ['nope']"),
        (["--set", "data.target=status", "--set", "data.positive_label=Charged Off",
          "--set", "data.columns.cardtype=categorical"], "['cardtype']"),
        (["--set", "data.target=currency"], "has 1 value"),
    ]
    for extra, needle in cases:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not (tmp_path / "run").exists()


def test_reader_keeps_text_as_categories_and_memory_small(tmp_path):
    df = wild_frame(n=3000, seed=7)
    path = write_wild(df, tmp_path / "t.csv")
    got = read_any_table(path, progress=False)
    assert isinstance(got["merchant"].dtype, pd.CategoricalDtype)
    assert got["card_type"].memory_usage(deep=True) < df["card_type"].astype(str).memory_usage(deep=True) / 2
    assert list(got.columns) == list(df.columns)


def test_train_then_predict_raw_file_same_parsing(tmp_path, capsys):
    """End to end with data today's heads take (no empty cells, few categories): the run saves
    the schema and `verticalkit predict` on the raw file (money strings, dates, Y/N) scores each
    row as the model scores the adapter's features."""
    df = wild_frame(n=800, seed=8, missing=0.0, n_text_values=40, inf_cells=0, dup_ids=False, empty_targets=3)
    path = write_wild(df, tmp_path / "loans.csv", sep=";")
    run = tmp_path / "run"
    assert main(["train", "fraud", "--dataset", "csv", "--model", "logreg", "--out", str(run),
                 "--set", f"data.path={path}", "--set", "data.target=status",
                 "--set", "data.positive_label=Charged Off", "--set", "data.time_column=event_time",
                 "--set", "data.protocol=temporal", "--set", "data.columns.n_items=categorical"]) == 0
    out = capsys.readouterr().out
    assert "kind" in out and "money" in out  # the schema table was printed before training
    schema = json.loads((run / "model" / "schema.json").read_text())
    assert schema["columns"]["n_items"]["kind"] == "categorical"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["metrics"]["auprc"]["value"] > 0.4  # prevalence ≈ 0.27: it learnt from the parsed columns
    scores = tmp_path / "scores.csv"
    assert main(["predict", str(run), "--input", str(path), "--output", str(scores), "--quiet"]) == 0
    got = pd.read_csv(scores)
    assert len(got) == len(df) and not (tmp_path / "scores.csv.errors.csv").exists()
    from verticalkit.core.heads.predictor import Predictor

    pred = Predictor.load(run / "model")
    feats = TableSchema.from_dict(schema).transform(read_any_table(path, progress=False))
    np.testing.assert_allclose(got["score"].to_numpy(), pred.head.predict_proba(feats)[:, 1], atol=1e-9)


def test_inspect_cli(tmp_path, capsys):
    df = wild_frame(n=500, seed=9)
    path = write_wild(df, tmp_path / "loans.csv")
    assert main(["data", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "500 rows × 27 columns" in out
    assert "id-like columns (left out of training): txn_id" in out
    assert "candidate time columns: event_time" in out
    assert "'Charged Off'" in out and "5 empty (left out)" in out
    assert "verticalkit train fraud --dataset csv" in out and "'data.positive_label=Charged Off'" in out
    assert "data.time_column=event_time --set data.protocol=temporal" in out
    assert main(["data", "inspect", str(path), "--target", "nope"]) == 2
    assert "error: " in capsys.readouterr().err


def test_leak_named_in_console_and_report(tmp_path, capsys):
    df = wild_frame(n=400, seed=10, missing=0.0, n_text_values=20, inf_cells=0, dup_ids=False, empty_targets=0)
    df["recovery_amount"] = np.where(df["status"] == "Charged Off", "$1,000", "$0")
    path = write_wild(df, tmp_path / "t.csv")
    run = tmp_path / "run"
    assert main(["train", "fraud", "--dataset", "csv", "--model", "logreg", "--out", str(run),
                 "--set", f"data.path={path}", "--set", "data.target=status",
                 "--set", "data.positive_label=Charged Off"]) == 0
    assert "'recovery_amount' alone separates the target" in capsys.readouterr().err
    report = (run / "report.html").read_text()
    assert "Leakage warning" in report and "recovery_amount (ROC-AUC 1.0000)" in report
    assert "Input columns (inferred kinds)" in report and "<td>money</td>" in report


def test_one_value_with_gaps_is_kept_and_none_is_a_category(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,c,y\n" + "".join(f"{'yes' if i % 3 else 'none'},{'x' if i % 2 else ''},5,{i % 2}\n"
                                          for i in range(40)))
    df = read_any_table(path, progress=False)
    schema = TableSchema.infer(df, exclude=["y"])
    assert {c: s.kind for c, s in schema.columns.items()} == {"a": "categorical", "b": "categorical",
                                                               "c": "constant"}
    assert set(schema.transform(df)["a"].astype(str)) == {"yes", "none"}


def test_transform_is_idempotent_on_prepared_frames():
    """Evaluation and serving hand the predictor frames that are already features (without date
    columns their names are the raw names): a second pass must not change them (Y/N flags did)."""
    df = wild_frame(n=300, seed=13).drop(columns=["event_time", "opened"])
    schema = TableSchema.infer(df, exclude=["status"])
    once = schema.transform(df)
    twice = schema.transform(once)
    assert once["flag"].notna().sum() > 100
    pd.testing.assert_frame_equal(once, twice, check_categorical=False)


def test_reader_types_from_whole_file_when_a_late_block_disagrees(tmp_path):
    """Blocks are read one at a time (memory); a value the first block's types cannot take
    (text after thousands of numbers, an int column turning float) still reads."""
    n = 5000
    df = pd.DataFrame({"a": np.arange(n).astype(object), "b": np.arange(n).astype(object), "c": [None] * n,
                       "y": np.arange(n) % 2})
    df.loc[n - 1, "a"] = "oops"
    df.loc[n - 2, "b"] = 1.5
    df.loc[n - 3, "c"] = "late"
    df.to_csv(tmp_path / "t.csv", index=False)
    got = read_any_table(tmp_path / "t.csv", progress=False, block_size=4096)
    assert len(got) == n and got["b"].dtype == np.float64 and got["c"].notna().sum() == 1
    schema = TableSchema.infer(got, exclude=["y"])
    X = schema.transform(got)
    assert schema.columns["a"].kind == "id" or X["a"].isna().sum() == 1
