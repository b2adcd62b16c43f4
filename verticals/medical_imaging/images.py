"""Image files → float arrays ``(C, H, W)`` in [0, 1]. Square crop, resize and channel matching are core's
(:mod:`verticalkit.core.families.pixels`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from verticalkit.core.errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom_file(path: Path) -> bool:
    """A ``.dcm`` suffix or the Part 10 ``DICM`` marker at byte 128."""
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix:
        return False
    try:
        with open(path, "rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def decode_image(path: str | Path) -> np.ndarray:
    """A PNG / JPEG / TIFF file as float32 ``(C, H, W)`` in [0, 1] (C = 1 grey, 3 colour); raises
    what Pillow raises on a bad file (:data:`DECODE_ERRORS`).

    EXIF orientation is applied; 16-bit grey (``I;16``) is scaled by 65535; an alpha channel is
    dropped; palette images are grey when their palette is.
    """
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.load()
        im = ImageOps.exif_transpose(im)
        mode = im.mode
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(im, dtype=np.float32)
            top = 65535.0 if mode.startswith("I;16") or arr.max() > 255 else 255.0
            return (np.clip(arr, 0, top) / top)[None]
        if mode == "F":
            arr = np.nan_to_num(np.asarray(im, dtype=np.float32))
            return (np.clip(arr, 0, 1) if arr.max() <= 1 else arr / arr.max())[None]
        if mode in ("1", "L", "LA", "P", "PA") and _is_grey(im):
            return (np.asarray(im.convert("L"), dtype=np.float32) / 255.0)[None]
        arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
        return np.moveaxis(arr, -1, 0)


def decode_errors() -> tuple[type[BaseException], ...]:
    """What Pillow raises on a corrupt, truncated, oversized or non-image file."""
    from PIL import Image, UnidentifiedImageError

    return (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError)


def read_image(path: str | Path) -> np.ndarray:
    """:func:`decode_image`, a bad file a DataError naming it."""
    path = Path(path)
    try:
        return decode_image(path)
    except decode_errors() as e:
        raise DataError(f"{path}: not a readable image ({type(e).__name__}); the file is corrupt or not "
                        f"PNG/JPEG/TIFF: re-save it or remove it from the folder") from None


def _is_grey(im) -> bool:
    if im.mode not in ("P", "PA"):
        return True
    pal = np.asarray(im.convert("RGB"))
    return bool(np.all(pal[..., 0] == pal[..., 1]) and np.all(pal[..., 1] == pal[..., 2]))


def input_files(path: Path) -> list[Path]:
    """Image and DICOM files under ``path`` (or ``path`` itself), sorted."""
    if path.is_file():
        return [path]
    files = [f for f in sorted(path.rglob("*")) if f.is_file() and not f.name.startswith(".")
             and (f.suffix.lower() in IMAGE_SUFFIXES or is_dicom_file(f))]
    if not files:
        raise DataError(f"{path}: no DICOM or image files ({', '.join(IMAGE_SUFFIXES)}, .dcm) found; "
                        f"check --input")
    return files
