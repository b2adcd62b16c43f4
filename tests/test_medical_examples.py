"""The medical examples run offline: DICOM folder → de-identified → trained → batch-predicted CSV."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_dicom_folder_example_writes_predictions_without_identifiers(tmp_path, monkeypatch):
    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path / "no-data"))
    ex = _load("dicom_folder")
    s = ex.run(tmp_path / "demo", model="logreg", image_size=16)
    pred = pd.read_csv(s["predictions"])
    assert len(pred) == s["n_source_files"] == len(ex.PATIENTS) * 3 and s["errors"] == 0
    assert list(pred.columns) == ["id", "score", "prediction"] and pred["score"].between(0, 1).all()
    assert pred["id"].str.fullmatch(r"f-[0-9a-f]{16}").all()
    assert s["test_roc_auc"] > 0.8  # the bright square is easy to find
    # the source holds the identifiers (headers and paths); nothing the example wrote does
    names = [n for n, _ in ex.PATIENTS] + [p for _, p in ex.PATIENTS]
    assert ex.leaks(tmp_path / "demo" / "source", names)
    written = [p for p in (tmp_path / "demo").iterdir() if p.name != "source"]
    assert len(written) >= 4
    for path in written:
        assert ex.leaks(path, names) == [] if path.is_dir() else not any(n.encode() in path.read_bytes()
                                                                          for n in names), path
    assert s["identifier_leaks"] == [] and s["identifiers_checked"] == 2 * len(ex.PATIENTS)


def test_dicom_folder_example_reports_bad_input(tmp_path, capsys):
    ex = _load("dicom_folder")
    code = ex.main(["--input", str(tmp_path), "--labels", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")])
    assert code == 2 and "missing.csv: labels CSV not found" in capsys.readouterr().err
