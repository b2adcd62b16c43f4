"""Heads of the medical imaging vertical.

Inputs: ``(N, C, H, W)`` arrays (uint8 0..255 or float in [0, 1]) or a list of ``(C, H, W)``
arrays of any size (batch prediction on folders); every input is centre-cropped / resized
to the training size and its channels matched to the training channels.

* ``cnn``: a small VGG-style CNN (torch, trained by the core Trainer);
* ``mobilenet_v2``: torchvision MobileNetV2, ImageNet weights from a local file
  (``$VERTICALKIT_DATA/weights/mobilenet_v2-b0353104.pth``, never downloaded), fine-tuned;
* ``logreg``: logistic regression on standardised pixels (scikit-learn baseline).

Loss (core TorchHead): cross-entropy for binary / multi-class, BCE for multi-label.
Augmentation (training only): random flips and a small affine, drawn from torch's RNG that
the Trainer reseeds per (seed, epoch), so runs are reproducible and resume exactly.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.heads.base import FitContext, SklearnHead
from verticalkit.core.families.image import (IMAGENET_MEAN, IMAGENET_STD, SmallCNN, find_weights, image_dataset,
                                             network_input)
from verticalkit.core.families.pixels import float_images
from verticalkit.core.heads.torch_head import TorchHead

log = logging.getLogger(__name__)

MOBILENET_WEIGHTS = "mobilenet_v2-b0353104.pth"


class BadInput:
    """A placeholder for an input that could not be read (batch prediction): predicting it
    raises DataError with ``reason``, so the batch scorer reports it and goes on."""

    def __init__(self, reason: str):
        self.reason = reason

    @property
    def shape(self) -> tuple[int, ...]:
        return (0,)


def to_float_images(X: Any, channels: int, size: int) -> np.ndarray:
    """``(N, channels, size, size)`` float32 in [0, 1] from an array or a list of images (core's
    :func:`~verticalkit.core.families.pixels.float_images`); a :class:`BadInput` raises its reason."""
    if not isinstance(X, np.ndarray):
        for x in X:
            if isinstance(x, BadInput):
                raise DataError(x.reason)
    return float_images(X, channels, size)


def augment_batch(x: torch.Tensor, flip: bool, max_degrees: float, max_shift: float, max_scale: float
                  ) -> torch.Tensor:
    """Random horizontal flip and a small affine (rotation, translation, scale) per image.

    Parameters are drawn on the CPU from torch's global RNG (reseeded by the Trainer per epoch).
    """
    n = x.shape[0]
    if flip:
        mask = torch.rand(n) < 0.5
        x = torch.where(mask.to(x.device).view(n, 1, 1, 1), x.flip(-1), x)
    if max_degrees or max_shift or max_scale:
        angle = (torch.rand(n) * 2 - 1) * math.radians(max_degrees)
        scale = 1 + (torch.rand(n) * 2 - 1) * max_scale
        shift = (torch.rand(n, 2) * 2 - 1) * max_shift * 2  # grid units span [-1, 1]
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
        grid = nn.functional.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
        x = nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return x


ORDINAL_LOSSES = ("softmax", "coral")


class CoralNet(nn.Module):
    """CORAL (Cao, Mirjalili & Raschka 2020): one shared score ``f(x)`` and K-1 thresholds;
    output ``(N, K-1)`` cumulative logits ``f(x) - b_k`` for the events ``grade > k``. The thresholds
    are kept increasing (``b_k = b_0 + cumsum(softplus)``), so P(grade > k) never rises with k
    (rank-consistent) and the class probabilities derived from them are never negative."""

    # the K-1 thresholds are stored divided by this: Adam moves a parameter by about lr per step,
    # too slow for a threshold next to the shared score, which scales through every weight of the net
    threshold_scale = 10.0

    def __init__(self, net: nn.Module, n_classes: int, init: np.ndarray | None = None):
        super().__init__()
        self.net = net
        b = np.linspace(-1.0, 1.0, n_classes - 1) if init is None else np.maximum.accumulate(init)
        gaps = np.log(np.expm1(np.clip(np.diff(b), 1e-3, None)))  # inverse softplus
        c = self.threshold_scale
        self.first = nn.Parameter(torch.tensor([b[0] / c], dtype=torch.float32))
        self.gaps = nn.Parameter(torch.tensor(gaps / c, dtype=torch.float32))

    def thresholds(self) -> torch.Tensor:
        c = self.threshold_scale
        return c * torch.cat([self.first, self.first + torch.cumsum(nn.functional.softplus(c * self.gaps) / c, 0)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)[:, :1] - self.thresholds()[None, :]

    def cam_layer(self) -> nn.Module:
        from .report import cam_layer

        return cam_layer(self.net)


def cumulative_to_class_probs(cum: np.ndarray) -> np.ndarray:
    """``(N, K)`` class probabilities from ``(N, K-1)`` P(grade > k): differences of the survival curve."""
    n = len(cum)
    surv = np.concatenate([np.ones((n, 1)), cum, np.zeros((n, 1))], axis=1)
    return np.clip(surv[:, :-1] - surv[:, 1:], 0.0, 1.0)


class ImageTorchHead(TorchHead):
    """Shared input handling: size and channels fitted on the training images; augmentation;
    the ordinal loss of graded tasks (``ordinal_loss``: ``softmax`` cross-entropy or ``coral``);
    ``class_weight`` (``none`` or ``balanced``: cross-entropy weighted by inverse training class
    frequency) and test-time augmentation (``tta``: ``none`` or ``flip``, the mean of the logits of
    the image and its mirror image, in validation and prediction)."""

    default_channels: int | None = None  # a fixed input channel count (MobileNet: 3)
    ordinal_loss = "softmax"  # heads with the parameter override it
    class_weight = "none"
    tta = "none"

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> ImageTorchHead:
        if self.ordinal_loss not in ORDINAL_LOSSES:
            raise ConfigError(f"model_params.ordinal_loss={self.ordinal_loss!r}: use {' or '.join(ORDINAL_LOSSES)}")
        if self.class_weight not in ("none", "balanced"):
            raise ConfigError(f"model_params.class_weight={self.class_weight!r}: use none or balanced")
        if self.tta not in ("none", "flip"):
            raise ConfigError(f"model_params.tta={self.tta!r}: use none or flip")
        self.coral_ = self.ordinal_loss == "coral"
        if self.coral_ and (context is None or not context.task.ordered):
            raise ConfigError("model_params.ordinal_loss=coral needs graded classes: set data.task=ordinal (or use "
                              "an ordinal dataset such as retinamnist)")
        return super().fit(X, y, X_val, y_val, context=context)

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        first = X[0] if not isinstance(X, np.ndarray) else X[0]
        first = np.asarray(first)
        self.in_channels_ = int(first.shape[0] if first.ndim == 3 else 1)
        self.image_size_ = int(self.image_size or first.shape[-1])
        self.class_weights_ = None
        if self.class_weight == "balanced" and self.task_kind_ in ("binary", "multiclass"):
            counts = np.bincount(np.asarray(y, dtype=np.int64).ravel(), minlength=self.n_outputs_).astype(np.float64)
            self.class_weights_ = [float(len(y) / (len(counts) * c)) if c else 0.0 for c in counts]

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "in_channels": self.in_channels_, "image_size": self.image_size_,
                "coral": self.coral_, "class_weights": self.class_weights_}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.in_channels_, self.image_size_ = state["in_channels"], state["image_size"]
        self.coral_ = bool(state.get("coral", False))
        self.class_weights_ = state.get("class_weights")

    # -- ordinal (CORAL) --------------------------------------------------------------
    def network_outputs(self) -> int:
        """Outputs of the network a subclass builds: 1 shared score under CORAL, else ``n_outputs_``."""
        return 1 if getattr(self, "coral_", False) else self.n_outputs_

    def finish_module(self, net: nn.Module, y: Any) -> nn.Module:
        """``net`` wrapped in :class:`CoralNet` under CORAL (thresholds started at the training grades'
        cumulative log-odds), else unchanged."""
        if not getattr(self, "coral_", False):
            return net
        init = None
        if y is not None:
            y = np.asarray(y)
            share = np.array([np.mean(y > k) for k in range(self.n_outputs_ - 1)]).clip(1e-3, 1 - 1e-3)
            init = -np.log(share / (1 - share))
        return CoralNet(net, self.n_outputs_, init)

    def loss(self, outputs: torch.Tensor, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if getattr(self, "class_weights_", None) is not None and not self.coral_:
            weight = torch.tensor(self.class_weights_, dtype=torch.float32, device=outputs.device)
            return nn.functional.cross_entropy(outputs.float(), batch["target"].long(), weight=weight)
        if not getattr(self, "coral_", False):
            return super().loss(outputs, batch)
        levels = torch.arange(outputs.shape[1], device=outputs.device)
        events = (batch["target"].long()[:, None] > levels[None, :]).float()
        return nn.functional.binary_cross_entropy_with_logits(outputs.float(), events)

    def outputs_to_scores(self, outputs: np.ndarray) -> np.ndarray:
        if not getattr(self, "coral_", False):
            return super().outputs_to_scores(outputs)
        return cumulative_to_class_probs(1 / (1 + np.exp(-np.asarray(outputs, dtype=np.float64))))

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        if not isinstance(X, np.ndarray):
            X = to_float_images(X, self.in_channels_, self.image_size_)
        return image_dataset(X, y, self.in_channels_, self.image_size_, self.task_kind_)

    def forward_batch(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        x = batch["inputs"]
        if module.training and self.augment != "none":
            x = augment_batch(x, flip="flip" in self.augment, max_degrees=10.0 if "affine" in self.augment else 0.0,
                              max_shift=0.08 if "affine" in self.augment else 0.0,
                              max_scale=0.08 if "affine" in self.augment else 0.0)
        if not module.training and self.tta == "flip":
            return (module(x) + module(x.flip(-1))) / 2
        return module(x)

    def _check_augment(self) -> None:
        if self.augment not in ("none", "flip", "affine", "flip+affine"):
            raise DataError(f"model_params.augment={self.augment!r}: use none, flip, affine or flip+affine")


class CNNHead(ImageTorchHead):
    """A small VGG-style CNN (3 stages of two 3x3 conv-BN-ReLU, global average pooling): core's
    :class:`~verticalkit.core.families.image.SmallCNN`.

    image_size: resize inputs to this size (None: the training images' size).
    augment: none | flip | affine | flip+affine (training only).
    class_weight: none | balanced; tta: none | flip (see :class:`ImageTorchHead`).
    ordinal_loss: graded (ordinal) tasks: ``softmax`` (cross-entropy over the grades) or ``coral``
    (K-1 cumulative logits sharing one score, rank-consistent; ``predict_proba`` gives the class
    probabilities derived from them).
    """

    def __init__(self, width: int = 32, dropout: float = 0.2, image_size: int | None = None, augment: str = "affine",
                 ordinal_loss: str = "softmax", class_weight: str = "none", tta: str = "none"):
        self.width = width
        self.dropout = dropout
        self.image_size = image_size
        self.augment = augment
        self.ordinal_loss = ordinal_loss
        self.class_weight = class_weight
        self.tta = tta

    def build_module(self, X: Any, y: Any) -> nn.Module:
        self._check_augment()
        return self.finish_module(SmallCNN(self.in_channels_, self.network_outputs(), self.width, self.dropout), y)


class _MobileNet(nn.Module):
    def __init__(self, n_out: int, input_size: int, dropout: float):
        super().__init__()
        from torchvision.models import mobilenet_v2

        self.net = mobilenet_v2(weights=None)
        self.net.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.net.last_channel, n_out))
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(network_input(x, self.input_size, self.mean, self.std))  # grey → RGB, upsampled


class MobileNetV2Head(ImageTorchHead):
    """torchvision MobileNetV2 fine-tuned end to end; grey inputs are repeated to 3 channels.

    weights: ``auto`` (ImageNet weights if the local file is found, else random init, logged),
    ``imagenet`` (the local file, an error if absent), ``none``, or a path to a state dict.
    The file is loaded with ``torch.load(weights_only=True)``; nothing is downloaded.
    input_size: images are upsampled to this size inside the network (MobileNet downsamples 32x).
    ordinal_loss: graded tasks, ``softmax`` or ``coral`` (see :class:`CNNHead`).
    """

    def __init__(self, weights: str = "auto", input_size: int = 64, dropout: float = 0.2,
                 image_size: int | None = None, augment: str = "affine", ordinal_loss: str = "softmax"):
        self.ordinal_loss = ordinal_loss
        self.weights = weights
        self.input_size = input_size
        self.dropout = dropout
        self.image_size = image_size
        self.augment = augment

    def build_module(self, X: Any, y: Any) -> nn.Module:
        self._check_augment()
        module = _MobileNet(self.network_outputs(), self.input_size, self.dropout)
        if X is not None:  # fitting: start from ImageNet; loading: the saved weights follow
            self.pretrained_ = self._load_imagenet(module)
        return self.finish_module(module, y)

    def _load_imagenet(self, module: _MobileNet) -> str:
        if self.weights == "none":
            return "none"
        file = Path(self.weights) if self.weights not in ("auto", "imagenet") else find_weights(MOBILENET_WEIGHTS)
        if file is None or not file.is_file():
            if self.weights == "auto":
                log.warning("mobilenet_v2: %s not found under $VERTICALKIT_DATA/weights/ or the cache; "
                            "training from random initialisation", MOBILENET_WEIGHTS)
                return "none (weights file not found)"
            raise DataError(f"mobilenet_v2: weights file {file or MOBILENET_WEIGHTS} not found; put torchvision's "
                            f"{MOBILENET_WEIGHTS} in $VERTICALKIT_DATA/weights/ or set model_params.weights=none")
        state = torch.load(file, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
        missing, unexpected = module.net.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("classifier.") for k in missing):
            raise DataError(f"{file}: not a torchvision MobileNetV2 state dict "
                            f"({len(unexpected)} unexpected, {len(missing)} missing keys)")
        return f"imagenet ({file.name})"

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "pretrained": getattr(self, "pretrained_", "unknown")}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.pretrained_ = state.get("pretrained", "unknown")


class LogRegHead(SklearnHead):
    """Logistic regression on standardised pixels resized to ``image_size`` (a baseline)."""

    def __init__(self, C: float = 0.1, max_iter: int = 500, image_size: int = 28):
        self.C = C
        self.max_iter = max_iter
        self.image_size = image_size

    def _features(self, X: Any) -> np.ndarray:
        imgs = to_float_images(X, self.in_channels_, self.image_size)
        return imgs.reshape(len(imgs), -1)

    def fit(self, X: Any, y: Any, X_val: Any = None, y_val: Any = None, context: FitContext | None = None
            ) -> LogRegHead:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        first = np.asarray(X[0])
        self.in_channels_ = int(first.shape[0] if first.ndim == 3 else 1)
        y = np.asarray(y)
        self.multilabel_ = y.ndim == 2
        lr = LogisticRegression(C=self.C, max_iter=self.max_iter)
        self.model_ = Pipeline([("scale", StandardScaler()),
                                ("lr", OneVsRestClassifier(lr) if self.multilabel_ else lr)])
        self.model_.fit(self._features(X), y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.model_.predict_proba(self._features(X))

    def predict(self, X: Any) -> np.ndarray:
        p = self.predict_proba(X)
        return (p >= 0.5).astype(int) if self.multilabel_ else p.argmax(axis=1)
