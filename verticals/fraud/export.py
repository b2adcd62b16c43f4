"""ONNX / TorchScript / torch.export hooks of the fraud heads (see verticalkit.core.serve.export).

Every fraud head exports to the same inputs, built from the table by the contract
``verticalkit.table/1`` in ``preprocessing.json`` (the only step outside the graph)::

    num  float32 (n, n_numeric)      numeric training columns, in order; NaN = missing
                                     (±inf too: the graph reads it as NaN)
    cat  int64   (n, n_categorical)  text columns: 1 + position of the value in the
                                     column's category list, 0 = not in it (unseen);
                                     a null is the category "missing", as in training

(an input is left out when the head has no column of its kind). Everything else is in
the graph: first, ±inf → NaN, and in a column cut to its most frequent categories (whose
list ends up holding ``(other)``) code 0 → the code of ``(other)``, as the head does; then

* ``logreg``: median imputation (NaN → median, plus the missing indicators), standardisation,
  one-hot (code 0 → all zeros, as ``handle_unknown="ignore"``) and the logistic regression,
  as ``(x - mean) / scale · w + Σ table[code] + b``;
* ``scorecard``: the WoE bins (numeric: count of cut points ≤ x, NaN → the ``missing``
  bin or, without one, the neutral ``unseen`` bin; categorical: category → bin) and the
  logistic regression on WoE, as a sum of per-bin lookups;
* ``gbdt``: the HistGradientBoosting trees as an ONNX-ML ``TreeEnsembleRegressor``.
  skl2onnx converts categorical splits as numeric ones (wrong), so each categorical
  split gets a derived 0/1 feature (a lookup of the code: 1 = go right, with sklearn's
  rules for unknown and missing categories) and becomes ``feature <= 0.5``;
* ``forest``: one-hot (code 0 → all zeros) and the trees as an ONNX-ML
  ``TreeEnsembleRegressor`` (NaN to the side each split learnt) averaging the leaves'
  positive fractions (thresholds rounded
  down to float32, as the trees compare float32 inputs); ``blend``: the logreg graph's
  sigmoid and the forest's average, weighted. Both end in ``log p - log(1 - p)``, so the
  shared sigmoid output gives back p;
* ``lightgbm`` / ``xgboost``: their trees (``dump_model`` / the JSON dump) as a
  ``TreeEnsembleRegressor``, categorical splits as for gbdt;
* ``mlp`` / ``ft_transformer``: median imputation and missing indicators, standardisation
  and ±10 sd clipping, the embeddings and
  the network, then softmax (``TorchExport``; also TorchScript and torch.export).

The scikit-learn heads' graphs are written node by node in :class:`OnnxGraph`, a small
estimator with a registered skl2onnx converter, so ``verticalkit export`` (skl2onnx path,
parity check against the Predictor, tolerance 1e-4) handles them like any other head.
Output: ``probabilities`` ``(n, 2)``, column 1 = P(positive).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from verticalkit.core.serve.export import TABLE_CONTRACT

UNSEEN_TEXT = "\x00unseen category"  # a value no training column holds (parity samples)


# -- the input contract ------------------------------------------------------------------------
def contract(head: Any, vocab: dict[str, list[str]]) -> dict[str, Any]:
    """preprocessing.json of a fraud head (module docstring)."""
    tensors = []
    if head.numeric_features_:
        tensors.append({"name": "num", "dtype": "float32", "columns": list(head.numeric_features_),
                        "missing": "NaN (±inf is read as NaN)"})
    if head.categorical_features_:
        tensors.append({"name": "cat", "dtype": "int64", "columns": list(head.categorical_features_),
                        "categories": {c: [str(v) for v in vocab[c]] for c in head.categorical_features_},
                        "offset": 1, "unknown": 0})
    return {"contract": TABLE_CONTRACT, "columns": list(head.feature_names_in_), "null_category": "missing",
            "tensors": tensors,
            "description": "num: the numeric columns as float32 (NaN = missing); cat: each text column as "
                           "int64, 1 + the value's position in categories[column], 0 when not listed; a null "
                           "text value is the category 'missing'. Everything else runs inside model.onnx."}


def sample_rows(head: Any, points: dict[str, np.ndarray], vocab: dict[str, list[str]], n: int = 96,
                seed: int = 0) -> pd.DataFrame:
    """Parity rows: numerics drawn from ``points`` (values inside the head's bins / around its
    scaling), every category, unseen categories, NaN and ±inf."""
    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    for c in head.numeric_features_:
        v = rng.choice(np.asarray(points[c], dtype=float), size=n)
        v[rng.random(n) < 0.1] = np.nan
        v[rng.random(n) < 0.02] = np.inf
        cols[c] = v
    for c in head.categorical_features_:
        values = [str(v) for v in vocab[c]] + [UNSEEN_TEXT]
        if len(values) > n // 2:  # a long list: the unseen text, "(other)" and a random half-batch
            from .models import OTHER

            keep = [UNSEEN_TEXT] + ([OTHER] if OTHER in values else [])
            values = keep + list(rng.choice([v for v in values if v not in keep], n // 2, replace=False))
        cols[c] = np.array([values[i % len(values)] for i in rng.permutation(n)], dtype=object)
    return pd.DataFrame(cols)[list(head.feature_names_in_)]


def gaps(edges: Any) -> np.ndarray:
    """Values strictly inside every interval cut by ``edges`` (and beyond both ends)."""
    e = np.unique(np.asarray(edges, dtype=float))
    if not len(e):
        return np.array([-1.0, 0.0, 1.0])
    span = max(float(e[-1] - e[0]), 1.0)
    return np.concatenate([[e[0] - 0.1 * span], (e[:-1] + e[1:]) / 2, [e[-1] + 0.1 * span]])


def initial_types(head: Any) -> list[tuple[str, Any]]:
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType

    types = []
    if head.numeric_features_:
        types.append(("num", FloatTensorType([None, len(head.numeric_features_)])))
    if head.categorical_features_:
        types.append(("cat", Int64TensorType([None, len(head.categorical_features_)])))
    return types


# -- a graph written node by node, converted by skl2onnx ---------------------------------------------
class OnnxGraph(BaseEstimator):
    """``build(g, inputs) -> logit`` writes the graph with :class:`_Builder` ``g``; the
    output is ``probabilities = [1 - sigmoid(logit), sigmoid(logit)]``."""

    def __init__(self, build: Callable[..., str] | None = None, input_names: tuple[str, ...] = (),
                 unknown_codes: tuple[int, ...] = ()):
        self.build = build
        self.input_names = input_names
        self.unknown_codes = unknown_codes

    def onnx_parser(self) -> Callable[..., list[str]]:
        return lambda scope=None, inputs=None: ["probabilities"]


class _Builder:
    def __init__(self, scope: Any, container: Any):
        self.scope, self.container = scope, container

    def const(self, values: Any, dtype: Any = None) -> str:
        """An initializer: int64 for integer values, float32 otherwise."""
        from onnx import TensorProto

        arr = np.asarray(values)
        arr = arr.astype(dtype or (np.int64 if arr.dtype.kind in "iub" else np.float32))
        name = self.scope.get_unique_variable_name("c")
        onnx_type = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64}[arr.dtype]
        self.container.add_initializer(name, onnx_type, list(arr.shape), arr.reshape(-1).tolist())
        return name

    def op(self, op_type: str, *inputs: str, domain: str = "", version: int | None = None, out: str | None = None,
           **attrs: Any) -> str:
        out = out or self.scope.get_unique_variable_name(op_type.lower())
        self.container.add_node(op_type, list(inputs), [out], op_domain=domain, op_version=version,
                                name=self.scope.get_unique_operator_name(op_type), **attrs)
        return out

    def lookup(self, codes: str, tables: list[np.ndarray]) -> str:
        """Σ_j tables[j][codes[:, j]] as ``(n, 1)`` float: one Gather over the concatenated tables."""
        offsets = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.int64)
        idx = self.op("Add", codes, self.const(offsets[None, :], np.int64))
        vals = self.op("Gather", self.const(np.concatenate(tables).astype(np.float32)), idx, axis=0)
        return self.op("ReduceSum", vals, self.const([1], np.int64), keepdims=1)


def _shape(operator: Any) -> None:
    from skl2onnx.common.data_types import FloatTensorType

    operator.outputs[0].type = FloatTensorType([operator.inputs[0].get_first_dimension(), 2])


def _convert(scope: Any, operator: Any, container: Any) -> None:
    g = _Builder(scope, container)
    model = operator.raw_operator
    inputs = {name: v.onnx_name for name, v in zip(model.input_names, operator.inputs)}
    if "num" in inputs:  # ±inf → NaN (missing), as ColumnsMixin
        inputs["num"] = g.op("Where", g.op("IsInf", inputs["num"]), g.const([[np.nan]]), inputs["num"])
    if "cat" in inputs and any(model.unknown_codes):  # code 0 → (other) where the column has one
        codes = inputs["cat"]
        inputs["cat"] = g.op("Where", g.op("Equal", codes, g.const([[0]], np.int64)),
                             g.const(np.asarray(model.unknown_codes, np.int64)[None, :]), codes)
    logit = model.build(g, inputs)  # (n, 1) float
    p = g.op("Sigmoid", logit)
    q = g.op("Sub", g.const([[1.0]]), p)
    g.op("Concat", q, p, axis=1, out=operator.outputs[0].onnx_name)


_registered = False


def register_converter() -> None:
    global _registered
    if not _registered:
        from skl2onnx import update_registered_converter

        update_registered_converter(OnnxGraph, "VerticalkitFraudOnnxGraph", _shape, _convert)
        _registered = True


def unknown_codes(head: Any, vocab: dict[str, list[str]]) -> tuple[int, ...]:
    """Per categorical column, the code an unlisted value (code 0) stands for: ``(other)``'s in
    a column cut to its most frequent categories, else 0 (unseen)."""
    from .models import OTHER

    levels = getattr(head, "category_levels_", {})
    return tuple(1 + list(vocab[c]).index(OTHER) if c in levels and OTHER in vocab[c] else 0
                 for c in head.categorical_features_)


def _export(head: Any, build: Callable[..., str], vocab: dict[str, list[str]], points: dict[str, np.ndarray]
            ) -> Any:
    from verticalkit.core.serve.export import SklearnExport

    register_converter()
    types = initial_types(head)
    graph = OnnxGraph(build, tuple(n for n, _ in types), unknown_codes(head, vocab))
    return SklearnExport(graph, types, sample_X=sample_rows(head, points, vocab),
                         preprocessing=contract(head, vocab), options={})


def _sum(g: _Builder, terms: list[str]) -> str:
    out = terms[0]
    for t in terms[1:]:
        out = g.op("Add", out, t)
    return out


# -- logreg ---------------------------------------------------------------------------------------
def export_logreg(head: Any) -> Any:
    pre, lr = head.model_.steps[0][1], head.model_.steps[-1][1]  # ("pre", "lr"), since the families ("pre", "model")
    coef, b = lr.coef_[0].astype(float), float(lr.intercept_[0])
    n_num = len(head.numeric_features_)
    vocab, tables, points = {}, [], {}
    if n_num:
        imputer, scaler = pre.named_transformers_["num"].named_steps.values()
        median = imputer.statistics_
        ind = imputer.indicator_.features_ if imputer.indicator_ is not None else np.array([], int)
        n_in = n_num + len(ind)  # the imputed numerics, then the missing indicators
        w = coef[:n_in] / scaler.scale_
        b -= float(np.sum(w * scaler.mean_))
        for j, c in enumerate(head.numeric_features_):
            points[c] = scaler.mean_[j] + scaler.scale_[j] * np.linspace(-2.5, 2.5, 11)
    if head.categorical_features_:
        ohe, k = pre.named_transformers_["cat"], n_in if n_num else 0
        for j, c in enumerate(head.categorical_features_):
            cats = list(ohe.categories_[j])
            vocab[c] = cats
            tables.append(np.concatenate([[0.0], coef[k:k + len(cats)]]))
            k += len(cats)

    def build(g: _Builder, inp: dict[str, str]) -> str:
        terms = [g.const([[b]])]
        if n_num:
            x = inp["num"]
            imputed = g.op("Where", g.op("IsNaN", x), g.const(median[None, :]), x)
            terms.append(g.op("MatMul", imputed, g.const(w[:n_num, None])))
            if len(ind):
                flags = g.op("Cast", g.op("IsNaN", g.op("Gather", x, g.const(ind.astype(np.int64)), axis=1)), to=1)
                terms.append(g.op("MatMul", flags, g.const(w[n_num:, None])))
        if tables:
            terms.append(g.lookup(inp["cat"], tables))
        return _sum(g, terms)

    return _export(head, build, vocab, points)


# -- scorecard ------------------------------------------------------------------------------------
def export_scorecard(head: Any) -> Any:
    lr = head.lr_
    coef, b = lr.coef_[0].astype(float), float(lr.intercept_[0])
    sel = {c: j for j, c in enumerate(head.selected_)}
    vocab, points = {}, {}
    num_edges, num_tables, cat_tables = [], [], []
    for c in head.numeric_features_:
        spec = head.bins_[c]
        points[c] = gaps(spec["edges"])
        if c not in sel:
            continue
        woe = coef[sel[c]] * np.asarray(spec["woe"], dtype=float)
        n_bins = len(spec["edges"]) + 1
        nan_value = woe[-1] if spec["has_missing"] else 0.0  # the missing bin, or unseen (WoE 0)
        num_edges.append(np.asarray(spec["edges"], dtype=float))
        num_tables.append(np.concatenate([woe[:n_bins], [nan_value]]))
    num_idx = [j for j, c in enumerate(head.numeric_features_) if c in sel]
    for c in head.categorical_features_:
        mapping = head.bins_[c]["mapping"]
        vocab[c] = sorted(mapping)
        if c in sel:
            woe = coef[sel[c]] * np.asarray(head.bins_[c]["woe"], dtype=float)
            cat_tables.append(np.concatenate([[0.0], [woe[mapping[v]] for v in vocab[c]]]))
        else:
            cat_tables.append(np.zeros(len(vocab[c]) + 1))

    def build(g: _Builder, inp: dict[str, str]) -> str:
        terms = [g.const([[b]])]
        if num_idx:
            # bin = number of cut points <= x (searchsorted right), padded with +inf cut points
            width = max(len(e) for e in num_edges) or 1
            cuts = np.full((len(num_idx), width), np.inf)
            for j, e in enumerate(num_edges):
                cuts[j, :len(e)] = e
            x = g.op("Gather", inp["num"], g.const(np.array(num_idx, np.int64)), axis=1)  # (n, m)
            x3 = g.op("Unsqueeze", x, g.const([2], np.int64))  # (n, m, 1)
            ge = g.op("Cast", g.op("LessOrEqual", g.const(cuts[None]), x3), to=7)  # int64
            idx = g.op("ReduceSum", ge, g.const([2], np.int64), keepdims=0)  # (n, m)
            nan_idx = g.const([len(e) + 1 for e in num_edges], np.int64)
            idx = g.op("Where", g.op("IsNaN", x), nan_idx, idx)  # NaN: the missing (or unseen) slot
            terms.append(g.lookup(idx, num_tables))
        if cat_tables:
            terms.append(g.lookup(inp["cat"], cat_tables))
        return _sum(g, terms)

    return _export(head, build, vocab, points)


# -- gbdt -----------------------------------------------------------------------------------------
def _in_bitset(bitset: np.ndarray, v: int) -> bool:
    return bool((int(bitset[v // 32]) >> (v % 32)) & 1)


TREE_ATTRS = ("nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes", "nodes_values",
              "nodes_truenodeids", "nodes_falsenodeids", "nodes_missing_value_tracks_true", "target_treeids",
              "target_nodeids", "target_ids", "target_weights")  # TreeEnsembleRegressor attributes


def export_gbdt(head: Any) -> Any:
    model = head.model_
    n_num, n_cat = len(head.numeric_features_), len(head.categorical_features_)
    vocab = {c: [str(v) for v in head.encoder_.categories_[j]] for j, c in enumerate(head.categorical_features_)} \
        if n_cat else {}
    # HistGradientBoosting re-encodes its input: with categorical features, an inner
    # ColumnTransformer puts them first (ordinal-encoding the codes again), numerics after
    pp = getattr(model, "_preprocessor", None)
    if pp is None:
        inner = list(range(n_num + n_cat))  # inner feature -> outer column (num..., cat...)
        inner_codes: list[Any] = [None] * len(inner)
    else:
        enc_cols = np.flatnonzero(pp.transformers_[0][2]) if pp.transformers_[0][0] == "encoder" else []
        num_cols = np.flatnonzero(pp.transformers_[1][2])
        sl_enc, sl_num = pp.output_indices_["encoder"], pp.output_indices_["numerical"]
        inner = [0] * (n_num + n_cat)
        inner_codes = [None] * len(inner)
        for k, i in enumerate(range(sl_enc.start, sl_enc.stop)):
            inner[i] = int(enc_cols[k])
            inner_codes[i] = np.asarray(pp.named_transformers_["encoder"].categories_[k], dtype=float)
        for k, i in enumerate(range(sl_num.start, sl_num.stop)):
            inner[i] = int(num_cols[k])
    known, f_idx_map = model._bin_mapper.make_known_categories_bitsets() if n_cat else (None, None)
    thresholds = model._bin_mapper.bin_thresholds_
    points = {head.numeric_features_[inner[i]]: gaps(thresholds[i]) for i in range(len(inner)) if inner[i] < n_num}
    if len(model._predictors[0]) != 1:
        raise ValueError("gbdt export handles binary HistGradientBoosting (one tree per iteration)")

    attrs: dict[str, list] = {k: [] for k in TREE_ATTRS}
    split_tables: list[np.ndarray] = []  # per categorical split: code (0 = unseen) -> 1 go right, 0 go left
    split_cols: list[int] = []
    for t, (tree,) in enumerate(model._predictors):
        for i, node in enumerate(tree.nodes):
            attrs["nodes_treeids"].append(t)
            attrs["nodes_nodeids"].append(i)
            if node["is_leaf"]:
                attrs["nodes_featureids"].append(0)
                attrs["nodes_modes"].append("LEAF")
                attrs["nodes_values"].append(0.0)
                attrs["nodes_truenodeids"].append(0)
                attrs["nodes_falsenodeids"].append(0)
                attrs["nodes_missing_value_tracks_true"].append(0)
                attrs["target_treeids"].append(t)
                attrs["target_nodeids"].append(i)
                attrs["target_ids"].append(0)
                attrs["target_weights"].append(float(node["value"]))
                continue
            f = int(node["feature_idx"])  # inner feature
            outer = inner[f]
            left_missing = bool(node["missing_go_to_left"])
            if node["is_categorical"]:
                bits, kbits = tree.raw_left_cat_bitsets[node["bitset_idx"]], known[f_idx_map[f]]
                table = [0.0 if left_missing else 1.0]  # code 0: unseen → treated as missing
                codes = inner_codes[f]
                for c in range(len(head.encoder_.categories_[outer - n_num])):  # the head's ordinal code
                    hit = np.flatnonzero(codes == c)
                    u = int(hit[0]) if len(hit) else -1  # HistGradientBoosting's own code
                    if u < 0 or not (_in_bitset(bits, u) or _in_bitset(kbits, u)):
                        left = left_missing  # a category the trees never saw: missing
                    else:
                        left = _in_bitset(bits, u)
                    table.append(0.0 if left else 1.0)
                split_tables.append(np.array(table))
                split_cols.append(outer - n_num)
                feature, threshold, missing = n_num + len(split_tables) - 1, 0.5, 0
            else:
                feature, threshold, missing = outer, float(node["num_threshold"]), int(left_missing)
            attrs["nodes_featureids"].append(feature)
            attrs["nodes_modes"].append("BRANCH_LEQ")
            attrs["nodes_values"].append(threshold)
            attrs["nodes_truenodeids"].append(int(node["left"]))
            attrs["nodes_falsenodeids"].append(int(node["right"]))
            attrs["nodes_missing_value_tracks_true"].append(missing)
    base = float(np.ravel(model._baseline_prediction)[0])

    def build(g: _Builder, inp: dict[str, str]) -> str:
        parts = []
        if n_num:
            parts.append(inp["num"])
        if split_tables:
            codes = g.op("Gather", inp["cat"], g.const(np.array(split_cols, np.int64)), axis=1)
            offsets = np.cumsum([0] + [len(t) for t in split_tables[:-1]]).astype(np.int64)
            idx = g.op("Add", codes, g.const(offsets[None, :], np.int64))
            parts.append(g.op("Gather", g.const(np.concatenate(split_tables).astype(np.float32)), idx, axis=0))
        if not parts:  # a tree ensemble of leaves only
            parts.append(g.op("Cast", g.op("Gather", inp["cat"], g.const([0], np.int64), axis=1), to=1))
        x = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)
        return g.op("TreeEnsembleRegressor", x, domain="ai.onnx.ml", version=3, n_targets=1,
                    aggregate_function="SUM", post_transform="NONE", base_values=[base], **attrs)

    return _export(head, build, vocab, points)


# -- forest and blend -------------------------------------------------------------------------------
def _float32_floor(t: np.ndarray) -> np.ndarray:
    """The largest float32 <= each threshold: for a float32 x (scikit-learn's trees compare
    float32 inputs with float64 thresholds), ``x <= t`` iff ``x <= _float32_floor(t)``."""
    t = np.asarray(t, dtype=np.float64)
    t32 = t.astype(np.float32)
    return np.where(t32.astype(np.float64) > t, np.nextafter(t32, np.float32(-np.inf)), t32)


def _logit(g: _Builder, p: str) -> str:
    """log(p) - log(1 - p): the graph's output applies the sigmoid (p = 0 or 1 → ∓inf → 0 or 1)."""
    return g.op("Sub", g.op("Log", p), g.op("Log", g.op("Sub", g.const([[1.0]]), p)))


def _forest_parts(head: Any) -> tuple[dict[str, list[str]], dict[str, np.ndarray], Callable[..., str]]:
    """vocab, parity points and ``build(g, inputs) -> P(positive) (n, 1)`` of a ForestHead:
    one-hot of the codes (code 0, unseen → all zeros) after the numerics, then the trees as
    an ONNX-ML ``TreeEnsembleRegressor`` averaging the leaves' positive-class fractions."""
    n_num = len(head.numeric_features_)
    cats = head.categorical_features_
    vocab = {c: [str(v) for v in head.encoder_.categories_[j]] for j, c in enumerate(cats)} if cats else {}
    oh_cols = np.array([j for j, c in enumerate(cats) for _ in vocab[c]], np.int64)
    oh_codes = np.array([i + 1 for c in cats for i in range(len(vocab[c]))], np.int64)
    attrs: dict[str, list] = {k: [] for k in TREE_ATTRS}
    splits: dict[int, list[np.ndarray]] = {}
    for t, est in enumerate(head.model_.estimators_):
        tree = est.tree_
        n = tree.node_count
        leaf = tree.children_left == -1
        value = tree.value[:, 0, :]
        p1 = value[:, 1] / value.sum(axis=1)
        thr = _float32_floor(np.where(leaf, 0.0, tree.threshold))
        feature = np.where(leaf, 0, tree.feature).astype(int)
        attrs["nodes_treeids"] += [t] * n
        attrs["nodes_nodeids"] += list(range(n))
        attrs["nodes_featureids"] += feature.tolist()
        attrs["nodes_modes"] += ["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf]
        attrs["nodes_values"] += thr.tolist()
        attrs["nodes_truenodeids"] += np.where(leaf, 0, tree.children_left).tolist()
        attrs["nodes_falsenodeids"] += np.where(leaf, 0, tree.children_right).tolist()
        attrs["nodes_missing_value_tracks_true"] += np.where(leaf, 0, tree.missing_go_to_left).astype(int).tolist()
        leaves = np.flatnonzero(leaf)
        attrs["target_treeids"] += [t] * len(leaves)
        attrs["target_nodeids"] += leaves.tolist()
        attrs["target_ids"] += [0] * len(leaves)
        attrs["target_weights"] += p1[leaves].tolist()
        for f in np.unique(tree.feature[~leaf]):
            if f < n_num:
                splits.setdefault(int(f), []).append(tree.threshold[~leaf & (tree.feature == f)])
    points = {c: gaps(np.concatenate(splits[j])) if j in splits else gaps([])
              for j, c in enumerate(head.numeric_features_)}

    def build(g: _Builder, inp: dict[str, str]) -> str:
        parts = [inp["num"]] if n_num else []
        if cats:
            codes = g.op("Gather", inp["cat"], g.const(oh_cols), axis=1)
            parts.append(g.op("Cast", g.op("Equal", codes, g.const(oh_codes[None, :])), to=1))  # float
        x = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)
        return g.op("TreeEnsembleRegressor", x, domain="ai.onnx.ml", version=3, n_targets=1,
                    aggregate_function="AVERAGE", post_transform="NONE", base_values=[0.0], **attrs)

    return vocab, points, build


def export_forest(head: Any) -> Any:
    vocab, points, build = _forest_parts(head)
    return _export(head, lambda g, inp: _logit(g, build(g, inp)), vocab, points)


def export_blend(head: Any) -> Any:
    """``weight · sigmoid(logreg logit) + (1 - weight) · forest`` in one graph; both parts
    read the same ``num`` / ``cat`` inputs (their category lists come from the same rows)."""
    lr_spec = export_logreg(head.logreg_)
    lr_build = lr_spec.estimator.build
    vocab, points, fo_build = _forest_parts(head.forest_)
    lr_vocab = {t["name"]: t for t in lr_spec.preprocessing["tensors"]}.get("cat", {}).get("categories", {})
    if lr_vocab != vocab:
        raise ValueError("blend export: the logistic regression and the forest saw different categories")
    for c in head.numeric_features_:
        points[c] = np.concatenate([points[c], lr_spec.sample_X[c].to_numpy(dtype=float)])
    w = float(head.weight)

    def build(g: _Builder, inp: dict[str, str]) -> str:
        p_lr = g.op("Sigmoid", lr_build(g, inp))
        p = g.op("Add", g.op("Mul", p_lr, g.const([[w]])), g.op("Mul", fo_build(g, inp), g.const([[1.0 - w]])))
        return _logit(g, p)

    return _export(head, build, vocab, points)


# -- torch heads ----------------------------------------------------------------------------------
def export_torch(head: Any) -> Any:
    """``TorchExport`` of an mlp / ft_transformer head: ``(num, cat) -> probabilities``."""
    import torch
    from torch import nn

    from verticalkit.core.serve.export import TorchExport

    n_num, n_cat = len(head.numeric_features_), len(head.categorical_features_)

    class Scores(nn.Module):
        def __init__(self, core: nn.Module):
            super().__init__()
            self.core = core
            for name, v in (("mean", head.mean_), ("scale", head.scale_), ("median", head.median_)):
                self.register_buffer(name, torch.as_tensor(np.asarray(v, np.float32).reshape(1, -1)))
            if n_ind:  # (torch.export refuses empty buffers)
                self.register_buffer("indicator", torch.as_tensor(np.asarray(head.indicator_, np.int64)))
            if any_unknown:
                self.register_buffer("unknown", torch.as_tensor(np.asarray(unknown, np.int64).reshape(1, -1)))

        def _run(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
            if n_num:
                nan = torch.isnan(num) | torch.isinf(num)  # ±inf is missing, as in the head
                num = torch.where(nan, self.median, num)
                num = torch.clamp((num - self.mean) / self.scale, -10.0, 10.0)
                if n_ind:
                    num = torch.cat([num, nan[:, self.indicator].float()], dim=1)
            if any_unknown:
                cat = torch.where(cat == 0, self.unknown, cat)
            # the Transformer layers' fused inference kernel has no ONNX form: trace the plain ops
            fast = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                out = self.core(num, cat)
            finally:
                torch.backends.mha.set_fastpath_enabled(fast)
            return torch.softmax(out.float(), dim=1)

    class NumCat(Scores):
        def forward(self, num: torch.Tensor, cat: torch.Tensor) -> torch.Tensor:
            return self._run(num, cat)

    class NumOnly(Scores):
        def forward(self, num: torch.Tensor) -> torch.Tensor:
            return self._run(num, torch.zeros((num.shape[0], 0), dtype=torch.long))

    class CatOnly(Scores):
        def forward(self, cat: torch.Tensor) -> torch.Tensor:
            return self._run(torch.zeros((cat.shape[0], 0), dtype=torch.float32), cat)

    vocab = {c: list(head.vocab_[c]) for c in head.categorical_features_}
    unknown = unknown_codes(head, vocab)
    any_unknown, n_ind = any(unknown), len(head.indicator_)
    cls = NumCat if n_num and n_cat else NumOnly if n_num else CatOnly
    module = cls(head.module_).eval()
    points = {c: m + s * np.linspace(-2.5, 2.5, 11) for c, m, s in
              zip(head.numeric_features_, head.mean_, head.scale_)}
    sample = sample_rows(head, points, vocab)
    pre = contract(head, vocab)
    from verticalkit.core.serve.export import table_feeds

    feeds = table_feeds(pre, sample)
    names = [t["name"] for t in pre["tensors"]]
    example = tuple(torch.as_tensor(feeds[n]) for n in names)
    return TorchExport(module, example, names, sample_X=sample, output_name="probabilities", preprocessing=pre)


# -- lightgbm -------------------------------------------------------------------------------------
def _add_leaf(attrs: dict[str, list], tree: int, node: int, value: float) -> None:
    """One leaf of a dumped booster tree in ``TreeEnsembleRegressor`` attributes."""
    for k, v in (("nodes_featureids", 0), ("nodes_modes", "LEAF"), ("nodes_values", 0.0),
                 ("nodes_truenodeids", 0), ("nodes_falsenodeids", 0), ("nodes_missing_value_tracks_true", 0)):
        attrs[k].append(v)
    for k, v in (("target_treeids", tree), ("target_nodeids", node), ("target_ids", 0), ("target_weights", value)):
        attrs[k].append(v)


def _booster_graph(n_num: int, split_tables: list[np.ndarray], split_cols: list[int], attrs: dict[str, list],
                   base: float):
    """The graph of a booster dumped into ``TreeEnsembleRegressor`` attributes: the numeric block,
    then one derived 0/1 feature per categorical split (a lookup of the column's code in that
    split's table), summed into the log-odds from ``base``."""

    def build(g: _Builder, inp: dict[str, str]) -> str:
        parts = [inp["num"]] if n_num else []
        if split_tables:
            codes = g.op("Gather", inp["cat"], g.const(np.array(split_cols, np.int64)), axis=1)
            offsets = np.cumsum([0] + [len(t) for t in split_tables[:-1]]).astype(np.int64)
            idx = g.op("Add", codes, g.const(offsets[None, :], np.int64))
            parts.append(g.op("Gather", g.const(np.concatenate(split_tables).astype(np.float32)), idx, axis=0))
        if not parts:
            parts.append(g.op("Cast", g.op("Gather", inp["cat"], g.const([0], np.int64), axis=1), to=1))
        x = parts[0] if len(parts) == 1 else g.op("Concat", *parts, axis=1)
        return g.op("TreeEnsembleRegressor", x, domain="ai.onnx.ml", version=3, n_targets=1,
                    aggregate_function="SUM", post_transform="NONE", base_values=[base], **attrs)

    return build


def export_lightgbm(head: Any) -> Any:
    """The LightGBM trees (``dump_model``) as an ONNX-ML ``TreeEnsembleRegressor`` summing leaf
    values into the log-odds. Numeric splits ``x <= t`` (float32-floored t) send NaN to the
    default side (``missing_type`` NaN) or compare it as 0 (``None``); each categorical split
    gets a derived 0/1 feature (a lookup of the code: 0 = the split's category set, left; 1 =
    right, where NaN and unseen categories go), as for gbdt."""
    n_num = len(head.numeric_features_)
    vocab = {c: list(head.categories_[c]) for c in head.categorical_features_}
    dump = head.booster_.dump_model()
    attrs: dict[str, list] = {k: [] for k in TREE_ATTRS}
    split_tables: list[np.ndarray] = []
    split_cols: list[int] = []
    thresholds: dict[int, list[float]] = {}

    def add(t: int, node: dict[str, Any], ids: dict[int, int]) -> int:
        i = len(ids)
        ids[id(node)] = i
        attrs["nodes_treeids"].append(t)
        attrs["nodes_nodeids"].append(i)
        if "leaf_value" in node:
            _add_leaf(attrs, t, i, float(node["leaf_value"]))
            return i
        f = int(node["split_feature"])
        if node["decision_type"] == "==":
            left = {int(v) for v in str(node["threshold"]).split("||")}
            j = f - n_num
            table = [1.0] + [0.0 if k in left else 1.0 for k in range(len(vocab[head.categorical_features_[j]]))]
            split_tables.append(np.array(table))
            split_cols.append(j)
            feature, value, missing = n_num + len(split_tables) - 1, 0.5, 0
        else:
            if node["missing_type"] == "Zero":
                raise ValueError("lightgbm export: zero_as_missing splits are not supported")
            value = float(_float32_floor(np.array([node["threshold"]]))[0])
            thresholds.setdefault(f, []).append(float(node["threshold"]))
            nan_left = bool(node["default_left"]) if node["missing_type"] == "NaN" else 0.0 <= node["threshold"]
            feature, missing = f, int(nan_left)
        attrs["nodes_featureids"].append(feature)
        attrs["nodes_modes"].append("BRANCH_LEQ")
        attrs["nodes_values"].append(value)
        k = len(attrs["nodes_truenodeids"])
        attrs["nodes_truenodeids"].append(-1)
        attrs["nodes_falsenodeids"].append(-1)
        attrs["nodes_missing_value_tracks_true"].append(missing)
        attrs["nodes_truenodeids"][k] = add(t, node["left_child"], ids)
        attrs["nodes_falsenodeids"][k] = add(t, node["right_child"], ids)
        return i

    for t, tree in enumerate(dump["tree_info"]):
        add(t, tree["tree_structure"], {})
    points = {c: gaps(thresholds.get(j, [])) for j, c in enumerate(head.numeric_features_)}

    return _export(head, _booster_graph(n_num, split_tables, split_cols, attrs, 0.0), vocab, points)


# -- xgboost --------------------------------------------------------------------------------------
def export_xgboost(head: Any) -> Any:
    """The XGBoost trees (JSON dump) as a ``TreeEnsembleRegressor`` summing leaves plus the
    logit of ``base_score``: numeric splits ``x < t`` (float32, as XGBoost compares), NaN to the
    split's ``missing`` side; a categorical split (its listed categories go to ``yes``) becomes a
    derived 0/1 feature looked up from the code (unseen → the ``missing`` side)."""
    import json as _json

    n_num = len(head.numeric_features_)
    vocab = {c: list(head.categories_[c]) for c in head.categorical_features_}
    attrs: dict[str, list] = {k: [] for k in TREE_ATTRS}
    split_tables: list[np.ndarray] = []
    split_cols: list[int] = []
    thresholds: dict[int, list[float]] = {}

    def add(t: int, node: dict[str, Any]) -> None:
        i = int(node["nodeid"])
        attrs["nodes_treeids"].append(t)
        attrs["nodes_nodeids"].append(i)
        if "leaf" in node:
            _add_leaf(attrs, t, i, float(node["leaf"]))
            return
        f = int(str(node["split"]).lstrip("f"))
        yes, no, missing = int(node["yes"]), int(node["no"]), int(node["missing"])
        if isinstance(node["split_condition"], list):  # categorical: the listed codes go to "yes"
            listed = {int(v) for v in node["split_condition"]}
            j = f - n_num
            table = [0.0 if missing == yes else 1.0]
            table += [0.0 if k in listed else 1.0 for k in range(len(vocab[head.categorical_features_[j]]))]
            split_tables.append(np.array(table))
            split_cols.append(j)
            feature, mode, value, nan_yes = n_num + len(split_tables) - 1, "BRANCH_LEQ", 0.5, 0
        else:
            thresholds.setdefault(f, []).append(float(node["split_condition"]))
            feature, mode, value = f, "BRANCH_LT", float(np.float32(node["split_condition"]))
            nan_yes = int(missing == yes)
        for k, v in (("nodes_featureids", feature), ("nodes_modes", mode), ("nodes_values", value),
                     ("nodes_truenodeids", yes), ("nodes_falsenodeids", no),
                     ("nodes_missing_value_tracks_true", nan_yes)):
            attrs[k].append(v)
        for child in node["children"]:
            add(t, child)

    for t, text in enumerate(head.booster_.get_dump(dump_format="json")):
        add(t, _json.loads(text))
    base = float(str(_json.loads(head.booster_.save_config())["learner"]["learner_model_param"]["base_score"])
                 .strip("[]"))
    base_logit = float(np.log(base / (1 - base)))
    points = {c: gaps(thresholds.get(j, [])) for j, c in enumerate(head.numeric_features_)}

    return _export(head, _booster_graph(n_num, split_tables, split_cols, attrs, base_logit), vocab, points)
