"""Which regressors the ``blend`` essay head averages: ablation on the validation split of one ASAP fold.

    VERTICALKIT_DATA=../shared/data python benchmarks/essay_blend_fold0.py [--fold 0] \
        [--encoder all-MiniLM-L6-v2 --cache-dir DIR]

The choice of the blend was made on the training folds only: the validation split (10% of the
training folds, seed 42) scores each regressor alone and each average, with cut points fitted
per prompt on the 5-fold out-of-fold training predictions of that same average (as the head
does, without the validation essays). The test fold is not read. Regressors, per prompt, on the
blend head's own inputs (``BlendHead._blocks``): ``word`` = ridge on word n-grams + features
(the ``features`` head), ``char`` = ridge on character n-grams 2-5 + features, ``trees`` =
HistGradientBoosting on the features + SVD(64) of the word n-grams; with ``--encoder``, also
``encoder`` = the encoder member (ridge, alpha by GCV, on frozen embeddings + features: the
``encoder`` head's regressor), and the four-member mean with the encoder weighted 0.5-3 (the
others 1).

Results: benchmarks/results/essay_blend_fold<K>[_<encoder>].{json,md}.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import KFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/essay_blend_fold0.py"
NAMES = ("word", "char", "trees")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--encoder", default=None, help="add the encoder member (an encoder name or folder)")
    ap.add_argument("--cache-dir", default=None, help="its embedding cache (ChunkedEncoder's on-disk format)")
    args = ap.parse_args(argv)
    names = NAMES + ("encoder",) * bool(args.encoder)

    from verticalkit.verticals.essay_scoring.metrics import qwk_mean
    from verticalkit.verticals.essay_scoring.models import BlendHead, clip_words
    from verticalkit.verticals.essay_scoring.thresholds import apply_cutpoints, fit_cutpoints

    splits = load_vertical("essay_scoring").dataset("asap-aes")(fold=args.fold).load()
    tr, va = splits.train, splits.val
    t = time.perf_counter()
    # thresholds off: cut points are fitted below, per average
    head = BlendHead(thresholds=False, encoder=args.encoder, cache_dir=args.cache_dir).fit(tr.X, tr.y)
    fit_s = time.perf_counter() - t
    keys_tr, keys_va = head._keys(tr.X), head._keys(va.X)
    texts_tr = [clip_words(x) for x in tr.X["text"]]
    texts_va = [clip_words(x) for x in va.X["text"]]
    oof = {n: np.empty(len(tr.y)) for n in names}
    val = {n: np.empty(len(va.y)) for n in names}
    for key in head.ranges_:
        lo, hi = head.ranges_[key]
        mt, mv = keys_tr == key, keys_va == key
        target = (tr.y[mt] - lo) / (hi - lo)
        prompt_tr = [x for x, m in zip(texts_tr, mt) if m]
        prompt_va = [x for x, m in zip(texts_va, mv) if m]
        for n, model, Xt in zip(NAMES, head._models(), head._blocks(key, prompt_tr)):
            oof[n][mt] = lo + cross_val_predict(model, Xt, target, cv=KFold(5)) * (hi - lo)
        if args.encoder:
            oof["encoder"][mt] = lo + head.encoder_._oof(key, prompt_tr, target) * (hi - lo)
        for n, pred in zip(names, head._member_predictions(key, prompt_va)):
            val[n][mv] = lo + pred * (hi - lo)
        print(f"prompt {key} done ({time.perf_counter() - t:.0f} s)", flush=True)
    rows = []
    combos = [(combo, (1.0,) * r) for r in range(1, len(names) + 1) for combo in itertools.combinations(names, r)]
    if args.encoder:
        combos += [(names, (1.0, 1.0, 1.0, w)) for w in (0.5, 1.5, 2.0, 3.0)]
    for combo, weights in combos:
        o = np.average([oof[n] for n in combo], axis=0, weights=weights)
        v = np.average([val[n] for n in combo], axis=0, weights=weights)
        scored = np.empty(len(va.y))
        for key in head.ranges_:
            lo, hi = head.ranges_[key]
            mt, mv = keys_tr == key, keys_va == key
            cut = fit_cutpoints(tr.y[mt], o[mt], lo, hi, 1.0)
            scored[mv] = apply_cutpoints(v[mv], cut, lo)
        rows.append({"regressors": " + ".join(combo), "weights": " ".join(f"{w:g}" for w in weights),
                     "val_qwk": round(qwk_mean(va.y, scored, va.meta), 4)})
        print(rows[-1], flush=True)
    notes = (f"ASAP fold {args.fold}: train split {len(tr.y)} essays, validation split {len(va.y)} (seed 42); "
             f"val_qwk = mean over the 8 prompts of QWK on the validation essays, cut points per prompt from the "
             f"out-of-fold training predictions of the same average; blend fit {fit_s:.0f} s on 2 shared CPU cores")
    command, name = f"{COMMAND} --fold {args.fold}", f"essay_blend_fold{args.fold}"
    if args.encoder:
        notes += (f"; encoder member: {args.encoder}, window 256 / stride 224 / max_chunks 64, embeddings read from "
                  f"an on-disk cache computed beforehand")
        command += f" --encoder {args.encoder} --cache-dir {args.cache_dir}"
        name += "_" + Path(args.encoder).name.replace("-", "_").lower()
    save_results(name, rows, command, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
