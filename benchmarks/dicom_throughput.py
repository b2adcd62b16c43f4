"""DICOM throughput: the kit's DICOM → tensor path vs pydicom's ``pixel_array`` alone, and batch prediction.

    python benchmarks/dicom_throughput.py [--reps 7] [--threads 1] [--copies 48]

File sets (same files for every path; the set is skipped when its files are absent):

* ``bundled``: pydicom's own uncompressed greyscale test files (CT_small, MR_small and its
  implicit-VR / big-endian variants; 64-128 px);
* ``large``: the uncompressed radiographs and slices of the pip package ``pydicom-data``
  (CR 1955x1841 and 1760x1760, MR 1024x1024, CT 512x512, MR 484x484);
* ``compressed``: the JPEG 2000 / JPEG Lossless versions of those (pydicom-data; decoded by
  the pylibjpeg plug-ins, the optional ``dicom`` extra).

Paths, each over every file of a set, files in the page cache (read once before timing):

* ``pydicom``: ``pydicom.dcmread(f).pixel_array`` (decoding only, no LUTs);
* ``pydicom + float32 cast``: the same, then ``astype(np.float32)``: no LUT either, the least a
  path that hands a model float pixels does on top of pydicom (the kit writes float32 too);
* ``kit read``: :func:`read_dicom` (modality LUT → VOI → MONOCHROME1 inversion → [0, 1], metadata);
* ``kit read+resize``: the batch-prediction input path (read, centre-crop, resize to 224 px).

Times are medians of ``--reps`` interleaved repetitions (each reads the set ``INNER`` times). Goal: kit read / pydicom ≥ 0.9 in
images per second on the uncompressed sets. Batch prediction: ``predict_file`` on a folder
of ``--copies`` copies of each set's files with the ``cnn`` head (64 px input), end to end
(read, preprocess, model, CSV written), files per second.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path


sys.path.insert(0, str(Path(__file__).parent))
from _common import load_vertical, save_results  # noqa: E402

BUNDLED = ("CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm")
LARGE = ("RG1_UNCR.dcm", "RG3_UNCR.dcm", "MR2_UNCR.dcm", "693_UNCR.dcm", "MR-SIEMENS-DICOM-WithOverlays.dcm")
INNER = {"bundled": 25, "large": 4, "compressed": 1}
COMPRESSED = ("RG1_J2KR.dcm", "RG3_J2KR.dcm", "MR2_J2KR.dcm", "693_J2KR.dcm", "JPEG-LL.dcm")


def find(names: tuple[str, ...]) -> list[Path]:
    """Local copies of pydicom test files (never downloaded); missing ones are left out."""
    from pydicom.data import get_testdata_file

    out = []
    for name in names:
        try:
            f = get_testdata_file(name, download=False)
        except Exception:  # noqa: BLE001 - pydicom-data not installed
            f = None
        if f:
            out.append(Path(f))
    return out


def pydicom_path(files: list[Path]) -> None:
    import pydicom

    for f in files:
        pydicom.dcmread(f).pixel_array


def pydicom_float(files: list[Path]) -> None:
    import numpy as np
    import pydicom

    for f in files:
        pydicom.dcmread(f).pixel_array.astype(np.float32)


def kit_read(files: list[Path]) -> None:
    from verticalkit.verticals.medical_imaging.dicom import read_dicom

    for f in files:
        read_dicom(f)


def kit_read_resize(files: list[Path]) -> None:
    from verticalkit.verticals.medical_imaging.images import resize
    from verticalkit.verticals.medical_imaging.inputs import load_any

    for f in files:
        resize(load_any(f), 224)


PATHS = {"pydicom pixel_array": pydicom_path, "pydicom + float32 cast": pydicom_float, "kit read": kit_read,
         "kit read+resize 224": kit_read_resize}


def time_paths(files: list[Path], reps: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {p: [] for p in PATHS}
    for fn in PATHS.values():  # warm: page cache, imports, decoders
        fn(files)
    order = list(PATHS)
    for r in range(reps):
        for name in (order if r % 2 == 0 else order[::-1]):
            t = time.perf_counter()
            PATHS[name](files)
            times[name].append(time.perf_counter() - t)
    return times


def predictor_for_folders():
    """A cnn Predictor (1 epoch on synthetic 64 px images): the model part of batch prediction."""
    from verticalkit.core.config import TrainConfig
    from verticalkit.core.heads.base import FitContext
    from verticalkit.core.heads.predictor import Predictor
    from verticalkit.verticals.medical_imaging.models import CNNHead
    from verticalkit.verticals.medical_imaging.tiny import synthetic_images

    vertical = load_vertical("medical_imaging")
    X, y, _ = synthetic_images(n=64, size=64)
    splits = vertical.tiny_data(0)
    ctx = FitContext(task=splits.task, seed=0, train=TrainConfig(epochs=1, progress=False, patience=None))
    head = CNNHead(width=16).fit(X, y, context=ctx)
    return Predictor(head, vertical="medical_imaging", model="cnn", dataset="dicom-folder", task=splits.task,
                     info={"voi": "auto", "frame": 0, "ids": "hash"})


def batch_predict(predictor, files: list[Path], copies: int) -> tuple[int, float]:
    from verticalkit.core.serve.batch import predict_file

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for c in range(copies):
            for f in files:
                shutil.copy(f, folder / f"{c:03d}_{f.name}")
        list(folder.iterdir())
        t = time.perf_counter()
        summary = predict_file(predictor, folder, Path(tmp) / "out.csv", progress=False)
        return int(summary["rows"]), time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--copies", type=int, default=48, help="copies of the bundled set for batch prediction "
                                                             "(the large sets use a quarter)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    sets = {"bundled": find(BUNDLED), "large": find(LARGE), "compressed": find(COMPRESSED)}
    rows = []
    predictor = predictor_for_folders()
    for set_name, files in sets.items():
        if not files:
            print(f"{set_name}: files not found (install pydicom-data), skipped")
            continue
        inner = INNER[set_name]  # each timed pass reads the set this many times (ms-scale sets are noisy)
        mb = inner * sum(f.stat().st_size for f in files) / 2**20
        times = time_paths(files * inner, args.reps)
        base = statistics.median(times["pydicom pixel_array"])
        for path, ts in times.items():
            med = statistics.median(ts)
            rows.append({"set": set_name, "files": len(files) * inner, "MiB": round(mb, 2), "path": path,
                         "median_s": round(med, 4), "images_per_s": round(inner * len(files) / med, 1),
                         "MiB_per_s": round(mb / med, 1), "ratio_vs_pydicom": round(base / med, 3)})
        copies = args.copies if set_name == "bundled" else max(1, args.copies // 4)
        n, secs = batch_predict(predictor, files, copies)
        rows.append({"set": set_name, "files": n, "MiB": round(mb / inner * copies, 2), "path": "batch predict (cnn, CSV)",
                     "median_s": round(secs, 4), "images_per_s": round(n / secs, 1),
                     "MiB_per_s": round(mb / inner * copies / secs, 1), "ratio_vs_pydicom": ""})
    command = (f"python benchmarks/dicom_throughput.py --reps {args.reps} --threads {args.threads} "
               f"--copies {args.copies}")
    notes = (f"CPU, {args.threads} torch thread(s), on a 2-core machine shared with other jobs. Medians of "
             f"{args.reps} interleaved repetitions, each reading every file of a set {INNER} times; ratio_vs_pydicom = pydicom time / "
             f"path time (images per second relative to pydicom's dcmread + pixel_array; goal for 'kit read' "
             f">= 0.9 on uncompressed files). Batch predict: one timed run of predict_file on a folder of copies "
             f"(read, modality LUT/VOI, resize to 64 px, cnn, ids hashed, CSV written). Sets: bundled = "
             f"{', '.join(f.name for f in sets['bundled'])}; large = {', '.join(f.name for f in sets['large'])}; "
             f"compressed = {', '.join(f.name for f in sets['compressed'])}.")
    save_results("dicom_throughput", rows, command, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
