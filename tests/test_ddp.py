"""A real 2-process DDP run (``accelerate launch --multi_gpu``, which on a machine without
GPUs runs torch DDP on CPU over gloo) against a 1-process run on the same data.

Same global batch (2 processes × 16 vs 1 × 32), over the same samples in each step (the
Trainer shards one (seed, epoch) permutation by rank), no dropout (each process draws its
own masks): the updates then differ only in the order of float additions (the gradient
all-reduce averages two half-batch means). Measured: weights within 1e-7, identical
validation AUROC. Tolerances, with margin for other BLAS/thread settings: weights and
scores 1e-5 absolute, AUROC 1e-3.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
from safetensors.torch import load_file

SCRIPT = Path(__file__).with_name("_train_script.py")
WEIGHT_TOL, SCORE_TOL, AUROC_TOL = 1e-5, 1e-5, 1e-3


def _free_port() -> int:
    """A port nobody listens on now (a fixed one collides with parallel test runs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_ddp_matches_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "one"), "--batch-size", "32", "--dropout", "0"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          "--main_process_port", str(_free_port()), str(SCRIPT), str(tmp_path / "two"),
                          "--batch-size", "16", "--dropout", "0"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1
    # evaluation: the odd-sized val set (201) is gathered with each sample exactly once, in order
    assert two["n_val"] == one["n_val"] == 201 and two["targets_match"] and one["targets_match"]
    np.testing.assert_allclose(two["scores"], one["scores"], atol=SCORE_TOL, rtol=0)
    assert abs(two["auroc"] - one["auroc"]) <= AUROC_TOL
    a, b = load_file(str(tmp_path / "one" / "final.safetensors")), load_file(str(tmp_path / "two" / "final.safetensors"))
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= WEIGHT_TOL
    np.testing.assert_allclose([h["train_loss"] for h in two["history"]], [h["train_loss"] for h in one["history"]],
                               atol=1e-5)
