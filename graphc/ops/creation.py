"""Creation ops: ``full`` (zeros, ones, a constant of a symbolic shape), ``arange`` (a range
whose bounds may be dims, ``x.shape[1]``), and ``tril`` / ``triu`` (numpy's triangles).

``full`` and ``arange`` have no operands: their value depends only on the sizes bound to the
symbols (``binding_only``), so the memory plan computes them once per binding and holds them
read-only; they are never folded into constants. A causal mask for any length T is
``gc.tril(g.ones((T, T), bool))``, computed once per T.

The graph-level builders are ``Graph.zeros``, ``Graph.ones``, ``Graph.full`` and
``Graph.arange`` (``graph_full`` and ``graph_arange`` here, which the IR calls without
importing this layer); ``gc.zeros_like``, ``gc.ones_like`` and ``gc.full_like`` take the shape
(and dtype) of a tensor, not its values: no gradient flows through them.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Constraint, Dim, Shape, at_least, parse_dim
from graphc.ir.dtypes import check_dtype, dtype_of_value
from graphc.ir.graph import Graph
from graphc.ir.opdef import OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops._common import apply

#: a bound on the symbols' values that fits a dim's coefficients (a symbol is an array size)
_DIM_BOUND = 2**62


def _on(graph: Any, op: str, attrs: dict[str, Any]) -> Tensor:
    """A node of ``op`` with no operands on ``graph``; a failure leaves the graph as it was."""
    if not isinstance(graph, Graph):
        raise TypeError(f"{op}: expected a graphc Graph, got {type(graph).__name__}")
    with graph.atomic():
        return graph.apply(op, [], attrs)


# ----------------------------------------------------------------------------------- full


def _show(v: Any) -> str:
    """A value as a message shows it (a huge int shortened)."""
    text = repr(v)
    return text if len(text) <= 24 else text[:10] + "..."


def _scalar(value: Any, what: str) -> bool | int | float:
    """A Python bool, int or float (numpy scalars of those kinds are taken as their value)."""
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if not isinstance(value, (bool, int, float)):
        raise TypeError(f"{what} {_show(value)} of type {type(value).__name__} is not a bool, an "
                        "int or a float")
    return value


def fit_value(value: Any, dtype: np.dtype, what: str = "value") -> bool | int | float:
    """``value`` in its canonical form for ``dtype``, a Python scalar: a bool (from a bool, or
    the ints 0 and 1), an int within the dtype's range (from a bool, an int, or a float with
    an integral value), a float that stays finite in the dtype (numpy rounds it to the dtype's
    precision, as ``np.full`` does). A value that would be truncated, wrapped or overflow is
    a TypeError."""
    value = _scalar(value, what)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise TypeError(f"{what} {_show(value)} does not fit dtype bool (use True or False)")
    if dt.kind in "iu":
        if isinstance(value, float):
            if not value.is_integer():
                raise TypeError(f"{what} {value!r} does not fit dtype {dt}: it is not an "
                                "integer (pass a float dtype, or round it yourself)")
            value = int(value)
        value = int(value)
        info = np.iinfo(dt)
        if not info.min <= value <= info.max:
            raise TypeError(f"{what} {_show(value)} does not fit dtype {dt} (its range is "
                            f"[{info.min}, {info.max}])")
        return value
    try:
        f = float(value)
    except OverflowError:
        raise TypeError(f"{what} {_show(value)} does not fit dtype {dt} (too large)") from None
    if math.isfinite(f):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            held = np.array(f, dtype=dt)
        if not np.isfinite(held):
            raise TypeError(f"{what} {f!r} does not fit dtype {dt} (it would become {held})")
    return f


def _normalize_full(nodes, attrs):
    shape = tuple(Shape(attrs["shape"]))
    value, dt = attrs["value"], attrs.get("dtype")
    if dt is None:  # the value's: a numpy scalar's own, else bool, int64 or float64
        dt = value.dtype if isinstance(value, np.generic) else dtype_of_value(value)
    value = _scalar(value, "value")
    dt = check_dtype(dt, "full")
    return {"shape": shape, "value": fit_value(value, dt), "dtype": dt.name}


def _full_infer(nodes, attrs):
    dt = check_dtype(attrs["dtype"], "full")
    fit_value(attrs["value"], dt)
    return Shape(attrs["shape"]), dt


def _value_code(v: bool | int | float) -> str:
    """A scalar attribute as Python source: only ``repr`` of a bool, int or float."""
    if isinstance(v, bool):
        return repr(bool(v))
    if isinstance(v, int):
        return str(int(v))
    f = float(v)
    if math.isnan(f):
        return "xp.nan"
    if math.isinf(f):
        return "xp.inf" if f > 0 else "-xp.inf"
    return repr(f)


def _full_emit(args, attrs, ctx):
    dt = ctx.ref(np.dtype(attrs["dtype"]), "dt")
    return f"xp.full({ctx.shape}, {_value_code(attrs['value'])}, {dt})"


def _written(node, src, axis):
    """A size-1 axis of a created tensor is one the user wrote."""
    return True


def graph_full(graph: Graph, shape: Any, value: Any, dtype: Any = None) -> Tensor:
    """A tensor of ``shape`` (ints, dims, dim strings: ``("B", "T")``, ``"2*T"``) filled with
    ``value`` (a bool, int or float that ``dtype`` holds exactly). ``dtype=None`` takes the
    value's, as numpy does: bool for a bool, int64 for an int, float64 for a float.
    Computed once per binding of its symbols (``Graph.full``, ``Graph.zeros``, ...)."""
    return _on(graph, "full", {"shape": shape, "value": value, "dtype": dtype})


register(OpDef(
    name="full", kind="creation", infer=_full_infer,
    compute=lambda args, attrs, shape: np.full(shape, attrs["value"], np.dtype(attrs["dtype"])),
    emit=_full_emit, arity=0, normalize=_normalize_full, binding_only=True,
    axis_source=_written, doc=graph_full.__doc__, attrs=("shape", "value", "dtype"),
))


def full_like(x: Any, value: Any, dtype: Any = None) -> Tensor:
    """A tensor of ``x``'s shape filled with ``value``, of ``x``'s dtype unless ``dtype`` is
    given. Only ``x``'s shape is read: the result does not depend on its values (no gradient
    flows to ``x``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"full_like: x must be a graphc Tensor, got {type(x).__name__}")
    return graph_full(x.graph, x.shape, value, x.dtype if dtype is None else dtype)


def zeros_like(x: Any, dtype: Any = None) -> Tensor:
    """Zeros of ``x``'s shape (and dtype unless ``dtype`` is given); see ``full_like``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"zeros_like: x must be a graphc Tensor, got {type(x).__name__}")
    return graph_full(x.graph, x.shape, 0, x.dtype if dtype is None else dtype)


def ones_like(x: Any, dtype: Any = None) -> Tensor:
    """Ones of ``x``'s shape (and dtype unless ``dtype`` is given); see ``full_like``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"ones_like: x must be a graphc Tensor, got {type(x).__name__}")
    return graph_full(x.graph, x.shape, 1, x.dtype if dtype is None else dtype)


# --------------------------------------------------------------------------------- arange


def _bound(v: Any, what: str) -> int | Dim:
    """An arange bound: an int, a Dim, or a dim string (parsed)."""
    if isinstance(v, Dim):
        return v
    if isinstance(v, str):
        return parse_dim(v)
    if isinstance(v, Tensor):
        raise TypeError(f"arange {what} is a Tensor, whose value is not known when the graph "
                        "is built; a bound is an int or a dim (x.shape[1])")
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"arange {what} {v!r} of type {type(v).__name__} is not an int or a "
                        "dim (x.shape[1])")
    return int(v.__index__())


def _normalize_arange(nodes, attrs):
    start, stop = _bound(attrs["start"], "start"), _bound(attrs["stop"], "stop")
    step = attrs.get("step", 1)
    if isinstance(step, Dim):
        raise TypeError(f"arange step {step} must be an int, not a dim")
    if isinstance(step, bool) or not hasattr(step, "__index__"):
        raise TypeError(f"arange step {step!r} is not an int")
    step = int(step.__index__())
    if step == 0:
        raise ShapeError("arange step cannot be zero")
    dt = attrs.get("dtype")
    dt = check_dtype(np.int64 if dt is None else dt, "arange")
    if dt.kind == "b":
        raise TypeError("arange: dtype bool is not supported (an int or a float dtype)")
    return {"start": start, "stop": stop, "step": step, "dtype": dt.name}


def _text(start, stop, step) -> str:
    return f"arange({start}, {stop}" + (f", {step})" if step != 1 else ")")


def arange_size(start: int | Dim, stop: int | Dim, step: int) -> tuple[int | Dim,
                                                                        list[Constraint]]:
    """The length of ``arange(start, stop, step)`` and the conditions it assumes.

    With int bounds, numpy's (Python's ``range``) rule: a range that runs backwards is empty.
    With a dim bound it is ``(stop - start + step - 1)//step`` (``(start - stop - step - 1)//
    -step`` stepping down), and the range must not run backwards: ``stop >= start`` (``start
    >= stop`` stepping down) is returned as a condition checked when the symbols are bound
    (a ShapeError now when it is false for every binding), so a range is never silently
    empty, as a slice of a symbolic axis is never silently clamped.
    """
    if not isinstance(start, Dim) and not isinstance(stop, Dim):
        return len(range(start, stop, step)), []
    k = abs(step)
    hi, lo = (stop, start) if step > 0 else (start, stop)
    why = (f"{_text(start, stop, step)} needs {hi} >= {lo} (a range over dims that would "
           "run backwards is refused, not made empty)")
    return (hi - lo + k - 1) // k, at_least(hi, lo, why)


def _range_needs(start, stop, step, dt: np.dtype) -> list[Constraint]:
    """The values fit an int dtype: exactly for int bounds (a TypeError now), else the
    conditions (values lie between start and stop - 1, or stop + 1 stepping down) checked when
    the symbols are bound."""
    if dt.kind not in "iu":
        return []
    info = np.iinfo(dt)
    if not isinstance(start, Dim) and not isinstance(stop, Dim):
        r = range(start, stop, step)
        if r and not (info.min <= min(r[0], r[-1]) and max(r[0], r[-1]) <= info.max):
            raise TypeError(f"{_text(start, stop, step)}: the values run from {r[0]} to {r[-1]}, "
                            f"which do not fit dtype {dt} (its range is [{info.min}, "
                            f"{info.max}])")
        return []
    first, last = (start, stop - 1) if step > 0 else (start, stop + 1)
    lo_end, hi_end = (first, last) if step > 0 else (last, first)
    needs = []
    for d, bound, low in ((lo_end, int(info.min), True), (hi_end, int(info.max), False)):
        if abs(bound) > _DIM_BOUND:
            continue  # beyond any size a symbol is bound to
        why = (f"{_text(start, stop, step)} in dtype {dt} needs "
               f"{d} {'>=' if low else '<='} {bound}")
        try:
            needs += at_least(d, bound, why) if low else at_least(bound, d, why)
        except ShapeError:
            raise TypeError(why) from None
    return needs


def _arange_infer(nodes, attrs):
    dt = check_dtype(attrs["dtype"], "arange")
    start, stop, step = attrs["start"], attrs["stop"], attrs["step"]
    size, _ = arange_size(start, stop, step)
    _range_needs(start, stop, step, dt)
    return Shape((size,)), dt


def _arange_requires(node, operands):
    a = node.attr
    return (arange_size(a["start"], a["stop"], a["step"])[1]
            + _range_needs(a["start"], a["stop"], a["step"], np.dtype(a["dtype"])))


def _arange_emit(args, attrs, ctx):
    dt = ctx.ref(np.dtype(attrs["dtype"]), "dt")
    return (f"xp.arange({ctx.dim(attrs['start'])}, {ctx.dim(attrs['stop'])}, "
            f"{int(attrs['step'])}, dtype={dt})")


def graph_arange(graph: Graph, start: Any, stop: Any = None, step: Any = 1,
                 dtype: Any = None) -> Tensor:
    """numpy's arange over int bounds that may be dims: ``g.arange(x.shape[1])``,
    ``g.arange(1, T)``, ``g.arange(T, 0, -1)``; ``step`` is a nonzero int. ``dtype``: int64
    unless given (any int or float dtype).

    With int bounds a range that runs backwards is empty, as in numpy. With a dim bound the
    length is an expression (``T - 1`` for ``arange(1, T)``), and the range must not run
    backwards: ``arange(1, T)`` needs T >= 1, checked when T is bound (a ShapeError at call
    time for T = 0), never silently empty. Computed once per binding of its symbols.
    """
    if stop is None:
        start, stop = 0, start
    return _on(graph, "arange", {"start": start, "stop": stop, "step": step, "dtype": dtype})


register(OpDef(
    name="arange", kind="creation", infer=_arange_infer,
    compute=lambda args, attrs, shape: np.arange(attrs["start"], attrs["stop"], attrs["step"],
                                                 dtype=np.dtype(attrs["dtype"])),
    emit=_arange_emit, arity=0, normalize=_normalize_arange, binding_only=True,
    requires=_arange_requires, axis_source=_written, doc=graph_arange.__doc__,
    attrs=("start", "stop", "step", "dtype"),
))


# ----------------------------------------------------------------------------- tril, triu


def tril(x: Any, k: int = 0) -> Tensor:
    """numpy's tril: ``x`` with the entries above the k-th diagonal of its last two axes set
    to zero (False for bool). ``gc.tril(g.ones((T, T), bool))`` is a causal mask."""
    return apply("tril", [x], k=k)


def triu(x: Any, k: int = 0) -> Tensor:
    """numpy's triu: ``x`` with the entries below the k-th diagonal of its last two axes set
    to zero (False for bool)."""
    return apply("triu", [x], k=k)


def _normalize_tri(nodes, attrs):
    k = attrs.get("k", 0)
    if isinstance(k, bool) or not hasattr(k, "__index__"):
        raise TypeError(f"k {k!r} is not an int")
    return {"k": int(k.__index__())}


def _tri_infer(name: str):
    def infer(nodes, attrs):
        x = nodes[0]
        if x.ndim < 2:
            raise ShapeError(f"{name} works on the last two axes: x {x.shape} has rank {x.ndim}, "
                             "at least 2 is needed")
        return x.shape, x.dtype

    return infer


for _name, _fn, _np_fn in (("tril", tril, np.tril), ("triu", triu, np.triu)):
    register(OpDef(
        name=_name, kind="index", infer=_tri_infer(_name),
        compute=lambda args, attrs, shape, _np=_np_fn: _np(args[0], attrs["k"]),
        emit=lambda args, attrs, ctx, _n=_name: f"xp.{_n}({args[0]}, k={int(attrs['k'])})",
        vjp=lambda g, out, x, at, need, _f=_fn: [_f(g, at["k"])],
        normalize=_normalize_tri, doc=_fn.__doc__, attrs=("k",),
        axis_source=lambda node, src, axis: [(0, axis)],
    ))
del _name, _fn, _np_fn

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "full_like", "ones_like", "tril", "triu", "zeros_like",
]
