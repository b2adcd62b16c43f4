import hashlib

import numpy as np
import pytest

from verticalkit.core.errors import DataError
from verticalkit.core.data.sources import fetch, resolve_source, verify_checksum
from verticalkit.core.data.splits import grouped_split, sample_rows, stratified_split, temporal_split


def test_resolution_order(tmp_path, monkeypatch):
    env, cache, explicit = tmp_path / "env", tmp_path / "cache", tmp_path / "explicit"
    for d in (env / "ds", cache / "verticalkit" / "ds", explicit):
        d.mkdir(parents=True)
        (d / "f.csv").write_text(str(d))
    monkeypatch.setenv("VERTICALKIT_DATA", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    assert resolve_source("ds", ("f.csv",), explicit) == explicit / "f.csv"
    assert resolve_source("ds", ("f.csv",)) == env / "ds" / "f.csv"
    (env / "ds" / "f.csv").unlink()
    assert resolve_source("ds", ("f.csv",)) == cache / "verticalkit" / "ds" / "f.csv"


def test_missing_data_names_places_and_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("VERTICALKIT_DATA", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    with pytest.raises(DataError, match=r"'ds'.*f\.csv.*VERTICALKIT_DATA"):
        resolve_source("ds", ("f.csv",))
    with pytest.raises(DataError, match="no such file"):
        resolve_source("ds", ("f.csv",), tmp_path / "missing.csv")


def test_checksum_and_atomic_fetch(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    good = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    verify_checksum(src, good)
    verify_checksum(src, "md5:" + hashlib.md5(b"hello").hexdigest())
    with pytest.raises(DataError, match="checksum mismatch"):
        verify_checksum(src, "sha256:" + "0" * 64)
    dest = tmp_path / "out" / "f.bin"
    fetch(src.as_uri(), dest, good)
    assert dest.read_bytes() == b"hello"
    bad_dest = tmp_path / "out" / "g.bin"
    with pytest.raises(DataError, match="checksum mismatch"):
        fetch(src.as_uri(), bad_dest, "sha256:" + "0" * 64)
    assert not bad_dest.exists() and list((tmp_path / "out").iterdir()) == [dest]


def _disjoint_cover(parts, n):
    allidx = np.concatenate(parts)
    assert len(allidx) == n and len(np.unique(allidx)) == n


def test_stratified_split_is_seeded_stratified_disjoint():
    y = np.array([0] * 950 + [1] * 50)
    a = stratified_split(1000, y, 0.2, 0.1, seed=1)
    b = stratified_split(1000, y, 0.2, 0.1, seed=1)
    c = stratified_split(1000, y, 0.2, 0.1, seed=2)
    _disjoint_cover(a, 1000)
    assert all(np.array_equal(x, z) for x, z in zip(a, b))
    assert not np.array_equal(a[2], c[2])
    assert y[a[2]].sum() == 10 and len(a[2]) == 200 and len(a[1]) == 100


def test_grouped_split_keeps_groups_together():
    rng = np.random.default_rng(0)
    groups = rng.integers(0, 60, size=600)
    y = (rng.random(600) < 0.3).astype(int)
    tr, va, te = grouped_split(groups, y, seed=3)
    _disjoint_cover((tr, va, te), 600)
    sets = [set(groups[i]) for i in (tr, va, te)]
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])


def test_temporal_split_orders_by_time():
    t = np.random.default_rng(0).permutation(100)
    tr, va, te = temporal_split(t, 0.2, 0.1)
    assert t[tr].max() < t[va].min() and t[va].max() < t[te].min() and len(te) == 20


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os
    import stat

    from verticalkit.core.io import atomic_dir, atomic_write_text

    mask = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        with atomic_dir(tmp_path / "d") as d:
            (d / "f").write_text("y")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755


def test_sample_rows_keeps_small_inputs_and_samples_large_ones_in_order():
    import pandas as pd

    df = pd.DataFrame({"a": np.arange(50)})
    assert sample_rows(df, 50) is df
    part = sample_rows(df, 10, seed=3)
    assert len(part) == 10 and part["a"].is_monotonic_increasing and part["a"].is_unique
    assert part["a"].tolist() == sample_rows(df, 10, seed=3)["a"].tolist()  # seeded
    assert sample_rows(np.arange(50), 10, seed=3).tolist() == part["a"].tolist()
    assert sample_rows(list(range(50)), 10, seed=3) == part["a"].tolist()
