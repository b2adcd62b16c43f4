"""Every example runs as its docstring's usage line shows: from the repo root, default arguments,
relative ``--out``. Each runs in a temporary folder holding a link to the repo's ``examples/``,
so the relative outputs (``runs/...``) land there and never in the repo."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USAGE = re.compile(r"^\s*((?:[A-Z_]+=\S+\s+)*)python (examples/\S+\.py)(.*)$", re.M)
# Measured on the shared 2-core dev machine (wall time, default arguments, OMP_NUM_THREADS=2, other
# jobs running): credit_risk_scorecard 12 s, dicom_folder 75 s, essay_scoring 268 s, fraud_detection
# and medical_imaging not done within 900 s (real ULB / PneumoniaMNIST training). Over ~20 s: slow.
FAST = {"credit_risk_scorecard"}


def usage(path: Path) -> tuple[dict[str, str], list[str]]:
    """The first usage line of an example's docstring: its environment and its arguments, with the
    optional ``[...]`` parts left out (default arguments)."""
    m = USAGE.search(path.read_text(encoding="utf-8").split('"""')[1])
    assert m, f"{path.name}: no `python examples/{path.name} ...` usage line in its docstring"
    env = dict(kv.split("=", 1) for kv in m.group(1).split())
    args = shlex.split(re.sub(r"\[[^\]]*\]", " ", m.group(3)))
    return env, [m.group(2), *args]


def run_example(argv: list[str], env: dict[str, str], tmp_path: Path, timeout: int) -> subprocess.CompletedProcess:
    (tmp_path / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    full = dict(os.environ)
    for key, value in env.items():  # the usage line's paths are relative to the repo root
        if key not in full:
            full[key] = str((ROOT / value).resolve()) if not Path(value).is_absolute() else value
    return subprocess.run([sys.executable, *argv], cwd=tmp_path, env=full, capture_output=True, text=True,
                          timeout=timeout)


def _runs() -> set[str]:
    return {p.name for p in (ROOT / "runs").iterdir()} if (ROOT / "runs").is_dir() else set()


EXAMPLES = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("name", [pytest.param(n, marks=() if n in FAST else pytest.mark.slow) for n in EXAMPLES])
def test_example_runs_as_its_usage_line_shows(name, tmp_path):
    env, argv = usage(ROOT / "examples" / f"{name}.py")
    before = _runs()
    proc = run_example(argv, env, tmp_path, timeout=3600)
    assert proc.returncode == 0, f"{' '.join(argv)}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr
    assert _runs() == before  # nothing written into the repo's runs/
    outs = [a for a in argv if a.startswith("runs/")] or re.findall(r'default=(?:Path\()?"(runs/[^"]+)"',
                                                                     (ROOT / argv[0]).read_text())
    for out in outs:
        assert (tmp_path / out).exists(), out  # the relative --out is relative to the current folder


def test_dicom_example_with_relative_paths_from_the_repo_root(tmp_path, monkeypatch, capsys):
    """dicom_folder.py's usage line with its cheapest model, in this process (the subprocess run is
    slow): relative --out, as from the repo root (its labels CSV was looked up inside the
    de-identified folder a second time: `none of [...] found in this folder`)."""
    import importlib.util

    env, argv = usage(ROOT / "examples" / "dicom_folder.py")
    spec = importlib.util.spec_from_file_location("dicom_folder_example", ROOT / argv[0])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.chdir(tmp_path)
    assert module.main([*argv[1:], "--model", "logreg", "--image-size", "16", "--out", "runs/dicom-demo"]) == 0, \
        capsys.readouterr().err
    assert "identifier leaks in the outputs: 0" in capsys.readouterr().out
    assert (tmp_path / "runs" / "dicom-demo" / "predictions.csv").is_file()


def test_usage_lines_are_found_and_options_dropped():
    env, argv = usage(ROOT / "examples" / "dicom_folder.py")
    assert env == {} and argv == ["examples/dicom_folder.py"]
    env, argv = usage(ROOT / "examples" / "essay_scoring.py")
    assert env == {"VERTICALKIT_DATA": "../shared/data"} and argv == ["examples/essay_scoring.py"]
