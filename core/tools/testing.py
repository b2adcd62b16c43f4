"""The conformance check every vertical passes: ``check_vertical(vertical)``.

It runs the vertical's contract end to end on its tiny data: the adapter's splits
are non-empty and disjoint, every reference entry names a metric its task kind has and (where
the adapter declares ``protocols``) the adapter's protocol, every head trains (with ``Vertical.check_configs``, the
vertical's cheap settings for slow heads, over its ``default_configs``), predicts well-formed scores, gives
the same outputs when trained twice with the same seed, saves and reloads through
:class:`Predictor` to the same outputs (up to float rounding), and the reference results file parses.
Each failure raises :class:`VerticalCheckError` saying how to fix it.
"""

from __future__ import annotations

import copy
import random
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..config import TrainConfig, merge_into
from ..data.adapter import DatasetSplits, Task
from ..heads.base import FitContext, Head
from ..heads.predictor import Predictor
from ..registry import Vertical, get_vertical, register, unregister


class VerticalCheckError(AssertionError):
    """A vertical breaks the contract; the message says what and how to fix it."""


def _fail(vertical: Vertical, what: str, fix: str) -> VerticalCheckError:
    return VerticalCheckError(f"vertical {vertical.id!r}: {what}. Fix: {fix}")


def check_splits(vertical: Vertical, splits: DatasetSplits) -> None:
    if not isinstance(splits, DatasetSplits):
        raise _fail(vertical, f"tiny_data returned {type(splits).__name__}",
                    "return a verticalkit.core.data.adapter.DatasetSplits")
    for name in ("train", "test"):
        if len(splits.split(name)) == 0:
            raise _fail(vertical, f"the {name} split of {splits.dataset!r} is empty", "give every split some rows")
    sides = {name: set(map(str, splits.split(name).ids)) for name in ("train", "val", "test")}
    for name, ids in sides.items():
        if len(ids) != len(splits.split(name)):
            raise _fail(vertical, f"sample ids repeat within the {name} split", "give every sample a unique id")
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = sides[a] & sides[b]
        if shared:
            raise _fail(vertical, f"splits overlap: {len(shared)} ids are in both {a} and {b} "
                        f"(e.g. {sorted(shared)[:3]})", "make the adapter's split indices disjoint "
                        "(use verticalkit.core.data.splits helpers)")
        ga, gb = splits.split(a).groups, splits.split(b).groups
        if ga is not None and gb is not None and len(ga) and len(gb):
            both = set(map(str, ga)) & set(map(str, gb))
            if both:
                raise _fail(vertical, f"groups (patients/customers) on both sides of {a}/{b}: {len(both)}",
                            "split by group with verticalkit.core.data.splits.grouped_split")
    if splits.task.primary_metric is None:
        raise _fail(vertical, "the task has no primary metric", "set Task.primary_metric")


def _section(vertical: Vertical, model: str, section: str) -> dict[str, Any]:
    """``default_configs`` then ``check_configs`` (the check's cheap overrides) for one section."""
    out = copy.deepcopy(vertical.default_configs.get(model, {}).get(section, {}))
    out.update(copy.deepcopy(vertical.check_configs.get(model, {}).get(section, {})))
    return out


def tiny_train_config(vertical: Vertical, model: str) -> TrainConfig:
    cfg = TrainConfig(progress=False, patience=None)
    merge_into(cfg, _section(vertical, model, "train"), "train")
    cfg.epochs = min(cfg.epochs, 2)
    cfg.progress = False
    return cfg


def _make_head(vertical: Vertical, model: str, seed: int) -> Head:
    head_cls = vertical.models[model]
    params = head_cls.default_params()
    params.update(_section(vertical, model, "model_params"))
    if "random_state" in params and params["random_state"] is None:
        params["random_state"] = seed
    return head_cls(**params)


def _scramble_global_rng() -> None:
    """Move the global RNGs so a head that relies on them (and not its seed) is caught."""
    import torch

    s = random.SystemRandom().randrange(2**31)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def _fit_predict(vertical: Vertical, model: str, splits: DatasetSplits, seed: int, tmp: Path, tag: str
                 ) -> tuple[Head, np.ndarray]:
    from ..evaluate.metrics import metric_fn

    head = _make_head(vertical, model, seed)
    ctx = FitContext(task=splits.task, seed=seed, train=tiny_train_config(vertical, model),
                     checkpoint_dir=tmp / f"ckpt-{model}-{tag}", log_dir=tmp / f"log-{model}-{tag}",
                     score_fn=metric_fn(splits.task, splits.task.primary_metric, extra=vertical.metrics))
    val_X = splits.val.X if len(splits.val) else None
    val_y = splits.val.y if len(splits.val) else None
    head.fit(splits.train.X, splits.train.y, val_X, val_y, context=ctx)
    pred = Predictor(head, vertical=vertical.id, model=model, dataset=splits.dataset, task=splits.task)
    return head, pred.predict_score(splits.test.X)


def check_scores(vertical: Vertical, model: str, task: Task, scores: np.ndarray, n: int) -> None:
    scores = np.asarray(scores, dtype=float)
    if len(scores) != n:
        raise _fail(vertical, f"model {model!r} returned {len(scores)} scores for {n} test samples",
                    "return one prediction per input row")
    if not np.all(np.isfinite(scores)):
        raise _fail(vertical, f"model {model!r} returned NaN/inf scores", "check the head's preprocessing")
    if task.is_classification and (scores.min() < 0 or scores.max() > 1):
        raise _fail(vertical, f"model {model!r} returned probabilities outside [0, 1]",
                    "predict_proba must return probabilities (apply softmax/sigmoid)")
    if task.kind == "multiclass" and not np.allclose(scores.sum(axis=1), 1, atol=1e-4):
        raise _fail(vertical, f"model {model!r}: multi-class probabilities do not sum to 1", "apply softmax")


def _kind_metrics(kind: str, extra: dict[str, Any]) -> set[str]:
    """Metric names a task of ``kind`` can report (both variants of a regression's discrete flag)."""
    from ..evaluate.metrics import task_metrics

    classes = ["a", "b", "c"] if kind in ("multiclass", "multilabel") else ["a", "b"] if kind == "binary" else []
    tasks = [Task(kind=kind, target="y", primary_metric="", classes=classes, score_range=(0.0, 4.0), discrete=d)
             for d in (False, True)]
    return {name for t in tasks for name in task_metrics(t, extra)}


def protocol_matches(entry: str, declared: str) -> bool:
    """An entry's protocol names the adapter's, or the adapter's with a suffix (``-seed42``, ``+...``)."""
    return entry == declared or entry.startswith((f"{declared}-", f"{declared}+"))


def check_reference_entries(vertical: Vertical, refs: list[dict[str, Any]], splits: DatasetSplits) -> int:
    """Every reference entry's metric exists for its dataset's task kind and its protocol is one its
    adapter declares (``DatasetAdapter.protocols``); return how many protocols were checked.

    The task kinds come from the adapter's ``task_kinds``, else from the tiny data's task when it is
    of that dataset, else any kind (then only a metric no task has is caught).
    """
    from ..data.adapter import TASK_KINDS

    checked = 0
    for i, e in enumerate(refs):
        adapter = vertical.datasets[e["dataset"]]
        where = f"reference entry {i} ({e['dataset']}/{e['model']})"
        per_output = False
        if adapter.task_kinds:
            kinds = tuple(adapter.task_kinds)
            valid = set().union(*(_kind_metrics(k, vertical.metrics) for k in kinds))
            per_output = "multioutput" in kinds
        elif splits.dataset == e["dataset"]:
            from ..evaluate.metrics import task_metrics

            kinds = (splits.task.kind,)
            valid = set(task_metrics(splits.task, vertical.metrics))
        else:
            kinds = TASK_KINDS
            valid = set().union(*(_kind_metrics(k, vertical.metrics) for k in kinds))
            per_output = True
        metric = str(e["metric"])
        if metric not in valid and not (per_output and any(metric.startswith(f"{m}_") for m in valid)):
            raise _fail(vertical, f"{where} reports metric {metric!r}, which a {' / '.join(kinds)} task does not "
                        f"have (its metrics: {', '.join(sorted(valid))})",
                        "name one of those metrics in reference_results.yaml, or add it to Vertical.metrics")
        if adapter.protocols:
            checked += 1
            if not any(protocol_matches(str(e["protocol"]), p) for p in adapter.protocols):
                raise _fail(vertical, f"{where} says protocol {e['protocol']!r}, but adapter {adapter.__name__} "
                            f"splits by {', '.join(map(repr, adapter.protocols))}",
                            "write the adapter's protocol (as load() names it, optionally with its -seed / -fold "
                            "suffix) in reference_results.yaml, or fix DatasetAdapter.protocols")
    return checked


# Refits and reloads run in this process and are deterministic by construction; a tolerance far
# below any real effect (a wrong seed or a missing fitted attribute moves scores by > 1e-3) keeps
# the check independent of float rounding across BLAS / thread settings.
SAME_RTOL, SAME_ATOL = 1e-6, 1e-7


def _same(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=SAME_RTOL, atol=SAME_ATOL, equal_nan=True))


def check_baselines(vertical: Vertical, splits: DatasetSplits, seed: int, scores: np.ndarray) -> dict[str, Any]:
    """The prior and the vertical's simple baseline train on the tiny data and give a lift."""
    from ..evaluate.baselines import run_baselines
    from ..config import EvalConfig

    out = run_baselines(vertical, splits, "test", EvalConfig(n_bootstrap=20), seed, scores)
    expected = ["prior"] + (["simple"] if vertical.baseline_model else [])
    for name in expected:
        entry = out.get(name, {})
        lift = entry.get("lift", {}).get("value")
        if "skipped" in entry or lift is None or not np.isfinite(lift):
            raise _fail(vertical, f"the {name} baseline gave no lift on the tiny data ({entry.get('skipped', '')})",
                        "make Vertical.baseline_model a cheap head that trains on tiny_data")
    return {name: out[name]["lift"]["value"] for name in expected}


def check_vertical(vertical: Vertical | str, seed: int = 0, models: list[str] | None = None) -> dict[str, Any]:
    """Check ``vertical`` end to end on its tiny data; return a small report."""
    from ..train.reproduce import load_reference_results

    if isinstance(vertical, str):
        vertical = get_vertical(vertical)
    if not isinstance(vertical, Vertical):
        raise VerticalCheckError(f"{vertical!r} is not a verticalkit Vertical")
    for field_name in ("datasets", "models"):
        if not getattr(vertical, field_name):
            raise _fail(vertical, f"it declares no {field_name}", f"add at least one entry to Vertical.{field_name}")
    if vertical.default_dataset not in vertical.datasets:
        raise _fail(vertical, f"default_dataset {vertical.default_dataset!r} is not among its datasets",
                    "name one of Vertical.datasets")
    if vertical.default_model not in vertical.models:
        raise _fail(vertical, f"default_model {vertical.default_model!r} is not among its models",
                    "name one of Vertical.models")
    unknown = sorted(set(vertical.check_configs) - set(vertical.models))
    if unknown:
        raise _fail(vertical, f"check_configs names models {unknown} it does not register",
                    "key Vertical.check_configs by names in Vertical.models")
    if vertical.baseline_model is not None and vertical.baseline_model not in vertical.models:
        raise _fail(vertical, f"baseline_model {vertical.baseline_model!r} is not among its models",
                    "name one of Vertical.models (or None for the prior baseline only)")
    try:
        refs = load_reference_results(vertical)
    except Exception as e:  # noqa: BLE001 - re-raised with the fix
        raise _fail(vertical, f"reference results: {e}", "ship a reference_results.yaml in the docs/architecture.md format") from e

    splits = vertical.tiny_data(seed)
    check_splits(vertical, splits)
    protocols_checked = check_reference_entries(vertical, refs, splits)
    from ..evaluate.metrics import task_metrics

    headline = set(task_metrics(splits.task, vertical.metrics)).union(
        *(_kind_metrics(k, vertical.metrics) for k in vertical.datasets[vertical.default_dataset].task_kinds))
    if vertical.primary_metric not in headline:
        raise _fail(vertical, f"primary_metric {vertical.primary_metric!r} is not a metric of its tasks "
                    f"({', '.join(sorted(headline))})", "name the metric its default dataset's Task uses")
    unknown_models = [m for m in models or [] if m not in vertical.models]
    if unknown_models:
        raise _fail(vertical, f"no model(s) {unknown_models}", f"choose among {', '.join(vertical.models)}")
    tiny_adapter = vertical.datasets.get(splits.dataset)
    if tiny_adapter is not None and tiny_adapter.task_kinds and splits.task.kind not in tiny_adapter.task_kinds:
        raise _fail(vertical, f"tiny_data gives a {splits.task.kind} task for {splits.dataset!r}, whose adapter "
                    f"declares task_kinds {tiny_adapter.task_kinds}", "make DatasetAdapter.task_kinds list it")
    registered_here = False
    try:
        get_vertical(vertical.id)
    except Exception:  # noqa: BLE001 - not installed: register for the reload check
        register(vertical)
        registered_here = True
    report: dict[str, Any] = {"vertical": vertical.id, "reference_entries": len(refs),
                              "protocols_checked": protocols_checked, "models": {}}
    try:
        with tempfile.TemporaryDirectory(prefix=f"check-{vertical.id}-") as tmp_str:
            tmp = Path(tmp_str)
            for model in models or list(vertical.models):
                _scramble_global_rng()
                head, scores = _fit_predict(vertical, model, splits, seed, tmp, "a")
                check_scores(vertical, model, splits.task, scores, len(splits.test))
                _scramble_global_rng()
                _, again = _fit_predict(vertical, model, splits, seed, tmp, "b")
                if not _same(scores, again):
                    raise _fail(vertical, f"model {model!r} trained twice with seed {seed} gives different outputs "
                                f"(max diff {np.max(np.abs(np.asarray(scores) - np.asarray(again))):.3g})",
                                "seed every random choice from the head's random_state / FitContext.seed, "
                                "not from global RNG state")
                pred = Predictor(head, vertical=vertical.id, model=model, dataset=splits.dataset, task=splits.task)
                pred.save(tmp / f"saved-{model}")
                reloaded = Predictor.load(tmp / f"saved-{model}").predict_score(splits.test.X)
                if not _same(scores, reloaded):
                    raise _fail(vertical, f"model {model!r} does not reload to identical outputs",
                                "save every fitted attribute the head's predict uses (save/load)")
                report["models"][model] = {"n_test": len(splits.test), "reloaded_identical": True}
            report["baselines"] = check_baselines(vertical, splits, seed, scores)
    finally:
        if registered_here:
            unregister(vertical.id)
    return report
