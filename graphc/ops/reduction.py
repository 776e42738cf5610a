"""Reductions (sum, mean, max, logsumexp) and the axis-wise normalisations softmax, log_softmax.

Reductions take numpy's ``axis`` (None, an int, negative ints, a tuple) and ``keepdims``;
the attribute stored is the sorted tuple of non-negative axes, so equal reductions print,
hash and compare equal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, definitely_equal, normalize_axes, normalize_axis, static_numel
from graphc.ir.dtypes import check_dtype, probe_dtype
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops import kernels
from graphc.ops._common import apply


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


def _max_vjp(g, out, x, at, need):
    from graphc.ops.elementwise import astype, equal

    axes, keepdims = at["axis"], at["keepdims"]
    hit = astype(equal(x[0], expand_back(out, x[0], axes, keepdims)), g.dtype)
    share = hit / sum(hit, axis=axes, keepdims=True)
    return [expand_back(g, x[0], axes, keepdims) * share]


_def_reduce("max", np.max, _max_vjp, max.__doc__, empty_ok=False,
            kernels=(_ufunc_reduce("maximum"),))


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

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "log_softmax", "logsumexp", "max", "mean", "numel", "softmax", "sum",
]
