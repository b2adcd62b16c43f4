"""A plug-in vertical for a text regression task (review rating from its text), composed from
the public head families: no model code of its own. See docs/extending.md.

    python examples/text_regression_vertical.py [--out runs/example-reviews]

    from verticalkit.core.registry import register
    register(reviews_vertical())        # or an entry point in your package's pyproject.toml
    vk.train("reviews", "reviews-csv", "tfidf", data={"path": "reviews.csv"})
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import verticalkit as vk
from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.errors import DataError
from verticalkit.core.registry import Vertical
from verticalkit.core.data.splits import stratified_split
from verticalkit.core.data.tabular import read_any_table

TEXT, TARGET = "review_body", "rating"


class ReviewsCSV(DatasetAdapter):
    """A CSV / parquet of reviews: a text column and a numeric rating (1-5); other columns ignored."""

    id = "reviews-csv"
    description = "your reviews table: text column + rating"
    protocols, task_kinds = ("random",), ("regression",)

    def __init__(self, path=None, seed: int = 42, download: bool = False, text_column: str = TEXT,
                 target: str = TARGET):
        super().__init__(path, seed, download)
        self.text_column, self.target = text_column, target

    def load(self) -> DatasetSplits:
        if self.path is None:
            raise DataError("reviews-csv needs data.path (a CSV with columns "
                            f"{self.text_column!r} and {self.target!r})")
        df = read_any_table(self.path, progress=False)
        return splits_of(df, self.text_column, self.target, self.seed)


def splits_of(df: pd.DataFrame, text_column: str, target: str, seed: int) -> DatasetSplits:
    for c in (text_column, target):
        if c not in df.columns:
            raise DataError(f"column {c!r} not found (columns: {list(df.columns)[:20]}); set data.text_column / "
                            f"data.target")
    y = pd.to_numeric(df[target], errors="coerce").to_numpy(dtype=float)
    keep = ~np.isnan(y)
    if keep.sum() < 10:
        raise DataError(f"column {target!r}: only {int(keep.sum())} rows have a number; need at least 10")
    X = df.loc[keep, [text_column]].reset_index(drop=True)
    X[text_column] = X[text_column].astype("string").fillna("").astype(str)
    full = Split(X, y[keep], np.array([f"r{i}" for i in range(len(X))]))
    tr, va, te = stratified_split(len(X), None, seed=seed)
    task = Task(kind="regression", target=target, primary_metric="rmse", score_range=(1.0, 5.0))
    return DatasetSplits("reviews-csv", task, full.subset(tr), full.subset(va), full.subset(te), "random")


def tiny_reviews(seed: int, n: int = 120) -> pd.DataFrame:
    """Generated reviews whose rating follows their words; some empty."""
    rng = np.random.default_rng(seed)
    words = {1: "awful broken refund", 2: "poor slow", 3: "okay average", 4: "good solid", 5: "excellent love perfect"}
    rating = rng.integers(1, 6, n)
    body = [" ".join(rng.permutation(f"{words[r]} the product arrived {'!' * (r - 1)}".split())) for r in rating]
    df = pd.DataFrame({TEXT: body, TARGET: rating.astype(float)})
    df.loc[0, TEXT] = None
    return df


# The heads: the public families with this vertical's text column as their default.
class TfidfReviews(vk.heads.TfidfLinearText):
    def __init__(self, text_column: str = TEXT, max_features: int = 50000, ngram_max: int = 2, min_df: int = 1,
                 alpha: float = 1.0, C: float = 10.0):
        super().__init__(text_column, max_features, ngram_max, min_df, alpha, C)


class HandcraftedReviews(vk.heads.HandcraftedText):
    def __init__(self, text_column: str = TEXT, alpha: float = 1.0, C: float = 1.0):
        super().__init__(text_column, alpha, C)


REFS = Path(__file__).with_name("text_regression_reference_results.yaml")


def reviews_vertical() -> Vertical:
    return Vertical(
        id="reviews", description="review rating from its text (example plug-in)",
        datasets={"reviews-csv": ReviewsCSV}, models={"tfidf": TfidfReviews, "handcrafted": HandcraftedReviews},
        primary_metric="rmse", default_dataset="reviews-csv", default_model="tfidf", reference_results=REFS,
        tiny_data=lambda seed: splits_of(tiny_reviews(seed), TEXT, TARGET, seed),
        baseline_model="handcrafted",
    )


if __name__ == "__main__":  # train on generated reviews, written as a CSV
    import argparse
    import tempfile

    from verticalkit.core.registry import register

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/example-reviews")
    args = parser.parse_args()
    register(reviews_vertical())
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "reviews.csv"
        tiny_reviews(0, n=400).to_csv(csv, index=False)
        run = vk.train("reviews", "reviews-csv", "tfidf", data={"path": str(csv)}, out=args.out, overwrite=True)
    print(f"rmse {run.metrics['rmse']:.3f}; report: {run.report_path}")
