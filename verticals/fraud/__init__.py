"""Finance vertical: card-transaction fraud detection and credit-risk scoring.

Datasets: ``simulated-transactions`` (embedded default, handbook generator),
``ulb-creditcard``, ``german-credit`` (embedded copy), ``csv`` (any table).
Models: ``logreg``, ``gbdt``, ``forest``, ``blend``, ``scorecard`` (scikit-learn), ``lightgbm``, ``xgboost``,
``mlp``, ``ft_transformer`` (torch), ``gbdt_mlp`` (the mean of a gbdt's and an mlp's probabilities).
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from verticalkit.core.data.adapter import DatasetSplits
from verticalkit.core.data.splits import sample_rows
from verticalkit.core.registry import LazyModels, Vertical

from .boosters import LightGBMHead, XGBoostHead
from .data import GermanCredit, SimulatedTransactions, TabularCSV, ULBCreditCard
from .metrics import METRICS, psi, psi_ci
from .models import BlendHead, ForestHead, GBDTHead, LogRegHead, ScorecardHead


def tiny_data(seed: int = 0) -> DatasetSplits:
    """Embedded German credit (1000 rows, numeric + categorical columns), fold 0: seconds to train."""
    return GermanCredit(seed=seed, fold=0, n_folds=5).load()


PSI_TRAIN_ROWS = 100_000  # training rows scored for the report's score-stability PSI


def report_sections(predictor: Any, splits: DatasetSplits, scores: np.ndarray, run_dir: Path
                    ) -> list[tuple[str, str]]:
    """Score stability (PSI train → test) and, for the scorecard, its points table and reason codes."""
    n_train = len(splits.train)
    sampled = n_train > PSI_TRAIN_ROWS  # deciles of 100k scores are as good; scoring 350k rows took 16 s
    train_scores = predictor.predict_score(sample_rows(splits.train.X, PSI_TRAIN_ROWS))
    value = psi(train_scores, scores)
    lo, hi = psi_ci(train_scores, scores)
    verdict = "stable" if value < 0.1 else "some shift" if value < 0.25 else "major shift"
    which = f"a random {PSI_TRAIN_ROWS:,} of the {n_train:,} training scores" if sampled else "the training scores"
    sections = [("Score stability (PSI)",
                 f"<p>Population stability index of the test scores against {which}: "
                 f"<b>{value:.4f}</b> [95% CI {lo:.4f}, {hi:.4f}] ({verdict}; &lt; 0.1 stable, 0.1–0.25 some shift, &gt; 0.25 major shift; "
                 f"deciles of the training scores).</p>")]
    sections += table_sections(splits.info)
    head = predictor.head
    if isinstance(head, ScorecardHead):
        sections.append(("Scorecard points table",
                         f"<p>{head.points0:g} points at odds {head.odds0:.4g} (bad:good), "
                         f"{head.pdo:g} points to double the odds.</p>" + head.points_table().to_html(index=False)))
        rc = head.reason_codes(splits.test.X.iloc[:5])
        rc.insert(0, "id", splits.test.ids[:5])
        sections.append(("Reason codes (first 5 test applicants)", rc.to_html(index=False, escape=True)))
    return [(html.escape(t), h) for t, h in sections]


def table_sections(info: dict[str, Any]) -> list[tuple[str, str]]:
    """Own tables (dataset ``csv``): leakage warnings and the inferred column kinds."""
    sections = []
    if info.get("leakage"):
        items = "".join(f"<li>{html.escape(x)}</li>" for x in info["leakage"])
        sections.append(("Leakage warning", "<p>These columns alone separate the target almost perfectly on the "
                         "training rows (ROC-AUC ≥ 0.99): values known only after the outcome? Check them and drop "
                         f"them with <code>--set data.drop=[...]</code>.</p><ul>{items}</ul>"))
    schema = info.get("table_schema")
    if schema:
        rows = "".join(f"<tr><td>{html.escape(str(c))}</td><td>{html.escape(s['kind'])}</td>"
                       f"<td>{html.escape(s.get('note', ''))}</td></tr>" for c, s in schema["columns"].items())
        sections.append(("Input columns (inferred kinds)", "<table><tr><th>column</th><th>kind</th><th>note</th>"
                         f"</tr>{rows}</table>"))
    return sections


# One German credit applicant (embedded data, test fold 0): the /v1/predict example in the
# OpenAPI docs. A model trained on transactions takes its own columns (GET /v2/models/<name>).
SERVE_EXAMPLE = {
    "checking_status": "<0", "duration": 42.0, "credit_history": "existing paid", "purpose": "furniture/equipment",
    "credit_amount": 7882.0, "savings_status": "<100", "employment": "4<=X<7", "installment_commitment": 2.0,
    "personal_status": "male single", "other_parties": "guarantor", "residence_since": 4.0,
    "property_magnitude": "life insurance", "age": 45.0, "other_payment_plans": "none", "housing": "for free",
    "existing_credits": 1.0, "job": "skilled", "num_dependents": 2.0, "own_telephone": "none",
    "foreign_worker": "yes"}

NO_REASONS = ("no reason codes: model {model!r} gives none; reason codes come from a model trained with --model "
              "scorecard (the attributes that cost the most points), lightgbm or xgboost (the features that raise "
              "the score most)")


def explain(predictor: Any, X: Any, k: int = 4) -> list[list[str]]:
    """Reason codes per row for /v1/predict.

    scorecard: up to ``k`` attributes that cost the applicant the most points against each
    attribute's best bin, in plain words, most costly first (``ScorecardHead.reason_codes``;
    empty when every attribute is in its best bin). lightgbm / xgboost: up to ``k`` features
    with the largest positive TreeSHAP contribution to the log-odds. Other heads give no reason codes: their
    scores have no additive, per-attribute form a reason can be read from, and a perturbation
    search per request would cost more than the scoring; their one entry says so.
    """
    head = predictor.head
    if isinstance(head, (ScorecardHead, LightGBMHead, XGBoostHead)):
        rc = head.reason_codes(X, k=k)
        cols = [f"reason_{i + 1}" for i in range(k)]
        return [[r for r in row if r] for row in rc[cols].itertuples(index=False, name=None)]
    return [[NO_REASONS.format(model=predictor.model)] for _ in range(len(X))]


def explains(predictor: Any) -> bool:
    """Whether :func:`explain` gives reason codes for this model (the scorecard head): /v1/predict
    computes them by default only then, and skips the call (and its table) for the other heads."""
    return isinstance(predictor.head, (ScorecardHead, LightGBMHead, XGBoostHead))


TORCH_TRAIN = {"epochs": 30, "batch_size": 256, "lr": 1e-3, "weight_decay": 1e-5, "patience": 5,
               "progress": False}

VERTICAL = Vertical(
    id="fraud",
    description="finance: card-transaction fraud detection and credit-risk scoring (scorecard, reason codes)",
    datasets={SimulatedTransactions.id: SimulatedTransactions, ULBCreditCard.id: ULBCreditCard,
              GermanCredit.id: GermanCredit, TabularCSV.id: TabularCSV},
    # the torch heads are imported on first use: a scikit-learn or booster run never loads torch
    models=LazyModels({"logreg": LogRegHead, "gbdt": GBDTHead, "forest": ForestHead, "blend": BlendHead,
                       "scorecard": ScorecardHead, "lightgbm": LightGBMHead, "xgboost": XGBoostHead,
                       "mlp": f"{__name__}.torch_models:MLPHead",
                       "ft_transformer": f"{__name__}.torch_models:FTTransformerHead",
                       "gbdt_mlp": f"{__name__}.ensemble:GBDTMLPHead"}),
    primary_metric="auprc",
    default_dataset=SimulatedTransactions.id,
    default_model="gbdt",
    baseline_model="logreg",  # the baseline beside every run: raw numeric columns + one-hot categories
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=tiny_data,
    metrics=METRICS,
    check_configs={"forest": {"model_params": {"n_estimators": 30}},  # the conformance check: seconds
                   "blend": {"model_params": {"n_estimators": 30}},
                   "gbdt_mlp": {"model_params": {"gbdt": {"max_iter": 30}}},
                   "lightgbm": {"model_params": {"n_estimators": 50}},
                   "xgboost": {"model_params": {"n_estimators": 50}}},
    default_configs={"mlp": {"train": dict(TORCH_TRAIN)}, "gbdt_mlp": {"train": dict(TORCH_TRAIN)},
                     "ft_transformer": {"train": dict(TORCH_TRAIN, lr=5e-4)}},
    report_sections=report_sections,
    serve_example=SERVE_EXAMPLE,
    demo="table",
    explain=explain,
    explains=explains,
    intended_use=("Ranking card transactions for analyst review and scoring credit applicants with explainable "
                  "points; decisions stay with trained staff. Not for automated adverse decisions without human "
                  "review and a fairness check on the deployment population."),
)
