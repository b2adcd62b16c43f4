"""A saved model folder is data, never code: skops files may hold only the exact types the kit
writes (no prefix trust), and every file must match the SHA-256 manifest written at save.

The attacks plant code into a real saved gbdt's ``schema.json`` (unzip, edit, rezip) and then
re-hash the manifest, so that the type check, not the hash, is what must refuse them."""

from __future__ import annotations

import itertools
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from verticalkit.core.tools.cli import main
from verticalkit.core.errors import ModelLoadError
from verticalkit.core.heads.base import FitContext, SklearnHead
from verticalkit.core.heads.manifest import MANIFEST, verify_manifest, write_manifest
from verticalkit.core.heads.predictor import Predictor
from verticalkit.core.train.run import input_schema

pytestmark = pytest.mark.usefixtures("fraud_registered")  # tests/conftest.py


@pytest.fixture(scope="module")
def german():
    from verticalkit.verticals.fraud import tiny_data

    return tiny_data(0)


@pytest.fixture(scope="module")
def gbdt_model(tmp_path_factory, german):
    """A saved fraud gbdt (its skops file holds ``partial(check_array)``: the richest type set)."""
    from verticalkit.verticals.fraud.models import GBDTHead

    run = tmp_path_factory.mktemp("trust") / "run"
    head = GBDTHead(max_iter=5).fit(german.train.X, german.train.y)
    Predictor(head, vertical="fraud", model="gbdt", dataset="german-credit", task=german.task,
              input_schema=input_schema(german.train.X)).save(run / "model")
    return run


# -- schema.json payloads -----------------------------------------------------------------------
_ids = itertools.count(1)


def _node(**kw):
    """A schema node with its own ``__id__`` (skops memoises nodes by id)."""
    return {**kw, "__id__": next(_ids)}


def _str(s):
    return _node(__class__="str", __module__="builtins", __loader__="JsonNode", content=json.dumps(s), is_json=True)


def _tuple(*items):
    return _node(__class__="tuple", __module__="builtins", __loader__="TupleNode", content=list(items))


def _list(*items):
    return _node(__class__="list", __module__="builtins", __loader__="ListNode", content=list(items))


def _call(module, name, *args):
    """skops calls the type with the arguments on load (how a timezone is restored)."""
    return _node(__class__=name, __module__=module, __loader__="ConstructorFromReduceNode", content=_tuple(*args))


def _func(module, name):
    return _node(__class__=name, __module__=module, __loader__="FunctionNode")


def _partial(func, *args):
    kwds = _node(__class__="dict", __module__="builtins", __loader__="DictNode", content={}, key_types=_list())
    return _node(__class__="partial", __module__="functools", __loader__="PartialNode",
                 content={"func": func, "args": _tuple(*args), "kwds": kwds, "namespace": _str(None)})


def _payloads(sentinel: Path) -> dict[str, tuple[dict, str]]:
    """name → (a schema node that writes ``sentinel`` when constructed, a type the refusal names)."""
    code = f"open({str(sentinel)!r}, 'w').close()"
    return {
        "exec": (_call("builtins", "exec", _str(code)), "builtins.exec"),
        "eval": (_call("builtins", "eval", _str(code)), "builtins.eval"),
        "os.system": (_call("os", "system", _str(f"touch '{sentinel}'")), "os.system"),
        "subprocess.Popen": (_call("subprocess", "Popen", _list(_str("touch"), _str(str(sentinel)))),
                             "subprocess.Popen"),
        # list(map(getattr(__import__('os'), 'system'), [cmd])): builtins only
        "getattr-chain": (_call("builtins", "list", _call("builtins", "map", _call(
            "builtins", "getattr", _call("builtins", "__import__", _str("os")), _str("system")),
            _list(_str(f"touch '{sentinel}'")))), "builtins.getattr"),
        # list(map(partial(exec), [code])): a partial, as scikit-learn's own partial(check_array)
        "partial-exec": (_call("builtins", "list", _call("builtins", "map", _partial(_func("builtins", "exec")),
                                                        _list(_str(code)))), "builtins.exec"),
        "partial-system": (_call("builtins", "list", _call("builtins", "map", _partial(_func("os", "system")),
                                                          _list(_str(f"touch '{sentinel}'")))), "os.system"),
    }


def _plant(model_dir: Path, node: dict, *, where: str = "attribute") -> None:
    """Rewrite ``head/model.skops``'s schema.json with ``node`` in it, then re-hash the manifest."""
    file = model_dir / "head" / "model.skops"
    with zipfile.ZipFile(file) as z:
        members = {n: z.read(n) for n in z.namelist()}
    schema = json.loads(members["schema.json"])
    attrs = schema["content"]["content"]  # the head's attribute dict
    if where == "attribute":  # an entry rewritten (new keys would also need a key_types entry)
        attrs["learning_rate"] = node
    else:  # in place of scikit-learn's partial(check_array): what predict() calls
        found = _replace_partial(schema, node)
        assert found, "the gbdt schema holds no partial to replace"
    members["schema.json"] = json.dumps(schema).encode()
    with zipfile.ZipFile(file, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    write_manifest(model_dir)


def _replace_partial(tree, node) -> int:
    n = 0
    if isinstance(tree, dict):
        for k, v in tree.items():
            if isinstance(v, dict) and v.get("__loader__") == "PartialNode":
                tree[k] = node
                n += 1
            else:
                n += _replace_partial(v, node)
    elif isinstance(tree, list):
        for v in tree:
            n += _replace_partial(v, node)
    return n


@pytest.mark.parametrize("name", ["exec", "eval", "os.system", "subprocess.Popen", "getattr-chain",
                                  "partial-exec", "partial-system"])
def test_planted_code_is_refused_and_never_runs(gbdt_model, tmp_path, german, capsys, name):
    run = tmp_path / "run"
    shutil.copytree(gbdt_model, run)
    sentinel = tmp_path / "pwned"
    node, named = _payloads(sentinel)[name]
    _plant(run / "model", node)
    verify_manifest(run / "model")  # the hash matches: the type check must refuse it
    with pytest.raises(ModelLoadError, match=f"{named}.*refusing to load"):
        Predictor.load(run / "model")
    assert not sentinel.exists()
    inp = tmp_path / "in.csv"
    german.test.X.iloc[:5].to_csv(inp, index=False)
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(inp), "--output", str(tmp_path / "o.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and named in err[0], err
    assert not sentinel.exists() and not (tmp_path / "o.csv").exists()


def test_partial_swapped_for_exec_in_the_estimator_is_refused(gbdt_model, tmp_path, german):
    """partial(exec, code) where scikit-learn keeps partial(check_array): called by predict()."""
    run = tmp_path / "run"
    shutil.copytree(gbdt_model, run)
    sentinel = tmp_path / "pwned"
    _plant(run / "model", _partial(_func("builtins", "exec"), _str(f"open({str(sentinel)!r}, 'w').close()")),
           where="partial")
    with pytest.raises(ModelLoadError, match="builtins.exec"):
        Predictor.load(run / "model").predict_score(german.test.X.iloc[:3])
    assert not sentinel.exists()


def test_serve_refuses_a_tampered_model(gbdt_model, tmp_path):
    pytest.importorskip("fastapi")
    from verticalkit.core.serve.app import create_app

    run = tmp_path / "run"
    shutil.copytree(gbdt_model, run)
    sentinel = tmp_path / "pwned"
    _plant(run / "model", _payloads(sentinel)["exec"][0])
    with pytest.raises(ModelLoadError, match="builtins.exec"):
        create_app(run, token="")
    assert not sentinel.exists()


# -- the manifest ----------------------------------------------------------------------------
def test_manifest_lists_every_model_file(gbdt_model):
    doc = json.loads((gbdt_model / "model" / MANIFEST).read_text())
    assert set(doc["files"]) == {"predictor.json", "head/model.skops"}
    assert all(len(h) == 64 for h in doc["files"].values())


def test_flipped_byte_is_refused_naming_the_file(gbdt_model, tmp_path, german, capsys):
    run = tmp_path / "run"
    shutil.copytree(gbdt_model, run)
    file = run / "model" / "head" / "model.skops"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0x01
    file.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"model\.skops: SHA-256 differs"):
        Predictor.load(run / "model")
    inp = tmp_path / "in.csv"
    german.test.X.iloc[:5].to_csv(inp, index=False)
    capsys.readouterr()
    assert main(["predict", str(run), "--input", str(inp), "--output", str(tmp_path / "o.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "model.skops" in err and "SHA-256" in err


@pytest.mark.parametrize("change", ["missing-file", "extra-file", "no-manifest"])
def test_manifest_refuses_missing_added_and_absent(gbdt_model, tmp_path, change):
    model = tmp_path / "run" / "model"
    shutil.copytree(gbdt_model, tmp_path / "run")
    if change == "missing-file":
        (model / "head" / "model.skops").unlink()
        match = r"model\.skops: listed in .*missing"
    elif change == "extra-file":
        (model / "head" / "extra.skops").write_bytes(b"PK")
        match = r"extra\.skops: not listed"
    else:
        (model / MANIFEST).unlink()
        match = r"manifest\.json not found.*retrain, or .*python -m verticalkit\.core\.heads\.manifest"
    with pytest.raises(ModelLoadError, match=match):
        Predictor.load(model)


def test_manifest_command_rehashes_a_trusted_folder(gbdt_model, tmp_path, german):
    from verticalkit.core.heads.manifest import main as manifest_main

    shutil.copytree(gbdt_model, tmp_path / "run")
    (tmp_path / "run" / "model" / MANIFEST).unlink()
    assert manifest_main([str(tmp_path / "run")]) == 0  # a run folder: its model/ is hashed
    p = Predictor.load(tmp_path / "run" / "model")
    assert p.predict_score(german.test.X.iloc[:3]).shape == (3,)


def test_export_folder_is_checked_too(gbdt_model, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from verticalkit.core.serve.export import ExportedScorer, export_run

    run = tmp_path / "run"
    shutil.copytree(gbdt_model, run)
    folder, _ = export_run(run, "onnx")
    assert (folder / MANIFEST).is_file()
    ExportedScorer(folder)  # loads
    onnx = folder / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")
    with pytest.raises(ModelLoadError, match=r"model\.onnx: SHA-256 differs"):
        ExportedScorer(folder)


# -- the allow-list is what the kit writes -----------------------------------------------------
def _skops_heads():
    from verticalkit.verticals import essay_scoring, fraud, medical_imaging

    for mod in (fraud, medical_imaging, essay_scoring):
        for name, cls in mod.VERTICAL.models.items():
            if issubclass(cls, SklearnHead):
                slow = [pytest.mark.slow] if name == "encoder" else []  # ~75 s: the sentence encoder
                yield pytest.param(mod, name, id=f"{mod.VERTICAL.id}-{name}", marks=slow)


FAST = {"fraud-gbdt": {"max_iter": 5}, "fraud-forest": {"n_estimators": 5}, "fraud-blend": {"n_estimators": 5, "C": 1.0}}


@pytest.mark.parametrize("mod,name", list(_skops_heads()))
def test_every_skops_head_saves_only_allowed_types(mod, name, tmp_path):
    """What skops reports as untrusted in each head the kit saves is on that head's allow-list,
    and nothing on it is a prefix or a code-running builtin."""
    splits = mod.tiny_data(0)
    cls = mod.VERTICAL.models[name]
    head = cls(**FAST.get(f"{mod.VERTICAL.id}-{name}", {})).fit(splits.train.X, splits.train.y, splits.val.X, splits.val.y,
                                          FitContext(task=splits.task))
    head.save(tmp_path)
    reported = set(sio.get_untrusted_types(file=tmp_path / cls.skops_file))
    assert reported <= cls.allowed_types(), reported - cls.allowed_types()
    assert not {t for t in cls.allowed_types() if t.endswith(".") or t.startswith(("builtins.", "os.", "posix."))}
    again = cls.load(tmp_path)
    X = splits.test.X
    np.testing.assert_allclose(np.asarray(again.predict(X), dtype=float), np.asarray(head.predict(X), dtype=float),
                               rtol=1e-9, atol=1e-12)
