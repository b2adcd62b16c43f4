"""Dataset adapters of the medical imaging vertical: MedMNIST npz, DICOM folder + CSV, image folder;
and the de-identification guarantee through training and batch prediction."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from verticalkit.core.errors import DataError
from verticalkit.verticals.medical_imaging.data import MEDMNIST_ADAPTERS, DicomFolder, ImageFolder
from verticalkit.verticals.medical_imaging.dicom import hash_patient_id
from verticalkit.verticals.medical_imaging.images import read_image

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = Path(os.environ.get("VERTICALKIT_DATA", SHARED))


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $VERTICALKIT_DATA and an empty cache, so nothing is found unless the test writes it."""
    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


# --------------------------------------------------------------------------- MedMNIST


@pytest.mark.skipif(not (DATA / "pneumoniamnist" / "pneumoniamnist.npz").is_file(),
                    reason="PneumoniaMNIST not in $VERTICALKIT_DATA (../shared/data)")
def test_pneumoniamnist_official_split(monkeypatch):
    monkeypatch.setenv("VERTICALKIT_DATA", str(DATA))
    splits = MEDMNIST_ADAPTERS["pneumoniamnist"]().load()
    assert (len(splits.train), len(splits.val), len(splits.test)) == (4708, 524, 624)
    assert splits.task.kind == "binary" and splits.task.classes == ["normal", "pneumonia"]
    assert splits.train.X.shape == (4708, 1, 28, 28) and splits.train.X.dtype == np.uint8
    assert np.bincount(splits.test.y).tolist() == [234, 390]
    assert splits.protocol == "official-split"
    small = MEDMNIST_ADAPTERS["pneumoniamnist"](max_train=300, seed=1).load()
    assert len(small.train) == 300 and len(small.test) == 624


def _npz(path: Path, n: int = 6, size: int = 28, channels: int = 1, labels: np.ndarray | None = None, drop=()):
    rng = np.random.default_rng(0)
    shape = (n, size, size) if channels == 1 else (n, size, size, 3)
    arrays = {}
    for split in ("train", "val", "test"):
        arrays[f"{split}_images"] = rng.integers(0, 255, shape, dtype=np.uint8)
        arrays[f"{split}_labels"] = labels if labels is not None else (np.arange(n) % 2).reshape(n, 1)
    for k in drop:
        arrays.pop(k)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_medmnist_multilabel_rgb_and_sizes(isolated):
    chest = isolated / "data" / "chestmnist" / "chestmnist_64.npz"
    _npz(chest, size=64, labels=np.random.default_rng(1).integers(0, 2, (6, 14)))
    splits = MEDMNIST_ADAPTERS["chestmnist"](size=64).load()
    assert splits.task.kind == "multilabel" and len(splits.task.classes) == 14
    assert splits.train.y.shape == (6, 14) and splits.train.X.shape == (6, 1, 64, 64)
    _npz(isolated / "data" / "bloodmnist" / "bloodmnist.npz", channels=3, labels=np.arange(6).reshape(6, 1))
    blood = MEDMNIST_ADAPTERS["bloodmnist"]().load()
    assert blood.task.kind == "multiclass" and blood.train.X.shape == (6, 3, 28, 28)
    retina = _npz(isolated / "retina" / "retinamnist.npz", channels=3, labels=np.arange(6).reshape(6, 1) % 5)
    assert MEDMNIST_ADAPTERS["retinamnist"](path=retina).load().task.kind == "multiclass"  # ordinal, as MedMNIST


def test_medmnist_bad_npz(isolated):
    bad = _npz(isolated / "x" / "pneumoniamnist.npz", drop=("val_labels",))
    with pytest.raises(DataError, match=r"val_labels' missing .*fetch the official file \(`verticalkit data fetch "
                                        r"pneumoniamnist`\)"):
        MEDMNIST_ADAPTERS["pneumoniamnist"](path=bad).load()
    (isolated / "z.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="z.npz"):
        MEDMNIST_ADAPTERS["pneumoniamnist"](path=isolated / "z.npz").load()


@pytest.mark.parametrize("flag, labels, match", [
    ("pneumoniamnist", np.array([[0], [1], [2], [0], [1], [0]]),
     r"train_labels row 2 is outside the class range 0..1 of pneumoniamnist \(value 2; 1 row\(s\) outside\)"),
    ("pneumoniamnist", (np.arange(12) % 2).reshape(6, 2),
     r"train_labels has shape \(6, 2\); pneumoniamnist is single-label \(binary\): expected \(N, 1\)"),
    ("pneumoniamnist", np.array([[0.0], [1.0], [0.5], [0.0], [1.0], [0.0]]),
     r"train_labels row 2 holds 0.5, not a class index 0..1 of pneumoniamnist"),
    ("chestmnist", np.eye(6, 14, dtype=np.uint8) * np.array([[1], [1], [1], [3], [1], [1]], dtype=np.uint8),
     r"train_labels row 3, column 3 \('infiltration'\) holds 3; multi-label targets are 0/1"),
    ("chestmnist", np.zeros((6, 1), dtype=np.uint8), r"train_labels has shape \(6, 1\); chestmnist needs \(N, 14\)"),
])
def test_medmnist_labels_outside_the_class_range(isolated, flag, labels, match):
    """Wrong labels are named by file, key, row (and column) with the fix, never silently cast or cut."""
    f = _npz(isolated / "x" / f"{flag}.npz", labels=labels)
    with pytest.raises(DataError, match=match) as err:
        MEDMNIST_ADAPTERS[flag](path=f).load()
    assert str(err.value).startswith(str(f)) and f"verticalkit data fetch {flag}" in str(err.value)


def test_medmnist_never_downloads_unasked(isolated):
    with pytest.raises(DataError, match="verticalkit data fetch pneumoniamnist"):
        MEDMNIST_ADAPTERS["pneumoniamnist"]().load()
    with pytest.raises(Exception, match="sizes"):
        MEDMNIST_ADAPTERS["pneumoniamnist"](size=32).load()


# --------------------------------------------------------------------------- DICOM folder

PATIENTS = [("DOE^JANE", "PID-0001"), ("ROE^RICHARD", "PID-0002"), ("POE^EDGAR", "PID-0003"),
            ("LOE^ANNA", "PID-0004"), ("MOE^MAX", "PID-0005"), ("NOE^NORA", "PID-0006"),
            ("KOE^KARL", "PID-0007"), ("HOE^HANNA", "PID-0008"), ("JOE^JON", "PID-0009"), ("ZOE^ZED", "PID-0010")]


def make_dicom_folder(root: Path, per_patient: int = 3) -> tuple[Path, list[str]]:
    """Copies of MR_small with one synthetic patient per pair (names, IDs, birth dates set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = pydicom.dcmread(get_testdata_file("MR_small.dcm"))
    rng = np.random.default_rng(0)
    rows, secrets = [], []
    root.mkdir(parents=True, exist_ok=True)
    for p, (name, pid) in enumerate(PATIENTS):
        label = "pneumonia" if p % 2 else "normal"
        for k in range(per_patient):
            ds = copy.deepcopy(base)
            ds.PatientName, ds.PatientID, ds.PatientBirthDate = name, pid, f"19{50 + p}0101"
            ds.PatientSex = "F" if p % 2 else "M"
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            arr = ds.pixel_array.astype(np.int16)
            if label == "pneumonia":
                arr[20:40, 20:40] += 300
            arr = np.clip(arr + rng.integers(-20, 20, arr.shape), 0, None).astype(np.int16)
            ds.PixelData = arr.tobytes()
            sub = root / f"site{p % 2}"
            sub.mkdir(exist_ok=True)
            f = sub / f"img_{p:02d}_{k}.dcm"
            ds.save_as(f)
            rows.append({"file": f"site{p % 2}/{f.name}", "SOPInstanceUID": ds.SOPInstanceUID, "label": label})
        secrets += [name, pid, name.replace("^", " "), f"19{50 + p}0101"]
    pd.DataFrame(rows).to_csv(root / "labels.csv", index=False)
    return root, secrets


def test_dicom_folder_grouped_by_hashed_patient(tmp_path):
    root, secrets = make_dicom_folder(tmp_path / "dcm")
    splits = DicomFolder(path=root, image_size=32, seed=0).load()
    assert splits.task.kind == "binary" and splits.task.classes == ["normal", "pneumonia"]
    assert splits.train.X.shape[1:] == (1, 32, 32) and splits.train.X.dtype == np.float32
    sides = [set(splits.split(s).groups) for s in ("train", "val", "test")]
    assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    all_groups = set().union(*sides)
    assert all_groups == {hash_patient_id(pid) for _, pid in PATIENTS}
    text = repr(splits.train.ids) + repr(all_groups) + splits.train.meta.to_csv()
    assert not any(s in text for s in secrets)
    assert set(splits.train.meta.columns) >= {"sex", "age_band", "manufacturer"}
    # keyed by SOPInstanceUID instead of file name: same images
    table = pd.read_csv(root / "labels.csv")[["SOPInstanceUID", "label"]]
    table.to_csv(root / "by_uid.csv", index=False)
    by_uid = DicomFolder(path=root, labels="by_uid.csv", image_size=32, seed=0).load()
    assert sorted(by_uid.train.ids) == sorted(splits.train.ids)


def test_dicom_folder_id_modes(tmp_path, monkeypatch):
    """Ids default to a salted hash of the path (file names may hold patient names); the salt
    comes from $VERTICALKIT_ID_SALT; sop_uid and path are opt-in; id_table maps ids back."""
    from verticalkit.verticals.medical_imaging.ids import id_table

    root, _ = make_dicom_folder(tmp_path / "dcm", per_patient=1)
    (root / "site0" / "img_00_0.dcm").rename(root / "site0" / "DOE^JANE_PID-0001.dcm")
    table = pd.read_csv(root / "labels.csv")
    table.loc[0, "file"] = "site0/DOE^JANE_PID-0001.dcm"
    table.to_csv(root / "labels.csv", index=False)
    ids = np.concatenate([DicomFolder(path=root, image_size=8, seed=0).load().split(s).ids
                          for s in ("train", "val", "test")])
    assert all(i.startswith("f-") for i in ids) and not any("DOE" in i or "PID" in i for i in ids)
    mapping = id_table(root)
    assert set(mapping["id"]) == set(ids) and "site0/DOE^JANE_PID-0001.dcm" in set(mapping["path"])
    monkeypatch.setenv("VERTICALKIT_ID_SALT", "site-secret")
    salted = DicomFolder(path=root, image_size=8, seed=0).load()
    assert not set(salted.train.ids) & set(ids)  # another salt, other ids
    uids = DicomFolder(path=root, image_size=8, seed=0, ids="sop_uid").load()
    assert set(uids.train.ids) <= set(table["SOPInstanceUID"])
    paths = DicomFolder(path=root, image_size=8, seed=0, ids="path").load()
    assert set(paths.train.ids) <= set(table["file"]) and paths.info["ids"] == "path"
    from verticalkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="data.ids='name'"):
        DicomFolder(path=root, ids="name").load()


def test_dicom_folder_bad_input(tmp_path):
    root, secrets = make_dicom_folder(tmp_path / "dcm", per_patient=1)
    table = pd.read_csv(root / "labels.csv")
    pd.concat([table, pd.DataFrame([{"file": "nope.dcm", "label": "normal"}])]).to_csv(root / "l2.csv", index=False)
    with pytest.raises(DataError, match=r"l2.csv: row 12, file 'nope.dcm': no such file"):
        DicomFolder(path=root, labels="l2.csv").load()
    with pytest.raises(DataError, match="label column 'diagnosis' not found"):
        DicomFolder(path=root, label_column="diagnosis").load()
    import shutil

    shutil.copy(get_testdata_file("rtplan.dcm"), root / "plan.dcm")
    pd.concat([table, pd.DataFrame([{"file": "plan.dcm", "label": "normal"}])]).to_csv(root / "l3.csv", index=False)
    with pytest.raises(DataError, match=r"f-[0-9a-f]{16}: no PixelData") as err:  # named by id, not path
        DicomFolder(path=root, labels="l3.csv").load()
    assert not any(s in str(err.value) for s in secrets) and "plan.dcm" not in str(err.value)


def test_empty_folders_and_labels_csv(tmp_path, isolated):
    """An empty folder, class folders without images, an empty or header-only labels CSV: each an error
    naming the folder or file and what to put there."""
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"empty: none of \['labels.csv'\] found in this folder; point"):
        DicomFolder(path=empty).load()
    with pytest.raises(DataError, match=r"empty: found 0 class folder\(s\); expected <root>/<class>/<images>"):
        ImageFolder(path=empty).load()
    for c in ("a", "b"):
        (tmp_path / "no_images" / c).mkdir(parents=True)
    (tmp_path / "no_images" / "a" / "notes.txt").write_text("not an image")
    with pytest.raises(DataError, match=r"no_images: no images \(.png, .jpg"):
        ImageFolder(path=tmp_path / "no_images").load()
    (empty / "labels.csv").write_text("")
    with pytest.raises(DataError, match=r"labels.csv: cannot read the labels CSV \(EmptyDataError\); give a CSV"):
        DicomFolder(path=empty).load()
    with pytest.raises(DataError, match=r"labels.csv: cannot read the labels CSV \(EmptyDataError\)"):
        ImageFolder(path=empty, labels="labels.csv").load()
    (empty / "labels.csv").write_text("file,label\n")
    with pytest.raises(DataError, match=r"labels.csv: the labels CSV has a header but no rows; list one image"):
        DicomFolder(path=empty).load()
    with pytest.raises(DataError, match=r"missing.csv: labels CSV not found; set data.labels"):
        DicomFolder(path=empty, labels=str(tmp_path / "missing.csv")).load()


def _scan(folder: Path, secrets: list[str]) -> list[str]:
    hits = []
    for f in folder.rglob("*"):
        if f.is_file():
            data = f.read_bytes()
            hits += [f"{f.name}: {s}" for s in secrets if s.encode() in data]
    return hits


def _bad_inputs(folder: Path) -> dict[str, tuple[str, list[str]]]:
    """Bad files under ``folder``: ``{path relative to its parent: (expected reason, identifiers inside)}``."""
    from pydicom.uid import UID

    folder.mkdir(parents=True)
    out: dict[str, tuple[str, list[str]]] = {}
    for name, want in (("MR_truncated.dcm", "truncated or corrupt"), ("rtplan.dcm", "no PixelData"),
                       ("reportsi.dcm", "no PixelData")):
        src = Path(get_testdata_file(name))
        (folder / f"x_{name}").write_bytes(src.read_bytes())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(src, stop_before_pixels=True)
        out[f"{folder.name}/x_{name}"] = (want, [str(ds.get(k)) for k in ("PatientName", "PatientID") if ds.get(k)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("MR_small_jp2klossless.dcm"))
    ds.file_meta.TransferSyntaxUID = UID("1.2.840.10008.1.2.4.100")  # MPEG-2: no pixel decoder exists
    ds.save_as(folder / "x_mpeg2.dcm", enforce_file_format=False)
    out[f"{folder.name}/x_mpeg2.dcm"] = ("is not supported", [str(ds.PatientName), str(ds.PatientID)])
    (folder / "x_corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    out[f"{folder.name}/x_corrupt.png"] = ("not a readable image", [])
    return out


def test_no_identifier_in_any_file_the_kit_writes(tmp_path, monkeypatch, caplog):
    """Train on a DICOM folder, batch-predict it (with a corrupt file): no PatientName / PatientID /
    birth date in the run directory (config, metrics, predictions, report, model card, logs) or outputs."""
    import logging

    from verticalkit.core.serve.batch import predict_file
    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.core.train.run import build_config, train

    caplog.set_level(logging.DEBUG)
    root, secrets = make_dicom_folder(tmp_path / "dcm")
    out = tmp_path / "run"
    cfg = build_config("medical_imaging", "dicom-folder", "logreg", str(out),
                       sets=[f"data.path={root}", "data.image_size=16", "eval.n_bootstrap=50", "seed=0"])
    train(cfg)
    assert (out / "metrics.json").is_file() and (out / "model_card.md").is_file()
    (root / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    # real bad files (truncated, RT plan, SR), an unsupported transfer syntax and a corrupt PNG, each
    # with the identifiers of its source file in the secrets
    bad = _bad_inputs(root / "bad")
    secrets += [s for _, names in bad.values() for s in names]
    pred = Predictor.load(out / "model")
    summary = predict_file(pred, root, tmp_path / "scores.csv", progress=False)
    scored = pd.read_csv(tmp_path / "scores.csv")
    assert summary["errors"] == 1 + len(bad) and len(scored) == len(PATIENTS) * 3
    errors = pd.read_csv(summary["errors_file"])
    assert errors["id"].str.fullmatch(r"f-[0-9a-f]{16}").all() and errors["id"].is_unique
    reasons = dict(zip(errors["id"], errors["error"]))
    from verticalkit.verticals.medical_imaging.ids import sample_id

    for rel, (want, _) in {"broken.dcm": ("no PixelData", []), **bad}.items():
        sid = sample_id(root / rel, root, "hash")
        assert reasons[sid].startswith(f"{sid}: ") and want in reasons[sid], (rel, reasons[sid])
    assert not any(Path(rel).stem in errors.to_csv() for rel in ["broken.dcm", *bad])
    assert not scored["id"].str.contains("img_").any()
    assert _scan(out, secrets) == [] and _scan(tmp_path / "scores.csv", secrets) == []
    assert _scan(Path(summary["errors_file"]), secrets) == []
    assert not any(s in caplog.text for s in secrets)


# --------------------------------------------------------------------------- image folder


def _png(path: Path, rgb: bool, value: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.full((20, 24, 3) if rgb else (20, 24), value, dtype=np.uint8)
    Image.fromarray(arr).save(path)


def test_image_folder_layouts_and_errors(tmp_path):
    root = tmp_path / "imgs"
    for i in range(10):
        _png(root / "cat" / f"{i}.png", rgb=False, value=10 * i)
        _png(root / "dog" / f"{i}.jpg", rgb=i % 2 == 0, value=200)
    splits = ImageFolder(path=root, image_size=16).load()
    assert splits.task.classes == ["cat", "dog"] and splits.train.X.shape[1:] == (3, 16, 16)
    assert len(splits.train) + len(splits.val) + len(splits.test) == 20
    grey = ImageFolder(path=root, image_size=16, channels=1).load()
    assert grey.train.X.shape[1] == 1
    official = tmp_path / "official"
    for side, n in (("train", 4), ("val", 2), ("test", 2)):
        for c in ("a", "b"):
            for i in range(n):
                _png(official / side / c / f"{i}.png", rgb=False, value=50)
    s = ImageFolder(path=official, image_size=8).load()
    assert (len(s.train), len(s.val), len(s.test)) == (8, 4, 4) and s.protocol == "folder-split"
    (root / "cat" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    skipped = ImageFolder(path=root).load().info  # a corrupt file is skipped, counted and listed by id
    assert skipped["skipped_files"] == 1 and skipped["skipped"] == [("cat/bad.png", skipped["skipped"][0][1])]
    with pytest.raises(DataError, match=r"bad.png: not a readable image"):
        read_image(root / "cat" / "bad.png")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="class folder"):
        ImageFolder(path=tmp_path / "empty").load()


def test_multilabel_labels_csv_for_dicom_and_image_folders(tmp_path):
    root, _ = make_dicom_folder(tmp_path / "dcm", per_patient=2)
    table = pd.read_csv(root / "labels.csv")
    table["label"] = ["effusion|nodule" if i % 3 == 0 else "nodule" if i % 3 == 1 else "" for i in range(len(table))]
    table.to_csv(root / "ml.csv", index=False)
    s = DicomFolder(path=root, labels="ml.csv", image_size=8, seed=0).load()
    assert s.task.kind == "multilabel" and s.task.classes == ["effusion", "nodule"]
    y = np.concatenate([s.split(k).y for k in ("train", "val", "test")])
    assert y.shape == (len(table), 2) and set(map(tuple, y)) == {(1, 1), (0, 1), (0, 0)}
    sides = [set(s.split(k).groups) for k in ("train", "val", "test")]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    table["label"] = ["a|" for _ in range(len(table))]
    table.to_csv(root / "one.csv", index=False)
    with pytest.raises(DataError, match="name 1 label"):
        DicomFolder(path=root, labels="one.csv").load()
    imgs = tmp_path / "imgs"
    rows = []
    for i in range(12):
        _png(imgs / f"{i}.png", rgb=False, value=20 * i)
        rows.append({"file": f"{i}.png", "label": ["x|y", "x", "y", ""][i % 4]})
    pd.DataFrame(rows).to_csv(imgs / "labels.csv", index=False)
    s = ImageFolder(path=imgs, labels="labels.csv", image_size=8).load()
    assert s.task.kind == "multilabel" and s.task.classes == ["x", "y"] and s.train.y.shape[1] == 2
    pd.DataFrame([{**r, "label": "x" if i % 2 else "y"} for i, r in enumerate(rows)]).to_csv(imgs / "mc.csv",
                                                                                            index=False)
    assert ImageFolder(path=imgs, labels="mc.csv", image_size=8).load().task.kind == "binary"
