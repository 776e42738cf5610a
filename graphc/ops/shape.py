"""Shape ops: reshape, broadcast_to, swapaxes, transpose, expand_dims, squeeze, concatenate,
pad, tile, repeat, stack, split (the parts of gc.split and gc.array_split), flip, roll; and
builders made of them: moveaxis (a transpose), ravel and flatten (a reshape).

All but concatenate, pad, tile, repeat, stack and roll lower to numpy views, so they cost
nothing at run time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import (
    Dim,
    Shape,
    at_least,
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
from graphc.ir.graph import build_error
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops._common import apply, wrap

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


def _rank_of_first(nodes) -> int:
    if not nodes:
        raise TypeError("concatenate takes at least one operand")
    return max(nodes[0].ndim, 1)


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
    normalize=lambda nodes, attrs: {"axis": normalize_axis(attrs["axis"], _rank_of_first(nodes))},
))


# -------------------------------------------------------------------- shared by pad, tile, repeat


def _count(v: Any, what: str) -> int:
    """A pad width, tile rep or repeat count: an int >= 0 (numpy ints too; not a bool, a
    float, a string or a dim)."""
    if isinstance(v, (bool, np.bool_, str, Dim)) or not hasattr(v, "__index__"):
        raise TypeError(f"{what} {v!r} ({type(v).__name__}) is not an int")
    n = int(v.__index__())
    if n < 0:
        raise ShapeError(f"{what} {n} is negative; it must be an int >= 0")
    return n


def _ints_code(values: Any) -> str:
    """A (nested) tuple of ints as source text; only ``int(...)`` reaches the code."""
    if isinstance(values, tuple):
        inner = ", ".join(_ints_code(v) for v in values)
        return f"({inner},)" if len(values) == 1 else f"({inner})"
    return str(int(values))


# ------------------------------------------------------------------------------------ pad

#: the modes of np.pad that gc.pad supports, spelled as generated code
_PAD_MODES = {"constant": "'constant'", "edge": "'edge'", "reflect": "'reflect'"}


def pad(x: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Tensor:
    """np.pad: ``pad_width`` in numpy's forms (``n``, ``(before, after)``, one pair per axis
    ``((b0, a0), (b1, a1))``), ints >= 0. A padded axis ``d`` becomes ``d + before + after``
    (``T + 3`` on a symbolic axis).

    Modes: ``"constant"`` (``constant_values``, one scalar), ``"edge"`` (repeats the first
    and last entries: a padded axis needs ``d >= 1``) and ``"reflect"`` (numpy's reflection
    without repeating the edge: a padded axis needs ``d >= before + 1`` and ``d >= after +
    1``; numpy's repeated reflection for wider pads is not supported). On a symbolic axis
    these needs are checked when the symbols are bound."""
    return apply("pad", [x], pad_width=pad_width, mode=mode, constant_values=constant_values)


def _pad_pair(item: Any, what: str) -> tuple[int, int]:
    if isinstance(item, np.ndarray):
        item = item.tolist()
    if not isinstance(item, (tuple, list)):
        n = _count(item, what)
        return (n, n)
    widths = [_count(v, what) for v in item]
    if len(widths) == 1:
        return (widths[0], widths[0])
    if len(widths) != 2:
        raise ShapeError(f"{what} {tuple(item)!r} is not a (before, after) pair")
    return (widths[0], widths[1])


def _pad_widths(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """numpy's forms of ``pad_width`` as one (before, after) pair per axis."""
    pw = pad_width.tolist() if isinstance(pad_width, np.ndarray) else pad_width
    if not isinstance(pw, (tuple, list)):
        pairs = [_pad_pair(pw, "pad width")]
    elif not pw:
        if ndim:
            raise ShapeError(f"pad width () gives no widths for the {ndim} axes")
        return ()
    elif all(isinstance(v, (tuple, list, np.ndarray)) for v in pw):
        pairs = [_pad_pair(v, "pad width") for v in pw]
    elif any(isinstance(v, (tuple, list, np.ndarray)) for v in pw):
        raise TypeError(f"pad width {pad_width!r} mixes ints and pairs; give an int, a "
                        "(before, after) pair, or one pair per axis")
    else:
        pairs = [_pad_pair(pw, "pad width")]
    if len(pairs) == 1:
        return tuple(pairs) * ndim
    if len(pairs) != ndim:
        raise ShapeError(f"pad width {pad_width!r} has {len(pairs)} pairs for a tensor of "
                         f"rank {ndim}")
    return tuple(pairs)


def _pad_value(v: Any, dtype: np.dtype) -> Any:
    """``constant_values`` as the python scalar of the tensor's kind (float, int or bool),
    refused when that kind cannot hold it exactly (NaN and infinities pad a float tensor)."""
    if isinstance(v, np.ndarray) and v.ndim == 0:
        v = v.item()
    if isinstance(v, (bool, np.bool_)):
        v = bool(v)
    elif hasattr(v, "__index__") and not isinstance(v, (str, Dim)):
        v = int(v.__index__())
    elif isinstance(v, (float, np.floating)):
        v = float(v)
    else:
        raise TypeError(f"constant_values {v!r} ({type(v).__name__}) is not one number (per-"
                        "axis values are not supported)")
    if dtype.kind == "f":
        return float(v)
    if dtype.kind == "b":
        if v not in (0, 1):
            raise TypeError(f"constant_values {v!r} is not a bool, the tensor's dtype")
        return bool(v)
    if isinstance(v, float) and not v.is_integer():  # NaN and infinities too
        raise TypeError(f"constant_values {v!r} is not an int, as the tensor's dtype {dtype} "
                        "needs")
    info = np.iinfo(dtype)
    if not info.min <= int(v) <= info.max:
        raise TypeError(f"constant_values {v!r} does not fit the tensor's dtype {dtype}")
    return int(v)


def _normalize_pad(nodes, attrs):
    x = nodes[0]
    mode = attrs.get("mode", "constant")
    if not isinstance(mode, str):
        raise TypeError(f"mode {mode!r} is not a string")
    if mode not in _PAD_MODES:
        raise ValueError(f"mode {mode!r} is not supported; use one of {list(_PAD_MODES)}")
    value = _pad_value(attrs.get("constant_values", 0), x.dtype)
    if mode != "constant" and value != 0:
        raise TypeError(f"constant_values is only for mode 'constant', not {mode!r}")
    return {"pad_width": _pad_widths(attrs["pad_width"], x.ndim), "mode": mode,
            "constant_values": value}


def _pad_needs(before: int, after: int, mode: str) -> int:
    """The least size of a padded axis that ``mode`` can pad (0: any size)."""
    if mode == "constant" or before == after == 0:
        return 0
    return 1 if mode == "edge" else max(before, after) + 1


def _pad_why(x_shape, axis, before, after, mode, least) -> str:
    d = x_shape[axis]
    return (f"pad mode {mode!r} of ({before}, {after}) on axis {axis} of {x_shape} needs "
            f"{d} >= {least}")


def _pad_infer(nodes, attrs):
    x, widths, mode = nodes[0], tuple(attrs["pad_width"]), attrs["mode"]
    if len(widths) != x.ndim:
        raise ShapeError(f"pad width has {len(widths)} pairs for a tensor of rank {x.ndim}")
    dims = []
    for axis, (d, (b, a)) in enumerate(zip(x.shape, widths)):
        least = _pad_needs(b, a, mode)
        if not is_symbolic(d) and d < least:
            why = _pad_why(x.shape, axis, b, a, mode, least)
            if mode == "reflect" and d:
                why += " (reflecting more than once, as numpy does, is not supported)"
            raise ShapeError(why)
        dims.append(d + b + a)
    return Shape(dims), x.dtype


def _pad_requires(node, operands):
    x, mode = operands[0], node.attr["mode"]
    needs: list = []
    for axis, (d, (b, a)) in enumerate(zip(x.shape, node.attr["pad_width"])):
        least = _pad_needs(b, a, mode)
        if is_symbolic(d) and least:
            needs += at_least(d, least, _pad_why(x.shape, axis, b, a, mode, least))
    return needs


def _pad_args(attrs: dict) -> dict:
    mode = attrs["mode"]
    return {"mode": mode, **({"constant_values": attrs["constant_values"]}
                             if mode == "constant" else {})}


def _scalar_code(v: Any) -> str:
    """A bool, int or float as source text (``xp.nan``, ``xp.inf`` for the non-finite)."""
    if isinstance(v, bool):
        return repr(bool(v))
    if isinstance(v, int):
        return str(int(v))
    f = float(v)
    if f != f:
        return "xp.nan"
    if f in (float("inf"), float("-inf")):
        return "xp.inf" if f > 0 else "-xp.inf"
    return repr(f)


def _pad_emit(args, attrs, ctx):
    widths = tuple(attrs["pad_width"])
    code = _ints_code(widths) if widths else "0"
    mode = attrs["mode"]
    text = f"xp.pad({args[0]}, {code}, mode={_PAD_MODES[mode]}"
    if mode == "constant":
        text += f", constant_values={_scalar_code(attrs['constant_values'])}"
    return text + ")"


def _scatter(v: Tensor, index: tuple, shape: Shape) -> Tensor:
    """Zeros of ``shape`` with ``v`` written at ``index`` (the adjoint of ``x[index]``)."""
    return v.graph.apply("getitem_grad", [v], {"index": index, "shape": tuple(shape)})


def _unpad_axis(g: Tensor, axis: int, before: int, after: int, d: Any, mode: str) -> Tensor:
    """The adjoint of padding one axis of size ``d``: ``g``'s padded axis folded back."""
    from graphc.ops.indexing import getitem
    from graphc.ops.reduction import sum as reduce_sum

    pre = (slice(None),) * axis
    mid = getitem(g, pre + (slice(before, before + d),))  # the operand's own entries
    if mode == "constant":
        return mid
    shape = mid.shape
    parts = [mid]
    if mode == "edge":  # every padded entry copies the first (last) one
        if before:
            head = reduce_sum(getitem(g, pre + (slice(0, before),)), axis=axis)
            parts.append(_scatter(head, pre + (0,), shape))
        if after:
            tail = reduce_sum(getitem(g, pre + (slice(-after, None),)), axis=axis)
            parts.append(_scatter(tail, pre + (-1,), shape))
    else:  # reflect: out[j] = x[before - j] for j < before; x[d - 2 - j] after x
        if before:
            head = getitem(g, pre + (slice(before - 1, None, -1),))  # x[1], ..., x[before]
            parts.append(_scatter(head, pre + (slice(1, before + 1),), shape))
        if after:
            tail = getitem(g, pre + (slice(-1, -after - 1, -1),))  # x[d-1-after], ..., x[d-2]
            parts.append(_scatter(tail, pre + (slice(-after - 1, -1),), shape))
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total


def _pad_vjp(g, out, x, at, need):
    for axis, (b, a) in enumerate(at["pad_width"]):
        if b or a:
            g = _unpad_axis(g, axis, b, a, x[0].shape[axis], at["mode"])
    return [g]


register(OpDef(
    name="pad", kind="shape", infer=_pad_infer,
    compute=lambda args, attrs, shape: np.pad(args[0], tuple(attrs["pad_width"]) or 0,
                                              **_pad_args(attrs)),
    emit=_pad_emit, vjp=_pad_vjp, normalize=_normalize_pad, requires=_pad_requires,
    doc=pad.__doc__, attrs=("pad_width", "mode", "constant_values"),
    axis_source=lambda node, src, axis: (
        [(0, axis)] if tuple(node.attr["pad_width"][axis]) == (0, 0) else True),
))


# ----------------------------------------------------------------------------------- tile


def tile(x: Any, reps: Any) -> Tensor:
    """np.tile: ``x`` repeated ``reps`` times along each axis (ints >= 0). As in numpy, a
    shorter ``reps`` is padded with leading 1s and a lower-rank ``x`` gains leading size-1
    axes. An axis ``d`` becomes ``r*d`` (``2*T`` on a symbolic axis)."""
    return apply("tile", [x], reps=reps)


def _normalize_tile(nodes, attrs):
    reps = attrs["reps"]
    if isinstance(reps, np.ndarray):
        reps = reps.tolist()
    items = list(reps) if isinstance(reps, (tuple, list)) else [reps]
    counts = tuple(_count(r, "reps entry") for r in items)
    return {"reps": (1,) * (nodes[0].ndim - len(counts)) + counts}


def _tile_dims(x_shape, reps) -> tuple:
    """x's dims with the leading size-1 axes numpy adds to match ``reps``."""
    return (1,) * (len(reps) - len(x_shape)) + tuple(x_shape)


def _tile_infer(nodes, attrs):
    x, reps = nodes[0], tuple(attrs["reps"])
    if len(reps) < x.ndim:
        raise ShapeError(f"reps {reps} has fewer entries than the rank {x.ndim}")
    return Shape(r * d for r, d in zip(reps, _tile_dims(x.shape, reps))), x.dtype


def _tile_vjp(g, out, x, at, need):
    from graphc.ops.reduction import sum as reduce_sum

    reps, x0 = tuple(at["reps"]), x[0]
    split, axes = [], []
    for r, d in zip(reps, _tile_dims(x0.shape, reps)):
        if r != 1:  # r*d as (r, d): the copies, then the entries
            axes.append(len(split))
            split.append(r)
        split.append(d)
    if axes:
        g = reduce_sum(reshape(g, tuple(split)), axis=tuple(axes))
    if not same_shape(g.shape, x0.shape):  # the leading axes numpy added
        g = reshape(g, tuple(x0.shape))
    return [g]


def _tile_axis_source(node, src, axis):
    added = len(node.attr["reps"]) - src[0].ndim
    return True if axis < added else [(0, axis - added)]


register(OpDef(
    name="tile", kind="shape", infer=_tile_infer,
    compute=lambda args, attrs, shape: np.tile(args[0], tuple(attrs["reps"])),
    emit=lambda args, attrs, ctx: f"xp.tile({args[0]}, {_ints_code(tuple(attrs['reps']))})",
    vjp=_tile_vjp, normalize=_normalize_tile, doc=tile.__doc__, attrs=("reps",),
    axis_source=_tile_axis_source,
))


# --------------------------------------------------------------------------------- repeat


def repeat(x: Any, repeats: Any, axis: Any = None) -> Tensor:
    """np.repeat with one int ``repeats`` >= 0: each entry ``repeats`` times in a row along
    ``axis`` (None: of the flattened tensor). An axis ``d`` becomes ``repeats*d`` (``None``:
    the result is 1-D of ``repeats*numel``). Per-entry repeats (a list or array) are refused
    with a TypeError."""
    return apply("repeat", [x], repeats=repeats, axis=axis)


def _normalize_repeat(nodes, attrs):
    r = attrs["repeats"]
    if isinstance(r, np.ndarray) and r.ndim == 0:
        r = r[()]
    if isinstance(r, (tuple, list, np.ndarray, Tensor)):
        raise TypeError(f"repeats must be one int >= 0; per-entry repeats ({type(r).__name__})"
                        " are not supported")
    axis = attrs.get("axis")
    return {"repeats": _count(r, "repeats"),
            "axis": None if axis is None else normalize_axis(axis, nodes[0].ndim)}


def _repeat_infer(nodes, attrs):
    x, r, axis = nodes[0], attrs["repeats"], attrs["axis"]
    if axis is None:
        return Shape((r * numel(x.shape),)), x.dtype
    axis = normalize_axis(axis, x.ndim)
    return Shape(r * d if i == axis else d for i, d in enumerate(x.shape)), x.dtype


def _repeat_vjp(g, out, x, at, need):
    from graphc.ops.reduction import sum as reduce_sum

    r, axis, x0 = at["repeats"], at["axis"], x[0]
    dims = (numel(x0.shape),) if axis is None else tuple(x0.shape)
    a = 0 if axis is None else axis
    if r != 1:  # r*d as (d, r): each entry, then its copies
        g = reduce_sum(reshape(g, dims[:a + 1] + (r,) + dims[a + 1:]), axis=a + 1)
    if not same_shape(g.shape, x0.shape):
        g = reshape(g, tuple(x0.shape))
    return [g]


def _repeat_emit(args, attrs, ctx):
    axis = attrs["axis"]
    axis_code = "None" if axis is None else str(int(axis))
    return f"xp.repeat({args[0]}, {int(attrs['repeats'])}, axis={axis_code})"


register(OpDef(
    name="repeat", kind="shape", infer=_repeat_infer,
    compute=lambda args, attrs, shape: np.repeat(args[0], attrs["repeats"], axis=attrs["axis"]),
    emit=_repeat_emit, vjp=_repeat_vjp, normalize=_normalize_repeat, doc=repeat.__doc__,
    attrs=("repeats", "axis"),
    # the flattened result is written out (as reshape's); otherwise axis by axis
    axis_source=lambda node, src, axis: True if node.attr["axis"] is None else [(0, axis)],
))

# ------------------------------------------------------------------------------------ stack


def stack(tensors: Any, axis: int = 0) -> Tensor:
    """np.stack: tensors of one shape joined along a new axis ``axis`` (a position in the
    result: ``0`` first, ``-1`` last). The shapes must be the same dims (``(B, T)`` and
    ``(B, T)``, not ``(B, T)`` and ``(B, S)``); the dtype is numpy's result type of the
    operands. Lowers to ``xp.stack(...)`` (with ``out=`` into a planned buffer); the gradient
    of operand ``k`` is its slice of the result's gradient, ``g[:, k]`` for ``axis=1`` (a
    view)."""
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)) or not tensors:
        raise build_error(TypeError("stack takes a non-empty list of tensors, e.g. "
                                    "gc.stack([a, b], axis=1)"), "stack", [])
    return apply("stack", list(tensors), axis=axis)


def _normalize_stack(nodes, attrs):
    if not nodes:
        raise TypeError("stack takes at least one operand")
    return {"axis": normalize_axis(attrs["axis"], nodes[0].ndim + 1)}


def _stack_infer(nodes, attrs):
    first = nodes[0]
    for k, n in enumerate(nodes):
        if not same_shape(n.shape, first.shape):
            why = (" (symbolic dims must be the same expression)"
                   if len(n.shape) == len(first.shape) and (_has_symbols(n.shape)
                                                            or _has_symbols(first.shape))
                   else "")
            raise ShapeError(f"stack needs operands of one shape: operand {k} has shape "
                             f"{n.shape}, operand 0 has {first.shape}{why}")
    axis = normalize_axis(attrs["axis"], first.ndim + 1)
    dims = list(first.shape)
    dims.insert(axis, len(nodes))
    return Shape(dims), np.result_type(*[n.dtype for n in nodes])


def _has_symbols(shape) -> bool:
    return any(is_symbolic(d) for d in shape)


def _stack_emit(args, attrs, ctx):
    out = f", out={ctx.out}" if ctx.out is not None else ""
    return f"xp.stack(({', '.join(args)},), axis={int(attrs['axis'])}{out})"


def _stack_vjp(g, out, x, at, need):
    from graphc.ops.indexing import getitem

    pre = (slice(None),) * at["axis"]
    return [getitem(g, pre + (k,)) if nd else None for k, nd in enumerate(need)]


def _stack_axis_source(node, src, axis):
    """The new axis was written out; any other comes from every operand."""
    new = node.attr["axis"]
    if axis == new:
        return True
    return [(k, axis - (axis > new)) for k in range(len(src))]


register(OpDef(
    name="stack", kind="shape", infer=_stack_infer,
    compute=lambda args, attrs, shape: np.stack(args, axis=attrs["axis"]),
    emit=_stack_emit, vjp=_stack_vjp, normalize=_normalize_stack, out=True, arity=None,
    doc=stack.__doc__, attrs=("axis",), axis_source=_stack_axis_source,
))


# ------------------------------------------------------------------- split, array_split


def split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """np.split: a list of parts of ``x`` along ``axis``, each a view of ``x``.

    ``indices_or_sections`` an int ``n``: ``n`` equal parts, which needs the axis size
    divisible by ``n``: a ShapeError now for an int size; on a symbolic axis ``T`` each part
    has ``T//n`` entries and ``T % n == 0`` is checked when the symbols are bound. A list of
    positions (ints, negative ones counted from the end, or dims such as ``T - 1`` counted
    from the start): the parts between them, numpy's ``x[:i0], x[i0:i1], ..., x[ik:]``. On
    a symbolic axis each position must lie within the axis and the positions must not
    decrease (checked when the symbols are bound, where numpy would give empty parts).

    The gradient of ``x`` is each used part's gradient written back at its place, zeros
    where a part is not used."""
    return _split(x, indices_or_sections, axis, True, "split")


def array_split(x: Any, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """np.array_split: as ``gc.split``, but ``n`` sections need not divide the axis: the
    first ``d % n`` parts have one entry more (numpy's rule). On a symbolic axis ``T`` part
    ``k`` has ``(T + n - 1 - k)//n`` entries (``(T + 2)//3, (T + 1)//3, T//3`` for 3 parts),
    exactly numpy's sizes for every ``T``, so any size binds. A list of positions splits as
    ``gc.split`` does."""
    return _split(x, indices_or_sections, axis, False, "array_split")


def _sections(v: Any) -> int | list:
    """``indices_or_sections`` as an int ``n >= 1`` or a list of positions (ints, dims)."""
    if isinstance(v, np.ndarray):
        if v.ndim > 1:
            raise TypeError(f"split positions must be a 1-D list, got an array of shape "
                            f"{v.shape}")
        v = v.item() if v.ndim == 0 else v.tolist()
    if isinstance(v, (list, tuple)):
        out: list = []
        for p in v:
            if isinstance(p, Dim):
                out.append(p)
            elif isinstance(p, (bool, np.bool_, str)) or not hasattr(p, "__index__"):
                raise TypeError(f"split position {p!r} ({type(p).__name__}) is not an int "
                                "or a dim")
            else:
                out.append(int(p.__index__()))
        return out
    if isinstance(v, Dim):
        raise TypeError(f"the number of sections {v} is a dim; give an int number of "
                        f"sections, or a list of positions ([{v}]) to split there")
    if isinstance(v, (bool, np.bool_, str)) or not hasattr(v, "__index__"):
        raise TypeError(f"indices_or_sections {v!r} ({type(v).__name__}) is neither an int "
                        "number of sections nor a list of positions")
    n = int(v.__index__())
    if n < 1:
        raise ShapeError(f"cannot split into {n} sections: the number of sections must be "
                         ">= 1")
    return n


def _split(x: Any, ios: Any, axis: Any, equal: bool, name: str) -> list[Tensor]:
    from graphc.ops.indexing import getitem

    (t,) = wrap([x], name)
    try:
        a = normalize_axis(axis, t.ndim)
        spec = _sections(ios)
    except (ShapeError, TypeError, ValueError) as e:
        raise build_error(e, name, [t]) from None
    if isinstance(spec, int):
        return [apply("split", [t], axis=a, sections=spec, index=k, equal=equal)
                for k in range(spec)]
    pre = (slice(None),) * a
    bounds = [None, *spec, None]
    return [getitem(t, pre + (slice(lo, hi),)) for lo, hi in zip(bounds, bounds[1:])]


def _split_part(d: Any, n: int, k: int, equal: bool) -> tuple[Any, Any]:
    """(start, size) of part ``k`` of ``n`` along an axis of size ``d``: ``d//n`` each for
    split; for array_split ``(d + n - 1 - k)//n``, which is numpy's ``d//n + (k < d % n)``
    written as one expression (the number of ``i < d`` with ``i % n == k``)."""
    if equal:
        m = d // n
        return k * m, m
    start: Any = 0
    for j in range(k):
        start = start + (d + n - 1 - j) // n
    return start, (d + n - 1 - k) // n


def _normalize_split(nodes, attrs):
    equal = attrs["equal"]
    if not isinstance(equal, bool):
        raise TypeError(f"equal {equal!r} is not a bool")
    n = _count(attrs["sections"], "sections")
    if n < 1:
        raise ShapeError("the number of sections must be >= 1")
    k = _count(attrs["index"], "part index")
    if k >= n:
        raise ShapeError(f"part index {k} is out of range for {n} sections")
    return {"axis": normalize_axis(attrs["axis"], nodes[0].ndim), "sections": n, "index": k,
            "equal": equal}


def _split_why(shape, axis: int, n: int) -> str:
    d = shape[axis]
    text = str(d) if not is_symbolic(d) or d.name else f"({d})"
    return (f"split of axis {axis} of {shape} into {n} equal sections needs {text} % {n} "
            "== 0")


def _split_infer(nodes, attrs):
    x = nodes[0]
    axis, n, k = normalize_axis(attrs["axis"], x.ndim), attrs["sections"], attrs["index"]
    d = x.shape[axis]
    if attrs["equal"] and not is_symbolic(d % n) and d % n != 0:
        never = " (for no size)" if is_symbolic(d) else ""
        raise ShapeError(f"{_split_why(x.shape, axis, n)}{never}; gc.array_split allows "
                         "unequal parts")
    try:
        _, size = _split_part(d, n, k, attrs["equal"])
    except ShapeError as e:  # too many parts of a symbolic axis for one expression each
        raise ShapeError(f"array_split of the symbolic axis {d} into {n} parts: {e}; use "
                         "fewer parts") from None
    dims = list(x.shape)
    dims[axis] = size
    return Shape(dims), x.dtype


def _split_requires(node, operands):
    """T % n == 0 for equal sections of a symbolic axis."""
    x, at = operands[0], node.attr
    d = x.shape[at["axis"]]
    if not at["equal"] or not is_symbolic(d):
        return []
    return equal_dims(d % at["sections"], 0, _split_why(x.shape, at["axis"], at["sections"]))


def _split_emit(args, attrs, ctx):
    from graphc.ops.indexing import index_code

    axis, n, k = attrs["axis"], attrs["sections"], attrs["index"]
    start, size = _split_part(ctx.inputs[0].shape[axis], n, k, attrs["equal"])
    lo = None if definitely_equal(start, 0) else start
    hi = None if k == n - 1 else start + size  # the parts end at the axis' end
    index = (("slice", None, None, None),) * axis + (("slice", lo, hi, None),)
    return f"{args[0]}[{index_code(index, ctx.dim)}]"


def _split_vjp(g, out, x, at, need):
    axis, x0 = at["axis"], x[0]
    start, size = _split_part(x0.shape[axis], at["sections"], at["index"], at["equal"])
    return [_scatter(g, (slice(None),) * axis + (slice(start, start + size),), x0.shape)]


register(OpDef(
    name="split", kind="shape", infer=_split_infer,
    compute=lambda args, attrs, shape: (np.split if attrs["equal"] else np.array_split)(
        args[0], attrs["sections"], axis=attrs["axis"])[attrs["index"]],
    emit=_split_emit, vjp=_split_vjp, normalize=_normalize_split, requires=_split_requires,
    view=True, returns_view=_always,
    doc="Part ``index`` of ``sections`` along ``axis`` (np.split when ``equal``, else "
        "np.array_split): one node per part of gc.split / gc.array_split, a view.",
    attrs=("axis", "sections", "index", "equal"),
    axis_source=lambda node, src, axis: True if axis == node.attr["axis"] else [(0, axis)],
))


# ------------------------------------------------------------------------------------- flip


def flip(x: Any, axis: Any = None) -> Tensor:
    """np.flip: the entries along ``axis`` (an int, a tuple of ints, None: every axis) in
    reverse order. A view (``x[:, ::-1]``); its gradient is the gradient flipped back."""
    return apply("flip", [x], axis=axis)


def _flip_emit(args, attrs, ctx):
    axes = tuple(attrs["axis"])
    if not axes:
        return f"{args[0]}[...]"
    items = ["::-1" if a in axes else ":" for a in range(max(axes) + 1)]
    return f"{args[0]}[{', '.join(items)}{',' if len(items) == 1 else ''}]"


def _flip_compute(args, attrs, shape):
    """x[::-1, :, ...]: a view, even of a 0-d array (np.flip(x, ()) gives a 0-d copy, and
    the memory plan makes a view of a buffer once per binding with ``compute``)."""
    x, axes = args[0], tuple(attrs["axis"])
    rev = slice(None, None, -1)
    return x[tuple(rev if a in axes else slice(None) for a in range(x.ndim)) + (Ellipsis,)]


register(OpDef(
    name="flip", kind="shape", infer=lambda nodes, attrs: (nodes[0].shape, nodes[0].dtype),
    compute=_flip_compute,
    emit=_flip_emit, vjp=lambda g, out, x, at, need: [flip(g, at["axis"])],
    normalize=lambda nodes, attrs: {"axis": normalize_axes(attrs.get("axis"), nodes[0].ndim)},
    view=True, returns_view=_always, same_values=True, doc=flip.__doc__, attrs=("axis",),
    axis_source=lambda node, src, axis: [(0, axis)],
))


# ------------------------------------------------------------------------------------- roll


def roll(x: Any, shift: Any, axis: Any = None) -> Tensor:
    """np.roll: the entries shifted by ``shift`` places along ``axis``, those pushed past the
    end coming back at the start. ``shift`` an int (negative: backwards; any size) or a dim
    (``T//2``); ``axis`` an int; or tuples of both, paired as numpy does (the shifts of a
    repeated axis add up). ``axis=None`` rolls the flattened tensor and restores its shape.
    The shape does not change; on a symbolic axis the shift is taken modulo the size at run
    time (``np.roll`` does so). Its gradient rolls back by ``-shift``."""
    return apply("roll", [x], shift=shift, axis=axis)


def _as_list(v: Any) -> list:
    if isinstance(v, np.ndarray):
        v = v.tolist()
    return list(v) if isinstance(v, (tuple, list)) else [v]


def _shift_value(v: Any) -> int | Dim:
    if isinstance(v, Dim):
        return v
    if isinstance(v, (bool, np.bool_, str)) or not hasattr(v, "__index__"):
        raise TypeError(f"shift {v!r} ({type(v).__name__}) is not an int or a dim")
    return int(v.__index__())


def _normalize_roll(nodes, attrs):
    """Canonical: ``axis`` None and one shift, or sorted distinct axes, each with its total
    shift; an int shift on an int axis is reduced modulo the size, and an axis that does
    not move is dropped."""
    x = nodes[0]
    shifts = [_shift_value(s) for s in _as_list(attrs["shift"])]
    axis = attrs.get("axis")
    if axis is None:
        total: Any = sum(shifts, 0)
        n = numel(x.shape)
        if not is_symbolic(total) and not is_symbolic(n):
            total = total % n if n else 0
        return {"shift": total, "axis": None}
    axes = [normalize_axis(a, x.ndim) for a in _as_list(axis)]
    if len(shifts) != len(axes) and 1 not in (len(shifts), len(axes)):
        raise ShapeError(f"{len(shifts)} shifts for {len(axes)} axes: give one shift per "
                         "axis, or one shift for every axis, or one axis for every shift")
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    elif len(axes) == 1:
        axes = axes * len(shifts)
    totals: dict[int, Any] = {}
    for s, a in zip(shifts, axes):
        totals[a] = totals.get(a, 0) + s
    out_shift, out_axis = [], []
    for a in sorted(totals):
        s, d = totals[a], x.shape[a]
        if not is_symbolic(d):
            if d == 0:
                continue
            if not is_symbolic(s):
                s %= d
        if not is_symbolic(s) and s == 0:
            continue
        out_shift.append(s)
        out_axis.append(a)
    return {"shift": tuple(out_shift), "axis": tuple(out_axis)}


def _roll_emit(args, attrs, ctx):
    axis = attrs["axis"]
    if axis is None:
        return f"xp.roll({args[0]}, {ctx.dim(attrs['shift'])})"
    trail = "," if len(axis) == 1 else ""
    shifts = ", ".join(ctx.dim(s) for s in attrs["shift"])
    axes = ", ".join(str(int(a)) for a in axis)
    return f"xp.roll({args[0]}, ({shifts}{trail}), axis=({axes}{trail}))"


def _roll_vjp(g, out, x, at, need):
    if at["axis"] is None:
        return [roll(g, -at["shift"])]
    return [roll(g, tuple(-s for s in at["shift"]), at["axis"])]


register(OpDef(
    name="roll", kind="shape", infer=lambda nodes, attrs: (nodes[0].shape, nodes[0].dtype),
    compute=lambda args, attrs, shape: np.roll(args[0], attrs["shift"], axis=attrs["axis"]),
    emit=_roll_emit, vjp=_roll_vjp, normalize=_normalize_roll, doc=roll.__doc__,
    attrs=("shift", "axis"), axis_source=lambda node, src, axis: [(0, axis)],
))


# --------------------------------------------------------------- moveaxis, ravel, flatten


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """np.moveaxis: axes ``source`` (an int or a tuple) moved to the positions
    ``destination``, the other axes keeping their order. Built as ``gc.transpose`` (a
    view)."""
    (t,) = wrap([x], "moveaxis")
    try:
        src = _axis_list(source, t.ndim, "source")
        dst = _axis_list(destination, t.ndim, "destination")
        if len(src) != len(dst):
            raise ShapeError(f"source {source!r} and destination {destination!r} need the "
                             "same number of axes")
    except (ShapeError, TypeError, ValueError) as e:
        raise build_error(e, "moveaxis", [t]) from None
    order = [a for a in range(t.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(t, tuple(order))


def _axis_list(v: Any, ndim: int, what: str) -> list[int]:
    items = _as_list(v)
    axes = [normalize_axis(a, ndim, f"{what} axis") for a in items]
    if len(set(axes)) != len(axes):
        raise ShapeError(f"{what} {v!r} repeats an axis")
    return axes


def ravel(x: Any) -> Tensor:
    """np.ravel: the entries as one axis in C order, ``reshape(x, (-1,))``: ``(B, T, 4)``
    gives ``(4*B*T,)``. A view when numpy can make one."""
    return reshape(x, (-1,))


def flatten(x: Any) -> Tensor:
    """``ndarray.flatten`` as a function: the same as ``gc.ravel``. numpy's flatten always
    copies; graphc values are immutable (no op writes into a value, and a compiled Function
    returns arrays the caller owns), so a view is as good and gc.flatten may give one."""
    return reshape(x, (-1,))


#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "array_split", "broadcast_to", "concatenate", "expand_dims", "flatten", "flip",
    "moveaxis", "pad", "ravel", "repeat", "reshape", "roll", "split", "squeeze", "stack",
    "swapaxes", "tile", "transpose",
]
