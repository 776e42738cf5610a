"""Op-table rows of take, add_at, put_along_axis, sort, argsort, topk, one_hot, diagonal and
trace, and of their gradient ops (run inside tests/ops/test_op_table.py).

Each reference is written out with Python loops over entries (np.ndindex), not with the numpy
function the op lowers to."""

# ruff: noqa: F821  (row, gc, np, conc come from the table's namespace)
import functools

# ------------------------------------------------------------------------------- take


def _take_ref(a, idx, axis):
    """out[pre, j, post] = a[pre, idx[j], post] (axis None: a flattened)."""
    if axis is None:
        a, axis = a.reshape(-1), 0
    axis %= a.ndim
    pre, post = a.shape[:axis], a.shape[axis + 1:]
    out = np.empty(pre + idx.shape + post, a.dtype)
    for p in np.ndindex(*pre):
        for j in np.ndindex(*idx.shape):
            for q in np.ndindex(*post):
                out[p + j + q] = a[p + (int(idx[j]),) + q]
    return out


def _take_grad_ref(g, idx, shape, axis):
    """Zeros of shape, each g entry added where take read it from."""
    flat = axis is None
    z = np.zeros((int(np.prod(shape)),) if flat else shape, g.dtype)
    ax = 0 if flat else axis % len(shape)
    pre = z.shape[:ax]
    post = z.shape[ax + 1:]
    for p in np.ndindex(*pre):
        for j in np.ndindex(*idx.shape):
            for q in np.ndindex(*post):
                z[p + (int(idx[j]),) + q] += g[p + j + q]
    return z.reshape(shape)


for _xs, _is, _axis, _n in [(("B", 5), (3,), 1, 5), ((3, 4), ("B", 2), 0, 3),
                            (("B", 4), (2, 2), None, 4), (("B", 3, 4), (), 1, 3),
                            ((4,), ("B",), -1, 4), (("B", 2), (0,), 1, 2)]:
    row("take", lambda x, i, _a=_axis: gc.take(x, i, axis=_a),
        lambda B, a, i, _a=_axis: _take_ref(a, i, _a), [_xs, _is], ["real", ("idx", _n)],
        label=f"axis={_axis}")
row("take", lambda x: gc.take(x, [-1, 0, -4, 3], axis=-1),
    lambda B, a: _take_ref(a, np.array([3, 0, 0, 3]), -1), [("B", 4)], label="negative")
row("take", lambda x: gc.take(x, 2), lambda B, a: _take_ref(a, np.array(2), None),
    [("B", 3)], label="int")
row("take", lambda x: gc.take(x, [[1, 1], [0, 1]], axis=0),
    lambda B, a: _take_ref(a, np.array([[1, 1], [0, 1]]), 0), [(2, "B")], ["bool"],
    label="bool")

for _gs, _is, _target, _axis, _n in [(("B", 3), (3,), ("B", 5), 1, 2),
                                     ((2, 2), (2, 2), ("B", 4), None, 4),
                                     (("B", 4), ("B",), (2, 4), 0, 2),
                                     (("B", 3), (), ("B", 2, 3), 1, 2)]:
    row("take_grad",
        lambda g, i, _t=_target, _a=_axis: g.graph.apply(
            "take_grad", [g, i], {"axis": _a, "shape": _t}),
        lambda B, g, i, _t=_target, _a=_axis: _take_grad_ref(g, i, conc(_t, B), _a),
        [_gs, _is], ["real", ("idx", _n)], label=f"axis={_axis}")


# ------------------------------------------------------------------------------ add_at


def _add_at_ref(a, idx, v, axis):
    """a copy of a with v (broadcast to take's shape) added entry by entry."""
    flat = axis is None
    out = np.array(a.reshape(-1) if flat else a, copy=True)
    ax = 0 if flat else axis % a.ndim
    pre, post = out.shape[:ax], out.shape[ax + 1:]
    v = np.broadcast_to(v, pre + idx.shape + post)
    for p in np.ndindex(*pre):
        for j in np.ndindex(*idx.shape):
            for q in np.ndindex(*post):
                out[p + (int(idx[j]),) + q] += v[p + j + q]
    return out.reshape(a.shape)


for _xs, _is, _vs, _axis, _n in [(("B", 5), (4,), ("B", 4), 1, 5),
                                 ((4, 3), ("B",), (3,), 0, 4),
                                 (("B", 3), (5,), (5,), None, 3),
                                 (("B", 2, 3), (2, 2), (), -1, 3),
                                 ((3, "B"), (4,), (4, 1), 0, 3)]:
    row("add_at", lambda x, i, v, _a=_axis: gc.add_at(x, i, v, axis=_a),
        lambda B, a, i, v, _a=_axis: _add_at_ref(a, i, v, _a), [_xs, _is, _vs],
        ["real", ("idx", _n), "real"], label=f"axis={_axis}")
row("add_at", lambda x: gc.add_at(x, [0, 2, 0], 1.5),
    lambda B, a: _add_at_ref(a, np.array([0, 2, 0]), np.asarray(1.5, a.dtype), 0),
    [(3, "B")], label="scalar,repeats")


# ---------------------------------------------------------------------- put_along_axis


def _put_ref(a, idx, v, axis):
    """a copy of a; each write in C order of the written shape (the last write wins)."""
    axis %= a.ndim
    w = tuple(idx.shape[k] if k == axis else a.shape[k] for k in range(a.ndim))
    idx = np.broadcast_to(idx, w)
    v = np.broadcast_to(v, w)
    out = np.array(a, copy=True)
    for j in np.ndindex(*w):
        dst = list(j)
        dst[axis] = int(idx[j]) % a.shape[axis]
        out[tuple(dst)] = v[j]
    return out


for _xs, _is, _vs, _axis, _n in [(("B", 5), ("B", 3), ("B", 3), 1, 5),
                                 ((4, 3), (2, 3), (3,), 0, 4),
                                 (("B", 3, 4), (1, 3, 2), ("B", 1, 2), -1, 4),
                                 (("B", 4), ("B", 1), (), 1, 4)]:
    row("put_along_axis", lambda x, i, v, _a=_axis: gc.put_along_axis(x, i, v, _a),
        lambda B, a, i, v, _a=_axis: _put_ref(a, i, v, _a), [_xs, _is, _vs],
        ["real", ("idx", _n), "real"], label=f"axis={_axis}")
row("put_along_axis", lambda x: gc.put_along_axis(x, np.array([[-1], [0]]), 0.5, 1),
    lambda B, a: _put_ref(a, np.array([[3], [0]]), np.asarray(0.5, a.dtype), 1),
    [(2, 4)], label="negative,scalar")


# ----------------------------------------------------------------------- sort, argsort


def _along(a, axis, fn):
    """fn applied to every 1-D slice of a along axis (a Python list in, a list out)."""
    axis %= a.ndim
    moved = np.moveaxis(a, axis, -1)
    out = None
    for p in np.ndindex(*moved.shape[:-1]):
        r = fn([moved[p + (j,)] for j in range(moved.shape[-1])])
        if out is None:
            out = np.empty(moved.shape[:-1] + (len(r),), np.asarray(r).dtype if r else a.dtype)
        out[p] = r
    if out is None:
        return None
    return np.moveaxis(out, -1, axis)


def _sorted_positions(v, largest=False):
    key = (lambda i: (-float(v[i]), i)) if largest else (lambda i: (float(v[i]), i))
    return sorted(range(len(v)), key=key)


for _s, _axis, _kind in [(("B", 5), -1, "int"), ((3, "B"), 0, "int"), (("B", 3, 4), 1, "real"),
                         ((4,), 0, "bool"), (("B", 4), 1, "bool")]:
    row("sort", lambda x, _a=_axis: gc.sort(x, axis=_a),
        lambda B, a, _a=_axis: _along(a, _a, lambda v: sorted(v)).astype(a.dtype), [_s],
        [_kind], label=f"axis={_axis}")
    row("argsort", lambda x, _a=_axis: gc.argsort(x, axis=_a),
        lambda B, a, _a=_axis: _along(a, _a, _sorted_positions).astype(np.int64), [_s],
        [_kind], label=f"axis={_axis}")


# -------------------------------------------------------------------------------- topk


def _topk_ref(a, k, axis, largest, sorted_):
    def pick(v):
        r = _sorted_positions(v, largest)[:k]
        return r if sorted_ else sorted(r)

    return _along(a, axis, pick).astype(np.int64)


for _s, _k, _axis, _largest, _sorted, _kind in [
        (("B", 5), 2, -1, True, True, "int"), ((4, "B"), 3, 0, False, True, "int"),
        (("B", 3, 4), 4, 2, True, False, "real"), (("B", 4), 0, 1, True, True, "real"),
        ((3, "B"), 1, 1, False, False, "int"), (("B", 6), 6, 1, True, True, "bool")]:
    row("topk",
        lambda x, _k=_k, _a=_axis, _l=_largest, _o=_sorted: gc.topk(x, _k, _a, _l, _o)[1],
        lambda B, a, _k=_k, _a=_axis, _l=_largest, _o=_sorted: _topk_ref(a, _k, _a, _l, _o)
        if _k else np.zeros(tuple(0 if i == _a % a.ndim else d for i, d in enumerate(a.shape)),
                            np.int64),
        [_s], [_kind], label=f"k={_k},axis={_axis},largest={_largest},sorted={_sorted}")
row("topk", lambda x: gc.topk(x, x.shape[0], axis=0)[1],
    lambda B, a: _topk_ref(a, B, 0, True, True), [("B", 3)], ["int"], label="k=B")


# ------------------------------------------------------------------------------ one_hot


def _one_hot_ref(labels, n, dtype):
    out = np.zeros(labels.shape + (n,), dtype)
    for j in np.ndindex(*labels.shape):
        out[j + (int(labels[j]),)] = 1
    return out


for _s, _n, _dt in [(("B",), 4, np.float64), (("B", 3), 5, np.float32), ((2,), 3, np.int32),
                    (("B", 2), 2, np.bool_), ((), 3, np.float64)]:
    row("one_hot", lambda y, _n=_n, _dt=_dt: gc.one_hot(y, _n, _dt),
        lambda B, y, _n=_n, _dt=_dt: _one_hot_ref(y, _n, _dt), [_s], [("idx", _n)],
        label=f"{_n},{np.dtype(_dt).name}")
row("one_hot", lambda y: gc.one_hot(y, y.shape[-1]), lambda B, y: _one_hot_ref(y, B, np.float64),
    [(2, "B")], [("idx", "B")], label="num_classes=B")


# ------------------------------------------------------------------------------ diagonal


def _diag_ref(a, offset, a1, a2):
    a1, a2 = a1 % a.ndim, a2 % a.ndim
    rest = [k for k in range(a.ndim) if k not in (a1, a2)]
    n1, n2 = a.shape[a1], a.shape[a2]
    pos = [(i, i + offset) for i in range(n1) if 0 <= i + offset < n2]
    out = np.empty(tuple(a.shape[k] for k in rest) + (len(pos),), a.dtype)
    for p in np.ndindex(*out.shape[:-1]):
        for j, (r, c) in enumerate(pos):
            src = [0] * a.ndim
            for k, v in zip(rest, p):
                src[k] = v
            src[a1], src[a2] = r, c
            out[p + (j,)] = a[tuple(src)]
    return out


def _diag_grad_ref(g, shape, offset, a1, a2):
    z = np.zeros(shape, g.dtype)
    ndim = len(shape)
    a1, a2 = a1 % ndim, a2 % ndim
    rest = [k for k in range(ndim) if k not in (a1, a2)]
    pos = [(i, i + offset) for i in range(shape[a1]) if 0 <= i + offset < shape[a2]]
    for p in np.ndindex(*g.shape[:-1]):
        for j, (r, c) in enumerate(pos):
            dst = [0] * ndim
            for k, v in zip(rest, p):
                dst[k] = v
            dst[a1], dst[a2] = r, c
            z[tuple(dst)] = g[p + (j,)]
    return z


DIAG_CASES = [((4, 4), 0, 0, 1), (("B", "B"), 1, 0, 1), ((3, 5), -1, 0, 1),
              (("B", 3, 4), 1, 1, 2), (("B", 3, 4), -2, 2, 1), ((2, "B", "B"), 0, -1, 1),
              ((3, 4), 5, 0, 1), (("B", 2, "B"), 0, 0, 2)]
for _s, _o, _a1, _a2 in DIAG_CASES:
    row("diagonal", lambda x, _o=_o, _a1=_a1, _a2=_a2: gc.diagonal(x, _o, _a1, _a2),
        lambda B, a, _o=_o, _a1=_a1, _a2=_a2: _diag_ref(a, _o, _a1, _a2), [_s],
        label=f"offset={_o},{_a1},{_a2}")
row("diagonal", lambda x: gc.diagonal(x), lambda B, a: _diag_ref(a, 0, 0, 1), [("B", "B")],
    ["bool"], label="bool")

for _gs, _target, _o, _a1, _a2 in [(("B",), ("B", "B"), 0, 0, 1), ((2, 3), (3, 4, 2), 1, 0, 1),
                                   (("B", 3), ("B", 3, 4), -1, 2, 1)]:
    row("diagonal_grad",
        lambda g, _t=_target, _o=_o, _a1=_a1, _a2=_a2: g.graph.apply(
            "diagonal_grad", [g], {"offset": _o, "axis1": _a1 % len(_t),
                                   "axis2": _a2 % len(_t), "shape": _t}),
        lambda B, g, _t=_target, _o=_o, _a1=_a1, _a2=_a2: _diag_grad_ref(
            g, conc(_t, B), _o, _a1, _a2),
        [_gs], label=f"offset={_o},{_a1},{_a2}")


# --------------------------------------------------------------------------------- trace


def _trace_ref(a, offset, a1, a2):
    d = _diag_ref(a, offset, a1, a2)
    acc = np.int64 if a.dtype.kind == "b" else a.dtype
    return functools.reduce(lambda s, j: s + d[..., j].astype(acc), range(d.shape[-1]),
                            np.zeros(d.shape[:-1], acc))


for _s, _o, _a1, _a2, _kind in [((4, 4), 0, 0, 1, "real"), (("B", "B"), 2, 0, 1, "real"),
                                (("B", 3), -1, 0, 1, "real"), (("B", 3, 4), 1, 2, 1, "real"),
                                (("B", 3), 0, 1, 0, "bool"), ((3, 4), 9, 0, 1, "real")]:
    row("trace", lambda x, _o=_o, _a1=_a1, _a2=_a2: gc.trace(x, _o, _a1, _a2),
        lambda B, a, _o=_o, _a1=_a1, _a2=_a2: np.asarray(_trace_ref(a, _o, _a1, _a2)), [_s],
        [_kind], label=f"offset={_o},{_a1},{_a2}")
