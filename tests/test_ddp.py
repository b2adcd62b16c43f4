"""2-process DDP (torchrun, CPU, gloo; Accelerate picks up the torchrun environment) reaches the 1-process metrics; evaluation counts each sample once."""

import json
import os
import subprocess
import sys
from pathlib import Path


SCRIPT = Path(__file__).with_name("_train_script.py")
# Same global batch (2 × 16 vs 1 × 32) over the same samples and no dropout (each process
# draws its own dropout masks): the updates agree up to the order of float reductions in
# the all-reduce, so the validation AUROC agrees to within 1e-3.
TOLERANCE = 1e-3


def test_two_process_ddp_matches_single_process(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    single = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "one"), "--batch-size", "32", "--dropout", "0"],
                            capture_output=True, text=True, timeout=300, env=env)
    assert single.returncode == 0, single.stderr
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29517", str(SCRIPT), str(tmp_path / "two"), "--batch-size", "16", "--dropout", "0"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "result.json").read_text())
    two = json.loads((tmp_path / "two" / "result.json").read_text())
    assert two["processes"] == 2 and one["processes"] == 1
    assert two["n_val"] == one["n_val"] == 201 and two["targets_match"]  # each val sample counted once, in order
    assert abs(two["auroc"] - one["auroc"]) <= TOLERANCE
