"""Indexing: basic indexing ``t[0]``, ``t[:, 1:3]``, ``t[None]``, and ``take_along_axis``
(pick class scores by integer label), each with its gradient op (a scatter into zeros)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import (
    Constraint,
    Dim,
    Shape,
    at_least,
    broadcast_dims,
    definitely_equal,
    is_symbolic,
    normalize_axis,
    same_shape,
)
from graphc.ir.dtypes import check_dtype
from graphc.ir.opdef import OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops import kernels
from graphc.ops._common import apply

# ------------------------------------------------------------------------- index handling


def _int(v: Any, what: str) -> int | None:
    if v is None:
        return None
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"{what} {v!r} is not an int")
    return int(v.__index__())


def _bound(v: Any, what: str) -> int | Dim | None:
    """A slice bound: None, an int, or a dim (a position counted from the start)."""
    return v if isinstance(v, Dim) else _int(v, what)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_normalized(index: Any) -> bool:
    """True for an index already in attribute form; its entries must then be well typed."""
    kinds = {"int": 2, "slice": 4, "new": 1}
    if not (isinstance(index, tuple) and index and all(
            isinstance(i, tuple) and i and i[0] in kinds for i in index)):
        return False
    for item in index:
        ok = len(item) == kinds[item[0]] and (
            item[0] == "new"
            or (item[0] == "int" and _is_int(item[1]))
            or (item[0] == "slice" and all(v is None or _is_int(v) or isinstance(v, Dim)
                                           for v in item[1:3])
                and (item[3] is None or _is_int(item[3])) and item[3] != 0))
        if not ok:
            raise TypeError(f"malformed index entry {item!r}")
    return True


def normalize_index(index: Any, ndim: int) -> tuple[tuple, ...]:
    """A basic numpy index as a hashable tuple of ("int", i) / ("slice", a, b, c) / ("new",);
    slice bounds may be dims (``x[:, T - 1:]``, a concatenate's gradient ``g[:, T:T + S]``)."""
    if _is_normalized(index):
        n_real = sum(1 for i in index if i[0] != "new")
        if n_real > ndim:
            raise ShapeError(f"too many indices ({n_real}) for a tensor of rank {ndim}")
        return index
    if not isinstance(index, tuple):
        index = (index,)
    n_real = sum(1 for i in index if i is not None and i is not Ellipsis)
    if sum(1 for i in index if i is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis (...)")
    if n_real > ndim:
        raise ShapeError(f"too many indices ({n_real}) for a tensor of rank {ndim}")
    out: list[tuple] = []
    for item in index:
        if item is Ellipsis:
            out.extend([("slice", None, None, None)] * (ndim - n_real))
        elif item is None:
            out.append(("new",))
        elif isinstance(item, slice):
            step = _int(item.step, "slice step")
            if step == 0:
                raise ShapeError("slice step cannot be zero")
            out.append(("slice", _bound(item.start, "slice start"),
                        _bound(item.stop, "slice stop"), step))
        elif isinstance(item, Tensor) or isinstance(item, (list, np.ndarray)):
            raise TypeError(
                "only basic indexing (ints, slices, None, ...) is supported; to pick entries "
                "by an integer tensor use gc.take_along_axis"
            )
        elif isinstance(item, Dim):
            raise TypeError(f"index {item}: index a symbolic axis by an int (x[:, -1]) or a "
                            "slice (x[:, T - 1:T])")
        else:
            out.append(("int", _int(item, "index")))
    return tuple(out)


def indexed_shape(shape: Shape, index: tuple[tuple, ...]) -> tuple[Shape, list[Constraint]]:
    """The shape of ``x[index]`` for a normalized basic index, and the conditions on the
    symbols it assumes (see ``_slice_size``)."""
    dims = iter(enumerate(shape))
    out: list[Any] = []
    needs: list[Constraint] = []
    for item in index:
        if item[0] == "new":
            out.append(1)
            continue
        axis, d = next(dims)
        where = f"{index_text(index)} on axis {axis} of size {d}"
        if item[0] == "int":
            i = item[1]
            if is_symbolic(d):
                lo = i + 1 if i >= 0 else -i
                needs += at_least(d, lo, f"index {where} needs {{}}")
            elif not -d <= i < d:
                raise ShapeError(f"index {i} is out of bounds for axis {axis} of size {d}")
        else:
            size, more = _slice_size(d, *item[1:], where=f"slice {where}")
            out.append(size)
            needs += more
    out.extend(d for _, d in dims)
    return Shape(out), needs


def _slice_size(d: Any, start: Any, stop: Any, step: int | None,
                where: str) -> tuple[Any, list[Constraint]]:
    """The length of ``range(d)[start:stop:step]``.

    With ints only, numpy's (clamping) rule. With a symbolic size or bound, every bound must
    lie within the axis and the range must not run backwards (``x[:, 3:]`` needs T >= 3;
    numpy would give an empty axis for T < 3): those conditions are returned and checked
    when the symbols are bound, so a result is never silently clamped.
    """
    step = 1 if step is None else step
    if not any(isinstance(v, Dim) for v in (d, start, stop)):
        return len(range(d)[slice(start, stop, step)]), []
    k = abs(step)
    if start is None and stop is None:
        return (d + k - 1) // k, []
    needs: list[Constraint] = []

    def position(v, default, last):
        """A bound as a position in [0, last] (``last``: d, or d - 1 stepping down)."""
        if v is None:
            return default
        if isinstance(v, int) and v < 0:  # counted from the end: d >= -v
            p = d + v
            needs.extend(at_least(d, -v, f"{where} needs {{}}"))
        else:
            p = v
            needs.extend(at_least(p, 0, f"{where} needs {{}}"))
        needs.extend(at_least(last, p, f"{where} needs {{}}"))
        return p

    if step > 0:
        lo, hi = position(start, 0, d), position(stop, d, d)
    else:
        hi, lo = position(start, d - 1, d - 1), position(stop, -1, d - 1)
    needs.extend(at_least(hi, lo, f"{where} needs {{}}"))
    return (hi - lo + k - 1) // k, needs


def _fmt_item(item: tuple, code: Callable[[Any], str] = str) -> str:
    """One index entry as numpy spells it; ``code`` spells a dim bound (ints are spelled
    ``str(int(v))``: nothing else from an attribute reaches generated code)."""
    def bound(v: Any) -> str:
        return "" if v is None else code(v) if isinstance(v, Dim) else str(int(v))

    if item[0] == "int":
        return str(int(item[1]))
    if item[0] == "new":
        return "None"
    start, stop, step = bound(item[1]), bound(item[2]), bound(item[3])
    return f"{start}:{stop}" + (f":{step}" if step else "")


def index_text(index: tuple[tuple, ...]) -> str:
    """A normalized index as numpy writes it, ``[:, -1]`` (how diagrams show the attribute)."""
    return "[" + ", ".join(_fmt_item(i) for i in index) + "]"


def index_code(index: tuple[tuple, ...], dim: Callable[[Any], str]) -> str:
    """Source text of a normalized index, e.g. ``:, 0, None`` or ``:, (s0 - 1):`` (ints, and
    dims spelled by ``dim``: the generated code's expression of its symbols)."""
    items = [_fmt_item(i, lambda v: f"({dim(v)})") for i in index]
    return ", ".join(items) + ("," if len(items) == 1 else "")


# -------------------------------------------------------------------------------- getitem


def getitem(x: Any, index: Any) -> Tensor:
    """Basic indexing ``x[index]``: ints, slices, None and ``...``."""
    return apply("getitem", [x], index=index)


def _getitem_infer(nodes, attrs):
    return indexed_shape(nodes[0].shape, attrs["index"])[0], nodes[0].dtype


def _getitem_requires(node, operands):
    return indexed_shape(operands[0].shape, node.attr["index"])[1]


def _getitem_vjp(g, out, x, at, need):
    return [g.graph.apply("getitem_grad", [g], {"index": at["index"],
                                                "shape": tuple(x[0].shape)})]


def _getitem_axis_source(node, src, axis):
    """A new axis (None) or one sliced down to length 1 was written out; any other axis is
    carried from x."""
    out_axis, in_axis = 0, 0
    for item in node.attr["index"]:
        if item[0] == "int":
            in_axis += 1
            continue
        if out_axis == axis:
            if item[0] == "new" or not definitely_equal(src[0].shape[in_axis], 1):
                return True
            return [(0, in_axis)]
        out_axis += 1
        if item[0] == "slice":
            in_axis += 1
    return [(0, in_axis + (axis - out_axis))]


register(OpDef(
    name="getitem", kind="index", infer=_getitem_infer,
    compute=lambda args, attrs, shape: args[0][kernels.index_from_attr(attrs["index"])],
    emit=lambda args, attrs, ctx: f"{args[0]}[{index_code(attrs['index'], ctx.dim)}]",
    vjp=_getitem_vjp, view=True, doc=getitem.__doc__, attrs=("index",),
    requires=_getitem_requires,
    normalize=lambda nodes, attrs: {"index": normalize_index(attrs["index"], nodes[0].ndim)},
    # basic indexing is a view, but x[0, 1] with every axis indexed is a numpy scalar (a copy)
    returns_view=lambda node, contiguous: node.ndim != 0, axis_source=_getitem_axis_source,
))


def _getitem_grad_infer(nodes, attrs):
    shape = Shape(attrs["shape"])
    want = indexed_shape(shape, attrs["index"])[0]
    if not same_shape(want, nodes[0].shape):
        raise ShapeError(f"gradient of shape {nodes[0].shape} does not fit {shape}[index]")
    return shape, nodes[0].dtype


def _getitem_grad_emit(args, attrs, ctx):
    dt = ctx.ref(ctx.node.dtype, "dt")
    # slices are not expressions: ``xp.s_[:, 1:3]`` builds the index tuple
    return (f"rt.getitem_grad({args[0]}, {ctx.shape}, "
            f"xp.s_[{index_code(attrs['index'], ctx.dim)}], {dt})")


register(OpDef(
    name="getitem_grad", kind="index", infer=_getitem_grad_infer,
    compute=lambda args, attrs, shape: kernels.getitem_grad(
        args[0], shape, kernels.index_from_attr(attrs["index"]), args[0].dtype),
    emit=_getitem_grad_emit,
    normalize=lambda nodes, attrs: {
        "index": normalize_index(attrs["index"], len(Shape(attrs["shape"]))),
        "shape": tuple(Shape(attrs["shape"]))},
    vjp=lambda g, out, x, at, need: [g.graph.apply("getitem", [g], {"index": at["index"]})],
    doc="Zeros of the indexed tensor's shape with the gradient written at the index.",
    attrs=("index", "shape"),
))


# ------------------------------------------------------------------------ take_along_axis


def take_along_axis(x: Any, indices: Any, axis: int) -> Tensor:
    """np.take_along_axis: pick entries of ``x`` along ``axis`` by an integer tensor.

    ``gc.take_along_axis(logp, labels[:, None], axis=1)`` picks each row's class score.
    """
    return apply("take_along_axis", [x, indices], axis=axis)


def _take_infer(nodes, attrs):
    x, idx = nodes
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis: indices must be integers, got {idx.dtype}")
    if x.ndim != idx.ndim:
        raise ShapeError(f"x {x.shape} and indices {idx.shape} must have the same rank")
    axis = normalize_axis(attrs["axis"], x.ndim)
    out = []
    for i, (a, b) in enumerate(zip(x.shape, idx.shape)):
        out.append(b if i == axis else broadcast_dims(a, b))
    return Shape(out), x.dtype


def _take_vjp(g, out, x, at, need):
    return [g.graph.apply("take_along_axis_grad", [g, x[1]],
                          {"axis": at["axis"], "shape": tuple(x[0].shape)}), None]


register(OpDef(
    name="take_along_axis", kind="index", infer=_take_infer,
    compute=lambda args, attrs, shape: np.take_along_axis(args[0], args[1], attrs["axis"]),
    emit=lambda args, attrs, ctx: (
        f"xp.take_along_axis({args[0]}, {args[1]}, {attrs['axis']})"),
    vjp=_take_vjp, doc=take_along_axis.__doc__, attrs=("axis",), arity=2,
    normalize=lambda nodes, attrs: {"axis": normalize_axis(attrs["axis"], nodes[0].ndim)},
))


def _take_grad_infer(nodes, attrs):
    g, idx = nodes
    if idx.dtype.kind not in "iu":
        raise TypeError(f"take_along_axis_grad: indices must be integers, got {idx.dtype}")
    shape = Shape(attrs["shape"])
    axis = normalize_axis(attrs["axis"], len(shape))
    check_dtype(g.dtype, "take_along_axis_grad")
    if not g.ndim == idx.ndim == len(shape):
        raise ShapeError(f"gradient {g.shape}, indices {idx.shape} and shape {shape} must have "
                         "the same rank")
    # the kernel broadcasts idx to g; off the axis, x had g's size or 1 (it was broadcast)
    for a, (s, d, i) in enumerate(zip(shape, g.shape, idx.shape)):
        if not (definitely_equal(i, 1) or definitely_equal(i, d)) or not (
                a == axis or definitely_equal(s, 1) or definitely_equal(s, d)):
            raise ShapeError(f"gradient of shape {g.shape} does not fit take_along_axis of "
                             f"{shape} by indices {idx.shape} along axis {axis}")
    return shape, g.dtype


def _take_grad_emit(args, attrs, ctx):
    dt = ctx.ref(ctx.node.dtype, "dt")
    return f"rt.take_along_axis_grad({args[0]}, {args[1]}, {ctx.shape}, {attrs['axis']}, {dt})"


register(OpDef(
    name="take_along_axis_grad", kind="index", infer=_take_grad_infer,
    compute=lambda args, attrs, shape: kernels.take_along_axis_grad(
        args[0], args[1], shape, attrs["axis"], args[0].dtype),
    emit=_take_grad_emit,
    vjp=lambda g, out, x, at, need: [take_along_axis(g, x[1], at["axis"]), None],
    doc="Zeros of the source's shape with the gradient added at the picked entries.", arity=2,
    normalize=lambda nodes, attrs: {
        "axis": normalize_axis(attrs["axis"], len(Shape(attrs["shape"]))),
        "shape": tuple(Shape(attrs["shape"]))},
    attrs=("axis", "shape"),
))

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "getitem", "take_along_axis",
]
