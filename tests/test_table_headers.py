"""Tables without a header row, and tables separated by single spaces (UCI style, e.g.
``german.data``): read as the user has them, the columns named ``c1 .. cN``."""

from __future__ import annotations

import numpy as np
import pytest

from verticalkit.core.data.tabular import header_looks_like_data, read_any_table, sniff
from verticalkit.core.tools.cli import main


def _uci_like(path, n=60, seed=0):
    """Space-separated, no header: coded categories (A11..), integers that repeat, a 1/2 target."""
    rng = np.random.default_rng(seed)
    lines = [" ".join([f"A1{rng.integers(1, 5)}", str(rng.integers(4, 60)), f"A3{rng.integers(0, 5)}",
                       str(rng.integers(250, 9000)), str(rng.integers(1, 5)), str(rng.integers(1, 5)),
                       str(rng.integers(1, 3))]) for _ in range(n)]
    lines[0] = "A11 6 A34 1169 4 4 1"  # the first row repeats a value, as german.data's does
    path.write_text("\n".join(lines) + "\n", encoding="latin1")
    return path


def test_space_separated_headerless_file_reads_every_row(tmp_path, capsys):
    f = _uci_like(tmp_path / "german.data")
    assert sniff(f)[0] == " "
    df = read_any_table(f, progress=False)
    assert list(df.columns) == [f"c{i}" for i in range(1, 8)]
    assert len(df) == 60  # the first row is data, not lost as a header
    assert df["c4"].iloc[0] == 1169 and str(df["c1"].iloc[0]) == "A11"
    assert "looks like data" in capsys.readouterr().err


def test_a_header_with_numeric_names_stays_a_header(tmp_path):
    f = tmp_path / "years.csv"
    f.write_text("region,2019,2020,label\nnorth,1.5,2.5,0\nsouth,3.0,4.0,1\n")
    assert not header_looks_like_data(["region", "2019", "2020", "label"])
    df = read_any_table(f, progress=False)
    assert list(df.columns) == ["region", "2019", "2020", "label"] and len(df) == 2


def test_header_can_be_forced_either_way(tmp_path):
    f = tmp_path / "plain.csv"
    f.write_text("a,b\n1,2\n3,4\n")
    df = read_any_table(f, progress=False, header=False)
    assert list(df.columns) == ["c1", "c2"] and len(df) == 3
    assert list(read_any_table(f, progress=False, header=True).columns) == ["a", "b"]


def test_prose_with_runs_of_spaces_is_not_taken_for_a_table(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("some free text  with double spaces\nand another line of it\n")
    assert sniff(f)[0] == ","


def test_inspect_no_header_names_the_setting_in_the_train_line(tmp_path, capsys):
    f = tmp_path / "t.csv"
    f.write_text("x,y,label\n" + "\n".join(f"{i},{i % 3},{i % 2}" for i in range(40)) + "\n")
    assert main(["data", "inspect", str(f), "--no-header", "--target", "c3"]) == 0
    out = capsys.readouterr().out
    assert "41 rows" in out and "data.header=false" in out


@pytest.mark.parametrize("header", [None, False])
def test_training_on_a_headerless_space_separated_file(tmp_path, header):
    f = _uci_like(tmp_path / "german.data", n=200)
    args = ["train", "fraud", "--dataset", "csv", "--model", "logreg", "--set", f"data.path={f}",
            "--set", "data.target=c7", "--set", "data.positive_label=2", "--set", "eval.report=false",
            "--set", "eval.n_bootstrap=20", "--out", str(tmp_path / "run")]
    if header is False:
        args += ["--set", "data.header=false"]
    assert main(args) == 0
    assert (tmp_path / "run" / "metrics.json").is_file()
