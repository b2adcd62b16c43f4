"""Distribution drift from compact summaries: PSI, an approximate two-sample KS test, chi-square.

A reference column is summarised once (:func:`summarize`: quantiles or category counts, a
few hundred numbers, never the rows) and later batches are compared with that summary
(:func:`compare`). This is the kit's one PSI (the fraud report's score stability uses it too).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

N_QUANTILES = 100  # reference CDF resolution: 101 quantiles, KS statistic approximate to ~0.01
PSI_BINS = 10
TOP_CATEGORIES = 20
MAX_DISCRETE = 12  # a numeric column with at most this many distinct values is compared as categories
OTHER, MISSING = "__other__", "__missing__"
EPS = 1e-6


def psi_from_proportions(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of bin proportions ``actual`` against ``expected``."""
    pe = np.clip(np.asarray(expected, dtype=float), EPS, None)
    pa = np.clip(np.asarray(actual, dtype=float), EPS, None)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def psi_edges(reference: np.ndarray, bins: int = PSI_BINS) -> np.ndarray:
    """Bin edges at the reference's quantiles (outer edges open)."""
    edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)))
    if len(edges) < 2:
        edges = np.array([edges[0], edges[0]]) if len(edges) else np.array([0.0, 0.0])
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def psi(expected, actual, bins: int = PSI_BINS) -> float:
    """Population stability index of ``actual`` against ``expected`` (decile bins of expected).

    Rule of thumb: < 0.1 stable, 0.1–0.25 some shift, > 0.25 major shift.
    """
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    edges = psi_edges(e, bins)
    return psi_from_proportions(np.histogram(e, edges)[0] / len(e), np.histogram(a, edges)[0] / len(a))


def psi_ci(expected, actual, bins: int = PSI_BINS, n: int = 200, level: float = 0.95, seed: int = 42
           ) -> tuple[float, float]:
    """Percentile bootstrap CI of :func:`psi`: both samples resampled independently."""
    e, a = np.asarray(expected, dtype=float), np.asarray(actual, dtype=float)
    rng = np.random.default_rng(seed)
    reps = [psi(rng.choice(e, len(e)), rng.choice(a, len(a)), bins) for _ in range(n)]
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# ----------------------------------------------------------------------------- summaries


def _numeric(s: pd.Series) -> pd.Series | None:
    """``s`` as floats when it is a numeric (or boolean) column, else None."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        return pd.to_numeric(s, errors="coerce").astype(float)
    return None


def _label(v: Any) -> str:
    return str(v)


def _hashed(v: Any) -> str:
    """A category of an identifier-like column, as stored: a digest, never the value."""
    import hashlib

    return "h:" + hashlib.blake2b(str(v).encode(), digest_size=8).hexdigest()


def summarize(s: pd.Series, *, top: int = TOP_CATEGORIES, n_quantiles: int = N_QUANTILES) -> dict[str, Any]:
    """A JSON-able summary of one reference column: quantiles (numeric) or category counts."""
    n = len(s)
    num = _numeric(s)
    if num is not None:
        v = num.to_numpy()
        finite = v[np.isfinite(v)]
        if len(np.unique(finite)) > MAX_DISCRETE:
            edges = psi_edges(finite)
            counts = np.histogram(finite, edges)[0]
            return {"kind": "numeric", "n": n, "missing": int(n - len(finite)),
                    "quantiles": np.quantile(finite, np.linspace(0, 1, n_quantiles + 1)).tolist(),
                    "edges": [None if not np.isfinite(x) else float(x) for x in edges],
                    "counts": counts.tolist(), "mean": float(finite.mean()), "std": float(finite.std())}
        s = num.where(np.isfinite(num))
    labels = s.map(_label, na_action="ignore")
    counts = labels.value_counts()
    # mostly distinct values (ids, names, free text) are kept only as digests: nothing identifying is saved
    hashed = len(counts) > top and len(counts) > 0.5 * max(int(labels.notna().sum()), 1)
    if hashed:
        counts = labels.map(_hashed, na_action="ignore").value_counts()
    kept = counts.iloc[:top]
    out = {str(k): int(c) for k, c in kept.items()}
    out[OTHER] = int(counts.iloc[top:].sum())
    out[MISSING] = int(labels.isna().sum())
    return {"kind": "categorical", "n": n, "counts": out, "numeric": num is not None, "hashed": hashed}


def _edges(summary: dict[str, Any]) -> np.ndarray:
    e = np.array([np.nan if x is None else x for x in summary["edges"]], dtype=float)
    e[0], e[-1] = -np.inf, np.inf
    return e


def reference_cdf(quantiles: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The reference CDF at ``x`` from its quantiles: linear between quantiles, jumps at ties."""
    q = np.asarray(quantiles, dtype=float)
    levels = np.linspace(0, 1, len(q))
    i = np.searchsorted(q, x, side="right")
    out = np.where(i >= len(q), 1.0, 0.0)
    inside = (i > 0) & (i < len(q))
    j = i[inside]
    lo, hi = q[j - 1], q[j]
    out[inside] = levels[j - 1] + (x[inside] - lo) / (hi - lo) * (levels[j] - levels[j - 1])
    return out


def ks_from_quantiles(quantiles, n_ref: int, batch) -> tuple[float, float]:
    """Approximate two-sample KS statistic and asymptotic p-value of ``batch`` against a reference
    known by its quantiles (``n_ref`` rows)."""
    from scipy.special import kolmogorov

    b = np.sort(np.asarray(batch, dtype=float))
    m = len(b)
    if m == 0 or n_ref == 0:
        return float("nan"), float("nan")
    grid = np.union1d(b, np.asarray(quantiles, dtype=float))
    fb = np.searchsorted(b, grid, side="right") / m
    d = float(np.max(np.abs(fb - reference_cdf(quantiles, grid))))
    en = np.sqrt(n_ref * m / (n_ref + m))
    return d, float(np.clip(kolmogorov((en + 0.12 + 0.11 / en) * d), 0.0, 1.0))


def chi2_from_counts(ref_counts: np.ndarray, batch_counts: np.ndarray) -> tuple[float, float]:
    """Chi-square test of homogeneity of two count vectors over the same buckets."""
    from scipy.stats import chi2_contingency

    table = np.vstack([ref_counts, batch_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 0.0, 1.0
    stat, p, _, _ = chi2_contingency(table, correction=False)
    return float(stat), float(p)


def compare(summary: dict[str, Any], s: pd.Series) -> dict[str, Any]:
    """Drift of batch column ``s`` against its reference ``summary``: PSI and a test
    (KS for numeric columns, chi-square for categories), with the batch's own summary figures."""
    n = len(s)
    if summary["kind"] == "numeric":
        num = _numeric(s)
        if num is None:  # the reference was numeric: values that do not parse count as missing
            num = pd.to_numeric(s, errors="coerce").astype(float)
        v = num.to_numpy()
        finite = v[np.isfinite(v)]
        ref_counts = np.append(summary["counts"], summary["missing"])
        batch_counts = np.append(np.histogram(finite, _edges(summary))[0], n - len(finite))
        value = psi_from_proportions(ref_counts / max(summary["n"], 1), batch_counts / max(n, 1))
        stat, p = ks_from_quantiles(summary["quantiles"], summary["n"] - summary["missing"], finite)
        return {"kind": "numeric", "psi": value, "test": "ks", "statistic": stat, "p_value": p,
                "reference_mean": summary["mean"], "batch_mean": float(finite.mean()) if len(finite) else None,
                "reference_missing": summary["missing"] / max(summary["n"], 1),
                "batch_missing": (n - len(finite)) / max(n, 1)}
    if summary.get("numeric"):
        num = pd.to_numeric(s, errors="coerce").astype(float)
        s = num.where(np.isfinite(num))
    labels = s.map(_hashed if summary.get("hashed") else _label, na_action="ignore")
    buckets = [k for k in summary["counts"] if k not in (OTHER, MISSING)]
    known = labels.isin(buckets)
    batch = labels[known].value_counts()
    batch_counts = np.array([batch.get(k, 0) for k in buckets]
                            + [int((~known & labels.notna()).sum()), int(labels.isna().sum())])
    ref_counts = np.array([summary["counts"][k] for k in buckets] + [summary["counts"][OTHER],
                                                                      summary["counts"][MISSING]])
    value = psi_from_proportions(ref_counts / max(summary["n"], 1), batch_counts / max(n, 1))
    stat, p = chi2_from_counts(ref_counts, batch_counts)
    return {"kind": "categorical", "psi": value, "test": "chi2", "statistic": stat, "p_value": p,
            "reference_missing": summary["counts"][MISSING] / max(summary["n"], 1),
            "batch_missing": batch_counts[-1] / max(n, 1), "batch_other": batch_counts[-2] / max(n, 1)}
