"""verticalkit: domain AI solutions kit — the Python API.

    import verticalkit as vk

    vk.verticals()                                   # ['essay_scoring', 'fraud', 'medical_imaging']
    vk.datasets("fraud"), vk.models("fraud")
    splits = vk.load_dataset("fraud", "german-credit", fold=0)
    run = vk.train("fraud", "german-credit", "scorecard", train={"epochs": 5}, seed=0)
    run.metrics["roc_auc"], run.ci["roc_auc"], run.report_path
    run = vk.train("fraud", data=my_frame, target="is_fraud")   # your own table, in memory
    model = vk.load(run.dir)                         # or any run directory on disk
    model.predict(df)                                # DataFrame: id, score(s), prediction
    vk.evaluate(run.dir, split="val")
    vk.heads.TfidfLinearText(text_column="review_body")   # head families to compose a vertical

Everything here is a thin layer over the functions the ``verticalkit`` command line calls
(``verticalkit.core``); nothing heavy (torch, scikit-learn) is imported until it is used.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_API = ("models", "load_dataset", "train", "load", "evaluate", "monitor", "Run", "Evaluation", "Model")
__all__ = [*_API, "verticals", "datasets", "__version__"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from .api import Evaluation, Model, Run, evaluate, load, load_dataset, models, monitor, train


class _CallablePackage(types.ModuleType):
    """A sub-package that is also an API function: ``vk.verticals()`` lists the verticals while
    ``verticalkit.verticals.fraud`` stays the fraud package; ``vk.datasets("fraud")`` likewise
    beside the data-only ``verticalkit.datasets`` (the dataset cards). Importing a sub-package
    binds its name on the parent, so a plain function of that name would be replaced."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from . import api

        return getattr(api, self.__name__.rpartition(".")[2])(*args, **kwargs)


def _data_package() -> types.ModuleType:
    """``verticalkit.datasets``, the data-only (namespace) package of dataset cards.

    An editable install maps it to the repository's ``datasets/`` folder, but setuptools'
    editable finder cannot serve a namespace package below a regular package: build its
    module from the folder beside this one (the repository layout) when the import fails.
    """
    name = f"{__name__}.datasets"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        root = Path(__file__).resolve().parent.parent
        spec = importlib.machinery.PathFinder.find_spec(name, [str(root)]) if (root / "datasets").is_dir() else None
        if spec is None:
            raise
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        return module


importlib.import_module(f"{__name__}.verticals").__class__ = _CallablePackage
_data_package().__class__ = _CallablePackage
datasets = sys.modules[f"{__name__}.datasets"]


def __getattr__(name: str) -> Any:
    # PEP 562: `import verticalkit` stays cheap; the API module (and what it imports) loads on first use.
    if name in _API:
        from . import api

        return getattr(api, name)
    if name == "heads":  # the head families: vk.heads.TfidfLinearText(text_column=...)
        return importlib.import_module(f"{__name__}.core.families")
    raise AttributeError(f"module 'verticalkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API, "heads"])
