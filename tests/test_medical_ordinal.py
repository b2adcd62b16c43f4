"""Graded (ordinal) image tasks and the positive class of binary ones.

Ordinal: ``data.task=ordinal`` / RetinaMNIST give a multi-class task with ``ordered=True`` whose
metrics add QWK, MAE and exact / adjacent agreement; the cnn head's ``ordinal_loss=coral`` is a
rank-consistent cumulative-logit head. Positive class: BreastMNIST's disease class is label 0.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm
from wild_images import graded_folder

from verticalkit.core.tools.cli import main
from verticalkit.core.config import TrainConfig
from verticalkit.core.data.adapter import Task
from verticalkit.core.errors import ConfigError
from verticalkit.core.heads.base import FitContext
from verticalkit.core.evaluate.metrics import core_metrics, graded_metrics, metric_fn
from verticalkit.verticals.medical_imaging.data import MEDMNIST_ADAPTERS, ImageFolder, _natural_key
from verticalkit.verticals.medical_imaging.models import CNNHead, CoralNet, cumulative_to_class_probs
from verticalkit.verticals.medical_imaging.timm_models import ResNet18Head, TimmHead

GRADED = Task(kind="multiclass", target="grade", primary_metric="qwk", classes=list("01234"), ordered=True)


def _graded_scores(n=300, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    P = rng.dirichlet(np.ones(k), n)
    P[np.arange(n), np.clip(y + rng.integers(-1, 2, n), 0, k - 1)] += 0.8  # mostly right or one off
    return y, P / P.sum(1, keepdims=True)


def test_graded_metrics_match_sklearn_and_the_bootstrap_path():
    y, P = _graded_scores()
    m = core_metrics(GRADED)
    pred = P.argmax(1)
    assert m["qwk"](y, P) == pytest.approx(skm.cohen_kappa_score(y, pred, weights="quadratic", labels=range(5)))
    assert m["mae"](y, P) == pytest.approx(skm.mean_absolute_error(y, pred))
    assert m["exact_agreement"](y, P) == pytest.approx(skm.accuracy_score(y, pred)) == m["accuracy"](y, P)
    assert m["adjacent_agreement"](y, P) == pytest.approx(np.mean(np.abs(pred - y) <= 1))
    assert m["exact_agreement"](y, P) < m["adjacent_agreement"](y, P) <= 1
    assert {"roc_auc", "f1_macro", "log_loss"} <= set(m)  # the multi-class metrics stay
    assert "qwk" not in core_metrics(Task(kind="multiclass", target="c", primary_metric="roc_auc",
                                          classes=list("abc")))
    assert metric_fn(GRADED, "mae")(y, P) < 0  # lower is better: negated for early stopping
    rng = np.random.default_rng(1)
    idx = [rng.integers(0, len(y), len(y)) for _ in range(3)]
    W = np.stack([np.bincount(i, minlength=len(y)) for i in idx]).astype(float)
    for name, fn in graded_metrics(5).items():
        np.testing.assert_allclose(fn.batch(y, P, None, W), [fn(y[i], P[i]) for i in idx], rtol=1e-9, err_msg=name)


def test_ordered_task_round_trips_and_is_multiclass_only():
    assert Task.from_dict(GRADED.to_dict()) == GRADED
    assert Task.from_dict({k: v for k, v in GRADED.to_dict().items() if k != "ordered"}).ordered is False
    with pytest.raises(ValueError, match="ordered applies to multiclass"):
        Task(kind="binary", target="y", primary_metric="roc_auc", classes=["a", "b"], ordered=True)


def test_cumulative_probabilities_to_classes():
    cum = np.array([[0.9, 0.6, 0.2, 0.05], [0.1, 0.1, 0.0, 0.0]])
    P = cumulative_to_class_probs(cum)
    np.testing.assert_allclose(P.sum(1), 1.0)
    np.testing.assert_allclose(P[0], [0.1, 0.3, 0.4, 0.15, 0.05])
    net = CoralNet(torch.nn.Linear(3, 1), 5, init=np.array([0.5, -1.0, 2.0, 3.0]))  # unordered init is fixed
    b = net.thresholds().detach().numpy()
    assert np.all(np.diff(b) > 0)
    out = net(torch.randn(20, 3)).detach().numpy()
    assert np.all(np.diff(out, axis=1) < 0)  # P(grade > k) falls with k: rank-consistent


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return graded_folder(tmp_path_factory.mktemp("graded") / "grades", grades=5, n_per_grade=24, size=16)


def test_ordinal_image_folder_task(graded):
    s = ImageFolder(path=graded, image_size=16, task="ordinal").load()
    assert s.task.kind == "multiclass" and s.task.ordered and s.task.primary_metric == "qwk"
    assert s.task.classes == [f"grade_{g}" for g in range(5)] and s.info["grades"] == s.task.classes
    assert not ImageFolder(path=graded, image_size=16).load().task.ordered
    assert sorted(["grade_10", "grade_2", "grade_1"], key=_natural_key) == ["grade_1", "grade_2", "grade_10"]
    order = ["grade_4", "grade_3", "grade_2", "grade_1", "grade_0"]  # data.grades: any order, e.g. reversed
    r = ImageFolder(path=graded, image_size=16, task="ordinal", grades=order).load()
    assert r.task.classes == order and all(int(i.split("/")[0][-1]) == 4 - g for i, g in zip(r.train.ids, r.train.y))


def _coral(s, epochs: int) -> CNNHead:
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=epochs, batch_size=32, lr=5e-3, progress=False,
                                                            patience=None))
    return CNNHead(width=8, ordinal_loss="coral", augment="none").fit(s.train.X, s.train.y, context=ctx)


@pytest.mark.slow
def test_coral_head_learns_the_grades(graded):
    s = ImageFolder(path=graded, image_size=16, task="ordinal").load()
    P = _coral(s, epochs=12).predict_proba(s.test.X)
    assert core_metrics(s.task)["qwk"](s.test.y, P) > 0.6  # the grade is learnable from the disc size


def test_coral_head_probabilities_reload_and_checks(graded, tmp_path):
    s = ImageFolder(path=graded, image_size=16, task="ordinal").load()
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=1, progress=False, patience=None))
    head = _coral(s, epochs=1)
    P = head.predict_proba(s.test.X)
    assert P.shape == (len(s.test), 5) and np.allclose(P.sum(1), 1) and (P >= 0).all()
    assert np.all(np.diff(head.predict_outputs(s.test.X), axis=1) < 0)  # rank-consistent cumulative logits
    head.save(tmp_path / "h")
    again = CNNHead.load(tmp_path / "h")
    np.testing.assert_allclose(again.predict_proba(s.test.X), P, atol=1e-5)
    assert (again.predict(s.test.X) == P.argmax(1)).all()
    nominal = Task(kind="multiclass", target="c", primary_metric="roc_auc", classes=list("01234"))
    with pytest.raises(ConfigError, match="ordinal_loss=coral needs graded classes"):
        CNNHead(ordinal_loss="coral").fit(s.train.X, s.train.y, context=FitContext(task=nominal, train=ctx.train))
    with pytest.raises(ConfigError, match="ordinal_loss='cumulative'"):
        CNNHead(ordinal_loss="cumulative").fit(s.train.X, s.train.y, context=ctx)


@pytest.mark.parametrize("loss", ["softmax", "coral"])
def test_train_ordinal_folder_end_to_end(graded, tmp_path, loss):
    out = tmp_path / "run"
    assert main(["train", "medical_imaging", "--dataset", "image-folder", "--model", "cnn", "--out", str(out),
                 "--set", f"data.path={graded}", "--set", "data.task=ordinal", "--set", "data.image_size=16",
                 "--set", f"model_params.ordinal_loss={loss}", "--set", "model_params.width=4",
                 "--set", "train.epochs=1", "--set", "eval.n_bootstrap=20", "--set", "eval.report=false"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["primary"] == "qwk"
    for name in ("qwk", "mae", "exact_agreement", "adjacent_agreement", "accuracy", "roc_auc"):
        assert np.isfinite(metrics["metrics"][name]["value"]), name
    predictor = json.loads((out / "model" / "predictor.json").read_text())
    assert predictor["task"]["ordered"] is True


# --------------------------------------------------------------------------- positive class


def _medmnist(path: Path, labels: np.ndarray, channels: int = 1) -> Path:
    rng = np.random.default_rng(0)
    n = len(labels)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28) + ((3,) if channels == 3 else ()), dtype=np.uint8)
        arrays[f"{split}_labels"] = labels.reshape(n, 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_breastmnist_positive_class_is_malignant(tmp_path):
    """Official label 0 is malignant: before, class 1 ('normal, benign') was the positive class."""
    labels = np.array([0, 1, 1, 1, 0, 1])
    f = _medmnist(tmp_path / "breastmnist.npz", labels)
    s = MEDMNIST_ADAPTERS["breastmnist"](path=f).load()
    assert s.task.classes == ["normal, benign", "malignant"] and s.info["positive_class"] == "malignant"
    assert s.train.y.tolist() == (1 - labels).tolist()  # malignant rows are class 1
    same = MEDMNIST_ADAPTERS["breastmnist"](path=f, positive_class="normal, benign").load()
    assert same.task.classes == ["malignant", "normal, benign"] and same.train.y.tolist() == labels.tolist()
    p = _medmnist(tmp_path / "pneumoniamnist.npz", labels)
    assert MEDMNIST_ADAPTERS["pneumoniamnist"](path=p).load().info["positive_class"] == "pneumonia"
    r = _medmnist(tmp_path / "retinamnist.npz", np.arange(6) % 5, channels=3)
    with pytest.raises(ConfigError, match="applies to two-class tasks"):
        MEDMNIST_ADAPTERS["retinamnist"](path=r, positive_class=1).load()
    task = MEDMNIST_ADAPTERS["retinamnist"](path=r).load().task
    assert task.ordered and task.primary_metric == "qwk"


@pytest.mark.slow  # timm's import and model build: ~40 s on a shared CPU
@pytest.mark.parametrize("make", [lambda: ResNet18Head(ordinal_loss="coral"),
                                  lambda: TimmHead(backbone="mobilenetv3_small_050", ordinal_loss="coral")],
                         ids=["resnet18", "timm"])
def test_timm_heads_take_the_coral_option(graded, tmp_path, make):
    s = ImageFolder(path=graded, image_size=8, task="ordinal").load()
    ctx = FitContext(task=s.task, seed=0, train=TrainConfig(epochs=1, batch_size=64, progress=False, patience=None))
    head = make().fit(s.train.X, s.train.y, context=ctx)
    P = head.predict_proba(s.test.X)
    assert P.shape == (len(s.test), 5) and np.allclose(P.sum(1), 1)
    assert isinstance(head.module_, CoralNet) and np.all(np.diff(head.predict_outputs(s.test.X), axis=1) < 0)
    head.save(tmp_path / "h")
    np.testing.assert_allclose(type(head).load(tmp_path / "h").predict_proba(s.test.X), P, atol=1e-5)
