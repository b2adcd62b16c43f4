"""The ``finetune`` essay head on a GPU: ASAP fold 0, all prompts; alone and stacked with a CPU head.

    VERTICALKIT_DATA=../shared/data HF_HUB_OFFLINE=1 python benchmarks/essay_finetune_gpu.py --device cuda \\
        [--epochs 3] [--batch-size 32] [--lr 8e-5] [--stack features,blend] [--out DIR]
    python benchmarks/essay_finetune_gpu.py --device cpu --limit 40 --max-length 32 --epochs 1 --out /tmp/ft  # smoke

Fine-tunes the head (all-MiniLM-L6-v2 by default, its ``model_params`` defaults: per-prompt
z-scored target, one linear output per prompt learning ``head_lr_mult`` times faster than the
encoder, no dropout, early stopping on validation QWK, cut points on the validation essays)
on the training split of the kit's fold (``folds.csv``; validation: 10% of the training folds,
seed 42) with bf16 autocast on CUDA. Meanwhile other processes fit the CPU heads named by
``--stack`` (``features``, ``blend``; ``thresholds=False``: their continuous scores), one process
per head and prompt, on the same training split. The stacked model (stacking.PromptStack, as the
head's ``model_params.stack`` does) is, per prompt, a ridge on [fine-tuned score, CPU head
scores] fitted on the validation essays, then QWK cut points on its validation predictions.
The test fold is read only to score. Reported: QWK per prompt and mean (the ASAP convention), the
human rater-1 / rater-2 QWK on the test fold, training seconds per epoch (the Trainer's epoch time,
validation pass included) and the whole fit.

``--limit N`` keeps about N training essays (and N // 2 of validation and test), as many per prompt: a smoke test.
Results: <out>/essay_finetune_gpu.{json,md} (default out: benchmarks/results), and every model's
continuous validation / test scores in <out>/essay_finetune_gpu_scores.csv (for trying other stacks).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import RESULTS, load_vertical, save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data HF_HUB_OFFLINE=1 python benchmarks/essay_finetune_gpu.py"


def _subset(split, n: int, seed: int):
    """About ``n`` random essays of a split, as many of each prompt (all of it when n >= its size)."""
    if n >= len(split.y):
        return split
    prompts = split.X["prompt"].to_numpy()
    per = max(1, -(-n // len(set(prompts))))
    rng = np.random.default_rng(seed)
    idx = [rng.choice(np.flatnonzero(prompts == p), size=min(per, int((prompts == p).sum())), replace=False)
           for p in sorted(set(prompts))]
    return split.subset(np.sort(np.concatenate(idx)))


def cpu_head_scores(kind: str, X_train, y_train, X_val, X_test) -> dict:
    """Fit the CPU head ``kind`` (features | blend) without cut points, on one thread; its validation
    and test scores (continuous). Its models are per prompt, so a fit on one prompt's essays is that
    prompt's part of a fit on all."""
    import threadpoolctl

    from verticalkit.verticals.essay_scoring.models import BlendHead, FeaturesHead

    with threadpoolctl.threadpool_limits(1):
        t = time.perf_counter()
        head = {"features": FeaturesHead, "blend": BlendHead}[kind](thresholds=False).fit(X_train, y_train)
        fit_s = time.perf_counter() - t
        return {"val": head.predict(X_val) if len(X_val) else np.zeros(0),
                "test": head.predict(X_test) if len(X_test) else np.zeros(0), "fit_s": fit_s}


def submit_cpu_heads(pool, kinds: list[str], tr, va, te) -> dict:
    """One task per (head, prompt): the CPU heads fit on the pool's processes while the GPU fine-tunes."""
    jobs = {}
    for kind in kinds:
        for p in sorted(set(tr.X["prompt"])):
            m = [np.flatnonzero(s.X["prompt"].to_numpy() == p) for s in (tr, va, te)]
            jobs[kind, p] = (m, pool.submit(cpu_head_scores, kind, tr.X.iloc[m[0]], tr.y[m[0]], va.X.iloc[m[1]],
                                            te.X.iloc[m[2]]))
    return jobs


def collect_cpu_heads(jobs: dict, kinds: list[str], n_val: int, n_test: int) -> dict:
    """Per head: validation and test scores in split order, and the summed fit seconds."""
    out = {k: {"val": np.full(n_val, np.nan), "test": np.full(n_test, np.nan), "fit_s": 0.0} for k in kinds}
    for (kind, prompt), ((_, mv, mt), future) in jobs.items():
        try:
            r = future.result()
        except Exception as e:  # noqa: BLE001 - one failed prompt must not lose the GPU run's figures
            print(f"warning: {kind} on prompt {prompt} failed ({type(e).__name__}: {e}); not stacked", flush=True)
            out.pop(kind, None)
            continue
        if kind in out:
            out[kind]["val"][mv], out[kind]["test"][mt] = r["val"], r["test"]
            out[kind]["fit_s"] += r["fit_s"]
    return out


def pack(folder: Path, encoder: str) -> None:
    """What a device machine without the data or the pip package needs, under 64 MiB: ``folder/minilm``
    (the encoder with fp16 weights, 44 MB; the head fine-tunes an fp32 copy) and ``folder/asap-aes``
    (the ASAP tsv gzipped, and folds.csv). There: ``gunzip -k folder/asap-aes/*.gz``,
    ``VERTICALKIT_DATA=folder``, ``--encoder folder/minilm``."""
    import gzip
    import shutil

    from safetensors.torch import load_file, save_file

    from verticalkit.verticals.essay_scoring.encoder import resolve_encoder

    src, data = Path(resolve_encoder(encoder)), Path(os.environ.get("VERTICALKIT_DATA", "")) / "asap-aes"
    if not (src / "model.safetensors").is_file() or not (data / "training_set_rel3.tsv").is_file():
        raise SystemExit(f"error: --pack needs {src}/model.safetensors and {data}/training_set_rel3.tsv "
                         f"(set VERTICALKIT_DATA)")
    (folder / "asap-aes").mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, folder / "minilm", ignore=shutil.ignore_patterns("model.safetensors", "*.md"),
                    dirs_exist_ok=True)
    save_file({k: v.half() for k, v in load_file(src / "model.safetensors").items()},
              folder / "minilm" / "model.safetensors")
    shutil.copy(data / "folds.csv", folder / "asap-aes" / "folds.csv")
    with open(data / "training_set_rel3.tsv", "rb") as f, gzip.open(folder / "asap-aes" / "training_set_rel3.tsv.gz",
                                                                      "wb") as g:
        shutil.copyfileobj(f, g)
    print(f"packed {folder}: " + ", ".join(f"{q.relative_to(folder)} {q.stat().st_size / 2**20:.1f} MiB"
                                           for q in sorted(folder.rglob("*")) if q.is_file()))


def save_scores(folder: Path, va, te, ft_val, ft_test, cpu: dict) -> None:
    """``essay_finetune_gpu_scores.csv``: every model's continuous validation and test scores, so other
    stacks can be tried on a CPU without fine-tuning again."""
    import pandas as pd

    parts = []
    for name, split, ft, col in (("val", va, ft_val, 0), ("test", te, ft_test, 1)):
        frame = pd.DataFrame({"split": name, "essay_id": split.ids, "prompt": split.X["prompt"].to_numpy(),
                              "score": split.y, "finetune": ft})
        for k, scores in cpu.items():
            frame[k] = scores[col]
        parts.append(frame)
    folder.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_csv(folder / "essay_finetune_gpu_scores.csv", index=False, float_format="%.5f")


def _row(name: str, y, scores, meta, **extra) -> dict:
    from verticalkit.verticals.essay_scoring.metrics import qwk_mean, qwk_per_prompt

    per = qwk_per_prompt(y, scores, meta)
    return {"model": name, "qwk_mean": round(qwk_mean(y, scores, meta), 4),
            **{f"qwk_p{k}": round(v, 4) for k, v in per.items()}, **extra}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--device", default="auto", choices=("auto", "cuda", "cpu"))
    ap.add_argument("--precision", default=None, help="train.mixed_precision (default: bf16 on CUDA, no on CPU)")
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2", help="Hugging Face name or local folder")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=8e-5, help="the encoder's peak learning rate")
    ap.add_argument("--head-lr-mult", type=float, default=None, help="model_params.head_lr_mult (default: the head's)")
    ap.add_argument("--target", default=None, choices=("zscore", "range"), help="model_params.target")
    ap.add_argument("--dropout", type=float, default=None, help="model_params.dropout (default: the head's)")
    ap.add_argument("--length-feature", action="store_true", help="model_params.length_feature=True")
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--max-chunks", type=int, default=4)
    ap.add_argument("--stack", default="features,blend",
                    help="CPU heads stacked with the fine-tuned score: comma-separated features, blend; or none")
    ap.add_argument("--limit", type=int, default=None, help="training essays kept (smoke test)")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: 2)")
    ap.add_argument("--workers", type=int, default=None,
                    help="processes fitting the CPU heads, one prompt each (default: cores - 2, at most 16)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--pack", type=Path, default=None,
                    help="only write the encoder (fp16) and ASAP data to carry to a device machine into this folder")
    args = ap.parse_args(argv)
    if args.pack is not None:
        pack(args.pack, args.encoder)
        return 0
    t_start = time.perf_counter()
    kinds = [] if args.stack == "none" else [k.strip() for k in args.stack.split(",") if k.strip()]
    if set(kinds) - {"features", "blend"}:
        ap.error(f"--stack {args.stack!r}: use features, blend, both (comma-separated) or none")

    import torch

    from verticalkit.core.config import TrainConfig
    from verticalkit.core.heads.base import FitContext
    from verticalkit.verticals.essay_scoring.finetune import FinetuneHead
    from verticalkit.verticals.essay_scoring.metrics import human_qwk_mean
    from verticalkit.verticals.essay_scoring.stacking import PromptStack

    device = "cuda" if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()) else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: no CUDA device is visible")
    precision = args.precision or ("bf16" if device == "cuda" else "no")
    threads = args.threads or 2
    torch.set_num_threads(threads)
    splits = load_vertical("essay_scoring").dataset("asap-aes")(fold=args.fold, seed=args.seed).load()
    tr, va, te = splits.train, splits.val, splits.test
    if args.limit:
        tr, va, te = (_subset(s, n, i) for i, (s, n) in enumerate([(tr, args.limit), (va, args.limit // 2),
                                                                        (te, args.limit // 2)]))

    pool = jobs = None
    if kinds:  # the CPU heads fit in other processes while the GPU fine-tunes
        workers = args.workers or max(1, min(16, (os.cpu_count() or 2) - 2))
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        jobs = submit_cpu_heads(pool, kinds, tr, va, te)

    params = {k: v for k, v in {"head_lr_mult": args.head_lr_mult, "target": args.target,
                                "dropout": args.dropout, "length_feature": True if args.length_feature else None
                                }.items() if v is not None}
    head = FinetuneHead(encoder=args.encoder, max_length=args.max_length, max_chunks=args.max_chunks, **params)
    train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, eval_batch_size=64, lr=args.lr,
                        weight_decay=0.01, warmup_ratio=0.1, patience=None, mixed_precision=precision, device=device,
                        progress=device == "cuda")  # on a device's captured log: a line every few seconds
    if device == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    head.fit(tr.X, tr.y, va.X, va.y, context=FitContext(task=splits.task, seed=args.seed, train=train))
    fit_s = time.perf_counter() - t
    epochs = head.history_
    for e in epochs:
        print(f"epoch {e['epoch']}: train loss {e['train_loss']:.4f}, val QWK {e['val_score']:.4f}, "
              f"{e['seconds']:.1f} s",
              flush=True)

    if device == "cuda":
        head.module_.cuda()
    t = time.perf_counter()
    keys_va, keys_te = (np.array(head._known_keys(s.X), dtype=object) for s in (va, te))
    ft_val = head._denormalise(keys_va, head._normalised(va.X))
    ft_test = head._denormalise(keys_te, head._normalised(te.X))
    scored = head.predict(te.X)
    predict_s = time.perf_counter() - t
    best = int(np.argmax([e["val_score"] for e in epochs])) + 1 if epochs else 0
    timing = {"epochs_run": len(epochs), "best_epoch": best,
              "train_s_per_epoch": round(float(np.mean([e["seconds"] for e in epochs])), 1) if epochs else None,
              "fit_s": round(fit_s, 1)}
    rows = [_row("finetune", te.y, scored, te.meta, **timing, val_qwk=round(max(e["val_score"] for e in epochs), 4))]
    print(f"finetune: test QWK {rows[0]['qwk_mean']} after {time.perf_counter() - t_start:.0f} s", flush=True)

    def finish(rows: list[dict], cpu_s, predict_s: float) -> None:
        total_s = time.perf_counter() - t_start
        human = human_qwk_mean(te.y, None, te.meta)
        cols = list(dict.fromkeys(c for r in rows for c in r)) + ["human_qwk"]
        rows = [{c: r.get(c, "") for c in cols} | {"human_qwk": round(human, 4)} for r in rows]
        gpu = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {threads} threads"
        notes = (f"ASAP fold {args.fold} ({'--limit ' + str(args.limit) + ', ' if args.limit else ''}train "
                 f"{len(tr.y)}, validation {len(va.y)}, test {len(te.y)} essays, seed {args.seed}); {gpu}, "
                 f"{precision}; "
                 f"encoder {args.encoder}, max_length {args.max_length} x up to {args.max_chunks} windows, epochs "
                 f"{args.epochs}, batch {args.batch_size}, lr {args.lr} (cosine, warmup 10%, AdamW wd 0.01), "
                 f"model_params {head.get_params()}; qwk = QWK on the test fold per prompt on its own range, mean over "
                 f"prompts; train_s_per_epoch = the Trainer's epoch time including the validation pass; fit_s = the "
                 f"whole fit (tokenising, loading the encoder, cut points); predictions {predict_s:.1f} s; CPU head "
                 f"fit seconds (summed over its per-prompt processes, in parallel with the fine-tuning) {cpu_s}; "
                 f"end to end {total_s:.0f} s (data loading included); epochs "
                 f"{[{k: e[k] for k in ('epoch', 'train_loss', 'val_score', 'seconds')} for e in epochs]}")
        command = f"{COMMAND} " + " ".join(sys.argv[1:] if argv is None else argv)
        save_results("essay_finetune_gpu", rows, command, notes, folder=args.out)

    finish(rows, "pending", predict_s)  # the fine-tuned figures are saved even if stacking fails
    cpu_s = None
    if jobs is not None:
        t = time.perf_counter()
        cpu = collect_cpu_heads(jobs, kinds, len(va.y), len(te.y))
        pool.shutdown()
        waited_s = time.perf_counter() - t
        kinds = [k for k in kinds if k in cpu]
        cpu_s = {k: round(v["fit_s"], 1) for k, v in cpu.items()}
        save_scores(args.out, va, te, ft_val, ft_test, {k: (cpu[k]["val"], cpu[k]["test"]) for k in kinds})
        ranges, steps = head.ranges_, head.steps_

        def stacked(name: str, columns_val: list, columns_test: list, **extra) -> dict:
            fitted = PromptStack().fit(np.column_stack(columns_val), va.y, keys_va, ranges, steps)
            return _row(name, te.y, fitted.predict(np.column_stack(columns_test), keys_te), te.meta, **extra)

        for k in kinds:
            rows.append(stacked(f"{k} (CPU; cut points on val)", [cpu[k]["val"]], [cpu[k]["test"]],
                                fit_s=cpu_s[k]))
        if len(kinds) > 1:  # what the fine-tuned score adds to is this
            rows.append(stacked(f"{' + '.join(kinds)} (CPU; ridge per prompt on val)", [cpu[k]["val"] for k in kinds],
                                [cpu[k]["test"] for k in kinds]))
        for k in kinds:
            rows.append(stacked(f"finetune + {k} (ridge per prompt on val)", [ft_val, cpu[k]["val"]],
                                [ft_test, cpu[k]["test"]], **timing))
        if len(kinds) > 1:
            rows.append(stacked(f"finetune + {' + '.join(kinds)} (ridge per prompt on val)",
                                [ft_val] + [cpu[k]["val"] for k in kinds], [ft_test] + [cpu[k]["test"] for k in kinds],
                                **timing, waited_for_cpu_s=round(waited_s, 1)))
    finish(rows, cpu_s, predict_s)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
