"""Messy ("wild") tables for tests and benchmarks: seeded, written as real users' files are.

:func:`wild_frame` builds a transactions / loans table with most columns partly empty,
a text column with thousands of values, money and percent strings, Y/N flags, dates in
mixed formats, duplicate ids, a constant column and a string target; :func:`write_wild`
writes it with a BOM, Latin-1 or ``;`` separators. Each knob makes one kind of mess, so a
test names the one it checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

CITIES = ["Paris", "Lyon", "Nîmes", "Köln", "Zürich", "Málaga", "Porto", "Gent", "Łódź", "Århus"]


def wild_frame(n: int = 2000, seed: int = 0, n_numeric: int = 12, missing: float = 0.3, n_text_values: int = 5000,
               dup_ids: bool = True, target: str = "string", empty_targets: int = 5, inf_cells: int = 3,
               signal: float = 2.0) -> pd.DataFrame:
    """A messy table; the target depends on ``amount``, ``num_0`` and ``flag`` (so models can learn).

    target: "string" (``"Charged Off"`` positive / ``"Paid"``, some cells empty), "int" (0/1),
    "three" (three values: unusable as binary), "yn" (Y / N). ``missing``: share of empty
    cells in each numeric column (most columns partly empty).
    """
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 400.0, n).round(2)
    num = rng.normal(size=(n, n_numeric))
    flag = rng.random(n) < 0.3
    logit = -2.5 + signal * (np.log1p(amount) - 6.3) + signal * num[:, 0] + 1.0 * flag
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    start = pd.Timestamp("2023-01-01")
    when = start + pd.to_timedelta(np.sort(rng.uniform(0, 90 * 86400, n)), unit="s")
    df = pd.DataFrame({"txn_id": [f"T{i:07d}" for i in range(n)]})
    if dup_ids:
        df.loc[1, "txn_id"] = df.loc[0, "txn_id"]
    # dates: most ISO with a time, some dd/mm/yyyy, a few 28-Feb-97 style (all the same instants' days)
    fmt = rng.choice(3, n, p=[0.8, 0.15, 0.05])
    df["event_time"] = np.where(fmt == 0, when.strftime("%Y-%m-%d %H:%M:%S"),
                                np.where(fmt == 1, when.strftime("%d/%m/%Y %H:%M"), when.strftime("%d-%b-%y")))
    df["opened"] = (start - pd.to_timedelta(rng.integers(30, 4000, n), unit="D")).strftime("%d-%b-%y")
    df["amount"] = [f"${a:,.2f} " for a in amount]  # "$1,234.50 " with the trailing space of exports
    refund = rng.random(n) < 0.03
    df.loc[refund, "amount"] = [f"(${a:,.2f})" for a in amount[refund]]
    df["fee_rate"] = [f"{r:.1f}%" for r in rng.uniform(0.5, 4.0, n)]
    df["balance_eur"] = [f"€{b:,.0f}" for b in rng.normal(2000, 800, n)]
    df["flag"] = np.where(flag, "Y", "N")
    df["is_online"] = rng.choice(["yes", "no", "Yes", "NO"], n)
    df["merchant"] = [f"merchant_{int(i)}" for i in rng.integers(0, n_text_values, n)]
    df["city"] = rng.choice(CITIES, n)
    df["card_type"] = rng.choice(["visa", "mastercard", "amex", "discover"], n, p=[0.6, 0.3, 0.07, 0.03])
    df["mcc"] = rng.choice([5411, 5812, 5999, 6011, 7011, 4111], n)  # sparse integer codes
    df["n_items"] = rng.integers(0, 6, n)  # a small count: stays numeric
    df["currency"] = "EUR"  # constant
    for j in range(n_numeric):
        col = num[:, j].round(4).astype(object)
        df[f"num_{j}"] = col
    for c in ["amount", "fee_rate", "balance_eur", "flag", "city", "card_type",
              *[f"num_{j}" for j in range(1, n_numeric)]]:
        df.loc[rng.random(n) < missing, c] = None
    if inf_cells and n_numeric > 1:
        df.loc[rng.choice(n, inf_cells, replace=False), "num_1"] = np.inf
    if target == "string":
        df["status"] = np.where(y, "Charged Off", "Paid")
    elif target == "int":
        df["status"] = y.astype(int)
    elif target == "yn":
        df["status"] = np.where(y, "Y", "N")
    elif target == "three":
        df["status"] = np.where(y, "Charged Off", rng.choice(["Paid", "Current"], n))
    df["status"] = df["status"].astype(object)
    if empty_targets:
        df.loc[rng.choice(np.arange(2, n), empty_targets, replace=False), "status"] = None
    return df


def write_wild(df: pd.DataFrame, path: str | Path, *, sep: str = ",", encoding: str = "utf-8",
               bom: bool = False) -> Path:
    """Write ``df`` as a user's export would be: ``sep``, ``encoding`` (e.g. latin-1), optional BOM."""
    path = Path(path)
    text = df.to_csv(index=False, sep=sep)
    data = text.encode(encoding, errors="replace")
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def wide_frame(n: int = 500_000, n_cols: int = 120, seed: int = 0, prevalence: float = 0.035) -> pd.DataFrame:
    """A card-transaction table like the issue's (vectorised, for benchmarks): an id, a time in
    seconds, five text columns (one with 1,500 values), a money-string column, T/F flags, a
    date, a constant, and numeric columns each 0-90% empty; ``prevalence`` fraud."""
    rng = np.random.default_rng(seed)
    df: dict[str, object] = {"TransactionID": np.arange(3_000_000, 3_000_000 + n),
                             "TransactionDT": np.sort(rng.integers(86_400, 86_400 * 180, n))}
    device = rng.zipf(1.3, n) % 1500
    df["ProductCD"] = rng.choice(["W", "C", "R", "H", "S"], n, p=[0.7, 0.12, 0.08, 0.06, 0.04])
    df["card4"] = rng.choice(["visa", "mastercard", "american express", "discover"], n, p=[0.65, 0.3, 0.03, 0.02])
    df["card6"] = rng.choice(["debit", "credit", "charge card"], n, p=[0.75, 0.249, 0.001])
    df["P_emaildomain"] = np.char.add("mail", (rng.zipf(1.5, n) % 60).astype(str))
    df["DeviceInfo"] = np.char.add("device-", device.astype(str))
    amount = rng.lognormal(4.0, 1.1, n)
    df["amount_str"] = np.char.add(np.char.add("$", np.round(amount, 2).astype(str)), " ")
    df["M1"] = rng.choice(["T", "F"], n, p=[0.6, 0.4])
    df["M2"] = rng.choice(["T", "F"], n, p=[0.3, 0.7])
    df["signup"] = (pd.Timestamp("2017-11-30") - pd.to_timedelta(rng.integers(0, 3000, n), unit="D")
                    ).strftime("%d-%b-%y")
    df["constant"] = 1.0
    n_num = n_cols - len(df)
    num = rng.normal(size=(n, n_num)).astype(np.float64)
    logit = (np.log(prevalence / (1 - prevalence)) - 3.25 + 1.6 * num[:, 0] + 1.2 * num[:, 1] - 1.0 * num[:, 2]
             + 0.8 * (np.log(amount) - 4) + 2.0 * (device % 37 == 0) + 1.2 * (df["ProductCD"] == "C"))
    for j in range(n_num):
        col = num[:, j]
        if j % 4 == 3:
            col = np.round(np.abs(col) * 100)  # count-like integers
        empty = rng.random(n) < rng.uniform(0, 0.9)
        if j < 3:  # missingness itself carries signal, as in card data
            logit = logit + 0.4 * empty
        col[empty] = np.nan
        df[f"V{j + 1}"] = col
    df["isFraud"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(df)
