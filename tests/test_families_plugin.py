"""The example plug-in vertical built on the public head families (examples/text_regression_vertical.py):
it passes check_vertical and trains through vk.train on a CSV whose text column is ``review_body``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reviews():
    sys.path.insert(0, str(ROOT / "examples"))
    from text_regression_vertical import reviews_vertical, tiny_reviews

    from verticalkit.core.registry import register, unregister

    v = register(reviews_vertical())
    yield v, tiny_reviews
    unregister(v.id)
    sys.path.remove(str(ROOT / "examples"))


def test_example_is_short():
    lines = (ROOT / "examples" / "text_regression_vertical.py").read_text().splitlines()
    assert len(lines) < 141  # the essay vertical's copied heads took 141 lines


def test_check_vertical(reviews):
    from verticalkit.core.tools.testing import check_vertical

    report = check_vertical(reviews[0], seed=0)
    assert report


def test_train_on_csv(reviews, tmp_path, capfd):
    import numpy as np

    import verticalkit as vk

    csv = tmp_path / "reviews.csv"
    df = reviews[1](seed=1, n=300)
    df["stars_text"] = "n/a"  # an extra column the vertical ignores
    df.to_csv(csv, index=False)
    run = vk.train("reviews", "reviews-csv", "tfidf", data={"path": str(csv)}, out=tmp_path / "run", seed=0)
    assert run.metrics["rmse"] < 0.8  # the rating is in the words: chance is ~1.4
    model = vk.load(run.dir)
    scores = model.predict(df.head(5))
    assert len(scores) == 5
    assert "\r" not in capfd.readouterr().err
