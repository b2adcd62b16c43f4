"""``finetune``: fine-tune any Hugging Face encoder with the core Trainer (DeBERTa-v3 on a GPU).

Each essay becomes up to ``max_chunks`` token windows of ``max_length`` tokens covering the
whole text (see encoder.windows); the encoder's mean-pooled window vectors are averaged over
the essay's windows and a linear layer predicts the score normalised to [0, 1] on the
prompt's range (a per-prompt normalised regression). Early stopping uses the validation MSE
of the normalised score; QWK cut points per prompt are then fitted on the validation essays.
Saved as safetensors + config.json (TorchHead); the base encoder's config is read from
``encoder`` at load time.

Not in ``VERTICAL.models`` yet: the conformance check trains every registered head twice on
CPU, and fine-tuning MiniLM there takes minutes. To use it from the CLI on a GPU machine,
register it (``VERTICAL.models["finetune"] = FinetuneHead``) in a plug-in or notebook.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from verticalkit.core.errors import DataError
from verticalkit.core.heads import FitContext
from verticalkit.core.torch_head import TorchHead

from .data import prompt_key
from .encoder import resolve_encoder, windows
from .flags import ReviewFlagger
from .models import as_text, check_input, clip_words
from .thresholds import apply_cutpoints, fit_cutpoints


class EssayRegressor(nn.Module):
    """Encoder → mean pool per window → mean over the essay's windows → linear score."""

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, chunk_mask: torch.Tensor) -> torch.Tensor:
        b, c, length = input_ids.shape
        keep = chunk_mask.reshape(-1).bool()
        ids, mask = input_ids.reshape(b * c, length)[keep], attention_mask.reshape(b * c, length)[keep]
        width = int(mask.sum(1).max())  # trim padding columns: short essays cost little
        hidden = self.encoder(input_ids=ids[:, :width], attention_mask=mask[:, :width]).last_hidden_state
        m = mask[:, :width].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        vec = torch.zeros(b * c, pooled.shape[-1], dtype=pooled.dtype, device=pooled.device)
        vec[keep] = pooled
        w = chunk_mask.to(pooled.dtype).unsqueeze(-1)
        essay = (vec.reshape(b, c, -1) * w).sum(1) / w.sum(1).clamp(min=1)
        return self.head(essay)


class TokenWindows(Dataset):
    def __init__(self, items: list[dict[str, torch.Tensor]]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return self.items[i]


class FinetuneHead(TorchHead):
    """Fine-tuned encoder with a per-prompt normalised regression; see the module docstring."""

    def __init__(self, encoder: str = "all-MiniLM-L6-v2", max_length: int = 256, max_chunks: int = 8,
                 thresholds: bool = True):
        self.encoder = encoder
        self.max_length = max_length
        self.max_chunks = max_chunks
        self.thresholds = thresholds

    # -- preprocessing ----------------------------------------------------------------
    def _tokenizer(self):
        if getattr(self, "_tok", None) is None:
            from transformers import AutoTokenizer

            self._tok = AutoTokenizer.from_pretrained(resolve_encoder(self.encoder))
        return self._tok

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        X = check_input(X)
        keys = [prompt_key(p) for p in X["prompt"]]
        self.ranges_ = {k: [float(np.min(y[np.array(keys) == k])), float(np.max(y[np.array(keys) == k]))]
                        for k in sorted(set(keys))}
        self.cutpoints_: dict[str, list[float]] = {}
        flagger = ReviewFlagger().fit([as_text(t) for t in X["text"]], keys)
        self.flag_stats_ = flagger.stats

    def get_state(self) -> dict[str, Any]:
        return {"ranges": self.ranges_, "cutpoints": self.cutpoints_, "flag_stats": self.flag_stats_}

    def set_state(self, state: dict[str, Any]) -> None:
        self.ranges_, self.cutpoints_, self.flag_stats_ = state["ranges"], state["cutpoints"], state["flag_stats"]

    def _normalise(self, keys: list[str], y: np.ndarray) -> np.ndarray:
        lo = np.array([self.ranges_[k][0] for k in keys])
        hi = np.array([self.ranges_[k][1] for k in keys])
        return (np.asarray(y, float) - lo) / np.maximum(hi - lo, 1e-9)

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        X = check_input(X)
        keys = self._known_keys(X)
        tok = self._tokenizer()
        first = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        last = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        target = None if y is None else self._normalise(keys, y)
        items = []
        for i, text in enumerate(X["text"]):
            ids = tok(clip_words(text), add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
            wins = windows(ids, self.max_length, self.max_length - 2, self.max_chunks)
            input_ids = torch.zeros((self.max_chunks, self.max_length), dtype=torch.long)
            mask = torch.zeros_like(input_ids)
            chunk_mask = torch.zeros(self.max_chunks, dtype=torch.long)
            for j, w in enumerate(wins):
                full = [x for x in (first,) if x is not None] + w + [x for x in (last,) if x is not None]
                input_ids[j, :len(full)] = torch.tensor(full)
                mask[j, :len(full)] = 1
                chunk_mask[j] = 1
            item = {"input_ids": input_ids, "attention_mask": mask, "chunk_mask": chunk_mask}
            if target is not None:
                item["target"] = torch.tensor([target[i]], dtype=torch.float32)
            items.append(item)
        return TokenWindows(items)

    def _known_keys(self, X: pd.DataFrame) -> list[str]:
        keys = [prompt_key(p) for p in X["prompt"]]
        unknown = sorted(set(keys) - set(self.ranges_))
        if unknown:
            raise DataError(f"column 'prompt': prompt(s) {unknown} were not in the training data "
                            f"(known prompts: {sorted(self.ranges_)})")
        return keys

    # -- model ------------------------------------------------------------------------
    def build_module(self, X: Any, y: Any) -> nn.Module:
        from transformers import AutoConfig, AutoModel

        path = resolve_encoder(self.encoder)
        encoder = AutoModel.from_pretrained(path) if X is not None else AutoModel.from_config(
            AutoConfig.from_pretrained(path))
        return EssayRegressor(encoder)

    def forward_batch(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return module(batch["input_ids"], batch["attention_mask"], batch["chunk_mask"])

    def fit(self, X, y, X_val=None, y_val=None, context: FitContext | None = None):
        y = np.asarray(y, dtype=float)
        if y.ndim != 1:
            raise DataError("the finetune head predicts one score; use TraitsHead for several score columns")
        if context is not None:  # early stopping on the validation MSE of the normalised score
            context = FitContext(task=context.task, seed=context.seed, train=context.train,
                                 checkpoint_dir=context.checkpoint_dir, log_dir=context.log_dir,
                                 score_fn=lambda t, s: -float(np.mean((np.ravel(t) - np.ravel(s)) ** 2)))
        super().fit(X, y, X_val, y_val, context=context)
        if self.thresholds and X_val is not None and y_val is not None:
            keys = np.array(self._known_keys(X_val), dtype=object)
            raw = self._denormalise(keys, self.predict_outputs(X_val, batch_size=16).ravel())
            for k, (lo, hi) in self.ranges_.items():
                m = keys == k
                if m.sum() >= 10 and float(lo).is_integer() and float(hi).is_integer() and hi > lo:
                    self.cutpoints_[k] = fit_cutpoints(np.asarray(y_val, float)[m], raw[m], int(lo), int(hi)).tolist()
        return self

    def _denormalise(self, keys: np.ndarray, z: np.ndarray) -> np.ndarray:
        lo = np.array([self.ranges_[k][0] for k in keys])
        hi = np.array([self.ranges_[k][1] for k in keys])
        return lo + z * (hi - lo)

    def predict(self, X) -> np.ndarray:
        keys = np.array(self._known_keys(check_input(X)), dtype=object)
        raw = self._denormalise(keys, self.predict_outputs(X, batch_size=16).ravel())
        out = np.empty(len(raw))
        for k in set(keys):
            m = keys == k
            lo, hi = self.ranges_[k]
            out[m] = (apply_cutpoints(raw[m], np.asarray(self.cutpoints_[k]), int(lo)) if k in self.cutpoints_
                      else np.clip(raw[m], lo, hi))
        return out

    def review_flags(self, X) -> pd.Series:
        flagger = ReviewFlagger()
        flagger.stats = self.flag_stats_
        return flagger.flags([as_text(t) for t in check_input(X)["text"]], [prompt_key(p) for p in X["prompt"]])

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_tok", None)
        return state
