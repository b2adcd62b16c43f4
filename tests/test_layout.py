"""Layout rules from DESIGN.md that code review alone would miss."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_core_never_imports_verticals():
    offenders = []
    for f in (ROOT / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [("." * node.level) + (node.module or "")]
            offenders += [f"{f.name}: {n}" for n in names if "verticals" in n]
    assert not offenders, offenders


def test_datasets_folder_is_not_a_python_package():
    # a top-level `datasets` package would shadow Hugging Face `datasets`
    assert not (ROOT / "datasets" / "__init__.py").exists()


def test_no_unsafe_weight_loading():
    bad = []
    for folder in ("core", "verticals"):
        for f in (ROOT / folder).rglob("*.py"):
            for i, line in enumerate(f.read_text().splitlines(), 1):
                if "torch.load(" in line and "weights_only=True" not in line:
                    bad.append(f"{f.relative_to(ROOT)}:{i}")
                if "pickle.load" in line or "joblib.load" in line:
                    bad.append(f"{f.relative_to(ROOT)}:{i}")
    assert not bad, bad
