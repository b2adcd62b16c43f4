"""Education vertical: automated essay scoring (ASAP and any essay CSV)."""

from pathlib import Path

from verticalkit.core.registry import Vertical

from .data import ASAP, EssayCSV
from .metrics import METRICS
from .models import EncoderHead, FeaturesHead
from .tiny import tiny_data

VERTICAL = Vertical(
    id="essay_scoring",
    description="automated essay scoring: holistic scores per prompt, QWK against human raters",
    datasets={ASAP.id: ASAP, EssayCSV.id: EssayCSV},
    models={"features": FeaturesHead, "encoder": EncoderHead},
    primary_metric="qwk",
    default_dataset=ASAP.id,
    default_model="features",
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=tiny_data,
    metrics=METRICS,
    intended_use="Second-reader prototype for essay scores: a human reviews flagged and disputed essays.",
)
