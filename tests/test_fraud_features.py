"""Simulator and feature transformer: handbook process, no look-ahead."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.errors import DataError
from verticalkit.verticals.fraud.features import TransactionFeatures
from verticalkit.verticals.fraud.simulate import generate_transactions


@pytest.fixture(scope="module")
def tx() -> pd.DataFrame:
    return generate_transactions(n_customers=200, n_terminals=400, n_days=60, seed=7)


def test_generator_is_seeded_and_follows_the_scenarios(tx):
    again = generate_transactions(n_customers=200, n_terminals=400, n_days=60, seed=7)
    pd.testing.assert_frame_equal(tx, again)
    assert not tx.equals(generate_transactions(n_customers=200, n_terminals=400, n_days=60, seed=8))
    assert (tx["TX_AMOUNT"] >= 0).all()
    assert tx["TX_TIME_SECONDS"].is_monotonic_increasing
    assert ((tx["TX_TIME_SECONDS"] // 86400) == tx["TX_TIME_DAYS"]).all()
    assert (tx.loc[tx["TX_AMOUNT"] > 220, "TX_FRAUD"] == 1).all()
    assert set(tx["TX_FRAUD_SCENARIO"].unique()) == {0, 1, 2, 3}
    assert ((tx["TX_FRAUD_SCENARIO"] > 0) == (tx["TX_FRAUD"] == 1)).all()


def test_customer_windows_by_hand(tx):
    f = TransactionFeatures().transform(tx)
    row = f.iloc[len(f) // 2]
    c, t = row["CUSTOMER_ID"], row["TX_TIME_SECONDS"]
    prior = tx[(tx["CUSTOMER_ID"] == c) & (tx["TX_TIME_SECONDS"] > t - 7 * 86400) & (tx.index <= row.name)]
    assert row["CUSTOMER_ID_NB_TX_7DAY_WINDOW"] == len(prior)
    assert row["CUSTOMER_ID_AVG_AMOUNT_7DAY_WINDOW"] == pytest.approx(prior["TX_AMOUNT"].mean())
    term = tx[(tx["TERMINAL_ID"] == row["TERMINAL_ID"]) & (tx["TX_TIME_SECONDS"] > t - 14 * 86400)
              & (tx["TX_TIME_SECONDS"] <= t - 7 * 86400)]
    assert row["TERMINAL_ID_NB_TX_7DAY_WINDOW"] == len(term)
    assert row["TERMINAL_ID_RISK_7DAY_WINDOW"] == pytest.approx(term["TX_FRAUD"].mean() if len(term) else 0.0)


def test_no_look_ahead(tx):
    """Changing later transactions and labels not yet known leaves earlier features unchanged."""
    tr = TransactionFeatures(delay=7)
    base = tr.transform(tx)
    cut = len(tx) // 2
    t_cut = tx["TX_TIME_SECONDS"].iloc[cut]
    changed = tx.copy()
    later = changed.index > cut
    changed.loc[later, "TX_AMOUNT"] *= 3  # every later transaction changes amount
    changed.loc[later, "TX_FRAUD"] = 1 - changed.loc[later, "TX_FRAUD"]
    # labels of the last 7 days before the cut are not known yet at the cut: flip them too
    unknown = (changed.index <= cut) & (changed["TX_TIME_SECONDS"] > t_cut - 7 * 86400)
    changed.loc[unknown, "TX_FRAUD"] = 1 - changed.loc[unknown, "TX_FRAUD"]
    after = tr.transform(changed)
    cols = tr.feature_names()
    # the row at the cut may see flipped labels only for transactions older than 7 days before it: none were flipped
    pd.testing.assert_frame_equal(base.loc[:cut, cols], after.loc[:cut, cols])
    assert not base.loc[cut + 1:, cols].equals(after.loc[cut + 1:, cols])  # the change did reach later rows


def test_label_older_than_delay_is_used(tx):
    tr = TransactionFeatures(delay=7)
    base = tr.transform(tx)
    i = len(tx) // 2
    t, term = tx["TX_TIME_SECONDS"].iloc[i], tx["TERMINAL_ID"].iloc[i]
    old = tx.index[(tx["TERMINAL_ID"] == term) & (tx["TX_TIME_SECONDS"] <= t - 7 * 86400)
                   & (tx["TX_TIME_SECONDS"] > t - 14 * 86400)]
    if len(old) == 0:
        pytest.skip("no old transaction at this terminal in the sample")
    changed = tx.copy()
    changed.loc[old, "TX_FRAUD"] = 1 - changed.loc[old, "TX_FRAUD"]
    assert tr.transform(changed).loc[i, "TERMINAL_ID_RISK_7DAY_WINDOW"] != base.loc[i, "TERMINAL_ID_RISK_7DAY_WINDOW"]


def test_row_order_does_not_matter(tx):
    shuffled = tx.sample(frac=1, random_state=0)
    a = TransactionFeatures().transform(tx).set_index("TRANSACTION_ID").sort_index()
    b = TransactionFeatures().transform(shuffled).set_index("TRANSACTION_ID").sort_index()
    # ties in time resolve by row order, so compare rows whose time is unique
    unique = ~tx.duplicated("TX_TIME_SECONDS", keep=False).to_numpy()
    cols = TransactionFeatures().feature_names()
    np.testing.assert_allclose(a.loc[unique, cols].to_numpy(), b.loc[unique, cols].to_numpy())


def test_missing_column_named(tx):
    with pytest.raises(DataError, match="TERMINAL_ID"):
        TransactionFeatures().transform(tx.drop(columns="TERMINAL_ID"))
