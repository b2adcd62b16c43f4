"""Generators of messy image folders, as sites export them (for the medical vertical's tests).

* :func:`wild_folder`: two classes (the second brighter, so a model can learn it) of mixed sizes
  and modes: 8-bit grey, RGB, RGBA, palette, 16-bit grey PNG, an EXIF-rotated JPEG, plus a
  truncated PNG, a ``.txt`` note and a hidden file inside class folders, and an empty class folder;
  ``layout="train_test"`` puts it under ``train/`` and ``test/`` (no ``val/``); unicode class and
  root folder names on request.
* :func:`graded_folder`: an ordinal scale: grade ``g`` images hold a bright disc whose radius
  grows with the grade, on noise.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112
MODES = ("L", "RGB", "RGBA", "P", "I;16", "exif")


def _pixels(rng: np.random.Generator, h: int, w: int, level: float) -> np.ndarray:
    """float in [0, 1]: noise around ``level``, with a brighter square off-centre (so rotation shows)."""
    img = np.clip(rng.normal(level, 0.08, (h, w)), 0, 1)
    img[h // 8: h // 3, w // 8: w // 2] = min(1.0, level + 0.35)
    return img


def save_image(path: Path, img: np.ndarray, mode: str) -> None:
    """Write ``img`` (float (H, W) in [0, 1]) as ``mode``: L / RGB / RGBA / P PNG, I;16 PNG, or an
    ``exif`` JPEG stored rotated 90 degrees with Orientation=6 (a viewer rotates it back)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    u8 = (img * 255).round().astype(np.uint8)
    if mode == "I;16":
        Image.fromarray((img * 65535).round().astype(np.uint16)).save(path.with_suffix(".png"))
    elif mode == "exif":
        stored = np.rot90(u8, k=1)  # orientation 6 = rotate 90 clockwise to display
        exif = Image.Exif()
        exif[EXIF_ORIENTATION] = 6
        Image.fromarray(stored).convert("RGB").save(path.with_suffix(".jpg"), quality=95, exif=exif)
    elif mode == "RGBA":
        rgba = np.dstack([u8, u8, u8, np.full_like(u8, 200)])
        Image.fromarray(rgba, "RGBA").save(path.with_suffix(".png"))
    elif mode == "P":
        Image.fromarray(u8).convert("P").save(path.with_suffix(".png"))
    elif mode == "RGB":
        Image.fromarray(np.dstack([u8, u8, (u8 * 0.8).astype(np.uint8)])).save(path.with_suffix(".png"))
    else:
        Image.fromarray(u8, "L").save(path.with_suffix(".png"))


def truncated_png(path: Path, size: int = 32) -> None:
    """A PNG cut in the middle of its image data."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size), dtype=np.uint8)).save(buf, "PNG")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def wild_folder(root: Path, *, layout: str = "flat", classes: tuple[str, str] = ("normal", "disease"),
                n_per_class: int = 12, seed: int = 0) -> Path:
    """Write a messy two-class folder (see the module docstring); returns ``root``.

    ``flat``: ``root/<class>/``; ``train_test``: ``root/train/<class>/`` (``n_per_class``) and
    ``root/test/<class>/`` (half as many), no ``val/``. The broken files (truncated PNG, ``notes.txt``)
    are in the first class's training folder; an empty class folder ``empty_class`` sits beside the others.
    """
    rng = np.random.default_rng(seed)
    sides = {"": n_per_class} if layout == "flat" else {"train": n_per_class, "test": max(4, n_per_class // 2)}
    for side, n in sides.items():
        base = root / side if side else root
        for c, name in enumerate(classes):
            for i in range(n):
                h, w = int(rng.integers(20, 48)), int(rng.integers(20, 48))
                mode = MODES[i % len(MODES)]
                save_image(base / name / f"img_{i:03d}", _pixels(rng, h, w, 0.3 + 0.35 * c), mode)
        (base / "empty_class").mkdir(parents=True, exist_ok=True)
    broken = (root / "train" if layout != "flat" else root) / classes[0]
    truncated_png(broken / "truncated.png")
    (broken / "notes.txt").write_text("exported by the PACS viewer\n", encoding="utf-8")
    (broken / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return root


def graded_folder(root: Path, *, grades: int = 5, n_per_grade: int = 40, size: int = 32, seed: int = 0,
                  prefix: str = "grade_") -> Path:
    """``root/<prefix><g>/`` for g in 0..grades-1: a disc of radius growing with g on noise (grey PNG)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for g in range(grades):
        for i in range(n_per_grade):
            cy, cx = rng.uniform(size * 0.35, size * 0.65, 2)
            r = size * (0.08 + 0.07 * g) * rng.uniform(0.9, 1.1)
            img = np.clip(rng.normal(0.2, 0.07, (size, size)), 0, 1)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 0.85
            save_image(root / f"{prefix}{g}" / f"g{g}_{i:03d}", img, "L")
    return root
