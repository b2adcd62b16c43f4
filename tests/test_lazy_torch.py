"""A scikit-learn run never imports torch (~0.5 GB of memory): the fraud vertical's torch heads
are imported on first use (core.registry.LazyModels), seeding, the run's versions and skops
leave torch alone. Each check runs in a fresh interpreter: this test process has torch loaded."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from verticalkit.core.registry import LazyModels


def run_python(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_lazy_models_import_on_first_use_only():
    models = LazyModels({"plain": dict, "later": "collections:OrderedDict"})
    assert "later" in models and "nope" not in models and list(models) == ["plain", "later"] and len(models) == 2
    assert isinstance(models._models["later"], str)  # `in`, listing: nothing imported yet
    from collections import OrderedDict

    assert models["later"] is OrderedDict and models.get("plain") is dict
    with pytest.raises(KeyError):
        models["nope"]


@pytest.mark.slow
def test_a_gbdt_run_leaves_torch_unloaded(tmp_path):
    out = run_python(f"""
        import sys
        import verticalkit.verticals.fraud as fraud
        from verticalkit.core.registry import register
        from verticalkit.core.train.run import build_config, train
        register(fraud.VERTICAL)
        assert "torch" not in sys.modules, "importing the vertical loaded torch"
        run = train(build_config("fraud", "german-credit", "gbdt", r"{tmp_path / 'run'}", None,
                                 ["model_params.max_iter=20", "eval.n_bootstrap=20", "train.progress=false"]))
        assert (run / "model").is_dir() and (run / "metrics.json").is_file()
        assert "torch" not in sys.modules, "the run loaded torch"
        fraud.VERTICAL.models["mlp"]
        print("torch" in sys.modules)
    """)
    assert out.strip().splitlines()[-1] == "True"  # the torch head itself still loads it
