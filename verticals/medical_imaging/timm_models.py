"""timm backbones of the medical imaging vertical: ``resnet18`` and any timm model by name.

* ``timm`` (:class:`TimmHead`): ``model_params.backbone`` is any name ``timm.list_models()``
  knows (``resnet50``, ``efficientnet_b0``, ``convnext_atto`` ...), built with
  ``pretrained=False`` and the training images' channel count (1 or 3) as ``in_chans``.
  ``weights`` may name a local ``.safetensors`` / ``.pth`` state dict (read without
  unpickling: safetensors, or ``torch.load(weights_only=True)``); nothing is downloaded.
* ``resnet18`` (:class:`ResNet18Head`): timm ResNet-18 from scratch, set up as MedMNIST v2's
  ResNet-18 (28) (Yang et al. 2023, github.com/MedMNIST/experiments): for inputs of at
  most 64 px the 7x7 stride-2 stem and its max-pool are replaced by a 3x3 stride-1 conv
  (``small_stem``), Adam lr 1e-3 with the learning rate divided by 10 at 50 % and 75 % of
  training, batch 128, no augmentation, inputs normalised with mean 0.5 and std 0.5.

ResNet-family backbones (timm ``ResNet``) honour ``small_stem``; other families keep their
own stem (upsample small images with ``input_size`` instead).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from verticalkit.core.errors import ConfigError, DataError

from .models import ImageTorchHead, find_weights

log = logging.getLogger(__name__)

SMALL_STEM_MAX_SIZE = 64  # "auto": the 3x3 stride-1 stem for inputs up to this size


def _check_backbone(name: str) -> None:
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        import difflib

        close = difflib.get_close_matches(name, timm.list_models(), n=6, cutoff=0.7) if isinstance(name, str) else []
        raise ConfigError(f"model_params.backbone={name!r} is not a timm model name"
                          + (f"; close names: {', '.join(close)}" if close else "")
                          + "; list them with python -c 'import timm; print(timm.list_models())'")


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


class TimmNet(nn.Module):
    """A timm model with the kit's input handling: channel repeat, optional upsampling, normalisation."""

    def __init__(self, backbone: str, in_chans: int, n_out: int, small_stem: bool, input_size: int | None,
                 drop_rate: float, mean: tuple[float, ...], std: tuple[float, ...]):
        super().__init__()
        import timm

        self.net = timm.create_model(backbone, pretrained=False, num_classes=n_out, in_chans=in_chans,
                                     drop_rate=drop_rate)
        self.small_stem = small_stem and _is_resnet(self.net)
        if self.small_stem:
            stem_out = self.net.bn1.num_features  # the stem's output width (a deep stem ends at bn1 too)
            self.net.conv1 = nn.Conv2d(in_chans, stem_out, kernel_size=3, stride=1, padding=1, bias=False)
            self.net.maxpool = nn.Identity()
        self.input_size = input_size
        self.register_buffer("mean", torch.tensor(_per_channel(mean, in_chans)).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(_per_channel(std, in_chans)).view(1, -1, 1, 1), persistent=False)

    def cam_layer(self) -> nn.Module:
        """The last feature map before pooling (Grad-CAM)."""
        info = getattr(self.net, "feature_info", None)
        if info:
            last = info[-1] if isinstance(info, list) else info.get_dicts()[-1]
            return self.net.get_submodule(last["module"])
        return [m for m in self.net.modules() if isinstance(m, nn.Conv2d)][-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size and x.shape[-1] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False)
        return self.net((x - self.mean) / self.std)


def _is_resnet(net: nn.Module) -> bool:
    from timm.models.resnet import ResNet

    return isinstance(net, ResNet)


def _per_channel(v: tuple[float, ...], channels: int) -> list[float]:
    v = [float(a) for a in v]
    return v[:channels] if len(v) == channels else [float(np.mean(v))] * channels


class TimmHead(ImageTorchHead):
    """Any timm image model by name, trained end to end on 1- or 3-channel images.

    backbone: a timm model name. weights: ``none`` (random init) or the path of a local state
    dict (``.safetensors`` / ``.pth``; its classifier is dropped, its first conv adapted to
    1 channel with timm's ``adapt_input_conv``); ``imagenet`` looks for
    ``<backbone>.safetensors`` / ``.pth`` under ``$VERTICALKIT_DATA/weights/``.
    small_stem: ``auto`` (ResNets on images ≤ 64 px get a 3x3 stride-1 stem, no max-pool), ``on``, ``off``.
    input_size: upsample inputs to this size inside the network (None: as given).
    normalize: ``half`` (mean 0.5, std 0.5, as MedMNIST) or ``imagenet`` (the backbone's mean/std).
    ordinal_loss: graded tasks, ``softmax`` or ``coral`` (see the ``cnn`` head).
    """

    def __init__(self, backbone: str = "resnet18", weights: str = "none", small_stem: str = "auto",
                 input_size: int | None = None, drop_rate: float = 0.0, normalize: str = "half",
                 image_size: int | None = None, augment: str = "none", ordinal_loss: str = "softmax"):
        self.ordinal_loss = ordinal_loss
        self.backbone = backbone
        self.weights = weights
        self.small_stem = small_stem
        self.input_size = input_size
        self.drop_rate = drop_rate
        self.normalize = normalize
        self.image_size = image_size
        self.augment = augment

    def _backbone(self) -> str:
        return self.backbone

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        super().fit_preprocessing(X, y)
        _check_backbone(self._backbone())
        if self.small_stem not in ("auto", "on", "off"):
            raise ConfigError(f"model_params.small_stem={self.small_stem!r}: use auto, on or off")
        if self.normalize not in ("half", "imagenet"):
            raise ConfigError(f"model_params.normalize={self.normalize!r}: use half or imagenet")
        size = self.input_size or self.image_size_
        self.small_stem_ = self.small_stem == "on" or (self.small_stem == "auto" and size <= SMALL_STEM_MAX_SIZE)

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "small_stem": self.small_stem_,
                "pretrained": getattr(self, "pretrained_", "none")}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.small_stem_ = bool(state["small_stem"])
        self.pretrained_ = state.get("pretrained", "none")

    def build_module(self, X: Any, y: Any) -> nn.Module:
        self._check_augment()
        import timm

        cfg = timm.get_pretrained_cfg(self._backbone())
        mean, std = ((0.5,), (0.5,)) if self.normalize == "half" else (
            tuple(getattr(cfg, "mean", None) or (0.485, 0.456, 0.406)),
            tuple(getattr(cfg, "std", None) or (0.229, 0.224, 0.225)))
        module = TimmNet(self._backbone(), self.in_channels_, self.network_outputs(), self.small_stem_,
                         self.input_size, self.drop_rate, mean, std)
        if X is not None:  # fitting; when loading, the saved weights follow
            self.pretrained_ = self._load_weights(module)
        return self.finish_module(module, y)

    def _weights_file(self) -> Path | None:
        if self.weights == "none":
            return None
        if self.weights == "imagenet":
            for name in (f"{self._backbone()}.safetensors", f"{self._backbone()}.pth"):
                if (f := find_weights(name)) is not None:
                    return f
            raise DataError(f"{self._backbone()}: no {self._backbone()}.safetensors / .pth under "
                            f"$VERTICALKIT_DATA/weights/ or ~/.cache/verticalkit/weights/; put the file there, "
                            f"give its path in model_params.weights, or set model_params.weights=none")
        file = Path(self.weights).expanduser()
        if not file.is_file():
            raise DataError(f"model_params.weights={self.weights!r}: no such file; give a local .safetensors or "
                            f".pth state dict, or none")
        return file

    def _load_weights(self, module: TimmNet) -> str:
        from timm.models import adapt_input_conv

        file = self._weights_file()
        if file is None:
            return "none"
        state = read_state_dict(file)
        net = module.net
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
                skipped.append(key)  # e.g. the 7x7 stem under small_stem
                del state[key]
        missing, unexpected = net.load_state_dict(state, strict=False)
        allowed = (f"{classifier}.", f"{first}.")
        if unexpected or any(not k.startswith(allowed) and k not in skipped for k in missing):
            raise DataError(f"{file}: not a state dict of timm {self._backbone()} ({len(unexpected)} unexpected, "
                            f"{len(missing)} missing keys, e.g. {(list(unexpected) + list(missing))[:3]})")
        if skipped:
            log.info("%s: %d tensor(s) of another shape left at random init: %s", file.name, len(skipped), skipped)
        return f"{file.name}" + (f" (re-initialised: {', '.join(skipped)})" if skipped else "")


class ResNet18Head(TimmHead):
    """ResNet-18 from scratch as in MedMNIST v2 (28 px: 3x3 stride-1 stem, no max-pool); timm's resnet18.

    Same parameters as the ``timm`` head, without ``backbone``.
    """

    def __init__(self, weights: str = "none", small_stem: str = "auto", input_size: int | None = None,
                 drop_rate: float = 0.0, normalize: str = "half", image_size: int | None = None,
                 augment: str = "none", ordinal_loss: str = "softmax"):
        super().__init__("resnet18", weights, small_stem, input_size, drop_rate, normalize, image_size, augment,
                         ordinal_loss)

    def _backbone(self) -> str:
        return "resnet18"
