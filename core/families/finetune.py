"""``FineTunedEncoderText``: a Hugging Face encoder fine-tuned end to end on one text column
(mean-pooled tokens → a linear layer), trained by the core Trainer (progress: a line per
epoch in a log) and saved as safetensors. Texts are cut to ``max_length`` tokens;
``num_layers`` keeps the encoder's first layers only (faster on a CPU). Regression targets
are standardised for training. Loading rebuilds the encoder from ``encoder`` (offline: a
local folder or the Hugging Face cache) before reading the saved weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from ..heads.torch_head import TorchHead
from .base import frame
from .text import DEFAULT_ENCODER, as_text, encoder_path, mean_pool, quiet_transformers


class _Pooled(nn.Module):
    def __init__(self, encoder: nn.Module, n_outputs: int):
        super().__init__()
        self.encoder = encoder
        self.out = nn.Linear(encoder.config.hidden_size, n_outputs)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.out(mean_pool(hidden, attention_mask))


class _Tokens(Dataset):
    def __init__(self, enc: dict[str, torch.Tensor], y: Any = None):
        self.enc, self.y = enc, None if y is None else torch.as_tensor(np.asarray(y))

    def __len__(self) -> int:
        return len(self.enc["input_ids"])

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {k: v[i] for k, v in self.enc.items()}
        if self.y is not None:
            item["target"] = self.y[i]
        return item


class FineTunedEncoderText(TorchHead):
    """See the module docstring; ``text_column`` names the text column of the input table."""

    def __init__(self, text_column: str = "text", encoder: str = DEFAULT_ENCODER, max_length: int = 256,
                 num_layers: int | None = None):
        self.text_column = text_column
        self.encoder = encoder
        self.max_length = max_length
        self.num_layers = num_layers

    def _texts(self, X: Any) -> list[str]:
        if isinstance(X, (list, tuple)):
            return [as_text(t) for t in X]
        return [as_text(t) for t in frame(X, [self.text_column], type(self).__name__)[self.text_column]]

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        y = np.asarray(y, dtype=float)
        regression = self.task_kind_ not in ("binary", "multiclass")
        self.y_mean_ = float(y.mean()) if regression else 0.0
        self.y_std_ = float(y.std() or 1.0) if regression else 1.0

    def get_state(self) -> dict[str, Any]:
        return {"y_mean": self.y_mean_, "y_std": self.y_std_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.y_mean_, self.y_std_ = state["y_mean"], state["y_std"]

    def build_module(self, X: Any, y: Any) -> nn.Module:
        from transformers import AutoConfig, AutoModel

        path = encoder_path(self.encoder)
        config = AutoConfig.from_pretrained(path)
        if self.num_layers is not None:
            config.num_hidden_layers = max(1, min(int(self.num_layers), config.num_hidden_layers))
        with quiet_transformers():
            encoder = AutoModel.from_pretrained(path, config=config) if X is not None else AutoModel.from_config(config)
        return _Pooled(encoder, self.n_outputs_)

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(encoder_path(self.encoder))
        enc = tok(self._texts(X), padding="max_length", truncation=True, max_length=self.max_length,
                  return_tensors="pt")
        if y is not None and self.task_kind_ not in ("binary", "multiclass"):
            y = (np.asarray(y, dtype=np.float32) - self.y_mean_) / self.y_std_
        return _Tokens({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}, y)

    def forward_batch(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return module(batch["input_ids"], batch["attention_mask"])

    def outputs_to_scores(self, outputs: np.ndarray) -> np.ndarray:
        scores = super().outputs_to_scores(outputs)
        return scores if self.task_kind_ in ("binary", "multiclass") else scores * self.y_std_ + self.y_mean_
