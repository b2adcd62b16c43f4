"""Atomic, resumable checkpoints: safetensors weights + a weights-only torch state file.

Layout of ``<checkpoint_dir>/last/`` (replaced atomically as a whole):

* ``model.safetensors``: the current weights;
* ``best.safetensors``: the best weights so far (early stopping), when there is a score;
* ``trainer_state.pt``: optimizer, scheduler, grad-scaler and RNG states, counters and
  early-stopping state — only tensors and plain Python values, loaded with
  ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from ..errors import ModelLoadError
from ..io import atomic_dir, atomic_path

WEIGHTS = "model.safetensors"
BEST = "best.safetensors"
STATE = "trainer_state.pt"


def module_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A contiguous CPU copy of the module's state dict (safetensors wants no shared storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_weights(path: str | Path, module: torch.nn.Module) -> None:
    with atomic_path(path) as tmp:
        save_file(module_state(module), str(tmp))


def load_weights(path: str | Path, module: torch.nn.Module,
                 upgrade: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None) -> None:
    """Load safetensors weights (``upgrade``: renames the keys of an older layout first); a file of
    another architecture raises :class:`ModelLoadError`."""
    try:
        state = load_file(str(path))
    except Exception as e:  # truncated or not a safetensors file
        raise ModelLoadError(f"{path}: not a readable safetensors file ({e}); re-save or retrain the model") from e
    if upgrade is not None:
        state = upgrade(state)
    check_compatible(path, state, module)
    module.load_state_dict(state)


def check_compatible(path: str | Path, state: dict[str, torch.Tensor], module: torch.nn.Module) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape))
    if missing or extra or shapes:
        detail = (f"missing {missing[:3]}" if missing else "") + (f" unexpected {extra[:3]}" if extra else "") + \
                 (f" shape differs for {shapes[:3]}" if shapes else "")
        raise ModelLoadError(f"{path}: checkpoint is from a different model ({detail.strip()}); "
                             f"use another --out folder or delete the stale checkpoints/ folder")


# -- RNG states as weights_only-loadable values ---------------------------------------------
def rng_state() -> dict[str, Any]:
    """This process's torch / CUDA / numpy / Python RNG states (tensors and plain values only)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
            "python": random.getstate()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


# -- trainer checkpoints --------------------------------------------------------------------
def save_checkpoint(folder: str | Path, module: torch.nn.Module, state: dict[str, Any],
                    best: dict[str, torch.Tensor] | None = None) -> None:
    """Write ``folder/last/`` atomically: weights, trainer state and the best weights.

    ``best``: new best weights to write; None keeps the previous checkpoint's best file
    (hard-linked, not copied, where the file system allows).
    """
    last = Path(folder) / "last"
    with atomic_dir(last) as tmp:
        save_file(module_state(module), str(tmp / WEIGHTS))
        if best is not None:
            save_file(best, str(tmp / BEST))
        elif (last / BEST).is_file():
            try:
                os.link(last / BEST, tmp / BEST)
            except OSError:
                shutil.copy2(last / BEST, tmp / BEST)
        torch.save(state, tmp / STATE)


def load_checkpoint(folder: str | Path, module: torch.nn.Module) -> tuple[dict[str, Any], dict | None] | None:
    """Load ``folder/last/`` into ``module``; return (trainer state, best weights or None), or None."""
    last = Path(folder) / "last"
    if not (last / WEIGHTS).is_file() or not (last / STATE).is_file():
        return None
    load_weights(last / WEIGHTS, module)
    try:
        state = torch.load(last / STATE, weights_only=True)
    except Exception as e:
        raise ModelLoadError(f"{last / STATE}: unreadable trainer state ({str(e).splitlines()[0]}); "
                             f"delete the checkpoints/ folder to start over") from e
    best = None
    if (last / BEST).is_file():
        best = load_file(str(last / BEST))
        check_compatible(last / BEST, best, module)
    return state, best
