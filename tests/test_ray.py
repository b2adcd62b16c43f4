"""predict --engine ray: Ray Data on a local 2-worker instance gives the local path's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("ray.data", reason="Ray Data not installed (pip install 'verticalkit[ray]')")

from verticalkit.core.serve.batch import predict_file  # noqa: E402
from verticalkit.core.heads.predictor import Predictor  # noqa: E402
from verticalkit.core.serve.ray_engine import predict_file_ray  # noqa: E402
from verticalkit.core.train.run import input_schema  # noqa: E402

TESTS = str(Path(__file__).parent)


def test_ray_matches_local(toy, tmp_path):
    from toy_vertical import LogReg

    s = toy.tiny_data(0)
    predictor = Predictor(LogReg().fit(s.train.X, s.train.y), vertical="toy", model="logreg", dataset="toy",
                          task=s.task, input_schema=input_schema(s.train.X))
    rng = np.random.default_rng(3)
    df = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)}).astype(object)
    df.loc[17, "a"] = "bad"
    df.loc[1503, "b"] = "also bad"
    df.to_csv(tmp_path / "in.csv", index=False)

    local = predict_file(predictor, tmp_path / "in.csv", tmp_path / "local.parquet", chunk_rows=300, progress=False)
    # the workers import the toy head's module from tests/
    dist = predict_file_ray(predictor, tmp_path / "in.csv", tmp_path / "ray.parquet", chunk_rows=300,
                            progress=False, num_workers=2, runtime_env={"env_vars": {"PYTHONPATH": TESTS}})
    assert local["rows"] == dist["rows"] == 1998 and local["errors"] == dist["errors"] == 2
    a, b = pd.read_parquet(tmp_path / "local.parquet"), pd.read_parquet(tmp_path / "ray.parquet")
    # Ray workers are other processes (maybe other BLAS threads): scores agree to float rounding,
    # not bit for bit (2 of 1,998 differed in the last bits on a second machine)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9, atol=1e-12)
    assert (a["id"] == b["id"]).all()
    assert (tmp_path / "local.parquet.errors.csv").read_text() == (tmp_path / "ray.parquet.errors.csv").read_text()
