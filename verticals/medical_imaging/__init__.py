"""Medical vertical: image classification (binary, multi-class, multi-label).

Datasets: every MedMNIST 2D flag (``pneumoniamnist`` default, official splits), ``dicom-folder``
(DICOM files + labels CSV, patient-grouped split), ``image-folder`` (PNG/JPEG ImageFolder).
Models: ``cnn`` (small CNN), ``resnet18`` (timm, from scratch, MedMNIST v2's 28 px set-up), ``timm``
(any timm model by ``model_params.backbone``), ``mobilenet_v2`` (ImageNet weights from a local
file), ``logreg``.
DICOM → tensor in :mod:`.dicom` (modality LUT → VOI → MONOCHROME1 inversion → [0, 1]);
de-identification (PS3.15 basic profile subset) in :mod:`.deidentify`.
"""

from __future__ import annotations

from pathlib import Path

from verticalkit.core.registry import Vertical

from .data import adapters
from .inputs import SERVE_EXAMPLE, read_input, request_to_input
from .monitoring import monitor_features
from .models import CNNHead, LogRegHead, MobileNetV2Head
from .report import explain, report_sections
from .timm_models import ResNet18Head, TimmHead
from .tiny import tiny_data

# early stopping on validation AUC (patience 5); the best epoch's weights are kept
TORCH_TRAIN = {"epochs": 20, "batch_size": 128, "lr": 2e-3, "weight_decay": 1e-4, "patience": 5, "progress": False}
# MedMNIST v2 protocol (Adam 1e-3, /10 at 50 % and 75 %, batch 128) cut to 3 epochs: the 28 px ResNet-18
# keeps 28x28 maps in its first stage, ~4 min per PneumoniaMNIST epoch on one CPU core
RESNET_TRAIN = {"epochs": 3, "batch_size": 128, "lr": 1e-3, "weight_decay": 0.0, "optimizer": "adam",
                "scheduler": "multistep", "milestones": [0.5, 0.75], "max_grad_norm": None, "patience": None,
                "progress": False}

VERTICAL = Vertical(
    id="medical_imaging",
    description="medical: image classification from MedMNIST, DICOM folders and image folders (binary, "
                "multi-class, multi-label)",
    datasets=adapters(),
    models={"cnn": CNNHead, "resnet18": ResNet18Head, "timm": TimmHead, "mobilenet_v2": MobileNetV2Head,
            "logreg": LogRegHead},
    primary_metric="roc_auc",
    default_dataset="pneumoniamnist",
    default_model="cnn",
    baseline_model="logreg",  # the baseline beside every run: logistic regression on 28 px pixels
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=tiny_data,
    default_configs={"cnn": {"train": dict(TORCH_TRAIN)},
                     "resnet18": {"train": dict(RESNET_TRAIN)}, "timm": {"train": dict(RESNET_TRAIN)},
                     "mobilenet_v2": {"train": dict(TORCH_TRAIN, lr=1e-3, epochs=10)}},
    # the conformance check trains each head twice: 8 px ResNet-18 and a tiny timm MobileNetV3, 1 epoch
    check_configs={"resnet18": {"train": {"epochs": 1}, "model_params": {"image_size": 8}},
                   "timm": {"train": {"epochs": 1}, "model_params": {"backbone": "mobilenetv3_small_050"}}},
    report_sections=report_sections,
    read_input=read_input,
    intended_use=("Research prototype for classifying medical images (radiographs, CT/MR slices, microscopy) "
                  "to triage or prioritise them for review by a qualified clinician. Not a medical device: "
                  "not for diagnosis or treatment decisions, and not validated on any deployment population."),
    clinical=True,
    serve_example=SERVE_EXAMPLE,
    request_to_input=request_to_input,
    explain=explain,  # Grad-CAM overlays: only on ?explain=true (the demo page asks for them)
    explains=lambda predictor: False,
    demo="image",
    demo_explain=True,
    monitor_features=monitor_features,
)
