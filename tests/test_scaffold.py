"""`verticalkit new-vertical` writes a plug-in that pip-installs and passes its own tests unedited."""

import os
import subprocess
import sys

import pytest
import yaml

from verticalkit.core.tools.cli import main


def test_scaffold_installs_and_passes_its_tests(tmp_path, capsys):
    root = tmp_path / "verticalkit-churn"
    assert main(["new-vertical", "churn", "--path", str(root)]) == 0
    refs = yaml.safe_load((root / "verticalkit_churn" / "reference_results.yaml").read_text())
    assert refs[0]["metric"] == "roc_auc" and 0.5 < refs[0]["value"] <= 1
    lo, hi = refs[0]["ci95"]
    assert lo <= refs[0]["value"] <= hi
    site = tmp_path / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(site), str(root)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout
    listed = subprocess.run([sys.executable, "-m", "verticalkit.core.tools.cli", "list"], capture_output=True, text=True,
                            env=env)
    assert "churn" in listed.stdout


@pytest.mark.parametrize("name", ["Churn", "1x", "class", "a-b"])
def test_scaffold_rejects_bad_names(tmp_path, capsys, name):
    assert main(["new-vertical", name, "--path", str(tmp_path / "x")]) == 2
    assert "lower-case Python identifier" in capsys.readouterr().err


def test_scaffold_refuses_non_empty_folder(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["new-vertical", "churn", "--path", str(tmp_path)]) == 2
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_scaffold_head_names_text_columns(tmp_path):
    """The example head's error on a text column is one line naming it, not a numpy traceback."""
    import importlib.util

    import numpy as np
    import pandas as pd

    from verticalkit.core.errors import DataError
    from verticalkit.core.tools.scaffold import new_vertical

    root = new_vertical("churn", tmp_path / "churn", measure=False)
    spec = importlib.util.spec_from_file_location("scaffold_models", root / "verticalkit_churn" / "models.py")
    models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models)
    X = pd.DataFrame({"x0": np.arange(8.0), "city": ["Oslo", "", "Lyon", None, "Oslo", "Rome", "Lyon", "Oslo"],
                      "x1": np.r_[np.zeros(4), np.ones(4)]})
    y = np.r_[np.zeros(4, int), np.ones(4, int)]
    with pytest.raises(DataError, match=r"column\(s\) \['city'\] are not numeric.*encode them in the adapter"):
        models.LogisticHead().fit(X, y)
    head = models.LogisticHead().fit(X.drop(columns="city"), y)
    assert head.predict_proba(X.drop(columns="city")).shape == (8, 2)
    with pytest.raises(DataError, match="not all numbers"):
        head.predict(np.array([["1", "x"]], dtype=object))
