"""Education vertical: automated essay scoring (ASAP, ASAP++ traits and any essay CSV).

Datasets: ``asap-aes`` (5 standard folds), ``asap-plusplus`` (one trait per run), ``essay-csv``
(AES 2.0 / ELLIPSE / generic). Models: ``features`` (TF-IDF + handcrafted → ridge), ``encoder``
(frozen transformer, chunked, + features → ridge); both per prompt with QWK cut points.
Primary metric: QWK per prompt on its own range, averaged over prompts.
"""

from pathlib import Path

from verticalkit.core.registry import Vertical

from .data import ASAP, ASAPPlusPlus, EssayCSV
from .metrics import METRICS
from .models import EncoderHead, FeaturesHead
from .tiny import tiny_data


def report_sections(predictor, splits, scores, run_dir):
    """The robustness table in report.html (imported here lazily: the module is also a CLI)."""
    from .robustness import report_section

    return report_section(predictor, splits, scores, run_dir)


VERTICAL = Vertical(
    id="essay_scoring",
    description="automated essay scoring: holistic scores per prompt, QWK against human raters",
    datasets={ASAP.id: ASAP, ASAPPlusPlus.id: ASAPPlusPlus, EssayCSV.id: EssayCSV},
    models={"features": FeaturesHead, "encoder": EncoderHead},
    primary_metric="qwk",
    default_dataset=ASAP.id,
    default_model="features",
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=tiny_data,
    metrics=METRICS,
    report_sections=report_sections,
    intended_use=("Second-reader prototype for essay scores: a human reviews flagged and disputed essays. Not for "
                  "high-stakes grading on its own; scores move under padding and keyword stuffing (see the "
                  "robustness table in the report)."),
    serve_example={"text": "Dear local newspaper, I think computers help people learn about the world.", "prompt": 1},
)
