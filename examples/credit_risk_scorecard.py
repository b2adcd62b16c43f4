"""Credit-risk scorecard on UCI German credit (embedded copy, no download).

    python examples/credit_risk_scorecard.py

Fits the monotone-WoE scorecard (600 points at odds 1:19, 50 points to double the odds),
prints its points table, the test ROC-AUC, and three applicants' scores with the
reasons that lowered their score most (adverse-action style).
"""

from __future__ import annotations

import sys

import pandas as pd
from sklearn.metrics import roc_auc_score

from verticalkit.verticals.fraud.data import GERMAN_DESCRIPTIONS, GermanCredit
from verticalkit.verticals.fraud.models import ScorecardHead


def main() -> int:
    splits = GermanCredit(fold=0, seed=42).load()
    card = ScorecardHead(descriptions=GERMAN_DESCRIPTIONS).fit(splits.train.X, splits.train.y)
    with pd.option_context("display.max_rows", 200, "display.width", 160, "display.max_colwidth", 40):
        print(card.points_table().to_string(index=False))
    p = card.predict_proba(splits.test.X)[:, 1]
    print(f"\nselected attributes: {len(card.selected_)} of {len(card.feature_names_in_)}; "
          f"test ROC-AUC (fold 0 of 10): {roc_auc_score(splits.test.y, p):.3f}")
    scores = card.score(splits.test.X)
    order = scores.argsort()
    picks = [order[0], order[len(order) // 2], order[-1]]  # riskiest, median, safest applicant
    reasons = card.reason_codes(splits.test.X.iloc[picks], k=4)
    for (label, i), (_, row) in zip(zip(("lowest score", "median score", "highest score"), picks),
                                    reasons.iterrows()):
        outcome = "bad" if splits.test.y[i] == 1 else "good"
        print(f"\n{splits.test.ids[i]} ({label}): {row['score']:.0f} points, P(bad) = {p[i]:.2f}, actual: {outcome}")
        for k in range(1, 5):
            if row[f"reason_{k}"]:
                print(f"  {k}. {row[f'reason_{k}']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
