"""The graphc op -> ONNX converters of ``graphc.onnx.export``: one function per graphc op.

A converter ``conv(b, node, xs, operands) -> value name`` builds the ONNX nodes computing
``node`` from its operands' value names ``xs`` (``operands``: their graphc nodes) with the
``Builder`` ``b`` (``b.add``, ``b.const``, ``b.dim``, ``b.shape``). It must give exactly the
node's shape and dtype (the checker's type inference and the tests hold it to that) and
numpy's values. It raises ``NoOnnxForm`` for a node it cannot express.

Where onnxruntime has no float64 kernel for an ONNX op (Acos, Asin, Atan, Sinh, Cosh, Tan,
Erf, Softplus, Conv, ConvTranspose, AveragePool), a float64 node is written with ops it does
run in float64, to float64 accuracy: arctan by argument halving and its series, erf with the
same piecewise Taylor table as graphc's kernel, convolutions and pooling as windows cut by
``Slice`` (``_windows``) contracted by ``Einsum`` or reduced. ``log1p`` and ``expm1``, which
ONNX lacks, use Kahan's corrections (``log(u) * x / (u - 1)`` with ``u = 1 + x``), exact to
a few ulps.

``REFUSED`` names the ops with no ONNX form, and why.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.ir.dims import broadcast_dims, is_symbolic, numel
from graphc.ir.node import Node
from graphc.onnx.export import INT64_MAX, INT64_MIN, Builder, NoOnnxForm, tensor_type

Converter = Callable[[Builder, Node, list, list], str]
CONVERTERS: dict[str, Converter] = {}

#: graphc ops with no ONNX form, and why
REFUSED: dict[str, str] = {
    name: "graphc's random draws (a counter-based generator whose state is a param) have no "
          "ONNX form; ONNX's random ops draw other numbers"
    for name in ("random_uniform", "random_normal", "random_bernoulli", "random_permutation",
                 "random_advance")
}

#: ops onnxruntime runs only in float32 among graphc's float dtypes
_F32_ONLY = frozenset({"Acos", "Asin", "Asinh", "Atan", "Atanh", "Cosh", "Sinh", "Tan", "Erf",
                       "Softplus", "Conv", "ConvTranspose", "AveragePool"})


def converts(*ops: str):
    """Register the decorated function as the converter of ``ops``."""
    def register(fn: Converter) -> Converter:
        for op in ops:
            if op in CONVERTERS:
                raise ValueError(f"two ONNX converters for {op!r}")
            CONVERTERS[op] = fn
        return fn
    return register


def _cast_all(b: Builder, xs: list, operands: list, dtype: Any) -> list:
    return [b.cast(x, n.dtype, dtype) for x, n in zip(xs, operands, strict=True)]


def _native(op_type: str, dtype: np.dtype) -> bool:
    """onnxruntime runs ``op_type`` in ``dtype`` (see ``_F32_ONLY``)."""
    return op_type not in _F32_ONLY or np.dtype(dtype) == np.float32


def _reshape(b: Builder, x: str, dims: Sequence[Any]) -> str:
    return b.add("Reshape", [x, b.shape(dims)], allowzero=1)


def _flat(b: Builder, x: str) -> str:
    return b.add("Reshape", [x, b.ints([-1])])


# ============================================================================ elementwise
def _unary(fn: Callable[[Builder, str, np.dtype], str]) -> Converter:
    """A converter of a one-operand elementwise op computed in the node's dtype."""
    def conv(b, n, xs, ops):
        return fn(b, b.cast(xs[0], ops[0].dtype, n.dtype), n.dtype)
    return conv


def _simple(op_type: str) -> Callable[[Builder, str, np.dtype], str]:
    return lambda b, x, dt: b.add(op_type, [x])


def _c(b: Builder, v: float, dt: np.dtype) -> str:
    return b.scalar(v, dt)


def log1p(b: Builder, x: str, dt: np.dtype) -> str:
    """log(1 + x) to full precision: ``log(u) * x / (u - 1)``, ``u = 1 + x`` (Kahan)."""
    u = b.add("Add", [x, _c(b, 1, dt)])
    um1 = b.add("Sub", [u, _c(b, 1, dt)])
    r = b.add("Div", [b.add("Mul", [b.add("Log", [u]), x]), um1])
    return b.add("Where", [b.add("Equal", [um1, _c(b, 0, dt)]), x, r])


def expm1(b: Builder, x: str, dt: np.dtype) -> str:
    """exp(x) - 1 to full precision: ``(u - 1) * x / log(u)``, ``u = exp(x)`` (Kahan)."""
    u = b.add("Exp", [x])
    um1 = b.add("Sub", [u, _c(b, 1, dt)])
    r = b.add("Div", [b.add("Mul", [um1, x]), b.add("Log", [u])])
    r = b.add("Where", [b.add("Equal", [um1, _c(b, -1, dt)]), um1, r])  # exp underflowed
    return b.add("Where", [b.add("Equal", [um1, _c(b, 0, dt)]), x, r])


def _softplus(b: Builder, x: str, dt: np.dtype) -> str:
    """numpy's logaddexp(x, 0): max(x, 0) + log1p(exp(-|x|))."""
    t = log1p(b, b.add("Exp", [b.add("Neg", [b.add("Abs", [x])])]), dt)
    return b.add("Add", [b.add("Max", [x, _c(b, 0, dt)]), t])


def atan(b: Builder, x: str, dt: np.dtype) -> str:
    """arctan: |x| > 1 through pi/2 - atan(1/|x|), three halvings (atan t = 2 atan(t /
    (1 + sqrt(1 + t^2)))) to |t| <= tan(pi/32), then 11 terms of the series."""
    if _native("Atan", dt):
        return b.add("Atan", [x])
    one = _c(b, 1, dt)
    a = b.add("Abs", [x])
    big = b.add("Greater", [a, one])
    t = b.add("Where", [big, b.add("Div", [one, a]), a])
    for _ in range(3):
        root = b.add("Sqrt", [b.add("Add", [one, b.add("Mul", [t, t])])])
        t = b.add("Div", [t, b.add("Add", [one, root])])
    t2 = b.add("Mul", [t, t])
    p = _c(b, 1 / 21, dt)
    for k in range(9, -1, -1):  # sum_k (-1)^k t^(2k+1) / (2k+1), by Horner in t^2
        p = b.add("Add", [b.add("Mul", [p, t2]), _c(b, (-1) ** k / (2 * k + 1), dt)])
    # the loop's first step used (-1)^10 / 21 for k = 10: signs alternate from there
    r = b.add("Mul", [b.add("Mul", [p, t]), _c(b, 8, dt)])
    r = b.add("Where", [big, b.add("Sub", [_c(b, math.pi / 2, dt), r]), r])
    return b.add("Mul", [b.add("Sign", [x]), r])


def _asin(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Asin", dt):
        return b.add("Asin", [x])
    one = _c(b, 1, dt)
    q = b.add("Mul", [b.add("Sub", [one, x]), b.add("Add", [one, x])])
    return atan(b, b.add("Div", [x, b.add("Sqrt", [q])]), dt)


def _acos(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Acos", dt):
        return b.add("Acos", [x])
    one = _c(b, 1, dt)
    q = b.add("Div", [b.add("Sub", [one, x]), b.add("Add", [one, x])])
    return b.add("Mul", [atan(b, b.add("Sqrt", [q]), dt), _c(b, 2, dt)])


def _sinh(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Sinh", dt):
        return b.add("Sinh", [x])
    e = expm1(b, x, dt)  # sinh = e (e + 2) / (2 (e + 1)), no cancellation about 0
    num = b.add("Mul", [e, b.add("Add", [e, _c(b, 2, dt)])])
    return b.add("Div", [num, b.add("Mul", [b.add("Add", [e, _c(b, 1, dt)]), _c(b, 2, dt)])])


def _cosh(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Cosh", dt):
        return b.add("Cosh", [x])
    s = b.add("Add", [b.add("Exp", [x]), b.add("Exp", [b.add("Neg", [x])])])
    return b.add("Mul", [s, _c(b, 0.5, dt)])


def _tan(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Tan", dt):
        return b.add("Tan", [x])
    return b.add("Div", [b.add("Sin", [x]), b.add("Cos", [x])])


def _asinh(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Asinh", dt):
        return b.add("Asinh", [x])
    a = b.add("Abs", [x])
    a2 = b.add("Mul", [a, a])
    root = b.add("Sqrt", [b.add("Add", [a2, _c(b, 1, dt)])])
    t = b.add("Add", [a, b.add("Div", [a2, b.add("Add", [root, _c(b, 1, dt)])])])
    return b.add("Mul", [b.add("Sign", [x]), log1p(b, t, dt)])


def _atanh(b: Builder, x: str, dt: np.dtype) -> str:
    if _native("Atanh", dt):
        return b.add("Atanh", [x])
    t = b.add("Div", [b.add("Mul", [x, _c(b, 2, dt)]), b.add("Sub", [_c(b, 1, dt), x])])
    return b.add("Mul", [log1p(b, t, dt), _c(b, 0.5, dt)])


def _erf(b: Builder, x: str, dt: np.dtype) -> str:
    """float32: Erf; float64: graphc's kernel (``graphc.ops.kernels.erf``) step by step, its
    table of Taylor coefficients about j/16 gathered by the nearest centre."""
    if _native("Erf", dt):
        return b.add("Erf", [x])
    from graphc.ops import kernels

    table = kernels._erf_table()
    deg, last, steps = kernels._ERF_DEGREE, kernels._ERF_LAST, kernels._ERF_STEPS
    a = b.add("Min", [b.add("Abs", [x]), _c(b, 7.0, dt)])
    j = b.add("Round", [b.add("Mul", [a, _c(b, float(steps), dt)])])
    j = b.add("Min", [j, _c(b, float(last + 1), dt)])
    j = b.add("Where", [b.add("IsNaN", [j]), _c(b, float(last + 1), dt), j])
    idx = b.add("Cast", [j], to=tensor_type(np.int64))
    d = b.add("Add", [b.add("Mul", [j, _c(b, -1.0 / steps, dt)]), a])
    dh = b.add("Where", [b.add("Less", [a, _c(b, 1e-100, dt)]), _c(b, 0.0, dt), d])
    coef = b.add("Gather", [b.const(table.astype(dt)), idx], axis=1)

    def row(k: int) -> str:
        return b.add("Gather", [coef, b.scalar(k, np.int64)], axis=0)

    p = row(deg)
    for k in range(deg - 1, 0, -1):
        p = b.add("Add", [b.add("Mul", [p, dh]), row(k)])
    p = b.add("Add", [b.add("Add", [b.add("Mul", [p, d]), row(deg + 1)]), row(0)])
    neg = b.add("Less", [x, _c(b, 0, dt)])
    return b.add("Where", [neg, b.add("Neg", [p]), p])


def _trunc(b: Builder, x: str, dt: np.dtype) -> str:
    neg = b.add("Less", [x, _c(b, 0, dt)])
    return b.add("Where", [neg, b.add("Ceil", [x]), b.add("Floor", [x])])


def _relu(b: Builder, x: str, dt: np.dtype) -> str:
    if dt.kind == "f":
        return b.add("Relu", [x])
    return b.add("Max", [x, _c(b, 0, dt)])


def _negative(b: Builder, x: str, dt: np.dtype) -> str:
    if dt.kind == "u" or dt == np.bool_:
        return b.add("Sub", [_c(b, 0, dt), x])
    return b.add("Neg", [x])


def _log_base(base: float) -> Callable[[Builder, str, np.dtype], str]:
    return lambda b, x, dt: b.add("Mul", [b.add("Log", [x]), _c(b, 1 / math.log(base), dt)])


def _cbrt(b: Builder, x: str, dt: np.dtype) -> str:
    r = b.add("Pow", [b.add("Abs", [x]), _c(b, 1 / 3, dt)])
    return b.add("Mul", [b.add("Sign", [x]), r])


UNARY: dict[str, Callable[[Builder, str, np.dtype], str]] = {
    "abs": _simple("Abs"), "negative": _negative, "exp": _simple("Exp"), "log": _simple("Log"),
    "sqrt": _simple("Sqrt"), "tanh": _simple("Tanh"), "sigmoid": _simple("Sigmoid"),
    "sin": _simple("Sin"), "cos": _simple("Cos"), "floor": _simple("Floor"),
    "ceil": _simple("Ceil"), "sign": _simple("Sign"), "reciprocal": _simple("Reciprocal"),
    "square": lambda b, x, dt: b.add("Mul", [x, x]), "relu": _relu,
    "softplus": _softplus,
    "log_sigmoid": lambda b, x, dt: b.add("Neg", [_softplus(b, b.add("Neg", [x]), dt)]),
    "log1p": log1p, "expm1": expm1, "log2": _log_base(2.0), "log10": _log_base(10.0),
    "exp2": lambda b, x, dt: b.add("Pow", [_c(b, 2, dt), x]), "cbrt": _cbrt,
    "arctan": atan, "arcsin": _asin, "arccos": _acos, "sinh": _sinh, "cosh": _cosh,
    "tan": _tan, "arcsinh": _asinh, "arctanh": _atanh, "erf": _erf, "trunc": _trunc,
}
for _op, _fn in UNARY.items():
    converts(_op)(_unary(_fn))


@converts("round")
def _round(b, n, xs, ops):
    x, dt, d = b.cast(xs[0], ops[0].dtype, n.dtype), n.dtype, n.attr["decimals"]
    if dt.kind != "f":
        if d >= 0:
            return b.add("Identity", [x])
        raise NoOnnxForm("rounding an integer tensor to a negative number of decimals")
    if d == 0:
        return b.add("Round", [x])
    # numpy: rint(x * 10**d) / 10**d, or rint(x / 10**-d) * 10**-d
    f = _c(b, 10.0 ** abs(d), dt)
    if d > 0:
        return b.add("Div", [b.add("Round", [b.add("Mul", [x, f])]), f])
    return b.add("Mul", [b.add("Round", [b.add("Div", [x, f])]), f])


def _binary(fn: Callable[[Builder, str, str, np.dtype], str]) -> Converter:
    """A converter of a two-operand elementwise op computed in the node's dtype."""
    def conv(b, n, xs, ops):
        a, c = _cast_all(b, xs, ops, n.dtype)
        return fn(b, a, c, n.dtype)
    return conv


def _atan2(b: Builder, y: str, x: str, dt: np.dtype) -> str:
    """numpy's arctan2: atan(|y|/|x|) put in its quadrant (0 where both are 0)."""
    r = atan(b, b.add("Div", [b.add("Abs", [y]), b.add("Abs", [x])]), dt)
    zero = _c(b, 0, dt)
    both = b.add("And", [b.add("Equal", [y, zero]), b.add("Equal", [x, zero])])
    r = b.add("Where", [both, zero, r])
    r = b.add("Where", [b.add("Less", [x, zero]), b.add("Sub", [_c(b, math.pi, dt), r]), r])
    return b.add("Where", [b.add("Less", [y, zero]), b.add("Neg", [r]), r])


def _remainder(b: Builder, a: str, c: str, dt: np.dtype) -> str:
    if dt.kind != "f":
        return b.add("Mod", [a, c], fmod=0)
    # numpy: fmod, then moved into the divisor's sign
    m = b.add("Mod", [a, c], fmod=1)
    zero = _c(b, 0, dt)
    fix = b.add("And", [b.add("Not", [b.add("Equal", [m, zero])]),
                        b.add("Xor", [b.add("Less", [c, zero]), b.add("Less", [m, zero])])])
    return b.add("Where", [fix, b.add("Add", [m, c]), m])


def _logaddexp(b: Builder, a: str, c: str, dt: np.dtype) -> str:
    t = b.add("Exp", [b.add("Neg", [b.add("Abs", [b.add("Sub", [a, c])])])])
    r = b.add("Add", [b.add("Max", [a, c]), log1p(b, t, dt)])
    same = b.add("Add", [a, _c(b, math.log(2.0), dt)])  # also a == b == +-inf
    return b.add("Where", [b.add("Equal", [a, c]), same, r])


BINARY: dict[str, Callable[[Builder, str, str, np.dtype], str]] = {
    "add": lambda b, a, c, dt: b.add("Add", [a, c]),
    "subtract": lambda b, a, c, dt: b.add("Sub", [a, c]),
    "multiply": lambda b, a, c, dt: b.add("Mul", [a, c]),
    "divide": lambda b, a, c, dt: b.add("Div", [a, c]),
    "power": lambda b, a, c, dt: b.add("Pow", [a, c]),
    "maximum": lambda b, a, c, dt: b.add("Max", [a, c]),
    "minimum": lambda b, a, c, dt: b.add("Min", [a, c]),
    "hypot": lambda b, a, c, dt: b.add("Sqrt", [b.add("Add", [b.add("Mul", [a, a]),
                                                              b.add("Mul", [c, c])])]),
    "fmod": lambda b, a, c, dt: b.add("Mod", [a, c], fmod=1),
    "remainder": _remainder, "logaddexp": _logaddexp, "arctan2": _atan2,
}
for _op, _fn in BINARY.items():
    converts(_op)(_binary(_fn))

COMPARE = {"equal": "Equal", "less": "Less", "less_equal": "LessOrEqual", "greater": "Greater",
           "greater_equal": "GreaterOrEqual"}


@converts(*COMPARE, "not_equal")
def _compare(b, n, xs, ops):
    a, c = _cast_all(b, xs, ops, np.result_type(*(o.dtype for o in ops)))
    if n.op == "not_equal":
        return b.add("Not", [b.add("Equal", [a, c])])
    return b.add(COMPARE[n.op], [a, c])


LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor"}


@converts(*LOGICAL, "logical_not")
def _logical(b, n, xs, ops):
    xs = _cast_all(b, xs, ops, np.bool_)
    if n.op == "logical_not":
        return b.add("Not", xs)
    return b.add(LOGICAL[n.op], xs)


@converts("isnan", "isfinite")
def _isnan(b, n, xs, ops):
    x, dt = xs[0], ops[0].dtype
    if dt.kind != "f":  # ints and bools are finite numbers
        return b.add("ConstantOfShape", [b.add("Shape", [x])],
                     value=_tensor(np.array([n.op == "isfinite"])))
    if n.op == "isnan":
        return b.add("IsNaN", [x])
    return b.add("Not", [b.add("Or", [b.add("IsNaN", [x]), b.add("IsInf", [x])])])


def _tensor(arr: np.ndarray):
    from onnx import numpy_helper

    return numpy_helper.from_array(arr)


@converts("where")
def _where(b, n, xs, ops):
    c = b.cast(xs[0], ops[0].dtype, np.bool_)
    a, d = _cast_all(b, xs[1:], ops[1:], n.dtype)
    return b.add("Where", [c, a, d])


@converts("clip")
def _clip(b, n, xs, ops):
    vs = _cast_all(b, xs, ops, n.dtype)
    out, k = vs[0], 1
    if n.attr["lower"]:
        out, k = b.add("Max", [out, vs[k]]), k + 1
    if n.attr["upper"]:
        out = b.add("Min", [out, vs[k]])
    return out if out != vs[0] else b.add("Identity", [out])


@converts("astype")
def _astype(b, n, xs, ops):
    if ops[0].dtype == n.dtype:
        return b.add("Identity", [xs[0]])
    return b.add("Cast", [xs[0]], to=tensor_type(n.dtype))


# ============================================================================= reductions
def _reduce(b: Builder, op_type: str, x: str, axes: Sequence[int], keepdims: bool) -> str:
    if not axes:
        return b.add("Identity", [x])
    return b.add(op_type, [x, b.ints(axes)], keepdims=int(bool(keepdims)))


REDUCE = {"sum": "ReduceSum", "mean": "ReduceMean", "max": "ReduceMax", "min": "ReduceMin",
          "prod": "ReduceProd"}


@converts(*REDUCE)
def _reduction(b, n, xs, ops):
    x = b.cast(xs[0], ops[0].dtype, n.dtype)
    if n.dtype == np.bool_:  # max/min of bools: any/all
        r = _reduce(b, REDUCE[n.op], b.cast(x, np.bool_, np.int32), n.attr["axis"],
                    n.attr["keepdims"])
        return b.cast(r, np.int32, np.bool_)
    return _reduce(b, REDUCE[n.op], x, n.attr["axis"], n.attr["keepdims"])


@converts("any", "all")
def _any_all(b, n, xs, ops):
    x = b.cast(b.cast(xs[0], ops[0].dtype, np.bool_), np.bool_, np.int32)
    r = _reduce(b, "ReduceMax" if n.op == "any" else "ReduceMin", x, n.attr["axis"],
                n.attr["keepdims"])
    return b.cast(r, np.int32, np.bool_)


@converts("logsumexp")
def _logsumexp(b, n, xs, ops):
    x, axes = b.cast(xs[0], ops[0].dtype, n.dtype), n.attr["axis"]
    if not axes:
        return b.add("Identity", [x])
    m = _reduce(b, "ReduceMax", x, axes, True)
    m = b.add("Where", [b.add("IsInf", [m]), _c(b, 0, n.dtype), m])
    s = _reduce(b, "ReduceSum", b.add("Exp", [b.add("Sub", [x, m])]), axes, True)
    return _reshape(b, b.add("Add", [b.add("Log", [s]), m]), n.shape)


@converts("numel")
def _numel(b, n, xs, ops):
    count = numel(ops[0].shape[a] for a in n.attr["axis"])
    v = b.add("Cast", [b.dim_scalar(count)], to=tensor_type(n.dtype))
    return v


@converts("softmax", "log_softmax")
def _softmax(b, n, xs, ops):
    x = b.cast(xs[0], ops[0].dtype, n.dtype)
    return b.add("Softmax" if n.op == "softmax" else "LogSoftmax", [x], axis=n.attr["axis"])


def _count(b: Builder, shape: Sequence[Any], axes: Sequence[int], dt: np.dtype) -> str:
    return b.add("Cast", [b.dim_scalar(numel(shape[a] for a in axes))], to=tensor_type(dt))


@converts("var", "std")
def _var(b, n, xs, ops):
    x, dt, axes = b.cast(xs[0], ops[0].dtype, n.dtype), n.dtype, n.attr["axis"]
    kd = n.attr["keepdims"]
    count = _count(b, ops[0].shape, axes, dt)
    mean = b.add("Div", [_reduce(b, "ReduceSum", x, axes, True), count])
    d = b.add("Sub", [x, mean])
    s = _reduce(b, "ReduceSum", b.add("Mul", [d, d]), axes, kd)
    denom = b.add("Max", [b.add("Sub", [count, _c(b, n.attr["ddof"], dt)]), _c(b, 0, dt)])
    v = b.add("Div", [s, denom])
    return b.add("Sqrt", [v]) if n.op == "std" else v


@converts("argmax", "argmin")
def _argmax(b, n, xs, ops):
    op_type = "ArgMax" if n.op == "argmax" else "ArgMin"
    x, axis = xs[0], n.attr["axis"]
    if ops[0].dtype == np.bool_:
        x = b.cast(x, np.bool_, np.int32)
    if axis is None:
        r = b.add(op_type, [_flat(b, x)], axis=0, keepdims=0)
        return _reshape(b, r, n.shape)
    return b.add(op_type, [x], axis=axis, keepdims=int(n.attr["keepdims"]))


@converts("cumsum", "cumprod")
def _cumsum(b, n, xs, ops):
    x, axis = b.cast(xs[0], ops[0].dtype, n.dtype), n.attr["axis"]
    if axis is None:
        x, axis = _flat(b, x), 0
    if n.op == "cumsum":
        return b.add("CumSum", [x, b.scalar(axis, np.int64)])
    if b.opset < 26:
        raise NoOnnxForm(f"cumprod needs ONNX's CumProd (opset 26); this export is opset "
                         f"{b.opset}")
    return b.add("CumProd", [x, b.scalar(axis, np.int64)])


@converts("norm")
def _norm(b, n, xs, ops):
    x, dt = b.cast(xs[0], ops[0].dtype, n.dtype), n.dtype
    ord_, axis = n.attr["ord"], n.attr["axis"]
    nd = ops[0].ndim
    axes = tuple(range(nd)) if axis is None else tuple(axis)
    if axis is None and ord_ is not None and nd == 2:
        axes = (0, 1)
    a = b.add("Abs", [x])
    if ord_ is None or ord_ == "fro" or (ord_ == 2 and len(axes) == 1):
        r = b.add("Sqrt", [_reduce(b, "ReduceSum", b.add("Mul", [x, x]), axes, True)])
    elif len(axes) == 1:
        r = _vector_norm(b, a, axes, ord_, dt)
    elif len(axes) == 2 and ord_ in (1, -1, math.inf, -math.inf):
        row, col = axes
        if ord_ in (1, -1):  # max/min over columns of the column sums
            sums = _reduce(b, "ReduceSum", a, (row,), True)
            r = _reduce(b, "ReduceMax" if ord_ == 1 else "ReduceMin", sums, (col,), True)
        else:
            sums = _reduce(b, "ReduceSum", a, (col,), True)
            r = _reduce(b, "ReduceMax" if ord_ > 0 else "ReduceMin", sums, (row,), True)
    else:
        raise NoOnnxForm(f"the matrix norm ord={ord_!r} (singular values)")
    return _reshape(b, r, n.shape)


def _vector_norm(b: Builder, a: str, axes: tuple, ord_: Any, dt: np.dtype) -> str:
    if ord_ == math.inf:
        return _reduce(b, "ReduceMax", a, axes, True)
    if ord_ == -math.inf:
        return _reduce(b, "ReduceMin", a, axes, True)
    if ord_ == 0:
        nz = b.cast(b.add("Not", [b.add("Equal", [a, _c(b, 0, dt)])]), np.bool_, dt)
        return _reduce(b, "ReduceSum", nz, axes, True)
    if ord_ == 1:
        return _reduce(b, "ReduceSum", a, axes, True)
    s = _reduce(b, "ReduceSum", b.add("Pow", [a, _c(b, float(ord_), dt)]), axes, True)
    return b.add("Pow", [s, _c(b, 1.0 / float(ord_), dt)])


# ================================================================================ matmul
_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _einsum(b: Builder, n: Node, xs: list, ops: list, subscripts: str) -> str:
    return b.add("Einsum", _cast_all(b, xs, ops, n.dtype), equation=subscripts)


@converts("matmul")
def _matmul(b, n, xs, ops):
    return b.add("MatMul", _cast_all(b, xs, ops, n.dtype))


@converts("einsum")
def _einsum_op(b, n, xs, ops):
    return _einsum(b, n, xs, ops, n.attr["subscripts"])


@converts("dot")
def _dot(b, n, xs, ops):
    p, q = ops[0].ndim, ops[1].ndim
    if p == 0 or q == 0:
        return b.add("Mul", _cast_all(b, xs, ops, n.dtype))
    a = _LETTERS[:p]
    if q == 1:
        c = a[-1]
        return _einsum(b, n, xs, ops, f"{a},{c}->{a[:-1]}")
    c = _LETTERS[p:p + q - 2] + a[-1] + _LETTERS[p + q - 2]
    return _einsum(b, n, xs, ops, f"{a},{c}->{a[:-1]}{c[:-2]}{c[-1]}")


@converts("inner")
def _inner(b, n, xs, ops):
    p, q = ops[0].ndim, ops[1].ndim
    if p == 0 or q == 0:
        return b.add("Mul", _cast_all(b, xs, ops, n.dtype))
    a = _LETTERS[:p - 1] + "z"
    c = _LETTERS[p - 1:p + q - 2] + "z"
    return _einsum(b, n, xs, ops, f"{a},{c}->{a[:-1]}{c[:-1]}")


@converts("tensordot")
def _tensordot(b, n, xs, ops):
    (ax_a, ax_b) = n.attr["axes"]
    p, q = ops[0].ndim, ops[1].ndim
    a = list(_LETTERS[:p])
    c = list(_LETTERS[p:p + q])
    for i, j in zip(ax_a, ax_b, strict=True):
        c[j] = a[i]
    out = [a[i] for i in range(p) if i not in ax_a] + [c[j] for j in range(q) if j not in ax_b]
    return _einsum(b, n, xs, ops, f"{''.join(a)},{''.join(c)}->{''.join(out)}")


@converts("outer")
def _outer(b, n, xs, ops):
    a, c = _cast_all(b, xs, ops, n.dtype)
    a = b.add("Reshape", [a, b.ints([-1, 1])])
    c = b.add("Reshape", [c, b.ints([1, -1])])
    return b.add("Mul", [a, c])


@converts("kron")
def _kron(b, n, xs, ops):
    a, c = _cast_all(b, xs, ops, n.dtype)
    nd = n.ndim
    sa = (1,) * (nd - ops[0].ndim) + tuple(ops[0].shape)
    sc = (1,) * (nd - ops[1].ndim) + tuple(ops[1].shape)
    a = _reshape(b, a, [d for da in sa for d in (da, 1)])
    c = _reshape(b, c, [d for dc in sc for d in (1, dc)])
    return _reshape(b, b.add("Mul", [a, c]), n.shape)


# ================================================================================= shape
@converts("reshape")
def _reshape_op(b, n, xs, ops):
    return _reshape(b, xs[0], n.shape)


@converts("broadcast_to")
def _broadcast_to(b, n, xs, ops):
    return b.add("Expand", [xs[0], b.shape(n.shape)])


@converts("swapaxes", "transpose")
def _transpose(b, n, xs, ops):
    nd = ops[0].ndim
    if n.op == "swapaxes":
        perm = list(range(nd))
        i, j = n.attr["axis1"], n.attr["axis2"]
        perm[i], perm[j] = perm[j], perm[i]
    else:
        perm = list(n.attr["axes"])
    if nd == 0:
        return b.add("Identity", [xs[0]])
    return b.add("Transpose", [xs[0]], perm=perm)


@converts("expand_dims")
def _expand_dims(b, n, xs, ops):
    return b.add("Unsqueeze", [xs[0], b.ints(n.attr["axis"])])


@converts("squeeze")
def _squeeze(b, n, xs, ops):
    axes = n.attr["axis"]
    if not axes:
        return b.add("Identity", [xs[0]])
    return b.add("Squeeze", [xs[0], b.ints(axes)])


@converts("concatenate")
def _concatenate(b, n, xs, ops):
    return b.add("Concat", _cast_all(b, xs, ops, n.dtype), axis=n.attr["axis"])


@converts("stack")
def _stack(b, n, xs, ops):
    axis = n.attr["axis"]
    parts = [b.add("Unsqueeze", [x, b.ints([axis])]) for x in _cast_all(b, xs, ops, n.dtype)]
    return b.add("Concat", parts, axis=axis)


@converts("split")
def _split(b, n, xs, ops):
    """Piece ``index`` of np.array_split: piece j is ceil((size - j) / sections) long, so it
    starts at the sum of those before it (a dim expression, folded by importers)."""
    axis, k, s = n.attr["axis"], n.attr["index"], n.attr["sections"]
    size = ops[0].shape[axis]
    start = sum(((size - j + s - 1) // s for j in range(k)), 0)
    end = start + n.shape[axis]
    return b.add("Slice", [xs[0], b.dim(start), b.dim(end), b.ints([axis])])


@converts("flip")
def _flip(b, n, xs, ops):
    axes = n.attr["axis"]
    if not axes:
        return b.add("Identity", [xs[0]])
    k = len(axes)
    return b.add("Slice", [xs[0], b.ints([INT64_MAX] * k), b.ints([INT64_MIN] * k),
                           b.ints(axes), b.ints([-1] * k)])


@converts("roll")
def _roll(b, n, xs, ops):
    x, shape = xs[0], ops[0].shape
    axes, shifts = n.attr["axis"], n.attr["shift"]
    if axes is None:
        flat = _flat(b, x)
        rolled = _roll_axis(b, flat, numel(shape), 0, shifts)
        return _reshape(b, rolled, n.shape)
    total: dict[int, Any] = {}
    for a, s in zip(axes, shifts, strict=True):
        total[a] = total.get(a, 0) + s
    for a, s in total.items():
        x = _roll_axis(b, x, shape[a], a, s)
    return x if x != xs[0] else b.add("Identity", [x])


def _roll_axis(b: Builder, x: str, size: Any, axis: int, shift: Any) -> str:
    """x rolled by ``shift`` along ``axis`` of length ``size``: x[size - s:] ++ x[:size - s]
    with s = shift mod size; with a symbolic size or shift, a Gather of the positions
    (arange(size) - shift) mod size."""
    if not is_symbolic(size) and not is_symbolic(shift):
        if size == 0 or shift % size == 0:
            return x
        cut = b.ints([size - shift % size])
        ax = b.ints([axis])
        head = b.add("Slice", [x, cut, b.ints([INT64_MAX]), ax])
        tail = b.add("Slice", [x, b.ints([0]), cut, ax])
        return b.add("Concat", [head, tail], axis=axis)
    n = b.dim_scalar(size)
    pos = b.add("Sub", [b.add("Range", [b.scalar(0, np.int64), n, b.scalar(1, np.int64)]),
                        b.dim_scalar(shift)])
    # (a size of 0 holds nothing to roll; Mod by it would fail)
    pos = b.add("Mod", [pos, b.add("Max", [n, b.scalar(1, np.int64)])], fmod=0)
    return b.add("Gather", [x, pos], axis=axis)


@converts("tile")
def _tile(b, n, xs, ops):
    reps, x, nd = tuple(n.attr["reps"]), xs[0], ops[0].ndim
    if len(reps) < nd:
        reps = (1,) * (nd - len(reps)) + reps
    elif len(reps) > nd:
        x = _reshape(b, x, (1,) * (len(reps) - nd) + tuple(ops[0].shape))
    if not reps:
        return b.add("Identity", [x])
    return b.add("Tile", [x, b.shape(reps)])


@converts("repeat")
def _repeat(b, n, xs, ops):
    x, r, axis = xs[0], n.attr["repeats"], n.attr["axis"]
    shape = tuple(ops[0].shape)
    if axis is None:
        x, shape, axis = _flat(b, x), (numel(shape),), 0
    big = shape[:axis + 1] + (r,) + shape[axis + 1:]
    x = b.add("Unsqueeze", [x, b.ints([axis + 1])])
    x = b.add("Expand", [x, b.shape(big)])
    return _reshape(b, x, n.shape)


@converts("pad")
def _pad(b, n, xs, ops):
    widths, mode = n.attr["pad_width"], n.attr["mode"]
    if not widths:
        return b.add("Identity", [xs[0]])
    pads = b.shape([w for w, _ in widths] + [w for _, w in widths])
    if mode == "constant":
        value = b.scalar(n.attr["constant_values"], n.dtype)
        return b.add("Pad", [xs[0], pads, value], mode="constant")
    return b.add("Pad", [xs[0], pads], mode=mode)


# ============================================================================== indexing
def _slice(b: Builder, x: str, index: tuple, out_shape: Sequence[Any]) -> str:
    """``x[index]`` (a normalized basic index): one Slice over the sliced axes, then a
    Reshape to ``out_shape`` (dropping the int axes, adding the new ones)."""
    starts, ends, axes, steps = [], [], [], []
    axis = 0
    for item in index:
        if item[0] == "new":
            continue
        if item[0] == "int":
            i = item[1]
            starts.append(i)
            ends.append(i + 1 if i != -1 else INT64_MAX)
            axes.append(axis)
            steps.append(1)
        else:
            _, lo, hi, step = item
            step = 1 if step is None else step
            if not (lo is None and hi is None and step == 1):
                if lo is None:
                    lo = 0 if step > 0 else INT64_MAX
                if hi is None:
                    hi = INT64_MAX if step > 0 else INT64_MIN
                starts.append(lo)
                ends.append(hi)
                axes.append(axis)
                steps.append(step)
        axis += 1
    if axes:
        x = b.add("Slice", [x, b.shape(starts), b.shape(ends), b.ints(axes), b.ints(steps)])
    return _reshape(b, x, out_shape)


@converts("getitem")
def _getitem(b, n, xs, ops):
    return _slice(b, xs[0], n.attr["index"], n.shape)


def _iota(b: Builder, shape: Sequence[Any]) -> str:
    """int64 positions 0, 1, ... in C order, of ``shape``."""
    r = b.add("Range", [b.scalar(0, np.int64), b.dim_scalar(numel(shape)),
                        b.scalar(1, np.int64)])
    return _reshape(b, r, shape)


def _scatter(b: Builder, base: str, shape: Sequence[Any], positions: str, values: str,
             add: bool) -> str:
    """``base`` (a flat view of ``shape``) with ``values`` written (or added) at the flat
    ``positions``; reshaped to ``shape``."""
    r = b.add("ScatterElements", [_flat(b, base), _flat(b, positions), _flat(b, values)],
              axis=0, reduction="add" if add else None)
    return _reshape(b, r, shape)


def _zeros(b: Builder, shape: Sequence[Any], dt: np.dtype) -> str:
    return b.add("ConstantOfShape", [b.shape(shape)], value=_tensor(np.zeros(1, dt)))


@converts("getitem_grad")
def _getitem_grad(b, n, xs, ops):
    shape = n.attr["shape"]
    at = _slice(b, _iota(b, shape), n.attr["index"], ops[0].shape)
    return _scatter(b, _zeros(b, [numel(shape)], n.dtype), shape, at, xs[0], add=False)


def _take(b: Builder, x: str, shape: Sequence[Any], idx: str, axis: Any) -> str:
    if axis is None:
        return b.add("Gather", [_flat(b, x), idx], axis=0)
    return b.add("Gather", [x, idx], axis=axis)


@converts("take")
def _take_op(b, n, xs, ops):
    return _take(b, xs[0], ops[0].shape, xs[1], n.attr["axis"])


@converts("take_grad")
def _take_grad(b, n, xs, ops):
    shape = n.attr["shape"]
    at = _take(b, _iota(b, shape), shape, xs[1], n.attr["axis"])
    return _scatter(b, _zeros(b, [numel(shape)], n.dtype), shape, at, xs[0], add=True)


@converts("add_at")
def _add_at(b, n, xs, ops):
    shape = ops[0].shape
    at = _take(b, _iota(b, shape), shape, xs[1], n.attr["axis"])
    values = b.cast(xs[2], ops[2].dtype, n.dtype)
    values = b.add("Expand", [values, b.add("Shape", [at])])
    return _scatter(b, b.cast(xs[0], ops[0].dtype, n.dtype), shape, at, values, add=True)


def _along(b: Builder, x: str, x_shape: Sequence[Any], idx: str, idx_shape: Sequence[Any],
           axis: int) -> str:
    """np.take_along_axis: x and idx broadcast on the other axes, then GatherElements."""
    nd = len(x_shape)
    common = [x_shape[a] if a == axis else broadcast_dims(x_shape[a], idx_shape[a])
              for a in range(nd)]
    xt = [x_shape[axis] if a == axis else common[a] for a in range(nd)]
    it = [idx_shape[axis] if a == axis else common[a] for a in range(nd)]
    x = b.add("Expand", [x, b.shape(xt)])
    idx = b.add("Expand", [idx, b.shape(it)])
    return b.add("GatherElements", [x, idx], axis=axis)


@converts("take_along_axis")
def _take_along_axis(b, n, xs, ops):
    return _along(b, xs[0], ops[0].shape, xs[1], ops[1].shape, n.attr["axis"])


@converts("take_along_axis_grad")
def _take_along_axis_grad(b, n, xs, ops):
    shape, axis = n.attr["shape"], n.attr["axis"]
    at = _along(b, _iota(b, shape), shape, xs[1], ops[1].shape, axis)
    at = b.add("Expand", [at, b.shape(ops[0].shape)])
    return _scatter(b, _zeros(b, [numel(shape)], n.dtype), shape, at, xs[0], add=True)


@converts("put_along_axis")
def _put_along_axis(b, n, xs, ops):
    shape, axis = ops[0].shape, n.attr["axis"]
    at = _along(b, _iota(b, shape), shape, xs[1], ops[1].shape, axis)
    values = b.add("Expand", [b.cast(xs[2], ops[2].dtype, n.dtype), b.add("Shape", [at])])
    at = b.add("Expand", [at, b.add("Shape", [values])])
    return _scatter(b, b.cast(xs[0], ops[0].dtype, n.dtype), shape, at, values, add=False)


def _sortable(b: Builder, x: str, dt: np.dtype) -> str:
    """x in a dtype TopK takes (bools as int32, in the same order)."""
    return b.cast(x, dt, np.int32) if dt == np.bool_ else x


@converts("sort", "argsort")
def _sort(b, n, xs, ops):
    axis, dt = n.attr["axis"], ops[0].dtype
    k = b.dim(ops[0].shape[axis])
    values, indices = b.add("TopK", [_sortable(b, xs[0], dt), k], n_out=2, axis=axis,
                            largest=0, sorted=1)
    return b.cast(values, np.int32, dt) if n.op == "sort" and dt == np.bool_ else (
        values if n.op == "sort" else indices)


@converts("topk")
def _topk(b, n, xs, ops):
    axis = n.attr["axis"]
    k = b.dim(n.attr["k"])
    x = _sortable(b, xs[0], ops[0].dtype)
    _, idx = b.add("TopK", [x, k], n_out=2, axis=axis, largest=int(n.attr["largest"]),
                   sorted=1)
    if not n.attr["sorted"]:  # graphc gives the k positions in increasing order
        idx, _ = b.add("TopK", [idx, k], n_out=2, axis=axis, largest=0, sorted=1)
    return idx


@converts("one_hot")
def _one_hot(b, n, xs, ops):
    labels = b.cast(xs[0], ops[0].dtype, np.int64)
    classes = b.add("Range", [b.scalar(0, np.int64), b.dim_scalar(n.attr["num_classes"]),
                              b.scalar(1, np.int64)])
    hit = b.add("Equal", [b.add("Unsqueeze", [labels, b.ints([-1])]), classes])
    return b.cast(hit, np.bool_, n.dtype)


def _diagonal(b: Builder, x: str, shape: Sequence[Any], offset: int, a1: int, a2: int,
              length: Any) -> str:
    """np.diagonal: the two axes moved last and flattened, then a Gather of the positions
    start + (n2 + 1) * i, i < length (the diagonal's length may be 0)."""
    nd = len(shape)
    rest = [a for a in range(nd) if a not in (a1, a2)]
    x = b.add("Transpose", [x], perm=rest + [a1, a2])
    n1, n2 = shape[a1], shape[a2]
    x = _reshape(b, x, [shape[a] for a in rest] + [n1 * n2])
    start = offset if offset >= 0 else -offset * n2
    i = b.add("Range", [b.scalar(0, np.int64), b.dim_scalar(length), b.scalar(1, np.int64)])
    pos = b.add("Add", [b.add("Mul", [i, b.dim_scalar(n2 + 1)]), b.dim_scalar(start)])
    return b.add("Gather", [x, pos], axis=len(rest))


@converts("diagonal")
def _diagonal_op(b, n, xs, ops):
    a = n.attr
    return _diagonal(b, xs[0], ops[0].shape, a["offset"], a["axis1"], a["axis2"], n.shape[-1])


@converts("diagonal_grad")
def _diagonal_grad(b, n, xs, ops):
    a, shape = n.attr, n.attr["shape"]
    at = _diagonal(b, _iota(b, shape), shape, a["offset"], a["axis1"], a["axis2"],
                   ops[0].shape[-1])
    return _scatter(b, _zeros(b, [numel(shape)], n.dtype), shape, at, xs[0], add=False)


@converts("trace")
def _trace(b, n, xs, ops):
    """The sum of the entries where (column - row) == offset, over the two axes (the
    diagonal's length may be no dim expression: min(B - 1, 3))."""
    a, shape = n.attr, ops[0].shape
    x = b.cast(xs[0], ops[0].dtype, n.dtype)
    a1, a2 = a["axis1"], a["axis2"]
    rest = [k for k in range(len(shape)) if k not in (a1, a2)]
    x = b.add("Transpose", [x], perm=rest + [a1, a2])
    zero, one = b.scalar(0, np.int64), b.scalar(1, np.int64)
    rows = b.add("Range", [zero, b.dim_scalar(shape[a1]), one])
    cols = b.add("Range", [zero, b.dim_scalar(shape[a2]), one])
    diff = b.add("Sub", [b.add("Unsqueeze", [cols, b.ints([0])]),
                         b.add("Unsqueeze", [rows, b.ints([1])])])
    on = b.add("Equal", [diff, b.scalar(a["offset"], np.int64)])
    x = b.add("Where", [on, x, b.scalar(0, n.dtype)])
    return b.add("ReduceSum", [x, b.ints([len(rest), len(rest) + 1])], keepdims=0)


@converts("tril", "triu")
def _tril(b, n, xs, ops):
    x, dt = xs[0], n.dtype
    if dt.kind not in "fb" and dt not in (np.int32, np.int64):
        r = b.add("Trilu", [b.cast(x, dt, np.int64), b.scalar(n.attr["k"], np.int64)],
                  upper=int(n.op == "triu"))
        return b.cast(r, np.int64, dt)
    return b.add("Trilu", [x, b.scalar(n.attr["k"], np.int64)], upper=int(n.op == "triu"))


# ============================================================================== creation
@converts("full")
def _full(b, n, xs, ops):
    value = np.array([n.attr["value"]], dtype=n.dtype)
    return b.add("ConstantOfShape", [b.shape(n.shape)], value=_tensor(value))


@converts("arange")
def _arange(b, n, xs, ops):
    a = n.attr
    r = b.add("Range", [b.dim_scalar(a["start"]), b.dim_scalar(a["stop"]),
                        b.dim_scalar(a["step"])])
    return b.cast(r, np.int64, n.dtype)


# ========================================================================== convolutions
def _windows(b: Builder, x: str, kernel: Sequence[int], stride: Sequence[int],
             dilation: Sequence[int], out: Sequence[Any]) -> str:
    """(N, C, K, *out) of the (already padded) x (N, C, *spatial): window element k (C order
    over the kernel) of every output position, one strided Slice per kernel element."""
    nd = len(kernel)
    axes = b.ints(range(2, 2 + nd))
    parts = []
    for offs in itertools.product(*(range(k) for k in kernel)):
        starts = [o * d for o, d in zip(offs, dilation, strict=True)]
        ends = [st + (m - 1) * s + 1 for st, m, s in zip(starts, out, stride, strict=True)]
        sl = b.add("Slice", [x, b.ints(starts), b.shape(ends), axes, b.ints(stride)])
        parts.append(b.add("Unsqueeze", [sl, b.ints([2])]))
    return parts[0] if len(parts) == 1 else b.add("Concat", parts, axis=2)


def _pad_frame(b: Builder, x: str, lo: Sequence[int], hi: Sequence[Any], value: Any,
               dt: np.dtype) -> str:
    """x padded (or cropped, for negative widths) on its spatial axes by ``lo``/``hi``."""
    if all(not is_symbolic(h) and h == 0 for h in hi) and not any(lo):
        return x
    pads = b.shape([0, 0, *lo, 0, 0, *hi])
    return b.add("Pad", [x, pads, b.scalar(value, dt)], mode="constant")


def _conv_geometry(n: Node) -> tuple:
    a = n.attr
    lo = [p[0] for p in a["padding"]]
    hi = [p[1] for p in a["padding"]]
    return list(a["stride"]), lo, hi, list(a["dilation"]), a["groups"]


def _einsum_conv(b: Builder, cols: str, w: str, N: Any, C: int, Co: int, G: int,
                 K: int, out: Sequence[Any]) -> str:
    """y (N, Co, *out) = sum over the group's channels and the kernel of cols * w."""
    P = numel(out)
    cols = _reshape(b, cols, [N, G, C // G, K, P])
    w = _reshape(b, w, [G, Co // G, C // G, K])
    y = b.add("Einsum", [cols, w], equation="ngckp,gock->ngop")
    return _reshape(b, y, [N, Co, *out])


@converts("conv")
def _conv(b, n, xs, ops):
    x, w = _cast_all(b, xs, ops, n.dtype)
    stride, lo, hi, dil, groups = _conv_geometry(n)
    kernel = list(ops[1].shape[2:])
    if _native("Conv", n.dtype) and min(lo + hi) >= 0:
        return b.add("Conv", [x, w], strides=stride, pads=lo + hi, dilations=dil,
                     group=groups, kernel_shape=kernel)
    out = list(n.shape[2:])
    x = _pad_frame(b, x, lo, [h + s for h, s in zip(hi, stride, strict=True)], 0, n.dtype)
    cols = _windows(b, x, kernel, stride, dil, out)
    N, C, Co = ops[0].shape[0], ops[0].shape[1], n.shape[1]
    return _einsum_conv(b, cols, w, N, C, Co, groups, math.prod(kernel), out)


@converts("conv_weight_grad")
def _conv_weight_grad(b, n, xs, ops):
    x, g = _cast_all(b, xs, ops, n.dtype)
    stride, lo, hi, dil, G = _conv_geometry(n)
    kernel = list(n.attr["kernel"])
    out = list(ops[1].shape[2:])
    x = _pad_frame(b, x, lo, [h + s for h, s in zip(hi, stride, strict=True)], 0, n.dtype)
    cols = _windows(b, x, kernel, stride, dil, out)
    N, C, Co = ops[0].shape[0], ops[0].shape[1], n.shape[0]
    P, K = numel(out), math.prod(kernel)
    cols = _reshape(b, cols, [N, G, C // G, K, P])
    g = _reshape(b, g, [N, G, Co // G, P])
    dw = b.add("Einsum", [cols, g], equation="ngckp,ngop->gock")
    return _reshape(b, dw, n.shape)


def _col2im(b: Builder, contrib: str, N: Any, C: int, size: Sequence[Any],
            kernel: Sequence[int], stride: Sequence[int], dil: Sequence[int], lo: Sequence[int],
            hi: Sequence[int], out: Sequence[Any], dt: np.dtype) -> str:
    """Sum ``contrib`` (N, C, K, *out) into an (N, C, *size) tensor at the positions of the
    windows (the adjoint of ``_windows`` on the padded frame), then crop the padding."""
    frame_hi = [h + s for h, s in zip(hi, stride, strict=True)]
    fsize = [sz + a + c for sz, a, c in zip(size, lo, frame_hi, strict=True)]
    shape = [N, C, *fsize]
    at = _windows(b, _iota(b, shape), kernel, stride, dil, out)
    frame = _scatter(b, _zeros(b, [numel(shape)], dt), shape, at, contrib, add=True)
    nd = len(size)
    starts = b.shape(list(lo))
    ends = b.shape([a + sz for a, sz in zip(lo, size, strict=True)])
    return b.add("Slice", [frame, starts, ends, b.ints(range(2, 2 + nd))])


@converts("conv_transpose")
def _conv_transpose(b, n, xs, ops):
    y, w = _cast_all(b, xs, ops, n.dtype)
    stride, lo, hi, dil, G = _conv_geometry(n)
    kernel = list(ops[1].shape[2:])
    size, m = list(n.attr["size"]), list(ops[0].shape[2:])
    N, C, Og = ops[0].shape[0], ops[0].shape[1], ops[1].shape[1]
    K, P = math.prod(kernel), numel(m)
    # contributions (N, O, K, *m): sum over the group's input channels of y * w
    yy = _reshape(b, y, [N, G, C // G, P])
    ww = _reshape(b, w, [G, C // G, Og, K])
    contrib = b.add("Einsum", [yy, ww], equation="ngcp,gcok->ngokp")
    contrib = _reshape(b, contrib, [N, G * Og, K, *m])
    # a negative padding widens the output: the frame is cropped by max(lo, 0) ...
    return _col2im(b, contrib, N, G * Og, size, kernel, stride, dil, lo, hi, m, n.dtype)


def _lowest(dt: np.dtype) -> Any:
    return -np.inf if dt.kind == "f" else (np.iinfo(dt).min if dt.kind in "iu" else False)


@converts("max_pool")
def _max_pool(b, n, xs, ops):
    x, dt = xs[0], n.dtype
    a = n.attr
    kernel, stride, pad = list(a["kernel"]), list(a["stride"]), list(a["padding"])
    dil, out = list(a["dilation"]), list(n.shape[2:])
    if not a["ceil_mode"] and dt in (np.float32, np.float64):
        # floor mode: ONNX's windows are torch's (ceil mode drops a last window that would
        # start in the right padding in torch, which ONNX runtimes do not all do)
        return b.add("MaxPool", [x], kernel_shape=kernel, strides=stride, pads=pad + pad,
                     dilations=dil)
    frame = _pad_frame(b, x, pad, [p + s for p, s in zip(pad, stride, strict=True)],
                       _lowest(dt), dt)
    cols = _windows(b, frame, kernel, stride, dil, out)
    return b.add("ReduceMax", [cols, b.ints([2])], keepdims=0)


def _pool_positions(b: Builder, n: Node, xshape: Sequence[Any]) -> tuple:
    """The windows of max_pool ``n`` over the input's spatial positions: (N, C, K, *out)
    flat spatial indices, -1 in the padding."""
    a = n.attr
    kernel, stride, pad = list(a["kernel"]), list(a["stride"]), list(a["padding"])
    dil, out = list(a["dilation"]), list(n.shape[2:])
    spatial = list(xshape[2:])
    pos = b.add("Expand", [_iota(b, spatial), b.shape(xshape)])
    frame = _pad_frame(b, pos, pad, [p + s for p, s in zip(pad, stride, strict=True)], -1,
                       np.dtype(np.int64))
    return _windows(b, frame, kernel, stride, dil, out)


@converts("max_pool_indices")
def _max_pool_indices(b, n, xs, ops):
    x, dt = xs[0], ops[0].dtype
    a = n.attr
    kernel, stride, pad = list(a["kernel"]), list(a["stride"]), list(a["padding"])
    dil, out = list(a["dilation"]), list(n.shape[2:])
    frame = _pad_frame(b, x, pad, [p + s for p, s in zip(pad, stride, strict=True)],
                       _lowest(dt), dt)
    cols = _windows(b, frame, kernel, stride, dil, out)
    k = b.add("ArgMax", [cols], axis=2, keepdims=1)
    pos = _pool_positions(b, n, ops[0].shape)
    return b.add("Squeeze", [b.add("GatherElements", [pos, k], axis=2), b.ints([2])])


@converts("max_pool_grad")
def _max_pool_grad(b, n, xs, ops):
    x, g = xs
    shape = ops[0].shape
    N, C = shape[0], shape[1]
    S = numel(shape[2:])
    idx = _max_pool_indices(b, _as_pool(n, ops[1]), [x], [ops[0]])
    base = b.add("Mul", [_iota(b, [N, C, 1]), b.dim(S)])
    base = _reshape(b, base, [N, C] + [1] * (len(shape) - 2))
    at = b.add("Add", [idx, base])
    return _scatter(b, _zeros(b, [numel(shape)], n.dtype), shape, at,
                    b.cast(g, ops[1].dtype, n.dtype), add=True)


def _as_pool(n: Node, g: Node) -> Node:
    """The max_pool_indices node whose windows ``max_pool_grad`` n scatters through."""
    import dataclasses

    return dataclasses.replace(n, op="max_pool_indices", shape=g.shape,
                               dtype=np.dtype(np.int64))


def _avg_divisor(b: Builder, n: Node, xshape: Sequence[Any], dt: np.dtype) -> str:
    """Each window's divisor (1, 1, *out) as torch counts it (see graphc's ``_divisor``)."""
    a = n.attr
    if a["divisor"] is not None:
        return _c(b, float(a["divisor"]), dt)
    kernel, stride, pad = list(a["kernel"]), list(a["stride"]), list(a["padding"])
    out = list(n.shape[2:])
    spatial = list(xshape[2:])
    ones = b.add("ConstantOfShape", [b.shape([1, 1, *spatial])],
                 value=_tensor(np.ones(1, dt)))
    if a["count_include_pad"]:  # the window within the padded input
        ones = _pad_frame(b, ones, pad, pad, 1, dt)
        frame = _pad_frame(b, ones, [0] * len(pad), list(stride), 0, dt)
    else:
        frame = _pad_frame(b, ones, pad, [p + s for p, s in zip(pad, stride, strict=True)],
                           0, dt)
    cols = _windows(b, frame, kernel, stride, [1] * len(kernel), out)
    return b.add("ReduceSum", [cols, b.ints([2])], keepdims=0)


@converts("avg_pool")
def _avg_pool(b, n, xs, ops):
    x, dt = b.cast(xs[0], ops[0].dtype, n.dtype), n.dtype
    a = n.attr
    kernel, stride, pad = list(a["kernel"]), list(a["stride"]), list(a["padding"])
    out = list(n.shape[2:])
    if not a["ceil_mode"] and a["divisor"] is None and _native("AveragePool", dt):
        return b.add("AveragePool", [x], kernel_shape=kernel, strides=stride, pads=pad + pad,
                     count_include_pad=int(a["count_include_pad"]))
    frame = _pad_frame(b, x, pad, [p + s for p, s in zip(pad, stride, strict=True)], 0, dt)
    cols = _windows(b, frame, kernel, stride, [1] * len(kernel), out)
    s = b.add("ReduceSum", [cols, b.ints([2])], keepdims=0)
    return b.add("Div", [s, _avg_divisor(b, n, ops[0].shape, dt)])


@converts("avg_pool_grad")
def _avg_pool_grad(b, n, xs, ops):
    g, dt = b.cast(xs[0], ops[0].dtype, n.dtype), n.dtype
    a = n.attr
    kernel, stride, pad = list(a["kernel"]), list(a["stride"]), list(a["padding"])
    size, out = list(a["size"]), list(ops[0].shape[2:])
    N, C = ops[0].shape[0], ops[0].shape[1]
    pooled = _as_avg(n, ops[0])
    gs = b.add("Div", [g, _avg_divisor(b, pooled, n.shape, dt)])
    contrib = b.add("Expand", [b.add("Unsqueeze", [gs, b.ints([2])]),
                               b.shape([N, C, math.prod(kernel), *out])])
    return _col2im(b, contrib, N, C, size, kernel, stride, [1] * len(kernel), pad, pad, out,
                   dt)


def _as_avg(n: Node, g: Node) -> Node:
    """The avg_pool node whose gradient ``avg_pool_grad`` n is (its output: g's shape)."""
    import dataclasses

    attrs = tuple((k, v) for k, v in n.attrs if k != "size")
    return dataclasses.replace(n, op="avg_pool", attrs=attrs, shape=g.shape)


__all__ = ["CONVERTERS", "REFUSED", "converts"]
