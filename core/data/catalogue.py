"""The data catalogue: one YAML card per dataset in ``datasets/``.

A card holds ``id``, ``vertical``, ``title``, ``licence``, ``source`` (where to get
it), ``files`` (each ``name`` with ``sha256`` and/or ``md5`` and, when it may be
fetched, ``url``), ``schema`` and ``splits``. Small data whose licence allows it is
embedded beside the cards (``embedded:`` names the folder under ``datasets/``). Files that a pip
package ships are found in its folder (``packages:``, each with ``folder: <import name>/<sub-folder>``);
``user_data: true`` marks a layout for the user's own files (nothing to find or fetch).
"""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path
from typing import Any, Iterator

import yaml

from ..errors import ConfigError, DataError
from .sources import candidate_dirs, fetch, file_digest


def datasets_dir() -> Path:
    """The installed ``datasets/`` folder (cards and embedded data).

    ``verticalkit.datasets`` is a data-only namespace package: under an editable install
    its search path also holds the import hook's placeholder, so take the first real folder.
    """
    spec = importlib.util.find_spec("verticalkit.datasets")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if Path(location).is_dir():
            return Path(location)
    return Path(str(resources.files("verticalkit.datasets")))


def embedded_path(relative: str) -> Path:
    """Path of a file embedded under ``datasets/``."""
    return datasets_dir() / relative


def load_cards(dataset_id: str | None = None) -> list[dict[str, Any]]:
    cards = []
    for f in sorted(datasets_dir().glob("*.yaml")):
        card = yaml.safe_load(f.read_text())
        card["_file"] = str(f)
        cards.append(card)
    if dataset_id is not None:
        cards = [c for c in cards if c.get("id") == dataset_id]
        if not cards:
            raise ConfigError(f"no dataset card {dataset_id!r}; `verticalkit data list` shows the catalogue")
    return cards


def get_card(dataset_id: str) -> dict[str, Any]:
    return load_cards(dataset_id)[0]


def package_dir(folder: str) -> Path | None:
    """``<import name>/<sub-folder>`` of an installed package (files a pip package ships), or None."""
    top, _, sub = folder.partition("/")
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) / sub if locations else None


def _found_files(card: dict[str, Any]) -> Iterator[tuple[dict[str, Any], Path | None]]:
    dirs = candidate_dirs(card["id"])
    if card.get("embedded"):
        dirs.append(datasets_dir() / card["embedded"])
    dirs += [d for d in (package_dir(p["folder"]) for p in card.get("packages", [])) if d is not None]
    for spec in card.get("files", []):
        hit = next((d / spec["name"] for d in dirs if (d / spec["name"]).is_file()), None)
        yield spec, hit


def locate(card: dict[str, Any]) -> Path | None:
    """The folder holding the card's first file, or None."""
    for _, hit in _found_files(card):
        if hit is not None:
            return hit.parent
    return None


def verify(card: dict[str, Any]) -> Iterator[tuple[str, bool]]:
    """Yield ``(line, ok)`` for each of the card's files: found, and checksum-equal."""
    for spec, hit in _found_files(card):
        if hit is None:
            yield f"{card['id']}/{spec['name']}: not found", False
            continue
        for algo in ("sha256", "md5"):
            want = spec.get(algo)
            if want and not spec.get(f"{algo}_of_decompressed"):
                got = file_digest(hit, algo)
                ok = got.lower() == str(want).lower()
                yield f"{hit}: {algo} {'OK' if ok else f'MISMATCH (expected {want}, got {got})'}", ok
                break
        else:
            yield f"{hit}: found (the card gives no checksum for this file)", True


def fetch_card(card: dict[str, Any]) -> list[Path]:
    """Download every file of the card that has a ``url``, checksum-checked."""
    got = []
    fetchable = [s for s in card.get("files", []) if s.get("url")]
    if not fetchable:
        raise DataError(f"dataset {card['id']!r} cannot be downloaded automatically (licence or access terms); "
                        f"its card says where to get it: {card.get('source', card.get('_file'))}")
    for spec in fetchable:
        dest = candidate_dirs(card["id"])[-1] / spec["name"]
        checksum = f"sha256:{spec['sha256']}" if spec.get("sha256") else (f"md5:{spec['md5']}" if spec.get("md5") else None)
        got.append(fetch(spec["url"], dest, checksum))
    return got
