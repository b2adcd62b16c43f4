"""Torch heads of the fraud vertical, trained by the core Trainer (core.heads.torch_head.TorchHead).

Inputs as the sklearn heads: a DataFrame of numeric and categorical columns. Numeric
columns are standardised (clipped to ±10 sd); NaN (±inf read as NaN) becomes the training
median, and each column that had NaN in training adds a 0/1 missing-indicator input after
the numerics (medians and indicators are saved with the model); each categorical column gets an
embedding whose index 0 is reserved for categories not seen in training (and
``missing``), so an unseen category maps to that learned "unknown" vector.

* ``mlp``: [numeric, embeddings] → Linear-ReLU-Dropout blocks → 2 logits;
* ``ft_transformer``: FT-Transformer (Gorishniy et al., 2021): one token per feature
  (numeric: x * w_j + b_j; categorical: embedding), a [CLS] token, pre-norm Transformer
  layers, logits from the [CLS] output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from verticalkit.core.heads.torch_head import TorchHead

from .models import FraudColumns


class TabularDataset(Dataset):
    def __init__(self, num: np.ndarray, cat: np.ndarray, y: np.ndarray | None = None):
        self.num = torch.as_tensor(num, dtype=torch.float32)
        self.cat = torch.as_tensor(cat, dtype=torch.long)
        self.y = None if y is None else torch.as_tensor(np.asarray(y), dtype=torch.long)

    def __len__(self) -> int:
        return len(self.num)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"num": self.num[i], "cat": self.cat[i]}
        if self.y is not None:
            item["target"] = self.y[i]
        return item


class TabularTorchHead(FraudColumns, TorchHead):
    """Shared preprocessing (standardise numerics, index categories) and dataset."""

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        Xc = self._fit_columns(X)
        num = Xc[self.numeric_features_].to_numpy(dtype=np.float64)
        nan = np.isnan(num)
        self.indicator_ = np.flatnonzero(nan.any(axis=0)).tolist()
        self.median_ = [float(np.median(v[~m])) if (~m).any() else 0.0 for v, m in zip(num.T, nan.T)]
        num = np.where(nan, np.asarray(self.median_), num)
        self.mean_ = num.mean(axis=0).tolist() if num.shape[1] else []
        std = num.std(axis=0)  # a constant column: scale 1 (float rounding of x - mean must not blow up)
        self.scale_ = np.where(std > 1e-12, std + 1e-9, 1.0).tolist() if num.shape[1] else []
        self.vocab_ = {c: sorted(set(Xc[c])) for c in self.categorical_features_}

    def get_state(self) -> dict[str, Any]:
        return {"feature_names_in": self.feature_names_in_, "categorical": self.categorical_features_,
                "numeric": self.numeric_features_, "mean": self.mean_, "scale": self.scale_, "vocab": self.vocab_,
                "median": self.median_, "indicator": self.indicator_, "levels": self.category_levels_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.feature_names_in_ = state["feature_names_in"]
        self.categorical_features_ = state["categorical"]
        self.numeric_features_ = state["numeric"]
        self.mean_, self.scale_, self.vocab_ = state["mean"], state["scale"], state["vocab"]
        self.median_ = state.get("median", self.mean_)  # models saved before NaN support: no NaN seen
        self.indicator_ = state.get("indicator", [])
        self.category_levels_ = state.get("levels", {})

    def n_inputs(self) -> int:
        """Width of the numeric input of the network: the numerics, then the missing indicators."""
        return len(self.numeric_features_) + len(self.indicator_)

    def cardinalities(self) -> list[int]:
        return [len(self.vocab_[c]) + 1 for c in self.categorical_features_]  # +1: index 0 = unseen

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        Xc = self._clean(X)
        num = Xc[self.numeric_features_].to_numpy(dtype=np.float64)
        if num.shape[1]:
            nan = np.isnan(num)
            num = np.where(nan, np.asarray(self.median_), num)
            num = np.clip((num - np.asarray(self.mean_)) / np.asarray(self.scale_), -10, 10)
            num = np.column_stack([num, nan[:, self.indicator_].astype(np.float64)])
        cat = np.zeros((len(Xc), len(self.categorical_features_)), dtype=np.int64)
        for j, c in enumerate(self.categorical_features_):
            index = {v: i + 1 for i, v in enumerate(self.vocab_[c])}
            cat[:, j] = pd.Series(Xc[c]).map(index).fillna(0).to_numpy(dtype=np.int64)
        return TabularDataset(num.astype(np.float32), cat, y)

    def forward_batch(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return module(batch["num"], batch["cat"])

    def export_module(self) -> Any:
        """Export hook: standardisation, embeddings, network and softmax in the graph; text →
        embedding index by the table contract in preprocessing.json (export.py)."""
        from .export import export_torch

        return export_torch(self)


class _MLP(nn.Module):
    def __init__(self, n_num: int, cards: list[int], hidden: list[int], dropout: float, n_out: int):
        super().__init__()
        self.embs = nn.ModuleList([nn.Embedding(k, min(16, (k + 1) // 2 + 1)) for k in cards])
        width = n_num + sum(e.embedding_dim for e in self.embs)
        layers: list[nn.Module] = []
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU(), nn.Dropout(dropout)]
            width = h
        layers.append(nn.Linear(width, n_out))
        self.net = nn.Sequential(*layers)

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        parts = [num] + [e(cat[:, j]) for j, e in enumerate(self.embs)]
        return self.net(torch.cat(parts, dim=1))


class MLPHead(TabularTorchHead):
    """Multi-layer perceptron on standardised numerics + categorical embeddings."""

    def __init__(self, hidden: tuple[int, ...] = (128, 64), dropout: float = 0.1):
        self.hidden = hidden
        self.dropout = dropout

    def build_module(self, X: Any, y: Any) -> nn.Module:
        return _MLP(self.n_inputs(), self.cardinalities(), list(self.hidden), self.dropout,
                    self.n_outputs_)


class _FTTransformer(nn.Module):
    def __init__(self, n_num: int, cards: list[int], d: int, n_layers: int, n_heads: int, dropout: float,
                 n_out: int):
        super().__init__()
        self.num_w = nn.Parameter(torch.randn(n_num, d) * d ** -0.5)
        self.num_b = nn.Parameter(torch.zeros(n_num, d))
        self.embs = nn.ModuleList([nn.Embedding(k, d) for k in cards])
        self.cls = nn.Parameter(torch.randn(1, 1, d) * d ** -0.5)
        layer = nn.TransformerEncoderLayer(d, n_heads, dim_feedforward=2 * d, dropout=dropout, batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(d), nn.ReLU(), nn.Linear(d, n_out))

    def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
        tokens = [num.unsqueeze(-1) * self.num_w + self.num_b]
        tokens += [e(cat[:, j]).unsqueeze(1) for j, e in enumerate(self.embs)]
        x = torch.cat([self.cls.expand(num.shape[0], -1, -1), *tokens], dim=1)  # shape[0]: a dynamic batch when traced
        return self.head(self.encoder(x)[:, 0])


class FTTransformerHead(TabularTorchHead):
    """FT-Transformer: feature tokens (numeric and categorical) + [CLS] + Transformer."""

    def __init__(self, d_token: int = 32, n_layers: int = 2, n_heads: int = 4, dropout: float = 0.1):
        self.d_token = d_token
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.dropout = dropout

    def build_module(self, X: Any, y: Any) -> nn.Module:
        return _FTTransformer(self.n_inputs(), self.cardinalities(), self.d_token, self.n_layers,
                              self.n_heads, self.dropout, self.n_outputs_)
