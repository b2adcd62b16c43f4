"""Handbook transaction features, computed without look-ahead.

For transaction *i* at time *t* (rows ordered by time; ties by row order):

* ``TX_DURING_WEEKEND``, ``TX_DURING_NIGHT`` (hour <= 6, as in the handbook);
* customer windows ``w`` in (1, 7, 30) days: number and mean amount of the customer's
  transactions in ``(t - w, t]`` up to and including *i* itself (never a later row);
* terminal windows with a label delay ``d`` (7 days): number of the terminal's
  transactions in ``(t - d - w, t - d]`` and the fraction of them that were fraudulent —
  labels of transactions younger than ``d`` days are never used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from verticalkit.core.errors import DataError

from .validate import require_columns

DAY = 86400
REQUIRED = ("CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_TIME_SECONDS", "TX_FRAUD")


def _keys(group: np.ndarray, t: np.ndarray) -> np.ndarray:
    # one sorted key per row: group-major, then time; stable order keeps ties in row order
    return group.astype(np.int64) * np.int64(10**11) + t.astype(np.int64)


class TransactionFeatures:
    """Adds the handbook's 15 input features to a transaction log (``transform``)."""

    def __init__(self, windows: tuple[int, ...] = (1, 7, 30), delay: int = 7):
        self.windows = windows
        self.delay = delay

    def feature_names(self) -> list[str]:
        names = ["TX_AMOUNT", "TX_DURING_WEEKEND", "TX_DURING_NIGHT"]
        for w in self.windows:
            names += [f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW", f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"]
        for w in self.windows:
            names += [f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW", f"TERMINAL_ID_RISK_{w}DAY_WINDOW"]
        return names

    def transform(self, tx: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``tx`` (same row order) with the feature columns added."""
        require_columns(tx, REQUIRED, "transaction log")
        if tx["TX_AMOUNT"].isna().any() or tx["TX_TIME_SECONDS"].isna().any():
            raise DataError("transaction log: TX_AMOUNT / TX_TIME_SECONDS hold NaN; drop or fix those rows")
        out = tx.copy()
        t = tx["TX_TIME_SECONDS"].to_numpy(dtype=np.int64)
        amount = tx["TX_AMOUNT"].to_numpy(dtype=float)
        label = tx["TX_FRAUD"].to_numpy(dtype=float)
        if "TX_DATETIME" in tx:
            dt = pd.to_datetime(tx["TX_DATETIME"])
            out["TX_DURING_WEEKEND"] = (dt.dt.day_of_week >= 5).astype(int).to_numpy()
            out["TX_DURING_NIGHT"] = (dt.dt.hour <= 6).astype(int).to_numpy()
        else:
            out["TX_DURING_WEEKEND"] = ((t // DAY) % 7 >= 5).astype(int)
            out["TX_DURING_NIGHT"] = ((t % DAY) // 3600 <= 6).astype(int)
        # a global row order by time (ties by original order) defines "earlier"
        pos = np.empty(len(t), dtype=np.int64)
        pos[np.lexsort((np.arange(len(t)), t))] = np.arange(len(t))
        cust = tx["CUSTOMER_ID"].astype("category").cat.codes.to_numpy()
        term = tx["TERMINAL_ID"].astype("category").cat.codes.to_numpy()

        order = np.lexsort((pos, cust))  # by customer, then time order
        key = _keys(cust[order], t[order])
        csum = np.concatenate([[0.0], np.cumsum(amount[order])])
        i = np.arange(len(order))
        for w in self.windows:
            lo = np.searchsorted(key, key - w * DAY, side="right")
            nb = i - lo + 1
            avg = (csum[i + 1] - csum[lo]) / nb
            col_nb, col_avg = np.empty(len(t)), np.empty(len(t))
            col_nb[order], col_avg[order] = nb, avg
            out[f"CUSTOMER_ID_NB_TX_{w}DAY_WINDOW"] = col_nb
            out[f"CUSTOMER_ID_AVG_AMOUNT_{w}DAY_WINDOW"] = col_avg

        order = np.lexsort((pos, term))
        key = _keys(term[order], t[order])
        lsum = np.concatenate([[0.0], np.cumsum(label[order])])
        hi = np.searchsorted(key, key - self.delay * DAY, side="right")  # rows with time <= t - delay
        for w in self.windows:
            lo = np.searchsorted(key, key - (self.delay + w) * DAY, side="right")
            nb = hi - lo
            risk = np.divide(lsum[hi] - lsum[lo], nb, out=np.zeros(len(nb)), where=nb > 0)
            col_nb, col_risk = np.empty(len(t)), np.empty(len(t))
            col_nb[order], col_risk[order] = nb, risk
            out[f"TERMINAL_ID_NB_TX_{w}DAY_WINDOW"] = col_nb
            out[f"TERMINAL_ID_RISK_{w}DAY_WINDOW"] = col_risk
        return out
