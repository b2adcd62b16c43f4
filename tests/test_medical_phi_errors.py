"""Patient identifiers in folder and file names never reach error messages, log records or
``.errors.csv``: files are named by their sample id, and the id → path map is one file
(mode 0o600) that the messages point to."""

from __future__ import annotations

import logging
import shutil
import stat

import pandas as pd
import pytest

pytest.importorskip("pydicom")
from test_medical_data import make_dicom_folder  # noqa: E402  (tests/ is on sys.path: conftest.py)

from verticalkit.core.tools.cli import main  # noqa: E402
from verticalkit.core.errors import DataError  # noqa: E402
from verticalkit.core.heads.predictor import Predictor  # noqa: E402

PATIENT = "DOE^JOHN_12345"
SECRETS = ("DOE", "JOHN", "12345")


@pytest.fixture
def medical():
    from verticalkit.core.registry import get_vertical, register, unregister
    from verticalkit.verticals.medical_imaging import VERTICAL

    try:
        get_vertical(VERTICAL.id)
    except Exception:  # noqa: BLE001 - entry point not installed
        register(VERTICAL)
        yield
        unregister(VERTICAL.id)
    else:
        yield


def _broken_files(folder, good):
    """A good copy and three broken files, all named after the patient."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    shutil.copy(good, folder / f"{PATIENT}_ok.dcm")
    (folder / f"{PATIENT}_truncated.dcm").write_bytes(data[:400])
    (folder / f"{PATIENT}_no_pixels.dcm").write_bytes(data[:132] + b"garbage" * 30)
    (folder / f"{PATIENT}_half.dcm").write_bytes(data[: len(data) // 2])


def _assert_clean(text: str) -> None:
    assert not any(s in text for s in SECRETS), text


def test_predict_names_broken_files_by_id_and_keeps_one_private_map(medical, tmp_path, capsys, caplog):
    from verticalkit.verticals.medical_imaging.data import DicomFolder
    from verticalkit.verticals.medical_imaging.models import LogRegHead

    root, _ = make_dicom_folder(tmp_path / "train", per_patient=1)
    s = DicomFolder(path=root, image_size=16, seed=0).load()
    Predictor(LogRegHead().fit(s.train.X, s.train.y), vertical="medical_imaging", model="logreg",
              dataset="dicom-folder", task=s.task, info=s.info).save(tmp_path / "run" / "model")
    _broken_files(tmp_path / "in" / PATIENT / "study 1", root / "site0" / "img_00_0.dcm")
    out = tmp_path / "out" / "pred.csv"
    caplog.set_level(logging.DEBUG)
    for inp in (tmp_path / "in", tmp_path / "in" / PATIENT):  # the patient folder inside the input, or the input
        capsys.readouterr()
        assert main(["predict", str(tmp_path / "run"), "--input", str(inp), "--output", str(out), "--quiet"]) == 0
        printed = capsys.readouterr()
        _assert_clean(printed.err)
        _assert_clean(printed.out.replace(str(out), ""))
        _assert_clean("\n".join(r.getMessage() for r in caplog.records))
        errors = pd.read_csv(out.with_name(out.name + ".errors.csv"))
        assert len(errors) == 3
        _assert_clean(errors.to_csv())
        _assert_clean(pd.read_csv(out).to_csv())
        id_map = out.with_name(out.name + ".ids.csv")
        assert all(str(id_map) in e for e in errors["error"])  # the messages point to the map
        assert stat.S_IMODE(id_map.stat().st_mode) == 0o600
        table = pd.read_csv(id_map)
        assert set(errors["id"]) <= set(table["id"]) and len(table) == 4
        assert table["path"].str.contains(PATIENT, regex=False).all()  # the map, and only it, links back
        assert [p for p in out.parent.iterdir() if PATIENT in p.read_text()] == [id_map]


def test_training_errors_name_the_file_by_id(tmp_path):
    from verticalkit.verticals.medical_imaging.data import DicomFolder

    root, _ = make_dicom_folder(tmp_path / "train", per_patient=1)
    _broken_files(root / PATIENT, root / "site0" / "img_00_0.dcm")
    table = pd.read_csv(root / "labels.csv")
    table.loc[0, "file"] = f"{PATIENT}/{PATIENT}_truncated.dcm"
    table.to_csv(root / "labels.csv", index=False)
    with pytest.raises(DataError) as e:
        DicomFolder(path=root, image_size=16, seed=0).load()
    _assert_clean(str(e.value))
    assert str(e.value).startswith("f-") and "id_table" in str(e.value)
