"""Score scales: a prompt's (min, max, step), inferred from its scores, and scores as integer ranks.

A scale of 1.0–5.0 in half points has step 0.5 and nine ranks 0..8; ASAP prompt 1 (2–12) has
step 1. QWK and the cut points work on ranks, so half-point scales are scored like integer ones.
Scores that fit no step of :data:`STEPS` (continuous targets) have step ``None``: predictions are
then clipped rather than snapped, and QWK ranks them by rounding to whole points.
"""

from __future__ import annotations

import numpy as np

STEPS = (1.0, 0.5, 0.25, 0.2, 0.1)  # largest first: integer scores get step 1
TOLERANCE = 1e-6


def infer_step(values, low: float | None = None) -> float | None:
    """The largest step of :data:`STEPS` every score lies on, counting from ``low`` (default: the minimum)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    low = float(np.min(v)) if low is None else low
    return next((step for step in STEPS if on_scale(v, low, step)), None)


def on_scale(values, low: float, step: float) -> bool:
    """Whether every score is ``low`` plus a whole number of steps."""
    q = (np.asarray(values, dtype=float) - low) / step
    return bool(np.all(np.abs(q - np.rint(q)) < TOLERANCE * max(1.0, float(np.max(np.abs(q), initial=0)))))


def score_scale(values) -> tuple[float, float, float | None]:
    """(min, max, step) of a prompt's scores; step ``None`` where no step of :data:`STEPS` fits."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    lo, hi = float(np.min(v)), float(np.max(v))
    return lo, hi, infer_step(v, lo)


def n_ranks(low: float, high: float, step: float | None) -> int:
    """Number of score levels of the scale (whole points where step is None)."""
    return int(np.rint((high - low) / (step or 1.0))) + 1


def to_ranks(values, low: float, high: float, step: float | None) -> np.ndarray:
    """Scores as ranks 0..K-1 on the scale: rounded to the nearest level, clipped to the range.

    Step None (continuous): whole points from ``low``, as :func:`core.evaluate.metrics.quadratic_weighted_kappa` rounds.
    """
    v = np.asarray(values, dtype=float)
    if step is None:
        low, high, step = float(np.rint(low)), float(np.rint(high)), 1.0
    return np.clip(np.rint((v - low) / step), 0, n_ranks(low, high, step) - 1).astype(int)


def snap(values, low: float, high: float, step: float | None) -> np.ndarray:
    """Scores moved to the nearest level of the scale (clipped only when the step is None)."""
    if step is None:
        return np.clip(np.asarray(values, dtype=float), low, high)
    return low + step * to_ranks(values, low, high, step)
