"""Op-table rows of stack, split (gc.split / gc.array_split), flip and roll, and of the
builders made from other ops (moveaxis, ravel, flatten, split at positions); run inside
tests/ops/test_op_table.py. Every reference is written with index arithmetic, not with the
numpy function of the same name."""

# ruff: noqa: F821  (row, gc, np, conc come from the table's namespace)
# ------------------------------------------------------------------------------------ stack


def _stack_ref(arrs, axis):
    """out[..., k, ...] = arrs[k], the new axis at ``axis`` of the result."""
    n = arrs[0].ndim + 1
    axis %= n
    shape = list(arrs[0].shape)
    shape.insert(axis, len(arrs))
    out = np.empty(shape, np.result_type(*arrs))
    for k, a in enumerate(arrs):
        out[(slice(None),) * axis + (k,)] = a
    return out


for _shapes, _axis, _data in [
        ([("B", 3), ("B", 3)], 0, None), ([("B", 3), ("B", 3)], 1, None),
        ([("B", 3), ("B", 3), ("B", 3)], -1, None), ([("B", 2, 3), ("B", 2, 3)], 2, None),
        ([(), ()], 0, None), ([("B",)], 0, None), ([(2, "B"), (2, "B")], -2, None),
        ([("B", 3), ("B", 3)], 1, ("bool", "real")), ([("B", 2), ("B", 2)], 0, ("int", "real"))]:
    row("stack", lambda *xs, _a=_axis: gc.stack(list(xs), axis=_a),
        lambda B, *arrs, _a=_axis: _stack_ref(arrs, _a), _shapes, _data,
        label=f"axis={_axis}" + (",mixed" if _data else ""))


# ------------------------------------------------------------------------ split, array_split


def _part_ref(a, n, k, axis, equal):
    """Part k of n along axis: numpy's sizes d//n + (k < d % n), written out."""
    d = a.shape[axis]
    assert not equal or d % n == 0
    sizes = [d // n + (j < d % n) for j in range(n)]
    start = sum(sizes[:k])
    return a[(slice(None),) * axis + (slice(start, start + sizes[k]),)].copy()


for _shape, _n, _axis, _fn in [
        (("B", 6), 3, 1, "split"), (("B", 6), 2, -1, "split"), (("B", 4), 1, 0, "split"),
        ((6, "B"), 3, 0, "split"), (("B", 2, 4), 4, 2, "split"),
        (("B", 7), 3, 1, "array_split"), (("B", 3), 2, 0, "array_split"),
        (("B", 2), 3, 0, "array_split"), ((5, "B"), 4, 1, "array_split"),
        ((2, 2), 5, 1, "array_split")]:
    for _k in range(_n):
        row("split", lambda x, _n=_n, _k=_k, _a=_axis, _f=_fn: getattr(gc, _f)(x, _n, _a)[_k],
            lambda B, a, _n=_n, _k=_k, _a=_axis, _f=_fn: _part_ref(
                a, _n, _k, _a % a.ndim, _f == "split"),
            [_shape], label=f"{_fn},{_n},axis={_axis},part={_k}")

# split at positions: parts are basic slices (getitem nodes)
for _shape, _pos, _axis in [(("B", 6), (1, 4), 1), (("B", 6), (2, -1), -1), ((5, "B"), (3,), 0)]:
    for _k in range(len(_pos) + 1):
        _b = [None, *_pos, None]
        row("getitem", lambda x, _p=_pos, _k=_k, _a=_axis: gc.split(x, list(_p), axis=_a)[_k],
            lambda B, a, _lo=_b[_k], _hi=_b[_k + 1], _a=_axis: a[
                (slice(None),) * (_a % a.ndim) + (slice(_lo, _hi),)].copy(),
            [_shape], label=f"split-at{_pos},axis={_axis},part={_k}")


# -------------------------------------------------------------------------------- flip


def _flip_ref(a, axis):
    axes = range(a.ndim) if axis is None else (axis if isinstance(axis, tuple) else (axis,))
    out = a
    for ax in axes:
        n = out.shape[ax % a.ndim]
        out = np.take(out, np.arange(n - 1, -1, -1, dtype=np.intp), axis=ax % a.ndim)
    return out


for _shape, _axis, _kind in [(("B", 3, 4), None, "real"), (("B", 4), 1, "real"),
                             (("B", 3, 4), (0, 2), "real"), ((), None, "real"),
                             ((4,), -1, "real"), (("B", 4), 0, "bool"),
                             (("B", 3), (), "int")]:
    row("flip", lambda x, _a=_axis: gc.flip(x, _a), lambda B, a, _a=_axis: _flip_ref(a, _a),
        [_shape], [_kind], label=f"axis={_axis}")


# -------------------------------------------------------------------------------- roll


def _roll_ref(a, shift, axis):
    """out[i] = a[(i - shift) mod n] along each axis (axis None: of the flattened array)."""
    if axis is None:
        flat = a.reshape(-1)
        n = flat.size
        s = sum(shift) if isinstance(shift, tuple) else shift
        return np.take(flat, (np.arange(n) - s) % max(n, 1)).reshape(a.shape) if n else a.copy()
    shifts = shift if isinstance(shift, tuple) else (shift,)
    axes = axis if isinstance(axis, tuple) else (axis,)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    out = a
    for s, ax in zip(shifts, axes):
        n = out.shape[ax]
        out = np.take(out, (np.arange(n) - s) % max(n, 1), axis=ax) if n else out
    return out


for _shape, _shift, _axis, _kind in [
        (("B", 5), 2, 1, "real"), (("B", 5), -7, None, "real"), (("B", 5), 13, -1, "real"),
        (("B", 3, 4), (1, -2), (0, 2), "real"), (("B", 4), 3, (1, 1), "real"),
        (("B", 4), (1, 2), 0, "real"), ((4,), 1, 0, "int"), ((), 3, None, "real"),
        (("B", 3), 1, 0, "bool"), ((3, 4), (0, 4), (0, 1), "real")]:
    row("roll", lambda x, _s=_shift, _a=_axis: gc.roll(x, _s, _a),
        lambda B, a, _s=_shift, _a=_axis: _roll_ref(a, _s, _a), [_shape], [_kind],
        label=f"{_shift},axis={_axis}")

# a shift that is a dim: B places along an axis of 5, half the length along a B axis
row("roll", lambda x: gc.roll(x, x.shape[0], axis=1),
    lambda B, a: _roll_ref(a, B, 1), [("B", 5)], label="shift=B")
row("roll", lambda x: gc.roll(x, -(x.shape[1] // 2), axis=(1,)),
    lambda B, a: _roll_ref(a, -(B // 2), 1), [(2, "B")], label="shift=-(B//2)")


# ---------------------------------------------------------- moveaxis, ravel, flatten


def _move_ref(a, src, dst):
    src = [s % a.ndim for s in (src if isinstance(src, tuple) else (src,))]
    dst = [d % a.ndim for d in (dst if isinstance(dst, tuple) else (dst,))]
    order = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return np.einsum(a, list(range(a.ndim)), order)


for _shape, _src, _dst in [(("B", 3, 4), 0, -1), (("B", 3, 4), -1, 0),
                           (("B", 3, 4), (0, 1), (2, 0)), ((2, "B"), 1, 1)]:
    row("transpose", lambda x, _s=_src, _d=_dst: gc.moveaxis(x, _s, _d),
        lambda B, a, _s=_src, _d=_dst: _move_ref(a, _s, _d), [_shape],
        label=f"moveaxis{_src}->{_dst}")

for _fn in ("ravel", "flatten"):
    for _shape in [("B", 3, 4), (), (3, "B")]:
        row("reshape", lambda x, _f=_fn: getattr(gc, _f)(x),
            lambda B, a: np.array([v for v in a.flat], a.dtype).reshape(a.size), [_shape],
            label=_fn)
