"""Layout rules from docs/architecture.md that code review alone would miss."""

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


def _markdown_files() -> list[Path]:
    skip = {".venv", ".git", "runs", "node_modules"}
    return [f for f in ROOT.rglob("*.md") if not skip & set(f.relative_to(ROOT).parts)]


def test_doc_links_resolve_inside_the_repository():
    # a fresh clone has nothing beside it: every relative link must land on a file of the repo
    import re

    bad = []
    for f in _markdown_files():
        for target in re.findall(r"\]\(([^)#\s]+)", f.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            path = (f.parent / target).resolve()
            if not path.is_relative_to(ROOT) or not path.exists():
                bad.append(f"{f.relative_to(ROOT)} -> {target}")
    assert not bad, bad


def test_design_lives_in_the_repository():
    assert (ROOT / "docs" / "architecture.md").is_file()
    bad = [str(f.relative_to(ROOT)) for folder in ("core", "verticals", "docs", "tests")
           for f in (ROOT / folder).rglob("*") if f.suffix in {".py", ".md", ".yaml"}
           and f != Path(__file__).resolve() and "DESIGN.md" in f.read_text(encoding="utf-8")]
    bad += ["README.md"] * ("DESIGN.md" in (ROOT / "README.md").read_text(encoding="utf-8"))
    assert not bad, bad


def test_medical_ids_does_not_import_inputs():
    # inputs.py builds on ids.py; ids.py importing inputs (even inside a function) was a circle
    f = ROOT / "verticals" / "medical_imaging" / "ids.py"
    mods = {("." * n.level) + (n.module or "") for n in ast.walk(ast.parse(f.read_text())) if isinstance(n, ast.ImportFrom)}
    assert not {".inputs", "verticalkit.verticals.medical_imaging.inputs"} & mods, mods


MAX_TOP_LEVEL_CORE_MODULES = 6  # __init__, errors, io, config, registry, progress: the rest lives in a concern


def test_core_is_laid_out_by_concern():
    # core/ must not silently flatten again: few top-level modules, each sub-package documented
    top = sorted(f.name for f in (ROOT / "core").glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_CORE_MODULES, f"core/ top level holds {top}: put new modules in a sub-package"
    packages = [d for d in (ROOT / "core").iterdir() if d.is_dir() and d.name != "__pycache__"]
    assert len(packages) >= 5, packages
    for d in packages:
        init = d / "__init__.py"
        assert init.is_file(), f"core/{d.name}/ has no __init__.py (setup.py would not install it)"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and "May import" in doc, f"core/{d.name}/__init__.py: docstring must say what lives there and what it may import"
