"""``verticalkit monitor``: drift of a new batch against the run's training reference.

At training time :func:`write_reference` saves ``<run>/monitor_reference.json``: compact
per-column summaries (quantiles, category counts; :mod:`.drift`) of the training data's
"monitor features" (a table's own columns, or what the vertical's ``monitor_features`` hook
derives: essay length and vocabulary, image intensity) and of the model's validation scores.
:func:`monitor` reads a batch the way ``verticalkit predict`` does, compares it with the
reference (PSI and a KS / chi-square test per column), and with labels adds the primary
metric with its bootstrap CI, per time window when asked. ``monitor.json`` and an offline
``monitor.html`` are written; ``drift`` is True when any column passes its threshold.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import MonitorConfig, merge_into, parse_set
from ..data.splits import sample_rows
from ..evaluate.drift import compare, reference_cdf, summarize
from ..errors import ConfigError, DataError
from ..heads.base import write_json
from ..heads.predictor import Predictor
from ..registry import Vertical, get_vertical

REFERENCE = "monitor_reference.json"
MAX_REFERENCE_ROWS = 20_000  # rows summarised at training time (a seeded sample beyond)
DEFAULT_WINDOWS = 4  # equal-count time windows when --time-column comes without --window
PLOTS = 6  # columns plotted in monitor.html (the most drifted first)


# ----------------------------------------------------------------------------- features


def monitor_features(vertical: Vertical, X: Any, state: dict[str, Any]) -> pd.DataFrame:
    """The per-sample frame whose drift is measured: the vertical's hook, or a table's columns."""
    if vertical.monitor_features is not None:
        return vertical.monitor_features(X, state).reset_index(drop=True)
    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return pd.DataFrame(X, columns=[f"x{j}" for j in range(X.shape[1])])
    return pd.DataFrame(index=range(len(X)))  # no hook, no table: only the scores are monitored


def score_frame(predictor: Predictor, scores: np.ndarray) -> pd.DataFrame:
    """The model's outputs as monitored columns (class probabilities / score / prediction)."""
    from ..train.run import score_columns

    frame = score_columns(predictor.task, scores)
    if predictor.task.kind in ("binary", "multiclass", "multilabel") and len(frame.columns) > 1:
        frame = frame.drop(columns=["prediction"], errors="ignore")
    return frame


def build_reference(vertical: Vertical, splits: Any, predictor: Predictor, seed: int = 0) -> dict[str, Any]:
    """The reference document: training-data features and validation scores, summarised."""
    state: dict[str, Any] = {}
    X = sample_rows(splits.train.X, MAX_REFERENCE_ROWS, seed)
    feats = monitor_features(vertical, X, state)
    scored = splits.val if len(splits.val) else splits.train
    Xs = sample_rows(scored.X, MAX_REFERENCE_ROWS, seed)
    scores = score_frame(predictor, np.asarray(predictor.predict_score(Xs)))
    return {"version": 1, "n_features_rows": len(feats), "scores_split": "val" if len(splits.val) else "train",
            "n_scores_rows": len(scores), "state": state,
            "features": {str(c): summarize(feats[c]) for c in feats.columns},
            "scores": {str(c): summarize(scores[c]) for c in scores.columns}}


def write_reference(folder: Path, vertical: Vertical, splits: Any, predictor: Predictor, seed: int = 0) -> Path:
    """Write ``folder/monitor_reference.json`` (called by train after the model is saved)."""
    path = Path(folder) / REFERENCE
    write_json(path, build_reference(vertical, splits, predictor, seed))
    return path


def load_reference(run_dir: Path) -> dict[str, Any]:
    """The run's reference; a run trained before monitoring existed gets one built from its training data."""
    path = run_dir / REFERENCE
    if path.is_file():
        return json.loads(path.read_text())
    from ..train.run import load_run, load_splits, resolve_sections

    cfg, predictor = load_run(run_dir)
    vertical = get_vertical(cfg.vertical)
    resolve_sections(cfg, vertical)
    write_reference(run_dir, vertical, load_splits(cfg, vertical), predictor, cfg.seed)
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------- batch


def read_batch(predictor: Predictor, batch: Any, label_column: str | None, time_column: str | None
               ) -> tuple[Any, np.ndarray | None, pd.Series | None, int]:
    """``(X, labels, times, rows dropped)`` of a batch (file, folder, DataFrame or model input),
    read and checked like ``verticalkit predict``'s input."""
    from .batch import check_rows, is_table, read_table_chunks

    where = "batch"
    if isinstance(batch, (str, Path)):
        path = Path(batch)
        where = str(path)
        if not path.exists():
            raise DataError(f"{path}: no such file or folder; check --input")
        if is_table(path):
            batch = pd.concat(list(read_table_chunks(path, 100_000)), ignore_index=True)
        elif path.is_file() and path.suffix.lower() in (".json", ".txt", ".xlsx", ".xls"):
            raise DataError(f"{path}: not a CSV/TSV/parquet table; give the batch as .csv or .parquet")
        else:
            vertical = get_vertical(predictor.vertical)
            if vertical.read_input is None:
                raise DataError(f"{path}: not a CSV/TSV/parquet file, and vertical {predictor.vertical!r} "
                                f"reads no other input")
            if label_column or time_column:
                raise DataError(f"{path}: --labels / --time-column need a table input (CSV or parquet); a folder "
                                f"gives its labels by class subfolders ({', '.join(map(str, predictor.task.classes))})")
            return read_folder(predictor, vertical, path)
    if not isinstance(batch, pd.DataFrame):
        return batch, None, None, 0
    if len(batch) == 0:
        raise DataError(f"{where}: the batch has no rows")
    extra = {}
    for flag, col in (("--labels", label_column), ("--time-column", time_column)):
        if col is not None:
            if col not in batch.columns:
                raise DataError(f"{where}: {flag} column {col!r} not found; columns are {list(batch.columns)[:20]}")
            extra[col] = batch[col]
    errors: list[tuple[Any, str]] = []
    X, ids = check_rows(predictor, batch, np.arange(len(batch)), errors, where)
    if len(ids) == 0:
        raise DataError(f"{where}: no row matches the model's input schema (first problem: {errors[0][1]})")
    labels = _labels(predictor, extra[label_column].iloc[ids], where, label_column) if label_column else None
    times = None
    if time_column:
        times = pd.to_datetime(extra[time_column].iloc[ids].reset_index(drop=True), errors="coerce")
        if times.isna().all():
            raise DataError(f"{where}: --time-column {time_column!r} holds no parseable date/time")
    return X.reset_index(drop=True), labels, times, len(batch) - len(ids)


def class_folders(path: Path, classes: list[Any]) -> list[tuple[Path, int]] | None:
    """``(subfolder, class index)`` when every subfolder of ``path`` is named after a class (or its index)."""
    names = {str(c): i for i, c in enumerate(classes)} | {str(i): i for i in range(len(classes))}
    subs = [d for d in sorted(path.iterdir()) if d.is_dir() and not d.name.startswith(".")] if path.is_dir() else []
    if not subs or not classes or any(d.name not in names for d in subs):
        return None
    return [(d, names[d.name]) for d in subs]


def read_folder(predictor: Predictor, vertical: Vertical, path: Path) -> tuple[list[Any], np.ndarray | None, None, int]:
    """A folder read by the vertical's ``read_input``; labelled when its subfolders are the classes."""
    parts = class_folders(path, list(predictor.task.classes)) if predictor.task.kind in ("binary", "multiclass") \
        else None
    good, labels, n_items = [], [], 0
    for folder, label in parts or [(path, -1)]:
        try:
            items = [x for X, _ in vertical.read_input(folder, 256, predictor.info) for x in X]
        except DataError:
            if parts:
                continue  # a class folder without images
            raise
        n_items += len(items)
        ok = [x for x in items if isinstance(x, np.ndarray)]
        good += ok
        labels += [label] * len(ok)
    if not good:
        raise DataError(f"{path}: none of its {n_items} files could be read; check --input")
    return good, (np.asarray(labels) if parts else None), None, n_items - len(good)


def _labels(predictor: Predictor, s: pd.Series, where: str, col: str) -> np.ndarray:
    task = predictor.task
    if task.kind in ("binary", "multiclass") and task.classes:
        names = {str(c): i for i, c in enumerate(task.classes)}
        if s.map(str).isin(names).all():
            return s.map(lambda v: names[str(v)]).to_numpy()
    y = pd.to_numeric(s, errors="coerce")
    if y.isna().any():
        bad = s[y.isna()].iloc[0]
        raise DataError(f"{where}: --labels column {col!r} has a value that is not a label ({bad!r}); "
                        f"give numbers{' or one of ' + ', '.join(map(str, task.classes)) if task.classes else ''}")
    return y.to_numpy()


# ----------------------------------------------------------------------------- drift and performance


def thresholds(run_config: dict[str, Any] | None, sets: list[str] | None) -> MonitorConfig:
    """The run's ``monitor`` section overridden by ``--set monitor.KEY=VALUE``, validated."""
    cfg = MonitorConfig()
    if run_config and isinstance(run_config.get("monitor"), dict):
        merge_into(cfg, run_config["monitor"], "monitor")
    for key, value in parse_set(sets or []).items():
        if key != "monitor" or not isinstance(value, dict):
            raise ConfigError(f"--set {key}: monitor takes only monitor.* keys, e.g. --set monitor.psi=0.25")
        merge_into(cfg, value, "monitor")
    if cfg.psi <= 0:
        raise ConfigError(f"monitor.psi must be > 0, got {cfg.psi}; e.g. --set monitor.psi=0.2")
    if not 0 < cfg.p_value < 1:
        raise ConfigError(f"monitor.p_value must be in (0, 1), got {cfg.p_value}; e.g. --set monitor.p_value=0.01")
    if cfg.large_rows < 0:
        raise ConfigError(f"monitor.large_rows must be >= 0, got {cfg.large_rows}")
    if cfg.n_bootstrap < 0:
        raise ConfigError(f"monitor.n_bootstrap must be >= 0, got {cfg.n_bootstrap}")
    return cfg


def drift_table(summaries: dict[str, Any], frame: pd.DataFrame, cfg: MonitorConfig, n_tests: int
                ) -> list[dict[str, Any]]:
    """One row per reference column: PSI, test, p-value and whether it drifted."""
    rows = []
    for col, summary in summaries.items():
        if col not in frame.columns:
            raise DataError(f"batch: column {col!r} of the training reference is missing")
        r = {"column": col, **compare(summary, frame[col])}
        reasons = []
        if len(frame) >= cfg.large_rows:
            if r["psi"] > cfg.psi:
                reasons.append(f"psi {r['psi']:.3f} > {cfg.psi:g}")
        elif np.isfinite(r["p_value"]) and r["p_value"] < cfg.p_value / n_tests:
            reasons.append(f"{r['test']} p {r['p_value']:.2g} < {cfg.p_value:g}/{n_tests}")
        r["drift"], r["reasons"] = bool(reasons), reasons
        rows.append(r)
    return rows


def performance(predictor: Predictor, vertical: Vertical, y: np.ndarray, scores: np.ndarray, meta: Any,
                n_boot: int, seed: int) -> dict[str, Any]:
    """The primary metric with its bootstrap CI on a labelled batch."""
    from ..evaluate.bootstrap import bootstrap_ci
    from ..evaluate.metrics import task_metrics

    name = predictor.task.primary_metric
    fns = task_metrics(predictor.task, vertical.metrics)
    if name not in fns:
        return {"metric": name, "n": len(y), "value": None, "ci95": [None, None], "note": "unknown metric"}
    meta = meta.reset_index(drop=True) if isinstance(meta, pd.DataFrame) else None
    try:
        res = bootstrap_ci({name: fns[name]}, y, scores, meta, n=n_boot, seed=seed)[name]
    except (ValueError, TypeError, KeyError) as e:
        return {"metric": name, "n": len(y), "value": None, "ci95": [None, None], "note": str(e).splitlines()[0]}
    value = res["value"]
    return {"metric": name, "n": len(y), "value": value if np.isfinite(value) else None, "ci95": res["ci95"]}


def windows(times: pd.Series, window: str | int) -> list[tuple[str, np.ndarray]]:
    """``(label, row indices)`` per time window: a pandas frequency (``7D``) or N equal-count windows."""
    order = np.argsort(times.to_numpy(), kind="stable")
    order = order[times.iloc[order].notna().to_numpy()]
    if isinstance(window, int) or str(window).isdigit():
        k = int(window)
        if k < 1:
            raise ConfigError(f"--window must be a frequency like 7D or a number of windows >= 1, got {window}")
        parts = [p for p in np.array_split(order, k) if len(p)]
        return [(f"{times.iloc[p[0]]:%Y-%m-%d %H:%M} → {times.iloc[p[-1]]:%Y-%m-%d %H:%M}", p) for p in parts]
    try:
        keys = times.dt.floor(str(window)) if str(window)[-1] not in "WMQY" else times.dt.to_period(str(window))
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--window {window!r}: not a pandas frequency (e.g. 7D, 1h, W) or a count") from e
    out = []
    for key in pd.unique(keys.iloc[order]):
        idx = order[(keys.iloc[order] == key).to_numpy()]
        out.append((str(key), idx))
    return out


def _len(X: Any) -> int:
    return len(X)


def score_rows(predictor: Predictor, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(scores, kept row indices)``: rows the model rejects are dropped, as ``verticalkit predict``
    sends them to its errors file; DataError when it rejects every row."""
    from .batch import ROW_ERRORS

    try:
        return np.asarray(predictor.predict_score(X)), np.arange(_len(X))
    except ROW_ERRORS as e:
        if _len(X) <= 1:
            raise DataError(f"batch: the model cannot score it ({str(e).splitlines()[0][:300]})") from e
        first = e
    parts, keep = [], []
    for j in range(_len(X)):
        try:
            parts.append(np.asarray(predictor.predict_score(_take(X, np.array([j])))))
            keep.append(j)
        except ROW_ERRORS:
            continue
    if not keep:
        raise DataError(f"batch: the model cannot score any row ({str(first).splitlines()[0][:300]})") from first
    return np.concatenate(parts), np.asarray(keep)


def _take(X: Any, idx: np.ndarray) -> Any:
    if isinstance(X, pd.DataFrame):
        return X.iloc[idx]
    if isinstance(X, np.ndarray):
        return X[idx]
    return [X[i] for i in idx]


def monitor(run: str | Path, batch: Any, labels: str | None = None, out: str | Path | None = None, *,
            time_column: str | None = None, window: str | int | None = None, sets: list[str] | None = None,
            seed: int = 0) -> dict[str, Any]:
    """Compare ``batch`` (a CSV / parquet path, a folder the vertical reads, a DataFrame or model
    input) with the run's training reference; return the monitor.json document (also written,
    with monitor.html, to ``out`` when given). ``labels``: the batch's label column."""
    from ..config import load_yaml
    from ..heads.predictor import resolve_model_dir

    run = Path(run)
    if not (run / "config.yaml").is_file():
        raise DataError(f"{run}: not a run directory (no config.yaml); pass the folder `verticalkit train` wrote")
    cfg = thresholds(load_yaml(run / "config.yaml"), sets)
    if window is not None and time_column is None:
        raise ConfigError("--window needs --time-column (the batch's date/time column)")
    if time_column is not None and window is None:
        window = DEFAULT_WINDOWS
    predictor = Predictor.load(resolve_model_dir(run))
    vertical = get_vertical(predictor.vertical)
    reference = load_reference(run)
    X, y, times, dropped = read_batch(predictor, batch, labels, time_column)
    scores, keep = score_rows(predictor, X)
    if len(keep) < _len(X):
        dropped += _len(X) - len(keep)
        X = _take(X, keep)
        y = None if y is None else y[keep]
        times = None if times is None else times.iloc[keep].reset_index(drop=True)
    if isinstance(X, pd.DataFrame):
        X = X.reset_index(drop=True)
    feats = monitor_features(vertical, X, dict(reference.get("state", {})))
    sframe = score_frame(predictor, scores)
    n_tests = max(len(reference["features"]) + len(reference["scores"]), 1)
    features = drift_table(reference["features"], feats, cfg, n_tests)
    score_drift = drift_table(reference["scores"], sframe, cfg, n_tests)
    doc: dict[str, Any] = {
        "run": str(run), "vertical": predictor.vertical, "model": predictor.model, "dataset": predictor.dataset,
        "n": len(feats), "rows_dropped": dropped,
        "thresholds": {"judged_by": "psi" if len(feats) >= cfg.large_rows else "test", "psi": cfg.psi,
                       "p_value": cfg.p_value, "large_rows": cfg.large_rows,
                       "correction": f"bonferroni over {n_tests}"},
        "reference": {"features_rows": reference["n_features_rows"], "scores_split": reference["scores_split"],
                      "scores_rows": reference["n_scores_rows"]},
        "features": features, "scores": score_drift,
        "drifted": [r["column"] for r in features + score_drift if r["drift"]],
    }
    doc["drift"] = bool(doc["drifted"])
    if y is not None:
        doc["performance"] = performance(predictor, vertical, y, scores, X, cfg.n_bootstrap, seed)
    if times is not None:
        doc["windows"] = []
        for label, idx in windows(times, window):
            w = {"window": label, "n": len(idx)}
            for r in drift_table(reference["scores"], sframe.iloc[idx], cfg, n_tests):
                w[f"psi_{r['column']}"] = r["psi"]
            if y is not None:
                w.update({k: v for k, v in performance(predictor, vertical, y[idx], scores[idx], _take(X, idx),
                                                       cfg.n_bootstrap, seed).items() if k != "n"})
            doc["windows"].append(w)
    doc = json.loads(json.dumps(doc, default=_json_default))
    if out is not None:
        write_outputs(Path(out), doc, reference, feats, sframe)
    return doc


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    raise TypeError(type(v).__name__)


# ----------------------------------------------------------------------------- outputs


def write_outputs(out: Path, doc: dict[str, Any], reference: dict[str, Any], feats: pd.DataFrame,
                  sframe: pd.DataFrame) -> None:
    """``out/monitor.json`` and ``out/monitor.html`` (written atomically)."""
    from ..io import atomic_write_text

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "monitor.json", json.dumps(doc, indent=2))
    atomic_write_text(out / "monitor.html", render_html(doc, reference, feats, sframe))


def _cdf_plot(title: str, summary: dict[str, Any], values: pd.Series) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..evaluate.report import _figure

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    if summary["kind"] == "numeric":
        q = np.asarray(summary["quantiles"])
        grid = np.linspace(q[0], q[-1], 200)
        ax.plot(grid, reference_cdf(q, grid), label="reference", lw=1.4)
        b = np.sort(pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float))
        if len(b):
            ax.step(b, np.arange(1, len(b) + 1) / len(b), where="post", label="batch", lw=1.2)
        ax.set(ylabel="cumulative share", title=title)
    else:
        counts = summary["counts"]
        keys = list(counts)[:12]
        ref = np.array([counts[k] for k in keys], float) / max(summary["n"], 1)
        labels = values.map(str, na_action="ignore").fillna("__missing__")
        bat = np.array([(labels == k).mean() for k in keys])
        x = np.arange(len(keys))
        ax.bar(x - 0.2, ref, 0.4, label="reference")
        ax.bar(x + 0.2, bat, 0.4, label="batch")
        ax.set_xticks(x, [k[:12] for k in keys], rotation=60, fontsize=7)
        ax.set(ylabel="share", title=title)
    ax.legend(fontsize=7)
    return _figure(fig, f"{title}: reference vs batch")


def render_html(doc: dict[str, Any], reference: dict[str, Any], feats: pd.DataFrame, sframe: pd.DataFrame) -> str:
    from ..evaluate.report import CSS, _table

    cols = ["column", "kind", "psi", "test", "statistic", "p_value", "drift"]
    t = doc["thresholds"]
    parts = [f"<h1>Monitoring · {html.escape(doc['vertical'])} · {html.escape(doc['model'])}</h1>",
             f"<p>Batch of {doc['n']} rows ({doc['rows_dropped']} dropped: not matching the model's input) "
             f"against the training reference ({doc['reference']['features_rows']} rows; scores of the "
             f"{html.escape(doc['reference']['scores_split'])} split). Judged by {t['judged_by']}: PSI &gt; "
             f"{t['psi']:g} for batches of {t['large_rows']} rows or more, else p &lt; {t['p_value']:g} "
             f"({html.escape(t['correction'])}).</p>",
             f"<p><b>{'DRIFT: ' + html.escape(', '.join(doc['drifted'])) if doc['drift'] else 'no drift'}</b></p>",
             "<h2>Scores</h2>", _table(doc["scores"], cols), "<h2>Features</h2>", _table(doc["features"], cols)]
    if "performance" in doc:
        p = doc["performance"]
        parts += ["<h2>Performance (labelled batch)</h2>", _table([p], ["metric", "n", "value", "ci95"])]
    if doc.get("windows"):
        wcols = list(dict.fromkeys(k for w in doc["windows"] for k in w))
        parts += ["<h2>Time windows</h2>", _table(doc["windows"], wcols)]
    ranked = sorted(doc["features"], key=lambda r: -r["psi"])[:PLOTS]
    figs = [_cdf_plot(f"score {r['column']}", reference["scores"][r["column"]], sframe[r["column"]])
            for r in doc["scores"][:2]]
    figs += [_cdf_plot(r["column"], reference["features"][r["column"]], feats[r["column"]]) for r in ranked]
    parts += ["<h2>Distributions</h2>", "".join(f for f in figs if f)]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>monitor</title><style>{CSS}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def print_table(doc: dict[str, Any]) -> None:
    """The short table ``verticalkit monitor`` prints."""
    print(f"{doc['vertical']} / {doc['model']} — batch n={doc['n']} (dropped {doc['rows_dropped']})")
    print(f"  {'column':<28} {'psi':>8} {'test':>5} {'p':>10}  drift")
    rows = [dict(r, column=f"score:{r['column']}") for r in doc["scores"]] + doc["features"]
    for r in sorted(rows, key=lambda r: (not r["drift"], -r["psi"]))[:25]:
        print(f"  {r['column'][:28]:<28} {r['psi']:>8.4f} {r['test']:>5} {r['p_value']:>10.3g}  "
              f"{'DRIFT' if r['drift'] else ''}")
    if len(rows) > 25:
        print(f"  … {len(rows) - 25} more columns in monitor.json")
    if "performance" in doc:
        p = doc["performance"]
        ci = p["ci95"]
        ci_txt = f" [{ci[0]:.4f}, {ci[1]:.4f}]" if None not in ci else ""
        print(f"  {p['metric']}: {p['value'] if p['value'] is None else format(p['value'], '.4f')}{ci_txt} "
              f"(n={p['n']})")
    print(f"drift: {', '.join(doc['drifted'])}" if doc["drift"] else "no drift")


# ----------------------------------------------------------------------------- serving


MONITOR_DOC = """Drift of a batch against the model's training reference (the `monitor.json` document of
`verticalkit monitor`). Body: JSON `{"records": [...], "labels": [...]}` (records as for /v1/predict, validated
the same way; `labels` optional, one per record), or a multipart upload of a CSV file (field `file`; query
`labels=COL` names its label column). `drift` is true when any column passes the run's thresholds."""


def add_monitor_route(app: Any, run_dir: str | Path, request_model: Any, to_input: Any, auth_deps: list) -> None:
    """``POST /v1/monitor`` on the serving app (core/serve/app.py): same auth and record validation as /v1/predict."""
    import io

    from fastapi import Query, Request
    from fastapi.concurrency import run_in_threadpool
    from pydantic import ValidationError

    run = Path(run_dir)
    run = run if (run / "config.yaml").is_file() else run.parent  # a model folder inside its run

    async def monitor_endpoint(request: Request, labels: str | None = Query(
            None, description="label column of an uploaded CSV")) -> dict[str, Any]:
        kind = request.headers.get("content-type", "")
        if kind.startswith("multipart/form-data"):
            form = await request.form()
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise DataError("multipart body: give the CSV file in field 'file'")
            raw = await upload.read()
            try:
                batch = pd.read_csv(io.BytesIO(raw))
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
                raise DataError(f"file: cannot read as a CSV table ({str(e).splitlines()[0]})") from e
            label_col = labels
        else:
            try:
                body = await request.json()
            except ValueError:
                raise DataError("body: not JSON; send {\"records\": [...]} or a multipart CSV upload") from None
            if not isinstance(body, dict):
                raise DataError("body: expected an object {\"records\": [...], \"labels\": [...]}")
            try:
                req = request_model.model_validate({"records": body.get("records")})
            except ValidationError as e:
                first = e.errors()[0]
                where = ".".join(str(p) for p in first.get("loc", ()))
                raise DataError(f"{where or 'records'}: {first.get('msg', 'invalid')}") from None
            records = [r.model_dump(by_alias=True) for r in req.records]
            batch, label_col = to_input(records), None
            if body.get("labels") is not None:
                y = body["labels"]
                if not isinstance(y, list) or len(y) != len(records) or not isinstance(batch, pd.DataFrame):
                    raise DataError(f"labels: give a list of {len(records)} labels, one per record (tables only)")
                batch = batch.assign(__label__=y)
                label_col = "__label__"
        return await run_in_threadpool(monitor, run, batch, label_col)

    # annotations are strings here (``from __future__ import annotations``); give FastAPI the classes
    monitor_endpoint.__annotations__.update(request=Request, labels=str | None, **{"return": dict[str, Any]})
    app.add_api_route("/v1/monitor", monitor_endpoint, methods=["POST"], tags=["monitor"], dependencies=auth_deps,
                      summary="drift of a batch against the training reference", description=MONITOR_DOC)
