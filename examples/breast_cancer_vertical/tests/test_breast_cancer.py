import json

import pytest
import yaml

from verticalkit.core.tools.cli import main
from verticalkit.core.registry import get_vertical
from verticalkit.core.tools.testing import check_vertical
from verticalkit_breast_cancer import VERTICAL


def test_found_through_entry_point():
    assert get_vertical("breast_cancer").id == "breast_cancer"


def test_conforms():
    report = check_vertical(VERTICAL)
    assert set(report["models"]) == {"logreg", "gbdt"}


def test_splits_follow_protocol():
    s = VERTICAL.tiny_data(42)
    assert (len(s.train), len(s.val), len(s.test)) == (398, 57, 114)
    assert s.test.y.sum() == 42  # 212/569 malignant, stratified


def test_train_matches_reference(tmp_path):
    ref = next(e for e in yaml.safe_load(VERTICAL.reference_results.read_text()) if e["model"] == "logreg")
    assert main(["train", "breast_cancer", "--model", "logreg", "--out", str(tmp_path / "r"),
                 "--set", "eval.n_bootstrap=200"]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())["metrics"][ref["metric"]]
    assert m["value"] == pytest.approx(ref["value"], abs=ref["tolerance"])
