"""timm backbones of the medical imaging vertical: ``resnet18`` and any timm model by name,
built on core's :class:`~verticalkit.core.families.image.TimmImage` (the timm model in a
``TimmNet``: upsampling, normalisation; backbone name check; local weights, adapted to 1 channel).

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

What stays here is the MedMNIST set-up: the small stem (ResNet-family backbones, timm
``ResNet``; other families keep their own stem: upsample small images with ``input_size``
instead), the ``half`` normalisation default, and the vertical's CORAL / augmentation / TTA
options (:class:`~.models.ImageTorchHead`).
"""

from __future__ import annotations

from typing import Any

from torch import nn

from verticalkit.core.errors import ConfigError
from verticalkit.core.families.image import TimmImage

from .models import ImageTorchHead

SMALL_STEM_MAX_SIZE = 64  # "auto": the 3x3 stride-1 stem for inputs up to this size


def use_small_stem(net: nn.Module, in_chans: int) -> bool:
    """MedMNIST v2's 28 px ResNet stem on a timm ``ResNet``: a 3x3 stride-1 conv, no max-pool;
    False (unchanged) for other families."""
    from timm.models.resnet import ResNet

    if not isinstance(net, ResNet):
        return False
    stem_out = net.bn1.num_features  # the stem's output width (a deep stem ends at bn1 too)
    net.conv1 = nn.Conv2d(in_chans, stem_out, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    return True


class TimmHead(ImageTorchHead, TimmImage):
    """Any timm image model by name, trained end to end on 1- or 3-channel images.

    backbone: a timm model name. weights: ``none`` (random init) or the path of a local state
    dict (``.safetensors`` / ``.pth``; its classifier is dropped, its first conv adapted to
    1 channel with timm's ``adapt_input_conv``); ``imagenet`` looks for
    ``<backbone>.safetensors`` / ``.pth`` under ``$VERTICALKIT_DATA/weights/``.
    small_stem: ``auto`` (ResNets on images ≤ 64 px get a 3x3 stride-1 stem, no max-pool), ``on``, ``off``.
    input_size: upsample inputs to this size inside the network (None: as given).
    normalize: ``half`` (mean 0.5, std 0.5, as MedMNIST) or ``imagenet`` (the backbone's mean/std); also
    ``none`` and ``auto`` (core's :class:`~verticalkit.core.families.image.TimmImage`).
    ordinal_loss: graded tasks, ``softmax`` or ``coral`` (see the ``cnn`` head).
    """

    pretrained = False  # timm's own (downloaded) weights are never used: local files only

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

    def fit_preprocessing(self, X: Any, y: Any) -> None:
        super().fit_preprocessing(X, y)  # the images' size and channels
        self.check_timm_params()
        if self.small_stem not in ("auto", "on", "off"):
            raise ConfigError(f"model_params.small_stem={self.small_stem!r}: use auto, on or off")
        size = self.input_size or self.image_size_
        self.small_stem_ = self.small_stem == "on" or (self.small_stem == "auto" and size <= SMALL_STEM_MAX_SIZE)

    def get_state(self) -> dict[str, Any]:
        return {**super().get_state(), "small_stem": self.small_stem_}

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.small_stem_ = bool(state["small_stem"])

    def build_module(self, X: Any, y: Any) -> nn.Module:
        self._check_augment()
        return self.finish_module(self.timm_module(self.in_channels_, self.network_outputs(), fitting=X is not None),
                                  y)

    def adapt_network(self, net: nn.Module) -> None:
        if self.small_stem_:
            use_small_stem(net, self.in_channels_)


class ResNet18Head(TimmHead):
    """ResNet-18 from scratch as in MedMNIST v2 (28 px: 3x3 stride-1 stem, no max-pool); timm's resnet18.

    Same parameters as the ``timm`` head, without ``backbone``.
    """

    def __init__(self, weights: str = "none", small_stem: str = "auto", input_size: int | None = None,
                 drop_rate: float = 0.0, normalize: str = "half", image_size: int | None = None,
                 augment: str = "none", ordinal_loss: str = "softmax"):
        super().__init__("resnet18", weights, small_stem, input_size, drop_rate, normalize, image_size, augment,
                         ordinal_loss)

    def backbone_name(self) -> str:
        return "resnet18"
