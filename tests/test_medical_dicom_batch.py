"""Batched DICOM → tensor (read_stored + to_tensor): the stored integers read as a view, the
composed modality + VOI + inversion map applied in torch, checked against pydicom's own
apply_modality_lut + apply_voi_lut on generated radiographs (rescale, windows, MONOCHROME1, signed
data, a VOI LUT Sequence) and against read_dicom on pydicom's real test files."""

from __future__ import annotations

import warnings

import numpy as np
import pydicom
import pytest
import torch
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut
from pydicom.sequence import Sequence

from verticalkit.core.errors import DataError
from verticalkit.verticals.medical_imaging.dicom import dicom_to_tensor, read_dicom, read_stored, to_tensor

ROWS, COLS = 300, 260  # above DEFER_BYTES of pixel data: the memory-mapped path


def _real(name: str) -> str:
    path = get_testdata_file(name, download=False)
    if path is None:
        pytest.skip(f"{name} not available (install pydicom-data)")
    return str(path)


def radiograph(tmp_path, name: str, *, mono1: bool = False, signed: bool = False, voi_lut: bool = False,
               center: float = 900.0, width: float = 1500.0, seed: int = 0, dirty: bool = False) -> str:
    """A 12-bit uncompressed radiograph (16 bits allocated) with rescale slope 2 / intercept -1024 and
    a header window (or a VOI LUT Sequence); ``dirty``: garbage in the unused high bits of some rows."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    rng = np.random.default_rng(seed)
    lo, hi = (-2048, 2048) if signed else (0, 4096)
    stored = rng.integers(lo, hi, size=(ROWS, COLS)).astype(np.int16 if signed else np.uint16)
    raw = stored.view(np.uint16).copy()
    if dirty:
        raw[::5] = (raw[::5] & 0x0FFF) | 0xB000
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = ROWS, COLS, 16, 12, 11
    ds.PixelRepresentation, ds.RescaleSlope, ds.RescaleIntercept = int(signed), 2, -1024
    ds.PhotometricInterpretation = "MONOCHROME1" if mono1 else "MONOCHROME2"
    if voi_lut:
        for keyword in ("WindowCenter", "WindowWidth"):
            if keyword in ds:
                del ds[keyword]
        item = Dataset()
        item.LUTDescriptor = [4096, 0, 16]
        item.add_new(0x00283006, "US", np.round(65535 * np.linspace(0, 1, 4096) ** 0.5).astype(np.uint16).tolist())
        ds.VOILUTSequence = Sequence([item])
    else:
        ds.WindowCenter, ds.WindowWidth = center, width
    ds.PixelData = raw.tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return str(path)


def pydicom_pipeline(path: str) -> np.ndarray:
    """pydicom's modality LUT then VOI LUT, scaled by the VOI output range, MONOCHROME1 inverted."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path)
        y = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds, prefer_lut=True)
    if "VOILUTSequence" in ds:
        lo, hi = 0.0, 2.0 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1
    else:
        bits, signed = int(ds.BitsStored), int(ds.PixelRepresentation)
        lo, hi = (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1) if signed else (0.0, 2.0 ** bits - 1)
        lo, hi = sorted(v * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for v in (lo, hi))
    y = (y - lo) / (hi - lo)
    return 1.0 - y if ds.PhotometricInterpretation == "MONOCHROME1" else y


@pytest.mark.parametrize("kind", [{}, {"mono1": True}, {"signed": True, "center": -200.0, "width": 800.0},
                                  {"signed": True, "mono1": True}, {"voi_lut": True},
                                  {"voi_lut": True, "mono1": True}, {"center": 3000.0, "width": 41.0}])
def test_batch_equals_pydicoms_modality_and_voi_pipeline(tmp_path, kind):
    path = radiograph(tmp_path, "r.dcm", **kind)
    img = read_stored(path)
    assert img.map is not None and img.map.kind == ("table" if kind.get("voi_lut") else "linear")
    assert isinstance(img.stored, np.memmap) and not img.stored.flags.writeable  # a view on the file
    assert img.stored.dtype == np.int16  # 12 of 16 bits: the same bits as int16
    batch = to_tensor([img])
    assert batch.shape == (1, 1, ROWS, COLS) and batch.dtype == torch.float32
    want = pydicom_pipeline(path)
    np.testing.assert_allclose(batch[0, 0].numpy(), want, atol=2e-6, rtol=0)
    assert 0.05 < float((want > 0.02).mean()) and 0.05 < float((want < 0.98).mean())  # not a saturated image
    np.testing.assert_allclose(batch.numpy(), read_dicom(path).pixels, atol=2e-6, rtol=0)
    assert img.steps == read_dicom(path).steps


def test_monochrome1_is_inverted_after_the_window(tmp_path):
    mono2 = to_tensor([read_stored(radiograph(tmp_path, "a.dcm"))])
    mono1 = to_tensor([read_stored(radiograph(tmp_path, "b.dcm", mono1=True))])
    np.testing.assert_allclose(mono1.numpy(), 1.0 - mono2.numpy(), atol=1e-6)
    assert float((mono2 == 0).float().mean()) > 0.01  # clipped pixels exist: the order matters


def test_batch_of_several_files_normalised_into_a_reused_buffer(tmp_path):
    paths = [radiograph(tmp_path, f"{i}.dcm", mono1=i == 1, voi_lut=i == 2, seed=i) for i in range(3)]
    images = [read_stored(p) for p in paths]
    plain = to_tensor(images)
    assert plain.shape == (3, 1, ROWS, COLS)
    for i, p in enumerate(paths):
        np.testing.assert_allclose(plain[i, 0].numpy(), pydicom_pipeline(p), atol=2e-6, rtol=0)
    buffer = torch.full((3, 1, ROWS, COLS), 7.0)
    normed = to_tensor(images, mean=0.45, std=0.25, out=buffer)
    assert normed is buffer
    np.testing.assert_allclose(normed.numpy(), (plain.numpy() - 0.45) / 0.25, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="out is"):
        to_tensor(images, out=torch.empty(2, 1, ROWS, COLS))


def test_unused_high_bits_are_masked_as_pydicom_does(tmp_path):
    clean = to_tensor([read_stored(radiograph(tmp_path, "c.dcm"))])
    dirty_path = radiograph(tmp_path, "d.dcm", dirty=True)
    img = read_stored(dirty_path)
    assert not isinstance(img.stored, np.memmap)  # pydicom's decoder corrected the bits
    np.testing.assert_allclose(to_tensor([img]).numpy(), clean.numpy(), atol=0)
    np.testing.assert_allclose(clean[0, 0].numpy(), pydicom_pipeline(dirty_path), atol=2e-6, rtol=0)


@pytest.mark.parametrize("name,mode", [("RG3_UNCI.dcm", "auto"), ("MR2_UNCR.dcm", "range"), ("693_UNCR.dcm", "stroke"),
                                       ("vlut_04.dcm", "auto"), ("mlut_18.dcm", "range"), ("emri_small.dcm", "auto"),
                                       ("MR_small_bigendian.dcm", "auto"), ("US1_UNCR.dcm", "auto")])
def test_real_files_equal_read_dicom(name, mode):
    """Real files: MONOCHROME1 CR, rescaled CT with a narrow window, VOI / modality LUT sequences,
    a multi-frame MR without a window (percentile clipping: finished on the CPU), big endian, RGB."""
    want = read_dicom(_real(name), voi_mode=mode)
    img = read_stored(_real(name), voi_mode=mode)
    got = to_tensor([img])
    assert tuple(got.shape) == want.pixels.shape
    np.testing.assert_allclose(got.numpy(), want.pixels, atol=2e-6, rtol=0)
    assert img.steps == want.steps


def test_dicom_to_tensor_frames_and_sizes(tmp_path):
    path = _real("emri_small.dcm")
    every = dicom_to_tensor(path, frame=None)
    assert every.shape == (10, 1, 64, 64)
    torch.testing.assert_close(dicom_to_tensor(path, frame="middle"), every[5])
    torch.testing.assert_close(dicom_to_tensor(path, frame=-1), every[9])
    with pytest.raises(DataError, match="frame 10 requested but the file has 10 frame"):
        dicom_to_tensor(path, frame=10)
    ct = radiograph(tmp_path, "w.dcm")
    torch.testing.assert_close(dicom_to_tensor(ct), to_tensor([read_stored(ct)])[0])
    with pytest.raises(DataError, match="one size"):
        to_tensor([read_stored(ct), read_stored(path)])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU")
def test_maps_applied_on_the_gpu_equal_the_cpu(tmp_path):
    paths = [radiograph(tmp_path, f"g{i}.dcm", mono1=i == 1, voi_lut=i == 2, seed=i) for i in range(3)]
    images = [read_stored(p) for p in paths]
    gpu = to_tensor(images, "cuda")
    assert gpu.device.type == "cuda"
    np.testing.assert_allclose(gpu.cpu().numpy(), to_tensor(images).numpy(), atol=1e-6, rtol=0)
