"""Report sections of the medical imaging vertical: a Grad-CAM gallery of test images.

Class activation maps by the ``grad-cam`` package (pytorch_grad_cam) on the last feature map
before pooling: Grad-CAM (Selvaraju et al., 2017; default: the class score's gradients, averaged
over each channel, weight that map; its positive part, upsampled, is overlaid on the image),
Grad-CAM++, Score-CAM or Eigen-CAM, chosen by ``predictor.info["cam_method"]``. For binary tasks the gallery shows the most confident true positives, false
positives and false negatives at 0.5; otherwise the most confident correct and wrong cases.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from verticalkit.core.data.adapter import DatasetSplits
from verticalkit.core.errors import ConfigError

from .models import ImageTorchHead, to_float_images

PER_GROUP = 4


def cam_layer(module: nn.Module) -> nn.Module:
    """The layer whose output Grad-CAM explains (the last feature map before pooling)."""
    if hasattr(module, "cam_layer"):  # timm backbones
        return module.cam_layer()
    if hasattr(module, "net"):  # MobileNetV2
        return module.net.features
    if hasattr(module, "features"):
        return module.features[-2]  # last ReLU of the small CNN (before global pooling)
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)][-1]


# method name -> class of the grad-cam package (pytorch_grad_cam)
CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "eigencam")
CAM_TITLES = dict(zip(CAM_METHODS, ("Grad-CAM", "Grad-CAM++", "Score-CAM", "Eigen-CAM")))
DEFAULT_CAM = "gradcam"


def _cam_class(method: str):
    from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, ScoreCAM

    classes = dict(zip(CAM_METHODS, (GradCAM, GradCAMPlusPlus, ScoreCAM, EigenCAM)))
    if method not in classes:
        raise ConfigError(f"unknown CAM method {method!r}; use one of {', '.join(CAM_METHODS)}")
    return classes[method]


def _spatial(t: torch.Tensor) -> torch.Tensor:
    """The package's reshape hook, used as a check: CAMs need a ``(N, C, H, W)`` feature map."""
    if t.ndim != 4:
        raise ValueError(f"Grad-CAM needs a (N, C, H, W) feature map; this backbone's is {tuple(t.shape)}")
    return t


def grad_cam(module: nn.Module, images: torch.Tensor, classes: list[int], method: str = DEFAULT_CAM) -> np.ndarray:
    """``(N, H, W)`` class activation maps in [0, 1] for ``classes[i]`` of image ``i``, by the
    ``grad-cam`` package: ``gradcam`` (default), ``gradcam++``, ``scorecam`` or ``eigencam``
    (class-agnostic: the first principal component of the feature map). Each map is min-max
    scaled per image (the package's convention); the module's train/eval mode is restored and
    the gradients it leaves on the weights are dropped."""
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam_class = _cam_class(method)
    layer = cam_layer(module)
    was_training = module.training
    # The package backpropagates to every weight; the maps need the gradient only down to the
    # feature map. Handing the layers above a detached copy of it stops the backward pass there
    # (registered before the package's hook, which then sees the copy). Without it the package took 7x
    # the former hand-written code's time on the kit's cnn (206 vs 29 ms, one 4-image batch, loaded CPU).
    cut = layer.register_forward_hook(lambda m, i, o: o.detach().requires_grad_(True))
    try:
        with torch.enable_grad(), cam_class(module, [layer], reshape_transform=_spatial) as cam:
            if method == "scorecam":
                cam.batch_size = 64  # masked copies of each image scored per forward pass
            maps = cam(images, targets=[ClassifierOutputTarget(int(c)) for c in classes])
    finally:
        cut.remove()
        module.zero_grad(set_to_none=True)
        module.train(was_training)
    return np.clip(maps.astype(np.float32, copy=False), 0.0, 1.0)


def cam_method(predictor: Any) -> str:
    """The run's CAM method: ``predictor.info["cam_method"]`` (default Grad-CAM)."""
    return str(getattr(predictor, "info", {}).get("cam_method") or DEFAULT_CAM)


def _pick(y: np.ndarray, scores: np.ndarray, kind: str) -> list[tuple[str, list[int]]]:
    if kind == "binary":
        pred = (scores >= 0.5).astype(int)
        groups = [("true positives", (pred == 1) & (y == 1), -scores),
                  ("false positives", (pred == 1) & (y == 0), -scores),
                  ("false negatives", (pred == 0) & (y == 1), scores)]
    else:
        pred, conf = scores.argmax(axis=1), scores.max(axis=1)
        groups = [("correct", pred == y, -conf), ("wrong", pred != y, -conf)]
    out = []
    for name, mask, key in groups:
        idx = np.flatnonzero(mask)
        out.append((name, idx[np.argsort(key[idx], kind="stable")][:PER_GROUP].tolist()))
    return out


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def gallery(head: ImageTorchHead, X: Any, y: np.ndarray, scores: np.ndarray, kind: str, ids: np.ndarray,
            classes: list[str], method: str = DEFAULT_CAM) -> str:
    """HTML: one row of image + class activation map overlay per picked test image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = []
    for name, idx in _pick(y, scores, kind):
        if not idx:
            parts.append(f"<p class='muted'>{html.escape(name)}: none</p>")
            continue
        subset = X[idx] if isinstance(X, np.ndarray) else [X[i] for i in idx]
        images = torch.from_numpy(to_float_images(subset, head.in_channels_, head.image_size_))
        target = [1] * len(idx) if kind == "binary" else [int(scores[i].argmax()) for i in idx]
        if getattr(head, "coral_", False):
            target = [0] * len(idx)  # CORAL: every cumulative logit is the one shared score minus a threshold
        cams = grad_cam(head.module_, images, target, method)
        fig, axes = plt.subplots(1, len(idx), figsize=(2.2 * len(idx), 2.4), squeeze=False)
        for ax, i, img, cam in zip(axes[0], idx, images.numpy(), cams):
            shown = img[0] if img.shape[0] == 1 else np.moveaxis(img, 0, -1)
            ax.imshow(shown, cmap="gray", vmin=0, vmax=1)
            ax.imshow(cam, cmap="jet", alpha=0.35, vmin=0, vmax=1)
            label = classes[int(y[i])] if y.ndim == 1 and int(y[i]) < len(classes) else str(y[i])
            s = scores[i] if kind == "binary" else scores[i].max()
            ax.set_title(f"{str(ids[i])[:18]}\ny={label} p={float(s):.2f}", fontsize=7)
            ax.axis("off")
        parts.append(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,{_png(fig)}'>"
                     f"<figcaption>{html.escape(name)}</figcaption></figure>")
    return "".join(parts)


def skipped_section(splits: DatasetSplits, run_dir: Path) -> list[tuple[str, str]]:
    """The files the dataset skipped: ``skipped_files.csv`` (sample id, reason; no paths unless the
    run's ids are paths) in the run folder, and a report section with the counts by reason."""
    skipped = splits.info.get("skipped") or []
    if not skipped:
        return []
    import pandas as pd

    pd.DataFrame(skipped, columns=["id", "reason"]).to_csv(Path(run_dir) / "skipped_files.csv", index=False)
    counts = pd.Series([r for _, r in skipped]).value_counts()
    rows = "".join(f"<tr><td>{html.escape(str(r))}</td><td>{int(n)}</td></tr>" for r, n in counts.items())
    return [("Skipped files", f"<p>{len(skipped)} file(s) were not used (listed by sample id in "
                              f"<code>skipped_files.csv</code>).</p><table><tr><th>reason</th><th>files</th></tr>"
                              f"{rows}</table>")]


def report_sections(predictor: Any, splits: DatasetSplits, scores: np.ndarray, run_dir: Path
                    ) -> list[tuple[str, str]]:
    """Skipped files, then a Grad-CAM gallery for torch heads (binary and multi-class tasks)."""
    head = predictor.head
    task = splits.task
    out = skipped_section(splits, run_dir)
    method = cam_method(predictor)
    title = f"{CAM_TITLES.get(method, method)} gallery (test split)"
    if not isinstance(head, ImageTorchHead) or task.kind not in ("binary", "multiclass") or len(splits.test) == 0:
        return out
    try:
        body = gallery(head, splits.test.X, np.asarray(splits.test.y), np.asarray(scores), task.kind,
                       splits.test.ids, list(task.classes), method)
    except (ValueError, ConfigError) as e:  # e.g. a transformer backbone without a spatial feature map
        return out + [(title, f"<p class='muted'>Not available: {html.escape(str(e))}</p>")]
    note = (f"<p class='muted'>{CAM_TITLES[method]} (grad-cam package) of the predicted class (binary: the "
            "positive class) on the last convolutional feature map; red = regions that raised the score. An "
            "explanation aid, not a localisation: check it against the images.</p>")
    return out + [(title, note + body)]


OVERLAY_PX = 224  # side of the served overlay (the model's input, upscaled)


def overlay_png(image: np.ndarray, cam: np.ndarray) -> str:
    """A PNG data URI: the ``(C, H, W)`` image in grey with the Grad-CAM map blended in (jet, 35%)."""
    from matplotlib import colormaps
    from PIL import Image

    grey = image.mean(axis=0) if image.ndim == 3 else image
    rgb = 0.65 * np.repeat(grey[..., None], 3, axis=-1) + 0.35 * colormaps["jet"](cam)[..., :3]
    pic = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).resize((OVERLAY_PX, OVERLAY_PX),
                                                                               Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    pic.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def explain(predictor: Any, X: Any, method: str | None = None) -> list[list[Any]]:
    """/v1/predict reason codes of an image model: one class activation map overlay per image
    (``{"title", "overlay": PNG data URI}``) of the positive class (binary) or the top class; for
    heads without a convolutional feature map, one line saying so. ``method``: one of
    :data:`CAM_METHODS` (default: the run's, see :func:`cam_method`)."""
    head, kind = predictor.head, predictor.task.kind
    method = method or cam_method(predictor)
    _cam_class(method)  # an unknown method is a ConfigError, not a reason line
    if not isinstance(head, ImageTorchHead):
        return [[f"no Grad-CAM: the {predictor.model} head has no convolutional feature map"]] * len(X)
    images = torch.from_numpy(to_float_images(X, head.in_channels_, head.image_size_))
    classes = list(predictor.task.classes)
    if getattr(head, "coral_", False):
        target = [0] * len(images)  # CORAL: one shared score
    elif kind == "binary":
        target = [1] * len(images)
    else:
        target = np.asarray(predictor.predict_score(X)).reshape(len(images), -1).argmax(axis=1).tolist()
    try:
        cams = grad_cam(head.module_, images, target, method)
    except ValueError as e:  # e.g. a transformer backbone without a spatial feature map
        return [[f"no Grad-CAM: {e}"]] * len(X)
    out = []
    for img, cam, t in zip(images.numpy(), cams, target):
        name = "the score" if getattr(head, "coral_", False) else classes[t] if t < len(classes) else f"class {t}"
        out.append([{"title": f"{CAM_TITLES[method]} of {name} (red: regions that raised it)",
                     "overlay": overlay_png(img, cam)}])
    return out
