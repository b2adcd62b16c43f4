"""Run configuration: dataclasses, YAML files and ``--set a.b=value`` overrides.

Resolution order: dataclass defaults → the vertical's defaults for the model →
``--config F.yaml`` → ``--set`` overrides. An unknown key or a value of the wrong
type raises :class:`ConfigError` naming the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError


@dataclass
class TrainConfig:
    """The torch Trainer's settings (scikit-learn heads ignore all but ``seed``)."""

    epochs: int = 10
    batch_size: int = 128
    eval_batch_size: int | None = None
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adamw"  # adamw | adam | sgd
    momentum: float = 0.9  # sgd only
    scheduler: str = "cosine"  # cosine | linear | constant | multistep
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75])  # multistep: fractions of training
    warmup_ratio: float = 0.0
    grad_accum_steps: int = 1
    max_grad_norm: float | None = 1.0
    mixed_precision: str = "auto"  # auto | no | fp16 | bf16
    patience: int | None = 5  # early stopping on the primary metric; None disables it
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda
    progress: bool = True
    checkpoint_every_steps: int | None = None  # also checkpoint mid-epoch every N optimizer steps


@dataclass
class EvalConfig:
    """Evaluator settings: bootstrap, thresholds, calibration."""

    n_bootstrap: int = 500
    ci_level: float = 0.95
    cost_fp: float = 1.0  # cost of a false alarm (good predicted bad)
    cost_fn: float = 5.0  # cost of a miss (bad predicted good)
    target_sensitivity: float = 0.9
    alert_budget: float = 0.01  # fraction of cases (<1) or a count (>=1) that can be reviewed
    ece_bins: int = 15
    report: bool = True
    baselines: bool = True  # prior + the vertical's simple baseline beside the model (core/evaluate/baselines.py)


@dataclass
class MonitorConfig:
    """``verticalkit monitor`` thresholds. A batch of ``large_rows`` rows or more is judged by PSI (a
    column drifts when its PSI exceeds ``psi``); a smaller one by its test (p-value below ``p_value``
    divided by the number of columns, Bonferroni): PSI is biased upwards on small samples, while
    tests flag negligible shifts on large ones."""

    psi: float = 0.2
    p_value: float = 0.01
    large_rows: int = 1000
    n_bootstrap: int = 200  # replicates of the primary metric's CI on a labelled batch


@dataclass
class RunConfig:
    """Everything ``verticalkit train`` needs; saved resolved as ``<out>/config.yaml``."""

    vertical: str = ""
    dataset: str = ""
    model: str = ""
    out: str = ""
    seed: int = 42
    data: dict[str, Any] = field(default_factory=dict)  # keys: the dataset adapter's parameters
    model_params: dict[str, Any] = field(default_factory=dict)  # keys: the head's parameters
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _type_ok(value: Any, tp: Any) -> bool:
    origin = typing.get_origin(tp)
    if tp is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if origin is not None:
        tp = origin
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


class Mapping(dict):
    """A config mapping read from YAML or ``--set`` that also keeps the original text of its
    scalars YAML turned into a bool, number or null (``no`` → False, ``1.0e3`` → 1000.0)."""

    text: dict[str, str]

    def __init__(self, *args: Any, text: dict[str, str] | None = None, **kw: Any):
        super().__init__(*args, **kw)
        self.text = dict(text or {})


class _Loader(yaml.SafeLoader):
    """safe_load whose mappings are :class:`Mapping` (plain scalars keep their text)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode):
    data = Mapping()
    yield data
    data.update(loader.construct_mapping(node))
    data.text = {loader.construct_object(k): v.value for k, v in node.value
                 if isinstance(v, yaml.ScalarNode) and v.style is None and v.tag != "tag:yaml.org,2002:str"}


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
yaml.add_representer(Mapping, yaml.SafeDumper.represent_dict, Dumper=yaml.SafeDumper)


def as_text(updates: dict[str, Any], key: str, value: Any, expects_str: bool, optional: bool) -> Any:
    """The one place YAML's typing is undone: a key typed str gets the text the user wrote
    (``mixed_precision: no`` is "no", not False; ``device: 1.0e3`` is "1.0e3"); null stays None
    only where the key accepts None."""
    if not expects_str or isinstance(value, str) or (value is None and optional):
        return value
    text = getattr(updates, "text", {}).get(key)
    return text if text is not None else value


def _expects_str(tp: Any) -> tuple[bool, bool]:
    """(accepts str, accepts None) of a type hint."""
    args = typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else (tp,)
    return str in args, type(None) in args


def _coerce(value: Any, tp: Any) -> Any:
    if tp is float or (typing.get_origin(tp) in (typing.Union, types.UnionType) and float in typing.get_args(tp)):
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
    return value


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def merge_into(obj: Any, updates: dict[str, Any], where: str) -> None:
    """Apply ``updates`` to dataclass ``obj`` in place, checking keys and types."""
    hints = typing.get_type_hints(type(obj))
    valid = [f.name for f in dataclasses.fields(obj)]
    for key, value in updates.items():
        name = f"{where}.{key}" if where else key
        if key not in valid:
            raise ConfigError(f"unknown config key {name!r}; valid keys{' of ' + where if where else ''}: {', '.join(valid)}")
        tp = hints[key]
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"config key {name!r} is a section; give it a mapping or set {name}.<key>")
            merge_into(current, value, name)
            continue
        if isinstance(current, dict) and typing.get_origin(tp) is dict:
            if not isinstance(value, dict):
                raise ConfigError(f"config key {name!r} is a mapping; set {name}.<key>=<value>")
            # keep the text of its scalars: the section's types are known only to check_params
            text = {k: t for k, t in getattr(current, "text", {}).items() if k not in value}
            setattr(obj, key, Mapping({**current, **value}, text={**text, **getattr(value, "text", {})}))
            continue
        value = as_text(updates, key, value, *_expects_str(tp))
        if not _type_ok(value, tp):
            raise ConfigError(
                f"config key {name!r} expects {_type_name(tp)}, got {value!r} ({type(value).__name__}); fix its value"
            )
        setattr(obj, key, _coerce(value, tp))


def parse_set(items: list[str]) -> dict[str, Any]:
    """Turn ``["a.b=1", "c=x"]`` into a nested dict; values parse as YAML scalars."""
    out = Mapping()
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value, e.g. --set train.epochs=5")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, Mapping())
            if not isinstance(node, dict):
                raise ConfigError(f"--set {item!r}: {p!r} is set twice as a value and as a section")
        node[parts[-1]] = value
        if not isinstance(value, str):
            node.text[parts[-1]] = raw.strip()
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} not found; check the --config path")
    try:
        data = yaml.load(p.read_text(), Loader=_Loader) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]}); fix the syntax") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping of config keys")
    return data


def check_params(given: dict[str, Any], defaults: dict[str, Any], where: str) -> dict[str, Any]:
    """Check a free-form section (``data`` or ``model_params``) against known parameters.

    ``defaults`` maps each valid key to its default; a value whose default is not
    None must have the same type (ints are accepted for floats).
    """
    resolved = dict(defaults)
    for key, value in given.items():
        if key not in defaults:
            raise ConfigError(f"unknown config key '{where}.{key}'; valid keys of {where}: {', '.join(defaults) or '(none)'}")
        default = defaults[key]
        value = as_text(given, key, value, isinstance(default, str), True)
        if default is not None and value is not None:
            tp = type(default)
            if tp is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            elif tp in (tuple, list) and isinstance(value, (list, tuple)):
                value = tp(value)
            elif not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
                raise ConfigError(
                    f"config key '{where}.{key}' expects {tp.__name__}, got {value!r} ({type(value).__name__}); fix its value"
                )
        resolved[key] = value
    return resolved


def save_config(cfg: RunConfig, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def config_from_dict(d: dict[str, Any]) -> RunConfig:
    cfg = RunConfig()
    merge_into(cfg, d, "")
    return cfg
