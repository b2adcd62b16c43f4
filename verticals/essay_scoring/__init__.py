"""Education vertical: automated essay scoring (ASAP, ASAP++ traits and any essay CSV).

Datasets: ``asap-aes`` (5 standard folds), ``asap-plusplus`` (one trait, or ``data.trait=all``:
every trait as a multioutput task; prompts 7-8 from ASAP's rater traits), ``essay-csv``
(AES 2.0 / ELLIPSE / generic). Models: ``features`` (TF-IDF + handcrafted → ridge), ``blend`` (mean of
word and character n-gram ridges and boosted trees on the features), ``encoder``
(frozen transformer, chunked, + features → ridge), both per prompt with QWK cut points;
``finetune`` (any Hugging Face encoder fine-tuned with the core Trainer, regression or ordinal
head; a GPU job); ``traits`` (one features / encoder head per trait column); ``tfidf`` (plain TF-IDF →
ridge per prompt and score column: the baseline every run reports its lift over).
Primary metric: QWK per prompt on its own range, averaged over prompts (and over traits).
"""

from pathlib import Path

from verticalkit.core.registry import Vertical

from .baseline import TfidfHead
from .data import ASAP, ASAPPlusPlus, EssayCSV
from .finetune import FinetuneHead
from .flags import review_reasons
from .metrics import METRICS
from .models import BlendHead, EncoderHead, FeaturesHead
from .monitoring import monitor_features
from .tiny import tiny_data
from .traits import TraitsHead


def report_sections(predictor, splits, scores, run_dir):
    """report.html: human agreement per trait (traits runs) and the robustness table (imported
    here lazily: both modules are also CLIs)."""
    from .robustness import report_section
    from .traits import human_section

    return human_section(splits, scores) + report_section(predictor, splits, scores, run_dir)


VERTICAL = Vertical(
    id="essay_scoring",
    description="automated essay scoring: holistic scores per prompt, QWK against human raters",
    datasets={ASAP.id: ASAP, ASAPPlusPlus.id: ASAPPlusPlus, EssayCSV.id: EssayCSV},
    models={"features": FeaturesHead, "blend": BlendHead, "encoder": EncoderHead, "finetune": FinetuneHead,
            "traits": TraitsHead, "tfidf": TfidfHead},
    primary_metric="qwk",
    default_dataset=ASAP.id,
    default_model="features",
    baseline_model="tfidf",  # plain TF-IDF -> ridge per prompt (and trait): every run's lift over it
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=tiny_data,
    metrics=METRICS,
    # fine-tuning defaults (a GPU run; on CPU see finetune.py for the measured cost); the encoder's lr,
    # the head's is model_params.head_lr_mult times it (issue #17)
    default_configs={"finetune": {"train": {"epochs": 4, "batch_size": 32, "lr": 8e-5, "weight_decay": 0.01,
                                            "warmup_ratio": 0.1, "patience": 2}}},
    # the conformance check: a small blend (8 SVD dimensions, 30 trees); fine-tunes a one-layer MiniLM
    # (embeddings frozen) on 16-token windows, one epoch
    check_configs={"blend": {"model_params": {"svd_dims": 8, "trees": 30, "char_ngram_max": 4}},
                   "finetune": {"train": {"epochs": 1, "batch_size": 32, "lr": 1e-3, "device": "cpu"},
                                "model_params": {"num_layers": 1, "freeze_embeddings": True, "max_length": 16,
                                                 "max_chunks": 2}}},
    report_sections=report_sections,
    intended_use=("Second-reader prototype for essay scores: a human reviews flagged and disputed essays. Not for "
                  "high-stakes grading on its own; scores move under padding and keyword stuffing (see the "
                  "robustness table in the report)."),
    demo="text",
    explain=review_reasons,  # review flags: cheap, so on by default (explains: None)
    monitor_features=monitor_features,
    serve_example={"text": "Dear local newspaper, I think computers help people learn about the world.", "prompt": 1},
)
