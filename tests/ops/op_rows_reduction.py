"""Op-table rows of min, argmax, argmin, prod, var, std, cumsum, cumprod, any, all and
gc.linalg.norm (run inside tests/ops/test_op_table.py)."""

# ruff: noqa: F821  (row, conc, gc, np, RED_CASES, _max_ref, _sum_ref, _count: the table's)
# --------------------------------------------------------------- min, prod, any, all, var, std

from graphc.ops.reduction import linalg as _linalg  # gc.linalg once graphc exports it


def _axes_of(a, axis):
    if axis is None:
        return tuple(range(a.ndim))
    return tuple(x % a.ndim for x in (axis if isinstance(axis, tuple) else (axis,)))


def _prod_ref(a, axis, keepdims):
    """Products one axis at a time, as a Python loop over the axis's slices."""
    out = a
    for ax in sorted(_axes_of(a, axis), reverse=True):
        acc = np.ones(out.shape[:ax] + out.shape[ax + 1:], dtype=out.dtype)
        for k in range(out.shape[ax]):
            acc = acc * np.take(out, k, axis=ax)
        out = np.expand_dims(acc, ax) if keepdims else acc
    return np.asarray(out)


def _var_ref(a, axis, keepdims, ddof):
    """Two passes: the mean, then the mean square deviation, divided by N - ddof."""
    n = _count(a.shape, axis)
    m = _sum_ref(a, axis, True) / n
    d = a - m.astype(a.dtype)
    return (_sum_ref(d * d, axis, keepdims) / (n - ddof)).astype(a.dtype)


for _shape, _axis, _kd in RED_CASES:
    _lab = f"axis={_axis},keepdims={_kd}"
    row("min", lambda x, _a=_axis, _k=_kd: gc.min(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: -_max_ref(-a, _a, _k), [_shape], ["int"], label=_lab)
    row("prod", lambda x, _a=_axis, _k=_kd: gc.prod(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: _prod_ref(a, _a, _k), [_shape], label=_lab)
    row("any", lambda x, _a=_axis, _k=_kd: gc.any(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: _sum_ref(a.astype(np.int64), _a, _k) > 0, [_shape],
        ["bool"], label=_lab)
    row("all", lambda x, _a=_axis, _k=_kd: gc.all(x, axis=_a, keepdims=_k),
        lambda B, a, _a=_axis, _k=_kd: _sum_ref((a == 0).astype(np.int64), _a, _k) == 0,
        [_shape], ["int"], label=_lab)
    for _dd in (0, 1):
        if _count(conc(_shape, 1), _axis) <= _dd:  # N - ddof > 0 at B = 1 too
            continue
        row("var", lambda x, _a=_axis, _k=_kd, _d=_dd: gc.var(x, _a, ddof=_d, keepdims=_k),
            lambda B, a, _a=_axis, _k=_kd, _d=_dd: _var_ref(a, _a, _k, _d), [_shape],
            label=f"{_lab},ddof={_dd}")
        if _count(conc(_shape, 3), _axis) == 1:
            continue  # std of one element: its gradient is 0/0 (tests/io differentiates rows)
        row("std", lambda x, _a=_axis, _k=_kd, _d=_dd: gc.std(x, _a, ddof=_d, keepdims=_k),
            lambda B, a, _a=_axis, _k=_kd, _d=_dd: np.sqrt(_var_ref(a, _a, _k, _d)),
            [_shape], label=f"{_lab},ddof={_dd}")

# prod of integer-valued data (zeros and ties), an int input (numpy widens to int64) and bool
row("prod", lambda x: gc.prod(x, axis=1), lambda B, a: _prod_ref(a, 1, False), [("B", 4)],
    ["int"], label="zeros")
row("prod", lambda x: gc.prod(x.astype(np.int32), axis=0),
    lambda B, a: _prod_ref(a.astype(np.int64), 0, False), [("B", 3)], ["int"], label="int32")
row("prod", lambda x: gc.prod(x, axis=-1, keepdims=True),
    lambda B, a: _prod_ref(a.astype(np.int64), -1, True), [("B", 3)], ["bool"], label="bool")
row("any", lambda x: x.any(axis=1), lambda B, a: np.abs(a).max(axis=1) > 0, [("B", 4)], ["int"],
    label="method,float")
row("all", lambda x: x.all(), lambda B, a: np.asarray(a.sum() == a.size), [("B", 2, 3)],
    ["bool"], label="method")
row("var", lambda x: x.var(axis=1, ddof=2.5),
    lambda B, a: _var_ref(a, 1, False, 2.5), [("B", 5)], label="ddof=2.5")
row("var", lambda x: gc.var(x.astype(np.int64), axis=0),
    lambda B, a: _var_ref(a.astype(np.float64), 0, False, 0), [(3, "B")], ["int"], label="int")
row("std", lambda x: x.std(axis=(0, 2), ddof=1, keepdims=True),
    lambda B, a: np.sqrt(_var_ref(a, (0, 2), True, 1)), [("B", 3, 4)], label="method")

# ------------------------------------------------------------------------- argmax, argmin


def _arg_ref(a, axis, keepdims, pick):
    """The first index along ``axis`` (x flattened for None) holding ``pick`` of the slice."""
    b = a.reshape(-1) if axis is None else np.moveaxis(a, axis, -1)
    best = pick(b, axis=-1, keepdims=True)
    n = b.shape[-1]
    idx = np.where(b == best, np.arange(n), n).min(axis=-1).astype(np.int64)
    if axis is None:
        return idx.reshape((1,) * a.ndim) if keepdims else np.asarray(idx)
    return np.expand_dims(idx, axis % a.ndim) if keepdims else np.asarray(idx)


for _shape, _axis, _kd in [((4,), None, False), ((4,), 0, True), ((3, 4), -1, False),
                           ((3, 4), None, True), (("B", 3, 4), None, False),
                           (("B", 3, 4), 0, False), (("B", 3, 4), -2, True),
                           (("B", 3, 4), 2, False), ((), None, False), ((), None, True)]:
    _lab = f"axis={_axis},keepdims={_kd}"
    for _name, _pick in (("argmax", np.max), ("argmin", np.min)):
        row(_name, lambda x, _n=_name, _a=_axis, _k=_kd: getattr(gc, _n)(x, _a, keepdims=_k),
            lambda B, a, _a=_axis, _k=_kd, _p=_pick: _arg_ref(a, _a, _k, _p), [_shape], ["int"],
            label=_lab)
row("argmax", lambda x: x.argmax(axis=1), lambda B, a: _arg_ref(a, 1, False, np.max),
    [("B", 5)], ["real"], label="method")
row("argmin", lambda x: x.argmin(keepdims=True), lambda B, a: _arg_ref(a, None, True, np.min),
    [("B", 2)], ["bool"], label="method,bool")

# ----------------------------------------------------------------------- cumsum, cumprod


def _running(a, axis, step):
    """A running fold along ``axis`` (x flattened for None) as a Python loop."""
    b = a.reshape(-1) if axis is None else np.moveaxis(a, axis, 0)
    out = [b[0]] if len(b) else []
    for k in range(1, len(b)):
        out.append(step(out[-1], b[k]))
    r = np.array(out, dtype=b.dtype).reshape(b.shape)
    return r if axis is None else np.moveaxis(r, 0, axis)


for _shape, _axis in [((4,), None), ((4,), 0), ((3, 4), None), ((3, 4), -1), ((3, 4), 0),
                      (("B", 3, 4), None), (("B", 3, 4), 0), (("B", 3, 4), 1),
                      (("B", 3, 4), -1), ((), None), (("B",), 0)]:
    row("cumsum", lambda x, _a=_axis: gc.cumsum(x, _a),
        lambda B, a, _a=_axis: _running(a, _a, np.add), [_shape], label=f"axis={_axis}")
    row("cumprod", lambda x, _a=_axis: gc.cumprod(x, _a),
        lambda B, a, _a=_axis: _running(a, _a, np.multiply), [_shape], label=f"axis={_axis}")
row("cumprod", lambda x: x.cumprod(axis=1), lambda B, a: _running(a, 1, np.multiply),
    [("B", 5)], ["int"], label="zeros,method")
row("cumsum", lambda x: x.cumsum(axis=0), lambda B, a: _running(a.astype(np.int64), 0, np.add),
    [("B", 3)], ["bool"], label="bool,method")
row("cumsum", lambda x: gc.cumsum(x.astype(np.int8)),
    lambda B, a: _running(a.astype(np.int64), None, np.add), [("B", 3)], ["int"], label="int8")

# ---------------------------------------------------------------------------- linalg.norm


def _vnorm(a, o, axis, keepdims):
    """Vector norms from their definitions."""
    s = np.abs(a)
    ax = tuple(range(a.ndim)) if axis is None else axis
    if o in (None, 2):
        r = np.sqrt((a * a).sum(axis=ax, keepdims=keepdims))
    elif o == np.inf:
        r = s.max(axis=ax, keepdims=keepdims)
    elif o == -np.inf:
        r = s.min(axis=ax, keepdims=keepdims)
    elif o == 0:
        r = (a != 0).sum(axis=ax, keepdims=keepdims).astype(a.dtype)
    elif o == 1:
        r = s.sum(axis=ax, keepdims=keepdims)
    else:
        r = (s ** o).sum(axis=ax, keepdims=keepdims) ** (1.0 / o)
    return np.asarray(r).astype(a.dtype)


def _mnorm(a, o, axis, keepdims):
    """Matrix norms from their definitions: column sums (1), row sums (inf), Frobenius."""
    r_ax, c_ax = (x % a.ndim for x in axis)
    s = np.abs(a)
    if o in (None, "fro"):
        r = np.sqrt((a * a).sum(axis=(r_ax, c_ax), keepdims=True))
    elif o in (1, -1):
        cols = s.sum(axis=r_ax, keepdims=True)
        r = cols.max(axis=c_ax, keepdims=True) if o == 1 else cols.min(axis=c_ax, keepdims=True)
    else:
        rows = s.sum(axis=c_ax, keepdims=True)
        r = rows.max(axis=r_ax, keepdims=True) if o > 0 else rows.min(axis=r_ax, keepdims=True)
    return np.asarray(r if keepdims else np.squeeze(r, axis=(r_ax, c_ax))).astype(a.dtype)


for _shape, _o, _axis, _kd in [
        ((4,), None, None, False), (("B", 3, 4), None, None, False),
        (("B", 3, 4), None, None, True), ((), None, None, False), (("B", 4), 2, 1, False),
        (("B", 4), 1, -1, True), (("B", 4), np.inf, 1, False), (("B", 4), -np.inf, 1, False),
        (("B", 4), 0, 1, False), (("B", 4), 3, 1, False), (("B", 4), 0.5, 1, True),
        (("B", 4), -1.5, 1, False), (("B", 3, 4), 2, 0, False), ((4,), 1, None, False),
        ((4,), np.inf, None, True), ((4,), 2, None, False)]:
    row("norm", lambda x, _a=_axis, _k=_kd, _o=_o: _linalg.norm(x, _o, _a, _k),
        lambda B, a, _a=_axis, _k=_kd, _o=_o: _vnorm(
            a, _o, None if _a is None else (_a % a.ndim,), _k), [_shape],
        ["int"] if _o == 0 else ["real"], label=f"ord={_o},axis={_axis},keepdims={_kd}")
for _shape, _o, _axis, _kd in [
        ((3, 4), "fro", None, False), ((3, 4), 1, None, False), ((3, 4), np.inf, None, True),
        (("B", 3, 4), None, (1, 2), False), (("B", 3, 4), "fro", (2, 0), True),
        (("B", 3, 4), 1, (1, 2), False), (("B", 3, 4), -1, (2, 1), False),
        (("B", 3, 4), np.inf, (0, 2), True), (("B", 3, 4), -np.inf, (-1, -2), False),
        ((3, "B"), 1, None, False)]:
    row("norm", lambda x, _a=_axis, _k=_kd, _o=_o: _linalg.norm(x, _o, _a, _k),
        lambda B, a, _a=_axis, _k=_kd, _o=_o: _mnorm(a, _o, (0, 1) if _a is None else _a, _k),
        [_shape], label=f"matrix,ord={_o},axis={_axis},keepdims={_kd}")
row("norm", lambda x: _linalg.norm(x.astype(np.int64), axis=1),
    lambda B, a: np.sqrt((a * a).sum(axis=1)).astype(np.float64), [("B", 3)], ["int"],
    label="int")
