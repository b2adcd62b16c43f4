"""A DICOM folder + labels CSV → de-identified copy → trained model → batch-predicted CSV.

    python examples/dicom_folder.py [--input DIR --labels CSV] [--model cnn] [--epochs 3] [--out runs/dicom-demo]

Without ``--input`` it builds a small folder from pydicom's bundled MR_small.dcm (offline): 12
synthetic patients, 3 images each, with patient names and IDs in the headers *and* in the
file names, labels in ``labels.csv`` (``file,label``). Then:

1. de-identifies the folder (PS3.15 basic-profile subset, files renamed to their remapped
   SOPInstanceUID, audit log) and carries the labels over, keyed by the new SOPInstanceUID;
2. trains on the de-identified copy (patient-grouped split; DICOM → modality LUT → VOI →
   [0, 1]; ids are salted hashes of the path);
3. batch-predicts the de-identified folder to ``predictions.csv`` (unreadable files go to
   ``predictions.csv.errors.csv``);
4. checks that no PatientName / PatientID of the source appears in any file it wrote.

Set ``$VERTICALKIT_ID_SALT`` and ``--salt`` to site secrets for real data.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from verticalkit.core.serve.batch import predict_file
from verticalkit.core.errors import DataError, VerticalkitError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import build_config, train
from verticalkit.verticals.medical_imaging.deidentify import deidentify_folder, deidentify_labels

PATIENTS = [(f"DOE^PATIENT{p:02d}", f"MRN{70000 + 37 * p}") for p in range(12)]


def make_source_folder(root: Path, per_patient: int = 3) -> Path:
    """Synthetic DICOM folder from MR_small: class "finding" carries a bright square."""
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    rng = np.random.default_rng(0)
    rows = []
    root.mkdir(parents=True, exist_ok=True)
    for p, (name, pid) in enumerate(PATIENTS):
        label = "finding" if p % 2 else "normal"
        for k in range(per_patient):
            ds = copy.deepcopy(base)
            ds.PatientName, ds.PatientID = name, pid
            ds.PatientSex = "F" if p % 3 else "M"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            arr = ds.pixel_array.astype(np.int16)
            if label == "finding":
                arr[16:40, 16:40] += 400
            ds.PixelData = np.clip(arr + rng.integers(-30, 30, arr.shape), 0, None).astype(np.int16).tobytes()
            rel = f"{pid}/{name.replace('^', '_')}_{k}.dcm"  # identifiers in the path, as often in practice
            (root / pid).mkdir(exist_ok=True)
            ds.save_as(root / rel)
            rows.append({"file": rel, "label": label})
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root / "labels.csv"


def identifiers(folder: Path, labels: pd.DataFrame) -> list[str]:
    """PatientName / PatientID values of the source files (to check the outputs)."""
    import pydicom

    out: set[str] = set()
    for rel in labels.iloc[:, 0].astype(str):
        f = folder / rel
        if f.is_file():
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            out |= {str(ds.get("PatientName", "")), str(ds.get("PatientID", ""))} - {""}
    return sorted(out)


def leaks(folder: Path, secrets: list[str]) -> list[str]:
    """Files under ``folder`` (names or bytes) that contain one of ``secrets``."""
    hits = []
    for f in folder.rglob("*"):
        text = f.relative_to(folder).as_posix()
        data = f.read_bytes() if f.is_file() else b""
        hits += [f"{text}: {s}" for s in secrets if s in text or s.encode() in data]
    return hits


def run(out: Path, input_dir: Path | None = None, labels: Path | None = None, model: str = "cnn",
        epochs: int = 3, salt: str = "example-site-secret", image_size: int = 32) -> dict:
    """The whole flow; returns a summary (also written to ``out/summary.json``)."""
    out.mkdir(parents=True, exist_ok=True)
    if input_dir is None:
        labels = make_source_folder(out / "source")
        input_dir = out / "source"
    labels = labels or input_dir / "labels.csv"
    if not Path(labels).is_file():
        raise DataError(f"{labels}: labels CSV not found; give --labels (columns file or SOPInstanceUID, label)")
    secrets = identifiers(input_dir, pd.read_csv(labels))
    deid = out / "deidentified"
    audit = deidentify_folder(input_dir, deid, salt=salt, rename=True)
    deid_labels = deidentify_labels(labels, input_dir, out / "labels_deidentified.csv", salt=salt)
    sets = [f"data.path={deid}", f"data.labels={deid_labels}", "data.key_column=SOPInstanceUID",
            f"data.image_size={image_size}", "data.ids=hash", "seed=0", "eval.n_bootstrap=200"]
    if model != "logreg":
        sets += [f"train.epochs={epochs}", "train.batch_size=16", "train.patience=null"]
    cfg = build_config("medical_imaging", "dicom-folder", model, str(out / "run"), sets=sets)
    run_dir = train(cfg, overwrite=True)
    predictions = out / "predictions.csv"
    batch = predict_file(Predictor.load(run_dir / "model"), deid, predictions, progress=False)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    written = [deid, run_dir, predictions, out / "labels_deidentified.csv"]
    if batch.get("errors_file"):
        written.append(Path(batch["errors_file"]))
    found = [h for w in written for h in (leaks(w, secrets) if w.is_dir() else
                                             [f"{w.name}: {s}" for s in secrets if s.encode() in w.read_bytes()])]
    summary = {"n_source_files": int(len(pd.read_csv(labels))), "audit_log": str(audit),
               "run_dir": str(run_dir), "predictions": str(predictions), "rows_scored": batch.get("rows"),
               "errors": batch.get("errors"), "test_roc_auc": metrics["metrics"].get("roc_auc", {}).get("value"),
               "identifiers_checked": len(secrets), "identifier_leaks": found}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, help="a DICOM folder (default: a synthetic one from pydicom's files)")
    ap.add_argument("--labels", type=Path,
                    help="labels CSV (file or SOPInstanceUID, label); default <input>/labels.csv")
    ap.add_argument("--model", default="cnn", help="cnn | resnet18 | timm | mobilenet_v2 | logreg")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--salt", default="example-site-secret", help="de-identification secret (keep it at the site)")
    ap.add_argument("--out", type=Path, default=Path("runs/dicom-demo"))
    args = ap.parse_args(argv)
    try:
        s = run(args.out, args.input, args.labels, args.model, args.epochs, args.salt, args.image_size)
    except VerticalkitError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"de-identified {s['n_source_files']} files (audit log: {s['audit_log']})")
    print(f"trained: {s['run_dir']} (test ROC AUC {s['test_roc_auc']:.3f})")
    print(f"predictions: {s['predictions']} ({s['rows_scored']} rows, {s['errors']} unreadable files)")
    print(f"identifier leaks in the outputs: {len(s['identifier_leaks'])} of {s['identifiers_checked']} "
          f"identifiers checked")
    return 1 if s["identifier_leaks"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
