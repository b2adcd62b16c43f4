"""Shared fixtures: real data location, offline mode, the toy vertical."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
if "VERTICALKIT_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["VERTICALKIT_DATA"] = str(SHARED_DATA)
sys.path.insert(0, str(Path(__file__).parent))


def real_data(dataset_id: str) -> Path:
    """The folder of a real dataset under $VERTICALKIT_DATA, or skip the test."""
    base = os.environ.get("VERTICALKIT_DATA")
    folder = Path(base) / dataset_id if base else None
    if folder is None or not folder.is_dir():
        pytest.skip(f"real data {dataset_id!r} not found: set VERTICALKIT_DATA to the folder holding {dataset_id}/")
    return folder


@pytest.fixture
def toy():
    from toy_vertical import toy_vertical

    from verticalkit.core.registry import register, unregister

    v = register(toy_vertical())
    yield v
    unregister(v.id)


@pytest.fixture(scope="module")
def fraud_registered():
    """The fraud vertical in the registry (its entry point, or registered here for the module)."""
    from verticalkit.core.registry import get_vertical, register, unregister
    from verticalkit.verticals.fraud import VERTICAL

    try:
        get_vertical("fraud")
    except Exception:  # noqa: BLE001 - entry point not installed
        register(VERTICAL)
        yield
        unregister("fraud")
    else:
        yield
