"""Reductions (sum, mean, max, min, prod, var, std, any, all, logsumexp, argmax, argmin,
``linalg.norm``), the running cumsum and cumprod, and the axis-wise normalisations softmax,
log_softmax.

Reductions take numpy's ``axis`` (None, an int, negative ints, a tuple) and ``keepdims``;
the attribute stored is the sorted tuple of non-negative axes, so equal reductions print,
hash and compare equal. argmax, argmin, cumsum and cumprod take one axis or None (``x``
flattened), as numpy; a matrix norm keeps its (row, column) axes in order.

``linalg`` is ``gc.linalg``, the namespace of numpy.linalg's functions (``norm``); the
module ``graphc.ops.linalg`` is the matmul family, not it.
"""

from __future__ import annotations

import math
import numbers
import types
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, definitely_equal, normalize_axes, normalize_axis, static_numel
from graphc.ir.dims import numel as dim_numel
from graphc.ir.dtypes import check_dtype, probe_dtype
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops import kernels
from graphc.ops._common import apply, atomic


def _normalize_reduce(nodes, attrs):
    """axis: None, an int or a tuple -> sorted tuple of non-negative axes; keepdims: bool."""
    return {"axis": normalize_axes(attrs.get("axis"), nodes[0].ndim),
            "keepdims": bool(attrs.get("keepdims", False))}


def reduced_shape(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    """``shape`` with ``axes`` removed (or set to 1 with keepdims)."""
    if keepdims:
        return Shape(1 if i in axes else d for i, d in enumerate(shape))
    return Shape(d for i, d in enumerate(shape) if i not in axes)


def _reduce_infer(np_fn, empty_ok: bool = True):
    """Shape: ``reduced_shape``; dtype: numpy's. ``empty_ok=False``: a reduction with no
    identity (max) refuses an axis of size 0, as numpy does at run time."""
    def infer(nodes, attrs):
        x = nodes[0]
        axes = normalize_axes(attrs["axis"], x.ndim)
        empty = [a for a in axes if definitely_equal(x.shape[a], 0)]
        if empty and not empty_ok:
            raise ShapeError(f"axis {empty[0]} of {x.shape} has size 0: the reduction has no "
                             "identity, so its result over no elements is undefined")
        return reduced_shape(x.shape, axes, attrs["keepdims"]), probe_dtype(np_fn, x.dtype)

    return infer


def _emit_reduce(fn: str, out: bool):
    def emit(args, attrs, ctx):
        o = f", out={ctx.out}" if out and ctx.out is not None else ""
        return f"{fn}({args[0]}, axis={attrs['axis']!r}, keepdims={attrs['keepdims']!r}{o})"

    return emit


def _reduce_axis_source(node, src, axis):
    """A kept size-1 axis was written out by ``keepdims``; other axes come from x's."""
    red = tuple(node.attr["axis"])
    if node.attr["keepdims"]:
        return True if axis in red else [(0, axis)]
    kept = [i for i in range(src[0].ndim) if i not in red]
    return [(0, kept[axis])]


def _axiswise_axis_source(node, src, axis):
    """softmax and log_softmax keep x's shape: every axis is x's."""
    return [(0, axis)]


def _is_float_of(n, x) -> bool:
    return n.dtype.kind == "f" and x.dtype == n.dtype


def _ufunc_reduce(ufunc: str) -> Kernel:
    """A float sum/max as the ufunc's reduce: np.sum's Python wrapper costs ~1 us a call."""

    def emit(args, attrs, ctx):
        kd = ", keepdims=True" if attrs["keepdims"] else ""
        o = f", out={ctx.out}" if ctx.out is not None else ""
        return f"xp.{ufunc}.reduce({args[0]}, axis={attrs['axis']!r}{kd}{o})"

    return Kernel(f"{ufunc}.reduce", lambda n, ins, prog: _is_float_of(n, ins[0]), emit)


def _gemv_when(n, ins, prog) -> bool:
    x = ins[0]
    return (_is_float_of(n, x) and n.ndim == 1 and x.ndim == 2
            and tuple(n.attr["axis"]) == (0,))


def _gemv_emit(args, attrs, ctx):
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return f"xp.dot({ctx.ones()}, {args[0]}{o})"


#: a float column sum of a matrix as ``dot(ones, x)``, a gemv with a ones vector made per
#: binding: ~2x faster than ``add.reduce`` for the bias gradients of small batches
_GEMV = Kernel("gemv with a ones vector", _gemv_when, _gemv_emit, needs_plan=True)


def _square_operand(prog, n):
    """``d`` when operand 0 of ``n`` is ``square(d)`` or ``multiply(d, d)``, else None."""
    sq = prog.operand(n, 0)
    if sq.op == "square" or (sq.op == "multiply" and sq.inputs[0] == sq.inputs[1]):
        return sq.inputs[0]
    return None


def _sumsq_when(n, ins, prog) -> bool:
    sq = ins[0]
    d = _square_operand(prog, n)
    return (d is not None and n.ndim == 0 and _is_float_of(n, sq)
            and prog.node(d).dtype == n.dtype and prog.node(d).ndim >= 1
            and prog.only_reader(sq.id, n.id) and not prog.kept(sq.id)
            and sorted(n.attr["axis"]) == list(range(sq.ndim))
            and static_numel(sq.shape) <= kernels.SUM_OF_SQUARES_DOT_MAX)


def _sumsq_emit(args, attrs, ctx):
    flat = ctx.flat(0)
    if flat is None:
        return f"rt.sum_of_squares({args[0]})"  # checks the size itself
    if ctx.inputs[0].shape.is_concrete:
        return f"xp.dot({flat}, {flat})"  # a static size, at most the limit (``when``)
    limit = kernels.SUM_OF_SQUARES_DOT_MAX
    return f"(xp.dot({flat}, {flat}) if {flat}.size <= {limit} else rt.sum_of_squares({flat}))"


#: ``sum(square(d))`` over every axis as one BLAS ``dot`` of ``d`` flattened (the square is
#: not computed), for at most ``kernels.SUM_OF_SQUARES_DOT_MAX`` elements: checked when built
#: for a static size, at run time for a symbolic one (numpy's pairwise sum of the squares
#: above it). The dot sums in another order than numpy's pairwise add.reduce: the results
#: agree to rounding (last bits, within ~2 eps), not bit for bit
_SUM_OF_SQUARES = Kernel("one dot", _sumsq_when, _sumsq_emit, out=False, flat=True,
                         reads=lambda n, prog: (_square_operand(prog, n),))


def expand_back(g: Tensor, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    """A reduced gradient broadcast back over the reduced axes to ``x``'s shape."""
    from graphc.ops.shape import broadcast_to, expand_dims

    if not keepdims and axes:
        g = expand_dims(g, axes)
    return broadcast_to(g, x.shape)


def _def_reduce(name: str, np_fn, vjp, doc: str, empty_ok: bool = True,
                kernels: tuple[Kernel, ...] = ()) -> None:
    register(OpDef(
        name=name, kind="reduction", infer=_reduce_infer(np_fn, empty_ok),
        compute=lambda args, attrs, shape: np_fn(args[0], axis=attrs["axis"],
                                                 keepdims=attrs["keepdims"]),
        emit=_emit_reduce(f"xp.{np_fn.__name__}", out=True), vjp=vjp, out=True, doc=doc,
        attrs=("axis", "keepdims"), normalize=_normalize_reduce,
        axis_source=_reduce_axis_source, kernels=kernels,
    ))


# ------------------------------------------------------------------------------------ sum


def sum(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Sum over ``axis`` (None: all axes)."""
    return apply("sum", [x], axis=axis, keepdims=keepdims)


def _sum_vjp(g, out, x, at, need):
    return [expand_back(g, x[0], at["axis"], at["keepdims"])]


_def_reduce("sum", np.sum, _sum_vjp, sum.__doc__,
            kernels=(_SUM_OF_SQUARES, _GEMV, _ufunc_reduce("add")))


# ----------------------------------------------------------------------------------- mean


def mean(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Mean over ``axis`` (None: all axes); a symbolic axis divides by its size at run time."""
    return apply("mean", [x], axis=axis, keepdims=keepdims)


def _mean_vjp(g, out, x, at, need):
    return [expand_back(g, x[0], at["axis"], at["keepdims"]) / numel(x[0], at["axis"], g.dtype)]


_def_reduce("mean", np.mean, _mean_vjp, mean.__doc__)


# ------------------------------------------------------------------------------------ max


def max(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Max over ``axis``. At a tie the gradient is split evenly among the maximal entries."""
    return apply("max", [x], axis=axis, keepdims=keepdims)


def _extremum_vjp(g, out, x, at, need):
    """max and min: the gradient goes to the entries equal to the result, split evenly at a
    tie (each of k tied entries gets g / k)."""
    from graphc.ops.elementwise import astype, equal

    axes, keepdims = at["axis"], at["keepdims"]
    hit = astype(equal(x[0], expand_back(out, x[0], axes, keepdims)), g.dtype)
    share = hit / sum(hit, axis=axes, keepdims=True)
    return [expand_back(g, x[0], axes, keepdims) * share]


_def_reduce("max", np.max, _extremum_vjp, max.__doc__, empty_ok=False,
            kernels=(_ufunc_reduce("maximum"),))


# ------------------------------------------------------------------------------------ min


def min(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Min over ``axis``. At a tie the gradient is split evenly among the minimal entries.
    An axis of size 0 is refused (numpy's ValueError: min has no identity), when built if
    the size is known, else when called."""
    return apply("min", [x], axis=axis, keepdims=keepdims)


_def_reduce("min", np.min, _extremum_vjp, min.__doc__, empty_ok=False,
            kernels=(_ufunc_reduce("minimum"),))


# ------------------------------------------------------------------------------ logsumexp


def logsumexp(x: Any, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x), axis)), computed stably (shifted by the max)."""
    return apply("logsumexp", [x], axis=axis, keepdims=keepdims)


def _lse_vjp(g, out, x, at, need):
    from graphc.ops.elementwise import exp

    axes, keepdims = at["axis"], at["keepdims"]
    # d lse / dx = softmax(x) = exp(x - lse)
    return [expand_back(g, x[0], axes, keepdims) * exp(x[0] - expand_back(out, x[0], axes,
                                                                            keepdims))]


def _lse_infer(nodes, attrs):
    _need_float(nodes[0], "logsumexp")
    return _reduce_infer(np.exp)(nodes, attrs)


register(OpDef(
    name="logsumexp", kind="reduction", infer=_lse_infer,
    compute=lambda args, attrs, shape: kernels.logsumexp(args[0], attrs["axis"],
                                                         attrs["keepdims"]),
    emit=lambda args, attrs, ctx: (f"rt.logsumexp({args[0]}, {attrs['axis']!r}, "
                                   f"{attrs['keepdims']!r})"),
    vjp=_lse_vjp, doc=logsumexp.__doc__, attrs=("axis", "keepdims"), normalize=_normalize_reduce,
    axis_source=_reduce_axis_source,
))


# -------------------------------------------------------------------- softmax, log_softmax


def _normalize_axiswise(nodes, attrs):
    return {"axis": normalize_axis(attrs.get("axis", -1), nodes[0].ndim)}


def _need_float(x, op: str) -> None:
    if x.dtype.kind != "f":
        raise TypeError(f"{op} needs a float tensor, got {x.dtype} (cast it with astype)")


def _axiswise_infer(nodes, attrs):
    x = nodes[0]
    _need_float(x, "softmax")
    normalize_axis(attrs["axis"], x.ndim)
    return x.shape, probe_dtype(np.exp, x.dtype)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x), axis), computed stably."""
    return apply("softmax", [x], axis=axis)


def _softmax_vjp(g, out, x, at, need):
    # J^T g = s * (g - sum(g * s))
    return [out * (g - sum(g * out, axis=at["axis"], keepdims=True))]


register(OpDef(
    name="softmax", kind="reduction", infer=_axiswise_infer,
    compute=lambda args, attrs, shape: kernels.softmax(args[0], attrs["axis"]),
    emit=lambda args, attrs, ctx: f"rt.softmax({args[0]}, {attrs['axis']!r})",
    vjp=_softmax_vjp, doc=softmax.__doc__, attrs=("axis",), normalize=_normalize_axiswise,
    axis_source=_axiswise_axis_source,
))


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x, axis, keepdims=True), computed stably."""
    return apply("log_softmax", [x], axis=axis)


def _log_softmax_vjp(g, out, x, at, need):
    from graphc.ops.elementwise import exp

    # J^T g = g - softmax(x) * sum(g)
    return [g - exp(out) * sum(g, axis=at["axis"], keepdims=True)]


register(OpDef(
    name="log_softmax", kind="reduction", infer=_axiswise_infer,
    compute=lambda args, attrs, shape: kernels.log_softmax(args[0], attrs["axis"]),
    emit=lambda args, attrs, ctx: f"rt.log_softmax({args[0]}, {attrs['axis']!r})",
    vjp=_log_softmax_vjp, doc=log_softmax.__doc__, attrs=("axis",),
    normalize=_normalize_axiswise, axis_source=_axiswise_axis_source,
))


# ---------------------------------------------------------------------------------- numel


def numel(x: Tensor, axes: Any = None, dtype: Any = None) -> Tensor:
    """The number of elements of ``x`` over ``axes`` as a scalar (symbolic dims at run time)."""
    return apply("numel", [x], axis=axes, dtype=dtype)


def _normalize_numel(nodes, attrs):
    dt = attrs.get("dtype")
    return {"axis": normalize_axes(attrs.get("axis"), nodes[0].ndim),
            "dtype": check_dtype(dt if dt is not None else np.float64, "numel").name}


def _numel_infer(nodes, attrs):
    normalize_axes(attrs["axis"], nodes[0].ndim)
    return Shape(()), np.dtype(attrs["dtype"])


def _numel_emit(args, attrs, ctx):
    dims = [ctx.dim(ctx.inputs[0].shape[a]) for a in attrs["axis"]]
    return f"xp.asarray({' * '.join(dims) or '1'}, dtype={ctx.ref(np.dtype(attrs['dtype']), 'dt')})"


register(OpDef(
    name="numel", kind="reduction", infer=_numel_infer,
    compute=lambda args, attrs, shape: kernels.numel(args[0], attrs["axis"], attrs["dtype"]),
    emit=_numel_emit, vjp=None, doc=numel.__doc__, attrs=("axis", "dtype"),
    normalize=_normalize_numel, binding_only=True,
))

# ---------------------------------------------------------------------------- any, all


def any(x: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether any element over ``axis`` is true (non-zero): bool, no gradient. An empty
    axis gives False, as in numpy."""
    return apply("any", [x], axis=axis, keepdims=keepdims)


def all(x: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Whether every element over ``axis`` is true (non-zero): bool, no gradient. An empty
    axis gives True, as in numpy."""
    return apply("all", [x], axis=axis, keepdims=keepdims)


_def_reduce("any", np.any, None, any.__doc__)
_def_reduce("all", np.all, None, all.__doc__)


# ------------------------------------------------------------------------ argmax, argmin


def argmax(x: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
    """Index of the max along ``axis`` (the first one at a tie), int64, no gradient.
    ``axis=None``: the index into ``x`` flattened, as in numpy. An axis of size 0 is
    refused (numpy's ValueError), when built if the size is known, else when called."""
    return apply("argmax", [x], axis=axis, keepdims=keepdims)


def argmin(x: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
    """Index of the min along ``axis`` (the first one at a tie), int64, no gradient.
    ``axis=None``: the index into ``x`` flattened, as in numpy. An axis of size 0 is
    refused (numpy's ValueError), when built if the size is known, else when called."""
    return apply("argmin", [x], axis=axis, keepdims=keepdims)


def _normalize_arg(nodes, attrs):
    """axis: None (x flattened) or one non-negative axis (numpy takes no tuple here)."""
    axis = attrs.get("axis")
    return {"axis": None if axis is None else normalize_axis(axis, nodes[0].ndim),
            "keepdims": bool(attrs.get("keepdims", False))}


def _arg_axes(attrs, ndim: int) -> tuple[int, ...]:
    return tuple(range(ndim)) if attrs["axis"] is None else (attrs["axis"],)


def _arg_infer(name: str):
    def infer(nodes, attrs):
        x = nodes[0]
        axes = _arg_axes(attrs, x.ndim)
        empty = [a for a in axes if definitely_equal(x.shape[a], 0)]
        if empty:
            raise ShapeError(f"axis {empty[0]} of {x.shape} has size 0: {name} of no elements "
                             "is undefined")
        return reduced_shape(x.shape, axes, attrs["keepdims"]), np.dtype(np.int64)

    return infer


def _arg_axis_source(node, src, axis):
    red = _arg_axes(node.attr, src[0].ndim)
    if node.attr["keepdims"]:
        return True if axis in red else [(0, axis)]
    return [(0, [i for i in range(src[0].ndim) if i not in red][axis])]


def _arg_compute(np_fn):
    def compute(args, attrs, shape):
        r = np_fn(args[0], axis=attrs["axis"], keepdims=attrs["keepdims"])
        return np.asarray(r, dtype=np.int64)

    return compute


for _name, _fn, _builder in (("argmax", np.argmax, argmax), ("argmin", np.argmin, argmin)):
    register(OpDef(
        name=_name, kind="reduction", infer=_arg_infer(_name), compute=_arg_compute(_fn),
        emit=_emit_reduce(f"xp.{_name}", out=True), vjp=None, out=True, doc=_builder.__doc__,
        attrs=("axis", "keepdims"), normalize=_normalize_arg, axis_source=_arg_axis_source,
    ))
del _name, _fn, _builder


# ----------------------------------------------------------------------------------- prod


def prod(x: Any, axis: Any = None, *, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` (numpy's dtype: small ints widen to int64/uint64, bool gives
    int64). Its gradient prod_{j != i} x_j is exact with zeros in the slice (one or more,
    to second order too): no division by an element that is 0."""
    return apply("prod", [x], axis=axis, keepdims=keepdims)


def _prod_vjp(g, out, x, at, need):
    from graphc.ops.elementwise import astype, equal, where

    x0, axes, keepdims = x[0], at["axis"], at["keepdims"]
    zero = equal(x0, 0)
    nz = where(zero, 1, x0)  # the non-zero factors, 1 in place of a zero
    # p: product of the non-zero entries; zp: product of the zero entries (0 when there are
    # any, 1 otherwise; its own gradient is 1 at a lone zero), nzero: how many zeros,
    # zsum: their sum (0 in value; its gradient points at each zero)
    p = prod(nz, axis=axes, keepdims=True)
    zp = prod(where(zero, x0, 1), axis=axes, keepdims=True)
    nzero = sum(astype(zero, g.dtype), axis=axes, keepdims=True)
    zsum = sum(where(zero, x0, 0), axis=axes, keepdims=True)
    # at a non-zero entry: (product of the zeros) * p / x_i; at a zero: p when it is the only
    # zero, (the other zero) * p when there are two, else 0 (each written so that its
    # derivative is the second derivative of the product too)
    at_nonzero = zp * p / nz
    at_zero = where(equal(nzero, 1), p, where(equal(nzero, 2), (zsum - x0) * p, 0))
    return [expand_back(g, x0, axes, keepdims) * where(zero, at_zero, at_nonzero)]


_def_reduce("prod", np.prod, _prod_vjp, prod.__doc__, kernels=(_ufunc_reduce("multiply"),))


# ------------------------------------------------------------------------------- var, std


def var(x: Any, axis: Any = None, *, ddof: Any = 0, keepdims: bool = False) -> Tensor:
    """Variance over ``axis``: sum((x - mean)**2) / (N - ddof), numpy's ``var`` (ints give
    float64). N <= ddof gives inf or nan with numpy's RuntimeWarning, as in numpy."""
    return apply("var", [x], axis=axis, ddof=ddof, keepdims=keepdims)


def std(x: Any, axis: Any = None, *, ddof: Any = 0, keepdims: bool = False) -> Tensor:
    """Standard deviation over ``axis``: sqrt(var(x, axis, ddof=ddof)), numpy's ``std``.
    Over a constant slice the value is 0 and the gradient is not finite (0/0: nan), as in
    torch: sqrt has no derivative at 0."""
    return apply("std", [x], axis=axis, ddof=ddof, keepdims=keepdims)


def _ddof(v: Any) -> int | float:
    """ddof as a Python int when it is whole (canonical: ``1.0`` is ``1``), else a float."""
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"ddof must be a number, got {v!r}")
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"ddof must be finite, got {v!r}")
    return int(f) if f.is_integer() else f


def _normalize_var(nodes, attrs):
    return {**_normalize_reduce(nodes, attrs), "ddof": _ddof(attrs.get("ddof", 0))}


def _var_emit(fn: str):
    def emit(args, attrs, ctx):
        o = f", out={ctx.out}" if ctx.out is not None else ""
        d = attrs["ddof"]
        ddof = str(int(d)) if isinstance(d, int) else repr(float(d))
        return (f"{fn}({args[0]}, axis={attrs['axis']!r}, ddof={ddof}, "
                f"keepdims={attrs['keepdims']!r}{o})")

    return emit


def _centered(x0, axes):
    """x minus its mean over ``axes`` (kept)."""
    return x0 - mean(x0, axis=axes, keepdims=True)


def _var_vjp(g, out, x, at, need):
    x0, axes, keepdims = x[0], at["axis"], at["keepdims"]
    dof = numel(x0, axes, g.dtype) - at["ddof"]
    # d var / dx = 2 (x - mean) / (N - ddof): the mean's own dependence on x sums to 0
    return [expand_back(g, x0, axes, keepdims) * (2 * _centered(x0, axes) / dof)]


def _std_vjp(g, out, x, at, need):
    x0, axes, keepdims = x[0], at["axis"], at["keepdims"]
    dof = numel(x0, axes, g.dtype) - at["ddof"]
    # d std / dx = (x - mean) / ((N - ddof) std): 0/0 = nan over a constant slice
    s = expand_back(out, x0, axes, keepdims)
    return [expand_back(g, x0, axes, keepdims) * (_centered(x0, axes) / (dof * s))]


for _name, _fn, _vjp, _builder in (("var", np.var, _var_vjp, var), ("std", np.std, _std_vjp, std)):
    register(OpDef(
        name=_name, kind="reduction", infer=_reduce_infer(_fn),
        compute=lambda args, attrs, shape, _fn=_fn: _fn(
            args[0], axis=attrs["axis"], ddof=attrs["ddof"], keepdims=attrs["keepdims"]),
        emit=_var_emit(f"xp.{_name}"), vjp=_vjp, out=True, doc=_builder.__doc__,
        attrs=("axis", "ddof", "keepdims"), normalize=_normalize_var,
        axis_source=_reduce_axis_source,
    ))
del _name, _fn, _vjp, _builder


# ------------------------------------------------------------------------ cumsum, cumprod


def cumsum(x: Any, axis: Any = None) -> Tensor:
    """Running sum along ``axis``; ``axis=None`` runs over ``x`` flattened (a 1-D result),
    as in numpy (small ints widen to int64/uint64, bool gives int64). Its gradient is the
    running sum of the gradient taken from the end."""
    return apply("cumsum", [x], axis=axis)


def cumprod(x: Any, axis: Any = None) -> Tensor:
    """Running product along ``axis``; ``axis=None`` runs over ``x`` flattened (a 1-D
    result), as in numpy. Its gradient is exact with zeros in the slice, to second order
    too (no division by an element that is 0)."""
    return apply("cumprod", [x], axis=axis)


def _normalize_cum(nodes, attrs):
    axis = attrs.get("axis")
    return {"axis": None if axis is None else normalize_axis(axis, nodes[0].ndim)}


def _cum_infer(np_fn):
    def infer(nodes, attrs):
        x = nodes[0]
        dt = probe_dtype(np_fn, x.dtype)
        if attrs["axis"] is None:
            return Shape((dim_numel(x.shape),)), dt
        normalize_axis(attrs["axis"], x.ndim)
        return x.shape, dt

    return infer


def _cum_axis_source(node, src, axis):
    """Along an axis: x's axis; flattened: written out (as reshape)."""
    return True if node.attr["axis"] is None else [(0, axis)]


def _cum_emit(fn: str):
    def emit(args, attrs, ctx):
        o = f", out={ctx.out}" if ctx.out is not None else ""
        return f"{fn}({args[0]}, axis={attrs['axis']!r}{o})"

    return emit


def _reversed(t: Tensor, axis: int) -> Tensor:
    """``t`` reversed along ``axis`` (a view)."""
    from graphc.ops.indexing import getitem

    return getitem(t, (slice(None),) * axis + (slice(None, None, -1),))


def _cumsum_from_end(t: Tensor, axis: int) -> Tensor:
    """sum_{k >= i} t_k along ``axis``."""
    return _reversed(cumsum(_reversed(t, axis), axis=axis), axis)


def _flat_axis(x0: Tensor, axis: int | None) -> tuple[Tensor, int]:
    """x along the running axis: ``x`` flattened for ``axis=None``."""
    from graphc.ops.shape import reshape

    return (reshape(x0, (-1,)), 0) if axis is None else (x0, axis)


def _unflat(gx: Tensor, x0: Tensor, axis: int | None) -> Tensor:
    from graphc.ops.shape import reshape

    return reshape(gx, x0.shape) if axis is None else gx


def _cumsum_vjp(g, out, x, at, need):
    _, axis = _flat_axis(x[0], at["axis"])
    return [_unflat(_cumsum_from_end(g, axis), x[0], at["axis"])]


def _cumprod_vjp(g, out, x, at, need):
    """dL/dx_i = sum_{k >= i} g_k prod_{j <= k, j != i} x_j, without dividing by a zero:
    at a non-zero x_i, (sum_{k >= i} g_k y_k) / x_i; at the first zero z1 of the slice,
    sum_{k >= z1} g_k y'_k with y' the running product with x_z1 taken as 1; at the second
    zero z2, x_z1 * sum_{k >= z2} g_k y''_k (y'': both taken as 1); at a later zero, 0. Each
    term is written so that its own derivative is right: second order is exact too."""
    from graphc.ops.elementwise import astype, equal, less_equal, where

    xf, axis = _flat_axis(x[0], at["axis"])
    zero = equal(xf, 0)
    seen = cumsum(astype(zero, g.dtype), axis=axis)  # zeros at or before i
    first = equal(where(zero, seen, 0), 1)
    second = equal(where(zero, seen, 0), 2)
    upto2 = less_equal(where(zero, seen, 3), 2)  # the first two zeros
    at_nonzero = _cumsum_from_end(g * out, axis) / where(zero, 1, xf)
    at_first = _cumsum_from_end(g * cumprod(where(first, 1, xf), axis=axis), axis)
    x_first = sum(where(first, xf, 0), axis=axis, keepdims=True)  # 0, but not its gradient
    at_second = x_first * _cumsum_from_end(g * cumprod(where(upto2, 1, xf), axis=axis), axis)
    gx = where(zero, where(first, at_first, where(second, at_second, 0)), at_nonzero)
    return [_unflat(gx, x[0], at["axis"])]


for _name, _fn, _vjp, _builder in (("cumsum", np.cumsum, _cumsum_vjp, cumsum),
                                   ("cumprod", np.cumprod, _cumprod_vjp, cumprod)):
    register(OpDef(
        name=_name, kind="reduction", infer=_cum_infer(_fn),
        compute=lambda args, attrs, shape, _fn=_fn: _fn(args[0], axis=attrs["axis"]),
        emit=_cum_emit(f"xp.{_name}"), vjp=_vjp, out=True, doc=_builder.__doc__,
        attrs=("axis",), normalize=_normalize_cum, axis_source=_cum_axis_source,
    ))
del _name, _fn, _vjp, _builder


# ----------------------------------------------------------------------------------- norm


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A002
    """numpy.linalg.norm: a vector norm over one axis, a matrix norm over two.

    Vectors: ``ord`` None or 2 (Euclidean), 1, inf (max |x|), -inf (min |x|), 0 (the count
    of non-zeros) or another number p ((sum |x|^p)^(1/p)). Matrices (``axis`` a pair, or a
    2-D ``x``): None or 'fro' (Frobenius), 1 / -1 (max / min column sum of |x|), inf / -inf
    (max / min row sum); 2, -2 and 'nuc' need singular values and are refused. ``axis=None``
    with ``ord=None``: the 2-norm of ``x`` flattened (any rank). Ints give float64.

    Gradients: at a tie of inf/-inf (or of the matrix max/min sums) the gradient is split
    evenly, as for max; the 2-norm's gradient at x = 0 is 0 (as torch); ord 0 has a zero
    gradient; |x|'s kink at 0 gives 0 (ord 1, as abs); for p < 1 an entry that is 0 has no
    finite derivative (nan). Called ``gc.linalg.norm``.
    """
    return apply("norm", [x], ord=ord, axis=axis, keepdims=keepdims)


#: matrix orders that need an SVD (numpy computes them; graphc does not yet)
_SVD_ORDS = (2, -2, "nuc")
_INF = float("inf")


def _norm_ord(o: Any) -> Any:
    """ord in canonical form: None, 'fro', 'nuc', an int when whole, else a float."""
    if o is None:
        return None
    if isinstance(o, str):
        if o in ("fro", "f"):
            return "fro"
        if o == "nuc":
            return "nuc"
        raise ValueError(f"ord {o!r} is not a norm order (None, a number, inf, -inf, 'fro' "
                         "or 'nuc')")
    if isinstance(o, bool) or not isinstance(o, numbers.Real):
        raise TypeError(f"ord must be None, a number or 'fro', got {o!r}")
    f = float(o)
    if math.isnan(f):
        raise ValueError("ord nan is not a norm order")
    return int(f) if f.is_integer() else f


def _normalize_norm(nodes, attrs):
    nd = nodes[0].ndim
    o = _norm_ord(attrs.get("ord"))
    axis = attrs.get("axis")
    keepdims = bool(attrs.get("keepdims", False))
    if axis is None:
        # numpy's fast path (x flattened): kept as axis=None so results match numpy's bits
        if o is None or (o == "fro" and nd == 2) or (o == 2 and nd == 1):
            return {"ord": o, "axis": None, "keepdims": keepdims}
        if nd not in (1, 2):
            raise ShapeError(f"norm with ord={o!r} and axis=None needs a 1-D or 2-D tensor, "
                             f"got rank {nd} (numpy: improper number of dimensions); give "
                             "axis")
        axis = tuple(range(nd))
    if isinstance(axis, list):
        axis = tuple(axis)
    axes = (tuple(normalize_axis(a, nd) for a in axis) if isinstance(axis, tuple)
            else (normalize_axis(axis, nd),))
    if len(axes) not in (1, 2):
        raise ShapeError(f"norm over {len(axes)} axes: a vector norm takes one axis, a matrix "
                         "norm two")
    if len(axes) == 2 and axes[0] == axes[1]:
        raise ShapeError(f"norm: axis {axis!r} repeats an axis")
    if len(axes) == 1 and isinstance(o, str):
        raise ValueError(f"ord {o!r} is a matrix norm, not a vector norm (axis is one axis)")
    if len(axes) == 2:
        if o in _SVD_ORDS:
            raise ValueError(f"matrix norm ord={o!r} needs singular values (an SVD), which "
                             "graphc does not compute; use None/'fro', 1, -1, inf or -inf")
        if o not in (None, "fro", 1, -1, _INF, -_INF):
            raise ValueError(f"ord {o!r} is not a matrix norm order (None/'fro', 1, -1, inf, "
                             "-inf)")
        if o == "fro":
            o = None  # the same norm over an explicit pair of axes
    return {"ord": o, "axis": axes, "keepdims": keepdims}


def _norm_axes(attrs, ndim: int) -> tuple[int, ...]:
    """The reduced axes, sorted."""
    return tuple(range(ndim)) if attrs["axis"] is None else tuple(sorted(attrs["axis"]))


def _norm_min_axis(attrs) -> int | None:
    """The axis a min is taken over (-inf and the matrix -1 / -inf): it cannot be empty."""
    axis, o = attrs["axis"], attrs["ord"]
    if axis is None or o not in (-1, -_INF):
        return None
    if len(axis) == 1:
        return axis[0] if o == -_INF else None
    row, col = axis
    return col if o == -1 else row


def _norm_infer(nodes, attrs):
    x = nodes[0]
    a = _norm_min_axis(attrs)
    if a is not None and definitely_equal(x.shape[a], 0):
        raise ShapeError(f"axis {a} of {x.shape} has size 0: norm ord={attrs['ord']!r} takes a "
                         "min, which has no identity")
    dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    return reduced_shape(x.shape, _norm_axes(attrs, x.ndim), attrs["keepdims"]), dt


def _norm_compute(args, attrs, shape):
    return np.linalg.norm(args[0], ord=attrs["ord"], axis=attrs["axis"],
                          keepdims=attrs["keepdims"])


def _ord_code(o: Any) -> str:
    if o is None:
        return "None"
    if o == "fro":
        return "'fro'"
    if isinstance(o, int):
        return str(int(o))
    if math.isinf(o):
        return "xp.inf" if o > 0 else "-xp.inf"
    return repr(float(o))


def _norm_emit(args, attrs, ctx):
    axis = "None" if attrs["axis"] is None else repr(tuple(int(a) for a in attrs["axis"]))
    return (f"xp.linalg.norm({args[0]}, ord={_ord_code(attrs['ord'])}, axis={axis}, "
            f"keepdims={bool(attrs['keepdims'])!r})")


def _norm_axis_source(node, src, axis):
    red = _norm_axes(node.attr, src[0].ndim)
    if node.attr["keepdims"]:
        return True if axis in red else [(0, axis)]
    return [(0, [i for i in range(src[0].ndim) if i not in red][axis])]


def _tie_share(hit: Tensor, axes: tuple[int, ...]) -> Tensor:
    """hit (1 at the entries that attain the max/min, else 0) divided among the ties."""
    return hit / sum(hit, axis=axes, keepdims=True)


def _norm_vjp(g, out, x, at, need):
    from graphc.ops.creation import zeros_like
    from graphc.ops.elementwise import abs, astype, equal, power, sign, where

    x0, o = x[0], at["ord"]
    axes = _norm_axes(at, x0.ndim)
    G = expand_back(g, x0, axes, at["keepdims"])
    n = expand_back(out, x0, axes, at["keepdims"])
    if o == 0:
        return [zeros_like(x0)]
    if o == 1 and len(axes) == 1:
        return [G * sign(x0)]
    if o is None or o == 2 or o == "fro":  # x / |x|, 0 at x = 0
        return [G * x0 / where(equal(n, 0), 1, n)]
    ax = at["axis"]
    if len(ax) == 1:  # inf, -inf: |x_i| == the norm; p: |x|^(p-1) / n^(p-1)
        if math.isinf(o):
            hit = astype(equal(abs(x0), n), g.dtype)
            return [G * _tie_share(hit, axes) * sign(x0)]
        safe = where(equal(n, 0), 1, n)
        return [G * sign(x0) * power(abs(x0) / safe, o - 1)]
    # matrix 1 / -1: max / min over columns of the column sums (over rows); inf / -inf:
    # over rows of the row sums
    row, col = ax
    summed, picked = (row, col) if o in (1, -1) else (col, row)
    s = sum(abs(x0), axis=summed, keepdims=True)
    hit = astype(equal(s, n), g.dtype)
    return [G * _tie_share(hit, (picked,)) * sign(x0)]


register(OpDef(
    name="norm", kind="reduction", infer=_norm_infer, compute=_norm_compute, emit=_norm_emit,
    vjp=_norm_vjp, doc=norm.__doc__, attrs=("ord", "axis", "keepdims"),
    normalize=_normalize_norm, axis_source=_norm_axis_source,
))


def _namespace(name: str, doc: str, **members: Any) -> types.ModuleType:
    ns = types.ModuleType(name, doc)
    for k, v in members.items():
        setattr(ns, k, v)
    ns.__all__ = sorted(members)  # type: ignore[attr-defined]
    return ns


#: ``gc.linalg``: numpy.linalg's functions that graphc has (``gc.linalg.norm``), a namespace
#: object (``graphc.ops.linalg`` is the matmul family module; this is not it). Its builders
#: are atomic, as every public builder: a failed build leaves the graph as it was
linalg = _namespace("graphc.linalg", "numpy.linalg's functions in graphc: norm.",
                    norm=atomic(norm))


#: the public builders (re-exported by graphc.ops and graphc); ``norm`` is ``linalg.norm``
#: (``gc.linalg.norm``), as in numpy
__all__ = [
    "all", "any", "argmax", "argmin", "cumprod", "cumsum", "log_softmax", "logsumexp", "max",
    "mean", "min", "numel", "prod", "softmax", "std", "sum", "var",
]
