"""Shape ops: reshape, broadcast_to, swapaxes, transpose, expand_dims, squeeze, concatenate.

All but concatenate lower to numpy views, so they cost nothing at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import (
    Dim,
    Shape,
    broadcast_shapes,
    check_dim,
    definitely_equal,
    equal_dims,
    is_symbolic,
    normalize_axes,
    normalize_axis,
    numel,
    same_shape,
)
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops._common import apply

# -------------------------------------------------------------------------------- reshape



# ----------------------------------------------------- facts shared by the view ops


def _always(node, contiguous: bool) -> bool:
    """numpy returns a view for this op whatever its operand's layout."""
    return True


def _contiguous_only(node, contiguous: bool) -> bool:
    """np.reshape returns a view of a contiguous operand (it may copy any other)."""
    return contiguous


def _written(node, src, axis):
    """The op wrote the size-1 axis out (reshape, broadcast_to): the user asked for it."""
    return True


def _permuted(perm):
    """axis_source of an axis permutation: output axis a is operand axis perm[a]."""
    return lambda node, src, axis: [(0, perm(node)[axis])]


def _dot_t(args, attrs, ctx) -> str:
    return f"{args[0]}.T"


#: a 2-D transpose as numpy's ``.T`` (the cheapest spelling)
_SWAP_T = Kernel(".T", lambda n, ins, prog: n.ndim == 2 and n.attr["axis1"] != n.attr["axis2"],
                 _dot_t)
_TRANSPOSE_T = Kernel(".T", lambda n, ins, prog: tuple(n.attr["axes"]) == (1, 0), _dot_t)

def reshape(x: Any, shape: Any) -> Tensor:
    """numpy reshape. Dims may be expressions: ``(B, T, d) -> (B*T, d) -> (B, T, d)``; one
    -1 is inferred when the element count divides exactly (``B*T*d / d`` is ``B*T``).

    The element counts must be equal as expressions; when they differ only in which symbols
    they read (``(N, d) -> (B, T, d)``), they are checked to be equal at call time."""
    single = isinstance(shape, (int, str, Dim)) and not isinstance(shape, bool)
    return apply("reshape", [x], shape=(shape,) if single else shape)


def _fmt(dims) -> str:
    return "(" + ", ".join(str(d) for d in dims) + (",)" if len(dims) == 1 else ")")


def _is_hole(d: object) -> bool:
    return (not isinstance(d, (str, bool, Dim)) and hasattr(d, "__index__")
            and d.__index__() == -1)


def _normalize_reshape(nodes, attrs):
    """The target shape with its -1 resolved, so that equal reshapes have equal attributes."""
    x, target = nodes[0], attrs["shape"]
    try:
        target = list(target)
    except TypeError:
        raise ShapeError(f"target shape {target!r} is not a tuple of dims") from None
    holes = [i for i, d in enumerate(target) if _is_hole(d)]
    if len(holes) > 1:
        raise ShapeError(f"reshape target {_fmt(target)} has more than one -1")
    known = [check_dim(d, "reshape dim") for i, d in enumerate(target) if i not in holes]
    if holes:
        have, rest = numel(x.shape), numel(known)
        q = _divide(have, rest)
        if q is None:
            raise ShapeError(
                f"cannot infer the -1 in {_fmt(target)} from {x.shape}: {have} elements are "
                f"not a whole multiple of {rest} for every binding; write that dim out"
            )
        known.insert(holes[0], q)
    return {"shape": tuple(known)}


def _divide(a, b):
    """a / b as a dim when exact for every binding, else None."""
    if isinstance(a, Dim):
        return a.divide_exact(b)
    if isinstance(b, Dim):
        return None if a else 0
    return a // b if b and a % b == 0 else None  # 0 / 0 is ambiguous: numpy refuses too


def _reshape_requires(node, operands):
    """The element counts, when they are equal only for some bindings."""
    x = operands[0]
    return equal_dims(numel(node.shape), numel(x.shape),
                      f"reshape {x.shape} -> {node.shape} needs {numel(node.shape)} == "
                      f"{numel(x.shape)}")


def _reshape_infer(nodes, attrs):
    x, out = nodes[0], Shape(attrs["shape"])
    have, want = numel(x.shape), numel(out)
    if have != want and not (isinstance(have, Dim) and isinstance(want, Dim)
                             and have.symbols != want.symbols):
        # counts over the same symbols are equal only as the same expression (4*B and 5*B
        # never match; 12 and 4*B only at one B); over different ones (N vs B*T) they are
        # checked when the symbols are bound
        raise ShapeError(f"cannot reshape {x.shape} ({have} elements) to {out} ({want} "
                         "elements)")
    return out, x.dtype


register(OpDef(
    name="reshape", kind="shape", infer=_reshape_infer,
    compute=lambda args, attrs, shape: np.reshape(args[0], shape),
    emit=lambda args, attrs, ctx: f"xp.reshape({args[0]}, {ctx.shape})",
    vjp=lambda g, out, x, at, need: [reshape(g, x[0].shape)],
    normalize=_normalize_reshape, view=True, doc=reshape.__doc__, attrs=("shape",),
    requires=_reshape_requires,
    returns_view=_contiguous_only, same_values=True, axis_source=_written,
))


# --------------------------------------------------------------------------- broadcast_to


def broadcast_to(x: Any, shape: Any) -> Tensor:
    """numpy broadcast_to: x stretched (a view) to ``shape``; its gradient sums back."""
    return apply("broadcast_to", [x], shape=shape)


def _broadcast_to_infer(nodes, attrs):
    x, target = nodes[0], Shape(attrs["shape"])
    if x.ndim > len(target):
        raise ShapeError(f"cannot broadcast {x.shape} to the lower-rank {target}")
    got = broadcast_shapes(x.shape, target)
    if not same_shape(got, target):
        raise ShapeError(f"cannot broadcast {x.shape} to {target}: the result would be {got}")
    return target, x.dtype


register(OpDef(
    name="broadcast_to", kind="shape", infer=_broadcast_to_infer,
    compute=lambda args, attrs, shape: np.broadcast_to(args[0], shape),
    emit=lambda args, attrs, ctx: f"xp.broadcast_to({args[0]}, {ctx.shape})",
    # the gradient in the output's shape; the autodiff driver sums it back to x's shape
    vjp=lambda g, out, x, at, need: [g],
    normalize=lambda nodes, attrs: {"shape": tuple(Shape(attrs["shape"]))},
    view=True, doc=broadcast_to.__doc__, attrs=("shape",),
    returns_view=_always, same_values=True, axis_source=_written,
))


# ------------------------------------------------------------------------------- swapaxes


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """Swap two axes (``gc.swapaxes(t, -1, -2)`` is a batch of matrix transposes)."""
    return apply("swapaxes", [x], axis1=axis1, axis2=axis2)


def _normalize_swapaxes(nodes, attrs):
    n = nodes[0].ndim
    return {"axis1": normalize_axis(attrs["axis1"], n, "axis1"),
            "axis2": normalize_axis(attrs["axis2"], n, "axis2")}


def _swapaxes_infer(nodes, attrs):
    x = nodes[0]
    a1 = normalize_axis(attrs["axis1"], x.ndim, "axis1")
    a2 = normalize_axis(attrs["axis2"], x.ndim, "axis2")
    dims = list(x.shape)
    dims[a1], dims[a2] = dims[a2], dims[a1]
    return Shape(dims), x.dtype


def _swap_perm(node) -> list[int]:
    perm = list(range(node.ndim))
    a1, a2 = node.attr["axis1"], node.attr["axis2"]
    perm[a1], perm[a2] = perm[a2], perm[a1]
    return perm


register(OpDef(
    name="swapaxes", kind="shape", infer=_swapaxes_infer,
    compute=lambda args, attrs, shape: np.swapaxes(args[0], attrs["axis1"], attrs["axis2"]),
    emit=lambda args, attrs, ctx: f"xp.swapaxes({args[0]}, {attrs['axis1']}, {attrs['axis2']})",
    vjp=lambda g, out, x, at, need: [swapaxes(g, at["axis1"], at["axis2"])],
    normalize=_normalize_swapaxes, view=True, doc=swapaxes.__doc__, attrs=("axis1", "axis2"),
    returns_view=_always, same_values=True, axis_source=_permuted(_swap_perm),
    kernels=(_SWAP_T,),
))


# ------------------------------------------------------------------------------ transpose


def transpose(x: Any, axes: Any = None) -> Tensor:
    """Permute axes (numpy's default reverses them all)."""
    return apply("transpose", [x], axes=axes)


def _normalize_transpose(nodes, attrs):
    n, axes = nodes[0].ndim, attrs.get("axes")
    if axes is None:
        return {"axes": tuple(reversed(range(n)))}
    if not isinstance(axes, (tuple, list)):
        raise ShapeError(f"axes {axes!r} is not a tuple of axes")
    return {"axes": tuple(normalize_axis(a, n) for a in axes)}


def _transpose_infer(nodes, attrs):
    x, perm = nodes[0], tuple(attrs["axes"])
    if sorted(normalize_axis(a, x.ndim) for a in perm) != list(range(x.ndim)):
        raise ShapeError(f"axes {perm} are not a permutation of the {x.ndim} axes")
    return Shape(x.shape[a] for a in perm), x.dtype


register(OpDef(
    name="transpose", kind="shape", infer=_transpose_infer,
    compute=lambda args, attrs, shape: np.transpose(args[0], attrs["axes"]),
    emit=lambda args, attrs, ctx: f"xp.transpose({args[0]}, {attrs['axes']!r})",
    vjp=lambda g, out, x, at, need: [transpose(g, tuple(np.argsort(at["axes"]).tolist()))],
    normalize=_normalize_transpose, view=True, doc=transpose.__doc__, attrs=("axes",),
    returns_view=_always, same_values=True,
    axis_source=_permuted(lambda n: n.attr["axes"]), kernels=(_TRANSPOSE_T,),
))


# ---------------------------------------------------------------------------- expand_dims


def expand_dims(x: Any, axis: Any) -> Tensor:
    """Insert size-1 axes at ``axis`` (positions in the result, as in numpy)."""
    return apply("expand_dims", [x], axis=axis)


def _normalize_expand_dims(nodes, attrs):
    axis = attrs["axis"]
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    return {"axis": normalize_axes(axes, nodes[0].ndim + len(axes))}


def _expand_dims_infer(nodes, attrs):
    x, axes = nodes[0], tuple(attrs["axis"])
    axes = normalize_axes(axes, x.ndim + len(axes))
    dims = iter(x.shape)
    return Shape(1 if i in axes else next(dims) for i in range(x.ndim + len(axes))), x.dtype


def _expand_dims_axis_source(node, src, axis):
    """A new axis was written out; the others are x's."""
    axes = tuple(node.attr["axis"])
    return True if axis in axes else [(0, axis - sum(a < axis for a in axes))]


register(OpDef(
    name="expand_dims", kind="shape", infer=_expand_dims_infer,
    compute=lambda args, attrs, shape: np.expand_dims(args[0], attrs["axis"]),
    emit=lambda args, attrs, ctx: f"xp.expand_dims({args[0]}, {attrs['axis']!r})",
    vjp=lambda g, out, x, at, need: [squeeze(g, at["axis"])],
    normalize=_normalize_expand_dims, view=True, doc=expand_dims.__doc__, attrs=("axis",),
    returns_view=_always, same_values=True, axis_source=_expand_dims_axis_source,
))


# -------------------------------------------------------------------------------- squeeze


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """Remove size-1 axes (None: every axis statically known to be 1)."""
    return apply("squeeze", [x], axis=axis)


def _normalize_squeeze(nodes, attrs):
    x, axis = nodes[0], attrs.get("axis")
    if axis is None:
        return {"axis": tuple(i for i, d in enumerate(x.shape) if definitely_equal(d, 1))}
    return {"axis": normalize_axes(axis, x.ndim)}


def _squeeze_infer(nodes, attrs):
    x = nodes[0]
    axes = normalize_axes(tuple(attrs["axis"]), x.ndim)
    for a in axes:
        if not definitely_equal(x.shape[a], 1):
            why = " (a symbolic dim is not known to be 1)" if is_symbolic(x.shape[a]) else ""
            raise ShapeError(f"cannot squeeze axis {a} of {x.shape}: its size is "
                             f"{x.shape[a]}, not 1{why}")
    return Shape(d for i, d in enumerate(x.shape) if i not in axes), x.dtype


def _squeeze_axis_source(node, src, axis):
    kept = [i for i in range(src[0].ndim) if i not in tuple(node.attr["axis"])]
    return [(0, kept[axis])]


register(OpDef(
    name="squeeze", kind="shape", infer=_squeeze_infer,
    compute=lambda args, attrs, shape: np.squeeze(args[0], attrs["axis"]),
    emit=lambda args, attrs, ctx: f"xp.squeeze({args[0]}, {attrs['axis']!r})",
    vjp=lambda g, out, x, at, need: [expand_dims(g, at["axis"])],
    normalize=_normalize_squeeze, view=True, doc=squeeze.__doc__, attrs=("axis",),
    returns_view=_always, same_values=True, axis_source=_squeeze_axis_source,
))


# ---------------------------------------------------------------------------- concatenate


def concatenate(tensors: Any, axis: int = 0) -> Tensor:
    """Join tensors along ``axis``; other dims must match exactly."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)) or not tensors:
        raise TypeError("concatenate takes a non-empty list of tensors")
    return apply("concatenate", list(tensors), axis=axis)


def _concatenate_infer(nodes, attrs):
    first = nodes[0]
    if first.ndim == 0:
        raise ShapeError("cannot concatenate 0-d tensors")
    axis = normalize_axis(attrs["axis"], first.ndim)
    for n in nodes:
        if n.ndim != first.ndim:
            raise ShapeError(f"all operands need rank {first.ndim}; one has shape {n.shape}")
    total: Any = 0
    for n in nodes:
        for i, (a, b) in enumerate(zip(n.shape, first.shape)):
            if i != axis and not definitely_equal(a, b):
                raise ShapeError(f"axis {i} differs: {n.shape} vs {first.shape}")
        total = total + n.shape[axis]  # T + S when symbolic
    dims = list(first.shape)
    dims[axis] = total
    return Shape(dims), np.result_type(*[n.dtype for n in nodes])


def _concatenate_vjp(g, out, x, at, need):
    from graphc.ops.indexing import getitem

    axis, start, grads = at["axis"], 0, []
    for t, nd in zip(x, need):
        size = t.shape[axis]
        if nd:  # positions may be dims: g[:, T:T + S]
            grads.append(g if len(x) == 1 else
                         getitem(g, (slice(None),) * axis + (slice(start, start + size),)))
        else:
            grads.append(None)
        start = start + size
    return grads


register(OpDef(
    name="concatenate", kind="shape", infer=_concatenate_infer,
    compute=lambda args, attrs, shape: np.concatenate(args, axis=attrs["axis"]),
    emit=lambda args, attrs, ctx: f"xp.concatenate(({', '.join(args)},), axis={attrs['axis']})",
    vjp=_concatenate_vjp, doc=concatenate.__doc__, attrs=("axis",), arity=None,
    normalize=lambda nodes, attrs: {"axis": normalize_axis(attrs["axis"], max(nodes[0].ndim, 1))},
))

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "broadcast_to", "concatenate", "expand_dims", "reshape", "squeeze", "swapaxes",
    "transpose",
]
