"""Heads, augmentation and inputs of the medical imaging vertical."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from verticalkit.core.config import TrainConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import DataError
from verticalkit.core.heads.base import FitContext
from verticalkit.verticals.medical_imaging import VERTICAL
from verticalkit.verticals.medical_imaging.inputs import read_input, request_to_input
from verticalkit.verticals.medical_imaging.models import (MOBILENET_WEIGHTS, BadInput, CNNHead, LogRegHead,
                                                           MobileNetV2Head, augment_batch, to_float_images)
from verticalkit.verticals.medical_imaging.tiny import synthetic_images

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = Path(os.environ.get("VERTICALKIT_DATA", SHARED))


def _ctx(kind: str, k: int, epochs: int = 2) -> FitContext:
    task = Task(kind=kind, target="y", primary_metric="roc_auc", classes=[str(i) for i in range(k)])
    return FitContext(task=task, seed=0, train=TrainConfig(epochs=epochs, batch_size=32, progress=False,
                                                           patience=None, mixed_precision="no"))


def test_augmentation_is_seeded_and_changes_images():
    x = torch.rand(8, 1, 16, 16)
    torch.manual_seed(3)
    a = augment_batch(x, True, 10, 0.08, 0.08)
    torch.manual_seed(3)
    b = augment_batch(x, True, 10, 0.08, 0.08)
    assert torch.equal(a, b) and not torch.allclose(a, x)
    torch.manual_seed(0)
    flipped = augment_batch(x, True, 0, 0, 0)
    for i in range(8):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))


def test_inputs_are_resized_and_channel_matched():
    imgs = [np.random.rand(3, 40, 30).astype(np.float32), np.random.randint(0, 255, (20, 20), dtype=np.uint8)]
    out = to_float_images(imgs, channels=1, size=16)
    assert out.shape == (2, 1, 16, 16) and 0 <= out.min() and out.max() <= 1
    batch = np.random.randint(0, 255, (4, 1, 28, 28), dtype=np.uint8)
    assert to_float_images(batch, 3, 28).shape == (4, 3, 28, 28)
    with pytest.raises(DataError, match="gone"):
        to_float_images([BadInput("gone")], 1, 8)


def test_cnn_multilabel_uses_bce_and_sigmoid():
    X, y, _ = synthetic_images(n=64, size=16)
    Y = np.stack([y, 1 - y, (np.arange(64) % 3 == 0).astype(int)], axis=1)
    head = CNNHead(width=8, augment="flip+affine").fit(X, Y, context=_ctx("multilabel", 3))
    p = head.predict_proba(X)
    assert p.shape == (64, 3) and (0 <= p).all() and (p <= 1).all()
    assert not np.allclose(p.sum(axis=1), 1)
    batch = {"inputs": torch.zeros(2, 1, 16, 16), "target": torch.tensor([[1.0, 0, 1], [0, 1, 0]])}
    out = torch.zeros(2, 3)
    assert head.loss(out, batch).item() == pytest.approx(np.log(2), abs=1e-6)  # BCE with logits at 0


def test_cnn_learns_the_tiny_task_and_resizes_at_predict():
    splits = VERTICAL.tiny_data(0)
    head = CNNHead(width=8).fit(splits.train.X, splits.train.y, context=_ctx("binary", 2, epochs=8))
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(splits.test.y, head.predict_proba(splits.test.X)[:, 1]) > 0.8
    bigger = [np.kron(x[0].astype(np.float32) / 255, np.ones((2, 2)))[None] for x in splits.test.X[:3]]
    assert head.predict_proba(bigger).shape == (3, 2)


def test_logreg_baseline_multiclass():
    rng = np.random.default_rng(0)
    X = rng.random((60, 3, 8, 8)).astype(np.float32)
    y = np.arange(60) % 3
    X[np.arange(60), y] += 1.0
    head = LogRegHead(image_size=8).fit(np.clip(X, 0, 1), y)
    assert head.predict_proba(X).shape == (60, 3) and (head.predict(X) == y).mean() > 0.9


@pytest.mark.skipif(not (DATA / "weights" / MOBILENET_WEIGHTS).is_file(), reason="MobileNetV2 weights not present")
def test_mobilenet_loads_local_imagenet_weights_without_download(monkeypatch):
    monkeypatch.setenv("VERTICALKIT_DATA", str(DATA))

    def no_download(*a, **k):
        raise AssertionError("tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    head = MobileNetV2Head(weights="imagenet")
    head.in_channels_, head.image_size_, head.n_outputs_, head.task_kind_ = 1, 28, 2, "binary"
    module = head.build_module(np.zeros((1, 1, 28, 28)), np.zeros(1))
    state = torch.load(DATA / "weights" / MOBILENET_WEIGHTS, map_location="cpu", weights_only=True)
    assert head.pretrained_.startswith("imagenet")
    assert torch.equal(module.net.features[0][0].weight, state["features.0.0.weight"])
    assert module(torch.rand(2, 1, 28, 28)).shape == (2, 2)


def test_mobilenet_explicit_imagenet_without_file_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    head = MobileNetV2Head(weights="imagenet")
    head.n_outputs_ = 2
    with pytest.raises(DataError, match="weights=none"):
        head.build_module(np.zeros((1, 1, 8, 8)), None)
    head = MobileNetV2Head(weights="auto")
    head.n_outputs_ = 2
    head.build_module(np.zeros((1, 1, 8, 8)), None)
    assert head.pretrained_.startswith("none")


def _png_bytes(arr: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_read_input_folder_skips_bad_files(tmp_path):
    from pydicom.data import get_testdata_file

    (tmp_path / "a.png").write_bytes(_png_bytes(np.full((10, 12), 128, np.uint8)))
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "ct.dcm").write_bytes(Path(get_testdata_file("CT_small.dcm")).read_bytes())
    (tmp_path / "bad.png").write_bytes(b"nope")
    (tmp_path / "notes.txt").write_text("ignored")
    chunks = list(read_input(tmp_path, 10, {"ids": "path"}))
    ids = [i for _, chunk_ids in chunks for i in chunk_ids]
    assert sorted(ids) == ["a.png", "bad.png", "sub/ct.dcm"]
    bad = [X for X, i in chunks if list(i) == ["bad.png"]][0]
    assert len(bad) == 1 and isinstance(bad[0], BadInput) and "bad.png" in bad[0].reason
    # default (no run info): salted-hash ids, and the bad file's reason names its id, not its path
    hashed = list(read_input(tmp_path, 10))
    ids = [i for _, chunk_ids in hashed for i in chunk_ids]
    assert len(set(ids)) == 3 and all(i.startswith("f-") and len(i) == 18 for i in ids)
    [(bad, bad_id)] = [(X, i) for X, i in hashed if isinstance(X[0], BadInput)]
    assert "bad.png" not in bad[0].reason and bad_id[0] in bad[0].reason
    with pytest.raises(DataError, match="no DICOM or image files"):
        list(read_input(_empty(tmp_path), 10))


def _empty(tmp_path: Path) -> Path:
    (tmp_path / "empty").mkdir(exist_ok=True)
    return tmp_path / "empty"


def test_request_to_input_records():
    from pydicom.data import get_testdata_file

    png = base64.b64encode(_png_bytes(np.zeros((6, 6, 3), np.uint8))).decode()
    dcm = base64.b64encode(Path(get_testdata_file("MR_small.dcm")).read_bytes()).decode()
    out = request_to_input([{"pixels": [[0, 255], [255, 0]]}, {"image_base64": png}, {"image_base64": dcm},
                            VERTICAL.serve_example])
    assert [o.shape for o in out] == [(1, 2, 2), (3, 6, 6), (1, 64, 64), (1, 8, 8)]
    assert out[0].max() == 1.0
    with pytest.raises(DataError, match="record 0"):
        request_to_input([{"x": 1}])
    with pytest.raises(DataError, match="record 0: field 'image_base64'"):
        request_to_input([{"image_base64": "!!"}])


def test_grad_cam_report_section(tmp_path):
    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.medical_imaging.report import grad_cam, report_sections

    splits = VERTICAL.tiny_data(0)
    head = CNNHead(width=8).fit(splits.train.X, splits.train.y, context=_ctx("binary", 2, epochs=3))
    pred = Predictor(head, vertical="medical_imaging", model="cnn", dataset=splits.dataset, task=splits.task)
    scores = pred.predict_score(splits.test.X)
    sections = report_sections(pred, splits, scores, tmp_path)
    assert sections[0][0].startswith("Grad-CAM") and "data:image/png;base64," in sections[0][1]
    x = torch.from_numpy(to_float_images(splits.test.X[:3], 1, 16))
    cams = grad_cam(head.module_, x, [1, 1, 1])
    assert cams.shape == (3, 16, 16) and cams.min() >= 0 and cams.max() <= 1 + 1e-6
    assert not head.module_.training


def test_read_input_windows_dicom_as_the_run_was_trained(tmp_path):
    from pydicom.data import get_testdata_file

    from verticalkit.verticals.medical_imaging.dicom import read_dicom

    src = Path(get_testdata_file("CT_small.dcm"))
    (tmp_path / "ct.dcm").write_bytes(src.read_bytes())
    info = {"voi": "window", "window_center": 40.0, "window_width": 80.0, "frame": 0}
    [(images, _)] = list(read_input(tmp_path, 10, info))
    expected = read_dicom(src, voi_mode="window", window=(40.0, 80.0)).frame(0)
    np.testing.assert_array_equal(images[0], expected)
    [(default, _)] = list(read_input(tmp_path, 10))
    assert not np.array_equal(default[0], expected)  # the header VOI differs from the run's window
