"""DICOM → float array in [0, 1], following the DICOM grayscale pipeline (PS3.3 C.11, PS3.4 N.2).

Order of operations for MONOCHROME1/2 images:

1. **Modality LUT**: Rescale Slope/Intercept or the Modality LUT Sequence (pydicom's
   ``apply_modality_lut``); for enhanced multi-frame objects the values come from the
   per-frame or shared functional groups (Pixel Value Transformation Sequence).
2. **VOI**: the header's VOI LUT Sequence or Window Center/Width (pydicom's
   ``apply_voi_lut``, honouring VOI LUT Function LINEAR / LINEAR_EXACT / SIGMOID), an
   explicit window, a named preset (CT, Hounsfield units), percentile clipping, or the
   full modality output range.
3. **Polarity**: MONOCHROME1 or Presentation LUT Shape INVERSE is inverted *after* the
   VOI (so a header window is applied to the stored values it was defined for).
4. **Scaling** to [0, 1] by the real output range of the VOI step (the window's
   output range, the LUT's 2^n - 1, the percentile bounds), never by the image's own
   min/max after a window.

RGB and YBR_* images are converted to RGB (pydicom's decoder / ``convert_color_space``),
PALETTE COLOR through its LUT (``apply_color_lut``); colour images get no VOI and are
scaled by 2^BitsStored - 1 (or the palette's depth). Every step is recorded in
:attr:`DicomImage.steps`.

Batches: :func:`read_stored` keeps the stored integers (uncompressed greyscale: a memory-mapped
view of the file) and steps 1-4 composed into one map (:class:`GreyMap`: ``clip(A x + B, 0, 1)``
or a table per stored value); :func:`to_tensor` applies the maps in torch on the batch's device,
normalisation folded in. Same pixels as :func:`read_dicom`, which applies the same maps in numpy.

De-identification: no error message or log line of this module contains a tag *value*
of the file (names, IDs, dates); errors name the file path and tag keywords only (batch
prediction replaces the path by the sample id), the debug log line names the hashed
SOPInstanceUID, not the path, and pydicom's own warnings are captured, not re-emitted.
The patient id is only ever exposed hashed (:func:`hash_patient_id`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from verticalkit.core.errors import DataError

log = logging.getLogger(__name__)

INSTALL_HINT = 'pip install "verticalkit[dicom]" (pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, pylibjpeg-rle)'

# Common CT windows (center, width) in Hounsfield units.
PRESETS: dict[str, tuple[float, float]] = {
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (40.0, 400.0),
    "soft_tissue": (50.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
}
VOI_MODES = ("auto", "header", "window", "percentile", "range", *PRESETS)

# Tags whose values identify a person: never logged, never in errors, never in metadata.
PHI_KEYWORDS = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "OtherPatientNames",
                "PatientAddress", "PatientTelephoneNumbers", "ReferringPhysicianName", "InstitutionName",
                "AccessionNumber", "PatientMotherBirthName", "OperatorsName", "PerformingPhysicianName")

LUT_MAX = 2 ** 16  # integer stored values spanning at most this many go through a look-up table
LINEAR_MIN = 4096  # frames with at least this many pixels take the composed linear map when one applies
_WINDOW_DEPTH = 16  # windows are computed on a 16-bit unsigned output range, then divided


@dataclass
class DicomImage:
    """Pixels as float32 ``(frames, channels, rows, cols)`` in [0, 1], the steps taken, safe metadata."""

    pixels: np.ndarray
    steps: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def frame(self, index: int | str = 0) -> np.ndarray:
        """One frame, ``(channels, rows, cols)``; ``index="middle"`` picks the middle one."""
        n = self.pixels.shape[0]
        i = n // 2 if index == "middle" else int(index)
        if not -n <= i < n:
            raise DataError(f"{self.meta.get('path')}: frame {i} requested but the file has {n} frame(s)")
        return self.pixels[i]


@contextlib.contextmanager
def quiet_pydicom():
    """Capture pydicom's warnings and silence its logger: their messages may quote tag values."""
    logger = logging.getLogger("pydicom")
    disabled = logger.disabled
    logger.disabled = True
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            yield
    finally:
        logger.disabled = disabled


def tag_int(ds: Any, keyword: str, default: int, path: str | Path) -> int:
    """An integer tag; a malformed value is a DataError naming the tag (not its value)."""
    try:
        value = ds.get(keyword, default)
        return default if value in (None, "") else int(value)
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: tag {keyword} holds a malformed value; fix or re-export the file") from _clean(e)


def hash_patient_id(value: Any, salt: str = "verticalkit") -> str:
    """A stable, non-reversible group key for a patient id (salted sha256, 16 hex chars)."""
    return hashlib.sha256(f"{salt}:{value}".encode()).hexdigest()[:16]


def read_dataset(path: str | Path, stop_before_pixels: bool = False, defer_size: int | None = None):
    """``pydicom.dcmread`` with errors that name only the file (no tag values); elements longer than
    ``defer_size`` bytes are read from the file when first used."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such DICOM file; check the path")
    try:
        with quiet_pydicom():
            return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, defer_size=defer_size)
    except InvalidDicomError as e:
        raise DataError(f"{path}: not a DICOM file (no DICM preamble); pass DICOM files (Part 10) only") from _clean(e)
    except Exception as e:  # noqa: BLE001 - pydicom raises many types on corrupt input
        raise DataError(f"{path}: unreadable DICOM file ({type(e).__name__}); the file is truncated or corrupt, "
                        f"re-export it from the archive") from _clean(e)


def _clean(e: BaseException) -> DataError:
    """A stand-in cause that keeps the exception type but not its message (it may hold tag values)."""
    return DataError(type(e).__name__)


def safe_meta(ds: Any, path: str | Path) -> dict[str, Any]:
    """Metadata safe to keep: modality, geometry, subgroup tags (sex, age band, manufacturer) and
    the patient id and SOP Instance UID *hashed* (group keys, never the raw values)."""
    age = _age_years(ds.get("PatientAge"))
    return {
        "path": str(path),
        "modality": str(ds.get("Modality", "") or ""),
        "photometric_interpretation": str(ds.get("PhotometricInterpretation", "") or ""),
        "transfer_syntax": str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or ""),
        "rows": tag_int(ds, "Rows", 0, path),
        "columns": tag_int(ds, "Columns", 0, path),
        "frames": tag_int(ds, "NumberOfFrames", 1, path),
        "sex": str(ds.get("PatientSex", "") or "") or "unknown",
        "age_band": age_band(age),
        "manufacturer": str(ds.get("Manufacturer", "") or "") or "unknown",
        "patient": hash_patient_id(ds.PatientID) if ds.get("PatientID") else "",
        "sop_instance_uid_hash": hash_patient_id(ds.SOPInstanceUID) if ds.get("SOPInstanceUID") else "",
    }


def _age_years(value: Any) -> float | None:
    """Years from a DICOM AS value ('045Y', '006M', '010W', '003D')."""
    if not value:
        return None
    s = str(value).strip().upper()
    try:
        n, unit = float(s[:-1]), s[-1]
    except ValueError:
        return None
    return {"Y": n, "M": n / 12, "W": n / 52.18, "D": n / 365.25}.get(unit)


def age_band(age: float | None) -> str:
    """Coarse age bands (0-17, 18-39, 40-64, 65+): a subgroup column, not an identifier."""
    if age is None:
        return "unknown"
    if age < 18:
        return "0-17"
    if age < 40:
        return "18-39"
    return "40-64" if age < 65 else "65+"


# ----------------------------------------------------------------------------- decoding


def decode_pixels(ds: Any, path: str | Path) -> tuple[np.ndarray, str]:
    """Stored pixel values ``(frames, rows, cols[, samples])`` and the photometric interpretation
    they are in after decoding (YBR_* is converted to RGB)."""
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        modality = ds.get("Modality", "?")
        raise DataError(f"{path}: no PixelData (a {modality} object holds no image); "
                        f"remove non-image objects (RT plans, structured reports, ...) from the input")
    for keyword in ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation"):
        if keyword not in ds:
            raise DataError(f"{path}: tag {keyword} missing; the image cannot be decoded, re-export the file")
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    pi = str(ds.PhotometricInterpretation).strip()
    decoder = _decoder(ts, path)
    try:
        arr, pi = _decode(ds, decoder, pi)
    except DataError:
        raise
    except (RuntimeError, NotImplementedError, ImportError) as e:
        if decoder is not None and not decoder.is_available:
            raise DataError(f"{path}: cannot decode transfer syntax {_ts_text(ts)}; its pixel decoder plugin is "
                            f"not installed: {INSTALL_HINT}") from _clean(e)
        if _is_compressed(ts):
            plugins = ", ".join(getattr(decoder, "available_plugins", ()) or ()) or "none"
            raise DataError(f"{path}: decoding transfer syntax {_ts_text(ts)} failed in every installed plugin "
                            f"({plugins}); the compressed pixel data is corrupt or a variant they do not read: "
                            f"re-export the image uncompressed, or also install GDCM (pip install python-gdcm)"
                            ) from _clean(e)
        raise DataError(f"{path}: cannot decode PixelData ({type(e).__name__}); the file is corrupt") from _clean(e)
    except (ValueError, AttributeError, KeyError, IndexError, TypeError, OSError) as e:
        raise DataError(f"{path}: PixelData does not match Rows/Columns/BitsAllocated ({type(e).__name__}); "
                        f"the file is truncated or corrupt, re-export it") from _clean(e)
    frames = tag_int(ds, "NumberOfFrames", 1, path)
    spp = tag_int(ds, "SamplesPerPixel", 1, path)
    if frames == 1 and arr.ndim == (2 if spp == 1 else 3):
        arr = arr[None]
    return arr, pi


def _in_stored_range(arr: np.ndarray, ds: Any) -> bool:
    """Whether integer pixels already hold only values of BitsStored bits (unused high bits clear,
    or sign-extended for signed data), i.e. pydicom's unused-bits correction would change nothing."""
    if arr.dtype.kind not in "iu":
        return True  # float data has no unused bits
    if arr.size == 0:
        return False  # nothing to check: let pydicom decide
    bits, allocated = int(ds.get("BitsStored") or 0), int(ds.get("BitsAllocated") or 0)
    if not 0 < bits <= allocated:
        return False  # a malformed header: let pydicom decide
    if bits >= 8 * arr.dtype.itemsize:
        return True
    if arr.dtype.kind == "u":
        return int(arr.max()) < 2 ** bits
    return -(2 ** (bits - 1)) <= int(arr.min()) and int(arr.max()) < 2 ** (bits - 1)


def _ts_text(ts: Any) -> str:
    """``name (UID)`` of a transfer syntax, or the bare UID when pydicom does not know it."""
    return f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)


def _is_compressed(ts: Any) -> bool:
    try:
        return bool(ts is not None and ts.is_compressed)
    except ValueError:  # a UID that is not a known transfer syntax
        return False


def _decoder(ts: Any, path: str | Path) -> Any | None:
    """pydicom's decoder for ``ts`` (None without file meta or on pydicom 2.x); a transfer syntax
    pydicom has no decoder for at all (video, private, unknown) is a DataError naming it."""
    try:
        from pydicom.pixels import get_decoder  # pydicom >= 3
    except ImportError:  # pragma: no cover - pydicom 2.x
        return None
    if ts is None:
        return None
    try:
        return get_decoder(ts)
    except NotImplementedError:
        raise DataError(f"{path}: transfer syntax {_ts_text(ts)} is not supported: pydicom has no pixel decoder "
                        f"for it (video, private or unknown syntax); re-export the image uncompressed (Explicit VR "
                        f"Little Endian) or as JPEG / JPEG-LS / JPEG 2000 / RLE") from None


def _decode(ds: Any, decoder: Any | None, pi: str) -> tuple[np.ndarray, str]:
    if decoder is not None:
        if getattr(decoder, "is_native", False) and pi in ("MONOCHROME1", "MONOCHROME2"):
            # uncompressed greyscale: a read-only view on the file's bytes (nothing below writes into
            # the decoded array). pydicom would copy it to clear the bits above BitsStored; one pass
            # checking that every value is already in the stored range makes that unnecessary.
            arr, info = decoder.as_array(ds, as_rgb=True, view_only=True, correct_unused_bits=False)
            if _in_stored_range(arr, ds):
                return arr, str(info.get("photometric_interpretation", pi))
        arr, info = decoder.as_array(ds, as_rgb=True)
        return arr, str(info.get("photometric_interpretation", pi))
    arr = ds.pixel_array  # pragma: no cover - pydicom 2.x
    if pi.startswith("YBR") and pi not in ("YBR_RCT", "YBR_ICT"):  # pragma: no cover
        from pydicom.pixel_data_handlers.util import convert_color_space

        arr, pi = convert_color_space(arr, pi, "RGB"), "RGB"
    return arr, pi


# ----------------------------------------------------------------------------- transforms


def _frame_item(ds: Any, frame: int, sequence: str) -> Any | None:
    """The functional-group item ``sequence`` for ``frame`` (per-frame first, then shared)."""
    for group, idx in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(group)
        if seq and len(seq) > idx and sequence in seq[idx] and len(seq[idx][sequence].value):
            return seq[idx][sequence][0]
    return None


def _view(ds: Any, frame: int) -> Any:
    """A small Dataset with the top-level Modality/VOI LUT tags that apply to ``frame`` (the
    dataset itself when it has no functional groups: then those are its own tags)."""
    from pydicom.dataset import Dataset

    if "PerFrameFunctionalGroupsSequence" not in ds and "SharedFunctionalGroupsSequence" not in ds:
        return ds

    v = Dataset()
    for kw in ("PhotometricInterpretation", "BitsStored", "PixelRepresentation", "RescaleSlope", "RescaleIntercept",
               "ModalityLUTSequence", "WindowCenter", "WindowWidth", "VOILUTFunction", "VOILUTSequence"):
        if kw in ds:
            v[kw] = ds[kw]
    if hasattr(ds, "file_meta"):
        v.file_meta = ds.file_meta
    if "RescaleSlope" not in v and "ModalityLUTSequence" not in v:
        item = _frame_item(ds, frame, "PixelValueTransformationSequence")
        if item is not None and "RescaleSlope" in item and "RescaleIntercept" in item:
            v.RescaleSlope, v.RescaleIntercept = item.RescaleSlope, item.RescaleIntercept
    if "WindowCenter" not in v and "VOILUTSequence" not in v:
        item = _frame_item(ds, frame, "FrameVOILUTSequence")
        if item is not None and "WindowCenter" in item and "WindowWidth" in item:
            v.WindowCenter, v.WindowWidth = item.WindowCenter, item.WindowWidth
            if "VOILUTFunction" in item:
                v.VOILUTFunction = item.VOILUTFunction
    return v


def _stored_range(v: Any) -> tuple[float, float]:
    bits = int(v.BitsStored)
    if int(v.get("PixelRepresentation", 0)) == 1:
        return -(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1
    return 0.0, 2.0 ** bits - 1


def modality_lut(arr: np.ndarray, v: Any) -> tuple[np.ndarray, tuple[float, float], str]:
    """Apply the Modality LUT; return the values, their possible range and a step note."""
    from pydicom.pixels import apply_modality_lut

    lo, hi = _stored_range(v)
    if v.get("ModalityLUTSequence"):
        item = v.ModalityLUTSequence[0]
        out = np.asarray(apply_modality_lut(arr, v), dtype=np.float64)
        probe = apply_modality_lut(np.arange(int(lo), int(hi) + 1, dtype=np.int64), v)  # every stored value
        return out, (float(probe.min()), float(probe.max())), \
            f"modality: Modality LUT Sequence ({item.LUTDescriptor[0] or 65536} entries, {item.LUTDescriptor[2]} bits)"
    if "RescaleSlope" in v and "RescaleIntercept" in v:
        slope, intercept = float(v.RescaleSlope), float(v.RescaleIntercept)
        out = np.asarray(apply_modality_lut(arr, v), dtype=np.float64)
        ends = sorted((lo * slope + intercept, hi * slope + intercept))
        return out, (ends[0], ends[1]), f"modality: rescale slope={slope:g} intercept={intercept:g}"
    return arr.astype(np.float64), (lo, hi), "modality: identity (no rescale or Modality LUT)"


def _window(arr: np.ndarray, v: Any, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """A VOI window to [0, 1] (PS3.3 C.11.2.1.2): LINEAR and LINEAR_EXACT by the standard's
    formulas, in place (fast on large radiographs); SIGMOID and a LINEAR width of 1 through
    pydicom's windowing on a 16-bit unsigned output range, divided to [0, 1]."""
    from pydicom.dataset import Dataset
    from pydicom.pixels import apply_voi_lut

    function = function.upper()
    if (function == "LINEAR" and width > 1) or (function == "LINEAR_EXACT" and width > 0):
        out = np.array(arr, dtype=np.float64)  # a copy: the caller's values are kept
        if function == "LINEAR":  # y = ((x - (c - 0.5)) / (w - 1) + 0.5), clipped to [0, 1]
            out -= center - 0.5
            out /= width - 1
        else:  # LINEAR_EXACT: y = (x - c) / w + 0.5
            out -= center
            out /= width
        out += 0.5
        return np.clip(out, 0.0, 1.0, out=out)

    w = Dataset()
    w.PhotometricInterpretation, w.BitsStored, w.PixelRepresentation = "MONOCHROME2", _WINDOW_DEPTH, 0
    w.WindowCenter, w.WindowWidth, w.VOILUTFunction = float(center), float(width), function
    return apply_voi_lut(arr.astype(np.float64), w, prefer_lut=False) / (2.0 ** _WINDOW_DEPTH - 1)


def voi(arr: np.ndarray, v: Any, mode: str, value_range: tuple[float, float], window: tuple[float, float] | None,
        percentiles: tuple[float, float], path: str | Path, index: int = 0) -> tuple[np.ndarray, str]:
    """The VOI step; returns values in [0, 1] and a step note."""
    from pydicom.pixels import apply_voi_lut

    if mode == "auto":
        mode = "header" if _has_header_voi(v) else "percentile"
    if mode == "header":
        if v.get("VOILUTSequence"):
            item = v.VOILUTSequence[min(index, len(v.VOILUTSequence) - 1)]
            depth = int(item.LUTDescriptor[2])
            out = apply_voi_lut(np.rint(arr).astype(np.int64), v, index=index, prefer_lut=True)
            return out.astype(np.float64) / (2.0 ** depth - 1), \
                f"voi: VOI LUT Sequence ({item.LUTDescriptor[0] or 65536} entries, {depth} bits)"
        if "WindowCenter" not in v or "WindowWidth" not in v:
            raise DataError(f"{path}: voi='header' but tags WindowCenter/WindowWidth and VOILUTSequence are absent; "
                            f"use voi='percentile', 'range', a preset or an explicit window")
        c, w = _nth(v.WindowCenter, index), _nth(v.WindowWidth, index)
        fn = str(v.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        return _window(arr, v, c, w, fn), f"voi: header window center={c:g} width={w:g} ({fn})"
    if mode == "window" or mode in PRESETS:
        c, w = PRESETS[mode] if mode in PRESETS else (window or (None, None))
        if c is None or w is None or w < 1:
            raise DataError(f"{path}: voi='window' needs window=(center, width) with width >= 1")
        name = f"preset {mode!r} " if mode in PRESETS else ""
        return _window(arr, v, c, w, "LINEAR"), f"voi: {name}window center={c:g} width={w:g} (LINEAR)"
    if mode == "percentile":
        p_lo, p_hi = percentiles
        lo, hi = np.percentile(arr, [p_lo, p_hi])
        out = np.clip((arr - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(arr)
        return out, f"voi: percentile clip [{p_lo:g}, {p_hi:g}] -> [{lo:g}, {hi:g}]"
    if mode == "range":
        lo, hi = value_range
        out = np.clip((arr - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(arr)
        return out, f"voi: none, full modality output range [{lo:g}, {hi:g}]"
    raise DataError(f"unknown voi mode {mode!r}; use one of {', '.join(VOI_MODES)}")


def _nth(value: Any, index: int) -> float:
    try:
        seq = list(value)
    except TypeError:
        return float(value)
    return float(seq[min(index, len(seq) - 1)])


# ----------------------------------------------------------------------------- entry point


def read_dicom(path: str | Path, *, voi_mode: str = "auto", window: tuple[float, float] | None = None,
               percentiles: tuple[float, float] = (0.5, 99.5), voi_index: int = 0,
               frames: list[int] | None = None) -> DicomImage:
    """Read a DICOM file into float32 ``(frames, channels, rows, cols)`` in [0, 1].

    voi_mode: ``auto`` (the header VOI if present, else percentile clipping), ``header``,
    ``window`` (with ``window=(center, width)``), a preset name (:data:`PRESETS`),
    ``percentile`` (``percentiles``) or ``range`` (the full modality output range).
    frames: frame indices to keep (default all).
    """
    if voi_mode not in VOI_MODES:
        raise DataError(f"unknown voi mode {voi_mode!r}; use one of {', '.join(VOI_MODES)}")
    path = Path(path)
    with quiet_pydicom():
        return _read(path, voi_mode, window, percentiles, voi_index, frames)


def _read(path: Path, voi_mode: str, window: tuple[float, float] | None, percentiles: tuple[float, float],
          voi_index: int, frames: list[int] | None) -> DicomImage:
    ds = read_dataset(path)
    meta = safe_meta(ds, path)
    arr, pi = decode_pixels(ds, path)
    meta["decoded_as"] = pi
    n = arr.shape[0]
    keep = list(range(n)) if frames is None else [f if f >= 0 else n + f for f in frames]
    if any(not 0 <= f < n for f in keep):
        raise DataError(f"{path}: frames {frames} requested but the file has {n} frame(s)")
    steps = [f"decode: {meta['transfer_syntax'] or 'unknown transfer syntax'}, {n} frame(s), as {pi}"]
    if pi in ("MONOCHROME1", "MONOCHROME2"):
        try:
            out, in_unit = _grey(ds, arr, keep, pi, voi_mode, window, percentiles, voi_index, path, steps)
        except (ValueError, NotImplementedError, AttributeError, IndexError) as e:
            raise DataError(f"{path}: the modality/VOI step failed ({type(e).__name__}); check tags WindowCenter, "
                            f"WindowWidth, VOILUTSequence, ModalityLUTSequence, or use voi='percentile'") from _clean(e)
    elif pi == "PALETTE COLOR":
        out, in_unit = _palette(ds, arr[keep], path, steps), False
    elif pi in ("RGB", "YBR_RCT", "YBR_ICT") or pi.startswith("YBR"):
        bits = tag_int(ds, "BitsStored", 8, path)
        out, in_unit = arr[keep].astype(np.float32) / np.float32(2.0 ** bits - 1), False
        out = np.moveaxis(out, -1, 1)
        steps.append(f"scale: colour, divided by 2^{bits}-1 (no VOI for colour images)")
    else:
        raise DataError(f"{path}: PhotometricInterpretation {pi} is not supported; "
                        f"supported: MONOCHROME1/2, RGB, YBR_*, PALETTE COLOR")
    out = out.astype(np.float32, copy=np.shares_memory(out, arr))  # in place below, never on the decoded data
    if not in_unit:
        to_unit(out)
    # by the hashed SOPInstanceUID, not the path: file and folder names often hold patient names or IDs
    log.debug("DICOM sop-%s: %s", meta["sop_instance_uid_hash"] or "none", "; ".join(steps))
    return DicomImage(np.ascontiguousarray(out), steps, meta)


@dataclass
class GreyMap:
    """How the stored values of the kept frames become [0, 1] pixels, modality LUT, VOI, inversion
    and scaling composed: ``kind="linear"``: ``y = clip(scale[j] x + offset[j], 0, 1)`` (rescale and
    a LINEAR / LINEAR_EXACT window or the full range); ``kind="table"``: ``y = tables[j][x - start]``
    (LUT sequences, SIGMOID, ...; finite and in [0, 1] already). ``notes``: the step notes."""

    kind: str
    notes: list[str]
    scale: np.ndarray | None = None
    offset: np.ndarray | None = None
    tables: np.ndarray | None = None
    start: int = 0


def _grey_map(ds: Any, arr: np.ndarray, keep: list[int], pi: str, voi_mode: str,
              window: tuple[float, float] | None, percentiles: tuple[float, float], voi_index: int, path: Path,
              linear: bool = True, table_max: int = LUT_MAX) -> GreyMap | None:
    """The composed map of integer stored values (None: percentile clipping, float data, or a
    table of more than ``table_max`` entries; ``linear=False``: never the linear form)."""
    if "BitsStored" not in ds:
        raise DataError(f"{path}: tag BitsStored missing; re-export the file")
    views = [_view(ds, f) for f in keep]
    percentile = voi_mode == "percentile" or (voi_mode == "auto" and not _has_header_voi(views[0]))
    if percentile or arr.dtype.kind not in "iu":
        return None
    lo_s, hi_s = _stored_range(views[0])
    invert = _inverted(ds, pi)
    if linear and arr.dtype.itemsize <= 2:
        maps = [_linear_map(v, voi_mode, window, percentiles, path, voi_index, lo_s, hi_s) for v in views]
        if all(m is not None for m in maps):
            ab = np.array([(-a, 1.0 - b) if invert else (a, b) for a, b, _, _ in maps])  # 1 - y, folded in
            return GreyMap("linear", list(maps[0][2:]), scale=ab[:, 0], offset=ab[:, 1])
    if hi_s - lo_s >= table_max:
        return None
    # every stored value through the same modality + VOI functions once; then one look-up per pixel
    stored = np.arange(int(lo_s), int(hi_s) + 1, dtype=np.int64)
    tables = np.empty((len(views), len(stored)), dtype=np.float32)
    for j, v in enumerate(views):
        values, value_range, m_note = modality_lut(stored, v)
        table, v_note = voi(values, v, voi_mode, value_range, window, percentiles, path, voi_index)
        tables[j] = table
        if invert:
            tables[j] = 1.0 - tables[j]  # folded into the table: the same 1 - y as after the VOI
        to_unit(tables[j])
        if j == 0:
            notes = [m_note, v_note]
    return GreyMap("table", notes, tables=tables, start=int(lo_s))


def _grey(ds: Any, arr: np.ndarray, keep: list[int], pi: str, voi_mode: str, window: tuple[float, float] | None,
          percentiles: tuple[float, float], voi_index: int, path: Path, steps: list[str]
          ) -> tuple[np.ndarray, bool]:
    """Modality LUT → VOI → inversion of the kept frames; also whether the values are already
    finite and in [0, 1] (the look-up path cleans its table instead of every pixel)."""
    out = np.empty((len(keep), 1, *arr.shape[1:3]), dtype=np.float32)
    # the linear form from LINEAR_MIN pixels a frame (a few float32 passes beat a table gather,
    # which first copies the indices to int64); a table only when it is smaller than a frame
    gmap = _grey_map(ds, arr, keep, pi, voi_mode, window, percentiles, voi_index, path,
                     linear=arr.dtype.itemsize <= 2 and arr[0].size >= LINEAR_MIN,
                     table_max=min(LUT_MAX, arr[0].size))
    if gmap is not None and gmap.kind == "linear":
        for j, (f, a, b) in enumerate(zip(keep, gmap.scale, gmap.offset)):
            # A (x - K) + (A K + B) with K the integer nearest the window's zero: x - K is exact in
            # float32 and both terms stay small, so a narrow window far from 0 keeps its precision
            k = round(-b / a)
            o = out[j, 0]
            # copyto's plain cast loop, then in-place float32 steps: about half the time of one
            # ufunc that casts as it subtracts (its buffered loop is slow)
            np.copyto(o, arr[f], casting="unsafe")
            o -= np.float32(k)
            o *= np.float32(a)
            o += np.float32(a * k + b)
        np.clip(out, 0.0, 1.0, out=out)
        return _finish_grey(ds, out, keep, pi, gmap.notes, steps, inverted=True), True
    if gmap is not None:
        for j, f in enumerate(keep):
            np.take(gmap.tables[j], arr[f].astype(np.int64) - gmap.start if gmap.start else arr[f],
                    out=out[j, 0], mode="clip")
        return _finish_grey(ds, out, keep, pi, gmap.notes, steps, inverted=True), True
    views = [_view(ds, f) for f in keep]
    percentile = voi_mode == "percentile" or (voi_mode == "auto" and not _has_header_voi(views[0]))
    modality = [modality_lut(arr[f], v) for f, v in zip(keep, views)]
    notes = [modality[0][2]]
    if percentile:
        # one pair of bounds for the whole stack, so the frames of a volume stay comparable
        lo, hi = np.percentile(np.stack([m[0] for m in modality]), list(percentiles))
        for j, (values, _, _) in enumerate(modality):
            out[j, 0] = np.clip((values - lo) / (hi - lo), 0, 1) if hi > lo else 0.0
        notes.append(f"voi: percentile clip [{percentiles[0]:g}, {percentiles[1]:g}] -> [{lo:g}, {hi:g}]")
    else:
        for j, ((values, value_range, _), v) in enumerate(zip(modality, views)):
            out[j, 0], note = voi(values, v, voi_mode, value_range, window, percentiles, path, voi_index)
            if j == 0:
                notes.append(note)
    return _finish_grey(ds, out, keep, pi, notes, steps), False


def _linear_map(v: Any, voi_mode: str, window: tuple[float, float] | None, percentiles: tuple[float, float],
                path: Path, voi_index: int, lo_s: float, hi_s: float) -> tuple[float, float, str, str] | None:
    """``(A, B, modality note, VOI note)`` when this frame's modality LUT (rescale or identity)
    followed by its VOI (a LINEAR / LINEAR_EXACT window or the full range) is ``A x + B``
    clipped to [0, 1]; None otherwise (a LUT sequence, SIGMOID, a LINEAR width of 1)."""
    if v.get("ModalityLUTSequence"):
        return None
    mode = ("header" if _has_header_voi(v) else "percentile") if voi_mode == "auto" else voi_mode
    if mode == "header":
        if v.get("VOILUTSequence") or "WindowCenter" not in v or "WindowWidth" not in v:
            return None
        c, w = _nth(v.WindowCenter, voi_index), _nth(v.WindowWidth, voi_index)
        fn = str(v.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    elif mode == "window" or mode in PRESETS:
        c, w = PRESETS[mode] if mode in PRESETS else (window or (None, None))
        fn = "LINEAR"
    elif mode != "range":
        return None
    # the notes (and the range mode's output range) from the same functions the other paths use
    probe, value_range, m_note = modality_lut(np.array([lo_s, hi_s], dtype=np.int64), v)
    _, v_note = voi(probe, v, voi_mode, value_range, window, percentiles, path, voi_index)
    if mode == "range":
        lo, hi = value_range
        if not hi > lo:
            return None
        a, b = 1.0 / (hi - lo), -lo / (hi - lo)
    elif fn == "LINEAR" and w > 1:  # y = (m - (c - 0.5)) / (w - 1) + 0.5
        a, b = 1.0 / (w - 1), 0.5 - (c - 0.5) / (w - 1)
    elif fn == "LINEAR_EXACT" and w > 0:  # y = (m - c) / w + 0.5
        a, b = 1.0 / w, 0.5 - c / w
    else:
        return None
    slope, intercept = (float(v.RescaleSlope), float(v.RescaleIntercept)) \
        if "RescaleSlope" in v and "RescaleIntercept" in v else (1.0, 0.0)
    return slope * a, intercept * a + b, m_note, v_note


def to_unit(x: np.ndarray) -> np.ndarray:
    """In place: clip to [0, 1] (inf → the bound), NaN → 0. Cheaper than ``nan_to_num`` + clip."""
    np.clip(x, 0.0, 1.0, out=x)
    nan = np.isnan(x)
    if nan.any():
        x[nan] = 0.0
    return x


def _inverted(ds: Any, pi: str) -> bool:
    return pi == "MONOCHROME1" or str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE"


def _finish_grey(ds: Any, out: np.ndarray, keep: list[int], pi: str, notes: list[str], steps: list[str],
                 inverted: bool = False) -> np.ndarray:
    """Inversion (unless ``inverted`` already did it) after the VOI, and the step notes."""
    invert = _inverted(ds, pi)
    if invert:
        if not inverted:
            np.subtract(1.0, out, out=out)
        why = "MONOCHROME1" if pi == "MONOCHROME1" else "Presentation LUT Shape INVERSE"
        notes.append(f"invert: {why}, after VOI")
    notes.append("scale: [0, 1] by the VOI output range")
    if len(keep) > 1:
        notes.insert(0, f"frames: {len(keep)}, modality/VOI applied per frame (shown for frame {keep[0]})")
    steps.extend(notes)
    return out


def _has_header_voi(v: Any) -> bool:
    return bool(v.get("VOILUTSequence")) or ("WindowCenter" in v and "WindowWidth" in v)


def _palette(ds: Any, arr: np.ndarray, path: Path, steps: list[str]) -> np.ndarray:
    from pydicom.pixels import apply_color_lut

    try:
        rgb = apply_color_lut(arr, ds)
    except (ValueError, AttributeError, KeyError) as e:
        raise DataError(f"{path}: PALETTE COLOR lookup tables missing or invalid ({type(e).__name__})") from _clean(e)
    depth = int(ds.RedPaletteColorLookupTableDescriptor[2])
    depth = 16 if depth not in (8, 16) else depth
    steps.append(f"palette: RGB through the colour LUT, divided by 2^{depth}-1")
    return np.moveaxis(rgb.astype(np.float32) / np.float32(2.0 ** depth - 1), -1, 1)


# ----------------------------------------------------------------------------- batched, in torch


NATIVE_SYNTAXES = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")  # implicit / explicit VR little endian
DEFER_BYTES = 1 << 16  # pixel data longer than this is read straight into its array, not into the dataset


@dataclass
class StoredImage:
    """A DICOM's stored values as read and the map that turns them into [0, 1] pixels, to be
    applied where the batch lives (:func:`to_tensor`). ``stored``: ``(frames, rows, cols)``
    integers with ``map`` a :class:`GreyMap`; or, where no such map applies (percentile clipping,
    colour, float data), the finished float32 pixels ``(frames, channels, rows, cols)`` with
    ``map`` None."""

    stored: np.ndarray
    map: GreyMap | None
    steps: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _native_stored(ds: Any, path: Path) -> np.ndarray | None:
    """Greyscale little-endian uncompressed pixel data of 8 or 16 bits as a read-only
    ``(frames, rows, cols)`` view of the file (memory-mapped; no copy through the dataset); None when the
    file is anything else, the data was not deferred, or its high bits need pydicom's correction."""
    ts = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "") or "")
    pi = str(ds.get("PhotometricInterpretation", "")).strip()
    if ts not in NATIVE_SYNTAXES or pi not in ("MONOCHROME1", "MONOCHROME2") or "PixelData" not in ds:
        return None
    raw = ds.get_item("PixelData", keep_deferred=True)
    allocated, signed = tag_int(ds, "BitsAllocated", 0, path), tag_int(ds, "PixelRepresentation", 0, path)
    if getattr(raw, "value", b"") is not None or allocated not in (8, 16) or tag_int(ds, "SamplesPerPixel", 1, path) != 1:
        return None
    frames, rows, cols = (tag_int(ds, k, d, path) for k, d in (("NumberOfFrames", 1), ("Rows", 0), ("Columns", 0)))
    dtype = np.dtype(f"<{'i' if signed else 'u'}{allocated // 8}")
    count = frames * rows * cols
    if count == 0 or raw.length < count * dtype.itemsize:
        return None  # decode_pixels names what is wrong
    # mapped, not read: the first pass over the values reads them from the page cache (a read into a
    # fresh array costs a copy and zero-filled pages). A file truncated while mapped would fault (SIGBUS).
    arr = np.memmap(path, dtype=dtype, mode="r", shape=(frames, rows, cols), offset=raw.value_tell)
    return arr if _in_stored_range(arr, ds) else None


def read_stored(path: str | Path, *, voi_mode: str = "auto", window: tuple[float, float] | None = None,
                percentiles: tuple[float, float] = (0.5, 99.5), voi_index: int = 0,
                frames: list[int] | None = None) -> StoredImage:
    """A DICOM file's stored values and their composed modality LUT + VOI + inversion map (the
    same parameters and, once applied by :func:`to_tensor`, the same pixels as :func:`read_dicom`).
    Large uncompressed greyscale data is a read-only memory-mapped view of the file."""
    if voi_mode not in VOI_MODES:
        raise DataError(f"unknown voi mode {voi_mode!r}; use one of {', '.join(VOI_MODES)}")
    path = Path(path)
    with quiet_pydicom():
        ds = read_dataset(path, defer_size=DEFER_BYTES)
        meta = safe_meta(ds, path)
        arr = _native_stored(ds, path)
        pi = str(ds.get("PhotometricInterpretation", "")).strip()
        if arr is None:
            arr, pi = decode_pixels(ds, path)
        gmap = None
        if pi in ("MONOCHROME1", "MONOCHROME2"):
            n = arr.shape[0]
            keep = list(range(n)) if frames is None else [f if f >= 0 else n + f for f in frames]
            if any(not 0 <= f < n for f in keep):
                raise DataError(f"{path}: frames {frames} requested but the file has {n} frame(s)")
            try:
                gmap = _grey_map(ds, arr, keep, pi, voi_mode, window, percentiles, voi_index, path)
            except (ValueError, NotImplementedError, AttributeError, IndexError) as e:
                raise DataError(f"{path}: the modality/VOI step failed ({type(e).__name__}); check tags "
                                f"WindowCenter, WindowWidth, VOILUTSequence, ModalityLUTSequence, or use "
                                f"voi='percentile'") from _clean(e)
    if gmap is None:  # finished on the CPU by read_dicom
        img = read_dicom(path, voi_mode=voi_mode, window=window, percentiles=percentiles, voi_index=voi_index,
                         frames=frames)
        return StoredImage(img.pixels, None, img.steps, img.meta)
    steps = [f"decode: {meta['transfer_syntax'] or 'unknown transfer syntax'}, {arr.shape[0]} frame(s), as {pi}"]
    _finish_grey(ds, np.empty(0, np.float32), keep, pi, list(gmap.notes), steps, inverted=True)
    meta["decoded_as"] = pi
    if arr.dtype == np.uint16 and tag_int(ds, "BitsStored", 16, path) <= 15:
        # every value is below 2^BitsStored (checked or corrected above): int16 holds the same bits
        # and torch copies int16 on every device, without a pass to look for the top bit
        arr = arr.view(np.int16)
    return StoredImage(arr if frames is None else arr[keep], gmap, steps, meta)


def to_tensor(images: list[StoredImage], device: Any = "cpu", mean: float = 0.0, std: float = 1.0, out: Any = None):
    """One float32 ``(frames of all images, channels, rows, cols)`` batch on ``device``: each map
    applied there to the stored integers (half the bytes of float32 to move), normalisation
    ``(y - mean) / std`` folded into it (no extra pass). The images must share their size.
    ``out``: a float32 tensor of that shape to write into (a batch buffer reused from batch to
    batch saves allocating, and the kernel zero-filling, fresh pages each time)."""
    import torch

    shapes = {img.stored.shape[-2:] for img in images}
    channels = {1 if img.map is not None else img.stored.shape[1] for img in images}
    if len(shapes) > 1 or len(channels) > 1:
        raise DataError(f"to_tensor needs images of one size and channel count; got sizes {sorted(shapes)} and "
                        f"channels {sorted(channels)}: resize them first, or read them with read_dicom")
    n = sum(len(img.stored) for img in images)
    rows, cols = shapes.pop() if shapes else (0, 0)
    shape = (n, channels.pop() if channels else 1, rows, cols)
    if out is None:
        out = torch.empty(shape, dtype=torch.float32, device=device)
    elif tuple(out.shape) != shape or out.dtype != torch.float32:
        raise ValueError(f"to_tensor: out is {out.dtype} {tuple(out.shape)}; these images need float32 {shape}")
    device = out.device
    lo, hi = -mean / std, (1.0 - mean) / std
    j = 0
    for img in images:
        with warnings.catch_warnings():  # a read-only view on the file's bytes: only ever read here
            warnings.simplefilter("ignore", UserWarning)
            x = torch.from_numpy(_torch_ready(img.stored, torch.device(device).type)).to(device)
        m = img.map
        if m is None:
            out[j:j + len(x)] = (x - mean) / std
        elif m.kind == "linear":
            for f in range(len(x)):
                o = out[j + f, 0]
                # a cast copy, then one scaled add and a clamp in place: torch's mixed-dtype kernels
                # (an integer tensor times a float) are several times slower than these three
                o.copy_(x[f])
                torch.add(torch.tensor((m.offset[f] - mean) / std, device=device), o, alpha=m.scale[f] / std, out=o)
                o.clamp_(lo, hi)
        else:
            tables = torch.from_numpy((m.tables - mean) / std).to(device)
            for f in range(len(x)):
                idx = x[f].reshape(-1).to(torch.int32) - m.start
                out[j + f, 0] = torch.index_select(tables[f], 0, idx.clamp_(0, tables.shape[1] - 1)).view(rows, cols)
        j += len(x)
    return out


def _torch_ready(arr: np.ndarray, device_type: str) -> np.ndarray:
    """Stored integers torch copies everywhere: big-endian data in native order; 16-bit unsigned
    data that uses the top bit as int32 off the CPU."""
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype == np.uint16 and device_type != "cpu":
        arr = arr.astype(np.int32)
    return arr


def dicom_to_tensor(path: str | Path, frame: int | str | None = 0, device: Any = "cpu", **kwargs: Any):
    """A torch tensor on ``device``: ``(C, H, W)`` for one ``frame`` (``"middle"`` allowed), ``(F, C, H, W)``
    for ``frame=None``; the modality LUT / VOI / inversion applied there (:func:`read_stored`, :func:`to_tensor`)."""
    img = read_stored(path, **kwargs)
    if frame is None:
        return to_tensor([img], device)
    n = len(img.stored)
    i = n // 2 if frame == "middle" else int(frame)
    if not -n <= i < n:
        raise DataError(f"{img.meta.get('path')}: frame {i} requested but the file has {n} frame(s)")
    pick = [i % n]
    m = img.map and GreyMap(img.map.kind, img.map.notes, start=img.map.start,
                            **{k: getattr(img.map, k)[pick] for k in ("scale", "offset", "tables")
                               if getattr(img.map, k) is not None})
    return to_tensor([StoredImage(img.stored[pick], m, img.steps, img.meta)], device)[0]
