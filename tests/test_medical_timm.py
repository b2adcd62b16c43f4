"""timm backbones: resnet18 (MedMNIST v2 28 px set-up) and any timm model by name; local weights only."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from verticalkit.core.config import TrainConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.heads.base import FitContext
from verticalkit.verticals.medical_imaging import VERTICAL
from verticalkit.verticals.medical_imaging.timm_models import ResNet18Head, TimmHead


def _ready(head: TimmHead, channels: int, size: int, n_out: int = 2) -> TimmHead:
    """Set what fit would, without training."""
    head.in_channels_, head.image_size_, head.n_outputs_, head.task_kind_ = channels, size, n_out, "binary"
    head.fit_preprocessing(np.zeros((1, channels, size, size), np.uint8), None)
    return head


def test_resnet18_small_stem_at_28px_and_standard_stem_at_224():
    small = _ready(ResNet18Head(), 1, 28).build_module(None, None)
    assert isinstance(small.net.maxpool, nn.Identity)
    assert small.net.conv1.kernel_size == (3, 3) and small.net.conv1.stride == (1, 1)
    assert small.net.conv1.in_channels == 1 and small(torch.rand(2, 1, 28, 28)).shape == (2, 2)
    big = _ready(ResNet18Head(), 3, 224).build_module(None, None)
    assert big.net.conv1.kernel_size == (7, 7) and isinstance(big.net.maxpool, nn.MaxPool2d)
    assert big.net.conv1.in_channels == 3
    assert VERTICAL.default_configs["resnet18"]["train"]["optimizer"] == "adam"
    assert VERTICAL.default_configs["resnet18"]["train"]["scheduler"] == "multistep"


def test_any_timm_backbone_by_name_and_clear_error_for_unknown():
    head = _ready(TimmHead(backbone="mobilenetv3_small_050"), 3, 32, n_out=4)
    assert head.build_module(None, None)(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    with pytest.raises(ConfigError, match="not a timm model name; close names: .*resnet18"):
        _ready(TimmHead(backbone="resnet18x"), 1, 28)
    with pytest.raises(ConfigError, match="small_stem"):
        _ready(TimmHead(small_stem="maybe"), 1, 28)


def test_resnet18_trains_saves_and_explains(tmp_path):
    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.medical_imaging.report import cam_layer, grad_cam

    splits = VERTICAL.tiny_data(0)
    task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["0", "1"])
    ctx = FitContext(task=task, seed=0, train=TrainConfig(epochs=1, batch_size=64, progress=False, patience=None,
                                                          mixed_precision="no"))
    head = ResNet18Head(image_size=8).fit(splits.train.X[:48], splits.train.y[:48], context=ctx)
    p = head.predict_proba(splits.test.X)
    pred = Predictor(head, vertical="medical_imaging", model="resnet18", dataset="pneumoniamnist", task=task)
    pred.save(tmp_path / "m")
    again = Predictor.load(tmp_path / "m")
    np.testing.assert_allclose(again.head.predict_proba(splits.test.X), p, atol=1e-6)
    assert again.head.small_stem_ and again.head.pretrained_ == "none"
    assert cam_layer(head.module_) is head.module_.net.layer4
    cams = grad_cam(head.module_, torch.rand(2, 1, 8, 8), [1, 0])
    assert cams.shape == (2, 8, 8) and 0 <= cams.min() and cams.max() <= 1 + 1e-6


def test_local_weights_load_without_download_and_adapt_to_one_channel(tmp_path, monkeypatch):
    import timm
    from safetensors.torch import save_file

    def no_download(*a, **k):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    monkeypatch.setattr("timm.models._builder.load_pretrained", no_download)
    torch.manual_seed(1)
    source = timm.create_model("resnet18", pretrained=False, num_classes=1000)  # an "ImageNet" checkpoint
    state = {k: v.contiguous() for k, v in source.state_dict().items()}
    save_file(state, str(tmp_path / "resnet18.safetensors"))
    torch.save(state, tmp_path / "resnet18.pth")
    for file in ("resnet18.safetensors", "resnet18.pth"):
        head = _ready(TimmHead(weights=str(tmp_path / file), small_stem="off"), 1, 64)
        net = head.build_module(np.zeros((1, 1, 64, 64)), None).net
        assert head.pretrained_ == file
        assert torch.equal(net.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
        # 3 → 1 input channel: timm's adapt_input_conv sums the RGB filters
        torch.testing.assert_close(net.conv1.weight, state["conv1.weight"].sum(dim=1, keepdim=True))
        assert net.fc.out_features == 2  # the 1000-class classifier is dropped
    # the 28 px stem has another shape: left at random init and said so
    head = _ready(ResNet18Head(weights=str(tmp_path / "resnet18.safetensors")), 1, 28)
    head.build_module(np.zeros((1, 1, 28, 28)), None)
    assert "re-initialised: conv1.weight" in head.pretrained_
    # "imagenet" finds <backbone>.safetensors under $VERTICALKIT_DATA/weights/
    (tmp_path / "data" / "weights").mkdir(parents=True)
    (tmp_path / "resnet18.safetensors").rename(tmp_path / "data" / "weights" / "resnet18.safetensors")
    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path / "data"))
    head = _ready(ResNet18Head(weights="imagenet"), 3, 64)
    head.build_module(np.zeros((1, 3, 64, 64)), None)
    assert head.pretrained_.startswith("resnet18.safetensors")
    with pytest.raises(DataError, match="weights=none"):
        _ready(TimmHead(backbone="resnet34", weights="imagenet"), 3, 64).build_module(np.zeros((1, 3, 64, 64)), None)


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_weights_that_need_unpickling_or_do_not_fit_are_refused(tmp_path):
    import pickle

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"conv1.weight": object()}))
    with pytest.raises(DataError, match="not loadable as plain tensors"):
        _ready(TimmHead(weights=str(tmp_path / "evil.pth")), 3, 64).build_module(np.zeros((1, 3, 64, 64)), None)
    torch.save({"encoder.block.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(DataError, match="not a state dict of timm resnet18"):
        _ready(TimmHead(weights=str(tmp_path / "other.pth")), 3, 64).build_module(np.zeros((1, 3, 64, 64)), None)
    with pytest.raises(DataError, match="no such file"):
        _ready(TimmHead(weights=str(tmp_path / "nope.pth")), 3, 64).build_module(np.zeros((1, 3, 64, 64)), None)
