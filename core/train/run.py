"""The train entry point: config → data → head → Predictor → evaluation → run directory.

Run directory (docs/architecture.md)::

    <out>/config.yaml  model/  metrics.json  predictions.parquet  report.html
    <out>/model_card.md  monitor_reference.json  checkpoints/ (torch heads)  train_log.csv (torch heads)

Everything but ``checkpoints/`` is built in ``<out>/.staging`` and moved into place
at the end, ``metrics.json`` last: a run directory holding ``metrics.json`` is complete.
The model is saved before evaluation: if evaluation fails, ``model/`` and ``config.yaml``
are moved into ``<out>`` (with ``evaluation_pending.json``: the error, the training time)
and ``verticalkit evaluate <out>`` completes the run.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import random
import shutil
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..config import RunConfig, check_params, config_from_dict, load_yaml, merge_into, parse_set, save_config
from ..data.adapter import DatasetSplits, Split, Task
from ..errors import ConfigError, EvaluationError, VerticalkitError
from ..heads.base import FitContext, write_json
from ..serve.monitor import write_reference
from ..heads.predictor import Predictor, resolve_model_dir
from ..progress import step
from ..registry import Vertical, get_vertical


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices) when torch is loaded: a torch head's module
    loads it; a scikit-learn run never needs it (importing it costs ~0.5 GB of memory)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def versions() -> dict[str, str]:
    """Versions of the kit and the libraries a result depends on."""
    import sklearn
    from importlib import metadata

    torch = sys.modules.get("torch")  # not imported for it: a scikit-learn run never loads torch
    try:
        torch_version = torch.__version__ if torch is not None else metadata.version("torch")
    except metadata.PackageNotFoundError:
        torch_version = "not installed"
    return {"verticalkit": __version__, "python": platform.python_version(), "torch": torch_version,
            "scikit-learn": sklearn.__version__, "numpy": np.__version__, "pandas": pd.__version__}


def build_config(vertical_id: str, dataset: str | None, model: str | None, out: str,
                 config_file: str | None = None, sets: list[str] | None = None) -> RunConfig:
    """Resolve a RunConfig: defaults → vertical's model defaults → config file → ``--set``."""
    file_cfg = load_yaml(config_file) if config_file else {}
    set_cfg = parse_set(sets or [])
    vertical = get_vertical(vertical_id)
    dataset = dataset or file_cfg.get("dataset") or vertical.default_dataset
    model = model or file_cfg.get("model") or vertical.default_model
    vertical.dataset(dataset)
    vertical.model(model)
    cfg = RunConfig(vertical=vertical_id, dataset=dataset, model=model, out=out)
    merge_into(cfg, copy.deepcopy(vertical.default_configs.get(model, {})), "")
    for layer in (file_cfg, set_cfg):
        layer = {k: v for k, v in layer.items() if k not in ("vertical",)}
        merge_into(cfg, layer, "")
    cfg.vertical, cfg.dataset, cfg.model, cfg.out = vertical_id, dataset, model, out
    resolve_sections(cfg, vertical)
    return cfg


def resolve_sections(cfg: RunConfig, vertical: Vertical) -> None:
    """Check ``data`` and ``model_params`` against the adapter's and head's parameters."""
    adapter_cls = vertical.dataset(cfg.dataset)
    defaults = {name: getattr(adapter_cls(), name) for name in adapter_cls.param_names()}
    data = copy.copy(cfg.data)  # keeps config.Mapping's text of the values
    data.setdefault("seed", cfg.seed)
    cfg.data = check_params(data, defaults, "data")
    if cfg.data.get("path") is not None:
        cfg.data["path"] = str(cfg.data["path"])
    head_cls = vertical.model(cfg.model)
    cfg.model_params = check_params(cfg.model_params, head_cls.default_params(), "model_params")


def load_splits(cfg: RunConfig, vertical: Vertical) -> DatasetSplits:
    adapter = vertical.dataset(cfg.dataset)(**cfg.data)
    return adapter.load()


def make_head(cfg: RunConfig, vertical: Vertical) -> Any:
    head_cls = vertical.model(cfg.model)
    params = dict(cfg.model_params)
    if "random_state" in params and params["random_state"] is None:
        params["random_state"] = cfg.seed
    return head_cls(**params)


def score_fn_for(task: Task, vertical: Vertical):
    """The primary metric as ``fn(y_true, scores) -> float`` (higher is better)."""
    from ..evaluate.metrics import metric_fn

    return metric_fn(task, task.primary_metric, extra=vertical.metrics)


@dataclass
class Evaluation:
    metrics: dict[str, Any]
    result: Any
    scores: np.ndarray


def evaluate_split(predictor: Predictor, splits: DatasetSplits, split: str, cfg: RunConfig, vertical: Vertical,
                   train_seconds: float | None) -> Evaluation:
    """Score one split, evaluate with CIs (thresholds chosen on val), build metrics.json."""
    from ..evaluate.evaluator import evaluate, metrics_json

    part = splits.split(split)
    scores = predictor.predict_score(part.X)
    val = None
    if split != "val" and len(splits.val) > 0:
        val = (splits.val.y, predictor.predict_score(splits.val.X))
    result = evaluate(splits.task, part.y, scores, meta=part.meta, extra_metrics=vertical.metrics,
                      config=cfg.eval, seed=cfg.seed, val=val)
    if cfg.eval.baselines:
        from ..evaluate.baselines import run_baselines

        result.baselines = run_baselines(vertical, splits, split, cfg.eval, cfg.seed, scores, cfg.model,
                                         cfg.model_params)
    mj = metrics_json(result, vertical=cfg.vertical, dataset=cfg.dataset, model=cfg.model, split=split,
                      n=len(part), seed=cfg.seed, train_seconds=train_seconds, versions=versions())
    return Evaluation(mj, result, scores)


def predictions_frame(task: Task, part: Split, scores: np.ndarray, predictor: Predictor) -> pd.DataFrame:
    """One row per sample: id, target, prediction and the scores behind it."""
    df = pd.DataFrame({"id": part.ids})
    y = np.asarray(part.y)
    if y.ndim == 1:
        df["target"] = y
    else:
        for j in range(y.shape[1]):
            df[f"target_{_col(task, j)}"] = y[:, j]
    df = pd.concat([df, score_columns(task, scores)], axis=1)
    if part.meta is not None:
        for col in part.meta.columns:
            if col not in df.columns:
                df[col] = part.meta[col].to_numpy()
    return df


def _col(task: Task, j: int) -> str:
    return str(task.classes[j]) if j < len(task.classes) else str(j)


def score_columns(task: Task, scores: np.ndarray) -> pd.DataFrame:
    """Prediction columns for a score array (shared by training and batch prediction)."""
    scores = np.asarray(scores)
    out = pd.DataFrame(index=range(len(scores)))
    if task.kind == "binary":
        out["score"] = scores
        out["prediction"] = (scores >= 0.5).astype(int)
    elif task.kind == "multiclass":
        for j in range(scores.shape[1]):
            out[f"p_{_col(task, j)}"] = scores[:, j]
        out["prediction"] = scores.argmax(axis=1)
    elif task.kind == "multilabel":
        for j in range(scores.shape[1]):
            out[f"p_{_col(task, j)}"] = scores[:, j]
    elif scores.ndim == 2:
        for j in range(scores.shape[1]):
            out[f"pred_{_col(task, j)}"] = scores[:, j]
    else:
        out["prediction"] = scores
    return out


RUN_MARKER = ".verticalkit-run"
# What `verticalkit train` / `evaluate` / `export` write into a run directory; with --overwrite
# only these (and the names the marker lists) are removed, never other files of the folder.
RUN_OUTPUTS = ("config.yaml", "model", "metrics.json", "predictions.parquet", "report.html", "model_card.md",
               "checkpoints", "train_log.csv", ".staging", "eval", "export", "evaluation_pending.json",
               "data", "monitor_reference.json", "monitor", RUN_MARKER)  # data/: a DataFrame given to vk.train, saved for the adapter


def _run_outputs(out: Path) -> set[str]:
    """Names in ``out`` a run wrote: the fixed ones plus those the marker lists (vertical extras)."""
    names = set(RUN_OUTPUTS)
    try:
        listed = json.loads((out / RUN_MARKER).read_text()).get("files", [])
        names.update(n for n in listed if isinstance(n, str) and "/" not in n and n not in ("", ".", ".."))
    except (OSError, ValueError, AttributeError):
        pass
    return names


def is_run_dir(out: Path) -> bool:
    """An empty folder, or one ``verticalkit train`` wrote: its marker, a complete or evaluation-pending run of an older
    kit (config.yaml + metrics.json), or an unfinished one of an older kit (checkpoints only)."""
    if (out / RUN_MARKER).is_file() or ((out / "config.yaml").is_file() and (
            (out / "metrics.json").is_file() or (out / PENDING).is_file())):
        return True
    names = {p.name for p in out.iterdir() if not p.name.startswith(f".{RUN_MARKER}.")}  # another rank's temp
    return not names or ("checkpoints" in names and names <= {"checkpoints", ".staging", "train_log.csv"})


def prepare_out(out: Path, overwrite: bool) -> bool:
    """Make ``out``; return whether we created it. A complete run is never overwritten silently,
    and a folder that is not a run (the user's files) is never written into."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file; choose a folder for the run directory")
    if out.is_dir() and not is_run_dir(out):
        others = sorted(p.name for p in out.iterdir() if p.name not in RUN_OUTPUTS)
        shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
        raise ConfigError(f"--out {out} exists and is not a verticalkit run (it holds {shown}); "
                          f"choose a new or empty folder (--overwrite only replaces a run)")
    if (out / "metrics.json").exists() and not overwrite:
        raise ConfigError(f"{out} already holds a complete run (metrics.json); choose another --out or pass --overwrite")
    if (out / "metrics.json").exists() and overwrite:
        for name in _run_outputs(out):
            path = out / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / RUN_MARKER).exists() and int(os.environ.get("RANK", "0")) == 0:
        _write_marker(out, [])
    return created


def _write_marker(out: Path, files: list[str]) -> None:
    from ..io import atomic_write_text

    atomic_write_text(out / RUN_MARKER, json.dumps({"verticalkit": __version__, "files": sorted(files)}) + "\n")


def train(cfg: RunConfig, *, overwrite: bool = False, track: str | None = None) -> Path:
    """Train, evaluate and write the run directory; return its path. With tracking on
    (``track="mlflow"`` or ``MLFLOW_TRACKING_URI`` set) the run is also logged to MLflow."""
    from .tracking import log_run, tracked

    with tracked(f"{cfg.vertical}-{cfg.dataset}-{cfg.model}", track) as active:
        out = _train(cfg, overwrite=overwrite)
        if active is not None:
            log_run(out)
    return out


def _train(cfg: RunConfig, *, overwrite: bool) -> Path:
    vertical = get_vertical(cfg.vertical)
    resolve_sections(cfg, vertical)
    out = Path(cfg.out)
    vertical.model(cfg.model)  # imports the head's module (a torch head's: torch) before seeding
    seed_everything(cfg.seed)
    splits = load_splits(cfg, vertical)  # data errors surface before anything is written
    head = make_head(cfg, vertical)
    created = prepare_out(out, overwrite)
    staging = out / ".staging"
    try:
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        context = FitContext(task=splits.task, seed=cfg.seed, train=cfg.train,
                             checkpoint_dir=out / "checkpoints", log_dir=staging,
                             score_fn=score_fn_for(splits.task, vertical))
        t0 = time.perf_counter()
        # torch heads report each epoch, heads with ``reports_progress`` each iteration; others get
        # a heartbeat line every 30 s
        quiet = hasattr(head, "build_module") or getattr(head, "reports_progress", False)
        with step(f"fitting {cfg.model}", disable=not cfg.train.progress, heartbeat=not quiet):
            head.fit(splits.train.X, splits.train.y, splits.val.X if len(splits.val) else None,
                     splits.val.y if len(splits.val) else None, context=context)
        train_seconds = round(time.perf_counter() - t0, 3)
        if int(os.environ.get("RANK", "0")) != 0:  # under DDP only the main process writes the run
            shutil.rmtree(staging, ignore_errors=True)
            return out
        predictor = Predictor(head, vertical=cfg.vertical, model=cfg.model, dataset=cfg.dataset,
                              task=splits.task, input_schema=input_schema(splits.train.X),
                              info={"protocol": splits.protocol, **_jsonable(splits.info)},
                              table_schema=splits.info.get("table_schema"))
        with step("saving the model", disable=not cfg.train.progress):
            predictor.save(staging / "model")
        save_config(cfg, staging / "config.yaml")
        try:
            write_reference(staging, vertical, splits, predictor, cfg.seed)  # monitor_reference.json
            evaluate_into(staging, cfg, vertical, splits, predictor, train_seconds)
        except BaseException as e:  # the trained model survives a failed (or interrupted) evaluation
            _keep_model(staging, out, e, train_seconds)
            if isinstance(e, Exception):
                raise evaluation_failed(e, out) from e
            raise
        _publish(staging, out)
        (out / PENDING).unlink(missing_ok=True)  # left by an earlier run into the same folder
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created and not any((out / "checkpoints").glob("*")) and not (out / PENDING).is_file():
            shutil.rmtree(out, ignore_errors=True)
        raise
    return out


PENDING = "evaluation_pending.json"  # a run whose model is saved but not yet evaluated
KEPT = ("model", "config.yaml", "train_log.csv")


def evaluate_into(folder: Path, cfg: RunConfig, vertical: Vertical, splits: DatasetSplits, predictor: Predictor,
                  train_seconds: float | None) -> Evaluation:
    """The run's own evaluation (test split) into ``folder``: predictions, report, card, metrics.json.tmp."""
    ev = evaluate_split(predictor, splits, "test", cfg, vertical, train_seconds)
    predictions_frame(splits.task, splits.test, ev.scores, predictor).to_parquet(folder / "predictions.parquet")
    write_artifacts(folder, cfg, vertical, splits, predictor, ev)
    write_json(folder / "metrics.json.tmp", ev.metrics)
    return ev


def _keep_model(staging: Path, out: Path, error: BaseException, train_seconds: float | None) -> None:
    """Move the saved model, config and training log into ``out`` and mark the run as pending evaluation."""
    for name in KEPT:
        if (staging / name).exists():
            dest = out / name
            if dest.is_dir():
                shutil.rmtree(dest)
            os.replace(staging / name, dest)
    write_json(out / PENDING, {"train_seconds": train_seconds, "error": f"{type(error).__name__}: {error}",
                               "traceback": traceback.format_exception(error)})


def evaluation_failed(error: Exception, out: Path) -> EvaluationError:
    """The one-line error of a failed evaluation: what failed, where the model is, how to finish the run."""
    cause = str(error).splitlines()[0] if str(error) else ""
    what = cause if isinstance(error, VerticalkitError) else f"{type(error).__name__}: {cause}"
    return EvaluationError(f"training finished but evaluation failed ({what}); the trained model is saved at "
                           f"{out / 'model'}; fix the cause, then finish the run with `verticalkit evaluate {out}`",
                           exit_code=2 if isinstance(error, VerticalkitError) else 1)


def write_artifacts(folder: Path, cfg: RunConfig, vertical: Vertical, splits: DatasetSplits,
                    predictor: Predictor, ev: Evaluation) -> None:
    """report.html and model_card.md for one evaluation."""
    from ..evaluate.model_card import write_model_card
    from ..evaluate.report import write_report

    info = {"vertical": cfg.vertical, "dataset": cfg.dataset, "model": cfg.model, "split": ev.metrics["split"],
            "n": ev.metrics["n"], "seed": cfg.seed, "protocol": splits.protocol,
            "n_train": len(splits.train), "n_val": len(splits.val), **_jsonable(splits.info)}
    if cfg.eval.report:
        sections = []
        if vertical.report_sections is not None:
            sections = vertical.report_sections(predictor, splits, ev.scores, folder)
        write_report(folder / "report.html", ev.result, title=f"{cfg.vertical} · {cfg.dataset} · {cfg.model}",
                     task=splits.task, info=info, extra_sections=sections)
    write_model_card(folder / "model_card.md", vertical=cfg.vertical, dataset=cfg.dataset, model=cfg.model,
                     task=splits.task, metrics_json=ev.metrics, config=cfg.to_dict(), info=info,
                     intended_use=vertical.intended_use, clinical=vertical.clinical,
                     input_schema=predictor.input_schema)


def _publish(staging: Path, out: Path) -> None:
    names = [item.name for item in staging.iterdir() if item.name != "metrics.json.tmp"]
    _write_marker(out, sorted(_run_outputs(out) - set(RUN_OUTPUTS) | set(names) - set(RUN_OUTPUTS)))
    for item in staging.iterdir():
        if item.name == "metrics.json.tmp":
            continue
        dest = out / item.name
        if dest.is_dir():
            shutil.rmtree(dest)
        os.replace(item, dest)
    os.replace(staging / "metrics.json.tmp", out / "metrics.json")
    staging.rmdir()


def input_schema(X: Any) -> dict[str, Any]:
    """What the model was trained on, for predict-time checks and serving."""
    if isinstance(X, pd.DataFrame):
        return {"type": "table", "columns": {c: str(t) for c, t in X.dtypes.items()}}
    if isinstance(X, np.ndarray):
        return {"type": "array", "shape": [None, *X.shape[1:]], "dtype": str(X.dtype)}
    return {"type": type(X).__name__}


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, (str, int, float, bool)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(x, (str, int, float, bool)) for x in v):
            out[k] = list(v)
    return out


def load_run(run_dir: str | Path) -> tuple[RunConfig, Predictor]:
    """The resolved config and the Predictor of a finished run directory."""
    run_dir = Path(run_dir)
    cfg_file = run_dir / "config.yaml"
    if not cfg_file.is_file():
        raise VerticalkitError(f"{cfg_file} not found; pass the folder `verticalkit train` wrote (--out)")
    cfg = config_from_dict(load_yaml(cfg_file))
    return cfg, Predictor.load(resolve_model_dir(run_dir))


def evaluate_run(run_dir: str | Path, dataset: str | None = None, split: str = "test",
                 sets: list[str] | None = None) -> Path:
    """Re-evaluate a run on a split (optionally of another dataset of the vertical).

    Writes ``<run>/eval/<dataset>-<split>/`` with metrics.json, predictions.parquet, report.html.
    """
    if split not in ("train", "val", "test"):
        raise ConfigError(f"--split must be train, val or test, got {split!r}")
    run_dir = Path(run_dir)
    cfg, predictor = load_run(run_dir)
    vertical = get_vertical(cfg.vertical)
    if (run_dir / PENDING).is_file() and not (run_dir / "metrics.json").exists() and \
            dataset in (None, cfg.dataset) and split == "test":
        return complete_run(run_dir, cfg, predictor, vertical, sets)
    if dataset and dataset != cfg.dataset:
        cfg.dataset = dataset
        cfg.data = {}
    if sets:
        merge_into(cfg, parse_set(sets), "")
    resolve_sections(cfg, vertical)
    splits = load_splits(cfg, vertical)
    ev = evaluate_split(predictor, splits, split, cfg, vertical, None)
    dest = run_dir / "eval" / f"{cfg.dataset}-{split}"
    from ..io import atomic_dir

    with atomic_dir(dest) as tmp:
        predictions_frame(splits.task, splits.split(split), ev.scores, predictor).to_parquet(tmp / "predictions.parquet")
        write_artifacts(tmp, cfg, vertical, splits, predictor, ev)
        write_json(tmp / "metrics.json", ev.metrics)
    return dest


def complete_run(run_dir: Path, cfg: RunConfig, predictor: Predictor, vertical: Vertical,
                 sets: list[str] | None = None) -> Path:
    """Finish a run whose evaluation failed after training (``evaluation_pending.json``): evaluate the saved
    model on the run's test split and publish predictions, report, model card and metrics.json."""
    import json

    pending = json.loads((run_dir / PENDING).read_text())
    if sets:
        merge_into(cfg, parse_set(sets), "")
    resolve_sections(cfg, vertical)
    splits = load_splits(cfg, vertical)
    staging = run_dir / ".staging"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    try:
        evaluate_into(staging, cfg, vertical, splits, predictor, pending.get("train_seconds"))
        save_config(cfg, staging / "config.yaml")
        _publish(staging, run_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    (run_dir / PENDING).unlink()
    return run_dir
