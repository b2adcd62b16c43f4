"""``verticalkit new-vertical NAME --path DIR``: write an installable plug-in vertical.

The package it writes passes its own test (which calls ``check_vertical``) as soon
as it is pip-installed: a dataset adapter over a small CSV it includes, one
scikit-learn head, a reference results file whose figure the scaffold measures
itself through the kit's train pipeline, and the entry point that registers it.
"""

from __future__ import annotations

import keyword
import re
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..errors import ConfigError

PYPROJECT = '''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "verticalkit-{dist}"
version = "0.1.0"
description = "A verticalkit plug-in vertical: {name}"
requires-python = ">=3.10"
dependencies = ["verticalkit"]

[project.entry-points."verticalkit.verticals"]
{name} = "{pkg}:VERTICAL"

[tool.setuptools]
packages = ["{pkg}"]

[tool.setuptools.package-data]
{pkg} = ["*.csv", "*.yaml"]
'''

INIT = '''"""The {name} vertical (a verticalkit plug-in)."""

from pathlib import Path

from verticalkit.core.registry import Vertical

from .data import ExampleAdapter
from .models import LogisticHead

VERTICAL = Vertical(
    id="{name}",
    description="{name}: describe the task here",
    datasets={{ExampleAdapter.id: ExampleAdapter}},
    models={{"logreg": LogisticHead}},
    primary_metric="roc_auc",
    default_dataset=ExampleAdapter.id,
    default_model="logreg",
    reference_results=Path(__file__).with_name("reference_results.yaml"),
    tiny_data=lambda seed: ExampleAdapter(seed=seed).load(),
)
'''

DATA = '''"""Dataset adapters of the {name} vertical."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from verticalkit.core.data.adapter import DatasetAdapter, DatasetSplits, Split, Task
from verticalkit.core.errors import DataError
from verticalkit.core.data.sources import resolve_source
from verticalkit.core.data.splits import stratified_split

HERE = Path(__file__).parent


class ExampleAdapter(DatasetAdapter):
    """A CSV with numeric feature columns and a 0/1 ``target`` column."""

    id = "{name}-example"
    description = "the example CSV shipped with the scaffold (replace with your data)"
    files = ("example.csv",)

    def __init__(self, path=None, seed: int = 42, download: bool = False, target: str = "target",
                 test_size: float = 0.2, val_size: float = 0.1):
        super().__init__(path, seed, download)
        self.target = target
        self.test_size = test_size
        self.val_size = val_size

    def load(self) -> DatasetSplits:
        path = self.path or (HERE / "example.csv")
        file = resolve_source(self.id, self.files, path)
        df = pd.read_csv(file)
        if self.target not in df.columns:
            raise DataError(f"{{file}}: target column {{self.target!r}} not found; set data.target to one of {{list(df.columns)}}")
        y = df.pop(self.target).to_numpy()
        ids = df.index.astype(str).to_numpy()
        train, val, test = stratified_split(len(df), y, self.test_size, self.val_size, seed=self.seed)
        full = Split(df, y, ids)
        task = Task(kind="binary", target=self.target, primary_metric="roc_auc", classes=["0", "1"])
        return DatasetSplits(self.id, task, full.subset(train), full.subset(val), full.subset(test),
                             protocol=f"stratified-seed{{self.seed}}")
'''

MODELS = '''"""Model heads of the {name} vertical."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from verticalkit.core.errors import DataError
from verticalkit.core.heads.base import SklearnHead


def numeric(X) -> np.ndarray:
    """The features as floats; text columns are an error that names them (encode them first)."""
    if isinstance(X, pd.DataFrame):
        text = [str(c) for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
        if text:
            raise DataError(f"column(s) {{text}} are not numeric; the example head takes numbers only: "
                            f"encode them in the adapter (e.g. one-hot) or drop them (data.py)")
    try:
        return np.asarray(X, dtype=float)
    except (TypeError, ValueError) as e:
        raise DataError(f"the features are not all numbers ({{e}}); encode or drop the text values") from e


class LogisticHead(SklearnHead):
    """Standardised logistic regression."""

    def __init__(self, C: float = 1.0, max_iter: int = 1000):
        self.C = C
        self.max_iter = max_iter

    def fit(self, X, y, X_val=None, y_val=None, context=None):
        self.pipeline_ = make_pipeline(StandardScaler(), LogisticRegression(C=self.C, max_iter=self.max_iter))
        self.pipeline_.fit(numeric(X), y)
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X):
        return self.pipeline_.predict_proba(numeric(X))

    def predict(self, X):
        return self.pipeline_.predict(numeric(X))
'''

TEST = '''from {pkg} import VERTICAL

from verticalkit.core.registry import get_vertical
from verticalkit.core.tools.testing import check_vertical


def test_registered_through_entry_point():
    assert get_vertical("{name}").id == "{name}"


def test_conforms():
    report = check_vertical(VERTICAL)
    assert report["models"]["logreg"]["reloaded_identical"]
'''


def example_csv(seed: int = 0, n: int = 300) -> pd.DataFrame:
    """A small synthetic binary table (4 features, ~30% positives) to replace with real data."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    logit = 1.5 * X[:, 0] - X[:, 1] + 0.5 * X[:, 2] - 0.8
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    df = pd.DataFrame(np.round(X, 4), columns=[f"x{i}" for i in range(4)])
    df["target"] = y
    return df


def new_vertical(name: str, path: str | Path, *, measure: bool = True) -> Path:
    """Write the plug-in package for vertical ``name`` under ``path``; return the folder."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ConfigError(f"vertical name {name!r} must be a lower-case Python identifier (letters, digits, _)")
    root = Path(path)
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} exists and is not empty; choose a new --path")
    pkg = f"verticalkit_{name}"
    fmt = {"name": name, "pkg": pkg, "dist": name.replace("_", "-")}
    src = root / pkg
    (root / "tests").mkdir(parents=True)
    src.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.format(**fmt))
    (src / "__init__.py").write_text(INIT.format(**fmt))
    (src / "data.py").write_text(DATA.format(**fmt))
    (src / "models.py").write_text(MODELS.format(**fmt))
    example_csv().to_csv(src / "example.csv", index=False)
    (root / "tests" / f"test_{name}.py").write_text(TEST.format(**fmt))
    (root / "README.md").write_text(
        f"# {name}: a verticalkit plug-in\n\n`pip install -e .` registers it; `verticalkit list` shows it; "
        f"`pytest` runs its conformance check.\n\nReplace `example.csv` (synthetic) with your data, then re-measure "
        f"`reference_results.yaml` with `verticalkit reproduce {name}` and update the value.\n")
    (src / "reference_results.yaml").write_text(yaml.safe_dump(_measure(name, src) if measure else [], sort_keys=False))
    return root


def _measure(name: str, src: Path) -> list[dict]:
    """Train the scaffold's head on its example data through the kit and record the figure."""
    import datetime
    import importlib.util
    import sys

    from ..config import RunConfig
    from ..registry import register, unregister
    from ..train.run import train

    spec = importlib.util.spec_from_file_location(src.name, src / "__init__.py", submodule_search_locations=[str(src)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[src.name] = module
    spec.loader.exec_module(module)
    vertical = module.VERTICAL
    register(vertical)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = RunConfig(vertical=name, dataset=f"{name}-example", model="logreg", out=f"{tmp}/run", seed=42)
            cfg.eval.report = False
            run = train(cfg)
            m = yaml.safe_load((run / "metrics.json").read_text())["metrics"]["roc_auc"]
    finally:
        unregister(name)
        for mod in [k for k in sys.modules if k == src.name or k.startswith(src.name + ".")]:
            del sys.modules[mod]
    return [{
        "dataset": f"{name}-example", "protocol": "stratified-70-10-20-seed42", "model": "logreg",
        "metric": "roc_auc", "value": round(float(m["value"]), 4), "ci95": [round(float(c), 4) for c in m["ci95"]],
        "seeds": [42], "tolerance": 0.01,
        "anchors": [{"name": "chance", "value": 0.5}],
        "command": f"verticalkit reproduce {name}", "hardware": "measured by `verticalkit new-vertical` at scaffold time",
        "measured": datetime.date.today().isoformat(),
        "note": "synthetic example data written by the scaffold; replace with your data and re-measure",
    }]
