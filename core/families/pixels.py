"""Images as float arrays, without importing torch at module import: layout, [0, 1] scaling,
square crop and resize, channel matching. The image family's input conversion
(:func:`float_images`); the medical vertical's file loaders use the same pieces.

An image is ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` (``C`` in 1, 3, 4 and the first axis not
1 or 3: channels last); uint8 pixels are scaled to [0, 1], other numbers taken as they are
(floats in [0, 1] expected).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import DataError

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601: RGB → grey


def to_chw(image: Any, i: int = 0) -> np.ndarray:
    """One image as float32 ``(C, H, W)``; uint8 scaled to [0, 1]; ``i`` names it in the error."""
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[None]
    elif a.ndim == 3 and a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3):
        a = np.moveaxis(a, -1, 0)  # channels last → first
    if a.ndim != 3 or not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
        raise DataError(f"image {i}: shape {a.shape} / type {a.dtype} is not an image "
                        f"(H×W, H×W×C or C×H×W numbers)")
    return a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32, copy=False)


def center_square(x: np.ndarray) -> np.ndarray:
    """Centre-crop ``(..., H, W)`` to a square (MedMNIST's preprocessing, torchvision's CenterCrop)."""
    h, w = x.shape[-2:]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    return x[..., top:top + s, left:left + s]


def resize(x: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop ``(C, H, W)`` to a square and resize it to ``(C, size, size)`` (bilinear,
    antialiased, clipped to [0, 1]); an image already that size is returned as it is."""
    import torch
    import torch.nn.functional as F

    x = center_square(np.asarray(x, dtype=np.float32))
    if x.shape[-1] == size and x.shape[-2] == size:
        return np.ascontiguousarray(x)
    t = torch.from_numpy(np.ascontiguousarray(x))[None]
    out = F.interpolate(t, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out[0].clamp_(0, 1).numpy()


def match_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """``(..., C, H, W)`` with ``channels`` channels: an alpha channel (C = 2 or 4) dropped, grey →
    RGB by repetition, RGB → grey by ITU-R BT.601 luma."""
    c = x.shape[-3]
    if c != channels and c in (2, 4):
        x, c = x[..., :c - 1, :, :], c - 1
    if c == channels:
        return x
    if c == 1:
        return np.repeat(x, channels, axis=-3)
    if c == 3 and channels == 1:
        w = np.asarray(LUMA, dtype=x.dtype).reshape(3, 1, 1)
        return (x * w).sum(axis=-3, keepdims=True)
    raise DataError(f"cannot convert an image with {c} channels to {channels}")


def float_images(X: Any, channels: int, size: int) -> np.ndarray:
    """Float32 ``(n, channels, size, size)`` in [0, 1] from an ``(n, H, W)`` / ``(n, C, H, W)`` /
    ``(n, H, W, C)`` array or a list of images of any sizes (each :func:`resize`-d, channels matched)."""
    if isinstance(X, np.ndarray) and X.ndim == 3:
        X = X[:, None]  # a stack of grey images
    if isinstance(X, np.ndarray) and X.ndim == 4 and np.issubdtype(X.dtype, np.number):
        if X.shape[1] not in (1, 3, 4) and X.shape[-1] in (1, 3, 4):
            X = np.moveaxis(X, -1, 1)  # channels last
        arr = X.astype(np.float32) / 255.0 if X.dtype == np.uint8 else X.astype(np.float32, copy=False)
        if arr.shape[-2:] != (size, size):
            arr = np.stack([resize(a, size) for a in arr]) if len(arr) else arr.reshape(0, arr.shape[1], size, size)
        return match_channels(arr, channels)
    items = [match_channels(resize(to_chw(x, i), size), channels) for i, x in enumerate(X)]
    return np.stack(items) if items else np.zeros((0, channels, size, size), dtype=np.float32)
