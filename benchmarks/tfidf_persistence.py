"""Save + load time and size of a SklearnHead holding a 50k-term TF-IDF + ridge (core/heads/packing.py).

    python benchmarks/tfidf_persistence.py [--vocab 50000] [--raw]

--raw measures skops on the same head without the vocabulary packing (the old behaviour).
Synthetic documents (seeded), so the figure needs no data.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline

from verticalkit.core.heads import base as heads
from verticalkit.core.heads.base import SklearnHead


class TfidfRidge(SklearnHead):
    def __init__(self, max_features: int = 50_000):
        self.max_features = max_features

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        self.pipeline_ = make_pipeline(TfidfVectorizer(ngram_range=(1, 2), max_features=self.max_features,
                                                       sublinear_tf=True), Ridge()).fit(X, y)
        return self

    def predict(self, X):
        return self.pipeline_.predict(X)


def documents(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(30_000)])
    docs = [" ".join(rng.choice(words, 120, p=None)) for _ in range(n)]
    return docs, rng.normal(size=n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--raw", action="store_true", help="without vocabulary packing (skops on the dict)")
    args = ap.parse_args()
    t = time.perf_counter()
    import skops.io  # noqa: F401  (a one-time import of several seconds, not part of save / load)

    print(f"import skops.io: {time.perf_counter() - t:.1f} s (once per process)")
    X, y = documents(args.docs)
    head = TfidfRidge(args.vocab).fit(X, y)
    n_terms = len(head.pipeline_[0].vocabulary_)
    if args.raw:
        heads.packed_vocabularies = lambda obj: contextlib.nullcontext()  # noqa: only for the comparison
        import verticalkit.core.heads.packing as packing

        packing.packed_vocabularies = lambda obj: contextlib.nullcontext()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        head.save(tmp)
        t1 = time.perf_counter()
        back = TfidfRidge.load(tmp)
        t2 = time.perf_counter()
        size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
    same = np.allclose(back.predict(X[:50]), head.predict(X[:50]), atol=1e-12)
    print(f"{'raw skops' if args.raw else 'packed'}: {n_terms} terms, save {t1 - t0:.2f} s, load {t2 - t1:.2f} s, "
          f"{size / 1e6:.1f} MB, same predictions: {same}")


if __name__ == "__main__":
    main()
