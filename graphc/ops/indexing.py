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
    broadcast_shapes,
    check_dim,
    definitely_equal,
    is_symbolic,
    normalize_axis,
    numel,
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

# ============================================================================================
# take, add_at, put_along_axis, sort, argsort, topk, one_hot, diagonal, trace (numpy's names
# and semantics; the values graphc computes are never written in place, so numpy's in-place
# ``np.add.at`` and ``np.put_along_axis`` return a new tensor here)
# ============================================================================================

#: the dtype of positions (argsort, topk): int64, numpy's intp on 64-bit platforms
_INDEX_DTYPE = np.dtype(np.int64)


def _index_operand(indices: Any, op: str, others: list, allow_tuple: bool = True) -> Any:
    """Indices as an operand: a Tensor as it is; anything else as a numpy array, so that a
    python int is an int64 index (not a float beside a float tensor) and an empty list is an
    empty int64 array. A tuple is refused where numpy would read it as one array per axis."""
    from graphc.ir.graph import build_error

    if isinstance(indices, Tensor):
        return indices
    if isinstance(indices, tuple) and not allow_tuple:
        raise build_error(TypeError(
            "indices is a tuple, which numpy reads as one index array per axis; this op takes "
            "one integer array of indices (a list, an ndarray or an integer Tensor)"),
            op, [*others, indices])
    try:
        arr = np.asarray(indices)
    except Exception:  # noqa: BLE001 - anything numpy cannot take is refused by wrap later
        return indices
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    return arr


def _need_int(idx: Any, what: str = "indices") -> None:
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got {idx.dtype}")


def _need_castable(values: Any, x: Any) -> None:
    """numpy writes values into x under its ``same_kind`` rule (as ``np.add.at`` does)."""
    if not np.can_cast(values.dtype, x.dtype, "same_kind"):
        raise TypeError(f"values of dtype {values.dtype} cannot be written into x of "
                        f"dtype {x.dtype} (numpy's same_kind casting); cast them with astype")


def _opt_axis(axis: Any, ndim: int) -> int | None:
    return None if axis is None else normalize_axis(axis, ndim)


def _taken_shape(x_shape: Shape, idx_shape: Shape, axis: int | None) -> Shape:
    """The shape of ``np.take(x, idx, axis)``: idx's shape in place of the axis (None: of
    the flattened x, idx's shape alone)."""
    if axis is None:
        return Shape(idx_shape)
    return Shape(tuple(x_shape[:axis]) + tuple(idx_shape) + tuple(x_shape[axis + 1:]))


def _size(v: Any, what: str) -> int | Dim:
    """A size attribute (topk's k, one_hot's num_classes): an int >= 0, a dim, or a dim
    string; not a bool, a float or a Tensor."""
    if isinstance(v, (Dim, str)):
        return check_dim(v, what)
    if isinstance(v, Tensor):
        raise TypeError(f"{what} is a Tensor, whose value is not known when the graph is "
                        "built; give an int or a dim (x.shape[1])")
    if isinstance(v, (bool, np.bool_)) or not hasattr(v, "__index__"):
        raise TypeError(f"{what} {v!r} of type {type(v).__name__} is not an int or a dim")
    n = int(v.__index__())
    if n < 0:
        raise ShapeError(f"{what} {n} is negative; it must be an int >= 0")
    return n


def _flag(v: Any, what: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what} {v!r} of type {type(v).__name__} is not a bool")
    return bool(v)


def _axis_code(axis: int | None) -> str:
    return "None" if axis is None else str(int(axis))


def _fresh_or_out(x: Any, out: Any, *operands: Any) -> tuple[Any, list]:
    """The array an op that returns ``x`` changed writes into: a copy of x, or ``out`` holding
    x's values (the memory plan may hand x's own buffer). Operands that share memory with
    ``out`` are copied first, before x is copied over them."""
    if out is None:
        return np.array(x, copy=True), list(operands)
    safe = [np.array(v, copy=True) if np.may_share_memory(out, v) else v for v in operands]
    if out is not x:
        np.copyto(out, x)
    return out, safe


def _add_at_into(r: Any, idx: Any, v: Any, axis: int | None) -> None:
    """``np.add.at`` along ``axis`` (None: of r flattened), in place on r."""
    if axis is not None:
        np.add.at(r, (slice(None),) * axis + (idx,), v)
    elif r.flags.c_contiguous:  # reshape(-1) is then a view
        np.add.at(r.reshape(-1), idx, v)
    else:
        flat = r.reshape(-1)
        np.add.at(flat, idx, v)
        r[...] = flat.reshape(r.shape)


def take_grad_kernel(g, idx, shape, axis, dtype, out=None):
    """Zeros of ``shape`` with ``g`` added at ``idx`` along ``axis`` (None: of the flattened
    tensor): np.add.at, so repeated indices add up. The adjoint of np.take."""
    if out is None:
        z = np.zeros(shape, dtype=dtype)
    else:
        z = out
        z[...] = 0
    _add_at_into(z, idx, g, axis)
    return z


def add_at_kernel(x, idx, v, axis, out=None):
    """``x`` with ``v`` added at ``idx`` along ``axis`` (np.add.at on a copy, or on ``out``)."""
    r, (idx, v) = _fresh_or_out(x, out, idx, v)
    _add_at_into(r, idx, v, axis)
    return r


def put_along_axis_kernel(x, idx, v, axis, out=None):
    """``x`` with ``v`` put at ``idx`` along ``axis`` (np.put_along_axis on a copy, or on
    ``out``). Where indices repeat, the last write in C order of the broadcast index shape
    wins, always (numpy leaves the order of repeated writes unspecified): each target cell is
    written once, by np.put with distinct positions."""
    n = x.shape[axis]
    w_shape = tuple(x.shape[:axis]) + (idx.shape[axis],) + tuple(x.shape[axis + 1:])
    idx = np.broadcast_to(idx, w_shape)
    if idx.size:
        lo, hi = idx.min(), idx.max()
        if lo < -n or hi >= n:
            bad = hi if hi >= n else lo
            raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")
    v = np.broadcast_to(v, w_shape)
    r, (idx, v) = _fresh_or_out(x, out, idx, v)
    if idx.size == 0:
        return r
    cells = np.zeros((1,) * len(w_shape), dtype=np.intp)
    for k, d in enumerate(x.shape):
        if k == axis:
            c = np.where(idx < 0, idx + n, idx).astype(np.intp, copy=False)
        else:
            c = np.arange(d, dtype=np.intp).reshape((-1,) + (1,) * (len(w_shape) - k - 1))
        cells = cells * d + c
    cells = np.broadcast_to(cells, w_shape).reshape(-1)
    vals = v.reshape(-1)
    if idx.shape[axis] > 1:  # a cell may be written more than once: keep the last write
        last = np.full(r.size, -1, dtype=np.intp)
        np.maximum.at(last, cells, np.arange(cells.size, dtype=np.intp))
        cells = np.flatnonzero(last >= 0)
        vals = vals[last[cells]]
    np.put(r, cells, vals)
    return r


def topk_kernel(x, k, axis, largest, sorted):  # noqa: A002 - torch's name
    """The positions of the k largest (smallest) entries along ``axis``, in order from the
    largest (smallest); ties in order of position (a stable sort). NaN sorts as the largest,
    as in numpy's sort. ``sorted=False``: the same k positions, in increasing order."""
    n = x.shape[axis]
    if largest:  # descending by value, ascending by position at a tie
        order = np.argsort(np.flip(x, axis), axis=axis, kind="stable")
        idx = (n - 1) - np.flip(order, axis)
    else:
        idx = np.argsort(x, axis=axis, kind="stable")
    idx = idx[(slice(None),) * axis + (slice(0, k),)]
    if not sorted:
        idx = np.sort(idx, axis=axis)
    return idx.astype(_INDEX_DTYPE, copy=False)


def one_hot_kernel(labels, num_classes, dtype, out=None):
    """``out[..., c] = (labels[...] == c)`` in ``dtype``; a label outside [0, num_classes)
    is an IndexError (never wrapped around, never silently all zeros)."""
    if labels.size:
        lo, hi = labels.min(), labels.max()
        if lo < 0 or hi >= num_classes:
            bad = lo if lo < 0 else hi
            raise IndexError(f"label {bad} is outside [0, {num_classes}) for num_classes="
                             f"{num_classes}")
    if out is None:
        out = np.zeros(labels.shape + (num_classes,), dtype=dtype)
    else:
        out[...] = 0
    if labels.size and num_classes:
        np.put_along_axis(out, np.asarray(labels)[..., None], 1, axis=-1)
    return out


def diagonal_grad_kernel(g, shape, offset, axis1, axis2, dtype, out=None):
    """Zeros of ``shape`` with ``g`` (the diagonal along its last axis) written on the
    ``offset`` diagonal of ``axis1`` and ``axis2``. The adjoint of np.diagonal."""
    if out is None:
        z = np.zeros(shape, dtype=dtype)
    else:
        z = out
        z[...] = 0
    n = g.shape[-1]
    if n:
        i = np.arange(n)
        zm = np.moveaxis(z, (axis1, axis2), (-2, -1))  # a writable view of z
        zm[..., i + max(-offset, 0), i + max(offset, 0)] = g
    return z


# ----------------------------------------------------------------------------------- take


def take(x: Any, indices: Any, axis: Any = None) -> Tensor:
    """np.take: the entries of ``x`` at integer ``indices`` along ``axis`` (None: of ``x``
    flattened). The result has indices' shape in place of the axis. ``indices`` is an integer
    Tensor, or an int, list or array (a constant). Negative indices count from the end, as in
    numpy; an index outside [-n, n) is an error when the graph runs, naming the op and the
    line that built it. The gradient adds into zeros of x's shape (repeats add up)."""
    indices = _index_operand(indices, "take", [x])
    with _hint(x, indices, "take: indices must lie in [-n, n) for an axis of size n"):
        return apply("take", [x, indices], axis=axis)


def _hint(x: Any, indices: Any, text: str):
    """Annotate the nodes built inside with a run-time hint (when a graph is at hand)."""
    import contextlib

    t = x if isinstance(x, Tensor) else indices if isinstance(indices, Tensor) else None
    return t.graph.annotate(hint=text) if t is not None else contextlib.nullcontext()


def _take_np_infer(nodes, attrs):
    x, idx = nodes
    _need_int(idx)
    axis = _opt_axis(attrs["axis"], x.ndim)
    if axis is not None and definitely_equal(x.shape[axis], 0) and not any(
            definitely_equal(d, 0) for d in idx.shape):
        raise ShapeError(f"cannot take entries {idx.shape} from axis {axis} of size 0")
    return _taken_shape(x.shape, idx.shape, axis), x.dtype


def _take_np_emit(args, attrs, ctx):
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return f"xp.take({args[0]}, {args[1]}, axis={_axis_code(attrs['axis'])}{o})"


def _take_np_vjp(g, out, x, at, need):
    return [g.graph.apply("take_grad", [g, x[1]],
                          {"axis": at["axis"], "shape": tuple(x[0].shape)}), None]


register(OpDef(
    name="take", kind="index", infer=_take_np_infer,
    compute=lambda args, attrs, shape: np.take(args[0], args[1], axis=attrs["axis"]),
    emit=_take_np_emit, vjp=_take_np_vjp, out=True, arity=2, doc=take.__doc__,
    attrs=("axis",),
    normalize=lambda nodes, attrs: {"axis": _opt_axis(attrs.get("axis"), nodes[0].ndim)},
))


def _take_grad_np_infer(nodes, attrs):
    g, idx = nodes
    _need_int(idx)
    check_dtype(g.dtype, "take_grad")
    shape = Shape(attrs["shape"])
    axis = _opt_axis(attrs["axis"], len(shape))
    want = _taken_shape(shape, idx.shape, axis)
    if not same_shape(want, g.shape):
        raise ShapeError(f"gradient of shape {g.shape} does not fit take of {shape} by "
                         f"indices {idx.shape} along axis {axis} (which gives {want})")
    return shape, g.dtype


def _take_grad_np_emit(args, attrs, ctx):
    fn = ctx.ref(take_grad_kernel, "k")
    dt = ctx.ref(ctx.node.dtype, "dt")
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return (f"{fn}({args[0]}, {args[1]}, {ctx.shape}, {_axis_code(attrs['axis'])}, {dt}{o})")


register(OpDef(
    name="take_grad", kind="index", infer=_take_grad_np_infer,
    compute=lambda args, attrs, shape: take_grad_kernel(args[0], args[1], shape, attrs["axis"],
                                                        args[0].dtype),
    emit=_take_grad_np_emit, out=True, arity=2,
    vjp=lambda g, out, x, at, need: [take(g, x[1], at["axis"]), None],
    doc="Zeros of the source's shape with the gradient added at the taken entries.",
    attrs=("axis", "shape"),
    normalize=lambda nodes, attrs: {
        "axis": _opt_axis(attrs.get("axis"), len(Shape(attrs["shape"]))),
        "shape": tuple(Shape(attrs["shape"]))},
))


# --------------------------------------------------------------------------------- add_at


def add_at(x: Any, indices: Any, values: Any, axis: Any = 0) -> Tensor:
    """``x`` with ``values`` added at integer ``indices`` along ``axis`` (None: of ``x``
    flattened), as ``np.add.at`` on a copy: repeated indices accumulate. numpy's add.at is in
    place; graphc values are immutable, so this returns the new tensor (the memory plan may
    still write into x's buffer when x is not read afterwards).

    ``values`` broadcasts to the shape of ``gc.take(x, indices, axis)`` and must cast to x's
    dtype under numpy's same_kind rule. Gradients: x gets the gradient unchanged, values get
    it taken at the indices."""
    indices = _index_operand(indices, "add_at", [x, values], allow_tuple=False)
    x, values = _weak_values(x, values, "add_at")
    with _hint(x, indices, "add_at: indices must lie in [-n, n) for an axis of size n"):
        return apply("add_at", [x, indices, values], axis=axis)


def _weak_values(x: Any, values: Any, op: str) -> tuple[Any, Any]:
    """A python scalar ``values`` takes x's dtype (numpy 2's rule for python scalars)."""
    from graphc.ops._common import wrap

    if isinstance(x, Tensor) and isinstance(values, (bool, int, float)) \
            and not isinstance(values, np.generic):
        return tuple(wrap([x, values], op))
    return x, values


def _add_at_infer(nodes, attrs):
    x, idx, v = nodes
    _need_int(idx)
    _need_castable(v, x)
    axis = _opt_axis(attrs["axis"], x.ndim)
    at = _taken_shape(x.shape, idx.shape, axis)
    _values_fit(v, at, f"the shape of x {x.shape} taken at indices {idx.shape} along axis {axis}")
    return x.shape, x.dtype


def _values_fit(v, target, what: str) -> None:
    """The values broadcast to ``target`` (the entries written), or a ShapeError."""
    try:
        ok = same_shape(broadcast_shapes(v.shape, target), target)
    except ShapeError:
        ok = False
    if not ok:
        raise ShapeError(f"values {v.shape} do not broadcast to {target}, {what}")


def _add_at_emit(args, attrs, ctx):
    fn = ctx.ref(add_at_kernel, "k")
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return f"{fn}({args[0]}, {args[1]}, {args[2]}, {_axis_code(attrs['axis'])}{o})"


def _add_at_vjp(g, out, x, at, need):
    return [g if need[0] else None, None, take(g, x[1], at["axis"]) if need[2] else None]


register(OpDef(
    name="add_at", kind="index", infer=_add_at_infer,
    compute=lambda args, attrs, shape: add_at_kernel(*args, attrs["axis"]),
    emit=_add_at_emit, vjp=_add_at_vjp, out=True, inplace=True, arity=3, doc=add_at.__doc__,
    attrs=("axis",),
    normalize=lambda nodes, attrs: {"axis": _opt_axis(attrs.get("axis", 0), nodes[0].ndim)},
))


# ------------------------------------------------------------------------- put_along_axis


def put_along_axis(x: Any, indices: Any, values: Any, axis: Any) -> Tensor:
    """``x`` with ``values`` put at ``indices`` along ``axis``, as ``np.put_along_axis`` on a
    copy (numpy's is in place; graphc values are immutable). ``indices`` has x's rank; off
    the axis each of its dims is 1 or x's. ``values`` broadcasts to the written shape (x's
    shape with indices' size on the axis) and casts to x's dtype under numpy's same_kind
    rule. ``axis=None`` puts into x flattened (1-D indices).

    Repeated indices: the last write (in C order of the written shape) wins, always (numpy
    does not promise an order). Gradients: x gets the gradient with zeros where it was
    written; values get it taken at the indices, where their write won (0 where a later
    write to the same entry overwrote it)."""
    from graphc.ops.shape import reshape

    indices = _index_operand(indices, "put_along_axis", [x, values])
    x, values = _weak_values(x, values, "put_along_axis")
    with _hint(x, indices, "put_along_axis: indices must lie in [-n, n) for an axis of "
                           "size n"):
        if axis is None and isinstance(x, Tensor):
            flat = apply("put_along_axis", [reshape(x, (-1,)), indices, values], axis=0)
            return reshape(flat, tuple(x.shape))
        return apply("put_along_axis", [x, indices, values], axis=axis)


def _written_shape(x: Any, idx: Any, axis: int) -> Shape:
    """x's shape with idx's size on ``axis``; idx must have x's rank and, off the axis,
    dims of 1 or x's."""
    if idx.ndim != x.ndim:
        raise ShapeError(f"indices {idx.shape} must have the rank of x {x.shape}")
    for k, (a, b) in enumerate(zip(x.shape, idx.shape)):
        if k != axis and not (definitely_equal(b, 1) or definitely_equal(a, b)):
            raise ShapeError(f"indices {idx.shape} do not fit x {x.shape} along axis {axis}: "
                             f"off the axis each index dim must be 1 or x's (axis {k} has "
                             f"{b} against {a})")
    return Shape(b if k == axis else a for k, (a, b) in enumerate(zip(x.shape, idx.shape)))


def _put_infer(nodes, attrs):
    x, idx, v = nodes
    _need_int(idx)
    _need_castable(v, x)
    axis = normalize_axis(attrs["axis"], x.ndim)
    w = _written_shape(x, idx, axis)
    _values_fit(v, w, f"the written shape of x {x.shape} by indices {idx.shape} along axis "
                      f"{axis}")
    return x.shape, x.dtype


def _put_emit(args, attrs, ctx):
    fn = ctx.ref(put_along_axis_kernel, "k")
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return f"{fn}({args[0]}, {args[1]}, {args[2]}, {int(attrs['axis'])}{o})"


def _put_vjp(g, out, x, at, need):
    from graphc.ops.elementwise import equal, where
    from graphc.ops.shape import reshape

    x0, idx, v = x
    axis, graph = at["axis"], g.graph
    gx = gv = None
    if need[0]:  # x's entries that were overwritten get nothing
        gx = put_along_axis(g, idx, graph.constant(np.zeros((), g.dtype)), axis)
    if need[2]:
        gv = take_along_axis(g, idx, axis)
        if not definitely_equal(idx.shape[axis], 1):  # a write may have been overwritten
            w = _written_shape(x0, idx, axis)
            pos = reshape(graph.arange(numel(w)), tuple(w))
            last = put_along_axis(graph.full(tuple(x0.shape), -1, np.int64), idx, pos, axis)
            won = equal(take_along_axis(last, idx, axis), pos)
            gv = where(won, gv, graph.constant(np.zeros((), g.dtype)))
    return [gx, None, gv]


register(OpDef(
    name="put_along_axis", kind="index", infer=_put_infer,
    compute=lambda args, attrs, shape: put_along_axis_kernel(*args, attrs["axis"]),
    emit=_put_emit, vjp=_put_vjp, out=True, inplace=True, arity=3,
    doc=put_along_axis.__doc__, attrs=("axis",),
    normalize=lambda nodes, attrs: {"axis": normalize_axis(attrs["axis"], nodes[0].ndim)},
))


# ---------------------------------------------------------------------- sort and argsort


def _sort_axis(nodes, attrs):
    x = nodes[0]
    if x.ndim == 0:
        raise ShapeError("cannot sort a 0-d tensor along an axis (axis=None sorts it "
                         "flattened)")
    return {"axis": normalize_axis(attrs.get("axis", -1), x.ndim)}


def _flattened(x: Any, axis: Any) -> tuple[Any, Any]:
    """axis=None: numpy sorts x flattened."""
    from graphc.ops.shape import reshape

    if axis is None and isinstance(x, Tensor):
        return reshape(x, (-1,)), 0
    return x, axis


def sort(x: Any, axis: Any = -1) -> Tensor:
    """np.sort along ``axis`` (None: of x flattened), ascending, NaN last. A stable sort, so
    the permutation is well defined at ties; the gradient goes back through it (entries that
    tie each get the gradient of their own sorted position)."""
    x, axis = _flattened(x, axis)
    return apply("sort", [x], axis=axis)


def _sort_infer(nodes, attrs):
    x = nodes[0]
    _sort_axis(nodes, attrs)
    return x.shape, x.dtype


def _sort_vjp(g, out, x, at, need):
    idx = argsort(x[0], at["axis"])
    return [g.graph.apply("take_along_axis_grad", [g, idx],
                          {"axis": at["axis"], "shape": tuple(x[0].shape)})]


register(OpDef(
    name="sort", kind="index", infer=_sort_infer,
    compute=lambda args, attrs, shape: np.sort(args[0], axis=attrs["axis"], kind="stable"),
    emit=lambda args, attrs, ctx: (
        f"xp.sort({args[0]}, axis={int(attrs['axis'])}, kind='stable')"),
    vjp=_sort_vjp, doc=sort.__doc__, attrs=("axis",), normalize=_sort_axis,
))


def argsort(x: Any, axis: Any = -1) -> Tensor:
    """np.argsort with ``kind="stable"`` along ``axis`` (None: of x flattened): int64
    positions that sort x, ties in order of position, NaN last. No gradient."""
    x, axis = _flattened(x, axis)
    return apply("argsort", [x], axis=axis)


def _argsort_infer(nodes, attrs):
    _sort_axis(nodes, attrs)
    return nodes[0].shape, _INDEX_DTYPE


_AS_INDEX = "" if np.dtype(np.intp) == _INDEX_DTYPE else ".astype(xp.int64)"

register(OpDef(
    name="argsort", kind="index", infer=_argsort_infer,
    compute=lambda args, attrs, shape: np.argsort(
        args[0], axis=attrs["axis"], kind="stable").astype(_INDEX_DTYPE, copy=False),
    emit=lambda args, attrs, ctx: (
        f"xp.argsort({args[0]}, axis={int(attrs['axis'])}, kind='stable'){_AS_INDEX}"),
    vjp=None, doc=argsort.__doc__, attrs=("axis",), normalize=_sort_axis,
))


# ----------------------------------------------------------------------------------- topk


def topk(x: Any, k: Any, axis: int = -1, largest: bool = True,
         sorted: bool = True) -> tuple[Tensor, Tensor]:  # noqa: A002 - torch's name
    """torch.topk: ``(values, indices)`` of the ``k`` largest (``largest=False``: smallest)
    entries along ``axis``; indices are int64. ``k`` is an int or a dim; a symbolic axis
    needs at least k entries, checked when the symbols are bound.

    Order: from the largest (smallest) value; at a tie, the first position first (a stable
    sort: torch leaves the order of ties unspecified). NaN counts as the largest value.
    ``sorted=False`` gives the same k entries in increasing order of position (torch's order
    is then unspecified). The gradient of ``values`` goes to the picked entries; ``indices``
    has none."""
    idx = apply("topk", [x], k=k, axis=axis, largest=largest, sorted=sorted)
    return take_along_axis(x, idx, idx.node.attr["axis"]), idx


def _topk_normalize(nodes, attrs):
    x = nodes[0]
    if x.ndim == 0:
        raise ShapeError("topk needs a tensor of rank >= 1")
    return {"k": _size(attrs["k"], "k"), "axis": normalize_axis(attrs.get("axis", -1), x.ndim),
            "largest": _flag(attrs.get("largest", True), "largest"),
            "sorted": _flag(attrs.get("sorted", True), "sorted")}


def _topk_needs(x: Any, attrs: dict) -> list:
    axis, k = attrs["axis"], attrs["k"]
    return at_least(x.shape[axis], k, f"topk of k={k} along axis {axis} of {x.shape} "
                                      "needs {}")


def _topk_infer(nodes, attrs):
    x = nodes[0]
    axis = normalize_axis(attrs["axis"], x.ndim)
    _topk_needs(x, attrs)  # a k larger than a static axis is refused now
    return Shape(attrs["k"] if a == axis else d for a, d in enumerate(x.shape)), _INDEX_DTYPE


def _topk_emit(args, attrs, ctx):
    fn = ctx.ref(topk_kernel, "k")
    return (f"{fn}({args[0]}, {ctx.dim(attrs['k'])}, {int(attrs['axis'])}, "
            f"{bool(attrs['largest'])!r}, {bool(attrs['sorted'])!r})")


register(OpDef(
    name="topk", kind="index", infer=_topk_infer,
    compute=lambda args, attrs, shape: topk_kernel(args[0], attrs["k"], attrs["axis"],
                                                   attrs["largest"], attrs["sorted"]),
    emit=_topk_emit, vjp=None, normalize=_topk_normalize,
    requires=lambda node, operands: _topk_needs(operands[0], node.attr),
    doc="The int64 positions of gc.topk (its values are take_along_axis of them).",
    attrs=("k", "axis", "largest", "sorted"),
))


# -------------------------------------------------------------------------------- one_hot


def one_hot(labels: Any, num_classes: Any, dtype: Any = np.float64) -> Tensor:
    """``labels.shape + (num_classes,)`` of ``dtype`` (float64 unless told): 1 at each
    integer label, 0 elsewhere. ``num_classes`` is an int or a dim. A label outside
    [0, num_classes) (a negative one too) is an error when the graph runs, naming the op and
    the line that built it. No gradient."""
    labels = _index_operand(labels, "one_hot", [])
    with _hint(labels, labels, "one_hot: labels must lie in [0, num_classes)"):
        return apply("one_hot", [labels], num_classes=num_classes, dtype=dtype)


def _one_hot_infer(nodes, attrs):
    labels = nodes[0]
    _need_int(labels, "labels")
    return Shape(tuple(labels.shape) + (attrs["num_classes"],)), np.dtype(attrs["dtype"])


def _one_hot_emit(args, attrs, ctx):
    fn = ctx.ref(one_hot_kernel, "k")
    dt = ctx.ref(np.dtype(attrs["dtype"]), "dt")
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return f"{fn}({args[0]}, {ctx.dim(attrs['num_classes'])}, {dt}{o})"


register(OpDef(
    name="one_hot", kind="index", infer=_one_hot_infer,
    compute=lambda args, attrs, shape: one_hot_kernel(args[0], attrs["num_classes"],
                                                      np.dtype(attrs["dtype"])),
    emit=_one_hot_emit, vjp=None, out=True, doc=one_hot.__doc__,
    attrs=("num_classes", "dtype"),
    normalize=lambda nodes, attrs: {
        "num_classes": _size(attrs["num_classes"], "num_classes"),
        "dtype": check_dtype(attrs.get("dtype", np.float64), "one_hot").name},
))


# ----------------------------------------------------------------------- diagonal, trace


def _diagonal_attrs(ndim: int, attrs: dict, op: str) -> dict:
    if ndim < 2:
        raise ShapeError(f"{op} needs a tensor of rank >= 2, got rank {ndim}")
    a1 = normalize_axis(attrs.get("axis1", 0), ndim, "axis1")
    a2 = normalize_axis(attrs.get("axis2", 1), ndim, "axis2")
    if a1 == a2:
        raise ShapeError(f"axis1 and axis2 are the same axis ({a1})")
    return {"offset": _int(attrs.get("offset", 0), "offset"), "axis1": a1, "axis2": a2}


def diagonal_length(n1: Any, n2: Any, offset: int) -> tuple[Any, list[Constraint]]:
    """The length of the ``offset`` diagonal of an ``n1`` x ``n2`` matrix, numpy's
    ``max(0, min(n1, n2 - offset))`` (``min(n1 + offset, n2)`` below the main one), and the
    conditions on the symbols it assumes.

    With int sizes, numpy's rule. With a symbolic size, the min must be a dim expression:
    the two candidate lengths must differ by an int (equal axes ``T`` x ``T``, or ``T`` x
    ``T + 1``); the diagonal must then not run off the matrix (``T`` x ``T`` with offset 2
    needs T >= 2: numpy would give an empty diagonal), which is checked when the symbols are
    bound, never silently clamped. Other sizes are a ShapeError."""
    a, b = (n1, n2 - offset) if offset >= 0 else (n1 + offset, n2)
    if not is_symbolic(a) and not is_symbolic(b):
        return max(0, min(a, b)), []
    diff = a - b
    if is_symbolic(diff):
        raise ShapeError(
            f"the diagonal (offset {offset}) of axes of sizes {n1} and {n2} has length "
            f"min({a}, {b}), which is not a dim expression: the axes need equal sizes (or "
            "sizes an int apart, or int sizes)")
    m = b if diff >= 0 else a
    return m, at_least(m, 0, f"the diagonal (offset {offset}) of axes of sizes {n1} and {n2} "
                             "needs {}")


def _diagonal_shape(shape: Shape, attrs: dict) -> tuple[Shape, list[Constraint]]:
    a1, a2 = attrs["axis1"], attrs["axis2"]
    n, needs = diagonal_length(shape[a1], shape[a2], attrs["offset"])
    return Shape([d for k, d in enumerate(shape) if k not in (a1, a2)] + [n]), needs


def diagonal(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """np.diagonal: the ``offset`` diagonal of ``axis1`` and ``axis2`` (above the main one
    for offset > 0), as a new last axis; the other axes keep their order. A view in the
    compiled code, read only.

    On symbolic axes the length must be a dim expression: equal axes (``T`` x ``T``) or
    axes an int apart; with an offset, the axes must be long enough (``T >= offset``),
    checked when the symbols are bound. Other sizes are a ShapeError. The gradient writes
    into zeros on the diagonal."""
    return apply("diagonal", [x], offset=offset, axis1=axis1, axis2=axis2)


def _diagonal_infer(nodes, attrs):
    x = nodes[0]
    _diagonal_attrs(x.ndim, attrs, "diagonal")
    return _diagonal_shape(x.shape, attrs)[0], x.dtype


def _diag_grad(g: Tensor, shape: Shape, at: dict) -> Tensor:
    return g.graph.apply("diagonal_grad", [g], {
        "offset": at["offset"], "axis1": at["axis1"], "axis2": at["axis2"],
        "shape": tuple(shape)})


register(OpDef(
    name="diagonal", kind="index", infer=_diagonal_infer,
    compute=lambda args, attrs, shape: np.diagonal(args[0], attrs["offset"], attrs["axis1"],
                                                   attrs["axis2"]),
    emit=lambda args, attrs, ctx: (
        f"xp.diagonal({args[0]}, {int(attrs['offset'])}, {int(attrs['axis1'])}, "
        f"{int(attrs['axis2'])})"),
    vjp=lambda g, out, x, at, need: [_diag_grad(g, x[0].shape, at)],
    normalize=lambda nodes, attrs: _diagonal_attrs(nodes[0].ndim, attrs, "diagonal"),
    requires=lambda node, operands: _diagonal_shape(operands[0].shape, node.attr)[1],
    view=True, returns_view=lambda node, contiguous: True,
    doc=diagonal.__doc__, attrs=("offset", "axis1", "axis2"),
))


def _diagonal_grad_normalize(nodes, attrs):
    shape = Shape(attrs["shape"])
    return {**_diagonal_attrs(len(shape), attrs, "diagonal_grad"), "shape": tuple(shape)}


def _diagonal_grad_infer(nodes, attrs):
    g, shape = nodes[0], Shape(attrs["shape"])
    check_dtype(g.dtype, "diagonal_grad")
    want = _diagonal_shape(shape, attrs)[0]
    if not same_shape(want, g.shape):
        raise ShapeError(f"gradient of shape {g.shape} does not fit the diagonal {want} of "
                         f"{shape}")
    return shape, g.dtype


def _diagonal_grad_emit(args, attrs, ctx):
    fn = ctx.ref(diagonal_grad_kernel, "k")
    dt = ctx.ref(ctx.node.dtype, "dt")
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return (f"{fn}({args[0]}, {ctx.shape}, {int(attrs['offset'])}, {int(attrs['axis1'])}, "
            f"{int(attrs['axis2'])}, {dt}{o})")


register(OpDef(
    name="diagonal_grad", kind="index", infer=_diagonal_grad_infer,
    compute=lambda args, attrs, shape: diagonal_grad_kernel(
        args[0], shape, attrs["offset"], attrs["axis1"], attrs["axis2"], args[0].dtype),
    emit=_diagonal_grad_emit, out=True, normalize=_diagonal_grad_normalize,
    vjp=lambda g, out, x, at, need: [diagonal(g, at["offset"], at["axis1"], at["axis2"])],
    doc="Zeros of the source's shape with the gradient written on the diagonal.",
    attrs=("offset", "axis1", "axis2", "shape"),
))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    """np.trace: the sum of the ``offset`` diagonal of ``axis1`` and ``axis2``; the other
    axes remain. Bools and small ints sum in numpy's dtype (int64, uint64). Any sizes, also
    symbolic ones of different lengths (a diagonal that runs off the matrix sums to 0, as in
    numpy). The gradient is the seed on the diagonal, zeros elsewhere."""
    return apply("trace", [x], offset=offset, axis1=axis1, axis2=axis2)


def _trace_infer(nodes, attrs):
    x = nodes[0]
    _diagonal_attrs(x.ndim, attrs, "trace")
    a1, a2 = attrs["axis1"], attrs["axis2"]
    dt = np.trace(np.ones((1, 1), dtype=x.dtype)).dtype
    return Shape(d for k, d in enumerate(x.shape) if k not in (a1, a2)), dt


def _trace_emit(args, attrs, ctx):
    o = f", out={ctx.out}" if ctx.out is not None else ""
    return (f"xp.trace({args[0]}, {int(attrs['offset'])}, {int(attrs['axis1'])}, "
            f"{int(attrs['axis2'])}{o})")


def _trace_vjp(g, out, x, at, need):
    from graphc.ops.creation import tril, triu
    from graphc.ops.shape import broadcast_to, expand_dims, reshape, swapaxes

    x0 = x[0]
    a1, a2, k = at["axis1"], at["axis2"], at["offset"]
    n1, n2 = x0.shape[a1], x0.shape[a2]
    try:
        simple = not diagonal_length(n1, n2, k)[1]
    except ShapeError:
        simple = False
    if simple:  # the diagonal's length is an expression that needs no condition
        want, _ = _diagonal_shape(x0.shape, at)
        return [_diag_grad(broadcast_to(expand_dims(g, -1), tuple(want)), x0.shape, at)]
    # a mask of the diagonal (ones where col - row == k), placed on axes a1 and a2
    mask = triu(tril(g.graph.ones((n1, n2), g.dtype), k), k)
    if a1 > a2:
        mask = swapaxes(mask, 0, 1)
    target = [1] * x0.ndim
    target[a1], target[a2] = n1, n2
    return [expand_dims(g, (a1, a2)) * reshape(mask, tuple(target))]


register(OpDef(
    name="trace", kind="reduction", infer=_trace_infer,
    compute=lambda args, attrs, shape: np.trace(args[0], attrs["offset"], attrs["axis1"],
                                                attrs["axis2"]),
    emit=_trace_emit, vjp=_trace_vjp, out=True, doc=trace.__doc__,
    attrs=("offset", "axis1", "axis2"),
    normalize=lambda nodes, attrs: _diagonal_attrs(nodes[0].ndim, attrs, "trace"),
))

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "add_at", "argsort", "diagonal", "getitem", "one_hot", "put_along_axis", "sort", "take",
    "take_along_axis", "topk", "trace",
]
