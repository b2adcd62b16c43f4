"""Atomic, resumable checkpoints: safetensors weights + a weights-only torch state file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import ModelLoadError
from .io import atomic_dir, atomic_path

WEIGHTS = "model.safetensors"
STATE = "trainer_state.pt"


def module_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A contiguous CPU copy of the module's state dict (safetensors wants no shared storage)."""
    return {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}


def save_weights(path: str | Path, module: torch.nn.Module) -> None:
    with atomic_path(path) as tmp:
        save_file(module_state(module), str(tmp))


def load_weights(path: str | Path, module: torch.nn.Module) -> None:
    """Load safetensors weights; a file of another architecture raises :class:`ModelLoadError`."""
    state = load_file(str(path))
    check_compatible(path, state, module)
    module.load_state_dict(state)


def check_compatible(path: str | Path, state: dict[str, torch.Tensor], module: torch.nn.Module) -> None:
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    extra = sorted(set(state) - set(own))
    shapes = [k for k in set(own) & set(state) if tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or extra or shapes:
        detail = (f"missing {missing[:3]}" if missing else "") + (f" unexpected {extra[:3]}" if extra else "") + \
                 (f" shape differs for {shapes[:3]}" if shapes else "")
        raise ModelLoadError(f"{path}: checkpoint is from a different model ({detail.strip()}); "
                             f"use another --out folder or delete the stale checkpoints/ folder")


def save_checkpoint(folder: str | Path, module: torch.nn.Module, state: dict[str, Any]) -> None:
    """Write ``folder/last/`` atomically: weights and the trainer state (optimizer, RNG, counters)."""
    with atomic_dir(Path(folder) / "last") as tmp:
        save_file(module_state(module), str(tmp / WEIGHTS))
        torch.save(state, tmp / STATE)


def load_checkpoint(folder: str | Path, module: torch.nn.Module) -> dict[str, Any] | None:
    """Load ``folder/last/`` into ``module``; return the trainer state, or None when there is none."""
    last = Path(folder) / "last"
    if not (last / WEIGHTS).is_file() or not (last / STATE).is_file():
        return None
    load_weights(last / WEIGHTS, module)
    return torch.load(last / STATE, weights_only=True)
