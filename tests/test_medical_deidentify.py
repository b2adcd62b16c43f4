"""De-identification (PS3.15 basic profile subset): identifiers gone, links kept, audit log clean."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest
from test_medical_data import make_dicom_folder

from verticalkit.core.errors import DataError
from verticalkit.verticals.medical_imaging.deidentify import date_offset, deidentify_folder, remap_uid


def test_deidentify_folder(tmp_path):
    src, secrets = make_dicom_folder(tmp_path / "src", per_patient=2)
    first = src / "site0" / "img_00_0.dcm"
    ds = pydicom.dcmread(first)
    ds.BurnedInAnnotation = "YES"
    ds.add_new(0x00091001, "LO", "private secret")
    ds.save_as(first)
    originals = {f.relative_to(src): pydicom.dcmread(f) for f in src.rglob("*.dcm")}
    audit_file = deidentify_folder(src, tmp_path / "dst", salt="site-secret")
    out = {f.relative_to(tmp_path / "dst"): pydicom.dcmread(f) for f in (tmp_path / "dst").rglob("*.dcm")}
    assert out.keys() == originals.keys()
    for f in (f for f in (tmp_path / "dst").rglob("*") if f.is_file()):
        data = f.read_bytes()
        assert not [s for s in secrets + ["private secret"] if s.encode() in data], f
    a, b = out[first.relative_to(src)], out[(src / "site0" / "img_00_1.dcm").relative_to(src)]
    oa = originals[first.relative_to(src)]
    assert a.PatientID == b.PatientID != oa.PatientID and a.PatientIdentityRemoved == "YES"
    assert a.StudyInstanceUID == b.StudyInstanceUID == remap_uid(oa.StudyInstanceUID, "site-secret")
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.SOPClassUID == oa.SOPClassUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    shift = date_offset(oa.PatientID, "site-secret")
    want = (pd.Timestamp(oa.PatientBirthDate) - pd.Timedelta(days=shift)).strftime("%Y%m%d")
    assert a.PatientBirthDate == want and 1 <= shift <= 365
    assert not any(e.tag.is_private for e in a)
    np.testing.assert_array_equal(a.pixel_array, oa.pixel_array)
    audit = pd.read_csv(audit_file)
    assert "FLAG: burned-in text, pixels not scrubbed" in set(audit["action"])
    assert not [s for s in secrets if s in audit.to_csv()]
    with pytest.raises(DataError, match="salt"):
        deidentify_folder(src, tmp_path / "x", salt="")


def test_deidentify_rename_and_labels(tmp_path):
    """rename=True: flat <remapped SOPInstanceUID>.dcm files, audit log without source paths;
    deidentify_labels carries file → label over to the remapped UIDs."""
    from verticalkit.verticals.medical_imaging.data import DicomFolder
    from verticalkit.verticals.medical_imaging.deidentify import deidentify_labels

    src, secrets = make_dicom_folder(tmp_path / "src", per_patient=1)
    (src / "site0" / "img_00_0.dcm").rename(src / "site0" / "DOE^JANE.dcm")
    table = pd.read_csv(src / "labels.csv")
    table.loc[0, "file"] = "site0/DOE^JANE.dcm"
    table.to_csv(src / "labels.csv", index=False)
    audit = deidentify_folder(src, tmp_path / "dst", salt="s3cret", rename=True)
    names = sorted(f.name for f in (tmp_path / "dst").glob("*.dcm"))
    assert names == sorted(f"{remap_uid(u, 's3cret')}.dcm" for u in table["SOPInstanceUID"])
    assert not list((tmp_path / "dst").glob("site*")) and "DOE" not in audit.read_text()
    labels = deidentify_labels(src / "labels.csv", src, tmp_path / "dst_labels.csv", salt="s3cret")
    out = pd.read_csv(labels)
    assert list(out.columns) == ["SOPInstanceUID", "label"] and out["label"].tolist() == table["label"].tolist()
    assert not [s for s in secrets if s in labels.read_text()]
    splits = DicomFolder(path=tmp_path / "dst", labels=str(labels), key_column="SOPInstanceUID", image_size=8,
                         seed=0).load()
    assert len(splits.train) + len(splits.val) + len(splits.test) == len(table)
    with pytest.raises(DataError, match="salt"):
        deidentify_labels(src / "labels.csv", src, tmp_path / "x.csv", salt="")


def test_deidentify_real_files_logs_and_empty_folder(tmp_path, caplog, recwarn):
    """Real files (CT, an RT plan, an SR, a truncated MR): their PatientName / PatientID reach no output
    file, audit row, log line or warning; an empty folder is an error naming it."""
    import logging
    import warnings

    from pydicom.data import get_testdata_file

    caplog.set_level(logging.DEBUG)
    src = tmp_path / "src"
    src.mkdir()
    secrets = []
    for name in ("CT_small.dcm", "rtplan.dcm", "reportsi.dcm", "MR_truncated.dcm"):
        f = get_testdata_file(name)
        (src / name).write_bytes(open(f, "rb").read())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f, stop_before_pixels=True)
        secrets += [str(ds.get(k)) for k in ("PatientName", "PatientID") if ds.get(k)]
    assert len(secrets) >= 6
    audit = deidentify_folder(src, tmp_path / "dst", salt="site-secret")
    written = [f for f in (tmp_path / "dst").rglob("*") if f.is_file()]
    assert len(written) == 5 and audit in written
    for f in written:
        data = f.read_bytes()
        assert not [s for s in secrets if s.encode() in data], f
    text = caplog.text + " ".join(str(w.message) for w in recwarn.list)
    assert not [s for s in secrets if s in text]
    (tmp_path / "none").mkdir()
    with pytest.raises(DataError, match=r"none: no DICOM files found \(\*.dcm, \*.dicom, or files with the DICM "
                                        r"marker\); check the source folder"):
        deidentify_folder(tmp_path / "none", tmp_path / "x", salt="s")
