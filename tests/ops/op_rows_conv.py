"""Op-table rows for the conv family (run in ``test_op_table``'s namespace: ``row``, ``conc``).

The references are direct loops over output positions and kernel offsets on ``np.pad``-ed
inputs, written from torch's definitions (output sizes, ceil mode, divisors, first max at
ties), independent of the im2col/strided kernels under test.
"""

# ruff: noqa: F821  (row and np come from test_op_table's namespace)

import itertools as _it

import numpy as np

import graphc as gc


def _pool_len(n, k, s, p, d, ceil):
    """torch's pooling output size (pooling_output_shape)."""
    span = d * (k - 1) + 1
    num = n + 2 * p - span
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _padded(x, lo, hi, fill):
    """x padded by lo before and hi after on every spatial axis (a negative hi crops)."""
    nd = x.ndim - 2
    crop = tuple(slice(0, x.shape[2 + t] + min(hi[t], 0)) for t in range(nd))
    x = x[(slice(None), slice(None), *crop)]
    return np.pad(x, [(0, 0), (0, 0)] + [(lo[t], max(hi[t], 0)) for t in range(nd)],
                  constant_values=fill)


def _conv_ref(x, w, stride, pads, dil, groups):
    nd = x.ndim - 2
    k = w.shape[2:]
    xp = _padded(x, [p[0] for p in pads], [p[1] for p in pads], 0)
    m = [(xp.shape[2 + t] - dil[t] * (k[t] - 1) - 1) // stride[t] + 1 for t in range(nd)]
    N, co = x.shape[0], w.shape[0]
    cg, og = w.shape[1], co // groups
    out = np.zeros((N, co, *m), np.result_type(x, w))
    for o in range(co):
        c0 = (o // og) * cg
        for pos in np.ndindex(*m):
            win = tuple(slice(pos[t] * stride[t], pos[t] * stride[t] + dil[t] * (k[t] - 1) + 1,
                              dil[t]) for t in range(nd))
            part = xp[(slice(None), slice(c0, c0 + cg), *win)]
            out[(slice(None), o, *pos)] = (part * w[o]).reshape(N, -1).sum(axis=1)
    return out


def _conv_t_ref(y, w, stride, pads, dil, groups, size):
    """The transposed conv by scattering each input element times the kernel."""
    nd = y.ndim - 2
    k = w.shape[2:]
    m = y.shape[2:]
    N, co, cg = y.shape[0], w.shape[0], w.shape[1]
    og = co // groups
    lo = [p[0] for p in pads]
    reach = [max((m[t] - 1) * stride[t] + dil[t] * (k[t] - 1) + 1, lo[t] + size[t])
             for t in range(nd)]
    full = np.zeros((N, cg * groups, *reach), np.result_type(y, w))
    for o in range(co):
        c0 = (o // og) * cg
        for pos in np.ndindex(*m):
            for kk in np.ndindex(*k):
                q = tuple(pos[t] * stride[t] + kk[t] * dil[t] for t in range(nd))
                full[(slice(None), slice(c0, c0 + cg), *q)] += (
                    y[(slice(None), o, *pos)][:, None] * w[(o, slice(None), *kk)][None, :])
    return full[(slice(None), slice(None), *(slice(lo[t], lo[t] + size[t]) for t in range(nd)))]


def _conv_w_ref(x, g, stride, pads, dil, groups, kernel):
    nd = x.ndim - 2
    xp = _padded(x, [p[0] for p in pads], [p[1] for p in pads], 0)
    m = g.shape[2:]
    co, C = g.shape[1], x.shape[1]
    cg, og = C // groups, co // groups
    out = np.zeros((co, cg, *kernel), np.result_type(x, g))
    for o in range(co):
        c0 = (o // og) * cg
        for kk in np.ndindex(*kernel):
            for pos in np.ndindex(*m):
                q = tuple(pos[t] * stride[t] + kk[t] * dil[t] for t in range(nd))
                out[(o, slice(None), *kk)] += (
                    g[(slice(None), o, *pos)][:, None] * xp[(slice(None), slice(c0, c0 + cg), *q)]
                ).sum(axis=0)
    return out


def _windows(n, k, s, p, d, ceil):
    """Per axis: the output length and each window's input positions (may fall outside)."""
    m = _pool_len(n, k, s, p, d, ceil)
    return m, [[i * s - p + j * d for j in range(k)] for i in range(m)]


def _max_pool_ref(x, k, s, p, d, ceil, what="max", g=None):
    """max (values), idx (torch's flat indices: first max in the window) or grad (g added
    at each window's max)."""
    nd = x.ndim - 2
    n = x.shape[2:]
    axes = [_windows(n[t], k[t], s[t], p[t], d[t], ceil) for t in range(nd)]
    m = [a[0] for a in axes]
    vals = np.zeros((*x.shape[:2], *m), x.dtype)
    idx = np.zeros((*x.shape[:2], *m), np.int64)
    grad = np.zeros(x.shape, x.dtype if g is None else np.result_type(x, g))
    for nc in np.ndindex(*x.shape[:2]):
        for pos in np.ndindex(*m):
            best, where = -np.inf, None
            for q in _it.product(*(axes[t][1][pos[t]] for t in range(nd))):
                if all(0 <= q[t] < n[t] for t in range(nd)) and (where is None
                                                                  or x[nc + q] > best):
                    best, where = x[nc + q], q
            vals[nc + pos] = best
            idx[nc + pos] = np.ravel_multi_index(where, n)
            if g is not None:
                grad[nc + where] += g[nc + pos]
    return {"max": vals, "idx": idx, "grad": grad}[what]


def _avg_pool_ref(x, k, s, p, ceil, include, divisor=None):
    nd = x.ndim - 2
    n = x.shape[2:]
    axes = [_windows(n[t], k[t], s[t], p[t], 1, ceil) for t in range(nd)]
    m = [a[0] for a in axes]
    out = np.zeros((*x.shape[:2], *m), x.dtype)
    for pos in np.ndindex(*m):
        total = np.zeros(x.shape[:2], np.float64)
        count_in, count_pad = 1, 1
        for t in range(nd):
            start = pos[t] * s[t] - p[t]
            count_pad *= min(start + k[t], n[t] + p[t]) - start
            count_in *= min(start + k[t], n[t]) - max(start, 0)
        for q in _it.product(*(axes[t][1][pos[t]] for t in range(nd))):
            if all(0 <= q[t] < n[t] for t in range(nd)):
                total += x[(slice(None), slice(None), *q)]
        div = divisor if divisor is not None else (count_pad if include else count_in)
        out[(slice(None), slice(None), *pos)] = total / div
    return out


def _avg_pool_grad_ref(g, k, s, p, ceil, include, size, divisor=None):
    nd = g.ndim - 2
    out = np.zeros((*g.shape[:2], *size), g.dtype)
    for pos in np.ndindex(*g.shape[2:]):
        count_in, count_pad = 1, 1
        for t in range(nd):
            start = pos[t] * s[t] - p[t]
            count_pad *= min(start + k[t], size[t] + p[t]) - start
            count_in *= min(start + k[t], size[t]) - max(start, 0)
        div = divisor if divisor is not None else (count_pad if include else count_in)
        for q in _it.product(*([pos[t] * s[t] - p[t] + j for j in range(k[t])]
                               for t in range(nd))):
            if all(0 <= q[t] < size[t] for t in range(nd)):
                out[(slice(None), slice(None), *q)] += g[(slice(None), slice(None), *pos)] / div
    return out


def _tup(v, nd):
    return tuple(v) if isinstance(v, tuple) else (v,) * nd


# ------------------------------------------------------------------------------------ conv
# (x shape, w shape, stride, padding, dilation, groups)
_CONV_ROWS = [
    (("B", 3, 7), (4, 3, 3), 1, 0, 1, 1),
    ((2, 4, "B"), (6, 2, 2), 1, 1, 1, 2),  # a symbolic length: padded B + 2 >= 2
    (("B", 2, 6, 5), (3, 2, 3, 2), (2, 1), (1, 0), (1, 2), 1),
    ((2, 4, 7, 6), (4, 1, 3, 3), 2, 1, 1, 4),  # depthwise
    (("B", 2, 5, 4, 4), (3, 2, 2, 3, 2), 1, (1, 0, 1), 1, 1),
    (("B", 3, 6, 5), (2, 3, 4, 3), 1, "same", (2, 1), 1),  # odd total: one more after
    ((1, 2, 4, 4), (2, 2, 1, 1), 1, "valid", 1, 1),
]
for _xs, _ws, _s, _p, _d, _g in _CONV_ROWS:
    _nd = len(_xs) - 2
    _S, _D = _tup(_s, _nd), _tup(_d, _nd)
    if _p == "same":
        _P = tuple((_D[t] * (_ws[2 + t] - 1) // 2, _D[t] * (_ws[2 + t] - 1)
                    - _D[t] * (_ws[2 + t] - 1) // 2) for t in range(_nd))
    elif _p == "valid":
        _P = ((0, 0),) * _nd
    else:
        _P = tuple((q, q) for q in _tup(_p, _nd))
    row("conv", lambda x, w, _s=_s, _p=_p, _d=_d, _g=_g: gc.conv(x, w, stride=_s, padding=_p,
                                                                  dilation=_d, groups=_g),
        lambda B, x, w, _S=_S, _P=_P, _D=_D, _g=_g: _conv_ref(x, w, _S, _P, _D, _g),
        [_xs, _ws], label=f"s={_s},p={_p},d={_d},g={_g}")
# a negative after-padding (a crop), as a transposed conv's gradient makes
row("conv", lambda x, w: x.graph.apply("conv", [x, w], {"padding": ((1, -2),), "stride": 2}),
    lambda B, x, w: _conv_ref(x, w, (2,), ((1, -2),), (1,), 1), [("B", 2, 9), (3, 2, 3)],
    label="crop")

# ------------------------------------------------------------------------- conv_transpose
# (x shape, w shape, stride, padding, output_padding, dilation, groups)
_CONVT_ROWS = [
    (("B", 3, 5), (3, 2, 3), 2, 1, 1, 1, 1),
    ((2, 4, "B"), (4, 1, 2), 1, 0, 1, 2, 4),  # output_padding > padding: hi < 0
    (("B", 4, 3, 4), (4, 3, 3, 2), (2, 1), (1, 0), (1, 0), 1, 2),
    (("B", 2, 2, 3, 2), (2, 2, 2, 2, 3), 2, (0, 1, 1), (1, 0, 1), (1, 1, 2), 1),
]
for _xs, _ws, _s, _p, _op, _d, _g in _CONVT_ROWS:
    _nd = len(_xs) - 2
    _S, _D, _Pd, _OP = _tup(_s, _nd), _tup(_d, _nd), _tup(_p, _nd), _tup(_op, _nd)

    def _size(n, _S=_S, _D=_D, _Pd=_Pd, _OP=_OP, _ws=_ws, _nd=_nd):
        return [(n[t] - 1) * _S[t] - 2 * _Pd[t] + _D[t] * (_ws[2 + t] - 1) + _OP[t] + 1
                for t in range(_nd)]

    row("conv_transpose",
        lambda x, w, _s=_s, _p=_p, _op=_op, _d=_d, _g=_g: gc.conv_transpose(
            x, w, stride=_s, padding=_p, output_padding=_op, dilation=_d, groups=_g),
        lambda B, x, w, _S=_S, _Pd=_Pd, _D=_D, _g=_g, _size=_size: _conv_t_ref(
            x, w, _S, [(q, q) for q in _Pd], _D, _g, _size(x.shape[2:])),
        [_xs, _ws], label=f"s={_s},p={_p},op={_op},d={_d},g={_g}")

# ----------------------------------------------------------------------- conv_weight_grad
# (x shape, g shape, kernel, stride, padding pairs, dilation, groups)
_CONVW_ROWS = [
    (("B", 3, 7), ("B", 4, 5), (3,), (1,), ((0, 0),), (1,), 1),
    (("B", 4, 6, 5), ("B", 2, 3, 5), (2, 3), (2, 1), ((1, 0), (1, 1)), (1, 1), 2),
    ((2, 2, 5, 4, 4), (2, 3, 3, 1, 2), (2, 2, 2), (2, 1, 2), ((0, 1), (0, -1), (1, 0)),
     (1, 2, 1), 1),
]
for _xs, _gs, _k, _s, _p, _d, _g in _CONVW_ROWS:
    row("conv_weight_grad",
        lambda x, g, _k=_k, _s=_s, _p=_p, _d=_d, _g=_g: x.graph.apply(
            "conv_weight_grad", [x, g],
            {"kernel": _k, "stride": _s, "padding": _p, "dilation": _d, "groups": _g}),
        lambda B, x, g, _k=_k, _s=_s, _p=_p, _d=_d, _g=_g: _conv_w_ref(x, g, _s, _p, _d, _g,
                                                                        _k),
        [_xs, _gs], label=f"k={_k},s={_s},p={_p},d={_d},g={_g}")

# ---------------------------------------------------------------------------------- pools
# (x shape, kernel, stride, padding, dilation, ceil_mode, data)
_MAXP_ROWS = [
    (("B", 2, 7), (3,), (2,), (1,), (1,), False, "real"),
    (("B", 2, 7), (3,), (2,), (1,), (1,), True, "int"),  # ties: the first max
    ((2, 3, "B"), (1,), (1,), (0,), (1,), False, "real"),
    (("B", 2, 6, 5), (2, 3), (2, 2), (1, 1), (1, 1), True, "int"),
    (("B", 1, 7, 6), (2, 2), (1, 2), (0, 1), (2, 1), False, "real"),
    ((2, 2, 4, 5, 3), (2, 2, 2), (2, 1, 2), (1, 0, 0), (1, 2, 1), True, "real"),
]
for _xs, _k, _s, _p, _d, _c, _kind in _MAXP_ROWS:
    _at = {"kernel": _k, "stride": _s, "padding": _p, "dilation": _d, "ceil_mode": _c}
    _lab = f"k={_k},s={_s},p={_p},d={_d},ceil={_c},{_kind}"
    row("max_pool", lambda x, _at=_at: gc.max_pool(x, _at["kernel"], _at["stride"],
                                                   _at["padding"], _at["dilation"],
                                                   _at["ceil_mode"]),
        lambda B, x, _at=_at: _max_pool_ref(x, _at["kernel"], _at["stride"], _at["padding"],
                                            _at["dilation"], _at["ceil_mode"]),
        [_xs], [_kind], label=_lab)
    row("max_pool_indices", lambda x, _at=_at: gc.max_pool(
            x, _at["kernel"], _at["stride"], _at["padding"], _at["dilation"], _at["ceil_mode"],
            return_indices=True)[1],
        lambda B, x, _at=_at: _max_pool_ref(x, _at["kernel"], _at["stride"], _at["padding"],
                                            _at["dilation"], _at["ceil_mode"], "idx"),
        [_xs], [_kind], label=_lab)
    _m = tuple(d if isinstance(d, str) else _pool_len(d, *a) for d, a in zip(
        _xs[2:], zip(_k, _s, _p, _d, (_c,) * 3))) if "B" not in _xs[2:] else None
    if _m is not None:
        row("max_pool_grad",
            lambda x, g, _at=_at: x.graph.apply("max_pool_grad", [x, g], _at),
            lambda B, x, g, _at=_at: _max_pool_ref(x, _at["kernel"], _at["stride"],
                                                   _at["padding"], _at["dilation"],
                                                   _at["ceil_mode"], "grad", g),
            [_xs, (*_xs[:2], *_m)], [_kind, "real"], label=_lab)

# (x shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
_AVGP_ROWS = [
    (("B", 2, 7), (3,), (2,), (1,), False, True, None),
    (("B", 2, 8), (3,), (2,), (1,), True, False, None),
    ((2, 3, "B"), (1,), (1,), (0,), False, True, None),
    (("B", 2, 6, 5), (2, 3), (2, 2), (1, 1), True, True, None),
    (("B", 1, 7, 6), (3, 2), (2, 1), (1, 0), True, False, None),
    (("B", 1, 5, 5), (2, 2), (2, 2), (1, 1), True, True, 3),
    ((2, 2, 4, 5, 3), (2, 3, 2), (2, 2, 1), (1, 1, 0), True, False, None),
]
for _xs, _k, _s, _p, _c, _inc, _dv in _AVGP_ROWS:
    _at = {"kernel": _k, "stride": _s, "padding": _p, "ceil_mode": _c,
           "count_include_pad": _inc, "divisor": _dv}
    _lab = f"k={_k},s={_s},p={_p},ceil={_c},include={_inc},div={_dv}"
    row("avg_pool", lambda x, _at=_at: gc.avg_pool(x, _at["kernel"], _at["stride"],
                                                   _at["padding"], _at["ceil_mode"],
                                                   _at["count_include_pad"], _at["divisor"]),
        lambda B, x, _at=_at: _avg_pool_ref(x, _at["kernel"], _at["stride"], _at["padding"],
                                            _at["ceil_mode"], _at["count_include_pad"],
                                            _at["divisor"]),
        [_xs], label=_lab)
    if "B" not in _xs[2:]:
        _size = _xs[2:]
        _m = tuple(_pool_len(n, k, s, p, 1, _c) for n, k, s, p in zip(_size, _k, _s, _p))
        row("avg_pool_grad",
            lambda g, _at=_at, _size=_size: g.graph.apply("avg_pool_grad", [g],
                                                          {**_at, "size": _size}),
            lambda B, g, _at=_at, _size=_size: _avg_pool_grad_ref(
                g, _at["kernel"], _at["stride"], _at["padding"], _at["ceil_mode"],
                _at["count_include_pad"], _size, _at["divisor"]),
            [(*_xs[:2], *_m)], label=_lab)

# a symbolic input size for the pooling gradient: the size attribute holds B + 1
row("avg_pool_grad",
    lambda g: g.graph.apply("avg_pool_grad", [g], {
        "kernel": (2,), "stride": (1,), "padding": (0,), "ceil_mode": False,
        "count_include_pad": True, "divisor": None, "size": (gc.Dim("B") + 1,)}),
    lambda B, g: _avg_pool_grad_ref(g, (2,), (1,), (0,), False, True, (B + 1,)),
    [(2, 2, "B")], label="size=B+1")
