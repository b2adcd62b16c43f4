"""A tiny concrete TorchHead (standardised MLP on a numpy array): test fixture and example."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from verticalkit.core.torch_head import TorchHead


class ArrayDataset(Dataset):
    def __init__(self, X: np.ndarray, y: np.ndarray | None = None):
        self.X = torch.as_tensor(X, dtype=torch.float32)
        self.y = None if y is None else torch.as_tensor(y)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"inputs": self.X[i]}
        if self.y is not None:
            item["target"] = self.y[i]
        return item


class MLPHead(TorchHead):
    def __init__(self, hidden: int = 32, dropout: float = 0.1):
        self.hidden = hidden
        self.dropout = dropout

    def fit_preprocessing(self, X, y):
        X = np.asarray(X, dtype=np.float32)
        self.n_features_in_ = X.shape[1]
        self.mean_ = X.mean(0).tolist()
        self.scale_ = (X.std(0) + 1e-6).tolist()

    def get_state(self):
        return {"n_features_in": self.n_features_in_, "mean": self.mean_, "scale": self.scale_}

    def set_state(self, state):
        self.n_features_in_, self.mean_, self.scale_ = state["n_features_in"], state["mean"], state["scale"]

    def build_module(self) -> nn.Module:
        return nn.Sequential(nn.Linear(self.n_features_in_, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
                             nn.Linear(self.hidden, self.n_outputs_))

    def make_dataset(self, X, y=None):
        X = (np.asarray(X, dtype=np.float32) - np.asarray(self.mean_, np.float32)) / np.asarray(self.scale_, np.float32)
        return ArrayDataset(X, y)


def make_data(n: int = 600, d: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = ((X[:, 0] - X[:, 1] + 0.5 * rng.normal(size=n)) > 0).astype(np.int64)
    return X, y
