"""``verticalkit reproduce``: re-measure a vertical's reference results.

Each entry of ``reference_results.yaml`` (docs/architecture.md) is trained again through the
same pipeline as ``verticalkit train`` — once per seed, and once per fold when the
entry has ``folds: {param: fold, values: [...]}`` — and the mean of ``metric`` is
compared with ``value ± tolerance``. ``config`` (optional) holds the entry's
``data`` / ``model_params`` / ``train`` / ``eval`` overrides.
"""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import merge_into
from ..errors import ConfigError
from ..registry import Vertical, get_vertical

REQUIRED_KEYS = ("dataset", "protocol", "model", "metric", "value", "seeds", "tolerance", "anchors", "command")


def load_reference_results(vertical: Vertical) -> list[dict[str, Any]]:
    """Parse and check a vertical's reference results file."""
    path = Path(vertical.reference_results)
    if not path.is_file():
        raise ConfigError(f"{path}: reference results file not found; every vertical ships one (a YAML list)")
    try:
        entries = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: must be a YAML list of entries (- dataset: ... metric: ... value: ...)")
    for i, e in enumerate(entries):
        if not isinstance(e, dict):
            raise ConfigError(f"{path}: entry {i} is not a mapping")
        missing = [k for k in REQUIRED_KEYS if k not in e]
        if missing:
            raise ConfigError(f"{path}: entry {i} ({e.get('dataset')}/{e.get('model')}) lacks {missing}; "
                              f"see docs/architecture.md 'Reference results file'")
        if e["dataset"] not in vertical.datasets:
            raise ConfigError(f"{path}: entry {i} names dataset {e['dataset']!r}, not one of {list(vertical.datasets)}")
        if e["model"] not in vertical.models:
            raise ConfigError(f"{path}: entry {i} names model {e['model']!r}, not one of {list(vertical.models)}")
        if not isinstance(e["value"], (int, float)) or not isinstance(e["tolerance"], (int, float)):
            raise ConfigError(f"{path}: entry {i}: value and tolerance must be numbers")
        if not isinstance(e["seeds"], list) or not e["seeds"]:
            raise ConfigError(f"{path}: entry {i}: seeds must be a non-empty list")
        if not isinstance(e["anchors"], list):
            raise ConfigError(f"{path}: entry {i}: anchors must be a list of {{name, value}}")
    return entries


def measure_entry(vertical_id: str, entry: dict[str, Any], out: Path) -> dict[str, Any]:
    """Train every seed (and fold) of one entry; return the values and their mean."""
    from .run import build_config, train

    folds = entry.get("folds")
    fold_values = folds["values"] if folds else [None]
    values = []
    for seed in entry["seeds"]:
        for fold in fold_values:
            name = f"{entry['dataset']}-{entry['model']}-{entry['protocol']}-s{seed}" + (f"-f{fold}" if fold is not None else "")
            cfg = build_config(vertical_id, entry["dataset"], entry["model"], str(out / name))
            overrides = copy.deepcopy(entry.get("config") or {})
            overrides["seed"] = seed
            if fold is not None:
                overrides.setdefault("data", {})[folds["param"]] = fold
            merge_into(cfg, overrides, "")
            run_dir = train(cfg, overwrite=True)
            metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
            if entry["metric"] not in metrics:
                raise ConfigError(f"metric {entry['metric']!r} not in metrics.json (has {list(metrics)})")
            values.append(metrics[entry["metric"]]["value"])
    return {"values": values, "mean": float(np.mean(values)), "std": float(np.std(values))}


def reproduce(vertical_id: str, *, dataset: str | None = None, model: str | None = None,
              out: str | None = None) -> list[dict[str, Any]]:
    """Re-measure the (selected) entries; print one line each; return the results."""
    vertical = get_vertical(vertical_id)
    entries = [e for e in load_reference_results(vertical)
               if (dataset is None or e["dataset"] == dataset) and (model is None or e["model"] == model)]
    if not entries:
        raise ConfigError(f"no reference results of {vertical_id!r} match dataset={dataset} model={model}")
    results = []
    with tempfile.TemporaryDirectory(prefix="verticalkit-reproduce-") as tmp:
        base = Path(out) if out else Path(tmp)
        for e in entries:
            label = f"{e['dataset']} {e['protocol']} {e['model']} {e['metric']}"
            if e.get("reproduce") is False:
                print(f"SKIP {label}: {e.get('reproduce_note', 'measured by its command, not by train runs')}")
                results.append({"entry": e, "ok": True, "skipped": True})
                continue
            m = measure_entry(vertical_id, e, base)
            ok = abs(m["mean"] - e["value"]) <= e["tolerance"]
            print(f"{'OK  ' if ok else 'FAIL'} {label}: {m['mean']:.4f} (reference {e['value']} ± {e['tolerance']}; "
                  f"runs {[round(v, 4) for v in m['values']]})", flush=True)
            results.append({"entry": e, "ok": ok, **m})
    return results
