"""Exact resume: a run killed with SIGKILL mid-epoch and resumed ends with identical weights."""

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("_train_script.py")


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
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference, every):
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
    assert all((a[k] == b[k]).all() for k in a)
    ref_result = json.loads((reference / "result.json").read_text())
    result = json.loads((tmp_path / "result.json").read_text())
    assert result.pop("auroc") == ref_result.pop("auroc")
    # the epochs the resumed process ran (2..4) log the same train loss, val score and lr,
    # including epoch 2's loss, which a mid-epoch resume carries over from the checkpoint
    history, ref_history = result.pop("history"), ref_result.pop("history")
    assert [h["epoch"] for h in history] == [2, 3, 4]
    assert history == ref_history[1:]
    assert result == ref_result
