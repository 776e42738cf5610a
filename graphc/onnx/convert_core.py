"""Converters of the ONNX ops that are not neural-network layers: elementwise math,
comparisons and logic, casts, reductions, shape and indexing ops, constants, MatMul, Gemm and
Einsum (the layers are in ``convert_nn``).

Each converter folds its node to a ``Static`` when every operand is static (the value is
computed with numpy, on object arrays where shapes hold ``gc.Dim``s: this is how torch's
``Shape -> Gather -> Concat -> Reshape`` chains become a reshape to ``(B, T*4)``), and builds
graphc ops otherwise. ONNX semantics that differ from numpy's are spelled out where they are
handled: integer Div truncates, Mod without ``fmod`` takes the divisor's sign, Pow keeps the
base's type, Cast truncates floats to ints.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc import ops as gc
from graphc.errors import ShapeError
from graphc.ir.dims import Dim, broadcast_shapes, numel
from graphc.ir.tensor import Tensor
from graphc.onnx.registry import OnnxNode, Static, converter, fallback_converter

#: ONNX's INT64 max/min, which exporters use for "to the end" in Slice
_BIG = 2**62

#: a static result computed while importing has at most this many elements
_MAX_FOLD = 1 << 16


# ----------------------------------------------------------------------------- helpers

def _has_dims(*vals: Any) -> bool:
    return any(np.asarray(v).dtype == object for v in vals)


def _all_static(ctx: Any, node: OnnxNode) -> bool:
    return all(ctx.is_static(node, i) for i in range(len(node.inputs)))


def _statics(ctx: Any, node: OnnxNode) -> list[Any]:
    return [ctx.static(node, i) for i in range(len(node.inputs))]


def _ints(ctx: Any, node: OnnxNode, i: int, what: str) -> list[Any] | None:
    """Static operand ``i`` as a list of ints and Dims (None when absent)."""
    v = ctx.static(node, i)
    if v is None:
        return None
    v = np.asarray(v)
    if v.dtype != object and v.dtype.kind not in "iub":
        raise ctx.error(node, f"{what} must be integers, got {v.dtype}")
    return [x if isinstance(x, Dim) else int(x) for x in v.reshape(-1)]


def _int(ctx: Any, node: OnnxNode, i: int, what: str) -> Any:
    vals = _ints(ctx, node, i, what)
    if vals is None or len(vals) != 1:
        raise ctx.error(node, f"{what} must be one integer")
    return vals[0]


def _scalar_like(ctx: Any, value: Any, like: Tensor) -> Any:
    return ctx.graph.constant(np.asarray(value, dtype=like.dtype))


def _small(*vals: Any) -> bool:
    return all(np.asarray(v).size <= _MAX_FOLD for v in vals)


def _axis(ctx: Any, node: OnnxNode, axis: int, ndim: int) -> int:
    if not -ndim <= axis < max(ndim, 1):
        raise ctx.error(node, f"axis {axis} is out of range for rank {ndim}")
    return axis % ndim if ndim else 0


def _axes_operand(ctx: Any, node: OnnxNode, i: int, attr: str = "axes") -> list[int] | None:
    """Axes from operand ``i`` (newer opsets) or from the attribute (older ones)."""
    if node.attr(attr) is not None:
        return [int(a) for a in node.attr(attr)]
    return _ints(ctx, node, i, "axes")


def _dims(shape: Any) -> list[Any]:
    return list(shape)


# ----------------------------------------------------------------------------- elementwise

_UNARY = {
    "Abs": (gc.abs, np.abs), "Neg": (gc.negative, np.negative),
    "Sqrt": (gc.sqrt, np.sqrt), "Exp": (gc.exp, np.exp), "Log": (gc.log, np.log),
    "Floor": (gc.floor, np.floor), "Ceil": (gc.ceil, np.ceil), "Round": (gc.round, np.round),
    "Sign": (gc.sign, np.sign), "Sin": (gc.sin, np.sin), "Cos": (gc.cos, np.cos),
    "Tan": (gc.tan, np.tan), "Asin": (gc.arcsin, np.arcsin), "Acos": (gc.arccos, np.arccos),
    "Atan": (gc.arctan, np.arctan), "Sinh": (gc.sinh, np.sinh), "Cosh": (gc.cosh, np.cosh),
    "Asinh": (gc.arcsinh, np.arcsinh), "Atanh": (gc.arctanh, np.arctanh),
    "Erf": (gc.erf, None), "IsNaN": (gc.isnan, np.isnan), "Not": (gc.logical_not, np.logical_not),
}


def _unary(ctx: Any, node: OnnxNode) -> list:
    build, fold = _UNARY[node.op_type]
    if fold is not None and ctx.is_static(node, 0):
        v = ctx.static(node, 0)
        if not _has_dims(v) or node.op_type in ("Abs", "Neg"):
            with np.errstate(all="ignore"):
                return [Static(np.asarray(fold(v)).astype(v.dtype, copy=False)
                               if v.dtype != object else fold(v))]
    return [build(ctx.tensor(node, 0))]


converter(*_UNARY)(_unary)


@fallback_converter("Tanh")
def _tanh(ctx: Any, node: OnnxNode) -> list:
    return [gc.tanh(ctx.tensor(node, 0))]


@fallback_converter("LpNormalization")
def _lp_normalization(ctx: Any, node: OnnxNode) -> list:
    """x / ||x||_p along ``axis`` (p 1 or 2)."""
    x = ctx.tensor(node, 0)
    axis = _axis(ctx, node, int(node.attr("axis", -1)), x.ndim)
    p = int(node.attr("p", 2))
    if p == 1:
        norm = gc.sum(gc.abs(x), axis, keepdims=True)
    elif p == 2:
        norm = gc.sqrt(gc.sum(x * x, axis, keepdims=True))
    else:
        raise ctx.error(node, f"p must be 1 or 2, got {p}")
    zero = _scalar_like(ctx, 0, norm)
    return [x / gc.where(norm == zero, _scalar_like(ctx, 1, norm), norm)]  # 0 stays 0


@converter("Acosh")
def _acosh(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    return [gc.log(x + gc.sqrt(x * x - _scalar_like(ctx, 1, x)))]


@converter("Reciprocal")
def _reciprocal(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    return [gc.reciprocal(x)]


@converter("IsInf")
def _isinf(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    pos, neg = node.attr("detect_positive", 1), node.attr("detect_negative", 1)
    inf = gc.logical_and(gc.logical_not(gc.isfinite(x)), gc.logical_not(gc.isnan(x)))
    zero = _scalar_like(ctx, 0, x)
    if pos and neg:
        return [inf]
    if pos:
        return [gc.logical_and(inf, x > zero)]
    if neg:
        return [gc.logical_and(inf, x < zero)]
    return [gc.logical_and(inf, gc.logical_not(inf))]


def _int_div(a: Any, b: Any) -> Any:
    """ONNX integer division: truncates toward zero (C's, not Python's floor)."""
    q = np.abs(a) // np.abs(b)
    return np.where((a < 0) != (b < 0), -q, q).astype(np.result_type(a, b))


def _fold_binary(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``a op b`` with ONNX's semantics when it can be computed now, else None."""
    if _has_dims(a, b):
        if op in ("Add", "Sub", "Mul"):
            return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](a, b)
        if op == "Div" and _positive_ints(b):
            # dims are >= 0, so C's truncation is Python's floor here
            return np.floor_divide(a, b)
        if op == "Equal":
            return _dims_equal(a, b)
        return None
    with np.errstate(all="ignore"):
        if op == "Div" and a.dtype.kind in "iu" and b.dtype.kind in "iu":
            if np.any(b == 0):
                return None
            return _int_div(a, b)
        fn = _BINARY[op][1]
        out = fn(a, b)
    if op == "Pow":
        out = out.astype(a.dtype)
    return np.asarray(out)


def _positive_ints(b: Any) -> bool:
    """Whether every entry of ``b`` is an int > 0 (a Dim divides only by those)."""
    return all(isinstance(x, (int, np.integer)) and not isinstance(x, bool) and x > 0
               for x in np.asarray(b).flat)


def _dims_equal(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    a, b = np.broadcast_arrays(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
    out = np.zeros(a.shape, dtype=bool)
    for idx in np.ndindex(a.shape):
        x, y = a[idx], b[idx]
        if isinstance(x, Dim) or isinstance(y, Dim):
            if isinstance(x, Dim) and isinstance(y, Dim) and x == y:
                out[idx] = True
            elif isinstance(x, Dim) != isinstance(y, Dim) and int(
                    y if isinstance(x, Dim) else x) < 0:
                out[idx] = False  # a dim is never negative
            else:
                return None
        else:
            out[idx] = x == y
    return out


def _pow(a: Tensor, b: Tensor) -> Tensor:
    """ONNX Pow: the result has the base's type."""
    if a.dtype.kind == "f":
        return gc.power(a, gc.astype(b, a.dtype) if b.dtype != a.dtype else b)
    if b.dtype.kind == "f":
        return gc.astype(gc.power(gc.astype(a, np.float64), gc.astype(b, np.float64)), a.dtype)
    return gc.power(a, gc.astype(b, a.dtype) if b.dtype != a.dtype else b)


def _div(a: Tensor, b: Tensor) -> Tensor:
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        q = gc.trunc(gc.divide(gc.astype(a, np.float64), gc.astype(b, np.float64)))
        return gc.astype(q, a.dtype)
    return gc.divide(a, b)


_BINARY = {
    "Add": (gc.add, np.add), "Sub": (gc.subtract, np.subtract),
    "Mul": (gc.multiply, np.multiply), "Div": (_div, np.divide), "Pow": (_pow, np.power),
    "And": (gc.logical_and, np.logical_and), "Or": (gc.logical_or, np.logical_or),
    "Xor": (gc.logical_xor, np.logical_xor), "Equal": (gc.equal, np.equal),
    "Less": (gc.less, np.less), "Greater": (gc.greater, np.greater),
    "LessOrEqual": (gc.less_equal, np.less_equal),
    "GreaterOrEqual": (gc.greater_equal, np.greater_equal),
}


def _binary(ctx: Any, node: OnnxNode) -> list:
    if _all_static(ctx, node):
        a, b = _statics(ctx, node)
        if _small(a, b):
            out = _fold_binary(node.op_type, np.asarray(a), np.asarray(b))
            if out is not None:
                return [Static(out)]
    return [_BINARY[node.op_type][0](ctx.tensor(node, 0), ctx.tensor(node, 1))]


converter(*_BINARY)(_binary)


@converter("Mod")
def _mod(ctx: Any, node: OnnxNode) -> list:
    if not node.attr("fmod", 0) and _all_static(ctx, node):
        x, y = _statics(ctx, node)
        if _has_dims(x) and _positive_ints(y):  # a dim's remainder: Dim % int
            return [Static(np.remainder(x, y))]
    a, b = ctx.tensor(node, 0), ctx.tensor(node, 1)
    # fmod=1: the sign of the dividend (C's fmod); else the divisor's (Python's %)
    return [gc.fmod(a, b) if node.attr("fmod", 0) else gc.remainder(a, b)]


@converter("BitShift")
def _bitshift(ctx: Any, node: OnnxNode) -> list:
    """x << y as x * 2**y (wrapping), x >> y as floor(x / 2**y) (arithmetic for signed x); a
    shift by a negative amount gives 0, by the width or more 0 (right: -1 for negative x)."""
    x, y = ctx.tensor(node, 0), ctx.tensor(node, 1)
    if x.dtype.kind not in "iu":
        raise ctx.error(node, f"BitShift takes integers, got {x.dtype}", TypeError)
    y = gc.astype(y, x.dtype) if y.dtype != x.dtype else y
    width = 8 * x.dtype.itemsize
    zero = _scalar_like(ctx, 0, x)
    too_far = y >= _scalar_like(ctx, width, y)
    negative = y < _scalar_like(ctx, 0, y) if y.dtype.kind == "i" else None
    if negative is not None:
        too_far = gc.logical_or(too_far, negative)
    ys = gc.clip(y, 0, width - 1)
    if node.attr("direction") == "LEFT":
        out = gc.where(too_far, zero, x * gc.power(_scalar_like(ctx, 2, x), ys))
    else:
        p = gc.power(ctx.graph.constant(np.float64(2.0)), gc.astype(ys, np.float64))
        out = gc.astype(gc.floor(gc.astype(x, np.float64) / p), x.dtype)
        sign_fill = gc.where(x < zero, _scalar_like(ctx, -1, x), zero) \
            if x.dtype.kind == "i" else zero
        out = gc.where(too_far, sign_fill, out)
    return [out]


@converter("BitwiseNot")
def _bitwise_not(ctx: Any, node: OnnxNode) -> list:
    """~x: -x - 1 for signed ints (two's complement), max - x for unsigned ones."""
    x = ctx.tensor(node, 0)
    if x.dtype.kind == "b":
        return [gc.logical_not(x)]
    if x.dtype.kind == "i":
        return [gc.negative(x) - _scalar_like(ctx, 1, x)]
    if x.dtype.kind == "u":
        return [_scalar_like(ctx, np.iinfo(x.dtype).max, x) - x]
    raise ctx.error(node, f"BitwiseNot takes integers, got {x.dtype}", TypeError)


def _variadic(build: Any) -> Any:
    def convert(ctx: Any, node: OnnxNode) -> list:
        ts = [ctx.tensor(node, i) for i in range(len(node.inputs)) if ctx.has(node, i)]
        out = ts[0]
        for t in ts[1:]:
            out = build(out, t)
        if node.op_type == "Mean":
            out = gc.divide(out, _scalar_like(ctx, len(ts), out))
        elif len(ts) == 1:
            out = gc.broadcast_to(out, out.shape)  # a node of its own for the output
        return [out]
    return convert


converter("Max")(_variadic(gc.maximum))
converter("Min")(_variadic(gc.minimum))
converter("Sum")(_variadic(gc.add))
converter("Mean")(_variadic(gc.add))


@converter("Clip")
def _clip(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    lo = node.attr("min") if ctx.opset < 11 else None
    hi = node.attr("max") if ctx.opset < 11 else None
    lo_t = ctx.tensor(node, 1) if lo is None else _scalar_like(ctx, lo, x)
    hi_t = ctx.tensor(node, 2) if hi is None else _scalar_like(ctx, hi, x)
    if lo_t is not None:
        x = gc.maximum(x, lo_t)
    if hi_t is not None:
        x = gc.minimum(x, hi_t)
    return [x]


@converter("Where")
def _where(ctx: Any, node: OnnxNode) -> list:
    if _all_static(ctx, node):
        c, a, b = _statics(ctx, node)
        if _small(c, a, b) and np.asarray(c).dtype == bool:
            return [Static(np.where(c, a, b))]
    return [gc.where(ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2))]


def _cast_to(ctx: Any, node: OnnxNode, value_index: int, dt: np.dtype) -> list:
    if ctx.is_static(node, value_index):
        v = np.asarray(ctx.static(node, value_index))
        if v.dtype == object and dt.kind in "iu":
            return [Static(v)]
        if v.dtype != object and _small(v):
            with np.errstate(all="ignore"):
                return [Static(v.astype(dt))]
    x = ctx.tensor(node, value_index)
    return [x if x.dtype == dt else gc.astype(x, dt)]


@converter("Cast")
def _cast(ctx: Any, node: OnnxNode) -> list:
    from graphc.onnx.importer import onnx_dtype

    return _cast_to(ctx, node, 0, onnx_dtype(node.attr("to"), "Cast's 'to'"))


@converter("CastLike")
def _castlike(ctx: Any, node: OnnxNode) -> list:
    target = ctx.tensor(node, 1) if not ctx.is_static(node, 1) else None
    dt = target.dtype if target is not None else np.asarray(ctx.static(node, 1)).dtype
    return _cast_to(ctx, node, 0, dt)


# ----------------------------------------------------------------------------- reductions

def _reduce_axes(ctx: Any, node: OnnxNode, ndim: int) -> tuple[int, ...] | None:
    """The reduced axes (None: all, or () with noop_with_empty_axes)."""
    axes = _axes_operand(ctx, node, 1)
    if not axes:
        return () if node.attr("noop_with_empty_axes", 0) else None
    return tuple(sorted({_axis(ctx, node, int(a), ndim) for a in axes}))


def _reduction(kind: str) -> Any:
    def convert(ctx: Any, node: OnnxNode) -> list:
        x = ctx.tensor(node, 0)
        axes = _reduce_axes(ctx, node, x.ndim)
        keep = bool(node.attr("keepdims", 1))
        if axes == ():
            return [_reduce_noop(kind, x)]
        reduced = range(x.ndim) if axes is None else axes
        if kind in _EMPTY and any(x.shape[a] == 0 for a in reduced
                                  if not isinstance(x.shape[a], Dim)):
            shape = [1 if a in reduced else d for a, d in enumerate(x.shape)] if keep else [
                d for a, d in enumerate(x.shape) if a not in reduced]
            return [ctx.graph.full(tuple(shape), _EMPTY[kind](x.dtype), x.dtype)]
        out = _REDUCE[kind](x, axes, keep)
        if out.dtype != x.dtype and kind not in ("ReduceL2",) and x.dtype.kind != "b":
            out = gc.astype(out, x.dtype)
        return [out]
    return convert


def _reduce_noop(kind: str, x: Tensor) -> Tensor:
    """What a reduction over no axis gives: each entry transformed alone."""
    if kind in ("ReduceL1",):
        return gc.abs(x)
    if kind in ("ReduceSumSquare",):
        return x * x
    if kind == "ReduceL2":
        return gc.sqrt(x * x)
    if kind == "ReduceLogSum":
        return gc.log(x)
    return gc.broadcast_to(x, x.shape)


def _lowest(dt: np.dtype) -> Any:
    return False if dt.kind == "b" else -np.inf if dt.kind == "f" else int(np.iinfo(dt).min)


def _highest(dt: np.dtype) -> Any:
    return True if dt.kind == "b" else np.inf if dt.kind == "f" else int(np.iinfo(dt).max)


#: what a max or min over no entries gives (ONNX: the identity of the reduction)
_EMPTY = {"ReduceMax": _lowest, "ReduceMin": _highest,
          "ReduceLogSumExp": lambda dt: -np.inf, "ReduceLogSum": lambda dt: -np.inf}

_REDUCE = {
    "ReduceSum": lambda x, a, k: gc.sum(x, a, keepdims=k),
    "ReduceMean": lambda x, a, k: gc.mean(x, a, keepdims=k),
    "ReduceMax": lambda x, a, k: gc.max(x, a, keepdims=k),
    "ReduceMin": lambda x, a, k: gc.min(x, a, keepdims=k),
    "ReduceProd": lambda x, a, k: gc.prod(x, a, keepdims=k),
    "ReduceL1": lambda x, a, k: gc.sum(gc.abs(x), a, keepdims=k),
    "ReduceL2": lambda x, a, k: gc.sqrt(gc.sum(x * x, a, keepdims=k)),
    "ReduceLogSum": lambda x, a, k: gc.log(gc.sum(x, a, keepdims=k)),
    "ReduceLogSumExp": lambda x, a, k: gc.logsumexp(x, a, keepdims=k),
    "ReduceSumSquare": lambda x, a, k: gc.sum(x * x, a, keepdims=k),
}
for _k in _REDUCE:
    converter(_k)(_reduction(_k))


def _arg(ctx: Any, node: OnnxNode, build: Any) -> list:
    x = ctx.tensor(node, 0)
    axis = _axis(ctx, node, int(node.attr("axis", 0)), x.ndim)
    keep = bool(node.attr("keepdims", 1))
    if node.attr("select_last_index", 0):
        idx = build(gc.flip(x, axis), axis, keepdims=keep)
        n = ctx.dim_tensor(x.shape[axis] - 1)
        return [gc.subtract(n, idx)]
    return [build(x, axis, keepdims=keep)]


converter("ArgMax")(lambda ctx, node: _arg(ctx, node, gc.argmax))
converter("ArgMin")(lambda ctx, node: _arg(ctx, node, gc.argmin))


@converter("CumSum")
def _cumsum(ctx: Any, node: OnnxNode) -> list:
    return _cumulative(ctx, node, gc.cumsum, 0)


@converter("CumProd")
def _cumprod(ctx: Any, node: OnnxNode) -> list:
    return _cumulative(ctx, node, gc.cumprod, 1)


def _cumulative(ctx: Any, node: OnnxNode, build: Any, identity: int) -> list:
    """CumSum/CumProd: ``exclusive`` starts from the identity, ``reverse`` runs from the
    end."""
    x = ctx.tensor(node, 0)
    axis = _axis(ctx, node, _int(ctx, node, 1, "axis"), x.ndim)
    if node.attr("reverse", 0):
        x = gc.flip(x, axis)
    if node.attr("exclusive", 0):
        widths = [(0, 0)] * x.ndim
        widths[axis] = (1, 0)
        padded = gc.pad(x, widths, "constant", identity)
        index = [slice(None)] * x.ndim
        index[axis] = slice(0, x.shape[axis])
        x = padded[tuple(index)]
    out = build(x, axis)
    if out.dtype != x.dtype:
        out = gc.astype(out, x.dtype)
    if node.attr("reverse", 0):
        out = gc.flip(out, axis)
    return [out]


# ----------------------------------------------------------------------------- shapes

def _shape_array(shape: Any) -> np.ndarray:
    dims = list(shape)
    if any(isinstance(d, Dim) for d in dims):
        return np.array(dims + [None], dtype=object)[:-1]
    return np.array(dims, dtype=np.int64)


def _shape_of(ctx: Any, node: OnnxNode, i: int) -> list[Any]:
    if ctx.is_static(node, i):
        return list(np.shape(ctx.static(node, i)))
    return list(ctx.tensor(node, i).shape)


@converter("Shape")
def _shape(ctx: Any, node: OnnxNode) -> list:
    dims = _shape_of(ctx, node, 0)
    n = len(dims)
    start = int(node.attr("start", 0))
    end = int(node.attr("end", n))
    start = min(max(start + n if start < 0 else start, 0), n)
    end = min(max(end + n if end < 0 else end, 0), n)
    return [Static(_shape_array(dims[start:end]))]


@converter("Size")
def _size(ctx: Any, node: OnnxNode) -> list:
    n = numel(_shape_of(ctx, node, 0))
    return [Static(np.array(n, dtype=object) if isinstance(n, Dim) else np.array(n, np.int64))]


@converter("Identity")
def _identity(ctx: Any, node: OnnxNode) -> list:
    if ctx.is_static(node, 0):
        return [Static(ctx.static(node, 0))]
    return [ctx.tensor(node, 0)]


@converter("Constant")
def _constant(ctx: Any, node: OnnxNode) -> list:
    a = node.attrs
    if "value" in a:
        return [Static(np.asarray(a["value"]))]
    for key, dt in (("value_float", np.float32), ("value_floats", np.float32),
                    ("value_int", np.int64), ("value_ints", np.int64)):
        if key in a:
            return [Static(np.asarray(a[key], dtype=dt))]
    raise ctx.error(node, f"no supported value attribute (has {sorted(a)}; strings and sparse "
                    "tensors are not supported)", TypeError)


def _resolve_reshape(ctx: Any, node: OnnxNode, in_shape: list[Any], target: list[Any],
                     allowzero: bool) -> list[Any]:
    out = []
    for i, d in enumerate(target):
        if not isinstance(d, Dim) and d == 0 and not allowzero:
            if i >= len(in_shape):
                raise ctx.error(node, f"shape entry {i} is 0 (copy the input's dim) but the "
                                f"input has rank {len(in_shape)}")
            d = in_shape[i]
        out.append(d)
    return out


@converter("Reshape")
def _reshape(ctx: Any, node: OnnxNode) -> list:
    target = _ints(ctx, node, 1, "the shape")
    in_shape = _shape_of(ctx, node, 0)
    shape = _resolve_reshape(ctx, node, in_shape, target, bool(node.attr("allowzero", 0)))
    if ctx.is_static(node, 0) and not any(isinstance(d, Dim) for d in shape):
        return [Static(np.reshape(ctx.static(node, 0), shape))]
    return [gc.reshape(ctx.tensor(node, 0), tuple(shape))]


@converter("Flatten")
def _flatten(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    axis = int(node.attr("axis", 1))
    axis = axis + x.ndim if axis < 0 else axis
    if not 0 <= axis <= x.ndim:
        raise ctx.error(node, f"axis {node.attr('axis')} is out of range for rank {x.ndim}")
    return [gc.reshape(x, (numel(x.shape[:axis]), numel(x.shape[axis:])))]


@converter("Transpose")
def _transpose(ctx: Any, node: OnnxNode) -> list:
    perm = node.attr("perm")
    if ctx.is_static(node, 0):
        return [Static(np.transpose(ctx.static(node, 0), perm))]
    x = ctx.tensor(node, 0)
    return [gc.transpose(x, tuple(perm) if perm is not None else None)]


@converter("Squeeze")
def _squeeze(ctx: Any, node: OnnxNode) -> list:
    shape = _shape_of(ctx, node, 0)
    axes = _axes_operand(ctx, node, 1)
    if axes is None:
        axes = [i for i, d in enumerate(shape) if not isinstance(d, Dim) and d == 1]
    axes = sorted({_axis(ctx, node, a, len(shape)) for a in axes})
    new = [d for i, d in enumerate(shape) if i not in axes]
    if ctx.is_static(node, 0):
        return [Static(np.reshape(ctx.static(node, 0), new))]
    return [gc.squeeze(ctx.tensor(node, 0), tuple(axes))] if axes else [
        gc.reshape(ctx.tensor(node, 0), tuple(new))]


@converter("Unsqueeze")
def _unsqueeze(ctx: Any, node: OnnxNode) -> list:
    shape = _shape_of(ctx, node, 0)
    axes = _axes_operand(ctx, node, 1) or []
    rank = len(shape) + len(axes)
    axes = sorted({_axis(ctx, node, a, rank) for a in axes})
    if len(axes) != len(node.attr("axes") or _ints(ctx, node, 1, "axes") or []):
        raise ctx.error(node, "axes repeat an axis")
    new = list(shape)
    for a in axes:
        new.insert(a, 1)
    if ctx.is_static(node, 0):
        return [Static(np.reshape(ctx.static(node, 0), new))]
    return [gc.reshape(ctx.tensor(node, 0), tuple(new))]


@converter("Concat")
def _concat(ctx: Any, node: OnnxNode) -> list:
    idx = [i for i in range(len(node.inputs)) if ctx.has(node, i)]
    axis = int(node.attr("axis"))
    if all(ctx.is_static(node, i) for i in idx):
        vals = [np.asarray(ctx.static(node, i)) for i in idx]
        if _small(*vals):
            if _has_dims(*vals):
                vals = [v.astype(object) for v in vals]
            return [Static(np.concatenate(vals, axis=axis))]
    ts = [ctx.tensor(node, i) for i in idx]
    ts_nonempty = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or ts
    return [gc.concatenate(ts_nonempty, axis=_axis(ctx, node, axis, ts[0].ndim))]


@converter("Split")
def _split(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    axis = _axis(ctx, node, int(node.attr("axis", 0)), x.ndim)
    n_out = len(node.outputs)
    sizes = node.attr("split") if ctx.opset < 13 else _ints(ctx, node, 1, "split")
    d = x.shape[axis]
    if sizes is None and node.attr("num_outputs") is not None and not isinstance(d, Dim):
        n = int(node.attr("num_outputs"))
        chunk = -(-d // n)
        sizes = [min(chunk, max(d - k * chunk, 0)) for k in range(n)]
    if sizes is None:
        return list(gc.split(x, n_out, axis))
    if len(sizes) != n_out:
        raise ctx.error(node, f"{len(sizes)} split sizes for {n_out} outputs")
    positions, at = [], 0
    for s in sizes[:-1]:
        at = at + s
        positions.append(at)
    return list(gc.split(x, positions, axis))


def _clamp_slice(start: Any, end: Any, step: int, d: Any) -> slice:
    """ONNX's Slice bounds on an axis of size ``d`` as a Python slice graphc accepts."""
    if isinstance(d, Dim):
        if step > 0:
            start = None if start == 0 else start
            end = None if not isinstance(end, Dim) and end >= _BIG else end
        else:
            start = None if not isinstance(start, Dim) and start >= _BIG else start
            end = None if not isinstance(end, Dim) and end <= -_BIG else end
        return slice(start, end, step)
    n = d

    def norm(v: Any, lo: int, hi: int) -> int:
        v = v + n if v < 0 else v
        return min(max(v, lo), hi)

    if step > 0:
        s, e = norm(start, 0, n), norm(end, 0, n)
        return slice(s, e, step)
    s, e = norm(start, -1, n - 1), norm(end, -1, n - 1)
    return slice(s, None if e < 0 else e, step)


@converter("Slice")
def _slice(ctx: Any, node: OnnxNode) -> list:
    shape = _shape_of(ctx, node, 0)
    if ctx.opset < 10:
        starts, ends = node.attr("starts"), node.attr("ends")
        axes, steps = node.attr("axes"), None
    else:
        starts = _ints(ctx, node, 1, "starts")
        ends = _ints(ctx, node, 2, "ends")
        axes = _ints(ctx, node, 3, "axes")
        steps = _ints(ctx, node, 4, "steps")
    axes = list(range(len(starts))) if axes is None else axes
    steps = [1] * len(starts) if steps is None else steps
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise ctx.error(node, "starts, ends, axes and steps differ in length")
    index: list[Any] = [slice(None)] * len(shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        a = _axis(ctx, node, a, len(shape))
        if st == 0:
            raise ctx.error(node, "a step of 0")
        index[a] = _clamp_slice(s, e, st, shape[a])
    if ctx.is_static(node, 0):
        return [Static(np.asarray(ctx.static(node, 0))[tuple(index)])]
    return [ctx.tensor(node, 0)[tuple(index)]]


@converter("Pad")
def _pad(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    r = x.ndim
    pads = node.attr("pads") if ctx.opset < 11 else _ints(ctx, node, 1, "pads")
    value = node.attr("value", 0.0) if ctx.opset < 11 else None
    value_t = None
    if value is None:
        v = ctx.static(node, 2) if ctx.has(node, 2) and ctx.is_static(node, 2) else None
        if ctx.has(node, 2) and v is None:
            value_t = gc.reshape(ctx.tensor(node, 2), ())  # a run-time pad value
        value = 0 if v is None or np.asarray(v).size == 0 else np.asarray(v).reshape(-1)[0]
    axes = _ints(ctx, node, 3, "axes") if ctx.opset >= 18 else None
    axes = list(range(r)) if axes is None else [_axis(ctx, node, a, r) for a in axes]
    k = len(axes)
    if len(pads) != 2 * k:
        raise ctx.error(node, f"{len(pads)} pads for {k} axes")
    widths = [[0, 0] for _ in range(r)]
    for j, a in enumerate(axes):
        widths[a] = [pads[j], pads[j + k]]
    # negative pads crop
    index = []
    for a, (b, e) in enumerate(widths):
        d = x.shape[a]
        index.append(slice(-b if not isinstance(b, Dim) and b < 0 else 0,
                           d + e if not isinstance(e, Dim) and e < 0 else None))
        widths[a] = [max(b, 0) if not isinstance(b, Dim) else b,
                     max(e, 0) if not isinstance(e, Dim) else e]
    if any(s.start or s.stop is not None for s in index):
        x = x[tuple(index)]
    mode = node.attr("mode", "constant")
    if not any(b or e for b, e in widths):
        return [gc.broadcast_to(x, x.shape)]
    if mode == "constant":
        widths_t = [tuple(w) for w in widths]
        if value_t is not None:
            inside = gc.pad(gc.ones_like(x, bool), widths_t, "constant", False)
            return [gc.where(inside, gc.pad(x, widths_t), gc.astype(value_t, x.dtype))]
        return [gc.pad(x, widths_t, "constant", np.asarray(value, dtype=x.dtype).item())]
    if mode in ("edge", "reflect"):
        return [gc.pad(x, [tuple(w) for w in widths], mode)]
    if mode == "wrap":
        for a, (b, e) in enumerate(widths):
            if b or e:
                parts = []
                if b:
                    parts.append(_take_slice(x, a, slice(-b, None)))
                parts.append(x)
                if e:
                    parts.append(_take_slice(x, a, slice(0, e)))
                x = gc.concatenate(parts, axis=a)
        return [x]
    raise ctx.error(node, f"unknown mode {mode!r}")


def _take_slice(x: Tensor, axis: int, s: slice) -> Tensor:
    index = [slice(None)] * x.ndim
    index[axis] = s
    return x[tuple(index)]


@converter("Tile")
def _tile(ctx: Any, node: OnnxNode) -> list:
    reps = _ints(ctx, node, 1, "repeats")
    if ctx.is_static(node, 0) and not _has_dims(np.array(reps, dtype=object)):
        v = np.asarray(ctx.static(node, 0))
        if _small(v) and v.size * int(np.prod(reps)) <= _MAX_FOLD:
            return [Static(np.tile(v, reps))]
    return [gc.tile(ctx.tensor(node, 0), tuple(reps))]


@converter("Expand")
def _expand(ctx: Any, node: OnnxNode) -> list:
    target = _ints(ctx, node, 1, "the shape")
    in_shape = _shape_of(ctx, node, 0)
    try:
        out = broadcast_shapes(in_shape, target)
    except ShapeError as e:
        raise ctx.error(node, f"cannot expand {tuple(in_shape)} to {tuple(target)}: {e}") \
            from None
    if ctx.is_static(node, 0) and not any(isinstance(d, Dim) for d in out):
        v = np.asarray(ctx.static(node, 0))
        if numel(out) <= _MAX_FOLD:
            return [Static(np.broadcast_to(v, tuple(out)).copy())]
    x = ctx.tensor(node, 0)
    return [gc.broadcast_to(x, tuple(out))]


@converter("ConstantOfShape")
def _constant_of_shape(ctx: Any, node: OnnxNode) -> list:
    shape = _ints(ctx, node, 0, "the shape")
    value = node.attr("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)
    if any(isinstance(d, Dim) for d in shape) or numel(shape) > _MAX_FOLD:
        return [ctx.graph.full(tuple(shape), value[0].item(), value.dtype)]
    return [Static(np.full(shape, value[0], dtype=value.dtype))]


@converter("Range")
def _range(ctx: Any, node: OnnxNode) -> list:
    vals = [np.asarray(ctx.static(node, i)).reshape(-1) for i in range(3)]
    start, limit, delta = (v[0] for v in vals)
    if _has_dims(*vals):
        return [ctx.graph.arange(start, limit, delta)]
    dt = vals[0].dtype
    if dt.kind == "f":
        n = max(int(np.ceil((limit - start) / delta)), 0)
        if n > _MAX_FOLD:
            raise ctx.error(node, f"a range of {n} entries is larger than graphc folds")
        return [Static((start + delta * np.arange(n)).astype(dt))]
    n = max(-(-(int(limit) - int(start)) // int(delta)), 0)
    if n > _MAX_FOLD:
        return [ctx.graph.arange(int(start), int(limit), int(delta), dtype=dt)]
    return [Static(np.arange(int(start), int(limit), int(delta), dtype=dt))]


@converter("EyeLike")
def _eyelike(ctx: Any, node: OnnxNode) -> list:
    from graphc.onnx.importer import onnx_dtype

    shape = _shape_of(ctx, node, 0)
    k = int(node.attr("k", 0))
    src = ctx.static(node, 0).dtype if ctx.is_static(node, 0) else ctx.tensor(node, 0).dtype
    dt = onnx_dtype(node.attr("dtype"), "EyeLike's dtype") if node.attr("dtype") else src
    if len(shape) != 2:
        raise ctx.error(node, f"EyeLike takes a 2-D tensor, got rank {len(shape)}")
    if not any(isinstance(d, Dim) for d in shape):
        return [Static(np.eye(shape[0], shape[1], k, dtype=dt))]
    ones = ctx.graph.ones(tuple(shape), dt)
    return [gc.triu(gc.tril(ones, k), k)]


@converter("Trilu")
def _trilu(ctx: Any, node: OnnxNode) -> list:
    k = _int(ctx, node, 1, "k") if ctx.has(node, 1) else 0
    x = ctx.tensor(node, 0)
    return [gc.triu(x, k) if node.attr("upper", 1) else gc.tril(x, k)]


# ----------------------------------------------------------------------------- indexing

def _nonneg(ctx: Any, idx: Tensor, d: Any) -> Tensor:
    """Negative indices counted from the end of an axis of size ``d``."""
    if idx.dtype != np.int64:
        idx = gc.astype(idx, np.int64)
    zero = ctx.graph.constant(np.int64(0))
    return gc.where(idx < zero, idx + ctx.dim_tensor(d), idx)


@converter("Gather")
def _gather(ctx: Any, node: OnnxNode) -> list:
    axis = int(node.attr("axis", 0))
    if _all_static(ctx, node):
        x, idx = _statics(ctx, node)
        x, idx = np.asarray(x), np.asarray(idx)
        if _small(x, idx) and not _has_dims(idx):
            return [Static(np.take(x, idx.astype(np.int64), axis=axis))]
    x = ctx.tensor(node, 0)
    axis = _axis(ctx, node, axis, x.ndim)
    if ctx.is_static(node, 1) and not _has_dims(ctx.static(node, 1)):
        idx = np.asarray(ctx.static(node, 1)).astype(np.int64)
        d = x.shape[axis]
        if not isinstance(d, Dim):
            idx = np.where(idx < 0, idx + d, idx)
        return [gc.take(x, ctx.graph.constant(idx), axis)]
    return [gc.take(x, ctx.tensor(node, 1), axis)]


@converter("GatherElements")
def _gather_elements(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    axis = _axis(ctx, node, int(node.attr("axis", 0)), x.ndim)
    idx = _nonneg(ctx, ctx.tensor(node, 1), x.shape[axis])
    return [gc.take_along_axis(x, idx, axis)]


def _strides(dims: list[Any]) -> list[Any]:
    out, acc = [], 1
    for d in reversed(dims):
        out.append(acc)
        acc = acc * d
    return out[::-1]


def _flat_index(ctx: Any, idx: Tensor, dims: list[Any]) -> Tensor:
    """``idx[..., j]`` (k columns, negatives counted from the end) as one flat index into the
    first k ``dims``."""
    k = len(dims)
    flat = None
    for j, (d, s) in enumerate(zip(dims, _strides(dims))):
        col = _nonneg(ctx, idx[(Ellipsis, j)], d)
        term = col * ctx.dim_tensor(s) if s != 1 else col
        flat = term if flat is None else flat + term
    if flat is None:
        flat = gc.zeros_like(idx[(Ellipsis, 0)]) if k else None
    return flat


@converter("GatherND")
def _gather_nd(ctx: Any, node: OnnxNode) -> list:
    x, idx = ctx.tensor(node, 0), ctx.tensor(node, 1)
    b = int(node.attr("batch_dims", 0))
    k = idx.shape[-1]
    if isinstance(k, Dim):
        raise ctx.error(node, "the last dim of the indices must be known")
    xs, ish = list(x.shape), list(idx.shape)
    batch, rest = xs[:b], xs[b + k:]
    m = ish[b:-1]
    nb = numel(batch)
    if k == 0:
        raise ctx.error(node, "indices with a last dim of 0 are not supported")
    flat = _flat_index(ctx, idx, xs[b:b + k])  # shape batch + m
    p = numel(xs[b:b + k])
    if b:
        off = ctx.graph.arange(nb) * ctx.dim_tensor(p)
        flat = gc.reshape(flat, (nb, numel(m) if m else 1)) + gc.reshape(off, (nb, 1))
    table = gc.reshape(x, (nb * p, *rest))
    out = gc.take(table, gc.reshape(flat, (-1,)) if b else flat, 0)
    return [gc.reshape(out, (*batch, *m, *rest))]


def _scatter_flat(ctx: Any, x: Tensor, flat: Tensor, values: Tensor, reduction: str,
                  node: OnnxNode, rest: list[Any]) -> Tensor:
    """``x`` (viewed as (P, *rest)) with ``values`` (M, *rest) written or added at rows
    ``flat`` (M,)."""
    p = numel(list(x.shape)[:x.ndim - len(rest)])
    table = gc.reshape(x, (p, *rest))
    if values.dtype != x.dtype:
        values = gc.astype(values, x.dtype)
    if reduction == "none":
        rows = gc.reshape(flat, (-1, *([1] * len(rest))))
        out = gc.put_along_axis(table, rows, values, 0)
    elif reduction == "add":
        out = gc.add_at(table, flat, values, 0)
    elif reduction in _SCATTER_REDUCE:
        out = _scatter_reduce(ctx, table, flat, values, reduction, p, len(rest))
    else:
        raise ctx.error(node, f"reduction {reduction!r} is not supported")
    return gc.reshape(out, x.shape)


#: scatter reductions without a graphc op: (combine, identity) over a one-hot of the rows
_SCATTER_REDUCE = {"mul": (gc.prod, 1), "max": (gc.max, None), "min": (gc.min, None)}


def _scatter_reduce(ctx: Any, table: Tensor, flat: Tensor, values: Tensor, reduction: str,
                    p: Any, n_rest: int) -> Tensor:
    """``table`` (P, *rest) with each row combined (mul, max, min) with the ``values`` (M,
    *rest) aimed at it: a dense (M, P) match of updates to rows, O(M*P) work."""
    combine, identity = _SCATTER_REDUCE[reduction]
    dt = table.dtype
    if identity is None:
        identity = _lowest(dt) if reduction == "max" else _highest(dt)
    rows = ctx.graph.arange(p)
    match = gc.equal(gc.reshape(flat, (-1, 1)), gc.reshape(rows, (1, -1)))  # (M, P)
    match = gc.reshape(match, (*match.shape, *([1] * n_rest)))
    vals = gc.expand_dims(values, 1)  # (M, 1, *rest)
    picked = gc.where(match, vals, ctx.graph.constant(np.asarray(identity, dtype=dt)))
    reduced = combine(picked, 0)
    hit = gc.any(match, 0)
    return gc.where(hit, _combine2(reduction, table, reduced), table)


def _combine2(reduction: str, a: Tensor, b: Tensor) -> Tensor:
    if reduction == "mul":
        return a * b
    return gc.maximum(a, b) if reduction == "max" else gc.minimum(a, b)


@converter("ScatterND")
def _scatter_nd(ctx: Any, node: OnnxNode) -> list:
    x, idx, upd = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    k = idx.shape[-1]
    if isinstance(k, Dim):
        raise ctx.error(node, "the last dim of the indices must be known")
    rest = list(x.shape)[k:]
    flat = gc.reshape(_flat_index(ctx, idx, list(x.shape)[:k]), (-1,))
    values = gc.reshape(upd, (-1, *rest))
    return [_scatter_flat(ctx, x, flat, values, node.attr("reduction", "none"), node, rest)]


@converter("ScatterElements")
def _scatter_elements(ctx: Any, node: OnnxNode) -> list:
    x, idx, upd = ctx.tensor(node, 0), ctx.tensor(node, 1), ctx.tensor(node, 2)
    axis = _axis(ctx, node, int(node.attr("axis", 0)), x.ndim)
    reduction = node.attr("reduction", "none")
    idx = _nonneg(ctx, idx, x.shape[axis])
    if reduction == "none":
        if upd.dtype != x.dtype:
            upd = gc.astype(upd, x.dtype)
        return [gc.put_along_axis(x, idx, upd, axis)]
    if reduction not in ("add", *_SCATTER_REDUCE):
        raise ctx.error(node, f"reduction {reduction!r} is not supported")
    # the flat index of each written entry: idx on the axis, its own position elsewhere
    xs, strides = list(x.shape), _strides(list(x.shape))
    flat = None
    for a in range(x.ndim):
        if a == axis:
            coord = idx
        else:
            shape = [1] * x.ndim
            shape[a] = idx.shape[a]
            coord = gc.reshape(ctx.graph.arange(idx.shape[a]), tuple(shape))
        term = coord * ctx.dim_tensor(strides[a]) if strides[a] != 1 else coord
        flat = term if flat is None else flat + term
    flat = gc.reshape(gc.broadcast_to(flat, idx.shape), (-1,))
    flat_x = gc.reshape(x, (numel(xs), 1))
    values = gc.reshape(upd, (-1, 1))
    out = _scatter_flat(ctx, flat_x, flat, values, reduction, node, [1])
    return [gc.reshape(out, x.shape)]


@converter("OneHot")
def _one_hot(ctx: Any, node: OnnxNode) -> list:
    idx = ctx.tensor(node, 0)
    depth = np.asarray(ctx.static(node, 1)).reshape(-1)[0]
    depth = depth if isinstance(depth, Dim) else int(depth)
    values = ctx.tensor(node, 2)
    if idx.dtype.kind == "f":
        idx = gc.astype(gc.trunc(idx), np.int64)
    idx = _nonneg(ctx, idx, depth)
    n = ctx.dim_tensor(depth)
    zero = ctx.graph.constant(np.int64(0))
    valid = gc.logical_and(idx >= zero, idx < n)  # out of range: a row of off values
    hot = gc.one_hot(gc.where(valid, idx, zero), depth, bool)
    hot = gc.logical_and(hot, gc.expand_dims(valid, -1))
    axis = int(node.attr("axis", -1))
    axis = _axis(ctx, node, axis, idx.ndim + 1)
    if axis != idx.ndim:
        hot = gc.moveaxis(hot, -1, axis)
    return [gc.where(hot, values[1], values[0])]


@converter("TopK")
def _topk(ctx: Any, node: OnnxNode) -> list:
    x = ctx.tensor(node, 0)
    k = _int(ctx, node, 1, "k")
    axis = _axis(ctx, node, int(node.attr("axis", -1)), x.ndim)
    values, indices = gc.topk(x, k, axis, largest=bool(node.attr("largest", 1)),
                              sorted=bool(node.attr("sorted", 1)))
    return [values, indices]


@converter("Compress")
def _compress(ctx: Any, node: OnnxNode) -> list:
    cond = np.asarray(ctx.static(node, 1)).astype(bool).reshape(-1)
    x = ctx.tensor(node, 0)
    axis = node.attr("axis")
    pick = ctx.graph.constant(np.nonzero(cond)[0].astype(np.int64))
    if axis is None:
        return [gc.take(gc.reshape(x, (-1,)), pick, 0)]
    return [gc.take(x, pick, _axis(ctx, node, int(axis), x.ndim))]


@converter("NonZero")
def _nonzero(ctx: Any, node: OnnxNode) -> list:
    v = np.asarray(ctx.static(node, 0))
    return [Static(np.array(np.nonzero(v), dtype=np.int64).reshape(v.ndim, -1))]


# ----------------------------------------------------------------------------- linear algebra

@converter("MatMul")
def _matmul(ctx: Any, node: OnnxNode) -> list:
    return [gc.matmul(ctx.tensor(node, 0), ctx.tensor(node, 1))]


@converter("Gemm")
def _gemm(ctx: Any, node: OnnxNode) -> list:
    a, b = ctx.tensor(node, 0), ctx.tensor(node, 1)
    if node.attr("transA", 0):
        a = gc.transpose(a)
    if node.attr("transB", 0):
        b = gc.transpose(b)
    y = gc.matmul(a, b)
    alpha, beta = float(node.attr("alpha", 1.0)), float(node.attr("beta", 1.0))
    if alpha != 1.0:
        y = y * _scalar_like(ctx, alpha, y)
    c = ctx.tensor(node, 2)
    if c is not None and beta != 0.0:
        y = y + (c * _scalar_like(ctx, beta, c) if beta != 1.0 else c)
    return [y]


@converter("Einsum")
def _einsum(ctx: Any, node: OnnxNode) -> list:
    eq = node.attr("equation").replace(" ", "")
    ts = [ctx.tensor(node, i) for i in range(len(node.inputs))]
    return [gc.einsum(eq, *ts)]


# ----------------------------------------------------------------------------- control flow

#: the most steps a Scan or Loop is unrolled to
MAX_UNROLL = 4096



def _tensor_of(ctx: Any, v: Any) -> Tensor:
    return ctx.static_tensor(v.value) if isinstance(v, Static) else v


@converter("If")
def _if(ctx: Any, node: OnnxNode) -> list:
    """A static condition picks its branch; else both run and ``where`` picks per call (the
    branches' outputs must have equal shapes)."""
    then_g, else_g = node.attr("then_branch"), node.attr("else_branch")
    if ctx.is_static(node, 0):
        cond = bool(np.asarray(ctx.static(node, 0)).reshape(-1)[0])
        return ctx.subgraph(node, then_g if cond else else_g, [])
    cond = gc.reshape(ctx.tensor(node, 0), ())
    a, b = ctx.subgraph(node, then_g, []), ctx.subgraph(node, else_g, [])
    out = []
    for x, y in zip(a, b):
        x, y = _tensor_of(ctx, x), _tensor_of(ctx, y)
        if tuple(x.shape) != tuple(y.shape):
            raise ctx.error(node, f"a condition known only at run time, and branches of "
                            f"different shapes {x.shape} and {y.shape}")
        out.append(gc.where(cond, x, y))
    return out


def _static_len(ctx: Any, node: OnnxNode, d: Any, what: str) -> int:
    if isinstance(d, Dim):
        raise ctx.error(node, f"{what} is the symbolic dim {d}; graphc unrolls a "
                        "Scan or Loop, so the number of steps must be known while importing")
    if d > MAX_UNROLL:
        raise ctx.error(node, f"{what} is {d} steps (graphc unrolls at most {MAX_UNROLL})")
    return int(d)


@converter("Scan")
def _scan(ctx: Any, node: OnnxNode) -> list:
    """Unrolled: one copy of the body per step (the steps must be known)."""
    body = node.attr("body")
    m = int(node.attr("num_scan_inputs"))
    n_in = len(node.inputs)
    n_state = n_in - m
    states = [ctx.tensor(node, i) if not ctx.is_static(node, i) else Static(ctx.static(node, i))
              for i in range(n_state)]
    xs = [ctx.tensor(node, i) for i in range(n_state, n_in)]
    in_axes = node.attr("scan_input_axes") or [0] * m
    in_dirs = node.attr("scan_input_directions") or [0] * m
    n_out = len(node.outputs) - n_state
    out_axes = node.attr("scan_output_axes") or [0] * n_out
    out_dirs = node.attr("scan_output_directions") or [0] * n_out
    axes = [_axis(ctx, node, a, x.ndim) for a, x in zip(in_axes, xs)]
    steps = _static_len(ctx, node, xs[0].shape[axes[0]], "the scan length") if xs else 0
    collected: list[list[Tensor]] = [[] for _ in range(n_out)]
    for t in range(steps):
        args = list(states)
        for x, a, d in zip(xs, axes, in_dirs):
            index = [slice(None)] * x.ndim
            index[a] = steps - 1 - t if d else t
            args.append(x[tuple(index)])
        res = ctx.subgraph(node, body, args)
        states = res[:n_state]
        for k in range(n_out):
            collected[k].append(_tensor_of(ctx, res[n_state + k]))
    outs: list[Any] = list(states)
    for k in range(n_out):
        parts = collected[k][::-1] if out_dirs[k] else collected[k]
        if not parts:
            raise ctx.error(node, "a scan of 0 steps")
        outs.append(gc.stack(parts, axis=_axis(ctx, node, out_axes[k], parts[0].ndim + 1)))
    return outs


@converter("Loop")
def _loop(ctx: Any, node: OnnxNode) -> list:
    """Unrolled while the trip count and the condition are known while importing."""
    body = node.attr("body")
    trips = ctx.static(node, 0) if ctx.has(node, 0) else None
    trips = None if trips is None else np.asarray(trips).reshape(-1)[0]
    cond = ctx.static(node, 1) if ctx.has(node, 1) else None
    cond = True if cond is None else bool(np.asarray(cond).reshape(-1)[0])
    if trips is None:
        raise ctx.error(node, "a loop without a trip count cannot be unrolled")
    trips = _static_len(ctx, node, trips if isinstance(trips, Dim) else int(trips),
                        "the trip count")
    n_state = len(node.inputs) - 2
    states = [ctx.tensor(node, i) if not ctx.is_static(node, i) else Static(ctx.static(node, i))
              for i in range(2, 2 + n_state)]
    n_scan = len(node.outputs) - n_state
    collected: list[list[Tensor]] = [[] for _ in range(n_scan)]
    for i in range(trips):
        if not cond:
            break
        res = ctx.subgraph(node, body, [Static(np.array(i, np.int64)),
                                        Static(np.array(cond)), *states])
        c = res[0]
        if not isinstance(c, Static):
            raise ctx.error(node, "the loop condition depends on the data; graphc unrolls "
                            "loops only while it is known")
        cond = bool(np.asarray(c.value).reshape(-1)[0])
        states = res[1:1 + n_state]
        for k in range(n_scan):
            collected[k].append(_tensor_of(ctx, res[1 + n_state + k]))
    outs: list[Any] = list(states)
    for k in range(n_scan):
        if not collected[k]:
            raise ctx.error(node, "a loop of 0 iterations with scan outputs")
        outs.append(gc.stack(collected[k], axis=0))
    return outs


# ----------------------------------------------------------------------------- quantization

def _per_axis(ctx: Any, node: OnnxNode, p: Tensor, x: Tensor) -> Tensor:
    """A scale or zero point shaped to broadcast against ``x``: a scalar, one entry per
    index of ``axis``, or blocks of ``block_size`` along it (repeated)."""
    if p.ndim == 0 or (p.ndim == 1 and p.shape[0] == 1):
        return gc.reshape(p, ())
    axis = _axis(ctx, node, int(node.attr("axis", 1)), x.ndim)
    block = int(node.attr("block_size", 0))
    if block:
        p = gc.repeat(p, block, axis)
        index = [slice(None)] * p.ndim
        index[axis] = slice(0, x.shape[axis])
        return p[tuple(index)]
    if p.ndim != 1:
        raise ctx.error(node, f"a scale of shape {p.shape} needs block_size")
    shape = [1] * x.ndim
    shape[axis] = p.shape[0]
    return gc.reshape(p, tuple(shape))


def _dequantize(ctx: Any, node: OnnxNode, x: Tensor, scale: Tensor, zp: Tensor | None,
                ) -> Tensor:
    s = _per_axis(ctx, node, scale, x)
    xf = gc.astype(x, np.float32)
    if zp is not None:
        xf = xf - gc.astype(_per_axis(ctx, node, zp, x), np.float32)
    return gc.astype(xf, s.dtype) * s if s.dtype != np.float32 else xf * s


def _quantize(ctx: Any, node: OnnxNode, x: Tensor, scale: Tensor, zp: Tensor | None,
              dt: np.dtype) -> Tensor:
    """round(x / scale) + zero point (halves to even), saturated to ``dt``'s range."""
    s = _per_axis(ctx, node, scale, x)
    y = gc.round(gc.astype(x, np.float32) / gc.astype(s, np.float32))
    if zp is not None:
        y = y + gc.astype(_per_axis(ctx, node, zp, x), np.float32)
    info = np.iinfo(dt)
    return gc.astype(gc.clip(y, float(info.min), float(info.max)), dt)


@converter("DequantizeLinear")
def _dequantize_linear(ctx: Any, node: OnnxNode) -> list:
    return [_dequantize(ctx, node, ctx.tensor(node, 0), ctx.tensor(node, 1),
                        ctx.tensor(node, 2))]


@converter("QuantizeLinear")
def _quantize_linear(ctx: Any, node: OnnxNode) -> list:
    from graphc.onnx.importer import onnx_dtype

    zp = ctx.tensor(node, 2)
    if zp is not None:
        dt = zp.dtype
    elif node.attr("output_dtype"):
        dt = onnx_dtype(node.attr("output_dtype"), "QuantizeLinear's output_dtype")
    else:
        dt = np.dtype(np.uint8)
    if dt.kind not in "iu":
        raise ctx.error(node, f"quantizing to {dt} is not supported", TypeError)
    return [_quantize(ctx, node, ctx.tensor(node, 0), ctx.tensor(node, 1), zp, dt)]


@converter("QLinearMatMul")
def _qlinear_matmul(ctx: Any, node: OnnxNode) -> list:
    """Dequantized operands, a float matmul, the product quantized again."""
    t = [ctx.tensor(node, i) for i in range(8)]
    plain = OnnxNode(node.name, node.op_type, node.domain, node.inputs, node.outputs, {})
    a = _dequantize(ctx, plain, t[0], t[1], t[2])
    b = _dequantize(ctx, plain, t[3], gc.reshape(t[4], (-1,)), gc.reshape(t[5], (-1,)))
    if t[4].ndim and t[4].shape[-1] != 1:  # per column of b
        b = _dequantize(ctx, plain, t[3], gc.reshape(t[4], (1, -1)), gc.reshape(t[5], (1, -1)))
    y = gc.matmul(gc.astype(a, np.float32), gc.astype(b, np.float32))
    return [_quantize(ctx, plain, y, gc.reshape(t[6], ()), gc.reshape(t[7], ()), t[7].dtype)]


@converter("ReverseSequence")
def _reverse_sequence(ctx: Any, node: OnnxNode) -> list:
    """Each batch entry's first ``sequence_lens[b]`` steps reversed, the rest kept."""
    x, lens = ctx.tensor(node, 0), ctx.tensor(node, 1)
    t_axis, b_axis = int(node.attr("time_axis", 0)), int(node.attr("batch_axis", 1))
    steps = ctx.graph.arange(x.shape[t_axis])
    shape_t = [1] * x.ndim
    shape_t[t_axis] = x.shape[t_axis]
    shape_b = [1] * x.ndim
    shape_b[b_axis] = x.shape[b_axis]
    t = gc.reshape(steps, tuple(shape_t))
    n = gc.reshape(gc.astype(lens, np.int64), tuple(shape_b))
    one = ctx.graph.constant(np.int64(1))
    src = gc.where(t < n, n - one - t, t)
    src = gc.broadcast_to(src, x.shape)
    return [gc.take_along_axis(x, src, t_axis)]
