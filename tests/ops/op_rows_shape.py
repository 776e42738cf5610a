"""Op-table rows of pad, tile and repeat (run inside tests/ops/test_op_table.py)."""

# ruff: noqa: F821  (row, gc, np come from the table's namespace)
# ------------------------------------------------------------------- pad, tile, repeat


def _pad_ref(a, widths, mode, value=0):
    """np.pad by an index map per axis (-1 reads the constant): edge clamps, reflect mirrors
    about the end entries."""
    out = a
    for axis, (b, e) in enumerate(widths):
        n = out.shape[axis]
        j = np.arange(-b, n + e)
        if mode == "edge":
            src = np.clip(j, 0, n - 1)
        elif mode == "reflect":
            src = np.where(j < 0, -j, np.where(j >= n, 2 * (n - 1) - j, j))
        else:
            src = np.where((j >= 0) & (j < n), j, -1)
        out = np.take(out, np.maximum(src, 0), axis=axis)
        if mode == "constant":
            shape = [1] * out.ndim
            shape[axis] = len(j)
            out = np.where((src < 0).reshape(shape), np.asarray(value, out.dtype), out)
    return out


for _shape, _w, _mode, _v in [
        (("B", 4), ((0, 0), (1, 2)), "constant", 0), (("B", 3), ((2, 1), (0, 3)), "constant", 1.5),
        ((), (), "constant", 0), (("B", 4), ((1, 2), (2, 0)), "edge", 0),
        (("B", 2, 3), ((0, 0), (1, 1), (0, 2)), "edge", 0),
        (("B", 4), ((0, 0), (3, 1)), "reflect", 0), ((3, "B", 5), ((2, 1), (0, 0), (4, 4)),
                                                     "reflect", 0)]:
    _ww = _w if _w else 0
    row("pad", lambda x, _ww=_ww, _m=_mode, _v=_v: gc.pad(x, _ww, _m, constant_values=_v),
        lambda B, a, _w=_w, _m=_mode, _v=_v: _pad_ref(a, _w, _m, _v), [_shape],
        label=f"{_mode},{_w}")


def _tile_ref(a, reps):
    """np.tile by an index map: output entry i of an axis of size d reads entry i % d."""
    reps = (1,) * (a.ndim - len(reps)) + tuple(reps)
    out = a.reshape((1,) * (len(reps) - a.ndim) + a.shape)
    for axis, r in enumerate(reps):
        d = out.shape[axis]
        out = np.take(out, np.arange(r * d) % max(d, 1), axis=axis) if d else out
    return out


for _shape, _reps in [(("B", 3), (2, 3)), (("B", 3), 2), (("B",), (2, 1)), ((), (2, 3)),
                      (("B", 2), (0, 2)), ((2, "B"), (3, 1, 1))]:
    row("tile", lambda x, _r=_reps: gc.tile(x, _r),
        lambda B, a, _r=_reps: _tile_ref(a, _r if isinstance(_r, tuple) else (_r,)), [_shape],
        label=str(_reps))


def _repeat_ref(a, r, axis):
    """np.repeat by an index map: entry i of the repeated axis reads entry i // r."""
    if axis is None:
        a, axis = a.reshape(-1), 0
    return np.take(a, np.arange(r * a.shape[axis]) // max(r, 1), axis=axis)


for _shape, _r, _axis in [(("B", 3), 2, 1), (("B", 3), 3, 0), (("B", 3), 2, None),
                          (("B", 3, 2), 0, -1), ((), 3, None), (("B", 4), 1, -2)]:
    row("repeat", lambda x, _r=_r, _a=_axis: gc.repeat(x, _r, axis=_a),
        lambda B, a, _r=_r, _a=_axis: _repeat_ref(a, _r, _a), [_shape],
        label=f"{_r},axis={_axis}")
