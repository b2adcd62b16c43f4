"""core/progress: on a non-terminal stream, a few plain lines, never tqdm's ``\\r`` frames."""

from __future__ import annotations

import io
import time

from verticalkit.core.progress import LineProgress, progress


def test_not_a_tty_gives_few_lines_without_carriage_returns():
    out = io.StringIO()  # isatty() is False, as for a captured log
    bar = progress(total=4000, desc="epoch 1/4", unit="batches", file=out, every=0.05)
    assert isinstance(bar, LineProgress)
    t0 = time.monotonic()
    for _ in range(4000):
        time.sleep(0.00005)
        bar.update(1)
    bar.min_seconds = 0.0
    bar.close()
    elapsed = time.monotonic() - t0
    text = out.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert 1 <= len(lines) <= elapsed / 0.05 + 2  # one per `every` seconds, plus the final one
    assert lines[-1].startswith("epoch 1/4: 4,000/4,000 batches done")


def test_quiet_env_and_short_steps_print_nothing(monkeypatch):
    out = io.StringIO()
    with progress(range(10), desc="fit", file=out) as bar:  # under min_seconds: silent
        list(bar)
    monkeypatch.setenv("VERTICALKIT_PROGRESS", "0")
    bar = progress(total=3, desc="fit", file=out, every=0)
    bar.update(3)
    bar.close()
    assert out.getvalue() == ""


def test_trainer_log_has_no_frames(capfd):
    import numpy as np

    from verticalkit.core.config import TrainConfig
    from verticalkit.core.data.adapter import Task
    from verticalkit.core.families import image
    from verticalkit.core.heads.base import FitContext

    rng = np.random.default_rng(0)
    X, y = rng.random((64, 8, 8)).astype(np.float32), rng.integers(0, 2, 64)
    ctx = FitContext(task=Task(kind="binary", target="y", primary_metric="roc_auc", classes=["a", "b"]), seed=0,
                     train=TrainConfig(epochs=2, batch_size=4, progress=True))
    image.CNNImage(size=8, width=4).fit(X, y, context=ctx)
    err = capfd.readouterr().err
    assert "\r" not in err and "it/s" not in err


def test_step_heartbeat_and_done_line():
    from verticalkit.core.progress import step

    out = io.StringIO()
    with step("fitting gbdt", every=0.1, min_seconds=0.0, file=out):
        time.sleep(0.35)
    lines = out.getvalue().splitlines()
    assert 2 <= len(lines) <= 5 and "\r" not in out.getvalue()
    assert lines[0].startswith("fitting gbdt: running") and lines[-1].startswith("fitting gbdt: done")
    quiet = io.StringIO()
    with step("fitting", every=0.01, min_seconds=0.0, file=quiet, disable=True):
        time.sleep(0.05)
    assert quiet.getvalue() == ""


def test_iteration_progress_bar_on_a_terminal_lines_elsewhere(tmp_path, monkeypatch):
    from verticalkit.core.progress import IterationProgress

    monkeypatch.delenv("VERTICALKIT_PROGRESS", raising=False)

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream in (Terminal(), io.StringIO()):
        p = IterationProgress("gbdt", 200, "average_precision", True, tmp_path, every=50, file=stream)
        for i, score in enumerate([0.1, 0.3, 0.2] * 40, start=1):
            p.update(i, score)
        p.close()
        text = stream.getvalue()
        if isinstance(stream, Terminal):  # a tqdm bar: its count and the best score, no plain lines
            assert "120/200" in text and "best=0.3" in text and "gbdt: iteration" not in text
        else:
            lines = text.splitlines()
            assert lines[0].startswith("gbdt: iteration 50/200") and "\r" not in text
            assert lines[-1].startswith("gbdt: iteration 120/200") and "(best 0.3000 at 2)" in lines[-1]
            assert "average_precision 0.2000 " in lines[-1]  # the final line repeats the last score, not nan
    log = (tmp_path / "train_log.csv").read_text().splitlines()
    assert log[0].startswith("iteration,") and log[-1].startswith("120,")
