"""Batch scoring (core/serve/batch.py): bad rows go to a side file, output is atomic, parquet and CSV agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from verticalkit.core.serve.batch import predict_file
from verticalkit.core.errors import DataError
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import input_schema


@pytest.fixture
def toy_predictor(toy):
    from toy_vertical import LogReg

    s = toy.tiny_data(0)
    head = LogReg().fit(s.train.X, s.train.y)
    return Predictor(head, vertical="toy", model="logreg", dataset="toy", task=s.task,
                     input_schema=input_schema(s.train.X))


def good_frame(n: int = 10, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def write_with_bad_rows(path) -> pd.DataFrame:
    """10 good rows, plus row 3 with a non-number and row 8 with an empty value (12 rows)."""
    good = good_frame()
    rows = [dict(r) for r in good.to_dict("records")]
    rows.insert(3, {"a": "not-a-number", "b": 1.0})
    rows.insert(8, {"a": 0.5, "b": None})
    pd.DataFrame(rows).to_csv(path, index=False)
    return good


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_bad_rows_go_to_errors_file(toy_predictor, tmp_path, suffix):
    good = write_with_bad_rows(tmp_path / "in.csv")
    out = tmp_path / f"out{suffix}"
    summary = predict_file(toy_predictor, tmp_path / "in.csv", out, chunk_rows=5, progress=False)
    assert summary["rows"] == 10 and summary["errors"] == 2
    scored = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert len(scored) == 10
    assert sorted(scored["id"]) == [i for i in range(12) if i not in (3, 8)]
    np.testing.assert_allclose(scored["score"].to_numpy(), toy_predictor.predict_score(good), rtol=1e-12)
    errs = pd.read_csv(summary["errors_file"])
    assert list(errs["id"]) == [3, 8]
    assert "not-a-number" in errs["error"][0] and "'a'" in errs["error"][0]
    assert errs["error"][1]  # the model's own complaint about the empty value


def test_id_column_and_extra_columns(toy_predictor, tmp_path):
    df = good_frame(7)
    df.insert(0, "txn", [f"t{i}" for i in range(7)])
    df["unused"] = "x"  # columns the model was not trained on are ignored
    df.to_csv(tmp_path / "in.csv", index=False)
    summary = predict_file(toy_predictor, tmp_path / "in.csv", tmp_path / "o.csv", id_column="txn", progress=False)
    out = pd.read_csv(tmp_path / "o.csv")
    assert summary["errors"] == 0 and list(out["id"]) == list(df["txn"])
    np.testing.assert_allclose(out["score"], toy_predictor.predict_score(df[["a", "b"]]))


def test_missing_column_is_fatal_and_output_untouched(toy_predictor, tmp_path):
    pd.DataFrame({"a": [1.0, 2.0]}).to_csv(tmp_path / "in.csv", index=False)
    out = tmp_path / "o.csv"
    out.write_text("previous output\n")
    with pytest.raises(DataError, match="missing column.*'b'"):
        predict_file(toy_predictor, tmp_path / "in.csv", out, progress=False)
    assert out.read_text() == "previous output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "o.csv"]  # no temp file left


def test_stale_errors_file_removed(toy_predictor, tmp_path):
    good_frame().to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "o.csv.errors.csv").write_text("id,error\n1,old\n")
    summary = predict_file(toy_predictor, tmp_path / "in.csv", tmp_path / "o.csv", progress=False)
    assert summary["errors"] == 0 and not (tmp_path / "o.csv.errors.csv").exists()


@pytest.mark.parametrize("kind,expected", [("binary", ["id", "score", "prediction"]),
                                           ("multiclass", ["id", "p_a", "p_b", "prediction"]),
                                           ("multioutput", ["id", "pred_a", "pred_b"])])
def test_empty_chunk_has_the_full_chunk_columns(kind, expected):
    """A chunk whose rows all failed still writes the header a full chunk would (all task kinds)."""
    from types import SimpleNamespace

    from verticalkit.core.serve.batch import _empty_scores, scored_frame
    from verticalkit.core.data.adapter import Task

    task = Task(kind=kind, target="y", primary_metric="x", classes=[] if kind == "binary" else ["a", "b"])
    predictor = SimpleNamespace(task=task, head=object())
    frame = scored_frame(predictor, pd.DataFrame({"x": []}), np.zeros(0), np.arange(0), _empty_scores(predictor))
    assert list(frame.columns) == expected and len(frame) == 0


def test_parquet_chunks_are_read_one_at_a_time(tmp_path):
    """Reading a parquet file in chunks holds about one chunk in Arrow memory, not the file
    (pyarrow's default pre-buffering would read every row group first)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from verticalkit.core.serve.batch import read_table_chunks

    rng = np.random.default_rng(0)
    table = pa.Table.from_pandas(pd.DataFrame(rng.normal(size=(20_000, 10)), columns=[f"c{i}" for i in range(10)]),
                                 preserve_index=False)
    path = tmp_path / "big.parquet"
    with pq.ParquetWriter(path, table.schema, compression="none") as writer:
        for _ in range(20):  # 400k rows, 32 MB of doubles, 40 row groups of 10k rows
            writer.write_table(table, row_group_size=10_000)
    base, peak, rows = pa.total_allocated_bytes(), 0, 0
    for chunk in read_table_chunks(path, 10_000):
        rows += len(chunk)
        peak = max(peak, pa.total_allocated_bytes() - base)
    assert rows == 400_000
    file_bytes = 400_000 * 10 * 8
    assert peak < file_bytes / 8, f"Arrow held {peak / 2**20:.1f} MiB while reading a {file_bytes / 2**20:.0f} MiB file"
