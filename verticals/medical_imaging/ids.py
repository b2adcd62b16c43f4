"""Sample ids for files (DICOM / image folders) that carry no patient identifier.

File names often hold patient names or MRNs (``SMITH_JOHN_1234.dcm``), so a path is not a
safe id for predictions, reports or logs. Modes (``data.ids``; batch prediction uses the
training run's mode, ``hash`` when the run did not come from a folder):

* ``hash`` (default for DICOM folders): ``f-`` + 16 hex chars of a salted sha256 of the
  relative path. Set a secret salt in ``$VERTICALKIT_ID_SALT`` (at training and prediction)
  so nobody without it can confirm a guessed file name; map ids back to files with
  :func:`id_table`.
* ``sop_uid``: the file's SOPInstanceUID (DICOM; other files fall back to ``hash``). Links
  back to the archive; de-identify first (UIDs are remapped) if the output leaves the site.
* ``path``: the relative path (opt-in; only for folders whose names hold no identifier).
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from verticalkit.core.errors import ConfigError, VerticalkitError

from .images import input_files

ID_MODES = ("hash", "sop_uid", "path")
SALT_ENV = "VERTICALKIT_ID_SALT"


def check_mode(mode: str, where: str = "data.ids") -> str:
    if mode not in ID_MODES:
        raise ConfigError(f"{where}={mode!r}: choose one of {', '.join(ID_MODES)}")
    return mode


def hashed_path(rel: str) -> str:
    """``f-<16 hex>``: salted (``$VERTICALKIT_ID_SALT``) sha256 of a relative path."""
    salt = os.environ.get(SALT_ENV, "verticalkit")
    return "f-" + hashlib.sha256(f"{salt}:path:{rel}".encode()).hexdigest()[:16]


def sample_id(f: Path, root: Path, mode: str) -> str:
    """The id of file ``f`` under ``root`` in ``mode`` (see the module docstring)."""
    rel = f.relative_to(root).as_posix() if f != root else f.name
    if mode == "path":
        return rel
    if mode == "sop_uid":
        from .images import is_dicom_file

        if is_dicom_file(f):
            from .dicom import read_dataset

            try:
                uid = read_dataset(f, stop_before_pixels=True).get("SOPInstanceUID")
            except Exception:  # noqa: BLE001 - an unreadable file gets the hashed id; its error comes later
                uid = None
            if uid:
                return str(uid)
    return hashed_path(rel)


def scrub(message: str, f: Path, root: Path, sid: str) -> str:
    """``message`` with the file's path (absolute and relative) replaced by its id."""
    rel = f.relative_to(root).as_posix() if f != root else f.name
    for text in (str(f), f.as_posix(), rel, f.name):
        message = message.replace(text, sid)
    return message


def id_table(folder: str | Path, mode: str = "hash") -> pd.DataFrame:
    """``path, id`` for every DICOM / image file under ``folder``: join predictions back to files
    (keep this table at the site: it links ids to possibly identifying file names)."""
    root = Path(folder)
    files = input_files(root)
    base = root if root.is_dir() else root.parent
    return pd.DataFrame({"path": [f.relative_to(base).as_posix() for f in files],
                         "id": [sample_id(f, base, check_mode(mode, "mode")) for f in files]})


MAP_HINT = "the file behind an id is listed in {map}"


def write_id_map(dest: str | Path, rows: list[tuple[str, str]]) -> Path:
    """Write ``id,path`` rows to ``dest``, readable by its owner only (0o600: it links ids to
    possibly identifying file names), created that way, then moved into place."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".tmp")  # mode 0o600
    try:
        with os.fdopen(fd, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["id", "path"])
            w.writerows(rows)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def file_error(message: str, f: Path, root: Path, sid: str, mode: str, map_file: str | Path | None) -> str:
    """A read error about file ``f`` as it may be shown: the path replaced by the sample id
    (unless ids are paths) and, when there is one, where the id → path map is."""
    if mode == "path":
        return message
    message = scrub(message, f, root, sid)
    return f"{message} ({MAP_HINT.format(map=map_file)})" if map_file else message


ID_TABLE_HINT = ("ids name files here because file names may identify patients; list each file's id with "
                 "`python -c \"from verticalkit.verticals.medical_imaging.ids import id_table; "
                 "print(id_table('DATA_PATH').to_string())\"` at the site")


def read_named(reader: Callable[[Path], Any], f: Path, root: Path, mode: str) -> Any:
    """``reader(f)``, its errors naming the file by its sample id, not its path (training data)."""
    try:
        return reader(f)
    except VerticalkitError as e:
        if mode == "path":
            raise
        message = file_error(str(e), f, root, sample_id(f, root, mode), mode, None)
        raise type(e)(f"{message}; {ID_TABLE_HINT}") from None
