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


@pytest.mark.parametrize("every", [None, 5], ids=["epoch-checkpoints", "mid-epoch-checkpoints"])
def test_sigkill_then_resume_is_bit_identical(tmp_path, every):
    extra = ["--every-steps", str(every)] if every else []
    ref = _run(tmp_path / "ref", *extra)
    assert ref.returncode == 0, ref.stderr
    killed = _run(tmp_path / "run", "--kill-at-step", "31", *extra)  # 19 steps/epoch: mid epoch 2
    assert killed.returncode == -signal.SIGKILL
    assert not (tmp_path / "run" / "final.safetensors").exists()
    resumed = _run(tmp_path / "run", *extra)
    assert resumed.returncode == 0, resumed.stderr
    a = load_file(str(tmp_path / "ref" / "final.safetensors"))
    b = load_file(str(tmp_path / "run" / "final.safetensors"))
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    assert json.loads((tmp_path / "ref" / "result.json").read_text()) == \
        json.loads((tmp_path / "run" / "result.json").read_text())
