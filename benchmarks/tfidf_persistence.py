"""Save + load time and size of a SklearnHead holding a 50k-term TF-IDF + ridge (core/heads/packing.py).

    python benchmarks/tfidf_persistence.py [--vocab 50000] [--raw]
    VERTICALKIT_DATA=../shared/data python benchmarks/tfidf_persistence.py --essay features [--fold 0] \
        [--predictions out.npy]

--raw measures skops on the same head without the vocabulary packing (the old behaviour).
Synthetic documents (seeded), so the figure needs no data. ``--essay HEAD`` (``features``,
``features-chars``: with character 2..5-grams, ``tfidf``) measures that essay head instead, fitted
on the training split of ASAP fold ``--fold``, predicting its test fold (``--predictions``: saved
there as .npy, to compare two versions of the code).
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path

import sys

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


ESSAY_HEADS = {"features": ("FeaturesHead", {}), "features-chars": ("FeaturesHead", {"char_ngram_max": 5}),
               "tfidf": ("TfidfHead", {})}


def essay_head(name: str, fold: int) -> tuple[SklearnHead, object, int]:
    """An essay head fitted on ASAP fold ``fold``'s training split, its test essays and its number of terms."""
    sys.path.insert(0, str(Path(__file__).parent))
    from _common import load_vertical

    from verticalkit.verticals.essay_scoring import baseline, models

    cls_name, params = ESSAY_HEADS[name]
    cls = getattr(models, cls_name, None) or getattr(baseline, cls_name)
    splits = load_vertical("essay_scoring").dataset("asap-aes")(fold=fold).load()
    t = time.perf_counter()
    head = cls(**params).fit(splits.train.X, splits.train.y)
    print(f"fit {name} on {len(splits.train.y)} essays: {time.perf_counter() - t:.1f} s")
    n_terms = sum(len(v.vocabulary_) for d in (head.tfidf_, getattr(head, "chars_", {})) for v in d.values() if v)
    return head, splits.test.X, n_terms


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--raw", action="store_true", help="without vocabulary packing (skops on the dict)")
    ap.add_argument("--essay", choices=sorted(ESSAY_HEADS), help="an essay head on ASAP instead (needs the data)")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=1, help="save + load this many times; the best time is shown")
    ap.add_argument("--predictions", help="save the essay head's test predictions (after loading) here (.npy)")
    args = ap.parse_args()
    t = time.perf_counter()
    import skops.io  # noqa: F401  (a one-time import of several seconds, not part of save / load)

    print(f"import skops.io: {time.perf_counter() - t:.1f} s (once per process)")
    if args.essay:
        head, X, n_terms = essay_head(args.essay, args.fold)
    else:
        X, y = documents(args.docs)
        head = TfidfRidge(args.vocab).fit(X, y)
        n_terms = len(head.pipeline_[0].vocabulary_)
    if args.raw:
        heads.packed_vocabularies = lambda obj: contextlib.nullcontext()  # noqa: only for the comparison
        import verticalkit.core.heads.packing as packing

        packing.packed_vocabularies = lambda obj: contextlib.nullcontext()
    saves, loads = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            head.save(tmp)
            t1 = time.perf_counter()
            back = type(head).load(tmp)
            t2 = time.perf_counter()
            size = sum(f.stat().st_size for f in Path(tmp).rglob("*") if f.is_file())
        saves.append(t1 - t0)
        loads.append(t2 - t1)
    predicted = back.predict(X if args.essay else X[:50])
    same = np.allclose(predicted, head.predict(X if args.essay else X[:50]), atol=1e-12)
    if args.predictions:
        np.save(args.predictions, predicted)
    print(f"{'raw skops' if args.raw else 'packed'}: {n_terms} terms, save {min(saves):.2f} s, load {min(loads):.2f} s"
          f"{f' (best of {args.repeat})' if args.repeat > 1 else ''}, {size / 1e6:.2f} MB, same predictions: {same}")


if __name__ == "__main__":
    main()
