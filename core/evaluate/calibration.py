"""Calibration: expected calibration error, reliability curve, temperature scaling."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar


def reliability_bins(y_true, p, n_bins: int = 15) -> dict[str, list[float]]:
    """Equal-width bins of P(class 1): mean predicted, observed frequency and count per bin."""
    y_true, p = np.asarray(y_true, dtype=float), np.clip(np.asarray(p, dtype=float), 0, 1)
    edges = np.linspace(0, 1, n_bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    sum_p = np.bincount(which, weights=p, minlength=n_bins)
    sum_y = np.bincount(which, weights=y_true, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {"edges": edges.tolist(), "mean_predicted": (sum_p / count).tolist(),
                "observed": (sum_y / count).tolist(), "count": count.tolist()}


def expected_calibration_error(y_true, p, n_bins: int = 15) -> float:
    """ECE: the count-weighted mean |observed − predicted| over equal-width bins."""
    b = reliability_bins(y_true, p, n_bins)
    count = np.asarray(b["count"], dtype=float)
    gap = np.abs(np.nan_to_num(np.asarray(b["observed"])) - np.nan_to_num(np.asarray(b["mean_predicted"])))
    return float(np.sum(count * gap) / max(count.sum(), 1))


def fit_temperature(logits, y_true) -> float:
    """The temperature T minimising the NLL of softmax(logits / T) (binary: one logit column)."""
    logits = np.asarray(logits, dtype=float)
    if logits.ndim == 1:
        logits = np.stack([np.zeros_like(logits), logits], axis=1)
    y = np.asarray(y_true, dtype=int)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return -float(np.mean(logp[np.arange(len(y)), y]))

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


def probabilities_to_logits(p) -> np.ndarray:
    """Log-probabilities (multi-class) or log-odds (binary P(class 1)), clipped away from 0 and 1."""
    p = np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    return np.log(p) if p.ndim == 2 else np.log(p / (1 - p))


def apply_temperature(logits, temperature: float) -> np.ndarray:
    z = np.asarray(logits, dtype=float) / temperature
    if z.ndim == 1:
        return 1 / (1 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def brier_score(y_true, p) -> float:
    """Brier score of P(class 1) (sklearn ``brier_score_loss``); lower is better."""
    from sklearn.metrics import brier_score_loss

    return float(brier_score_loss(np.asarray(y_true), np.asarray(p, dtype=float)))


def temperature_scale(p_val, y_val, p) -> tuple[np.ndarray, float]:
    """Fit a temperature on validation probabilities and apply it to ``p``.

    ``p_val`` / ``p``: binary P(class 1) ``(n,)`` or multi-class ``(n, k)`` probabilities.
    Returns ``(calibrated p, temperature)``; ranking (AUROC) is unchanged.
    """
    t = fit_temperature(probabilities_to_logits(p_val), y_val)
    return apply_temperature(probabilities_to_logits(p), t), t


def multiclass_brier(y_true, p) -> float:
    """Multi-class Brier score: mean over rows of sum_k (p_k − 1[y = k])²; lower is better."""
    p = np.asarray(p, dtype=float)
    onehot = np.eye(p.shape[1])[np.asarray(y_true, dtype=int)]
    return float(np.mean(np.sum((p - onehot) ** 2, axis=1)))


def _ece_brier(kind: str, y, p, n_bins: int) -> tuple[float, float]:
    y, p = np.asarray(y), np.asarray(p, dtype=float)
    if kind == "binary":
        return expected_calibration_error(y, p, n_bins), brier_score(y, p)
    if kind == "multiclass":
        correct = (p.argmax(1) == y).astype(int)
        return expected_calibration_error(correct, p.max(1), n_bins), multiclass_brier(y, p)
    return expected_calibration_error(y.ravel(), p.ravel(), n_bins), float(np.mean((p - y) ** 2))


def temperature_summary(kind: str, y, p, y_val, p_val, n_bins: int = 15) -> dict[str, float]:
    """ECE and Brier of ``p`` before and after a temperature fitted on validation (``y_val``, ``p_val``).

    binary: ``p`` is P(class 1); multiclass: ``(n, k)`` softmax probabilities (top-label ECE,
    multi-class Brier); multilabel: ``(n, k)`` sigmoid probabilities (one temperature for all
    labels, ECE and Brier pooled over labels). Returns ``{}`` when validation cannot fit one
    (fewer than two classes, or shapes that do not match).
    """
    y, p, y_val, p_val = (np.asarray(a) for a in (y, p, y_val, p_val))
    if kind not in ("binary", "multiclass", "multilabel") or len(y_val) == 0 or p_val.shape[1:] != p.shape[1:]:
        return {}
    if len(np.unique(y_val)) < 2:
        return {}
    if kind == "multilabel":
        t = fit_temperature(probabilities_to_logits(p_val.ravel()), y_val.ravel().astype(int))
        scaled = apply_temperature(probabilities_to_logits(p.ravel()), t).reshape(p.shape)
    else:
        scaled, t = temperature_scale(p_val, y_val.astype(int), p)
    ece, brier = _ece_brier(kind, y, p, n_bins)
    ece_t, brier_t = _ece_brier(kind, y, scaled, n_bins)
    return {"temperature": t, "temperature_fitted_on": f"validation (NLL, n={len(y_val)})", "brier": brier,
            "ece_before_temperature": ece, "brier_before_temperature": brier,
            "ece_after_temperature": ece_t, "brier_after_temperature": brier_t}
