"""Shared by the benchmarks: save figures as JSON + a Markdown table with the reproducing command;
the hand-written reference training loop the trainer benchmarks compare against."""

from __future__ import annotations

import json
import platform
import sys
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def save_results(name: str, rows: list[dict[str, Any]], command: str, notes: str = "",
                 folder: Path | None = None) -> Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` (or into ``folder``); print the table."""
    folder = Path(folder) if folder is not None else RESULTS
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "date": date.today().isoformat(), "python": sys.version.split()[0],
            "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}", "notes": notes}
    (folder / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    cols = list(rows[0]) if rows else []
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    lines = [f"# {name}", "", f"Reproduce: `{command}` ({meta['date']})", ""]
    if notes:
        lines += [notes, ""]
    lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(r[c]) for c in cols) + " |" for r in rows]
    (folder / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return folder / f"{name}.json"


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB.

    Linux: ``VmHWM`` of /proc/self/status, the peak of this process's own memory map.
    ``ru_maxrss`` is not used there: a subprocess started by a large parent (vfork + exec)
    reports the parent's peak as its own. Elsewhere: ``ru_maxrss``.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def load_vertical(vertical_id: str) -> Any:
    """The registered vertical, or the built-in one registered by import (checkout without the entry point)."""
    import importlib

    from verticalkit.core.registry import get_vertical, register

    try:
        return get_vertical(vertical_id)
    except Exception:  # noqa: BLE001 - entry point not installed
        return register(importlib.import_module(f"verticalkit.verticals.{vertical_id}").VERTICAL)


def plain_epoch(model: Any, data: Any, loss_fn: Any, steps: int, batch_size: int, lr: float,
                weight_decay: float = 0.0, device: str = "cpu") -> None:
    """One epoch of the reference loop, written as one would by hand: AdamW, cosine schedule,
    clipping at 1.0, and the Trainer's (seed 0, epoch 0) sample order. On ``cuda``: batches moved
    with ``non_blocking``, bf16 autocast (what the Trainer's ``mixed_precision=auto`` picks there),
    and one synchronisation at the end."""
    import numpy as np
    import torch
    from torch.utils.data import DataLoader

    from verticalkit.core.train.trainer import collate

    cuda = device == "cuda"
    model = model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    perm = np.random.default_rng([0, 0]).permutation(len(data)).tolist()
    batches = [perm[i:i + batch_size] for i in range(0, len(perm), batch_size)]
    model.train()
    for batch in DataLoader(data, batch_sampler=batches, collate_fn=collate, pin_memory=cuda):
        if cuda:
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=cuda):
            loss = loss_fn(model(batch["inputs"]), batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
    if cuda:
        torch.cuda.synchronize()
