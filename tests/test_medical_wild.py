"""Messy image folders (tests/wild_images.py): mixed sizes and modes, EXIF rotation, 16-bit PNG,
broken and non-image files, empty class folders, train/test without val, unicode names. The
medical vertical trains end to end on each, or stops with one clear ``error:`` line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from wild_images import graded_folder, save_image, wild_folder

from verticalkit.core.tools.cli import main
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.verticals.medical_imaging.data import ImageFolder
from verticalkit.verticals.medical_imaging.images import decode_image

TINY = ["--set", "train.epochs=1", "--set", "train.batch_size=16", "--set", "model_params.width=4",
        "--set", "data.image_size=16", "--set", "eval.n_bootstrap=20"]


def _train(tmp_path: Path, folder: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "run"
    args = ["train", "medical_imaging", "--dataset", "image-folder", "--model", "cnn", "--out", str(out),
            "--set", f"data.path={folder}", *TINY, "--set", "eval.report=false", *extra]
    return main(args), out


def test_exif_rotation_and_16_bit_png_decode_as_displayed(tmp_path):
    rng = np.random.default_rng(0)
    img = np.clip(rng.random((20, 30)), 0, 1)  # landscape, asymmetric
    save_image(tmp_path / "rot", img, "exif")
    shown = decode_image(tmp_path / "rot.jpg")
    assert shown.shape == (3, 20, 30)  # stored 30 x 20, shown as written
    assert np.abs(shown[0] - img).mean() < 0.03  # and the right way round (not mirrored / rotated back)
    save_image(tmp_path / "deep", np.full((8, 8), 0.5), "I;16")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    assert decode_image(tmp_path / "deep.png") == pytest.approx(np.full((1, 8, 8), 0.5), abs=1e-4)
    save_image(tmp_path / "alpha", np.full((8, 8), 0.4), "RGBA")
    assert decode_image(tmp_path / "alpha.png").shape == (3, 8, 8)  # alpha dropped


def test_wild_folder_skips_broken_files_with_reasons_by_id(tmp_path):
    wild_folder(tmp_path / "w")
    s = ImageFolder(path=tmp_path / "w", image_size=16).load()
    assert s.task.classes == ["normal", "disease"] and s.info["positive_class"] == "disease"  # empty_class dropped
    assert s.train.X.shape[1:] == (3, 16, 16)  # some images are colour: all RGB
    assert len(s.train) + len(s.val) + len(s.test) == 24
    assert s.info["skipped_files"] == 2
    reasons = dict(s.info["skipped"])
    assert reasons["normal/notes.txt"].startswith("not an image file (.txt)")
    assert reasons["normal/truncated.png"].startswith("unreadable image")
    hashed = ImageFolder(path=tmp_path / "w", image_size=16, ids="hash").load().info["skipped"]
    assert all(i.startswith("f-") and "normal" not in i for i, _ in hashed)  # names may identify patients


def test_train_test_without_val_carves_a_stratified_seeded_val(tmp_path):
    """Before: no val scores, no early stopping, thresholds 'chosen on test (optimistic)'."""
    wild_folder(tmp_path / "tt", layout="train_test", n_per_class=20)
    a = ImageFolder(path=tmp_path / "tt", image_size=8, val_size=0.2, seed=3).load()
    b = ImageFolder(path=tmp_path / "tt", image_size=8, val_size=0.2, seed=3).load()
    c = ImageFolder(path=tmp_path / "tt", image_size=8, val_size=0.2, seed=4).load()
    assert len(a.val) == 8 and len(a.train) == 32 and len(a.test) == 20  # 40 readable train images
    assert np.bincount(a.val.y).tolist() == [4, 4]  # stratified
    assert not set(a.val.ids) & set(a.train.ids) and all(i.startswith("train/") for i in a.val.ids)
    assert list(a.val.ids) == list(b.val.ids) and list(a.val.ids) != list(c.val.ids)  # seeded
    assert a.protocol == "folder-split-val20pct-of-train-seed3"
    (tmp_path / "tt" / "test").rename(tmp_path / "tt" / "val")  # train/ and val/ only: test carved from train/
    d = ImageFolder(path=tmp_path / "tt", image_size=8).load()
    assert (len(d.train), len(d.val), len(d.test)) == (32, 20, 8) and d.protocol == \
        "folder-split-test20pct-of-train-seed42"
    (tmp_path / "tt" / "val").rename(tmp_path / "val_elsewhere")  # train/ alone: both carved
    e = ImageFolder(path=tmp_path / "tt", image_size=8).load()
    assert (len(e.train), len(e.val), len(e.test)) == (29, 3, 8) and e.task.classes == ["normal", "disease"]


@pytest.mark.parametrize("layout,classes,positive", [("flat", ("normal", "disease"), None),
                                                     ("train_test", ("normál", "pneumonía"), None),
                                                     ("train_test", ("肺炎なし", "肺炎"), "肺炎")],
                         ids=["flat", "train_test_accents", "train_test_cjk"])
def test_trains_end_to_end_on_wild_folders(tmp_path, layout, classes, positive):
    folder = wild_folder(tmp_path / "データ", layout=layout, classes=classes)
    code, out = _train(tmp_path, folder, *(["--set", f"data.positive_class={positive}"] if positive else []))
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert np.isfinite(metrics["metrics"]["roc_auc"]["value"])
    assert metrics["thresholds"]["chosen_on"] == "validation"
    preds = pd.read_parquet(out / "predictions.parquet")
    assert set(preds["target"]) <= {0, 1} and len(preds) > 0
    info = json.loads((out / "model" / "predictor.json").read_text(encoding="utf-8"))["info"]
    assert info["skipped_files"] == 2 and info["positive_class"] == classes[1]


def test_skipped_files_listed_in_the_run_folder(tmp_path):
    from verticalkit.verticals.medical_imaging.report import skipped_section

    s = ImageFolder(path=wild_folder(tmp_path / "w"), image_size=8).load()
    (title, body), = skipped_section(s, tmp_path)
    skipped = pd.read_csv(tmp_path / "skipped_files.csv")
    assert sorted(skipped["id"]) == ["normal/notes.txt", "normal/truncated.png"]
    assert title == "Skipped files" and "2 file(s)" in body and "not an image file (.txt)" in body


def test_unusable_folders_stop_with_one_error_line(tmp_path, capsys):
    one = tmp_path / "one"
    wild_folder(one)
    for f in (one / "disease").iterdir():  # the second class holds only broken files now
        f.unlink()
    (one / "disease" / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    code, out = _train(tmp_path, one)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and not out.exists()
    assert len(err) == 1 and err[0].startswith("error: ") and "only class 'normal' has readable images" in err[0]
    code, _ = _train(tmp_path, one.parent / "missing")
    assert code == 2 and "no such folder" in capsys.readouterr().err


def test_positive_class_of_image_folders(tmp_path):
    wild_folder(tmp_path / "w", classes=("abnormal", "healthy"))
    s = ImageFolder(path=tmp_path / "w", image_size=8).load()
    assert s.task.classes == ["healthy", "abnormal"]  # the not-normal-looking name is the positive class
    names = dict(zip(s.train.ids, s.train.y))
    assert all(v == (1 if i.startswith("abnormal/") else 0) for i, v in names.items())
    s = ImageFolder(path=tmp_path / "w", image_size=8, positive_class="healthy").load()
    assert s.task.classes == ["abnormal", "healthy"] and s.info["positive_class"] == "healthy"
    assert ImageFolder(path=tmp_path / "w", image_size=8, positive_class=0).load().task.classes[1] == "abnormal"
    with pytest.raises(ConfigError, match=r"data.positive_class='tumour' is not a class.*'abnormal', 'healthy'"):
        ImageFolder(path=tmp_path / "w", image_size=8, positive_class="tumour").load()
    graded_folder(tmp_path / "g", grades=3, n_per_grade=4, size=8)
    with pytest.raises(ConfigError, match="applies to two-class tasks; this one has 3 classes"):
        ImageFolder(path=tmp_path / "g", image_size=8, positive_class="grade_2").load()


def test_data_task_values_are_checked(tmp_path):
    graded_folder(tmp_path / "g", grades=3, n_per_grade=4, size=8)
    with pytest.raises(ConfigError, match="data.task='grades': choose auto"):
        ImageFolder(path=tmp_path / "g", task="grades").load()
    with pytest.raises(DataError, match=r"class folder\(s\) \['grade_2'\] are not in data.grades"):
        ImageFolder(path=tmp_path / "g", task="ordinal", grades=["grade_0", "grade_1"]).load()


# --------------------------------------------------------------------------- DICOM folders

COMPRESSED = ["JPEG2000.dcm", "JPEG-LL.dcm", "SC_rgb_jpeg_dcmtk.dcm", "MR_small_RLE.dcm", "SC_rgb_rle.dcm",
              "emri_small_jpeg_2k_lossless.dcm", "MR_small_jp2klossless.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
              "liver.dcm"]  # J2K, JPEG lossless / baseline, RLE; multi-frame; 1 / 8 / 12 / 16 bits; grey and RGB


def test_dicom_folder_of_compressed_multiframe_mixed_depths_trains(tmp_path):
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.uid import generate_uid

    folder = tmp_path / "dicom"
    folder.mkdir()
    rows = []
    for i, name in enumerate(COMPRESSED):
        src = get_testdata_file(name, download=False)  # pydicom-data / pydicom's own files: never fetched
        if src is None:
            pytest.skip(f"pydicom test file {name} not installed")
        for copy in range(2):
            ds = pydicom.dcmread(src)
            ds.PatientID, ds.SOPInstanceUID = f"P{i}{copy}", generate_uid()
            ds.save_as(folder / f"{i}_{copy}.dcm")  # pixel data kept as compressed
            rows.append({"file": f"{i}_{copy}.dcm", "label": ["no finding", "finding"][(i + copy) % 2]})
    pd.DataFrame(rows).to_csv(folder / "labels.csv", index=False)
    out = tmp_path / "run"
    assert main(["train", "medical_imaging", "--dataset", "dicom-folder", "--model", "cnn", "--out", str(out),
                 "--set", f"data.path={folder}", "--set", "data.image_size=16", "--set", "train.epochs=1",
                 "--set", "model_params.width=4", "--set", "eval.n_bootstrap=20", "--set", "eval.report=false"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    info = json.loads((out / "model" / "predictor.json").read_text())["info"]
    assert metrics["n"] > 0 and info["positive_class"] == "finding"  # 'no finding' read as the negative class
