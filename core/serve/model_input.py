"""Raw inputs at predict and serve time: the dataset adapter's ``to_model_input`` hook.

A model is trained on what its adapter's ``load`` returns (``Split.X``), which may rename or
derive columns of the dataset's own file (the essay adapters turn ``essay`` / ``essay_set``
into ``text`` / ``prompt``). So that a file that trained can be scored as it is, a table that
lacks some of the model's input columns goes through ``to_model_input`` of the adapter the
model was trained with, built from the run's ``config.yaml`` (``dataset`` and ``data.*``; the
adapter's defaults when the model folder was copied out of its run directory).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..config import config_from_dict, load_yaml
from ..data.adapter import DatasetAdapter
from ..heads.predictor import Predictor
from ..registry import get_vertical
from .schemas import table_columns


def input_adapter(predictor: Predictor) -> DatasetAdapter | None:
    """The adapter the predictor was trained with, when it overrides ``to_model_input``; else None."""
    cls = get_vertical(predictor.vertical).datasets.get(predictor.dataset)
    if cls is None or cls.to_model_input is DatasetAdapter.to_model_input:
        return None
    params: dict[str, Any] = {}
    run_config = Path(predictor.path).parent / "config.yaml" if predictor.path is not None else None
    if run_config is not None and run_config.is_file():
        cfg = config_from_dict(load_yaml(run_config))
        if cfg.dataset == predictor.dataset:
            params = {k: v for k, v in cfg.data.items() if k in cls.param_names()}
    return cls(**params)


def has_raw_input(predictor: Predictor) -> bool:
    """Whether the predictor's adapter maps raw inputs (serve then accepts any record fields)."""
    return input_adapter(predictor) is not None


def to_model_input(predictor: Predictor, X: Any, adapter: DatasetAdapter | None = None) -> Any:
    """``X`` in the model's input format: unchanged when it is not a table or already holds every
    input column; otherwise mapped by the adapter's ``to_model_input`` (when it has one)."""
    columns = table_columns(predictor.input_schema)
    if columns is None or not isinstance(X, pd.DataFrame) or all(c in X.columns for c in columns):
        return X
    adapter = adapter or input_adapter(predictor)
    return X if adapter is None else adapter.to_model_input(X)
