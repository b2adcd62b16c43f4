"""The ``verticalkit`` command line (docs/architecture.md, CLI)."""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import traceback
import warnings

from ..errors import VerticalkitError


def cmd_list(args: argparse.Namespace) -> int:
    from ..registry import load_verticals

    verticals, broken = load_verticals()
    if not verticals and not broken:
        print("no verticals registered (is verticalkit installed with `pip install -e .`?)")
    for v in verticals.values():
        print(f"{v.id}: {v.description}")
        print(f"  datasets: {', '.join(v.datasets)}   (default {v.default_dataset})")
        print(f"  models:   {', '.join(v.models)}   (default {v.default_model})")
        print(f"  primary metric: {v.primary_metric}   (each dataset's task sets the one a run uses)")
    for vid, err in broken.items():
        print(f"{vid}: BROKEN, not usable: {err}")
    return 0


def cmd_check_vertical(args: argparse.Namespace) -> int:
    from .testing import VerticalCheckError, check_vertical

    try:
        report = check_vertical(args.name, seed=args.seed, models=args.model or None)
    except VerticalCheckError as e:
        print(f"FAIL {e}", file=sys.stderr)
        return 1
    print(f"OK {report['vertical']}: {report['reference_entries']} reference entries "
          f"({report['protocols_checked']} with a declared protocol), models {', '.join(report['models'])}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from ..train.run import build_config, train

    cfg = build_config(args.vertical, args.dataset, args.model, args.out, args.config, args.set)
    out = train(cfg, overwrite=args.overwrite, track=args.track)
    metrics = json.loads((out / "metrics.json").read_text())
    _print_metrics(metrics)
    print(f"run directory: {out}")
    print(f"report: {out / 'report.html'}")
    return 0


def _print_metrics(metrics: dict) -> None:
    primary = metrics.get("primary")
    print(f"{metrics['vertical']} / {metrics['dataset']} / {metrics['model']} — {metrics['split']} n={metrics['n']}")
    for name, m in metrics["metrics"].items():
        if not isinstance(m, dict) or m.get("value") is None:
            continue
        ci = m.get("ci95") or [None, None]
        ci_txt = f"  [{ci[0]:.4f}, {ci[1]:.4f}]" if None not in ci else ""
        star = " *" if name == primary else ""
        print(f"  {name:<24} {m['value']:.4f}{ci_txt}{star}")
    from ..evaluate.baselines import summary_lines
    from ..evaluate.operating_points import summary_lines as operating_lines

    for line in summary_lines(metrics) + operating_lines(metrics):
        print(line)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..train.run import evaluate_run

    dest = evaluate_run(args.run_dir, dataset=args.dataset, split=args.split, sets=args.set)
    _print_metrics(json.loads((dest / "metrics.json").read_text()))
    print(f"written: {dest}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from ..serve.batch import predict_file
    from ..heads.predictor import Predictor, resolve_model_dir

    predictor = Predictor.load(resolve_model_dir(args.run_dir))
    if args.engine == "ray":
        from ..serve.ray_engine import predict_file_ray

        summary = predict_file_ray(predictor, args.input, args.output, chunk_rows=args.chunk_rows,
                                   id_column=args.id_column, progress=not args.quiet, address=args.ray_address,
                                   num_workers=args.ray_workers)
    else:
        summary = predict_file(predictor, args.input, args.output, chunk_rows=args.chunk_rows,
                               id_column=args.id_column, progress=not args.quiet)
    print(f"scored {summary['rows']} rows → {summary['output']}")
    if summary["errors"]:
        print(f"{summary['errors']} rows/files could not be scored: see {summary['errors_file']}")
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..serve.monitor import monitor, print_table

    out = Path(args.out) if args.out else Path(args.run_dir) / "monitor"
    doc = monitor(args.run_dir, args.input, labels=args.labels, out=out, time_column=args.time_column,
                  window=args.window, sets=args.set)
    print_table(doc)
    print(f"written: {out / 'monitor.json'}, {out / 'monitor.html'}")
    return 3 if doc["drift"] else 0


def cmd_export(args: argparse.Namespace) -> int:
    from ..serve.export import export_run

    dest, doc = export_run(args.run_dir, args.format, args.out)
    p = doc["parity"]
    print(f"exported {doc['vertical']}/{doc['model']} with {doc['exporter']} → {dest / doc['file']}")
    print(f"parity vs Predictor on {p['n']} rows: max |diff| {p['max_abs_diff']:.2e} (tolerance {p['tolerance']})")
    print(f"preprocessing: {doc['preprocessing']}; score: {doc['score']}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ..serve.app import serve

    serve(args.run_dir, host=args.host, port=args.port, token_env=args.token_env, max_body_bytes=args.max_body_bytes,
          backend=args.backend, workers=args.workers, access_log=not args.no_access_log)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from ..train.reproduce import reproduce

    results = reproduce(args.vertical, dataset=args.dataset, model=args.model, out=args.out)
    failed = [r for r in results if not r["ok"]]
    return 1 if failed else 0


def cmd_data(args: argparse.Namespace) -> int:
    from ..data import catalogue

    if args.data_cmd == "list":
        for card in catalogue.load_cards():
            found = catalogue.locate(card)
            if found:
                where = str(found)
            elif card.get("user_data"):
                where = "your own files: layout in its card"
            elif not card.get("files"):
                where = "no files: generated on demand (see its card)"
            else:
                where = "not found (see its card for where to get it)"
            print(f"{card['id']:<26} {card.get('vertical', ''):<16} {where}")
        return 0
    if args.data_cmd == "verify":
        ok = True
        for card in catalogue.load_cards(args.id):
            for line, good in catalogue.verify(card):
                print(line)
                ok &= good
        return 0 if ok else 1
    if args.data_cmd == "inspect":
        from ..data.inspect import inspect_file

        print(inspect_file(args.file, target=args.target, sep=args.sep, vertical=args.vertical, header=args.header))
        return 0
    if args.data_cmd == "fetch":
        for path in catalogue.fetch_card(catalogue.get_card(args.id)):
            print(f"fetched {path}")
        return 0
    raise AssertionError(args.data_cmd)


def cmd_new_vertical(args: argparse.Namespace) -> int:
    from .scaffold import new_vertical

    root = new_vertical(args.name, args.path)
    print(f"wrote plug-in vertical {args.name!r} in {root}")
    print(f"next: pip install -e {root} && pytest {root / 'tests'} && verticalkit list")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="verticalkit", description="Domain AI solutions kit: train, evaluate, "
                                "predict, export and serve models of the finance, medical and education verticals.")
    p.add_argument("--debug", action="store_true",
                   help="show the traceback of an unexpected error (also: VERTICALKIT_DEBUG=1)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("list", help="registered verticals, their datasets and models")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("train", help="train a model and write a run directory")
    s.add_argument("vertical", help="vertical id (see `verticalkit list`)")
    s.add_argument("--dataset", help="dataset id (default: the vertical's default)")
    s.add_argument("--model", help="model head name (default: the vertical's default)")
    s.add_argument("--out", required=True, help="run directory to write")
    s.add_argument("--config", help="YAML config file")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set train.epochs=5 --set data.protocol=temporal")
    s.add_argument("--overwrite", action="store_true", help="replace a complete run already in --out")
    s.add_argument("--track", choices=["mlflow", "none"],
                   help="log the run to MLflow (default: when MLFLOW_TRACKING_URI is set)")
    s.set_defaults(func=cmd_train)

    s = sub.add_parser("evaluate", help="evaluate a trained run on a split")
    s.add_argument("run_dir", metavar="DIR")
    s.add_argument("--dataset", help="another dataset of the same vertical")
    s.add_argument("--split", default="test", choices=["train", "val", "test"])
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    s.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("predict", help="batch-score a file or folder with a trained run")
    s.add_argument("run_dir", metavar="DIR")
    s.add_argument("--input", required=True, help="CSV / parquet file, or a folder the vertical reads")
    s.add_argument("--output", required=True, help="output .csv or .parquet (written atomically)")
    s.add_argument("--chunk-rows", type=int, default=100_000, help="rows scored per chunk")
    s.add_argument("--id-column", help="input column copied to the output's id column")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local: this process; ray: Ray Data workers (pip install 'verticalkit[ray]')")
    s.add_argument("--ray-address", help="address of an existing Ray cluster (default: start a local one)")
    s.add_argument("--ray-workers", type=int, default=2, help="scoring workers (Ray actors)")
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("monitor", help="drift of a new batch against the run's training reference; exit 3 on drift")
    s.add_argument("run_dir", metavar="DIR")
    s.add_argument("--input", required=True, help="CSV / parquet file, or a folder the vertical reads")
    s.add_argument("--labels", metavar="COL", help="label column: adds the primary metric with its bootstrap CI")
    s.add_argument("--out", help="folder for monitor.json and monitor.html (default: DIR/monitor)")
    s.add_argument("--time-column", metavar="COL", help="date/time column: score drift (and metric) per window")
    s.add_argument("--window", help="with --time-column: a pandas frequency (7D, 1h) or a number of equal-count windows "
                   "(default 4)")
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a threshold, e.g. --set monitor.psi=0.25 --set monitor.p_value=0.001")
    s.set_defaults(func=cmd_monitor)

    s = sub.add_parser("export", help="export a trained model to ONNX / TorchScript / torch.export, parity-checked")
    s.add_argument("run_dir", metavar="DIR")
    s.add_argument("--format", default="onnx", help="onnx (default), torchscript or torch_export")
    s.add_argument("--out", help="folder to write (default: DIR/export/FORMAT)")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("serve", help="serve a trained model over HTTP (pip install 'verticalkit[serve]')")
    s.add_argument("run_dir", metavar="DIR")
    s.add_argument("--host", default="127.0.0.1", help="interface to bind (default loopback only)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--token-env", default="VERTICALKIT_TOKEN",
                   help="environment variable holding the bearer token (unset: no auth)")
    s.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger requests get 413")
    s.add_argument("--backend", default="predictor", choices=["predictor", "onnx"],
                   help="onnx: score with onnxruntime on DIR/export/onnx (run `verticalkit export` first)")
    s.add_argument("--workers", type=int, default=1, help="server processes on the port (each loads the model)")
    s.add_argument("--no-access-log", action="store_true", help="no per-request access line (bodies are never logged)")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("reproduce", help="re-measure a vertical's reference results; fail outside tolerance")
    s.add_argument("vertical")
    s.add_argument("--dataset", help="only entries of this dataset")
    s.add_argument("--model", help="only entries of this model")
    s.add_argument("--out", help="keep the run directories here (default: a temporary folder)")
    s.set_defaults(func=cmd_reproduce)

    s = sub.add_parser("data", help="the dataset catalogue: list, verify, fetch; inspect a table")
    dsub = s.add_subparsers(dest="data_cmd", required=True, metavar="ACTION")
    d = dsub.add_parser("list", help="every dataset card and where its files were found")
    d.set_defaults(func=cmd_data)
    d = dsub.add_parser("verify", help="check found files against the card's checksums")
    d.add_argument("id", nargs="?", help="dataset id (default: all)")
    d.set_defaults(func=cmd_data)
    d = dsub.add_parser("inspect", help="a table's inferred column types, missing values, candidate target / id / "
                        "time columns, leakage warnings and the train command to run")
    d.add_argument("file")
    d.add_argument("--target", help="the label column (default: guessed)")
    d.add_argument("--sep", help="column separator (default: sniffed)")
    d.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="the first row is (--header) or is not (--no-header) a header (default: guessed)")
    d.add_argument("--vertical", default="fraud", help="vertical of the suggested train command (default fraud)")
    d.set_defaults(func=cmd_data)
    d = dsub.add_parser("fetch", help="download a dataset from its card's source (checksum-checked)")
    d.add_argument("id")
    d.set_defaults(func=cmd_data)

    s = sub.add_parser("check-vertical", help="run the conformance check on a registered vertical (exit 1 on failure)")
    s.add_argument("name", help="vertical id (see `verticalkit list`)")
    s.add_argument("--model", action="append", default=[], help="check only this model (repeatable)")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_check_vertical)

    s = sub.add_parser("new-vertical", help="scaffold an installable plug-in vertical")
    s.add_argument("name", help="vertical id (a lower-case Python identifier)")
    s.add_argument("--path", required=True, help="folder to write (new or empty)")
    s.set_defaults(func=cmd_new_vertical)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. Errors end in one ``error:`` line: bad input exits 2, an unexpected
    error 1 (its traceback with ``--debug`` / ``VERTICALKIT_DEBUG=1``), Ctrl-C 130, a closed
    pipe (``| head``) 141, quietly."""
    debug = os.environ.get("VERTICALKIT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")
    show_warning = warnings.showwarning
    warnings.showwarning = functools.partial(_show_warning, fallback=show_warning)
    try:
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:  # --help or a usage error, printed: flush it here (a closed pipe is caught below)
            sys.stdout.flush()
            raise
        debug = debug or args.debug
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe surfaces here rather than at interpreter exit
        return code
    except VerticalkitError as e:
        if debug:
            traceback.print_exc()
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away: send what is left of stdout nowhere, so the exit flush is silent
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as e:  # noqa: BLE001 - the last resort: one line, not a traceback
        if debug:
            raise
        detail = str(e).splitlines()[0] if str(e) else ""
        print(f"error: unexpected {type(e).__name__}{': ' + detail if detail else ''} "
              f"(rerun with `verticalkit --debug ...` or VERTICALKIT_DEBUG=1 for the traceback, "
              f"and please report it)", file=sys.stderr)
        return 1
    finally:
        warnings.showwarning = show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None, *, fallback) -> None:
    """A plug-in warning as one ``warning:`` line; others as before."""
    from ..registry import PluginWarning

    if issubclass(category, PluginWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        fallback(message, category, filename, lineno, file, line)


if __name__ == "__main__":
    sys.exit(main())
