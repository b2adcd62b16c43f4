"""DICOM throughput: the kit's DICOM → tensor paths vs pydicom, and batch prediction.

    python benchmarks/dicom_throughput.py [--reps 7] [--threads 1] [--copies 48] [--device cpu] [--sets ...]

File sets (same files for every path; the set is skipped when its files are absent):

* ``synthetic``: generated here (seed 0): 8 uncompressed 2048x2048 12-bit radiographs (16 bits
  allocated, Rescale Slope 1 / Intercept -1024, a header window; 3 of them MONOCHROME1);
* ``synthetic-voi-lut``: 3 of those with a 4096-entry VOI LUT Sequence instead of the window;
* ``bundled``: pydicom's own uncompressed greyscale test files (CT_small, MR_small and its
  implicit-VR / big-endian variants; 64-128 px);
* ``large``: the uncompressed radiographs and slices of the pip package ``pydicom-data``
  (CR 1955x1841 and 1760x1760, MR 1024x1024, CT 512x512, MR 484x484);
* ``compressed``: the JPEG 2000 / JPEG Lossless versions of those (pydicom-data; decoded by
  the pylibjpeg plug-ins, the optional ``dicom`` extra).

Paths, each over every file of a set, files in the page cache (read once before timing):

* ``pydicom pixel_array``: ``pydicom.dcmread(f).pixel_array`` (decoding only, no LUTs);
* ``pydicom + float32 cast``: the same, then ``astype(np.float32)``: no LUT either, the least a
  path that hands a model float pixels does on top of pydicom;
* ``pydicom LUT pipeline``: ``apply_voi_lut(apply_modality_lut(pixel_array))``, scaled to [0, 1]
  by the VOI output range, MONOCHROME1 inverted, float32: the kit's output computed by pydicom;
* ``kit read``: :func:`read_dicom` per file (numpy; modality LUT → VOI → inversion → [0, 1], metadata);
* ``kit batch tensor``: :func:`read_stored` per file (the stored integers as a memory-mapped view of
  the file, the composed modality + VOI + inversion map as parameters) then :func:`to_tensor` (the
  maps applied in torch on ``--device`` into one ``(N, 1, H, W)`` float32 batch buffer per image
  size, reused from pass to pass as a data loader reuses its batch buffers);
* ``kit batch tensor, new buffer``: the same into a newly allocated tensor each pass;
* ``kit read+resize 224``: the batch-prediction input path (read, centre-crop, resize to 224 px).

Times are medians of ``--reps`` interleaved repetitions (each reads the set ``INNER`` times).
Goals (issue #17, uncompressed large files): kit batch tensor >= 1.0x ``pydicom + float32 cast`` and
>= 1.5x ``pydicom LUT pipeline``; ``max_abs_vs_luts``: the largest difference between the kit's
batch and the pydicom pipeline's pixels over the set's files that carry a header VOI (n/a: none do;
the kit then clips percentiles, which pydicom has no step for). Batch prediction: ``predict_file``
on a folder of ``--copies`` copies of each set's files with the ``cnn`` head (64 px input), end to
end (read, preprocess, model, CSV written), files per second.
"""

from __future__ import annotations

import argparse
import os
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
INNER = {"synthetic": 1, "synthetic-voi-lut": 1, "bundled": 25, "large": 4, "compressed": 1}
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


def synthetic(folder: Path, voi_lut: bool = False) -> list[Path]:
    """Large uncompressed radiographs (see the module docstring), written into ``folder``."""
    import numpy as np
    import pydicom
    from pydicom.data import get_testdata_file
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:2048, :2048]
    out = []
    for i in range(3 if voi_lut else 8):
        ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
        body = 1800 + 900 * np.exp(-((yy - 1024) ** 2 + (xx - 900 - 40 * i) ** 2) / (2 * 500.0 ** 2))
        pixels = np.clip(body + rng.normal(0, 120, body.shape), 0, 4095).astype(np.uint16)
        ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 2048, 2048, 16, 12, 11
        ds.PixelRepresentation, ds.RescaleSlope, ds.RescaleIntercept = 0, 1, -1024
        ds.PhotometricInterpretation = "MONOCHROME1" if i % 3 == 2 else "MONOCHROME2"
        if voi_lut:
            for k in ("WindowCenter", "WindowWidth"):
                if k in ds:
                    del ds[k]
            item = Dataset()
            item.LUTDescriptor = [4096, 0, 16]  # modality output 0..4095 (below 0: the first entry)
            item.add_new(0x00283006, "US", np.round(65535 * np.sqrt(np.linspace(0, 1, 4096))).astype(np.uint16).tolist())
            ds.VOILUTSequence = Sequence([item])
        else:
            ds.WindowCenter, ds.WindowWidth = 1000 + 50 * i, 2000 - 100 * i
        ds.PixelData = pixels.tobytes()
        ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
        out.append(folder / f"syn{'_lut' if voi_lut else ''}_{i}.dcm")
        ds.save_as(out[-1], enforce_file_format=True)
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


def pydicom_lut_pipeline(f: Path):
    """pydicom's modality LUT + VOI LUT, scaled to [0, 1] by the VOI's output range, MONOCHROME1
    inverted, float32: the kit's output computed by pydicom (for files with a header VOI)."""
    import numpy as np
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    ds = pydicom.dcmread(f)
    y = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds), ds, prefer_lut=True)
    if "VOILUTSequence" in ds:
        lo, hi = 0.0, 2.0 ** int(ds.VOILUTSequence[0].LUTDescriptor[2]) - 1
    else:  # a window's output spans the modality LUT's output range
        bits, signed = int(ds.BitsStored), int(ds.PixelRepresentation)
        lo, hi = (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1) if signed else (0.0, 2.0 ** bits - 1)
        if "RescaleSlope" in ds and "RescaleIntercept" in ds:
            lo, hi = sorted(v * float(ds.RescaleSlope) + float(ds.RescaleIntercept) for v in (lo, hi))
    y = ((y - lo) / (hi - lo)).astype(np.float32)
    return 1.0 - y if ds.PhotometricInterpretation == "MONOCHROME1" else y


def pydicom_luts(files: list[Path]) -> None:
    for f in files:
        pydicom_lut_pipeline(f)


DEVICE = "cpu"


BUFFERS: dict = {}  # batch buffers by shape, reused from pass to pass as a data loader does


def kit_batch(files: list[Path], reuse: bool = True):
    import torch

    from verticalkit.verticals.medical_imaging.dicom import read_stored, to_tensor

    images = [read_stored(f) for f in files]
    groups: dict = {}
    for img in images:
        groups.setdefault(img.stored.shape[-2:], []).append(img)
    batches = []
    for size, group in sorted(groups.items()):
        shape = (sum(len(i.stored) for i in group), 1, *size)
        if reuse and (shape, DEVICE) not in BUFFERS:
            BUFFERS[shape, DEVICE] = torch.empty(shape, device=DEVICE)
        batches.append(to_tensor(group, DEVICE, out=BUFFERS[shape, DEVICE] if reuse else None))
    if DEVICE != "cpu":
        torch.cuda.synchronize()
    return images, batches


def kit_batch_fresh(files: list[Path]):
    return kit_batch(files, reuse=False)


def max_abs_vs_luts(files: list[Path]):
    """The largest pixel difference between the kit's batch and pydicom's LUT pipeline over the
    files with a header VOI (None when none has one)."""
    import numpy as np
    import pydicom

    worst = None
    for f in files:
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        if ds.get("PhotometricInterpretation") not in ("MONOCHROME1", "MONOCHROME2") or not (
                "VOILUTSequence" in ds or "WindowCenter" in ds):
            continue
        _, [batch] = kit_batch([f], reuse=False)
        diff = float(np.abs(batch.cpu().numpy()[0, 0] - pydicom_lut_pipeline(f)).max())
        worst = diff if worst is None else max(worst, diff)
    return worst


def kit_read(files: list[Path]) -> None:
    from verticalkit.verticals.medical_imaging.dicom import read_dicom

    for f in files:
        read_dicom(f)


def kit_read_resize(files: list[Path]) -> None:
    from verticalkit.core.families.pixels import resize
    from verticalkit.verticals.medical_imaging.inputs import load_any

    for f in files:
        resize(load_any(f), 224)


PATHS = {"pydicom pixel_array": pydicom_path, "pydicom + float32 cast": pydicom_float,
         "pydicom LUT pipeline": pydicom_luts, "kit read": kit_read, "kit batch tensor": kit_batch,
         "kit batch tensor, new buffer": kit_batch_fresh,
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


SETS = ("synthetic", "synthetic-voi-lut", "bundled", "large", "compressed")


def main(argv: list[str] | None = None) -> int:
    global DEVICE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--copies", type=int, default=48, help="copies of the bundled set for batch prediction "
                                                             "(the large sets use a quarter; 0: no batch prediction)")
    ap.add_argument("--device", default="cpu", help="where 'kit batch tensor' applies the maps (cpu, cuda)")
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    args = ap.parse_args(argv)
    import torch

    DEVICE = args.device
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    tmp = Path(tempfile.mkdtemp(prefix="dicom_throughput_"))
    found = {"bundled": lambda: find(BUNDLED), "large": lambda: find(LARGE), "compressed": lambda: find(COMPRESSED),
             "synthetic": lambda: synthetic(tmp), "synthetic-voi-lut": lambda: synthetic(tmp, voi_lut=True)}
    sets = {name: found[name]() for name in args.sets}
    rows = []
    predictor = predictor_for_folders() if args.copies else None
    try:
        for set_name, files in sets.items():
            if not files:
                print(f"{set_name}: files not found (install pydicom-data), skipped")
                continue
            inner = INNER[set_name]  # each timed pass reads the set this many times (ms-scale sets are noisy)
            mb = inner * sum(f.stat().st_size for f in files) / 2**20
            diff = max_abs_vs_luts(files)
            times = time_paths(files * inner, args.reps)
            med = {path: statistics.median(ts) for path, ts in times.items()}
            for path, m in med.items():
                rows.append({"set": set_name, "files": len(files) * inner, "MiB": round(mb, 2), "path": path,
                             "median_s": round(m, 4), "images_per_s": round(inner * len(files) / m, 1),
                             "MiB_per_s": round(mb / m, 1),
                             "ratio_vs_pixel_array": round(med["pydicom pixel_array"] / m, 3),
                             "ratio_vs_float_cast": round(med["pydicom + float32 cast"] / m, 3),
                             "ratio_vs_luts": round(med["pydicom LUT pipeline"] / m, 3),
                             "max_abs_vs_luts": ("n/a" if diff is None else f"{diff:.2g}")
                             if path == "kit batch tensor" else ""})
            if predictor is None:
                continue
            copies = args.copies if set_name == "bundled" else max(1, args.copies // 4)
            n, secs = batch_predict(predictor, files, copies)
            rows.append({"set": set_name, "files": n, "MiB": round(mb / inner * copies, 2),
                         "path": "batch predict (cnn, CSV)", "median_s": round(secs, 4),
                         "images_per_s": round(n / secs, 1), "MiB_per_s": round(mb / inner * copies / secs, 1),
                         "ratio_vs_pixel_array": "", "ratio_vs_float_cast": "", "ratio_vs_luts": "",
                         "max_abs_vs_luts": ""})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    command = (f"python benchmarks/dicom_throughput.py --reps {args.reps} --threads {args.threads} "
               f"--copies {args.copies} --device {args.device} --sets {' '.join(args.sets)}")
    where = "CPU" if args.device == "cpu" else f"kit batch tensor on {args.device}, the rest on the CPU"
    notes = (f"{where}, {args.threads} torch thread(s), on a 2-core machine shared with other jobs (load "
             f"{os.getloadavg()[0]:.1f} at the end). Medians of {args.reps} interleaved repetitions, each reading every "
             f"file of a set {INNER} times; ratio_vs_X = X's time / the path's time (images per second relative "
             f"to X). Goals on the large uncompressed sets: kit batch tensor >= 1.0 vs float cast and >= 1.5 vs the "
             f"pydicom LUT pipeline. Batch predict: one timed run of predict_file on a folder of copies (read, "
             f"modality LUT/VOI, resize to 64 px, cnn, ids hashed, CSV written). Sets: "
             + "; ".join(f"{k} = {', '.join(f.name for f in v)}" for k, v in sets.items()) + ".")
    save_results("dicom_throughput", rows, command, notes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
