"""Class activation maps of the medical vertical (grad-cam package): a hand-built model whose
class-1 evidence is known (a bright patch planted at a different place in each image) must get
its highest attribution there, for every gradient or score based method; maps match the image's
shape (non-square, so a swapped height/width fails); bad methods and backbones give clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from verticalkit.core.errors import ConfigError
from verticalkit.verticals.medical_imaging.report import CAM_METHODS, cam_layer, grad_cam

H, W = 20, 36
PATCHES = [(2, 3), (12, 28), (5, 20), (14, 6), (8, 31)]  # top-left corners of the 4x4 planted patches


class Planted(nn.Module):
    """Channel 0 = relu(x - 0.6): only the planted patch (1.0) passes; channel 1 = x everywhere.
    Class 1 reads channel 0 only, class 0 channel 1 only."""

    def __init__(self):
        super().__init__()
        conv = nn.Conv2d(1, 2, 3, padding=1)
        with torch.no_grad():
            conv.weight.zero_()
            conv.weight[:, 0, 1, 1] = 1.0
            conv.bias.copy_(torch.tensor([-0.6, 0.0]))
        self.features = nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2, 2))
        with torch.no_grad():
            self.head[1].weight.copy_(torch.tensor([[0.0, 10.0], [10.0, 0.0]]))
            self.head[1].bias.zero_()

    def forward(self, x):
        return self.head(self.features(x))


def planted_images(seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.4, (len(PATCHES), 1, H, W)).astype(np.float32)
    mask = np.zeros((len(PATCHES), H, W), dtype=bool)
    for i, (r, c) in enumerate(PATCHES):
        x[i, 0, r:r + 4, c:c + 4] = 1.0
        mask[i, r:r + 4, c:c + 4] = True
    return torch.from_numpy(x), mask


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam"])
def test_planted_patch_gets_the_highest_attribution(method):
    model = Planted().train()
    images, mask = planted_images()
    maps = grad_cam(model, images, [1] * len(images), method)
    assert maps.shape == (len(images), H, W) and maps.dtype == np.float32
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    for m, inside in zip(maps, mask):
        peak = np.unravel_index(m.argmax(), m.shape)
        assert inside[peak], f"{method}: map peaks at {peak}, outside the planted patch"
        assert m[inside].mean() > 3 * m[~inside].mean()
    assert model.training  # the mode is restored
    assert all(p.grad is None for p in model.parameters())  # no gradients left on the weights


def test_maps_follow_the_class_asked_for():
    model = Planted()
    images, mask = planted_images(1)
    ones, zeros = grad_cam(model, images, [1] * 5), grad_cam(model, images, [0] * 5)
    # class 0 reads every pixel: its map covers the background that class 1's leaves dark
    assert zeros[~mask].mean() > 0.1 > 0.02 > ones[~mask].mean()
    # the background of class 0's map follows the image's intensity
    r = np.corrcoef(zeros[~mask], images[:, 0].numpy()[~mask])[0, 1]
    assert r > 0.5


def test_every_method_keeps_the_image_shape_and_range():
    model = Planted()
    images, _ = planted_images(2)
    for method in CAM_METHODS:
        maps = grad_cam(model, images, [1] * 5, method)
        assert maps.shape == (5, H, W), method
        assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1.0 + 1e-6, method
        assert maps.reshape(5, -1).std(axis=1).min() > 0, f"{method}: a flat map"


def test_unknown_method_and_token_backbone_are_clear_errors():
    model = Planted()
    images, _ = planted_images()
    with pytest.raises(ConfigError, match="unknown CAM method 'gradcamm'; use one of gradcam, gradcam\\+\\+"):
        grad_cam(model, images, [1] * 5, "gradcamm")

    class Tokens(nn.Module):  # a transformer-like backbone: (N, tokens, dim) features
        def __init__(self):
            super().__init__()
            self.embed = nn.Linear(W, 8)
            self.head = nn.Linear(8, 2)

        def cam_layer(self):
            return self.embed

        def forward(self, x):
            return self.head(self.embed(x[:, 0]).mean(1))

    tokens = Tokens()
    assert cam_layer(tokens) is tokens.embed
    with pytest.raises(ValueError, match=r"needs a \(N, C, H, W\) feature map"):
        grad_cam(tokens, images, [1] * 5)


def test_explain_uses_the_runs_cam_method():
    from verticalkit.core.data.adapter import Task
    from verticalkit.verticals.medical_imaging.models import CNNHead
    from verticalkit.verticals.medical_imaging.report import explain

    class Run:  # the parts of a Predictor that explain reads
        head = CNNHead(width=4)
        task = Task(kind="binary", target="y", primary_metric="roc_auc", classes=["normal", "finding"])
        model, info = "cnn", {"cam_method": "gradcam++"}

    run = Run()
    run.head.module_, run.head.in_channels_, run.head.image_size_ = Planted(), 1, H
    images, _ = planted_images()
    square = images[:, :, :, :H].numpy()
    [[first], *_] = explain(run, square)
    assert first["title"].startswith("Grad-CAM++ of finding") and first["overlay"].startswith("data:image/png")
    [[eigen], *_] = explain(run, square, method="eigencam")
    assert eigen["title"].startswith("Eigen-CAM")
    with pytest.raises(ConfigError, match="unknown CAM method"):
        explain(run, square, method="lime")
