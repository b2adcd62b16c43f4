"""Inference speed of a saved essay Predictor (encoder head) against a raw transformers forward pass.

    VERTICALKIT_DATA=../shared/data python benchmarks/essay_inference.py [--n 200] [--train 400] [--threads 2]

1. trains the ``encoder`` head (frozen all-MiniLM-L6-v2 + features, ridge per prompt) on
   ``--train`` essays of ASAP fold 1-4 (synthetic essays when ASAP is absent) and saves it;
2. on ``--n`` test essays (fold 0), on the GPU where torch sees one (results in
   ``essay_inference_cuda``), essays/s of ``Predictor.load(dir).predict_score`` with an
   empty embedding cache, against the raw transformers model run over exactly the same token
   windows and batches (tokenisation included, no pooling / features / ridge);
   best of ``--repeats``; goal: ratio >= 0.95;
3. peak RSS of the process (``ru_maxrss``) after each stage.

Results: benchmarks/results/essay_inference.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data python benchmarks/essay_inference.py"


def vertical():
    return load_vertical("essay_scoring")


def essays(n_train: int, n_test: int):
    """(train X, train y, test X, dataset id, task): ASAP fold 0, or synthetic essays."""
    from verticalkit.core.errors import DataError

    try:
        s = vertical().dataset("asap-aes")(fold=0).load()
        tr = s.train.X.sample(n_train, random_state=0).index
        te = s.test.X.sample(n_test, random_state=0).index
        return (s.train.X.loc[tr].reset_index(drop=True), s.train.y[tr], s.test.X.loc[te].reset_index(drop=True),
                s.dataset, s.task)
    except DataError:
        from verticalkit.verticals.essay_scoring.tiny import synthetic_essays, tiny_data

        X, y = synthetic_essays(n_train + n_test)
        return X.iloc[:n_train], y[:n_train], X.iloc[n_train:].reset_index(drop=True), "synthetic", tiny_data(0).task


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def raw_forward(enc, texts: list[str]) -> float:
    """Seconds for tokenisation + model forward over the encoder's windows and batches."""
    t = time.perf_counter()
    flat = [w for ws in enc.tokenize(texts) for w in ws]
    order = sorted(range(len(flat)), key=lambda k: len(flat[k]))
    for start in range(0, len(order), enc.batch_size):
        enc.forward([flat[k] for k in order[start:start + enc.batch_size]])
    return time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200, help="test essays timed")
    ap.add_argument("--train", type=int, default=400, help="training essays")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = ap.parse_args(argv)
    import torch

    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.essay_scoring import encoder as enc_mod
    from verticalkit.verticals.essay_scoring.models import EncoderHead

    torch.set_num_threads(args.threads)
    Xtr, ytr, Xte, source, task = essays(args.train, args.n)
    n_val = len(Xtr) // 5
    head = EncoderHead().fit(Xtr.iloc[n_val:], ytr[n_val:], Xtr.iloc[:n_val], ytr[:n_val])
    rss_train = peak_mb()
    with tempfile.TemporaryDirectory() as tmp:
        Predictor(head, vertical="essay_scoring", model="encoder", dataset=source, task=task).save(Path(tmp) / "m")
        predictor = Predictor.load(Path(tmp) / "m")
        texts = list(Xte["text"])
        enc = predictor.head._encoder()
        raw_forward(enc, texts[:8])  # warm-up (loads the model)
        t_raw, t_pred = [], []
        for _ in range(args.repeats):
            t_raw.append(raw_forward(enc, texts))
            enc_mod._MEMORY.clear()  # the Predictor embeds from scratch
            t = time.perf_counter()
            predictor.predict_score(Xte)
            t_pred.append(time.perf_counter() - t)
    n_windows = sum(len(w) for w in enc.tokenize(texts))
    raw_eps, pred_eps = len(texts) / min(t_raw), len(texts) / min(t_pred)
    rows = [{"path": "raw transformers forward (same windows, batches)", "essays": len(texts), "windows": n_windows,
             "essays_per_s": raw_eps, "ratio_vs_raw": 1.0, "peak_rss_mb": peak_mb()},
            {"path": "Predictor.load(dir).predict_score", "essays": len(texts), "windows": n_windows,
             "essays_per_s": pred_eps, "ratio_vs_raw": pred_eps / raw_eps, "peak_rss_mb": peak_mb()}]
    device = enc.device
    where = f"CUDA ({torch.cuda.get_device_name()}), float32" if device == "cuda" else "CPU"
    notes = (f"encoder all-MiniLM-L6-v2 (window 256, stride 224, batch 32), {where}, torch threads {args.threads}; "
             f"{source} essays; best of {args.repeats}; peak RSS after training {rss_train:.0f} MB "
             f"(ru_maxrss is a process-wide peak). Goal: ratio >= 0.95.")
    save_results("essay_inference_cuda" if device == "cuda" else "essay_inference", rows, f"{COMMAND} --n {args.n} --train {args.train}", notes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
