"""Exact resume: a run killed with SIGKILL mid-epoch and resumed ends with the weights of an
uninterrupted run. The two are separate processes, so they are compared with a tight tolerance
(float rounding may differ across processes / BLAS threads; a wrong resume — RNG, optimizer or
scheduler state, a repeated or skipped batch — moves weights by orders of magnitude more)."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("_train_script.py")
RTOL, ATOL = 1e-5, 1e-6


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(out), *extra], capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """One uninterrupted run (checkpoint cadence does not change training, so both cases share it)."""
    out = tmp_path_factory.mktemp("ref")
    ref = _run(out)
    assert ref.returncode == 0, ref.stderr
    return out


@pytest.mark.parametrize("every", [None, 5], ids=["epoch-checkpoints", "mid-epoch-checkpoints"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, reference, every):
    extra = ["--every-steps", str(every)] if every else []
    killed = _run(tmp_path, "--kill-at-step", "31", *extra)  # 19 steps/epoch: mid epoch 2 (dropout on)
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "final.safetensors").exists()
    state = "epoch 2 of 4" if every is None else "step 30 (epoch 2, batch 11)"
    assert (tmp_path / "checkpoints" / "last" / "trainer_state.pt").exists(), f"no checkpoint at {state}"
    resumed = _run(tmp_path, *extra)
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed" in resumed.stdout  # it did not silently start over
    a = load_file(str(reference / "final.safetensors"))
    b = load_file(str(tmp_path / "final.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=RTOL, atol=ATOL)
    ref_result = json.loads((reference / "result.json").read_text())
    result = json.loads((tmp_path / "result.json").read_text())
    assert result.pop("auroc") == pytest.approx(ref_result.pop("auroc"), abs=1e-6)
    np.testing.assert_allclose(result.pop("scores"), ref_result.pop("scores"), rtol=RTOL, atol=ATOL)
    # the epochs the resumed process ran (2..4) log the same train loss, val score and lr,
    # including epoch 2's loss, which a mid-epoch resume carries over from the checkpoint
    history, ref_history = result.pop("history"), ref_result.pop("history")
    assert [h["epoch"] for h in history] == [2, 3, 4]
    assert len(history) == len(ref_history[1:])
    for h, ref in zip(history, ref_history[1:]):
        assert h.keys() == ref.keys()
        assert h == {k: pytest.approx(v, rel=RTOL, abs=ATOL) if isinstance(v, float) else v for k, v in ref.items()}
    assert result == ref_result
