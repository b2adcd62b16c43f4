"""Image heads on arrays of images: ``CNNImage`` (:class:`SmallCNN`, also the medical ``cnn`` head's network) and
``TimmImage`` (any timm backbone: :class:`TimmNet`; timm's pretrained weights or a local state
dict), trained by the core Trainer (progress per epoch) and saved as safetensors.

Input: an array ``(n, H, W)`` / ``(n, H, W, C)`` / ``(n, C, H, W)``, a list of such images, or
a table / dict whose ``image_key`` column holds one image per row. uint8 pixels are scaled
to [0, 1]; every image is centre-cropped to a square and resized to ``size`` × ``size``
(bilinear, antialiased) with ``channels`` channels (:mod:`.pixels`).

The timm pieces are public building blocks (the medical ``timm`` / ``resnet18`` heads subclass
:class:`TimmImage`): :func:`check_backbone` (unknown names get close matches),
:func:`read_state_dict` (safetensors or ``torch.load(weights_only=True)``), :func:`find_weights`
(``$VERTICALKIT_DATA/weights/``, then ``~/.cache/verticalkit/weights/``) and
:func:`load_timm_weights` (classifier dropped, first conv adapted to the input channels with
timm's ``adapt_input_conv``, tensors of another shape left at random init).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import Dataset

from ..data.sources import candidate_dirs
from ..errors import ConfigError, DataError
from ..heads.torch_head import TorchHead
from .pixels import float_images

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE = ("auto", "none", "half", "imagenet")


def image_column(X: Any, image_key: str) -> Any:
    """The images of ``X``: its ``image_key`` column for a table / dict, else ``X`` itself."""
    if isinstance(X, (pd.DataFrame, dict)):
        if image_key not in X:
            raise DataError(f"image input has no column {image_key!r} (got {list(X.keys())[:20]}); set image_key")
        return list(X[image_key])
    return X


def image_array(X: Any, image_key: str, channels: int, size: int) -> torch.Tensor:
    """``X`` as a float tensor ``(n, channels, size, size)``; see the module docstring."""
    return torch.from_numpy(float_images(image_column(X, image_key), channels, size))


class ImageDataset(Dataset):
    """Items ``{"inputs": float (C, H, W) in [0, 1], "target"}``; uint8 images stay uint8 in memory
    (converted per item). Targets: float for multi-label and regression, else class indices."""

    def __init__(self, images: np.ndarray, y: Any = None, task_kind: str = "binary"):
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.y = None if y is None else torch.as_tensor(
            np.asarray(y), dtype=torch.float32 if task_kind in ("multilabel", "regression") else torch.long)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.images[i]
        item = {"inputs": x.float() / 255.0 if x.dtype == torch.uint8 else x}
        if self.y is not None:
            item["target"] = self.y[i]
        return item


def image_dataset(X: Any, y: Any, channels: int, size: int, task_kind: str) -> ImageDataset:
    """:class:`ImageDataset` of ``X`` at ``channels`` × ``size`` × ``size``; a uint8 array already that
    shape is kept as it is (a 224 px set stays 4x smaller in memory than as floats)."""
    kept = isinstance(X, np.ndarray) and X.dtype == np.uint8 and X.ndim == 4 and X.shape[1:] == (channels, size, size)
    return ImageDataset(X if kept else float_images(X, channels, size), y, task_kind)


class ImageHead(TorchHead):
    image_key: str = "image"
    channels: int = 1
    size: int = 28

    def make_dataset(self, X: Any, y: Any = None) -> Dataset:
        return image_dataset(image_column(X, self.image_key), y, self.channels, self.size, self.task_kind_)


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


# -- timm ------------------------------------------------------------------------------------
def check_backbone(name: str) -> None:
    """A ConfigError unless ``name`` is a ``timm.list_models()`` name; close names are suggested."""
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=6, cutoff=0.7) if isinstance(name, str) else []
        raise ConfigError(f"model_params.backbone={name!r} is not a timm model name"
                          + (f"; close names: {', '.join(close)}" if close else "")
                          + "; list them with python -c 'import timm; print(timm.list_models())'")


def per_channel(v: tuple[float, ...], channels: int) -> list[float]:
    """Per-channel statistics for ``channels`` channels: as given when they match, else their mean repeated."""
    v = [float(a) for a in v]
    return v[:channels] if len(v) == channels else [float(np.mean(v))] * channels


def network_input(x: torch.Tensor, input_size: int | None, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """A batch ``(n, C, H, W)`` as a pretrained network takes it: grey repeated to the channels of
    ``mean`` (``(1, C', 1, 1)``), upsampled (bilinear) to ``input_size`` (None: as given), ``(x - mean) / std``."""
    if x.shape[1] == 1 and mean.shape[1] > 1:
        x = x.expand(-1, mean.shape[1], -1, -1)
    if input_size and x.shape[-1] != input_size:
        x = nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
    return (x - mean) / std


class TimmNet(nn.Module):
    """A timm model (``self.net``) with the kit's input handling (:func:`network_input`): optional
    upsampling to ``input_size`` and normalisation ``(x - mean) / std`` (``mean`` / ``std`` repeated or
    averaged to ``in_chans`` channels; not saved). Its weights are saved as ``net.<timm key>``."""

    def __init__(self, backbone: str, in_chans: int, n_out: int, input_size: int | None = None,
                 drop_rate: float = 0.0, mean: tuple[float, ...] = (0.0,), std: tuple[float, ...] = (1.0,),
                 pretrained: bool = False):
        super().__init__()
        import timm

        self.net = timm.create_model(backbone, pretrained=pretrained, num_classes=n_out, in_chans=in_chans,
                                     drop_rate=drop_rate)
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(per_channel(mean, in_chans)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(per_channel(std, in_chans)).view(1, -1, 1, 1), persistent=False)

    def cam_layer(self) -> nn.Module:
        """The last feature map before pooling (Grad-CAM)."""
        info = getattr(self.net, "feature_info", None)
        if info:
            last = info[-1] if isinstance(info, list) else info.get_dicts()[-1]
            return self.net.get_submodule(last["module"])
        return [m for m in self.net.modules() if isinstance(m, nn.Conv2d)][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(network_input(x, self.input_size, self.mean, self.std))


def find_weights(name: str) -> Path | None:
    """A local weights file ``name``: ``$VERTICALKIT_DATA/weights/``, then ``~/.cache/verticalkit/weights/``."""
    for d in candidate_dirs("weights"):
        if (d / name).is_file():
            return d / name
    return None


def read_state_dict(file: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file, never unpickling arbitrary objects."""
    if file.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(file))
    else:
        try:
            state = torch.load(file, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - weights_only refuses pickled code with varied errors
            raise DataError(f"{file}: not loadable as plain tensors ({type(e).__name__}); give a .safetensors "
                            f"file or a state dict saved with torch.save(model.state_dict())") from None
    for key in ("state_dict", "model", "net"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{file}: not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in state.items()}


def load_timm_weights(net: nn.Module, file: Path, backbone: str) -> str:
    """Load the state dict ``file`` into the timm model ``net``: its classifier is dropped, its first
    conv adapted to ``net``'s input channels (``adapt_input_conv``), tensors of another shape (a
    replaced stem) left at random init and named in the result, a description of what was loaded."""
    from timm.models import adapt_input_conv

    state = read_state_dict(file)
    target = net.state_dict()
    classifier = net.pretrained_cfg.get("classifier", "fc")
    first = net.pretrained_cfg.get("first_conv", "conv1")
    skipped = []
    for key in list(state):
        if key.startswith(f"{classifier}."):
            del state[key]
        elif key.startswith(f"{first}.") and key in target and state[key].ndim == 4 \
                and state[key].shape[1] != target[key].shape[1]:
            state[key] = adapt_input_conv(target[key].shape[1], state[key])
        if key in state and key in target and state[key].shape != target[key].shape:
            skipped.append(key)  # e.g. the 7x7 stem under a small stem
            del state[key]
    missing, unexpected = net.load_state_dict(state, strict=False)
    allowed = (f"{classifier}.", f"{first}.")
    if unexpected or any(not k.startswith(allowed) and k not in skipped for k in missing):
        raise DataError(f"{file}: not a state dict of timm {backbone} ({len(unexpected)} unexpected, "
                        f"{len(missing)} missing keys, e.g. {(list(unexpected) + list(missing))[:3]})")
    if skipped:
        log.info("%s: %d tensor(s) of another shape left at random init: %s", file.name, len(skipped), skipped)
    return f"{file.name}" + (f" (re-initialised: {', '.join(skipped)})" if skipped else "")


class TimmImage(ImageHead):
    """A timm backbone (``backbone``: any ``timm.list_models()`` name) with a new classifier, in a :class:`TimmNet`.

    pretrained: timm's weights (from the local Hugging Face cache when offline).
    weights: ``none``, the path of a local ``.safetensors`` / ``.pth`` state dict, or ``imagenet``
    (``<backbone>.safetensors`` / ``.pth`` found by :func:`find_weights`); see :func:`load_timm_weights`.
    input_size: upsample inputs to this size inside the network (None: as given).
    normalize: ``none``, ``half`` (mean 0.5, std 0.5), ``imagenet`` (the backbone's mean / std) or
    ``auto`` (``imagenet`` with pretrained or local weights, else ``none``).

    Subclasses set the network's input channels and outputs in :meth:`timm_module` and may change
    the timm model before the weights load in :meth:`adapt_network`.
    """

    def __init__(self, image_key: str = "image", backbone: str = "resnet10t", channels: int = 3, size: int = 64,
                 pretrained: bool = False, weights: str = "none", input_size: int | None = None,
                 drop_rate: float = 0.0, normalize: str = "auto"):
        self.image_key = image_key
        self.backbone = backbone
        self.channels = channels
        self.size = size
        self.pretrained = pretrained
        self.weights = weights
        self.input_size = input_size
        self.drop_rate = drop_rate
        self.normalize = normalize

    def backbone_name(self) -> str:
        return self.backbone

    def check_timm_params(self) -> None:
        """ConfigError for an unknown backbone or normalisation (before any training)."""
        check_backbone(self.backbone_name())
        if self.normalize not in NORMALIZE:
            raise ConfigError(f"model_params.normalize={self.normalize!r}: use {', '.join(NORMALIZE)}")

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        self.check_timm_params()

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "pretrained": getattr(self, "pretrained_", "none")}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.pretrained_ = state.get("pretrained", "none")

    def build_module(self, X: Any, y: Any) -> nn.Module:
        return self.timm_module(self.channels, self.n_outputs_, fitting=X is not None)

    def upgrade_weights(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        # a TimmImage saved before it wrapped the timm model in a TimmNet: bare timm keys
        return state if any(k.startswith("net.") for k in state) else {f"net.{k}": v for k, v in state.items()}

    def normalization(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)`` of the ``normalize`` setting."""
        mode = self.normalize
        if mode == "auto":
            mode = "imagenet" if self.pretrained or self.weights != "none" else "none"
        if mode == "none":
            return (0.0,), (1.0,)
        if mode == "half":
            return (0.5,), (0.5,)
        import timm

        cfg = timm.get_pretrained_cfg(self.backbone_name())
        return (tuple(getattr(cfg, "mean", None) or IMAGENET_MEAN), tuple(getattr(cfg, "std", None) or IMAGENET_STD))

    def timm_module(self, in_chans: int, n_out: int, fitting: bool) -> TimmNet:
        """The :class:`TimmNet`; when ``fitting``, with the pretrained or local weights (``pretrained_``
        says which); when loading a saved head, the saved weights follow."""
        mean, std = self.normalization()
        module = TimmNet(self.backbone_name(), in_chans, n_out, self.input_size, self.drop_rate, mean, std,
                         pretrained=bool(self.pretrained) and fitting)
        self.adapt_network(module.net)
        if fitting:
            file = self.weights_file()
            self.pretrained_ = load_timm_weights(module.net, file, self.backbone_name()) if file is not None else (
                "timm" if self.pretrained else "none")
        return module

    def adapt_network(self, net: nn.Module) -> None:
        """Change the timm model before weights load (a subclass's stem); the default does nothing."""

    def weights_file(self) -> Path | None:
        """The local state dict that ``weights`` names (None: ``none``)."""
        if self.weights == "none":
            return None
        backbone = self.backbone_name()
        if self.weights == "imagenet":
            for name in (f"{backbone}.safetensors", f"{backbone}.pth"):
                if (f := find_weights(name)) is not None:
                    return f
            raise DataError(f"{backbone}: no {backbone}.safetensors / .pth under $VERTICALKIT_DATA/weights/ or "
                            f"~/.cache/verticalkit/weights/; put the file there, give its path in "
                            f"model_params.weights, or set model_params.weights=none")
        file = Path(self.weights).expanduser()
        if not file.is_file():
            raise DataError(f"model_params.weights={self.weights!r}: no such file; give a local .safetensors or "
                            f".pth state dict, or none")
        return file
