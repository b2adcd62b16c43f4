"""Dataset cards of the medical imaging vertical: one per adapter, MedMNIST cards equal to the flag
table, the pydicom test-file card equal to the installed files, all listed by `verticalkit data list`."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import yaml

from verticalkit.core.data import catalogue
from verticalkit.core.tools.cli import main
from verticalkit.verticals.medical_imaging import VERTICAL
from verticalkit.verticals.medical_imaging.medmnist import FLAGS, SIZES

ROOT = Path(__file__).resolve().parents[1]


def _card(name: str) -> dict:
    return yaml.safe_load((ROOT / "datasets" / name).read_text())


def test_every_adapter_has_its_card():
    assert set(VERTICAL.datasets) == {*FLAGS, "dicom-folder", "image-folder"}
    for dataset_id, adapter in VERTICAL.datasets.items():
        assert adapter.card == f"{dataset_id}.yaml", dataset_id
        card = _card(adapter.card)
        assert card["id"] == dataset_id and card["vertical"] == "medical_imaging"
        assert card["title"] and card["licence"] and card["source"] and card["splits"]


@pytest.mark.parametrize("flag", sorted(FLAGS))
def test_medmnist_card_matches_the_flag_table(flag):
    f, card = FLAGS[flag], _card(f"{flag}.yaml")
    files = card["files"] + card["other_sizes"]
    assert [x["name"] for x in files] == [f.file_name(s) for s in SIZES]
    assert [x["url"] for x in files] == [f.url(s) for s in SIZES]
    assert [x["md5"] for x in files] == list(f.md5)
    m = card["medmnist"]
    assert (m["task"], m["channels"], tuple(m["labels"])) == (f.task, f.channels, f.labels)
    assert (m["n_samples"]["train"], m["n_samples"]["val"], m["n_samples"]["test"]) == f.n_samples
    assert card["licence"].startswith(f.licence + " ")
    rows = card["schema"]["rows"]
    assert [int(re.search(rf"{k} (\d+)", rows).group(1)) for k in ("train", "val", "test")] == list(f.n_samples)


def _dcm_names_in(paths: list[Path]) -> set[str]:
    return {n for p in paths for n in re.findall(r"[\"']([A-Za-z0-9_.\-+]+\.dcm)[\"']", p.read_text())}


def test_pydicom_card_lists_every_real_file_the_tests_and_benchmark_use():
    import pydicom
    from pydicom.data import get_testdata_file

    card = _card("pydicom-test-files.yaml")
    listed = {f["name"]: f for f in card["files"]}
    used = _dcm_names_in([*ROOT.glob("tests/test_medical*.py"), ROOT / "benchmarks" / "dicom_throughput.py",
                          *ROOT.glob("examples/*.py")])
    real = {n for n in used if get_testdata_file(n, download=False)}
    assert real and real <= set(listed), sorted(real - set(listed))
    assert {"MR_truncated.dcm", "rtplan.dcm", "reportsi.dcm", "RG3_UNCI.dcm"} <= real
    checked = 0
    for line, ok in catalogue.verify(catalogue.get_card("pydicom-test-files")):
        assert ok, line
        checked += "sha256 OK" in line
    for name, spec in listed.items():
        path = get_testdata_file(name, download=False)
        if path is None:  # a pydicom-data file and pydicom-data is not installed
            assert spec["package"] == "pydicom-data", name
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        ts = ds.file_meta.TransferSyntaxUID
        assert spec["modality"] == ds.Modality and spec["transfer_syntax"] == f"{ts.name} ({ts})", name
        assert spec["photometric"] == str(ds.get("PhotometricInterpretation") or "none"), name
        assert spec["package"] == ("pydicom-data" if "data_store" in Path(path).parts else "pydicom"), name
    assert checked == sum(get_testdata_file(n, download=False) is not None for n in listed)


def test_data_list_shows_the_medical_cards(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert main(["data", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for dataset_id in (*FLAGS, "dicom-folder", "image-folder", "pydicom-test-files"):
        assert rows[dataset_id].split()[1] == "medical_imaging", dataset_id
    for flag in FLAGS:
        assert "not found (see its card" in rows[flag]
    assert "your own files: layout in its card" in rows["dicom-folder"]
    assert "your own files: layout in its card" in rows["image-folder"]
    assert rows["pydicom-test-files"].rstrip().endswith("pydicom/data/test_files")
    with pytest.raises(Exception, match="cannot be downloaded automatically"):
        catalogue.fetch_card(catalogue.get_card("dicom-folder"))
