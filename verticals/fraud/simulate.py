"""Seeded payment-card transaction generator following the fraud-detection handbook
(Le Borgne et al., "Reproducible Machine Learning for Credit Card Fraud Detection —
Practical Handbook", chapter 3.2), vectorised with numpy.

* customers and terminals uniformly on a 100 x 100 grid; a customer uses the terminals
  within ``radius`` (5) of it;
* customer mean amount ~ U(5, 100), std = mean / 2, transactions per day ~ Poisson(λ),
  λ ~ U(0, 4); time of day ~ N(12 h, 20000 s), draws outside the day are dropped;
  amount ~ N(mean, std), a negative draw is replaced by U(0, 2 mean);
* fraud scenario 1: any amount > 220; scenario 2: each day 2 terminals are compromised
  and all their transactions of the next 28 days are fraudulent; scenario 3: each day
  3 customers' credentials leak and, in the next 14 days, a third of their transactions
  (each with probability 1/3 here; the handbook samples exactly a third) get amount x 5
  and are fraudulent.

Columns: TRANSACTION_ID, TX_DATETIME, CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_TIME_SECONDS,
TX_TIME_DAYS, TX_FRAUD, TX_FRAUD_SCENARIO (handbook names).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

START_DATE = "2018-04-01"


def generate_transactions(n_customers: int = 5000, n_terminals: int = 10000, n_days: int = 183,
                          radius: float = 5.0, seed: int = 0, start_date: str = START_DATE) -> pd.DataFrame:
    """Generate the transaction log (sorted by time) with fraud labels; deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    cust_xy = rng.uniform(0, 100, size=(n_customers, 2))
    mean_amount = rng.uniform(5, 100, size=n_customers)
    std_amount = mean_amount / 2
    lam = rng.uniform(0, 4, size=n_customers)
    term_xy = rng.uniform(0, 100, size=(n_terminals, 2))

    tree = cKDTree(term_xy)
    available = tree.query_ball_point(cust_xy, r=radius)
    n_avail = np.array([len(a) for a in available])
    offsets = np.concatenate([[0], np.cumsum(n_avail)])
    flat_terms = np.array([t for a in available for t in sorted(a)], dtype=np.int64)

    counts = rng.poisson(lam[:, None], size=(n_customers, n_days))
    counts[n_avail == 0] = 0
    cust = np.repeat(np.repeat(np.arange(n_customers), n_days), counts.ravel())
    day = np.repeat(np.tile(np.arange(n_days), n_customers), counts.ravel())
    n = len(cust)
    secs = np.round(rng.normal(86400 / 2, 20000, size=n)).astype(np.int64)
    amount = rng.normal(mean_amount[cust], std_amount[cust])
    neg = amount < 0
    amount[neg] = rng.uniform(0, 2 * mean_amount[cust[neg]])
    amount = np.round(amount, 2)
    pick = (rng.random(n) * n_avail[cust]).astype(np.int64)
    term = flat_terms[offsets[cust] + pick]
    keep = (secs > 0) & (secs < 86400)
    cust, day, secs, amount, term = cust[keep], day[keep], secs[keep], amount[keep], term[keep]
    t = day * 86400 + secs
    order = np.lexsort((cust, t))
    cust, day, t, amount, term = cust[order], day[order], t[order], amount[order], term[order]

    fraud = np.zeros(len(t), dtype=np.int64)
    scenario = np.zeros(len(t), dtype=np.int64)
    big = amount > 220
    fraud[big], scenario[big] = 1, 1

    # scenarios 2 and 3: one pass over days, remembering the latest compromise day
    last_term = np.full(n_terminals, -10**9)
    last_cust = np.full(n_customers, -10**9)
    day_start = np.searchsorted(day, np.arange(n_days + 1))  # rows of day d: [day_start[d], day_start[d+1])
    for d in range(n_days):
        last_term[rng.choice(n_terminals, size=min(2, n_terminals), replace=False)] = d
        last_cust[rng.choice(n_customers, size=min(3, n_customers), replace=False)] = d
        rows = np.arange(day_start[d], day_start[d + 1])
        if len(rows) == 0:
            continue
        hit2 = d - last_term[term[rows]] < 28
        fraud[rows[hit2]], scenario[rows[hit2]] = 1, 2
        in3 = d - last_cust[cust[rows]] < 14
        hit3 = in3 & (rng.random(len(rows)) < 1 / 3)
        r3 = rows[hit3]
        amount[r3] = np.round(amount[r3] * 5, 2)
        fraud[r3], scenario[r3] = 1, 3

    start = pd.Timestamp(start_date)
    return pd.DataFrame({
        "TRANSACTION_ID": np.arange(len(t)),
        "TX_DATETIME": start + pd.to_timedelta(t, unit="s"),
        "CUSTOMER_ID": cust,
        "TERMINAL_ID": term,
        "TX_AMOUNT": amount,
        "TX_TIME_SECONDS": t,
        "TX_TIME_DAYS": day,
        "TX_FRAUD": fraud,
        "TX_FRAUD_SCENARIO": scenario,
    })
