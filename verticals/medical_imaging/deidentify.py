"""De-identification: a subset of the DICOM PS3.15 Annex E basic profile.

* names and IDs replaced by salted hashes (PatientName, PatientID, AccessionNumber, ...),
  other identifying attributes (addresses, phone numbers, physicians, institution) removed;
* dates (DA) and date-times (DT) shifted by a per-patient offset (1..365 days back, from the
  salted PatientID hash), so intervals within a patient are kept (Retain Longitudinal
  Temporal Information with Modified Dates option);
* UIDs remapped consistently (``2.25.<int of a salted hash>``; the same input UID always gives
  the same output UID, so studies and series stay linked); class and syntax UIDs kept;
* private tags removed; Burned In Annotation = YES flagged in the audit log (pixels are not
  scrubbed: review or exclude those images);
* Patient Identity Removed = YES and the method recorded in the file;
* an audit log (file, tag keyword, action) without any original value.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from pathlib import Path
from typing import Any

from verticalkit.core.errors import DataError

from .dicom import quiet_pydicom, read_dataset
from .images import is_dicom_file

REPLACE = ("PatientName", "PatientID", "AccessionNumber", "StudyID")
REMOVE = ("OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "PatientAddress",
          "PatientTelephoneNumbers", "PatientMotherBirthName", "MilitaryRank", "EthnicGroup", "Occupation",
          "AdditionalPatientHistory", "PatientComments", "ReferringPhysicianName", "ReferringPhysicianAddress",
          "ReferringPhysicianTelephoneNumbers", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
          "OperatorsName", "PhysiciansOfRecord", "RequestingPhysician", "InstitutionName", "InstitutionAddress",
          "InstitutionalDepartmentName", "StationName", "DeviceSerialNumber", "IssuerOfPatientID",
          "MedicalRecordLocator", "PatientInsurancePlanCodeSequence", "RequestAttributesSequence",
          "ContentCreatorName", "PersonName", "ResponsiblePerson", "ResponsibleOrganization")
KEEP_UIDS = ("SOPClassUID", "MediaStorageSOPClassUID", "TransferSyntaxUID", "ImplementationClassUID",
             "ReferencedSOPClassUID", "CodingSchemeUID", "ContextGroupExtensionCreatorUID")
METHOD = "verticalkit PS3.15 basic profile subset"  # LO: at most 64 characters


def _h(value: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()


def remap_uid(uid: str, salt: str) -> str:
    """A stable replacement UID under the 2.25 root (UUID-derived form), at most 64 characters."""
    return "2.25." + str(int(_h(uid, salt)[:30], 16))


def date_offset(patient_id: str, salt: str) -> int:
    """Days to shift this patient's dates back (1..365), stable per patient and salt."""
    return 1 + int(_h(f"date:{patient_id}", salt)[:8], 16) % 365


def _shift(value: str, vr: str, days: int) -> str:
    try:
        if vr == "DA":
            d = dt.datetime.strptime(str(value)[:8], "%Y%m%d") - dt.timedelta(days=days)
            return d.strftime("%Y%m%d")
        d = dt.datetime.strptime(str(value)[:8], "%Y%m%d") - dt.timedelta(days=days)
        return d.strftime("%Y%m%d") + str(value)[8:]
    except ValueError:
        return ""


def deidentify_dataset(ds: Any, salt: str, audit: list[dict[str, str]], where: str = "") -> Any:
    """De-identify ``ds`` in place (see the module docstring); append actions to ``audit``."""
    pid = str(ds.get("PatientID", "") or "")
    days = date_offset(pid, salt)
    if str(ds.get("BurnedInAnnotation", "")).upper() == "YES":
        audit.append({"file": where, "tag": "BurnedInAnnotation", "action": "FLAG: burned-in text, pixels not scrubbed"})
    ds.remove_private_tags()
    audit.append({"file": where, "tag": "(private tags)", "action": "removed"})

    def walk(d: Any) -> None:
        for elem in list(d):
            kw = elem.keyword
            if elem.VR == "SQ":
                if kw in REMOVE:
                    del d[elem.tag]
                    audit.append({"file": where, "tag": kw, "action": "removed"})
                    continue
                for item in elem.value:
                    walk(item)
            elif kw in REPLACE:
                elem.value = ("ANON^" + _h(str(elem.value), salt)[:10]) if elem.VR == "PN" \
                    else _h(str(elem.value), salt)[:16]
                audit.append({"file": where, "tag": kw, "action": "replaced by salted hash"})
            elif kw in REMOVE or (elem.VR == "PN" and kw not in REPLACE):
                del d[elem.tag]
                audit.append({"file": where, "tag": kw or str(elem.tag), "action": "removed"})
            elif elem.VR in ("DA", "DT") and elem.value:
                values = elem.value if elem.VM > 1 else [elem.value]
                shifted = [_shift(str(v), elem.VR, days) for v in values]
                elem.value = shifted if elem.VM > 1 else shifted[0]
                audit.append({"file": where, "tag": kw, "action": "date shifted (per-patient offset)"})
            elif elem.VR == "UI" and kw not in KEEP_UIDS and elem.value:
                values = elem.value if elem.VM > 1 else [elem.value]
                mapped = [remap_uid(str(v), salt) for v in values]
                elem.value = mapped if elem.VM > 1 else mapped[0]
                audit.append({"file": where, "tag": kw, "action": "UID remapped"})

    with quiet_pydicom():
        walk(ds)
        meta = getattr(ds, "file_meta", None)
        if meta is not None and meta.get("MediaStorageSOPInstanceUID"):
            meta.MediaStorageSOPInstanceUID = remap_uid(str(meta.MediaStorageSOPInstanceUID), salt)
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = METHOD
    return ds


def _check_salt(salt: str) -> None:
    if not salt:
        raise DataError("deidentify: give a non-empty secret salt (hashes without one can be reversed by lookup)")


def deidentify_folder(src: str | Path, dst: str | Path, salt: str, rename: bool = False) -> Path:
    """De-identify every DICOM file under ``src`` into ``dst``; write ``dst/deid_audit.csv``
    and return its path. ``salt`` is a secret kept by the site.

    rename: ``False`` keeps the relative paths (the audit log names them); ``True`` writes
    ``dst/<remapped SOPInstanceUID>.dcm`` (flat) and the audit log names only those, for
    folders whose file or folder names may hold patient names or IDs. Pair it with
    :func:`deidentify_labels` to carry a labels CSV over.
    """
    src, dst = Path(src), Path(dst)
    _check_salt(salt)
    files = [f for f in sorted(src.rglob("*")) if f.is_file() and is_dicom_file(f)]
    if not files:
        raise DataError(f"{src}: no DICOM files found (*.dcm, *.dicom, or files with the DICM marker); check the "
                        f"source folder")
    audit: list[dict[str, str]] = []
    for f in files:
        ds = read_dataset(f)
        rel = Path(_new_name(ds, salt, f.relative_to(src))) if rename else f.relative_to(src)
        deidentify_dataset(ds, salt, audit, where=str(rel))
        out = dst / rel
        if rename and out.exists():
            raise DataError(f"{rel}: two source files share a SOPInstanceUID; de-identify them separately")
        out.parent.mkdir(parents=True, exist_ok=True)
        with quiet_pydicom():
            ds.save_as(out)
    log_file = dst / "deid_audit.csv"
    with open(log_file, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "tag", "action"])
        w.writeheader()
        w.writerows(audit)
    return log_file


def _new_name(ds: Any, salt: str, rel: Path) -> str:
    uid = ds.get("SOPInstanceUID")
    return f"{remap_uid(str(uid), salt) if uid else 'f-' + _h(rel.as_posix(), salt)[:16]}.dcm"


def deidentify_labels(labels: str | Path, src: str | Path, dst: str | Path, salt: str,
                      key_column: str | None = None, label_column: str = "label") -> Path:
    """Carry a labels CSV (``file`` path or ``SOPInstanceUID`` → label) over to the
    de-identified copy: write ``dst`` with columns ``SOPInstanceUID`` (remapped with ``salt``,
    as :func:`deidentify_folder` does) and ``label_column`` only (other columns may identify).
    Train on it with ``data.key_column=SOPInstanceUID``."""
    import pandas as pd

    _check_salt(salt)
    labels, src = Path(labels), Path(src)
    table = pd.read_csv(labels)
    key = key_column or next((c for c in ("file", "filename", "path", "SOPInstanceUID") if c in table.columns), None)
    if key is None or key not in table.columns or label_column not in table.columns:
        raise DataError(f"{labels}: needs a key column (file / SOPInstanceUID) and {label_column!r}; columns are "
                        f"{list(table.columns)}; set key_column / label_column")
    uids = []
    for row, k in enumerate(table[key].astype(str)):
        if key == "SOPInstanceUID":
            uids.append(remap_uid(k, salt))
            continue
        f = src / k
        if not f.is_file():
            raise DataError(f"{labels}: row {row + 2}: no file {k!r} under {src}; give paths relative to the folder")
        uid = read_dataset(f, stop_before_pixels=True).get("SOPInstanceUID")
        if not uid:
            raise DataError(f"{labels}: row {row + 2}: the file has no SOPInstanceUID; key the CSV by file instead")
        uids.append(remap_uid(str(uid), salt))
    out = pd.DataFrame({"SOPInstanceUID": uids, label_column: table[label_column].to_numpy()})
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(dst, index=False)
    return Path(dst)
