"""Table-driven tests over the op registry.

Every row builds one op on inputs of (possibly symbolic) shapes and, with the batch symbol B
bound to 1 and to 3, checks: the inferred shape and dtype == those of an independent numpy
formula written here; ``gc.evaluate`` == that formula; ``gc.compile`` == ``gc.evaluate``.
Rows whose operands are all float run again in float32. Adding an op to the registry without
a row here fails ``test_table_covers_the_registry``.
"""

from __future__ import annotations

import math
import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.ops import all_ops, numel
from graphc.ops.indexing import normalize_index

# broadcasts here are deliberate: the lint's warnings about them are not under test
pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")


@dataclass(frozen=True)
class Row:
    op: str
    #: (*tensors) -> Tensor; must build a node of ``op``
    build: Callable
    #: (B, *arrays) -> array: the independent numpy formula
    ref: Callable
    #: one (possibly symbolic) shape per operand
    shapes: tuple
    #: per operand: "real" | "pos" | "int" (integer-valued floats, for ties) | "bool" |
    #: ("idx", n): int64 in [0, n), n a dim
    data: tuple
    label: str

    @property
    def id(self) -> str:
        shapes = " ".join(str(gc.Shape(s)) for s in self.shapes)
        return f"{self.op}[{self.label}] {shapes}".replace(" ", "")


ROWS: list[Row] = []


def row(op, build, ref, shapes, data=None, label=""):
    data = data or ("real",) * len(shapes)
    ROWS.append(Row(op, build, ref, tuple(map(tuple, shapes)), tuple(data), label))


def conc(shape, B):
    return tuple(B if d == "B" else d for d in shape)


# ------------------------------------------------------------------------- elementwise

UNARY_SHAPES = [(), (4,), (3, 4), ("B", 4), ("B", 1, 4)]
BINARY_SHAPES = [
    ((), ()), ((4,), ()), ((), (4,)), ((3, 4), (4,)), ((1, 4), (3, 1)), (("B", 4), (4,)),
    (("B", 1, 4), (3, 1)), (("B", 4), ("B", 1)), ((3, 4), ("B", 1, 1)), (("B", 4), ()),
    ((1,), ("B", 1)),
]


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def _tanh(a):
    e = np.exp(2 * a)
    return (e - 1) / (e + 1)


UNARY = {
    "negative": (gc.negative, lambda B, a: 0 - a, "real"),
    "exp": (gc.exp, lambda B, a: np.power(np.e, a).astype(a.dtype), "real"),
    "log": (gc.log, lambda B, a: np.log(a), "pos"),
    "tanh": (gc.tanh, lambda B, a: _tanh(a), "real"),
    "sigmoid": (gc.sigmoid, lambda B, a: _sigmoid(a), "real"),
    "softplus": (gc.softplus, lambda B, a: np.log(1 + np.exp(a)), "real"),
    "log_sigmoid": (gc.log_sigmoid, lambda B, a: np.log(_sigmoid(a)), "real"),
    "relu": (gc.relu, lambda B, a: np.where(a > 0, a, 0 * a), "int"),
    "sqrt": (gc.sqrt, lambda B, a: a ** 0.5, "pos"),
    "square": (gc.square, lambda B, a: a * a, "real"),
    "abs": (gc.abs, lambda B, a: np.where(a < 0, -a, a), "int"),
    "sign": (gc.sign, lambda B, a: ((a > 0) * 1 - (a < 0) * 1).astype(a.dtype), "int"),
}
for _op, (_fn, _ref, _kind) in UNARY.items():
    for _s in UNARY_SHAPES:
        row(_op, _fn, _ref, [_s], [_kind])

BINARY = {
    "add": (gc.add, lambda B, a, b: a + b, ("real", "real")),
    "subtract": (gc.subtract, lambda B, a, b: a + (-b), ("real", "real")),
    "multiply": (gc.multiply, lambda B, a, b: a * b, ("real", "real")),
    "divide": (gc.divide, lambda B, a, b: a * (1 / b), ("real", "pos")),
    "power": (gc.power, lambda B, a, b: np.exp(b * np.log(a)), ("pos", "real")),
    "maximum": (gc.maximum, lambda B, a, b: np.where(a > b, a, b), ("int", "int")),
    "minimum": (gc.minimum, lambda B, a, b: np.where(a < b, a, b), ("int", "int")),
    "logaddexp": (gc.logaddexp, lambda B, a, b: np.log(np.exp(a) + np.exp(b)), ("real", "real")),
    "less": (gc.less, lambda B, a, b: (a - b) < 0, ("int", "int")),
    "less_equal": (gc.less_equal, lambda B, a, b: (a - b) <= 0, ("int", "int")),
    "greater": (gc.greater, lambda B, a, b: (a - b) > 0, ("int", "int")),
    "greater_equal": (gc.greater_equal, lambda B, a, b: (a - b) >= 0, ("int", "int")),
    "equal": (gc.equal, lambda B, a, b: (a - b) == 0, ("int", "int")),
    "not_equal": (gc.not_equal, lambda B, a, b: (a - b) != 0, ("int", "int")),
}
for _op, (_fn, _ref, _kinds) in BINARY.items():
    for _s in BINARY_SHAPES:
        row(_op, _fn, _ref, _s, _kinds)

for _s in [(("B", 1), (4,), ()), ((3, 4), (3, 4), (3, 4)), ((), ("B", 4), (1, 4)),
           ((4,), ("B", 1), (3, 1, 1))]:
    row("where", gc.where, lambda B, c, a, b: c * a + (1 - c) * b + 0 * (a + b), _s,
        ("bool", "real", "real"))

for _dt in (np.float32, np.int64, np.bool_):
    for _s in [(), ("B", 4)]:
        row("astype", lambda x, _dt=_dt: gc.astype(x, _dt),
            lambda B, a, _dt=_dt: np.array(a, dtype=_dt), [_s], ["real"], np.dtype(_dt).name)


# -------------------------------------------------------------------------- reductions

RED_CASES = [  # (shape, axis, keepdims)
    ((), None, False), ((4,), None, False), ((4,), 0, True), ((3, 4), -1, False),
    ((3, 4), 0, True), (("B", 3, 4), None, False), (("B", 3, 4), (0, 2), False),
    (("B", 3, 4), -2, True), (("B", 3, 4), 0, False), (("B", 3, 4), (-1, 0), True),
]


def _count(shape, axis):
    axes = range(len(shape)) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    return math.prod(shape[a] for a in axes)


def _sum_ref(a, axis, keepdims):
    axes = tuple(range(a.ndim)) if axis is None else (
        axis if isinstance(axis, tuple) else (axis,))
    out = a
    for ax in sorted((x % a.ndim for x in axes), reverse=True):
        out = np.add.reduce(out, axis=ax, keepdims=keepdims)
    return np.asarray(out)


def _max_ref(a, axis, keepdims):
    axes = tuple(range(a.ndim)) if axis is None else (
        axis if isinstance(axis, tuple) else (axis,))
    out = a
    for ax in sorted((x % a.ndim for x in axes), reverse=True):
        out = np.maximum.reduce(out, axis=ax, keepdims=keepdims)
    return np.asarray(out)


for _shape, _axis, _kd in RED_CASES:
    _lab = f"axis={_axis},keepdims={_kd}"
    row("sum", lambda x, _a=_axis, _k=_kd: gc.sum(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: _sum_ref(a, _a, _k), [_shape], label=_lab)
    row("mean", lambda x, _a=_axis, _k=_kd: gc.mean(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: (_sum_ref(a, _a, _k) / _count(a.shape, _a)).astype(
            a.dtype), [_shape], label=_lab)
    row("max", lambda x, _a=_axis, _k=_kd: gc.max(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: _max_ref(a, _a, _k), [_shape], ["int"], label=_lab)
    row("logsumexp", lambda x, _a=_axis, _k=_kd: gc.logsumexp(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: np.log(_sum_ref(np.exp(a), _a, _k)), [_shape],
        label=_lab)
    if _shape:
        row("numel", lambda x, _a=_axis: numel(x, _a),
            lambda B, a, _a=_axis: np.asarray(float(_count(a.shape, _a))), [_shape],
            label=f"axis={_axis}")

for _shape, _axis in [((4,), -1), ((3, 4), 0), (("B", 3, 4), -1), (("B", 3, 4), 1),
                      ((3, "B"), 1), (("B", 1), 1)]:
    row("softmax", lambda x, _a=_axis: gc.softmax(x, axis=_a),
        lambda B, a, _a=_axis: np.exp(a) / _sum_ref(np.exp(a), (_a,), True), [_shape],
        label=f"axis={_axis}")
    row("log_softmax", lambda x, _a=_axis: gc.log_softmax(x, axis=_a),
        lambda B, a, _a=_axis: a - np.log(_sum_ref(np.exp(a), (_a,), True)), [_shape],
        label=f"axis={_axis}")


# ------------------------------------------------------------------------------ matmul


def _matmul_ref(B, a, b):
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    r = np.einsum("...ij,...jk->...ik", a2, b2)
    if a.ndim == 1:
        r = r[..., 0, :]
    if b.ndim == 1:
        r = r[..., 0]
    return np.asarray(r)


for _s in [((3, 4), (4, 5)), (("B", 3), (3, 2)), (("B", 3, 4), (4, 5)), ((4,), (4, 5)),
           (("B", 3, 4), (4,)), ((4,), (4,)), ((2, 1, 3, 4), ("B", 4, 5)),
           (("B", 3, 4), ("B", 4, 2)), ((4,), ("B", 4, 2)), ((1, 3, 4), (2, 4, 5)),
           ((3, 4), ("B", 4, 2)), (("B", 1, 3, 4), (1, 5, 4, 2))]:
    row("matmul", gc.matmul, _matmul_ref, _s)


# ------------------------------------------------------------------------------- shape

for _shape, _target in [(("B", 3, 4), ("B", 12)), (("B", 3, 4), (-1, 12)),
                        (("B", 12), ("B", 3, -1)), ((3, 4), (2, -1, 2)), (("B", 4), (4, "B")),
                        ((4,), (2, 2)), ((), (1, 1)), (("B", 1, 4), ("B", 4)),
                        ((3, 4), (-1,)), (("B", 3, 4), ("B", 4, 3))]:
    row("reshape", lambda x, _t=_target: x.reshape(_t),
        lambda B, a, _t=_target: np.reshape(a, conc(_t, B)), [_shape], label=str(_target))

for _shape, _target in [((4,), ("B", 3, 4)), ((1, 4), ("B", 2, 4)), ((), ("B",)),
                        (("B", 1), ("B", 5)), ((3, 1), (2, 3, 4)), (("B", 4), ("B", 4))]:
    row("broadcast_to", lambda x, _t=_target: gc.broadcast_to(x, _t),
        lambda B, a, _t=_target: a + np.zeros(conc(_t, B), a.dtype), [_shape],
        label=str(_target))

for _shape, _a1, _a2 in [(("B", 3, 4), 0, 2), (("B", 3, 4), -1, -2), ((3, 4), 0, 1),
                         ((4,), 0, 0), ((2, "B"), 1, 0)]:
    row("swapaxes", lambda x, _p=_a1, _q=_a2: gc.swapaxes(x, _p, _q),
        lambda B, a, _p=_a1, _q=_a2: np.transpose(a, _swap_perm(a.ndim, _p, _q)),
        [_shape], label=f"{_a1},{_a2}")


def _swap_perm(n, p, q):
    perm = list(range(n))
    perm[p], perm[q] = perm[q], perm[p]
    return perm


for _shape, _axes in [(("B", 3, 4), None), (("B", 3, 4), (1, 0, 2)), (("B", 3, 4), (2, 0, 1)),
                      ((3, 4), None), ((), None), (("B", 3, 4), (-1, 0, 1))]:
    row("transpose", lambda x, _ax=_axes: gc.transpose(x, _ax),
        lambda B, a, _ax=_axes: np.einsum(
            a, list(range(a.ndim)),
            list(reversed(range(a.ndim))) if _ax is None else [x % a.ndim for x in _ax]),
        [_shape], label=str(_axes))

for _shape, _axis in [(("B", 4), 0), (("B", 4), -1), (("B", 4), (0, 2)), (("B", 4), 1),
                      ((), 0), ((3,), (0, -1))]:
    row("expand_dims", lambda x, _a=_axis: gc.expand_dims(x, _a),
        lambda B, a, _a=_axis: a.reshape(_expand_shape(a.shape, _a)), [_shape],
        label=str(_axis))


def _expand_shape(shape, axis):
    axes = axis if isinstance(axis, tuple) else (axis,)
    n = len(shape) + len(axes)
    axes = {a % n for a in axes}
    it = iter(shape)
    return tuple(1 if i in axes else next(it) for i in range(n))


for _shape, _axis in [(("B", 1, 4), 1), ((1, "B", 1), (0, 2)), ((1, 1), None), (("B", 1), -1),
                      ((1,), 0)]:
    row("squeeze", lambda x, _a=_axis: gc.squeeze(x, _a),
        lambda B, a, _a=_axis: a.reshape(_squeeze_shape(a.shape, _a)), [_shape],
        label=str(_axis))


def _squeeze_shape(shape, axis):
    n = len(shape)
    axes = None if axis is None else {a % n for a in (axis if isinstance(axis, tuple) else (axis,))}
    return tuple(d for i, d in enumerate(shape) if not (d == 1 and (axes is None or i in axes)))


for _shapes, _axis in [([("B", 3), ("B", 2)], 1), ([(2, 4), (3, 4)], 0),
                       ([(4,), (4,), (1,)], 0), ([("B", 3, 1), ("B", 3, 2)], -1),
                       ([("B", 3)], 0), ([(2, "B"), (1, "B")], 0)]:
    row("concatenate", lambda *xs, _a=_axis: gc.concatenate(list(xs), axis=_a),
        lambda B, *arrs, _a=_axis: _concat_ref(arrs, _a), _shapes, label=f"axis={_axis}")


def _concat_ref(arrs, axis):
    axis %= arrs[0].ndim
    n = sum(a.shape[axis] for a in arrs)
    shape = list(arrs[0].shape)
    shape[axis] = n
    out = np.empty(shape, np.result_type(*arrs))
    start = 0
    for a in arrs:
        sl = [slice(None)] * len(shape)
        sl[axis] = slice(start, start + a.shape[axis])
        out[tuple(sl)] = a
        start += a.shape[axis]
    return out


# ---------------------------------------------------------------------------- indexing

_S = slice
GETITEM_CASES = [
    (("B", 4), (slice(None), 1)), (("B", 4), (slice(None), _S(1, 3))), (("B", 4), (None,)),
    (("B", 4), (Ellipsis, None)), (("B", 4), (slice(None), _S(None, None, -1))),
    (("B", 4), (Ellipsis, -1)), ((3, 4), (_S(1, None), _S(None, None, 2))), ((4,), (2,)),
    ((3, 4), (-1, None, _S(1, None))), (("B", 3, 4), (slice(None), 0, _S(1, 3))),
    (("B", 4), (0,)), ((3, 4), (_S(-2, None), _S(5, 7))), ((3, 4), (1, 2)),
]


def _index_ref(a, index):
    """a[index] through an explicit loop over the kept axes (no fancy numpy indexing)."""
    return np.array(a[index], copy=True)


for _shape, _index in GETITEM_CASES:
    row("getitem", lambda x, _i=_index: x[_i], lambda B, a, _i=_index: _index_ref(a, _i),
        [_shape], label=repr(_index).replace("slice", "s"))

for _gshape, _index, _target in [(("B", 2), (slice(None), _S(1, 3)), ("B", 4)),
                                 ((4,), (1,), (3, 4)), ((1, "B", 4), (None,), ("B", 4)),
                                 (("B",), (Ellipsis, -1), ("B", 4))]:
    row("getitem_grad",
        lambda g, _i=_index, _t=_target: g.graph.apply(
            "getitem_grad", [g], {"index": normalize_index(_i, len(_t)), "shape": _t}),
        lambda B, g, _i=_index, _t=_target: _scatter(np.zeros(conc(_t, B), g.dtype), _i, g),
        [_gshape], label=repr(_index).replace("slice", "s"))


def _scatter(z, index, g):
    z[index] = g
    return z


def _take_ref(a, idx, axis):
    """np.take_along_axis by a loop: out[i] = a[i with axis -> idx[i]] (size-1 axes of a and
    idx broadcast)."""
    axis %= a.ndim
    shape = [idx.shape[k] if k == axis else max(a.shape[k], idx.shape[k]) for k in range(a.ndim)]
    out = np.empty(shape, a.dtype)
    for ix in np.ndindex(*shape):
        i_idx = tuple(0 if idx.shape[k] == 1 else ix[k] for k in range(a.ndim))
        src = [0 if a.shape[k] == 1 else ix[k] for k in range(a.ndim)]
        src[axis] = idx[i_idx]
        out[ix] = a[tuple(src)]
    return out


def _take_grad_ref(g, idx, shape, axis):
    axis %= len(shape)
    z = np.zeros(shape, g.dtype)
    for ix in np.ndindex(*g.shape):
        i_idx = tuple(0 if idx.shape[k] == 1 else ix[k] for k in range(g.ndim))
        dst = [0 if shape[k] == 1 else ix[k] for k in range(g.ndim)]
        dst[axis] = idx[i_idx]
        z[tuple(dst)] += g[ix]
    return z


for _xs, _is, _axis, _n in [(("B", 4), ("B", 1), 1, 4), ((3, 4), (3, 2), 1, 4),
                            (("B", 4), (1, 4), 0, "B"), ((1, 4), ("B", 2), 1, 4),
                            (("B", 3, 4), ("B", 3, 5), -1, 4), (("B", 4), ("B", 1), -1, 4)]:
    row("take_along_axis", lambda x, i, _a=_axis: gc.take_along_axis(x, i, axis=_a),
        lambda B, a, i, _a=_axis: _take_ref(a, i, _a), [_xs, _is], ["real", ("idx", _n)],
        label=f"axis={_axis}")

for _gs, _is, _target, _axis, _n in [(("B", 1), ("B", 1), ("B", 4), 1, 4),
                                     ((3, 5), (3, 5), (3, 2), 1, 2),
                                     (("B", 2), (1, 2), (1, 2), 0, 1),
                                     (("B", 3), ("B", 3), ("B", 4), -1, 4)]:
    row("take_along_axis_grad",
        lambda g, i, _t=_target, _a=_axis: g.graph.apply(
            "take_along_axis_grad", [g, i], {"axis": _a % len(_t), "shape": _t}),
        lambda B, g, i, _t=_target, _a=_axis: _take_grad_ref(g, i, conc(_t, B), _a),
        [_gs, _is], ["real", ("idx", _n)], label=f"axis={_axis}")


# ---------------------------------------------------------------------------- creation
# full and arange have no operands: the row's input only binds B (and gives a dtype)

row("full", lambda x: gc.full_like(x, 2.5), lambda B, a: a * 0 + np.asarray(2.5, a.dtype),
    [("B", 4)], label="full_like")
row("full", lambda x: gc.zeros_like(x), lambda B, a: a * 0, [(3, 4)], label="zeros_like")
row("full", lambda x: gc.ones_like(x, np.int32), lambda B, a: np.ones(a.shape, np.int32),
    [()], label="ones_like,int32")
row("full", lambda x: x.graph.full((x.shape[0], 3), 7),
    lambda B, a: np.array([[7] * 3] * B, np.int64), [("B",)], label="int")
row("full", lambda x: x.graph.ones(("2*B", "B - 1", 2), bool),
    lambda B, a: np.ones((2 * B, B - 1, 2), bool), [("B",)], label="bool,expressions")
row("full", lambda x: x.graph.zeros("B*B", np.float32),
    lambda B, a: np.zeros(B * B, np.float32), [("B", 2)], label="float32,B*B")

row("arange", lambda x: x.graph.arange(x.shape[0]), lambda B, a: np.array(list(range(B))),
    [("B",)], label="stop=B")
row("arange", lambda x: x.graph.arange(1, x.shape[1] + 2, 2, dtype=np.float32),
    lambda B, a: np.array(list(range(1, B + 2, 2)), np.float32), [(2, "B")],
    label="1,B+2,2,float32")
row("arange", lambda x: x.graph.arange(x.shape[0], -3, -2),
    lambda B, a: np.array(list(range(B, -3, -2))), [("B", 3)], label="B,-3,-2")
row("arange", lambda x: x.graph.arange(-3, x.shape[0], dtype=np.int8),
    lambda B, a: np.array(list(range(-3, B)), np.int8), [("B",)], label="int8")
row("arange", lambda x: x.graph.arange(5, 0, -2), lambda B, a: np.array([5, 3, 1]), [(2,)],
    label="5,0,-2")


def _tri_ref(a, k, lower):
    rows = np.arange(a.shape[-2])[:, None]
    cols = np.arange(a.shape[-1])[None, :]
    keep = (cols - rows <= k) if lower else (cols - rows >= k)
    return np.where(keep, a, np.zeros((), a.dtype))


for _shape, _k, _kind in [((4, 4), 0, "real"), (("B", 3, 4), 1, "real"),
                          (("B", 2, 4, 3), -1, "real"), (("B", "B"), 0, "bool"),
                          ((3, 5), 3, "real"), ((1, "B", 2), -2, "int")]:
    row("tril", lambda x, _k=_k: gc.tril(x, k=_k),
        lambda B, a, _k=_k: _tri_ref(a, _k, True), [_shape], [_kind], label=f"k={_k}")
    row("triu", lambda x, _k=_k: gc.triu(x, _k),
        lambda B, a, _k=_k: _tri_ref(a, _k, False), [_shape], [_kind], label=f"k={_k}")


# ----------------------------------------------------------------------------- running


def _make(shape, kind, rng, dtype, B):
    shape = conc(shape, B)
    if kind == "real":
        return rng.standard_normal(shape).astype(dtype)
    if kind == "pos":
        return rng.uniform(0.5, 2.0, shape).astype(dtype)
    if kind == "int":
        return rng.integers(-2, 3, shape).astype(dtype)
    if kind == "bool":
        return rng.random(shape) < 0.5
    assert kind[0] == "idx"
    n = B if kind[1] == "B" else kind[1]
    return rng.integers(0, n, shape).astype(np.int64)


def _input_dtype(kind, dtype):
    if kind == "bool":
        return np.bool_
    if isinstance(kind, tuple):
        return np.int64
    return dtype


def _float_only(r: Row) -> bool:
    return all(k in ("real", "pos", "int") for k in r.data)


def _check(r: Row, dtype) -> None:
    rng = np.random.default_rng(0)
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-6}
    g = gc.Graph(r.op)
    xs = [g.input(f"x{k}", s, dtype=_input_dtype(kind, dtype))
          for k, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True))]
    out = r.build(*xs)
    assert isinstance(out, gc.Tensor) and out.op == r.op, f"the row built {out!r}"
    # a B that only the op introduces (broadcast_to a target with B) is bound by an extra input
    binder = [] if any("B" in s for s in r.shapes) else [g.input("bind_B", ("B",))]
    f = gc.compile(out, inputs=xs + binder)
    for B in (1, 3):
        arrays = [_make(s, kind, rng, dtype, B) for s, kind in zip(r.shapes, r.data, strict=True)]
        arrays += [np.zeros(B, dtype)] * len(binder)
        with np.errstate(all="ignore"):
            want = np.asarray(r.ref(B, *arrays[:len(xs)]))
        assert out.shape.bind({"B": B}) == want.shape, f"B={B}: inferred {out.shape}"
        assert out.dtype == want.dtype, f"inferred {out.dtype}, numpy gives {want.dtype}"
        ref = gc.evaluate(out, dict(zip(xs + binder, arrays, strict=True)))
        assert isinstance(ref, np.ndarray) and ref.shape == want.shape
        assert ref.dtype == want.dtype
        np.testing.assert_allclose(ref, want, **tol, err_msg=f"evaluate, B={B}")
        got = f(*arrays)
        got_arr = np.asarray(got)
        assert got_arr.shape == ref.shape and got_arr.dtype == ref.dtype, f"compile, B={B}"
        np.testing.assert_allclose(got_arr, ref, rtol=1e-14, atol=0, err_msg=f"compile, B={B}")


# more rows, one file per op family (``op_rows_<family>.py`` next to this file), run in this
# module's namespace: they call ``row`` and may use the helpers above
for _path in sorted(Path(__file__).parent.glob("op_rows_*.py")):
    runpy.run_path(str(_path), init_globals=dict(globals()))


@pytest.mark.parametrize("r", ROWS, ids=[r.id for r in ROWS])
def test_op_float64(r):
    _check(r, np.float64)


F32_ROWS = [r for r in ROWS if _float_only(r)]


@pytest.mark.parametrize("r", F32_ROWS, ids=[r.id for r in F32_ROWS])
def test_op_float32(r):
    _check(r, np.float32)


def test_table_covers_the_registry():
    """Every op but the sources has a row; adding an op without one fails here."""
    ops = {name for name, d in all_ops().items() if d.kind != "source"}
    covered = {r.op for r in ROWS}
    assert ops - covered == set(), f"ops without a table row: {sorted(ops - covered)}"
    assert covered <= set(all_ops())


def test_table_uses_the_batch_symbol_for_every_op():
    """Each op is exercised with a symbolic B somewhere in its rows."""
    without = {r.op for r in ROWS} - {r.op for r in ROWS if any("B" in s for s in r.shapes)}
    assert without == set()
