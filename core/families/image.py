"""Image heads on arrays of images: ``CNNImage`` (:class:`SmallCNN`, also the medical ``cnn`` head's network) and
``TimmImage`` (any timm backbone, pretrained weights optional), trained by the core Trainer
(progress per epoch) and saved as safetensors.

Input: an array ``(n, H, W)`` / ``(n, H, W, C)`` / ``(n, C, H, W)``, a list of such images, or
a table / dict whose ``image_key`` column holds one image per row. uint8 pixels are scaled
to [0, 1]; every image is resized to ``size`` × ``size`` with ``channels`` channels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..errors import DataError
from ..heads.torch_head import TorchHead


def image_array(X: Any, image_key: str, channels: int, size: int) -> torch.Tensor:
    """``X`` as a float tensor ``(n, channels, size, size)``; see the module docstring."""
    if isinstance(X, (pd.DataFrame, dict)):
        if image_key not in X:
            raise DataError(f"image input has no column {image_key!r} (got {list(X.keys())[:20]}); set image_key")
        X = list(X[image_key])
    images = []
    for i, im in enumerate(X if not isinstance(X, np.ndarray) or X.ndim != 3 or channels != 1 else X[:, None]):
        a = np.asarray(im)
        if a.ndim == 2:
            a = a[None]
        elif a.ndim == 3 and a.shape[-1] in (1, 3, 4) and a.shape[0] not in (1, 3):
            a = np.moveaxis(a, -1, 0)  # channels last → first
        if a.ndim != 3 or not np.issubdtype(a.dtype, np.number):
            raise DataError(f"image {i}: shape {a.shape} / type {a.dtype} is not an image (H×W, H×W×C or C×H×W numbers)")
        t = torch.as_tensor(a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0))[:channels]
        if t.shape[0] != channels:
            t = t.mean(0, keepdim=True).expand(channels, -1, -1)
        images.append(nn.functional.interpolate(t[None], size=(size, size), mode="bilinear", align_corners=False)[0])
    return torch.stack(images) if images else torch.zeros((0, channels, size, size))


class _Images(Dataset):
    def __init__(self, x: torch.Tensor, y: Any = None):
        self.x, self.y = x, None if y is None else torch.as_tensor(np.asarray(y))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = {"inputs": self.x[i]}
        if self.y is not None:
            item["target"] = self.y[i]
        return item


class ImageHead(TorchHead):
    image_key: str = "image"
    channels: int = 1
    size: int = 28

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        return _Images(image_array(X, self.image_key, self.channels, self.size), y)


class SmallCNN(nn.Module):
    """A small VGG-style CNN: 3 stages of two 3x3 conv-BN-ReLU (``width``, ``2 * width``,
    ``4 * width`` filters; max-pool between stages), global average pooling, dropout, a linear
    layer. Inputs in [0, 1] are centred as ``(x - 0.5) / 0.25``."""

    def __init__(self, in_channels: int, n_out: int, width: int = 32, dropout: float = 0.2):
        super().__init__()

        def block(c_in: int, c_out: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *block(in_channels, w), *block(w, w), nn.MaxPool2d(2),
            *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
            *block(2 * w, 4 * w), *block(4 * w, 4 * w), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(4 * w, n_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features((x - 0.5) / 0.25))


class CNNImage(ImageHead):
    """:class:`SmallCNN` (``width``, ``dropout``) trained end to end."""

    def __init__(self, image_key: str = "image", channels: int = 1, size: int = 28, width: int = 16,
                 dropout: float = 0.2):
        self.image_key = image_key
        self.channels = channels
        self.size = size
        self.width = width
        self.dropout = dropout

    def build_module(self, X: Any, y: Any) -> nn.Module:
        return SmallCNN(self.channels, self.n_outputs_, self.width, self.dropout)


class TimmImage(ImageHead):
    """A timm backbone (``backbone``: any ``timm.list_models()`` name) with a new classifier;
    ``pretrained`` loads timm's weights (from the local Hugging Face cache when offline)."""

    def __init__(self, image_key: str = "image", backbone: str = "resnet10t", channels: int = 3, size: int = 64,
                 pretrained: bool = False):
        self.image_key = image_key
        self.backbone = backbone
        self.channels = channels
        self.size = size
        self.pretrained = pretrained

    def build_module(self, X: Any, y: Any) -> nn.Module:
        import timm

        from ..errors import ConfigError

        if not timm.is_model(self.backbone):
            raise ConfigError(f"timm has no backbone {self.backbone!r}; see timm.list_models()")
        return timm.create_model(self.backbone, pretrained=self.pretrained and X is not None,
                                 num_classes=self.n_outputs_, in_chans=self.channels)
