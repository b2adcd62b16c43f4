"""Fraud vertical adapters: German credit, simulated transactions, generic CSV, ULB; bad input."""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest
from conftest import real_data

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.verticals.fraud.data import (GERMAN_COLUMNS, GermanCredit, SimulatedTransactions, TabularCSV,
                                              ULBCreditCard, embedded_german_data, read_german)

SMALL_SIM = dict(n_customers=300, n_terminals=600, n_days=45, start_day=20)


# --------------------------------------------------------------------------- German credit


def test_embedded_german_matches_uci_md5():
    import hashlib

    assert hashlib.md5(embedded_german_data().read_bytes()).hexdigest() == "6b94c2e35480e671545e52a808a8a549"


def test_german_codes_mapped_and_target_is_bad():
    X, y = read_german(embedded_german_data())
    assert list(X.columns) == GERMAN_COLUMNS
    assert X.shape == (1000, 20) and y.sum() == 300  # 300 bad applicants = 1
    assert X.loc[0, "checking_status"] == "<0" and X.loc[0, "credit_history"] == "critical/other existing credit"
    assert X["duration"].dtype == float and X.loc[0, "age"] == 67


def test_german_openml_csv_layout_reads_the_same(tmp_path):
    X, y = read_german(embedded_german_data())
    df = X.copy()
    df["class"] = np.where(y == 1, "bad", "good")
    for c in ("checking_status", "purpose"):  # OpenML quotes some values
        df[c] = "'" + df[c] + "'"
    df.to_csv(tmp_path / "credit-g.csv", index=False)
    X2, y2 = read_german(tmp_path / "credit-g.csv")
    pd.testing.assert_frame_equal(X, X2)
    assert np.array_equal(y, y2)


def test_german_folds_partition_the_data():
    tests = []
    for fold in range(10):
        s = GermanCredit(fold=fold, seed=3).load()
        assert not set(s.train.ids) & set(s.test.ids) and not set(s.val.ids) & set(s.test.ids)
        assert len(s.train) + len(s.val) + len(s.test) == 1000
        assert 25 <= s.test.y.sum() <= 35  # stratified: 30% bad
        tests.extend(s.test.ids)
    assert sorted(tests) == sorted(f"applicant-{i}" for i in range(1000))
    with pytest.raises(ConfigError, match="fold"):
        GermanCredit(fold=10).load()


def test_german_wrong_layout(tmp_path):
    bad = tmp_path / "german.data"
    bad.write_text("A11 6 A34\nA12 48 A32\n")
    with pytest.raises(DataError, match="21 space-separated columns"):
        GermanCredit(path=bad).load()


# --------------------------------------------------------------------------- simulated


def test_simulated_handbook_protocol():
    a = SimulatedTransactions(seed=1, **SMALL_SIM)
    s = a.load()
    days = lambda part: set(part.meta["day"])  # noqa: E731
    assert days(s.train) | days(s.val) <= set(range(20, 27))
    assert days(s.test) <= set(range(34, 41))  # 7 delay days skipped
    assert not set(s.train.groups) & set(s.val.groups)  # validation held out by customer
    tx = a.transactions()
    known = set(tx[(tx.TX_TIME_DAYS.between(20, 26)) & (tx.TX_FRAUD == 1)].CUSTOMER_ID)
    assert not known & set(s.test.meta["customer_id"])  # known defrauded cards dropped from test
    assert s.train.y.sum() > 0 and s.test.y.sum() > 0
    assert list(s.train.X.columns)[:3] == ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
    s2 = SimulatedTransactions(seed=1, **SMALL_SIM).load()
    assert np.array_equal(s.test.X.to_numpy(), s2.test.X.to_numpy())  # seeded


def test_simulated_prequential_fold_shifts_back():
    s = SimulatedTransactions(seed=1, fold=1, **SMALL_SIM).load()
    assert set(s.test.meta["day"]) <= set(range(27, 34))
    with pytest.raises(ConfigError, match="fold"):
        SimulatedTransactions(seed=1, fold=5, **SMALL_SIM).load()


def test_simulated_from_csv_rejects_duplicated_ids(tmp_path):
    from verticalkit.verticals.fraud.simulate import generate_transactions

    tx = generate_transactions(50, 100, 10, seed=0)
    tx.loc[5, "TRANSACTION_ID"] = tx.loc[4, "TRANSACTION_ID"]
    tx.to_csv(tmp_path / "tx.csv", index=False)
    with pytest.raises(DataError, match="TRANSACTION_ID.*duplicated"):
        SimulatedTransactions(path=tmp_path / "tx.csv", n_days=10, start_day=0, train_days=2, delay_days=2,
                              test_days=2).load()


# --------------------------------------------------------------------------- generic CSV


def make_csv(tmp_path, n=200, sep=",", **changes) -> str:
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"tx_id": np.arange(n), "amount": rng.gamma(2, 30, n).round(2),
                       "channel": rng.choice(["web", "pos", "atm"], n), "ts": np.arange(n) * 3600.0,
                       "label": (rng.random(n) < 0.2).astype(int)})
    for k, v in changes.items():
        df[k] = v
    path = tmp_path / "data.csv"
    df.to_csv(path, index=False, sep=sep)
    return str(path)


def csv_adapter(path, **kw):
    params = dict(target="label", id_column="tx_id", time_column="ts", categorical_columns=["channel"])
    params.update(kw)
    return TabularCSV(path=path, **params)


def test_csv_adapter_reads_and_splits(tmp_path):
    s = csv_adapter(make_csv(tmp_path)).load()
    assert list(s.train.X.columns) == ["amount", "channel"]
    assert not pd.api.types.is_numeric_dtype(s.train.X["channel"])
    assert len(s.train) + len(s.val) + len(s.test) == 200
    t = csv_adapter(make_csv(tmp_path), protocol="temporal").load()
    assert t.train.meta["time"].max() < t.test.meta["time"].min()


def test_csv_parquet_works(tmp_path):
    df = pd.read_csv(make_csv(tmp_path))
    df.to_parquet(tmp_path / "d.parquet")
    s = csv_adapter(tmp_path / "d.parquet").load()
    assert len(s.test) == 40


@pytest.mark.parametrize("case,match", [
    ("missing_target", r"missing column \['label'\]"),
    ("missing_named", r"missing column \['ts'\]"),
    ("one_class", r"target 'label' has 1 value \('0' \(200\)\)|target 'label' has 1 value \(0 \(200\)\)"),
    ("empty", r"empty"),
    ("header_only", r"no data rows"),
    ("delimiter", r"wrong separator"),
    ("dup_ids", r"'tx_id' has 1 duplicated"),
])
def test_csv_bad_input(tmp_path, case, match):
    path = make_csv(tmp_path)
    df = pd.read_csv(path)
    if case == "missing_target":
        df.drop(columns="label").to_csv(path, index=False)
    elif case == "missing_named":
        df.drop(columns="ts").to_csv(path, index=False)
    elif case == "one_class":
        df["label"] = 0
        df.to_csv(path, index=False)
    elif case == "empty":
        open(path, "w").close()
    elif case == "header_only":
        df.iloc[:0].to_csv(path, index=False)
    elif case == "delimiter":
        df.to_csv(path, index=False, sep=";")
    elif case == "dup_ids":
        df.loc[9, "tx_id"] = 8
        df.to_csv(path, index=False)
    with pytest.raises(DataError, match=match):
        csv_adapter(path, sep=",").load()  # delimiter: a ';' file read with the ',' the user set


def test_csv_needs_path_and_valid_protocol(tmp_path):
    with pytest.raises(ConfigError, match="data.path"):
        TabularCSV(target="label").load()
    with pytest.raises(ConfigError, match="protocol"):
        csv_adapter(make_csv(tmp_path), protocol="random").load()


# --------------------------------------------------------------------------- ULB


def _ulb_like(tmp_path, n=400, gz=True):
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(n, 28)), columns=[f"V{i}" for i in range(1, 29)])
    df.insert(0, "Time", np.sort(rng.uniform(0, 170000, n)).round())
    df["Amount"] = rng.gamma(2, 40, n).round(2)
    df["Class"] = (rng.random(n) < 0.05).astype(int)
    path = tmp_path / ("creditcard.csv.gz" if gz else "creditcard.csv")
    df.to_csv(path, index=False, compression="gzip" if gz else None)
    return path, df


def test_ulb_layout_both_protocols(tmp_path):
    path, df = _ulb_like(tmp_path)
    s = ULBCreditCard(path=tmp_path).load()
    assert list(s.train.X.columns) == [f"V{i}" for i in range(1, 29)] + ["Amount"]
    assert (len(s.train), len(s.val), len(s.test)) == (280, 40, 80)
    t = ULBCreditCard(path=path, protocol="temporal").load()
    assert t.train.meta["time"].max() <= t.val.meta["time"].min() <= t.test.meta["time"].min()
    assert t.protocol == "temporal-80-20"


def test_ulb_plain_csv_and_bad_class(tmp_path):
    path, df = _ulb_like(tmp_path, gz=False)
    assert len(ULBCreditCard(path=path).load().test) == 80
    df["Class"] = 0
    df.to_csv(path, index=False)
    with pytest.raises(DataError, match="single class"):
        ULBCreditCard(path=path).load()
    df.drop(columns="Amount").to_csv(path, index=False)
    with pytest.raises(DataError, match=r"missing column \['Amount'\]"):
        ULBCreditCard(path=path).load()


def test_ulb_real_file():
    folder = real_data("ulb-creditcard")
    s = ULBCreditCard(path=folder).load()
    assert len(s.train) + len(s.val) + len(s.test) == 284807
    assert len(s.test) == 56962 and s.test.y.sum() == 98
    assert s.train.y.sum() + s.val.y.sum() + s.test.y.sum() == 492


def test_ulb_real_md5_in_card():
    import hashlib
    from pathlib import Path

    import yaml

    folder = real_data("ulb-creditcard")
    card = yaml.safe_load((Path(__file__).parents[1] / "datasets" / "ulb-creditcard.yaml").read_text())
    with gzip.open(folder / "creditcard.csv.gz", "rb") as f:
        md5 = hashlib.md5(f.read()).hexdigest()
    assert card["files"][0]["md5_of_decompressed"] and card["files"][0]["md5"] == md5
