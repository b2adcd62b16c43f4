"""The cnn head's ``class_weight`` and ``tta`` options: what they compute, that they persist, and
the error for an unknown value."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from verticalkit.core.config import TrainConfig
from verticalkit.core.errors import ConfigError
from verticalkit.core.heads.base import FitContext
from verticalkit.core.heads.torch_head import infer_task
from verticalkit.verticals.medical_imaging.models import CNNHead


def _images(n=96, seed=0):
    """Imbalanced (3:1) 12 px images whose class is a bright square in the left half; uint8."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.75).astype(int)
    X = rng.integers(0, 60, (n, 1, 12, 12)).astype(np.uint8)
    X[y == 1, :, 3:7, 1:5] = 220
    return X, y


def _fit(**params):
    X, y = _images()
    ctx = FitContext(task=infer_task(y), seed=0, train=TrainConfig(epochs=2, batch_size=32, patience=None,
                                                                    progress=False, device="cpu"))
    return CNNHead(width=4, augment="none", **params).fit(X, y, context=ctx), X, y


def test_balanced_class_weight_is_inverse_frequency_and_persists(tmp_path):
    head, X, y = _fit(class_weight="balanced")
    counts = np.bincount(y)
    np.testing.assert_allclose(head.class_weights_, len(y) / (2 * counts), rtol=1e-9)
    assert head.class_weights_[0] > 1 > head.class_weights_[1]  # the rarer class weighs more
    out = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    batch = {"target": torch.tensor([1, 0])}
    expected = torch.nn.functional.cross_entropy(out, batch["target"], weight=torch.tensor(head.class_weights_))
    assert head.loss(out, batch).item() == pytest.approx(expected.item(), rel=1e-6)
    assert _fit()[0].class_weights_ is None  # the default loss is unweighted
    head.save(tmp_path / "m")
    again = CNNHead.load(tmp_path / "m")
    assert again.class_weights_ == pytest.approx(head.class_weights_)
    np.testing.assert_allclose(again.predict_proba(X), head.predict_proba(X), atol=1e-6)


def test_flip_tta_averages_the_image_and_its_mirror():
    head, X, _ = _fit(tta="flip")
    mirrored = X[..., ::-1].copy()
    # the mean over {x, flip(x)} is the same set for x and its mirror image
    np.testing.assert_allclose(head.predict_outputs(X), head.predict_outputs(mirrored), atol=1e-5)
    head.tta = "none"
    assert not np.allclose(head.predict_outputs(X), head.predict_outputs(mirrored), atol=1e-5)


@pytest.mark.parametrize("param", [{"class_weight": "inverse"}, {"tta": "rotate"}])
def test_unknown_option_is_a_config_error(param):
    with pytest.raises(ConfigError, match=next(iter(param))):
        _fit(**param)
