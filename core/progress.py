"""Progress output for long steps (embedding, fitting, scoring): a tqdm bar on a terminal,
else one plain line every few seconds plus one when the step ends, never ``\\r`` frames.

    with progress(total=len(batches), desc="embedding", unit="texts") as bar:
        for batch in batches:
            ...
            bar.update(len(batch))

``VERTICALKIT_PROGRESS=0`` (or ``off``/``false``) silences every bar; ``=1`` forces the
line mode even on a terminal. ``VERTICALKIT_PROGRESS_EVERY`` sets the seconds between lines
(default 10). Lines go to stderr (the log of a run captures it). :func:`step` reports a step with no progress
of its own (a scikit-learn fit, a save): a heartbeat line every 30 s and one at the end.
:class:`IterationProgress` reports a boosting fit per iteration (validation score, best so far)
and writes ``train_log.csv``.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

QUIET = ("0", "off", "false", "no")


def enabled(flag: bool = True) -> bool:
    """``flag``, unless ``VERTICALKIT_PROGRESS`` switches progress output off."""
    return flag and os.environ.get("VERTICALKIT_PROGRESS", "").strip().lower() not in QUIET


class LineProgress:
    """tqdm's ``update`` / ``set_postfix`` / ``close`` / iteration, printed as plain lines."""

    def __init__(self, iterable: Iterable | None = None, total: int | None = None, desc: str = "",
                 unit: str = "it", initial: int = 0, every: float | None = None, file: IO[str] | None = None,
                 disable: bool = False, min_seconds: float = 2.0):
        self.iterable, self.total, self.desc, self.unit = iterable, total, desc, unit
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            self.total = len(iterable)  # type: ignore[arg-type]
        self.n, self.disable, self.postfix = initial, disable, ""
        self.every = float(os.environ.get("VERTICALKIT_PROGRESS_EVERY", 10)) if every is None else every
        self.min_seconds = min_seconds  # a step shorter than this prints nothing
        self.file = file
        self.start = self.last = time.monotonic()
        self.closed = False

    def _line(self, final: bool = False) -> None:
        elapsed = time.monotonic() - self.start
        of = f"/{self.total:,}" if self.total else ""
        rate = f", {self.n / elapsed:.1f} {self.unit}/s" if elapsed > 0 and self.n else ""
        post = f", {self.postfix}" if self.postfix else ""
        end = " done" if final else ""
        print(f"{self.desc}: {self.n:,}{of} {self.unit}{end} ({elapsed:.0f} s{rate}{post})",
              file=self.file or sys.stderr, flush=True)

    def update(self, n: int = 1) -> None:
        self.n += n
        now = time.monotonic()
        if not self.disable and now - self.last >= self.every:
            self.last = now
            self._line()

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **kwargs: Any) -> None:
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in items.items())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.disable and time.monotonic() - self.start >= self.min_seconds:
            self._line(final=True)

    def __iter__(self) -> Iterator:
        try:
            for item in self.iterable or ():
                yield item
                self.update(1)
        finally:
            self.close()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(iterable: Iterable | None = None, *, total: int | None = None, desc: str = "", unit: str = "it",
             initial: int = 0, disable: bool = False, leave: bool = False, file: IO[str] | None = None,
             every: float | None = None) -> Any:
    """A tqdm bar when ``file`` (default stderr) is a terminal (or in a notebook), else a :class:`LineProgress`."""
    disable = disable or not enabled()
    stream = file or sys.stderr
    forced = os.environ.get("VERTICALKIT_PROGRESS", "").strip() == "1"
    notebook = file is None and "ipykernel" in sys.modules  # a notebook's stderr is no TTY but shows widgets
    if not disable and not forced and (notebook or getattr(stream, "isatty", lambda: False)()):
        from tqdm.auto import tqdm

        return tqdm(iterable, total=total, desc=desc, unit=unit, initial=initial, leave=leave, file=stream)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, every=every, file=file,
                        disable=disable)


@contextmanager
def step(desc: str, *, disable: bool = False, heartbeat: bool = True, every: float | None = None,
         min_seconds: float = 2.0, file: IO[str] | None = None) -> Iterator[None]:
    """A step with no progress of its own to report (a scikit-learn fit, a save): a line
    ``desc: running (N s)`` every ``every`` seconds (``heartbeat``; default 30 s), and
    ``desc: done (N s)`` at the end when it took ``min_seconds`` or more."""
    import threading

    if disable or not enabled():
        yield
        return
    every = float(os.environ.get("VERTICALKIT_PROGRESS_EVERY", 30)) if every is None else every
    t0, stop = time.monotonic(), threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            print(f"{desc}: running ({time.monotonic() - t0:.0f} s)", file=file or sys.stderr, flush=True)

    thread = threading.Thread(target=beat, daemon=True) if heartbeat else None
    if thread is not None:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if thread is not None:
            thread.join()
        if time.monotonic() - t0 >= min_seconds:
            print(f"{desc}: done ({time.monotonic() - t0:.0f} s)", file=file or sys.stderr, flush=True)


class IterationProgress:
    """Per-iteration progress of a boosting fit (gbdt, LightGBM, XGBoost): on a terminal a tqdm
    bar with the validation score and the best so far; elsewhere one line per ``every``
    iterations or ``seconds`` (whichever first) on stderr; either only when ``show`` (and
    progress output is not switched off). With ``log_dir``, one row per line in
    ``<log_dir>/train_log.csv``: iteration, elapsed, the validation score and the best so far
    (the highest, or the lowest when not ``maximize``: a loss)."""

    def __init__(self, name: str, total: int, metric: str, show: bool, log_dir: Path | None,
                 every: int = 50, seconds: float = 5.0, file: IO[str] | None = None, maximize: bool = True):
        self.name, self.total, self.metric, self.sign = name, total, metric, 1.0 if maximize else -1.0
        self.show = enabled(show)
        self.every, self.seconds, self.stream = every, seconds, file
        self.file = Path(log_dir) / "train_log.csv" if log_dir is not None else None
        self.start = self.last = time.perf_counter()
        self.best: tuple[float, int] | None = None
        self.iteration = 0
        self.score: float | None = None  # the last validation score reported
        bar = progress(total=total, desc=name, unit="iter", disable=not self.show, file=file, leave=True)
        self.bar = None if isinstance(bar, LineProgress) else bar  # tqdm on a terminal, else plain lines
        if self.file is not None:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            self.file.write_text("iteration,elapsed_s,val_score,best_val_score,best_iteration\n")

    def update(self, iteration: int, score: float | None, force: bool = False) -> None:
        """Iteration ``iteration`` (1-based) is done; ``score``: its validation score, if any."""
        step_ = iteration - self.iteration
        self.iteration = iteration
        self.score = score if score is not None else self.score
        if score is not None and (self.best is None or self.sign * (score - self.best[0]) > 0):
            self.best = (score, iteration)
        best, at = self.best if self.best else (float("nan"), -1)
        if self.bar is not None:
            self.bar.update(step_)
            if score is not None:
                self.bar.set_postfix({self.metric: score, "best": best, "at": at}, refresh=False)
        now = time.perf_counter()
        if not (force or iteration % self.every == 0 or now - self.last >= self.seconds):
            return
        self.last = now
        if self.show and self.bar is None:
            print(f"{self.name}: iteration {iteration}/{self.total}, {now - self.start:.1f} s, validation "
                  f"{self.metric} {score if score is not None else float('nan'):.4f} (best {best:.4f} at {at})",
                  file=self.stream or sys.stderr, flush=True)
        if self.file is not None:
            with self.file.open("a") as f:
                f.write(f"{iteration},{now - self.start:.2f},{'' if score is None else f'{score:.6f}'},"
                        f"{best:.6f},{at}\n")

    def close(self) -> None:
        """The final line (and log row), at the last iteration reached, with its score."""
        self.update(self.iteration, self.score, force=True)
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def iteration_progress(name: str, total: int, metric: str, context: Any, maximize: bool = True) -> IterationProgress:
    """A boosting head's :class:`IterationProgress` in a run: shown when the run's ``train.progress``
    is on, logged to ``train_log.csv`` in its log folder (``context``: the run's ``FitContext``, or None)."""
    show = bool(context.train.progress) if context is not None else False
    return IterationProgress(name, total, metric, show, context.log_dir if context is not None else None,
                             maximize=maximize)
