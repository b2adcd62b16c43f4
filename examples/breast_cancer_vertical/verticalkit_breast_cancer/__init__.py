"""breast_cancer: malignant vs benign from fine-needle-aspirate nucleus features.

A worked plug-in vertical that lives outside verticalkit and plugs in through the
``verticalkit.verticals`` entry point (see pyproject.toml).
"""

from pathlib import Path

from verticalkit.core.registry import Vertical

from .data import WisconsinDiagnostic
from .models import GradientBoostingHead, LogisticHead

VERTICAL = Vertical(
    id="breast_cancer",
    description="breast-cancer diagnosis (malignant vs benign) from cell-nucleus measurements",
    datasets={WisconsinDiagnostic.id: WisconsinDiagnostic},
    models={"logreg": LogisticHead, "gbdt": GradientBoostingHead},
    primary_metric="roc_auc",
    default_dataset=WisconsinDiagnostic.id,
    default_model="logreg",
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=lambda seed: WisconsinDiagnostic(seed=seed).load(),
    intended_use="Teaching example of a verticalkit plug-in; not a diagnostic device.",
    clinical=True,
)
