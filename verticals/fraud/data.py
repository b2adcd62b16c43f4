"""Dataset adapters of the fraud vertical: ULB credit-card, simulated transactions,
UCI German credit and any CSV / parquet file with a named binary target."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold, train_test_split

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.data.schema import ColumnSpec, TableSchema, find_date_formats, parse_datetime, parse_numbers, \
    separating_columns
from verticalkit.core.data.sources import resolve_source
from verticalkit.core.data.splits import grouped_split, stratified_split, temporal_split
from verticalkit.core.data.tabular import read_any_table, release_arrow_memory

from .features import TransactionFeatures
from .simulate import generate_transactions
from .validate import binary_target, numeric_columns, read_table, require_columns, unique_ids

FRAUD_TASK = dict(kind="binary", primary_metric="auprc", classes=["legit", "fraud"])


def _split(X: pd.DataFrame, y: np.ndarray, ids: np.ndarray, idx: np.ndarray, meta: pd.DataFrame | None = None,
           groups: np.ndarray | None = None, rows_taken: bool = False) -> Split:
    """The rows ``idx`` of a table as a Split (``rows_taken``: ``X`` already holds just those rows, in order)."""
    return Split(X=(X if rows_taken else X.iloc[idx]).reset_index(drop=True), y=y[idx], ids=ids[idx],
                 groups=None if groups is None else groups[idx],
                 meta=None if meta is None else meta.iloc[idx].reset_index(drop=True))


# --------------------------------------------------------------------------- ULB


class ULBCreditCard(DatasetAdapter):
    """ULB / Worldline credit-card transactions (Kaggle "creditcardfraud", OpenML 1597).

    Features: ``V1..V28`` and ``Amount``. ``Time`` (seconds since the first transaction
    of the file) is kept in ``meta``, not used as a feature: it has no meaning for new data.
    protocol ``stratified``: 80/20 stratified (seed), validation (``val_size`` of all rows)
    carved from train; ``temporal``: earliest 80% by Time train (+ the latest ``val_size``
    of them validate), latest 20% test.
    """

    id = "ulb-creditcard"
    description = "ULB credit-card fraud (284,807 card transactions, 0.17% fraud, PCA features)"
    files = ("creditcard.csv.gz", "creditcard.csv")
    card = "ulb-creditcard.yaml"
    FEATURES = [f"V{i}" for i in range(1, 29)] + ["Amount"]

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False,
                 protocol: str = "stratified", test_size: float = 0.2, val_size: float = 0.1):
        super().__init__(path, seed, download)
        self.protocol = protocol
        self.test_size = test_size
        self.val_size = val_size

    def load(self) -> DatasetSplits:
        if self.protocol not in ("stratified", "temporal"):
            raise ConfigError(f"data.protocol={self.protocol!r}: ulb-creditcard protocols are stratified, temporal")
        file = resolve_source(self.id, self.files, self.path, download=self.download)
        df = read_table(file, expected=["Time", *self.FEATURES, "Class"])
        X = numeric_columns(df, self.FEATURES, str(file))
        times = numeric_columns(df, ["Time"], str(file))["Time"].to_numpy()
        y = binary_target(df["Class"], str(file), "Class", positive=1)
        ids = np.array([f"ulb-{i}" for i in range(len(df))])
        if self.protocol == "stratified":
            tr, va, te = stratified_split(len(df), y, self.test_size, self.val_size, self.seed)
        else:
            tr, va, te = temporal_split(times, self.test_size, self.val_size)
        meta = pd.DataFrame({"time": times})
        task = Task(target="Class", **FRAUD_TASK)
        return DatasetSplits(self.id, task, _split(X, y, ids, tr, meta), _split(X, y, ids, va, meta),
                             _split(X, y, ids, te, meta), protocol=f"{self.protocol}-80-20-seed{self.seed}"
                             if self.protocol == "stratified" else "temporal-80-20",
                             info={"file": str(file), "n_rows": len(df), "prevalence": float(y.mean())})


# --------------------------------------------------------------------------- simulated


class SimulatedTransactions(DatasetAdapter):
    """The kit's seeded handbook simulator + no-look-ahead features (no download needed).

    Handbook protocol: train on days ``[start, start+7)``, skip a 7-day label delay,
    test on the 7 days after it, dropping test transactions of customers already known
    as defrauded (as the handbook does). ``fold`` k shifts the three periods back by
    ``k * test_days`` days (prequential folds). Validation: 15% of the training
    period's customers, held out by customer. Default start: day 115 (2018-07-25).
    """

    id = "simulated-transactions"
    description = "simulated payment-card transactions (handbook generator, seeded; embedded, no download)"
    files = ()
    card = "simulated-transactions.yaml"

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False,
                 n_customers: int = 5000, n_terminals: int = 10000, n_days: int = 183,
                 start_day: int = 115, train_days: int = 7, delay_days: int = 7, test_days: int = 7,
                 fold: int = 0, val_size: float = 0.15):
        super().__init__(path, seed, download)
        self.n_customers = n_customers
        self.n_terminals = n_terminals
        self.n_days = n_days
        self.start_day = start_day
        self.train_days = train_days
        self.delay_days = delay_days
        self.test_days = test_days
        self.fold = fold
        self.val_size = val_size

    def transactions(self) -> pd.DataFrame:
        """The full transaction log with features (generated, or read from ``path``)."""
        if self.path is not None:
            tx = read_table(self.path, expected=["TRANSACTION_ID", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT",
                                                 "TX_TIME_SECONDS", "TX_TIME_DAYS", "TX_FRAUD"])
            unique_ids(tx["TRANSACTION_ID"], str(self.path), "TRANSACTION_ID")
            numeric_columns(tx, ["TX_AMOUNT", "TX_TIME_SECONDS", "TX_TIME_DAYS"], str(self.path))
            binary_target(tx["TX_FRAUD"], str(self.path), "TX_FRAUD", positive=1)
        else:
            tx = generate_transactions(self.n_customers, self.n_terminals, self.n_days, seed=self.seed)
        return TransactionFeatures(delay=self.delay_days).transform(tx)

    def load(self) -> DatasetSplits:
        start = self.start_day - self.fold * self.test_days
        if start < 0 or start + self.train_days + self.delay_days + self.test_days > self.n_days and self.path is None:
            raise ConfigError(f"simulated-transactions: start_day={self.start_day}, fold={self.fold} leaves the "
                              f"train/delay/test periods outside the {self.n_days} simulated days; "
                              f"lower data.fold or data.start_day, or raise data.n_days")
        tx = self.transactions()
        feats = TransactionFeatures(delay=self.delay_days).feature_names()
        day = tx["TX_TIME_DAYS"].to_numpy()
        train_rows = np.flatnonzero((day >= start) & (day < start + self.train_days))
        known = set(tx.loc[train_rows][tx.loc[train_rows, "TX_FRAUD"] == 1]["CUSTOMER_ID"])
        test_rows = []
        for k in range(self.test_days):
            seen = tx[(day == start + self.train_days + k - 1) & (tx["TX_FRAUD"] == 1).to_numpy()]
            known |= set(seen["CUSTOMER_ID"])
            d = np.flatnonzero(day == start + self.train_days + self.delay_days + k)
            test_rows.append(d[~tx["CUSTOMER_ID"].iloc[d].isin(known).to_numpy()])
        test_rows = np.concatenate(test_rows)
        y = tx["TX_FRAUD"].to_numpy().astype(int)
        if len(np.unique(y[train_rows])) < 2:
            raise DataError(f"simulated-transactions: the training period (days {start}..{start + self.train_days - 1})"
                            f" holds a single class; simulate more customers or days")
        cust = tx["CUSTOMER_ID"].to_numpy()
        keep, _, held = grouped_split(cust[train_rows], y[train_rows], test_size=self.val_size, val_size=0,
                                      seed=self.seed)
        tr, va = train_rows[keep], train_rows[held]
        X = tx[feats].astype(float)
        ids = tx["TRANSACTION_ID"].astype(str).to_numpy()
        meta = pd.DataFrame({"customer_id": cust, "day": day, "terminal_id": tx["TERMINAL_ID"].to_numpy()})
        task = Task(target="TX_FRAUD", **FRAUD_TASK)
        return DatasetSplits(
            self.id, task, _split(X, y, ids, tr, meta, cust), _split(X, y, ids, va, meta, cust),
            _split(X, y, ids, test_rows, meta, cust),
            protocol=f"handbook-{self.train_days}d-train-{self.delay_days}d-delay-{self.test_days}d-test"
                     f"-start{start}",
            info={"n_transactions": len(tx), "start_day": start, "fold": self.fold,
                  "generator": {"n_customers": self.n_customers, "n_terminals": self.n_terminals,
                                "n_days": self.n_days, "seed": self.seed} if self.path is None else str(self.path)})


# --------------------------------------------------------------------------- German credit

GERMAN_COLUMNS = ["checking_status", "duration", "credit_history", "purpose", "credit_amount", "savings_status",
                  "employment", "installment_commitment", "personal_status", "other_parties", "residence_since",
                  "property_magnitude", "age", "other_payment_plans", "housing", "existing_credits", "job",
                  "num_dependents", "own_telephone", "foreign_worker"]
GERMAN_NUMERIC = ["duration", "credit_amount", "installment_commitment", "residence_since", "age",
                  "existing_credits", "num_dependents"]
# UCI german.doc codes -> the readable values OpenML credit-g uses
GERMAN_CODES = {
    "A11": "<0", "A12": "0<=X<200", "A13": ">=200", "A14": "no checking",
    "A30": "no credits/all paid", "A31": "all paid", "A32": "existing paid", "A33": "delayed previously",
    "A34": "critical/other existing credit",
    "A40": "new car", "A41": "used car", "A42": "furniture/equipment", "A43": "radio/tv",
    "A44": "domestic appliance", "A45": "repairs", "A46": "education", "A47": "vacation", "A48": "retraining",
    "A49": "business", "A410": "other",
    "A61": "<100", "A62": "100<=X<500", "A63": "500<=X<1000", "A64": ">=1000", "A65": "no known savings",
    "A71": "unemployed", "A72": "<1", "A73": "1<=X<4", "A74": "4<=X<7", "A75": ">=7",
    "A91": "male div/sep", "A92": "female div/dep/mar", "A93": "male single", "A94": "male mar/wid",
    "A95": "female single",
    "A101": "none", "A102": "co applicant", "A103": "guarantor",
    "A121": "real estate", "A122": "life insurance", "A123": "car", "A124": "no known property",
    "A141": "bank", "A142": "stores", "A143": "none",
    "A151": "rent", "A152": "own", "A153": "for free",
    "A171": "unemp/unskilled non res", "A172": "unskilled resident", "A173": "skilled",
    "A174": "high qualif/self emp/mgmt",
    "A191": "none", "A192": "yes", "A201": "yes", "A202": "no",
}
# plain words for reason codes
GERMAN_DESCRIPTIONS = {
    "checking_status": "checking account balance (DM)", "duration": "loan duration (months)",
    "credit_history": "credit history", "purpose": "loan purpose", "credit_amount": "loan amount (DM)",
    "savings_status": "savings (DM)", "employment": "years in current employment",
    "installment_commitment": "instalment as % of income", "personal_status": "personal status",
    "other_parties": "other debtors / guarantors", "residence_since": "years at current residence",
    "property_magnitude": "most valuable property", "age": "age (years)",
    "other_payment_plans": "other instalment plans", "housing": "housing", "existing_credits":
    "number of existing credits at this bank", "job": "job", "num_dependents": "number of dependents",
    "own_telephone": "telephone", "foreign_worker": "foreign worker",
}


def embedded_german_data() -> Path:
    """The german.data copy shipped in datasets/german-credit/ (CC BY 4.0)."""
    try:
        from importlib.resources import files

        p = Path(str(files("verticalkit.datasets") / "german-credit" / "german.data"))
        if p.is_file():
            return p
    except Exception:  # noqa: BLE001 - namespace-package quirks: fall back to the source tree
        pass
    return Path(__file__).resolve().parents[2] / "datasets" / "german-credit" / "german.data"


def read_german(file: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Read german.data (coded, space-separated) or OpenML credit-g CSV; return (X, y) with y 1 = bad."""
    if file.suffix in (".csv", ".gz", ".parquet"):
        df = read_table(file, expected=[*GERMAN_COLUMNS, "class"])
        df = df.apply(lambda s: s.astype(str).str.strip("'\" ") if not pd.api.types.is_numeric_dtype(s) else s)
        y = binary_target(df["class"], str(file), "class", positive="bad")
    else:
        if file.stat().st_size == 0:
            raise DataError(f"{file}: the file is empty")
        df = pd.read_csv(file, sep=r"\s+", header=None, dtype=str)
        if df.shape[1] != 21:
            raise DataError(f"{file}: german.data has 21 space-separated columns per row, this file has "
                            f"{df.shape[1]}; is it the OpenML credit-g CSV? name it *.csv")
        df.columns = [*GERMAN_COLUMNS, "class"]
        cats = [c for c in GERMAN_COLUMNS if c not in GERMAN_NUMERIC]
        for c in cats:
            unknown = set(df[c]) - set(GERMAN_CODES)
            if unknown:
                raise DataError(f"{file}: column {c!r} holds codes {sorted(unknown)[:3]} not in the UCI german.doc")
            df[c] = df[c].map(GERMAN_CODES)
        y = binary_target(df["class"].astype(int), str(file), "class (1 good, 2 bad)", positive=2)
    X = df[GERMAN_COLUMNS].copy()
    X[GERMAN_NUMERIC] = numeric_columns(X, GERMAN_NUMERIC, str(file))
    for c in X.columns:
        if c not in GERMAN_NUMERIC:
            X[c] = X[c].astype(str)
    return X.reset_index(drop=True), y


class GermanCredit(DatasetAdapter):
    """UCI Statlog German credit (1000 applicants, 30% bad); target 1 = bad.

    Reads ``german.data`` (coded; codes mapped to readable values) or OpenML
    ``credit-g`` CSV; falls back to the embedded copy. Protocol: seeded stratified
    ``n_folds``-fold CV, ``fold`` is the test fold; validation (``val_size`` of the
    training folds, stratified) is carved from the training folds.
    """

    id = "german-credit"
    description = "UCI Statlog German credit risk (1000 applicants; embedded, CC BY 4.0)"
    files = ("german.data", "credit-g.csv", "dataset_31_credit-g.csv")
    card = "german-credit.yaml"

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False,
                 fold: int = 0, n_folds: int = 10, val_size: float = 0.1):
        super().__init__(path, seed, download)
        self.fold = fold
        self.n_folds = n_folds
        self.val_size = val_size

    def load(self) -> DatasetSplits:
        if not 0 <= self.fold < self.n_folds:
            raise ConfigError(f"data.fold={self.fold} must be in 0..{self.n_folds - 1} (data.n_folds={self.n_folds})")
        try:
            file = resolve_source(self.id, self.files, self.path, download=self.download)
        except DataError:
            if self.path is not None:
                raise
            file = embedded_german_data()
        X, y = read_german(Path(file))
        ids = np.array([f"applicant-{i}" for i in range(len(y))])
        skf = StratifiedKFold(n_splits=self.n_folds, shuffle=True, random_state=self.seed)
        train_val, test = list(skf.split(np.zeros(len(y)), y))[self.fold]
        if self.val_size > 0:
            train, val = train_test_split(train_val, test_size=self.val_size, random_state=self.seed,
                                          stratify=y[train_val])
        else:
            train, val = train_val, np.array([], dtype=int)
        meta = pd.DataFrame({"age": X["age"].to_numpy(), "foreign_worker": X["foreign_worker"].to_numpy()})
        task = Task(kind="binary", target="class", primary_metric="roc_auc", classes=["good", "bad"])
        return DatasetSplits(self.id, task, *(_split(X, y, ids, np.sort(i), meta) for i in (train, val, test)),
                             protocol=f"stratified-{self.n_folds}-fold-seed{self.seed}-fold{self.fold}",
                             info={"file": str(file), "cost_matrix": "bad predicted good 5 : good predicted bad 1"})


# --------------------------------------------------------------------------- generic CSV


class TabularCSV(DatasetAdapter):
    """Any CSV / parquet table with a binary target: column types inferred from the data.

    Every column but ``target`` / ``id_column`` / ``time_column`` / ``group_column`` is
    inferred (:class:`verticalkit.core.data.schema.TableSchema`): numbers, money / percent
    strings, Y/N flags, dates (expanded into day-of-week, month, hour, age in days),
    categories of any cardinality; id-like and constant columns are left out with a note.
    ``columns``: ``{column: kind}`` overrides (numeric, money, boolean, categorical,
    datetime, drop); ``drop``: columns to leave out (``categorical_columns`` /
    ``drop_columns`` are the older spellings). Missing cells and ±inf become NaN; rows with
    an empty target (or, under ``protocol="temporal"``, an empty time) are left out with a
    printed count. ``positive_label``: the target value that is 1 (needed when it is not
    one of 1 / True / bad / fraud / yes). ``sep`` / ``encoding``: None sniffs them; ``header``:
    None reads a header row unless the first row looks like data (then columns are ``c1 .. cN``).
    The inferred schema is printed, kept in ``info["table_schema"]`` and saved with the
    model, so ``verticalkit predict`` parses raw files the same way. A column that alone
    separates the target (ROC-AUC ≥ ``leakage_threshold`` on train) is warned about.
    """

    id = "csv"
    description = "any CSV / parquet transaction or applicant table with a binary target (types inferred)"
    files = ()
    card = None
    table_target, table_suffix = "target", ".parquet"  # vk.train("fraud", data=frame, target="is_fraud")

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False,
                 target: str = "Class", id_column: str | None = None, time_column: str | None = None,
                 columns: dict | None = None, drop: list | None = None,
                 categorical_columns: list[str] | None = None, drop_columns: list[str] | None = None,
                 group_column: str | None = None, positive_label: str | int | None = None, sep: str | None = None,
                 encoding: str | None = None, protocol: str = "stratified", test_size: float = 0.2,
                 val_size: float = 0.1, leakage_threshold: float = 0.99, verbose: bool = True,
                 header: bool | None = None):
        super().__init__(path, seed, download)
        self.header = header
        self.target = target
        self.id_column = id_column
        self.time_column = time_column
        self.columns = columns
        self.drop = drop
        self.categorical_columns = categorical_columns
        self.drop_columns = drop_columns
        self.group_column = group_column
        self.positive_label = positive_label
        self.sep = sep
        self.encoding = encoding
        self.protocol = protocol
        self.test_size = test_size
        self.val_size = val_size
        self.leakage_threshold = leakage_threshold
        self.verbose = verbose

    def _say(self, msg: str) -> None:
        if self.verbose:
            print(msg, flush=True)

    def read(self) -> tuple[pd.DataFrame, Path]:
        """The raw table, with the configured columns checked."""
        if self.path is None:
            raise ConfigError("dataset 'csv' needs data.path (the CSV or parquet file) and data.target")
        if self.protocol not in ("stratified", "temporal", "grouped"):
            raise ConfigError(f"data.protocol={self.protocol!r}: choose stratified, temporal or grouped")
        if self.columns is not None and not isinstance(self.columns, dict):
            raise ConfigError(f"data.columns must map column names to kinds, e.g. --set data.columns.card4=categorical;"
                              f" got {self.columns!r}")
        file = Path(self.path)
        t0 = time.perf_counter()
        df = read_any_table(file, sep=self.sep, encoding=self.encoding, progress=self.verbose, header=self.header)
        self._say(f"read {file.name}: {len(df):,} rows × {df.shape[1]} columns in {time.perf_counter() - t0:.1f} s; "
                  f"inferring column types ...")
        named = [c for c in (self.target, self.id_column, self.time_column, self.group_column) if c]
        require_columns(df, named, str(file))
        return df, file

    def schema(self, df: pd.DataFrame, file: Path) -> TableSchema:
        overrides = {**{c: "categorical" for c in self.categorical_columns or []}, **(self.columns or {})}
        drop = [*_as_list(self.drop), *_as_list(self.drop_columns)]
        named = [c for c in (self.target, self.id_column, self.time_column, self.group_column) if c]
        return TableSchema.infer(df, exclude=named, overrides=overrides, drop=drop, where=str(file))

    def load(self) -> DatasetSplits:
        df, file = self.read()
        keep = df[self.target].notna().to_numpy()
        if not keep.all():
            self._say(f"{int((~keep).sum()):,} rows with an empty target {self.target!r} left out")
        times = None
        if self.time_column:
            times = time_seconds(df[self.time_column], str(file), self.time_column)
            if np.isnan(times).any() and self.protocol == "temporal":
                self._say(f"{int(np.isnan(times[keep]).sum()):,} rows with an empty time {self.time_column!r} "
                          f"left out")
                keep &= ~np.isnan(times)
        if not keep.all():
            df = df[keep].reset_index(drop=True)
            times = None if times is None else times[keep]
        if len(df) == 0:
            raise DataError(f"{file}: no row has both a target {self.target!r} and a time; check the columns")
        y, positive = target_values(df[self.target], str(file), self.target, self.positive_label)
        ids = (unique_ids(df[self.id_column], str(file), self.id_column) if self.id_column
               else np.array([f"row-{i}" for i in range(len(df))]))
        schema = self.schema(df, file)
        if not schema.used:
            raise DataError(f"{file}: no feature columns left besides target/id/time (all id-like, constant or "
                            f"dropped); check the file or set data.columns")
        meta = pd.DataFrame(index=df.index)
        groups = None
        if self.group_column:
            groups = df[self.group_column].astype(str).to_numpy()
            meta["customer_id"] = groups
        if times is not None:
            meta["time"] = times
            meta["day"] = np.floor(times / 86400)
        if self.protocol == "temporal":
            if times is None:
                raise ConfigError("data.protocol=temporal needs data.time_column")
            tr, va, te = temporal_split(times, self.test_size, self.val_size)
        elif self.protocol == "grouped":
            if groups is None:
                raise ConfigError("data.protocol=grouped needs data.group_column")
            tr, va, te = grouped_split(groups, y, self.test_size, self.val_size, self.seed)
        else:
            tr, va, te = stratified_split(len(y), y, self.test_size, self.val_size, self.seed)
        if len(np.unique(y[tr])) < 2:
            raise DataError(f"{file}: the training split holds a single class; the file has too few positives")
        # the features are built in split order, so each split is a slice (a view) of one frame:
        # the table is never held as features and as split copies at once
        counts: dict[str, int] = {}
        X = schema.transform(df, counts, rows=np.concatenate([tr, va, te]))
        if self.verbose:  # the description counts every column's missing and distinct values: seconds on 500k rows
            self._say(f"{file.name}: {len(df):,} rows, {len(schema.columns)} columns → {X.shape[1]} features; "
                      f"target {self.target!r} positive = {positive!r} ({y.mean():.2%})\n" + schema.describe(df))
        if counts:
            self._say("cells read as missing (inf or not a number): "
                      + ", ".join(f"{c} {n:,}" for c, n in list(counts.items())[:10]))
        del df
        bounds = np.cumsum([0, len(tr), len(va), len(te)])
        splits = [_split(X.iloc[a:b], y, ids, i, meta, groups, rows_taken=True)
                  for a, b, i in zip(bounds[:-1], bounds[1:], (tr, va, te))]
        del X
        release_arrow_memory()  # what reshaping the text columns freed (pandas keeps text in Arrow memory)
        leaks = separating_columns(splits[0].X, y[tr], self.leakage_threshold, seed=self.seed)
        for c, auc in leaks:
            print(f"warning: column {c!r} alone separates the target (ROC-AUC {auc:.4f} on train): a leak "
                  f"(known only after the outcome)? drop it with --set data.drop=[{c}] if so", file=sys.stderr)
        meta = meta if meta.shape[1] else None
        task = Task(kind="binary", target=self.target, primary_metric="auprc", classes=["0", "1"])
        return DatasetSplits(self.id, task, *splits, protocol=f"{self.protocol}-seed{self.seed}",
                             info={"file": str(file), "n_rows": len(y), "rows_without_target": int((~keep).sum()),
                                   "positive_label": str(positive),
                                   "leakage": [f"{c} (ROC-AUC {auc:.4f})" for c, auc in leaks],
                                   "table_schema": schema.to_dict()})


def _as_list(v: object) -> list:
    """``--set data.drop=city`` (one name) or ``data.drop=[a,b]``."""
    return [] if v is None else [v] if isinstance(v, str) else list(v)  # type: ignore[arg-type]


def time_seconds(t: pd.Series, where: str, column: str) -> np.ndarray:
    """A time column as seconds (numbers as they are; dates since the earliest), NaN when empty."""
    if pd.api.types.is_numeric_dtype(t) and not isinstance(t.dtype, pd.CategoricalDtype):
        v = t.to_numpy(dtype=float, na_value=np.nan)
        return np.where(np.isinf(v), np.nan, v)
    formats = ["ISO8601"] if pd.api.types.is_datetime64_any_dtype(t) else find_date_formats(
        pd.Series(t.dropna().unique()), min_share=0.99)
    if not formats:
        nums = parse_numbers(pd.Series(t.dropna().unique()))
        if nums.notna().all():
            return TableSchema({column: ColumnSpec("numeric")}).transform(t.to_frame())[column].to_numpy()
        bad = t.dropna().iloc[0]
        raise DataError(f"{where}: time column {column!r} holds values like {str(bad)[:30]!r} that are neither "
                        f"numbers nor dates in a known format; give seconds or ISO dates (2024-01-31 12:00)")
    d = parse_datetime(t, formats)
    if (d.isna() & t.notna()).any():
        i = int(np.flatnonzero((d.isna() & t.notna()).to_numpy())[0])
        raise DataError(f"{where}: time column {column!r} row {i} ({str(t.iloc[i])[:30]!r}) is neither a number "
                        f"nor a date like the others ({', '.join(formats)})")
    return ((d - d.min()).dt.total_seconds()).to_numpy(dtype=float, na_value=np.nan)


def target_values(s: pd.Series, where: str, column: str, positive: object | None) -> tuple[np.ndarray, object]:
    """A two-valued target (numbers or text, no empty cells) as 0/1, and the value that is 1.

    Default positive: 1, True, t, Y, yes, bad, fraud (case-insensitive) when present; otherwise
    ``positive`` must be set. Not exactly two values: a DataError naming them.
    """
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype)
    text = not pd.api.types.is_numeric_dtype(s)
    if text:
        s = s.astype("string").str.strip()
    elif pd.api.types.is_float_dtype(s) and (s.dropna() == s.dropna().round()).all():
        s = s.astype("Int64")  # 0/1 read as floats because of empty cells
    counts = s.value_counts()
    seen = ", ".join(f"{v!r} ({n:,})" for v, n in counts.head(6).items()) + (" ..." if len(counts) > 6 else "")
    if len(counts) != 2:
        raise DataError(f"{where}: target {column!r} has {len(counts)} value{'s' if len(counts) != 1 else ''} "
                        f"({seen}); the fraud vertical predicts a binary target: map it to two values "
                        f"(or pick another data.target)")
    labels = list(counts.index)
    if positive is None:
        lowered = {str(v).lower(): v for v in labels}
        found = [lowered[k] for k in ("1", "1.0", "true", "t", "y", "yes", "bad", "fraud") if k in lowered]
        if not found:
            raise DataError(f"{where}: target {column!r} has values {seen}; say which one is positive with "
                            f"--set data.positive_label=VALUE")
        positive = found[0]
    else:
        match = [v for v in labels if v == positive or str(v) == str(positive)
                 or (not text and _num(positive) == v)]
        if not match:
            raise DataError(f"{where}: data.positive_label={positive!r} is not among the target values {seen}")
        positive = match[0]
    positive = positive.item() if hasattr(positive, "item") else positive
    return (s == positive).to_numpy(dtype=bool, na_value=False).astype(int), positive


def _num(v: object) -> float | None:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
