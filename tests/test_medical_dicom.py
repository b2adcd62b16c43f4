"""DICOM → [0, 1] pipeline of the medical imaging vertical, checked against values computed
here by hand from the stored pixels (pydicom's bundled real files and pydicom-data)."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pydicom
import pytest
from pydicom.data import get_testdata_file

from verticalkit.core.errors import DataError
from verticalkit.verticals.medical_imaging.dicom import (PRESETS, dicom_to_tensor, hash_patient_id, read_dicom)


def _file(name: str) -> str:
    path = get_testdata_file(name, download=False)  # pydicom-data files: never fetched in tests
    if path is None:
        pytest.skip(f"{name} not available (install pydicom-data)")
    return str(path)


def _ds(name: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(_file(name))


def _stored(name: str) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.pixels.pixel_array(_file(name), as_rgb=False).astype(np.float64)


def linear_window(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2.1 LINEAR window, output range [0, 1]."""
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def test_ct_rescale_then_explicit_window_matches_hand_formula():
    raw = _stored("CT_small.dcm")
    ds = _ds("CT_small.dcm")
    assert float(ds.RescaleSlope) == 1 and float(ds.RescaleIntercept) == -1024
    img = read_dicom(_file("CT_small.dcm"), voi_mode="window", window=(40, 400))
    assert img.pixels.shape == (1, 1, 128, 128) and img.pixels.dtype == np.float32
    hu = raw * 1.0 - 1024.0
    np.testing.assert_allclose(img.pixels[0, 0], linear_window(hu, 40, 400), atol=1e-5)
    # a few pixels by hand
    for r, c in [(0, 0), (64, 64), (100, 30)]:
        v = raw[r, c] - 1024
        want = 0.0 if v <= 39.5 - 199.5 else 1.0 if v > 39.5 + 199.5 else (v - 39.5) / 399 + 0.5
        assert img.pixels[0, 0, r, c] == pytest.approx(want, abs=1e-5)
    assert img.steps[1].startswith("modality: rescale slope=1 intercept=-1024")
    assert "window center=40 width=400" in img.steps[2]


def test_preset_is_a_window_in_hounsfield_units():
    hu = _stored("CT_small.dcm") - 1024
    c, w = PRESETS["lung"]
    img = read_dicom(_file("CT_small.dcm"), voi_mode="lung")
    np.testing.assert_allclose(img.pixels[0, 0], linear_window(hu, c, w), atol=1e-5)


def test_signed_ct_full_range_uses_the_rescaled_stored_range():
    ds = _ds("CT_small.dcm")
    assert ds.PixelRepresentation == 1 and ds.BitsStored == 16
    hu = _stored("CT_small.dcm") - 1024
    lo, hi = -32768 - 1024, 32767 - 1024
    img = read_dicom(_file("CT_small.dcm"), voi_mode="range")
    np.testing.assert_allclose(img.pixels[0, 0], (hu - lo) / (hi - lo), atol=1e-6)


def test_percentile_clipping():
    hu = _stored("CT_small.dcm") - 1024
    lo, hi = np.percentile(hu, [1, 99])
    img = read_dicom(_file("CT_small.dcm"), voi_mode="percentile", percentiles=(1, 99))
    np.testing.assert_allclose(img.pixels[0, 0], np.clip((hu - lo) / (hi - lo), 0, 1), atol=1e-6)
    assert read_dicom(_file("CT_small.dcm")).steps[2].startswith("voi: percentile")  # auto: no header window


def test_mr_header_window():
    ds = _ds("MR_small.dcm")
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    img = read_dicom(_file("MR_small.dcm"))
    np.testing.assert_allclose(img.pixels[0, 0], linear_window(_stored("MR_small.dcm"), c, w), atol=1e-5)
    assert f"header window center={c:g} width={w:g} (LINEAR)" in img.steps[2]


@pytest.mark.parametrize("variant", ["MR_small_RLE.dcm", "MR_small_bigendian.dcm", "MR_small_implicit.dcm",
                                     "MR_small_jpeg_ls_lossless.dcm", "MR_small_jp2klossless.dcm"])
def test_lossless_variants_decode_to_the_same_pixels(variant):
    np.testing.assert_array_equal(read_dicom(_file(variant)).pixels, read_dicom(_file("MR_small.dcm")).pixels)


def test_modality_lut_sequence():
    ds = _ds("mlut_18.dcm")
    item = ds.ModalityLUTSequence[0]
    n, first, _ = item.LUTDescriptor
    lut = np.asarray(item.LUTData, dtype=np.float64)
    raw = _stored("mlut_18.dcm")
    mapped = lut[np.clip(raw - first, 0, n - 1).astype(int)]
    img = read_dicom(_file("mlut_18.dcm"), voi_mode="range")
    np.testing.assert_allclose(img.pixels[0, 0], (mapped - lut.min()) / (lut.max() - lut.min()), atol=1e-6)
    assert "Modality LUT Sequence" in img.steps[1]


def test_voi_lut_sequence_scaled_by_the_lut_depth():
    ds = _ds("vlut_04.dcm")
    item = ds.VOILUTSequence[0]
    n, first, bits = item.LUTDescriptor
    lut = np.asarray(item.LUTData, dtype=np.float64)
    raw = _stored("vlut_04.dcm")
    want = lut[np.clip(raw - first, 0, n - 1).astype(int)] / (2 ** bits - 1)
    img = read_dicom(_file("vlut_04.dcm"))
    np.testing.assert_allclose(img.pixels[0, 0], want, atol=1e-6)
    assert "VOI LUT Sequence" in img.steps[2]


def _rewrite(tmp_path, name: str, **tags) -> str:
    ds = _ds(name)
    for k, v in tags.items():
        setattr(ds, k, v)
    out = tmp_path / f"{name}.{'-'.join(tags)}.dcm"
    ds.save_as(out)
    return str(out)


def test_monochrome1_is_inverted_after_the_voi(tmp_path):
    """Real CR (pydicom-data): window on the stored values, then 1 - y; not the other order."""
    ds = _ds("RG3_UNCI.dcm")
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    c, w = float(ds.WindowCenter), float(ds.WindowWidth)
    raw = _stored("RG3_UNCI.dcm")
    img = read_dicom(_file("RG3_UNCI.dcm"))
    right = 1.0 - linear_window(raw, c, w)
    np.testing.assert_allclose(img.pixels[0, 0], right, atol=1e-5)
    wrong = linear_window((2 ** ds.BitsStored - 1) - raw, c, w)  # inverted before the window
    assert np.abs(wrong - right).mean() > 0.05
    assert "invert: MONOCHROME1, after VOI" in img.steps


def test_monochrome1_and_presentation_lut_inverse_fixtures(tmp_path):
    base = read_dicom(_file("MR_small.dcm")).pixels
    mono1 = read_dicom(_rewrite(tmp_path, "MR_small.dcm", PhotometricInterpretation="MONOCHROME1")).pixels
    np.testing.assert_allclose(mono1, 1.0 - base, atol=1e-6)
    inverse = read_dicom(_rewrite(tmp_path, "MR_small.dcm", PresentationLUTShape="INVERSE")).pixels
    np.testing.assert_allclose(inverse, 1.0 - base, atol=1e-6)
    both = read_dicom(_rewrite(tmp_path, "MR_small.dcm", PhotometricInterpretation="MONOCHROME1",
                               PresentationLUTShape="INVERSE")).pixels
    np.testing.assert_allclose(both, 1.0 - base, atol=1e-6)  # one inversion, not two


def test_lossless_jpeg2000_radiograph_matches_uncompressed():
    a = read_dicom(_file("RG1_UNCR.dcm")).pixels
    b = read_dicom(_file("RG1_J2KR.dcm")).pixels
    np.testing.assert_array_equal(a, b)


def test_multiframe_enhanced_ct_uses_functional_groups():
    ds = _ds("eCT_Supplemental.dcm")
    raw = _stored("eCT_Supplemental.dcm")
    assert "RescaleSlope" not in ds and raw.shape[0] == 2
    img = read_dicom(_file("eCT_Supplemental.dcm"))
    assert img.pixels.shape == (2, 1, 512, 512)
    for f in range(2):
        pvt = (ds.PerFrameFunctionalGroupsSequence[f].get("PixelValueTransformationSequence")
               or ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence)[0]
        voi = (ds.PerFrameFunctionalGroupsSequence[f].get("FrameVOILUTSequence")
               or ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence)[0]
        hu = raw[f] * float(pvt.RescaleSlope) + float(pvt.RescaleIntercept)
        want = linear_window(hu, float(voi.WindowCenter), float(voi.WindowWidth))
        np.testing.assert_allclose(img.pixels[f, 0], want, atol=1e-5)


def test_multiframe_mr_frames_and_tensor():
    img = read_dicom(_file("emri_small.dcm"), frames=[0, -1])
    assert img.pixels.shape == (2, 1, 64, 64)
    t = dicom_to_tensor(_file("emri_small.dcm"), frame="middle")
    assert tuple(t.shape) == (1, 64, 64) and str(t.dtype) == "torch.float32"
    assert 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    with pytest.raises(DataError, match="frame"):
        read_dicom(_file("emri_small.dcm"), frames=[10])


def test_rgb_and_ybr():
    raw = _stored("US1_UNCR.dcm")
    img = read_dicom(_file("US1_UNCR.dcm"))
    assert img.pixels.shape == (1, 3, 480, 640)
    np.testing.assert_allclose(img.pixels[0], np.moveaxis(raw, -1, 0) / 255.0, atol=1e-6)
    # YBR_FULL stored pixels, converted to RGB with pydicom's convert_color_space
    from pydicom.pixels import convert_color_space

    ybr = pydicom.pixels.pixel_array(_file("SC_ybr_full_uncompressed.dcm"), as_rgb=False)
    want = convert_color_space(ybr, "YBR_FULL", "RGB").astype(np.float64) / 255.0
    got = read_dicom(_file("SC_ybr_full_uncompressed.dcm"))
    np.testing.assert_allclose(got.pixels[0], np.moveaxis(want, -1, 0), atol=1.01 / 255)
    assert got.meta["decoded_as"] == "RGB"
    # the same colour image stored as YBR_FULL_422 JPEG, as RGB and as RGB RLE decode alike
    rgb = read_dicom(_file("SC_rgb.dcm")).pixels
    np.testing.assert_array_equal(read_dicom(_file("SC_rgb_rle.dcm")).pixels, rgb)
    assert read_dicom(_file("SC_rgb_16bit.dcm")).pixels.max() <= 1.0


def test_palette_colour_and_multiframe_ybr_jpeg():
    assert read_dicom(_file("OBXXXX1A.dcm")).pixels.shape == (1, 3, 600, 800)
    img = read_dicom(_file("examples_ybr_color.dcm"), frames=[0])
    assert img.pixels.shape == (1, 3, 240, 320)


@pytest.mark.parametrize("name, match", [("MR_truncated.dcm", "truncated or corrupt"),
                                         ("rtplan.dcm", "no PixelData"),
                                         ("reportsi.dcm", "no PixelData"),
                                         ("badVR.dcm", "NumberOfFrames")])
def test_bad_files_give_clear_errors_without_identifiers(name, match):
    ds = _ds(name)
    secrets = [str(ds.get(k)) for k in ("PatientName", "PatientID") if ds.get(k)]
    with pytest.raises(DataError, match=match) as err:
        read_dicom(_file(name))
    message = str(err.value)
    assert name in message
    for s in secrets:
        assert s not in message
    cause = err.value.__cause__
    assert cause is None or all(s not in str(cause) for s in secrets)


def test_not_a_dicom_file(tmp_path):
    f = tmp_path / "x.dcm"
    f.write_bytes(b"hello")
    with pytest.raises(DataError, match="x.dcm"):
        read_dicom(f)
    with pytest.raises(DataError, match="no such"):
        read_dicom(tmp_path / "missing.dcm")
    with pytest.raises(DataError, match="unknown voi"):
        read_dicom(_file("CT_small.dcm"), voi_mode="nope")


def test_missing_decoder_plugin_names_the_package(monkeypatch):
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000Lossless

    name = "MR_small_jp2klossless.dcm"
    ds = _ds(name)
    decoder = get_decoder(JPEG2000Lossless)
    monkeypatch.setattr(decoder, "_available", {})
    with pytest.raises(DataError) as err:
        read_dicom(_file(name))
    message = str(err.value)
    assert 'pip install "verticalkit[dicom]"' in message and "pylibjpeg" in message and name in message
    assert str(ds.PatientName) not in message and str(ds.PatientID) not in message


def with_transfer_syntax(tmp_path, uid: str, name: str = "MR_small_jp2klossless.dcm") -> str:
    """A copy of a real encapsulated file whose file meta names another transfer syntax."""
    from pydicom.uid import UID

    ds = _ds(name)
    ds.file_meta.TransferSyntaxUID = UID(uid)
    out = tmp_path / f"ts-{uid}.dcm"
    ds.save_as(out, enforce_file_format=False)
    return str(out)


@pytest.mark.parametrize("uid, shown", [("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level"),
                                        ("1.2.826.0.1.3680043.99.1", "1.2.826.0.1.3680043.99.1")])
def test_unsupported_transfer_syntax_names_it_and_the_fix(tmp_path, uid, shown):
    """A syntax pydicom has no decoder for (video, private): named, with the fix (re-export), not a
    plugin install that could not help."""
    ds = _ds("MR_small_jp2klossless.dcm")
    f = with_transfer_syntax(tmp_path, uid)
    with pytest.raises(DataError) as err:
        read_dicom(f)
    message = str(err.value)
    assert message.startswith(f"{f}: transfer syntax {shown}") and "is not supported" in message
    assert "re-export the image uncompressed" in message and "pip install" not in message
    assert str(ds.PatientName) not in message and str(ds.PatientID) not in message


def test_compressed_data_no_installed_plugin_reads(tmp_path):
    """JPEG-lossy.dcm (12-bit lossy JPEG with unusual SOS parameters): the installed plugins exist but
    fail; the error says so and how to get the image read, instead of asking to install them."""
    name = "JPEG-lossy.dcm"
    try:
        read_dicom(_file(name))
    except DataError as e:
        message = str(e)
    else:
        pytest.skip(f"an installed plugin decodes {name} here")
    assert name in message and "JPEG Extended" in message and "failed in every installed plugin" in message
    assert "re-export the image uncompressed" in message and "python-gdcm" in message


def test_patient_identifiers_never_logged_or_kept(caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    names = ["CT_small.dcm", "MR_small.dcm", "RG3_UNCI.dcm", "US1_UNCR.dcm", "badVR.dcm", "MR_truncated.dcm",
             "rtplan.dcm", "reportsi.dcm", "JPEG-lossy.dcm"]
    secrets = []
    for name in names:
        ds = _ds(name)
        secrets += [str(ds.get(k)) for k in ("PatientName", "PatientID", "PatientBirthDate") if ds.get(k)]
        try:
            img = read_dicom(_file(name))
        except DataError as e:
            caplog.records.append(logging.makeLogRecord({"msg": str(e)}))
            continue
        assert all(s not in repr(img.meta) and s not in " ".join(img.steps) for s in secrets)
        assert img.meta["patient"] == hash_patient_id(ds.PatientID)
    # a file named after its patient, as exports often are: the log line must not repeat the name
    named = tmp_path / "CompressedSamples^CT1_1CT1.dcm"
    named.write_bytes(open(_file("CT_small.dcm"), "rb").read())
    read_dicom(named)
    assert "sop-" in caplog.text
    with pytest.raises(DataError) as err:  # the unsupported-syntax path, on MR_small's identifiers
        read_dicom(with_transfer_syntax(tmp_path, "1.2.840.10008.1.2.4.100"))
    caplog.records.append(logging.makeLogRecord({"msg": str(err.value)}))
    assert secrets and "steps" not in caplog.text
    text = caplog.text + " ".join(r.getMessage() for r in caplog.records)
    for s in secrets:
        assert s not in text, s


def test_invalid_window_is_a_data_error(tmp_path):
    bad = _rewrite(tmp_path, "MR_small.dcm", WindowWidth=0)
    with pytest.raises(DataError, match="WindowWidth"):
        read_dicom(bad)
    with pytest.raises(DataError, match="width >= 1"):
        read_dicom(_file("CT_small.dcm"), voi_mode="window", window=(40, 0))


@pytest.mark.parametrize("name,mode", [("RG3_UNCR.dcm", "auto"), ("RG1_UNCR.dcm", "auto"), ("MR2_UNCR.dcm", "range"),
                                       ("693_UNCR.dcm", "abdomen"), ("693_UNCR.dcm", "stroke"),
                                       ("CT_small.dcm", "brain")])
def test_linear_and_lookup_paths_equal_per_pixel_path(name, mode, monkeypatch):
    """Large integer images go through rescale + linear window composed into one A x + B (or, for
    other VOI functions, a stored-value look-up table): the same pixels (to a float32 ulp at 1.0)
    and steps as transforming each pixel in float64. RG1/RG3 are MONOCHROME1 (inversion folded in);
    'stroke' is a 40-wide window far from 0 on rescaled CT, where float32 loses precision if the
    map is applied naively."""
    from verticalkit.verticals.medical_imaging import dicom

    linear = read_dicom(_file(name), voi_mode=mode)
    monkeypatch.setattr(dicom, "LINEAR_MIN", 1 << 40)  # the look-up table path
    lookup = read_dicom(_file(name), voi_mode=mode)
    monkeypatch.setattr(dicom, "LUT_MAX", 0)  # and the per-pixel path
    slow = read_dicom(_file(name), voi_mode=mode)
    for fast in (linear, lookup):
        np.testing.assert_allclose(fast.pixels, slow.pixels, atol=1e-7, rtol=0)
        assert fast.steps == slow.steps and 0.0 <= fast.pixels.min() and fast.pixels.max() <= 1.0
    assert 0.05 < float((slow.pixels > 0).mean())  # not an all-black image: the comparison means something


def test_to_unit_clips_and_zeroes_nan_in_place():
    from verticalkit.verticals.medical_imaging.dicom import to_unit

    x = np.array([np.nan, np.inf, -np.inf, -0.5, 0.25, 1.5], dtype=np.float32)
    assert to_unit(x) is x
    np.testing.assert_array_equal(x, [0.0, 1.0, 0.0, 0.0, 0.25, 1.0])


@pytest.mark.parametrize("signed", [False, True])
def test_bits_above_bits_stored_are_ignored(tmp_path, signed):
    """Uncompressed data is read as a view on the file unless a value has bits above BitsStored
    set (PS3.5 8.1.1: their content is undefined): then the kit masks / sign-extends them exactly
    as pydicom's correction does, on a 12-bit image whose high nibble holds garbage."""
    ds = _ds("CT_small.dcm")  # 128 x 128, 16 bits allocated: above LINEAR_MIN pixels
    rng = np.random.default_rng(0)
    stored = rng.integers(-2048 if signed else 0, 2048 if signed else 4096, size=(ds.Rows, ds.Columns))
    clean = stored.astype(np.int16 if signed else np.uint16)
    dirty = clean.view(np.uint16).copy()
    dirty[::7] = (dirty[::7] & 0x0FFF) | 0xA000  # garbage in the unused high bits of some rows
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 12, 11, int(signed)
    ds.RescaleSlope, ds.RescaleIntercept, ds.WindowCenter, ds.WindowWidth = 1, 0, 100, 3000
    ds.PixelData = clean.tobytes()
    clean_path = tmp_path / "clean.dcm"
    ds.save_as(clean_path)
    ds.PixelData = dirty.tobytes()
    dirty_path = tmp_path / "dirty.dcm"
    ds.save_as(dirty_path)
    want = linear_window(stored.astype(np.float64), 100, 3000)
    for path in (clean_path, dirty_path):
        img = read_dicom(path)
        np.testing.assert_allclose(img.pixels[0, 0], want, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(pydicom.dcmread(dirty_path).pixel_array, clean)  # pydicom agrees
