"""SHA-256 manifests of saved model and export folders.

:func:`write_manifest` records the hash of every file in a folder (``manifest.json``) when
the kit saves it; :func:`verify_manifest` refuses to load a folder whose files differ from
the record: a changed, missing or added file. A folder saved before manifests existed has
none and is refused too; retrain, or, for a folder you trust, record its current files::

    python -m verticalkit.core.heads.manifest runs/x/model
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

from ..errors import ModelLoadError

MANIFEST = "manifest.json"
FORMAT = "verticalkit.manifest/1"


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.relative_to(folder).as_posix() != MANIFEST)


def sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | Path) -> Path:
    """Write ``folder/manifest.json``: the SHA-256 of every other file in ``folder`` (recursive)."""
    from .base import write_json

    folder = Path(folder)
    files = {p.relative_to(folder).as_posix(): sha256(p) for p in _files(folder)}
    write_json(folder / MANIFEST, {"format": FORMAT, "algorithm": "sha256", "files": files})
    return folder / MANIFEST


def verify_manifest(folder: str | Path) -> None:
    """Raise ModelLoadError naming the file when ``folder`` does not match its manifest."""
    folder = Path(folder)
    file = folder / MANIFEST
    fix = f"retrain, or if you trust this folder run `python -m verticalkit.core.heads.manifest {folder}`"
    if not file.is_file():
        raise ModelLoadError(f"{file} not found: the folder was saved by an older verticalkit or altered; {fix}")
    try:
        doc = json.loads(file.read_text())
        files = doc["files"]
        assert doc.get("format") == FORMAT and isinstance(files, dict)
    except (ValueError, KeyError, TypeError, AssertionError) as e:
        raise ModelLoadError(f"{file}: not a verticalkit manifest; {fix}") from e
    for name, digest in files.items():
        p = folder / name
        if not p.is_file():
            raise ModelLoadError(f"{p}: listed in {file} but missing; the model folder is incomplete: {fix}")
        if sha256(p) != digest:
            raise ModelLoadError(f"{p}: SHA-256 differs from {file}; the file was changed after saving, "
                                 f"refusing to load it: {fix}")
    extra = [p.relative_to(folder).as_posix() for p in _files(folder)]
    extra = [n for n in extra if n not in files]
    if extra:
        raise ModelLoadError(f"{folder / extra[0]}: not listed in {file} ({len(extra)} such files); "
                             f"remove files added after saving, or {fix}")


def main(argv: list[str] | None = None) -> int:
    """``python -m verticalkit.core.heads.manifest DIR...``: record the current files of trusted folders
        (a run folder means its ``model/``)."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        print("usage: python -m verticalkit.core.heads.manifest MODEL_DIR [MODEL_DIR ...]  (only folders you trust)",
              file=sys.stderr)
        return 2
    for d in argv:
        folder = Path(d) / "model" if (Path(d) / "model" / "predictor.json").is_file() else Path(d)
        if not folder.is_dir():
            print(f"error: {d}: not a folder", file=sys.stderr)
            return 2
        print(f"wrote {write_manifest(folder)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
