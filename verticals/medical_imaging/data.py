"""Dataset adapters of the medical imaging vertical.

* MedMNIST 2D, one adapter per flag (``pneumoniamnist``, ``chestmnist``, ...): reads
  ``<flag>[_<size>].npz``, the official train/val/test split; fetched from Zenodo (md5
  checked) only with ``data.download=true``.
* ``dicom-folder``: a folder of DICOM files and a labels CSV (file name or SOPInstanceUID
  → label); split grouped by the *hashed* PatientID so no patient is on two sides.
* ``image-folder``: ImageFolder layout (``<root>/<class>/*.png``, or
  ``<root>/{train,val,test}/<class>/``), PNG/JPEG/TIFF, grey or RGB.

``X`` is an ``(N, C, H, W)`` array (uint8 for MedMNIST, float32 in [0, 1] otherwise).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.errors import ConfigError, DataError
from verticalkit.core.data.sources import candidate_dirs, resolve_source
from verticalkit.core.data.splits import grouped_split, stratified_split
from verticalkit.core.families.pixels import match_channels, resize

from .dicom import VOI_MODES, hash_patient_id, read_dicom
from .ids import check_mode, read_named, sample_id
from .images import IMAGE_SUFFIXES, decode_errors, decode_image, is_dicom_file
from .medmnist import FLAGS, SIZES, Flag

SPLITS = ("train", "val", "test")

log = logging.getLogger(__name__)


TASKS = ("auto", "ordinal")
# a class name with one of these words is the negative class of a two-class folder by default
NEGATIVE_WORDS = {"normal", "healthy", "benign", "negative", "control", "none", "no", "absent", "nofinding"}


def classification_task(kind: str, classes: list[str], target: str = "label") -> Task:
    """binary / multiclass / multilabel; ``ordinal`` (graded classes, in order) is a multi-class task with
    ``ordered=True``: the multi-class metrics plus QWK, MAE and exact / adjacent agreement (primary: QWK)."""
    ordered = kind == "ordinal" and len(classes) > 2
    kind = "multiclass" if kind == "ordinal" else kind
    if kind == "multiclass" and len(classes) == 2:
        kind = "binary"
    return Task(kind=kind, target=target, primary_metric="qwk" if ordered else "roc_auc", classes=list(classes),
                ordered=ordered)


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ConfigError(f"data.task={task!r}: choose auto (binary / multi-class / multi-label from the labels) "
                          f"or ordinal (graded classes in order: QWK, MAE, adjacent agreement)")
    return task


def _looks_negative(name: str) -> bool:
    words = re.split(r"[^0-9a-z]+", str(name).lower())
    return any(w in NEGATIVE_WORDS for w in words) or re.sub(r"[^a-z]", "", str(name).lower()) == "nofinding"


def positive_index(classes: list[str], positive_class: str | int | None, default: int | None = None) -> int:
    """The index of the positive class of a two-class task: ``positive_class`` by name (first) or
    index; when None, ``default``, else class 1 unless only class 1 looks like a normal / negative
    class (``NEGATIVE_WORDS``: ``disease`` vs ``healthy`` -> disease)."""
    if positive_class is None:
        if default is not None:
            return default
        neg = [_looks_negative(c) for c in classes]
        return 0 if neg[1] and not neg[0] else 1
    names = [str(c) for c in classes]
    text = str(positive_class).strip()
    if text in names:
        return names.index(text)
    lowered = [n.lower() for n in names]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    if re.fullmatch(r"[01]", text):
        return int(text)
    raise ConfigError(f"data.positive_class={positive_class!r} is not a class of this task; give a class name "
                      f"({', '.join(map(repr, names))}) or index 0 / 1")


def orient_binary(y: np.ndarray, classes: list[str], positive: int) -> tuple[np.ndarray, list[str]]:
    """Labels and class names with the positive class at index 1 (what every binary metric,
    threshold and P(class 1) score refers to)."""
    if positive == 1:
        return y, list(classes)
    return (1 - np.asarray(y)).astype(np.int64), [classes[1], classes[0]]


def _binary_check(positive_class: Any, classes: list[str], multilabel: bool) -> None:
    if positive_class is not None and (multilabel or len(classes) != 2):
        what = "a multi-label task" if multilabel else f"{len(classes)} classes"
        raise ConfigError(f"data.positive_class={positive_class!r} applies to two-class tasks; this one has {what} "
                          f"(remove the setting)")


# --------------------------------------------------------------------------- MedMNIST


class MedMNIST(DatasetAdapter):
    """A MedMNIST 2D dataset (``flag``), official splits; ``size`` 28 / 64 / 128 / 224.

    max_train: keep at most this many training images (seeded, stratified subset) for quick runs.
    positive_class: binary flags: the positive (disease) class, by name or official label index; default
    the flag's disease class (BreastMNIST: ``malignant``, official label 0). It becomes class 1 here, so
    P(class 1), sensitivity, PPV and thresholds refer to it (AUROC and accuracy are unchanged).
    """

    flag: Flag = FLAGS["pneumoniamnist"]

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False, size: int = 28,
                 max_train: int | None = None, positive_class: str | int | None = None):
        super().__init__(path, seed, download)
        self.size = size
        self.max_train = max_train
        self.positive_class = positive_class

    def load(self) -> DatasetSplits:
        flag = self.flag
        if self.size not in SIZES:
            raise ConfigError(f"data.size={self.size}: MedMNIST sizes are {', '.join(map(str, SIZES))}")
        name = flag.file_name(self.size)
        file = resolve_source(self.id, (name,), self.path, urls={name: flag.url(self.size)},
                              checksums={name: flag.checksum(self.size)}, download=self.download)
        arrays = read_npz(file, flag)
        task = classification_task(flag.task, list(flag.labels))
        info: dict[str, Any] = {}
        _binary_check(self.positive_class, task.classes, task.kind == "multilabel")
        if task.kind == "binary":
            pos = positive_index(list(flag.labels), self.positive_class, flag.positive)
            _, task.classes = orient_binary(np.zeros(0), list(flag.labels), pos)
            arrays = {k: (X, orient_binary(y, list(flag.labels), pos)[0]) for k, (X, y) in arrays.items()}
            info = {"positive_class": task.classes[1], "positive_label_official": pos}
        parts = {}
        for split in SPLITS:
            X, y = arrays[split]
            ids = np.array([f"{split}-{i:06d}" for i in range(len(y))])
            parts[split] = Split(X=X, y=y, ids=ids)
        if self.max_train is not None and self.max_train < len(parts["train"]):
            parts["train"] = parts["train"].subset(_subsample(parts["train"].y, self.max_train, self.seed))
        return DatasetSplits(self.id, task, parts["train"], parts["val"], parts["test"], protocol="official-split",
                             info={"source_file": file.name, "size": self.size, "medmnist_task": flag.task,
                                   "channels": flag.channels, "licence": flag.licence, **info})


def _subsample(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    if y.ndim == 1 and len(np.unique(y)) > 1 and n >= 2 * len(np.unique(y)):
        from sklearn.model_selection import train_test_split

        keep, _ = train_test_split(np.arange(len(y)), train_size=n, random_state=seed, stratify=y)
    else:
        keep = np.random.default_rng(seed).permutation(len(y))[:n]
    return np.sort(keep)


def read_npz(file: Path, flag: Flag) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{split: (X uint8 (N, C, H, W), y)}`` from a MedMNIST npz, with schema checks."""
    try:
        npz = np.load(file, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DataError(f"{file}: not a readable .npz file ({type(e).__name__}); delete it and fetch it again "
                        f"(`verticalkit data fetch {flag.name}`)") from None
    out = {}
    with npz:
        for split in SPLITS:
            for key in (f"{split}_images", f"{split}_labels"):
                if key not in npz.files:
                    raise DataError(f"{file}: key {key!r} missing (found {npz.files}); a MedMNIST npz holds "
                                    f"train/val/test _images and _labels: fetch the official file "
                                    f"(`verticalkit data fetch {flag.name}`)")
            X, y = npz[f"{split}_images"], npz[f"{split}_labels"]
            X = _to_nchw(X, file, split, flag.channels)
            y = _labels(y, file, split, flag)
            if len(X) != len(y):
                raise DataError(f"{file}: {split}_images has {len(X)} rows but {split}_labels has {len(y)}")
            out[split] = (X, y)
    return out


def _to_nchw(X: np.ndarray, file: Path, split: str, channels: int) -> np.ndarray:
    if X.ndim == 3:
        X = X[:, None]
    elif X.ndim == 4 and X.shape[-1] in (1, 3):
        X = np.transpose(X, (0, 3, 1, 2))
    else:
        raise DataError(f"{file}: {split}_images has shape {X.shape}; expected (N, H, W) or (N, H, W, 3) "
                        f"(3D MedMNIST volumes are not supported)")
    if X.shape[1] != channels:
        raise DataError(f"{file}: {split}_images has {X.shape[1]} channel(s); this flag has {channels}")
    return np.ascontiguousarray(X)


def _labels(y: np.ndarray, file: Path, split: str, flag: Flag) -> np.ndarray:
    """Class indices ``(N,)`` (or ``(N, k)`` 0/1 for multi-label), checked: shape, integers, range."""
    y = np.asarray(y)
    k = flag.n_classes
    fix = f"the file is not {flag.name}: fetch the official file (`verticalkit data fetch {flag.name}`)"
    if flag.task == "multilabel":
        if y.ndim != 2 or y.shape[1] != k:
            raise DataError(f"{file}: {split}_labels has shape {y.shape}; {flag.name} needs (N, {k}), one 0/1 "
                            f"column per label; {fix}")
        bad = np.argwhere(~np.isin(y, (0, 1)))
        if len(bad):
            r, c = (int(i) for i in bad[0])
            raise DataError(f"{file}: {split}_labels row {r}, column {c} ({flag.labels[c]!r}) holds "
                            f"{y[r, c].item()!r}; multi-label targets are 0/1 ({len(bad)} cell(s) outside); {fix}")
        return y.astype(np.int64)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(f"{file}: {split}_labels has shape {y.shape}; {flag.name} is single-label ({flag.task}): "
                        f"expected (N, 1) or (N,) class indices 0..{k - 1}; {fix}")
    if y.dtype.kind not in "iub":
        frac = np.flatnonzero(~np.isfinite(y) | (y != np.round(y))) if y.dtype.kind in "fc" else np.arange(len(y))
        if len(frac):
            raise DataError(f"{file}: {split}_labels row {int(frac[0])} holds {y[frac[0]].item()!r}, not a class index "
                            f"0..{k - 1} of {flag.name}; {fix}")
    out = np.flatnonzero((y < 0) | (y >= k))
    if len(out):
        r = int(out[0])
        raise DataError(f"{file}: {split}_labels row {r} is outside the class range 0..{k - 1} of {flag.name} "
                        f"(value {y[r].item()!r}; {len(out)} row(s) outside); {fix}")
    return y.astype(np.int64)


def medmnist_adapter(flag: Flag) -> type[MedMNIST]:
    """The adapter class of one MedMNIST flag (dataset id = the flag)."""
    return type(f"MedMNIST_{flag.name}", (MedMNIST,), {
        "id": flag.name, "flag": flag, "files": (flag.file_name(28),), "card": f"{flag.name}.yaml",
        "__module__": __name__,
        "description": f"MedMNIST {flag.name} ({flag.task}, {flag.n_classes} labels, {flag.channels} channel(s), "
                       f"official split {'/'.join(map(str, flag.n_samples))})"})


MEDMNIST_ADAPTERS: dict[str, type[MedMNIST]] = {name: medmnist_adapter(f) for name, f in FLAGS.items()}


# --------------------------------------------------------------------------- shared


def _labels_to_index(values: pd.Series, where: str) -> tuple[np.ndarray, list[str]]:
    """Class names sorted (numeric-aware) and the index of each label."""
    if values.isna().any():
        row = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise DataError(f"{where}: label missing in row {row + 2}; give every listed image a label or drop its row")
    as_str = values.astype(str).str.strip()
    uniq = sorted(set(as_str), key=lambda s: (0, float(s), s) if _is_number(s) else (1, 0.0, s))
    if len(uniq) < 2:
        raise DataError(f"{where}: only one class ({uniq}); a classifier needs at least two")
    index = {c: i for i, c in enumerate(uniq)}
    return as_str.map(index).to_numpy(dtype=np.int64), uniq


def _multilabel(values: pd.Series, sep: str, where: str) -> tuple[np.ndarray, list[str]]:
    """``(N, k)`` 0/1 targets and the sorted label names from ``a|b`` cells (empty / NaN: none)."""
    cells = [[t.strip() for t in str(v).split(sep) if t.strip()] if not pd.isna(v) else [] for v in values]
    classes = sorted({t for c in cells for t in c})
    if len(classes) < 2:
        raise DataError(f"{where}: multi-label cells ('{sep}'-separated) name {len(classes)} label(s); "
                        f"a multi-label task needs at least two")
    index = {c: j for j, c in enumerate(classes)}
    y = np.zeros((len(cells), len(classes)), dtype=np.int64)
    for i, c in enumerate(cells):
        y[i, [index[t] for t in c]] = 1
    return y, classes


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def _labels_path(labels: str | Path, folder: str | Path | None) -> Path:
    """data.labels: a file of the folder, else a path of its own (a relative one from the
    current directory, resolved), so ``--set data.labels=runs/x/labels.csv`` is not looked up
    inside the folder a second time."""
    p = Path(labels).expanduser()
    if p.is_absolute() or (folder is not None and (Path(folder) / p).is_file()) or not p.is_file():
        return p
    return p.resolve()


def read_labels_csv(csv: Path, columns_hint: str) -> pd.DataFrame:
    """A labels CSV with at least one row; unreadable or empty files are errors naming the file."""
    if not csv.is_file():
        raise DataError(f"{csv}: labels CSV not found; set data.labels to a CSV with columns {columns_hint}")
    try:
        table = pd.read_csv(csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{csv}: cannot read the labels CSV ({type(e).__name__}); give a CSV with a header row "
                        f"({columns_hint}) and one row per image") from None
    if table.empty:
        raise DataError(f"{csv}: the labels CSV has a header but no rows; list one image per row ({columns_hint})")
    return table


def _stack(images: list[np.ndarray], channels: int) -> np.ndarray:
    if channels == 0:
        channels = 3 if any(im.shape[0] == 3 for im in images) else 1
    return np.stack([match_channels(im, channels) for im in images]).astype(np.float32)


def _find_dir(dataset_id: str, path: str | Path | None) -> Path:
    if path is not None:
        p = Path(path).expanduser()
        if not p.exists():
            raise DataError(f"{p}: no such folder; check data.path")
        return p
    for d in candidate_dirs(dataset_id):
        if d.is_dir():
            return d
    raise DataError(f"dataset {dataset_id!r}: no folder given; pass --set data.path=<folder> or put the files "
                    f"under $VERTICALKIT_DATA/{dataset_id}/")


# --------------------------------------------------------------------------- DICOM folder


class DicomFolder(DatasetAdapter):
    """A folder of DICOM files with a labels CSV.

    labels: the CSV (a path, or a file name inside the folder); key_column: ``file`` (path
    relative to the folder, or a bare file name) or ``SOPInstanceUID`` (default: whichever
    the CSV has); label_column: the class column. Images go through :func:`read_dicom`
    (``voi`` mode, ``window_center``/``window_width`` for ``voi=window``), frame ``frame``,
    centre-cropped and resized to ``image_size``. The split is grouped by the hashed
    PatientID (a file without one is its own group) and stratified where counts allow.
    ids: sample ids in predictions and reports, ``hash`` (salted hash of the path; default),
    ``sop_uid`` or ``path`` (file names may hold patient names: see :mod:`.ids`).
    Multi-label: when a label cell holds ``label_separator`` (``|``: ``effusion|nodule``) the task
    is multi-label over every label seen (an empty cell: no finding) and the split is grouped,
    not stratified. task (``auto`` / ``ordinal``) and positive_class: as :class:`ImageFolder`.
    """

    id = "dicom-folder"
    card = "dicom-folder.yaml"
    description = "a folder of DICOM files + labels CSV (file name or SOPInstanceUID → label), patient-grouped split"
    files = ("labels.csv",)

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False,
                 labels: str = "labels.csv", key_column: str | None = None, label_column: str = "label",
                 image_size: int = 128, channels: int = 0, voi: str = "auto", window_center: float | None = None,
                 window_width: float | None = None, frame: int = 0, test_size: float = 0.2, val_size: float = 0.1,
                 ids: str = "hash", label_separator: str = "|", task: str = "auto",
                 positive_class: str | int | None = None):
        super().__init__(path, seed, download)
        self.task = task
        self.positive_class = positive_class
        self.ids = ids
        self.label_separator = label_separator
        self.labels = labels
        self.key_column = key_column
        self.label_column = label_column
        self.image_size = image_size
        self.channels = channels
        self.voi = voi
        self.window_center = window_center
        self.window_width = window_width
        self.frame = frame
        self.test_size = test_size
        self.val_size = val_size

    def _csv(self) -> tuple[Path, Path]:
        if self.path is not None and Path(self.path).is_file():
            return Path(self.path), Path(self.path).parent
        labels = _labels_path(self.labels, self.path)
        if labels.is_absolute():
            return labels, _find_dir(self.id, self.path)
        csv = resolve_source(self.id, (self.labels,), self.path)
        return csv, csv.parent

    def load(self) -> DatasetSplits:
        if self.voi not in VOI_MODES:
            raise ConfigError(f"data.voi={self.voi!r}: choose one of {', '.join(VOI_MODES)}")
        check_mode(self.ids)
        check_task(self.task)
        csv, root = self._csv()
        table = read_labels_csv(csv, f"file or SOPInstanceUID, {self.label_column}")
        key = self.key_column or next((c for c in ("file", "filename", "path", "SOPInstanceUID")
                                       if c in table.columns), None)
        if key is None or key not in table.columns:
            raise DataError(f"{csv}: key column {self.key_column or 'file / SOPInstanceUID'!r} not found (columns: "
                            f"{list(table.columns)}); set data.key_column")
        if self.label_column not in table.columns:
            raise DataError(f"{csv}: label column {self.label_column!r} not found (columns: {list(table.columns)}); "
                            f"set data.label_column")
        files = self._match(table[key].astype(str).tolist(), key, root, csv)
        labels = table[self.label_column]
        multilabel = bool(self.label_separator) and labels.astype(str).str.contains(self.label_separator,
                                                                                   regex=False).any()
        if multilabel:
            y, classes = _multilabel(labels, self.label_separator, str(csv))
        else:
            y, classes = _labels_to_index(labels, str(csv))
        y, classes, task, task_info = make_task(y, classes, multilabel=multilabel, task=self.task,
                                                positive_class=self.positive_class, target=self.label_column,
                                                where=str(csv))
        window = (self.window_center, self.window_width) if self.window_center is not None else None
        images, meta_rows, groups = [], [], []
        for f in files:
            img = read_named(lambda f: read_dicom(f, voi_mode=self.voi, window=window), f, root, self.ids)
            images.append(resize(img.frame(self.frame if img.pixels.shape[0] > 1 else 0), self.image_size))
            m = img.meta
            groups.append(m["patient"] or hash_patient_id(f.relative_to(root)))
            meta_rows.append({"sex": m["sex"], "age_band": m["age_band"], "manufacturer": m["manufacturer"],
                              "modality": m["modality"]})
        X = _stack(images, self.channels)
        groups_arr = np.asarray(groups)
        ids = np.asarray([sample_id(f, root, self.ids) for f in files])
        full = Split(X=X, y=y, ids=ids, groups=groups_arr, meta=pd.DataFrame(meta_rows))
        tr, va, te = grouped_split(groups_arr, None if multilabel else y, test_size=self.test_size,
                                   val_size=self.val_size, seed=self.seed)
        return DatasetSplits(self.id, task, full.subset(tr), full.subset(va), full.subset(te),
                             protocol=f"patient-grouped-{int(100 * (1 - self.test_size))}-{int(100 * self.test_size)}"
                                      f"-seed{self.seed}",
                             info={"n_patients": int(len(set(groups))), "image_size": self.image_size,
                                   "voi": self.voi, "window_center": self.window_center,
                                   "window_width": self.window_width, "frame": self.frame, "ids": self.ids,
                                   **task_info})

    @staticmethod
    def _match(keys: list[str], key: str, root: Path, csv: Path) -> list[Path]:
        if len(set(keys)) != len(keys):
            dup = next(k for k in keys if keys.count(k) > 1)
            raise DataError(f"{csv}: {key} {dup!r} is listed twice; one row per image")
        if key != "SOPInstanceUID":
            out = []
            by_name: dict[str, list[Path]] | None = None
            for row, k in enumerate(keys):
                p = root / k
                if not p.is_file():
                    if by_name is None:
                        by_name = {}
                        for f in root.rglob("*"):
                            if f.is_file():
                                by_name.setdefault(f.name, []).append(f)
                    hits = by_name.get(Path(k).name, [])
                    if len(hits) != 1:
                        raise DataError(f"{csv}: row {row + 2}, {key} {k!r}: "
                                        f"{'no such file' if not hits else 'several files have this name'} under "
                                        f"{root}; give the path relative to the CSV's folder")
                    p = hits[0]
                out.append(p)
            return out
        from .dicom import quiet_pydicom, read_dataset

        uid_to_file: dict[str, Path] = {}
        with quiet_pydicom():
            for f in sorted(root.rglob("*")):
                if f.is_file() and is_dicom_file(f):
                    ds = read_dataset(f, stop_before_pixels=True)
                    if ds.get("SOPInstanceUID"):
                        uid_to_file[str(ds.SOPInstanceUID)] = f
        missing = [i for i, k in enumerate(keys) if k not in uid_to_file]
        if missing:
            raise DataError(f"{csv}: row {missing[0] + 2}: no DICOM file under {root} has that SOPInstanceUID "
                            f"({len(missing)} row(s) unmatched); fix the CSV or add the files")
        return [uid_to_file[k] for k in keys]


# --------------------------------------------------------------------------- image folder


class ImageFolder(DatasetAdapter):
    """ImageFolder layout: ``<root>/<class>/<image>`` (split seeded and stratified), or
    ``<root>/train|val|test/<class>/<image>`` (that split; a missing ``val/`` (``test/``) is carved
    from ``train/``: ``val_size`` (``test_size``) of it, stratified, seeded). PNG / JPEG / TIFF / BMP of
    any size and mode (EXIF orientation applied); ``channels`` 0 = grey if every image is grey, else RGB.
    Files that are not images or cannot be decoded are skipped, counted and listed by sample id in the
    run's ``skipped_files.csv``; a class folder left without images is dropped (logged).
    ids: ``path`` (default), ``hash`` or ``sop_uid`` (see :mod:`.ids`); batch prediction uses the same mode.
    labels: a CSV (``file,label``, paths relative to the folder) instead of class folders; a cell with
    ``label_separator`` (``a|b``) makes the task multi-label (split seeded, unstratified).
    task: ``auto`` or ``ordinal`` (classes are grades in ``grades`` order, default the class names sorted
    numerically: ``grade_2`` before ``grade_10``). positive_class: two-class tasks, see :func:`positive_index`.
    """

    id = "image-folder"
    card = "image-folder.yaml"
    description = "a folder of PNG/JPEG images in ImageFolder layout (<root>/<class>/*.png)"
    files = ()

    def __init__(self, path: str | Path | None = None, seed: int = 42, download: bool = False,
                 image_size: int = 64, channels: int = 0, test_size: float = 0.2, val_size: float = 0.1,
                 ids: str = "path", labels: str | None = None, label_column: str = "label",
                 label_separator: str = "|", task: str = "auto", grades: list[str] | None = None,
                 positive_class: str | int | None = None):
        super().__init__(path, seed, download)
        self.ids = ids
        self.labels = labels
        self.label_column = label_column
        self.label_separator = label_separator
        self.image_size = image_size
        self.channels = channels
        self.test_size = test_size
        self.val_size = val_size
        self.task = task
        self.grades = grades
        self.positive_class = positive_class

    def load(self) -> DatasetSplits:
        check_mode(self.ids)
        check_task(self.task)
        root = _find_dir(self.id, self.path)
        if not root.is_dir():
            raise DataError(f"{root}: not a folder; image-folder expects <root>/<class>/<images>")
        if self.labels:
            return self._load_csv(root)
        present = [s for s in SPLITS if (root / s).is_dir()]
        official = "train" in present
        tops = [root / s for s in present] if official else [root]
        names = sorted({d.name for t in tops for d in t.iterdir() if d.is_dir() and not d.name.startswith(".")})
        skipped: list[tuple[str, str]] = []
        images, labels, sides, files = [], [], [], []
        for top in tops:
            for c in names:
                for f in sorted((top / c).rglob("*")) if (top / c).is_dir() else []:
                    img = self._read(f, root, skipped)
                    if img is not None:
                        images.append(img)
                        labels.append(c)
                        sides.append(top.name if official else "")
                        files.append(f)
        classes = self._classes(root, names, set(labels))
        index = {c: i for i, c in enumerate(classes)}
        y = np.asarray([index[c] for c in labels], dtype=np.int64)
        y, classes, task, info = make_task(y, classes, multilabel=False, task=self.task,
                                           positive_class=self.positive_class, target=self.label_column,
                                           where=str(root))
        X = _stack(images, self.channels)
        full = Split(X=X, y=y, ids=np.asarray([sample_id(f, root, self.ids) for f in files]))
        if official:
            sides_arr = np.asarray(sides)
            tr, va, te = (np.flatnonzero(sides_arr == s) for s in SPLITS)
            protocol = "folder-split"
            for name, size in (("test", self.test_size), ("val", self.val_size)):
                if name not in present:
                    tr, carved = _carve(tr, y, size, self.seed, f"{root}/train")
                    va, te = (carved, te) if name == "val" else (va, carved)
                    protocol += f"-{name}{round(100 * size)}pct-of-train-seed{self.seed}"
        else:
            tr, va, te = stratified_split(len(y), y, test_size=self.test_size, val_size=self.val_size, seed=self.seed)
            protocol = f"stratified-{int(100 * (1 - self.test_size))}-{int(100 * self.test_size)}-seed{self.seed}"
        info.update(_skipped_info(skipped))
        return DatasetSplits(self.id, task, full.subset(tr), full.subset(va), full.subset(te), protocol=protocol,
                             info={"image_size": self.image_size, "ids": self.ids, **info})

    def _read(self, f: Path, root: Path, skipped: list[tuple[str, str]]) -> np.ndarray | None:
        """The resized image, or None (hidden files silently; others recorded in ``skipped`` by id)."""
        if not f.is_file() or f.name.startswith("."):
            return None
        if f.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append((sample_id(f, root, self.ids), f"not an image file ({f.suffix.lower() or 'no suffix'})"))
            return None
        try:
            return resize(decode_image(f), self.image_size)
        except decode_errors() as e:
            skipped.append((sample_id(f, root, self.ids), f"unreadable image: corrupt, truncated or not "
                                                          f"{f.suffix.lower()[1:].upper()} ({type(e).__name__})"))
            return None

    def _classes(self, root: Path, names: list[str], seen: set[str]) -> list[str]:
        """Class names in index order: ``grades`` (ordinal) or the folders that hold images."""
        if self.grades is not None:
            if self.task != "ordinal":
                raise ConfigError("data.grades orders the classes of an ordinal task; set data.task=ordinal too")
            grades = [str(g) for g in self.grades]
            unknown = sorted(seen - set(grades))
            if unknown:
                raise DataError(f"{root}: class folder(s) {unknown} are not in data.grades {grades}; list every grade")
            return grades
        if len(names) < 2:
            raise DataError(f"{root}: found {len(names)} class folder(s); expected <root>/<class>/<images> "
                            f"with at least two classes")
        if not seen:
            raise DataError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in the class folders (or none "
                            f"readable); put the images in <root>/<class>/")
        empty = [c for c in names if c not in seen]
        if empty:
            log.warning("image-folder: %d class folder(s) without a readable image dropped: %s", len(empty), empty)
        classes = [c for c in names if c in seen]
        if self.task == "ordinal":
            classes = sorted(classes, key=_natural_key)
        if len(classes) < 2:
            raise DataError(f"{root}: only class {classes[0]!r} has readable images (no image in "
                            f"{', '.join(empty)}); a classifier needs images of at least two classes")
        return classes

    def _load_csv(self, root: Path) -> DatasetSplits:
        labels = _labels_path(self.labels, root)
        csv = labels if labels.is_absolute() else root / labels
        table = read_labels_csv(csv, f"file, {self.label_column}")
        key = next((c for c in ("file", "filename", "path") if c in table.columns), None)
        if key is None or self.label_column not in table.columns:
            raise DataError(f"{csv}: needs columns file and {self.label_column!r} (found {list(table.columns)}); "
                            f"rename them or set data.label_column")
        files = DicomFolder._match(table[key].astype(str).tolist(), key, root, csv)
        values = table[self.label_column]
        multilabel = bool(self.label_separator) and values.astype(str).str.contains(self.label_separator,
                                                                                   regex=False).any()
        y, classes = (_multilabel(values, self.label_separator, str(csv)) if multilabel
                      else _labels_to_index(values, str(csv)))
        if self.grades is not None and not multilabel:
            order = [str(g) for g in self.grades]
            if self.task != "ordinal" or sorted(order) != sorted(classes):
                raise ConfigError(f"data.grades {order} must list the labels of {csv} ({classes}), with "
                                  f"data.task=ordinal")
            y = np.asarray([order.index(classes[i]) for i in y], dtype=np.int64)
            classes = order
        skipped: list[tuple[str, str]] = []
        images = [self._read(f, root, skipped) for f in files]
        keep = np.flatnonzero([im is not None for im in images])
        if not len(keep):
            raise DataError(f"{csv}: none of the {len(files)} listed images could be read; check the files")
        y, files = y[keep], [files[i] for i in keep]
        y, classes, task, info = make_task(y, classes, multilabel=multilabel, task=self.task,
                                           positive_class=self.positive_class, target=self.label_column,
                                           where=str(csv))
        X = _stack([images[i] for i in keep], self.channels)
        full = Split(X=X, y=y, ids=np.asarray([sample_id(f, root, self.ids) for f in files]))
        tr, va, te = stratified_split(len(y), None if multilabel else y, test_size=self.test_size,
                                      val_size=self.val_size, seed=self.seed)
        protocol = f"{'random' if multilabel else 'stratified'}-{int(100 * (1 - self.test_size))}-" \
                   f"{int(100 * self.test_size)}-seed{self.seed}"
        info.update(_skipped_info(skipped))
        return DatasetSplits(self.id, task, full.subset(tr), full.subset(va), full.subset(te), protocol=protocol,
                             info={"image_size": self.image_size, "ids": self.ids, **info})


def make_task(y: np.ndarray, classes: list[str], *, multilabel: bool, task: str, positive_class: Any,
              target: str, where: str) -> tuple[np.ndarray, list[str], Task, dict[str, Any]]:
    """The task of a folder dataset (``data.task``, ``data.positive_class`` applied) and its labels
    in the task's class order (a binary task's positive class is class 1); ``info`` records both."""
    _binary_check(positive_class, classes, multilabel)
    if task == "ordinal" and multilabel:
        raise ConfigError(f"{where}: data.task=ordinal needs one grade per image; these labels are multi-label")
    info: dict[str, Any] = {}
    if not multilabel and len(classes) == 2:
        y, classes = orient_binary(y, classes, positive_index(classes, positive_class))
        info["positive_class"] = classes[1]
        log.info("%s: positive class %r (set data.positive_class to change it)", where, classes[1])
    kind = "multilabel" if multilabel else ("ordinal" if task == "ordinal" else "multiclass")
    if kind == "ordinal":
        info["grades"] = list(classes)
    return y, classes, classification_task(kind, classes, target=target), info


def _natural_key(name: str) -> list:
    """``grade_2`` before ``grade_10``: digit runs compare as numbers."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t.lower()) for t in re.split(r"(\d+)", str(name)) if t]


def _carve(train: np.ndarray, y: np.ndarray, size: float, seed: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """``size`` of the ``train`` rows split off (stratified on ``y`` when every class has two rows), seeded."""
    from sklearn.model_selection import train_test_split

    n = int(round(len(train) * size))
    if size <= 0 or n < 1 or len(train) - n < 1:
        log.warning("%s: no rows carved (size %s of %d images)", where, size, len(train))
        return train, train[:0]
    yt = y[train]
    _, counts = np.unique(yt, return_counts=True)
    strat = yt if counts.min() >= 2 and n >= len(counts) and len(train) - n >= len(counts) else None
    keep, carved = train_test_split(train, test_size=n, random_state=seed, stratify=strat)
    return np.sort(keep), np.sort(carved)


def _skipped_info(skipped: list[tuple[str, str]]) -> dict[str, Any]:
    """Counts by reason for the run's info, and the per-file list (ids, not paths) for ``skipped_files.csv``."""
    if not skipped:
        return {}
    by_reason: dict[str, int] = {}
    for _, reason in skipped:
        by_reason[reason] = by_reason.get(reason, 0) + 1
    text = "; ".join(f"{r}: {n}" for r, n in sorted(by_reason.items(), key=lambda kv: -kv[1]))
    log.warning("image-folder: %d file(s) skipped (%s); listed by sample id in the run's skipped_files.csv",
                len(skipped), text)
    return {"skipped_files": len(skipped), "skipped_reasons": text, "skipped": list(skipped)}


def adapters() -> dict[str, type[DatasetAdapter]]:
    """Every dataset of the vertical, by id."""
    return {**MEDMNIST_ADAPTERS, DicomFolder.id: DicomFolder, ImageFolder.id: ImageFolder}
