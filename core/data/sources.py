"""Where a dataset's files come from.

Resolution order (docs/architecture.md): an explicit path; ``$VERTICALKIT_DATA/<dataset-id>/``;
the user cache ``~/.cache/verticalkit/<dataset-id>/``; a download from the card's
source, only when the user asked for it, checked against its sha256 (or md5) and
written atomically.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from pathlib import Path

from ..errors import DataError

DATA_ENV = "VERTICALKIT_DATA"


def cache_dir() -> Path:
    """The user cache folder (``$XDG_CACHE_HOME/verticalkit`` or ``~/.cache/verticalkit``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "verticalkit"


def candidate_dirs(dataset_id: str) -> list[Path]:
    """The folders searched for a dataset, in order (explicit paths excluded)."""
    dirs = []
    if os.environ.get(DATA_ENV):
        dirs.append(Path(os.environ[DATA_ENV]) / dataset_id)
    dirs.append(cache_dir() / dataset_id)
    return dirs


def resolve_source(
    dataset_id: str,
    filenames: tuple[str, ...] | list[str],
    path: str | Path | None = None,
    *,
    urls: dict[str, str] | None = None,
    checksums: dict[str, str] | None = None,
    download: bool = False,
) -> Path:
    """Return the path of the first of ``filenames`` found for ``dataset_id``.

    ``path`` may be a file (returned as is) or a folder (searched for ``filenames``).
    ``urls`` / ``checksums`` map a file name to its download address and its
    ``sha256:<hex>`` or ``md5:<hex>``; they are used only when ``download`` is true.
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_file():
            return p
        if p.is_dir():
            for name in filenames:
                if (p / name).is_file():
                    return p / name
            raise DataError(
                f"{p}: none of {list(filenames)} found in this folder; "
                f"point --set data.path=... at the file itself or a folder that holds it"
            )
        raise DataError(f"{p}: no such file or folder; check data.path")
    searched = candidate_dirs(dataset_id)
    for d in searched:
        for name in filenames:
            if (d / name).is_file():
                return d / name
    if download and urls:
        name = next(n for n in filenames if n in urls)
        dest = cache_dir() / dataset_id / name
        fetch(urls[name], dest, (checksums or {}).get(name))
        return dest
    where = ", ".join(str(d) for d in searched)
    hint = f"run `verticalkit data fetch {dataset_id}`" if urls else "download it by hand (see its card in datasets/)"
    raise DataError(
        f"dataset {dataset_id!r}: none of {list(filenames)} found in {where}; "
        f"set {DATA_ENV} to the folder that holds {dataset_id}/, pass data.path, or {hint}"
    )


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_checksum(path: str | Path, expected: str) -> None:
    """Raise :class:`DataError` unless ``path`` matches ``expected`` (``sha256:<hex>`` or ``md5:<hex>``)."""
    algorithm, _, want = expected.partition(":")
    if not want:
        algorithm, want = "sha256", expected
    got = file_digest(path, algorithm)
    if got.lower() != want.lower():
        raise DataError(
            f"{path}: {algorithm} checksum mismatch (expected {want}, got {got}); "
            f"the file is corrupt or a different version: delete it and fetch it again"
        )


def fetch(url: str, dest: str | Path, checksum: str | None = None) -> Path:
    """Download ``url`` to ``dest`` atomically; verify ``checksum`` before the file appears."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as resp:
            shutil.copyfileobj(resp, out)
        if checksum:
            verify_checksum(tmp, checksum)
        os.replace(tmp, dest)
    except OSError as e:
        raise DataError(f"download of {url} failed ({e}); check the network or fetch the file by hand") from e
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest
