"""Stacking per prompt: a ridge on several models' scores, then QWK cut points.

Fitted on essays none of the stacked models trained on (the validation split): per prompt, the
inputs are standardised, a ridge maps them to the score, and cut points maximising QWK map its
output to the prompt's scale (thresholds.py). A prompt with under ``min_essays`` validation
essays gets the mean of its inputs, rounded to the scale. The fitted state is plain JSON.
Used by the finetune head (``model_params.stack``) and benchmarks/essay_finetune_gpu.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import Ridge

from .scales import snap
from .thresholds import apply_cutpoints, fit_cutpoints


class PromptStack:
    """Per-prompt ridge on model scores + QWK cut points; see the module docstring."""

    def __init__(self, alpha: float = 1.0, min_essays: int = 10):
        self.alpha = alpha
        self.min_essays = min_essays

    def fit(self, inputs: np.ndarray, y: np.ndarray, keys: np.ndarray, ranges: dict, steps: dict) -> PromptStack:
        """``inputs``: (n, k) scores on the prompt's scale; ``ranges`` / ``steps``: per prompt key."""
        inputs, y, keys = np.asarray(inputs, float), np.asarray(y, float), np.asarray(keys, dtype=object)
        self.prompts_: dict[str, dict[str, Any]] = {}
        for key in sorted(set(keys)):
            m = keys == key
            lo, hi = ranges[key]
            step = steps.get(key)
            if m.sum() < self.min_essays or hi <= lo:
                self.prompts_[key] = {"range": [lo, hi], "step": step}
                continue
            mu, sd = inputs[m].mean(axis=0), inputs[m].std(axis=0) + 1e-9
            ridge = Ridge(alpha=self.alpha).fit((inputs[m] - mu) / sd, y[m])
            fitted = ridge.predict((inputs[m] - mu) / sd)
            cut = fit_cutpoints(y[m], fitted, lo, hi, step).tolist() if step is not None else None
            self.prompts_[key] = {"range": [lo, hi], "step": step, "mu": mu.tolist(), "sd": sd.tolist(),
                                  "coef": ridge.coef_.tolist(), "intercept": float(ridge.intercept_), "cut": cut}
        return self

    def predict(self, inputs: np.ndarray, keys: np.ndarray) -> np.ndarray:
        """Scores on each prompt's scale."""
        inputs, keys = np.asarray(inputs, float), np.asarray(keys, dtype=object)
        out = np.empty(len(keys))
        for key in set(keys):
            m = keys == key
            p = self.prompts_[key]
            (lo, hi), step = p["range"], p["step"]
            if "coef" not in p:
                out[m] = snap(inputs[m].mean(axis=1), lo, hi, step)
                continue
            raw = ((inputs[m] - np.asarray(p["mu"])) / np.asarray(p["sd"])) @ np.asarray(p["coef"]) + p["intercept"]
            cut = p["cut"]
            out[m] = apply_cutpoints(raw, np.asarray(cut), lo, step) if cut is not None else np.clip(raw, lo, hi)
        return out

    def get_state(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "min_essays": self.min_essays, "prompts": self.prompts_}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PromptStack:
        stack = cls(alpha=state["alpha"], min_essays=state["min_essays"])
        stack.prompts_ = state["prompts"]
        return stack
