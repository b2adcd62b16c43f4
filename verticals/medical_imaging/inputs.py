"""Batch-prediction and serving inputs: folders of DICOM / PNG / JPEG files, JSON records."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from verticalkit.core.errors import DataError, VerticalkitError

from .dicom import read_dicom
from .ids import check_mode, file_error, sample_id, write_id_map
from .images import input_files, is_dicom_file, read_image
from .models import BadInput


def load_any(f: Path, info: dict[str, Any] | None = None) -> np.ndarray:
    """One file as float32 ``(C, H, W)`` in [0, 1]: an image, or DICOM read the way the model's
    training data was (``info``: the run's ``voi``, window and ``frame``; default header VOI, frame 0)."""
    if not is_dicom_file(f):
        return read_image(f)
    info = info or {}
    center, width = info.get("window_center"), info.get("window_width")
    img = read_dicom(f, voi_mode=info.get("voi", "auto"), window=(center, width) if center is not None else None)
    return img.frame(int(info.get("frame", 0)) if img.pixels.shape[0] > 1 else 0)


def read_input(path: str | Path, chunk_rows: int = 256, info: dict[str, Any] | None = None
               ) -> Iterator[tuple[list[Any], np.ndarray]]:
    """Yield ``(images, ids)`` chunks for ``verticalkit predict``.

    ``info`` is the saved predictor's dataset info: DICOM files are windowed as in training and
    ids follow the run's ``ids`` mode (:mod:`.ids`; ``hash`` of the relative path when the run
    has none, so file names, which may hold patient names, stay out of the outputs).
    A file that cannot be read comes alone in its chunk as a :class:`BadInput` (its reason
    naming the id, not the path), so the batch scorer reports it and scores the rest.
    ``info["id_map_file"]`` (set by ``verticalkit predict``: ``<output>.ids.csv``): where the
    id → relative path map of every input file is written (mode 0o600); reasons point to it.
    """
    path = Path(path)
    root = path if path.is_dir() else path.parent
    mode = check_mode(str((info or {}).get("ids") or "hash"), "the run's ids mode")
    map_file = (info or {}).get("id_map_file") if mode != "path" else None
    chunk_rows = max(1, min(int(chunk_rows), 256))
    images: list[Any] = []
    ids: list[str] = []
    files = input_files(path)
    sids = [sample_id(f, root, mode) for f in files]
    if map_file:  # before any error points to it
        write_id_map(map_file, [(sid, f.relative_to(root).as_posix()) for f, sid in zip(files, sids)])
    for f, sid in zip(files, sids):
        try:
            images.append(load_any(f, info))
            ids.append(sid)
        except VerticalkitError as e:
            yield [BadInput(file_error(str(e), f, root, sid, mode, map_file))], np.asarray([sid])
            continue
        if len(images) >= chunk_rows:
            yield images, np.asarray(ids)
            images, ids = [], []
    if images:
        yield images, np.asarray(ids)


def request_to_input(records: list[dict[str, Any]]) -> list[np.ndarray]:
    """Serving records → images: ``{"image_base64": <PNG/JPEG/DICOM bytes>}`` or
    ``{"pixels": [[...]]}`` (H x W or C x H x W, floats in [0, 1] or integers 0..255)."""
    out = []
    for i, r in enumerate(records):
        if "pixels" in r:
            arr = np.asarray(r["pixels"], dtype=np.float32)
            if arr.ndim not in (2, 3) or arr.size == 0:
                raise DataError(f"record {i}: field 'pixels' must be an H x W or C x H x W array")
            arr = arr / 255.0 if arr.max() > 1.0 else arr
            out.append(arr if arr.ndim == 3 else arr[None])
        elif "image_base64" in r:
            try:
                raw = base64.b64decode(r["image_base64"], validate=True)
            except (ValueError, TypeError):
                raise DataError(f"record {i}: field 'image_base64' is not valid base64") from None
            out.append(_decode_bytes(raw, i))
        else:
            raise DataError(f"record {i}: give field 'pixels' (array) or 'image_base64' (PNG/JPEG/DICOM bytes)")
    return out


def _decode_bytes(raw: bytes, i: int) -> np.ndarray:
    import tempfile

    suffix = ".dcm" if raw[128:132] == b"DICM" else ".png"
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / f"record{i}{suffix}"
        f.write_bytes(raw)
        try:
            return load_any(f)
        except DataError as e:
            raise DataError(f"record {i}: field 'image_base64': {str(e).split(': ', 1)[-1]}") from None


SERVE_EXAMPLE: dict[str, Any] = {"pixels": np.linspace(0, 1, 64).reshape(8, 8).round(3).tolist()}
