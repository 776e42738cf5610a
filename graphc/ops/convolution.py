"""Convolution and pooling, N-d (1 to 3 spatial dims), channels-first as in torch.

Layouts are torch's: ``x`` is ``(N, C, *spatial)``, a conv weight ``(C_out, C_in/groups,
*kernel)``, a transposed conv's weight ``(C_in, C_out/groups, *kernel)``. The batch and the
spatial sizes may be symbolic: output sizes are dim expressions, and the condition that a
window fits the padded input is checked when the symbols are bound.

One relation underlies the three conv ops. Along each spatial axis, with stride ``s``,
dilation ``d`` and the leading padding ``lo``,

    y[i] = sum_k x[i*s + k*d - lo] * w[k]        (x is 0 outside [0, n))

for ``i`` in ``[0, m)``. ``conv`` computes ``y`` from ``(x, w)`` (``m`` from the padded size
``n + lo + hi``, as torch), ``conv_transpose`` its adjoint in ``x`` (``(y, w) -> x`` of a
given size ``n``) and ``conv_weight_grad`` its adjoint in ``w`` (``(x, y) -> w`` of a given
kernel size). Every op keeps both paddings ``(lo, hi)``, so each one's gradients are the
other two with the same attributes: gradients of any order stay in the family. A negative
``hi`` crops the input's end (how a transposed conv's ``output_padding`` larger than its
``padding`` comes back as a conv).

The numpy lowering reads windows through gather tables made once per geometry (each
window's positions in a sample flattened over its channels and spatial axes, a zero or -inf
appended for the padding; see ``_window_table``): ``conv`` gathers columns ``(N, C*K, M)``
and runs one batched BLAS matmul with the weight (groups are a batch axis); its weight
gradient gathers the columns window-major and runs one matmul over the batch and the
windows at once; its input gradient (``conv_transpose``) runs a batched matmul with the
weight transposed, then col2im as one gather through the adjoint table and a sum over the
kernel offsets. Pooling gathers every window's values offset-major (one contiguous row per
offset) and reduces over the offsets; the max pool's gradient finds each window's argmax
(torch's choice at ties and NaNs) with a few passes per offset and gathers the gradient back
through the adjoint table (``max_pool_indices``, which no gradient needs, keeps a stack of
strided slices). Every kernel writes into the memory plan's buffer (``out=``).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from graphc.errors import ShapeError
from graphc.ir.dims import Constraint, Shape, at_least, definitely_equal, window_out_size
from graphc.ir.dtypes import probe_dtype
from graphc.ir.graph import build_error
from graphc.ir.opdef import OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops._common import wrap

# =============================================================================== kernels
# numpy kernels shared by the reference ``compute`` and the generated code (``ctx.ref``);
# each takes the node's concrete output shape, then ``out=`` (a buffer to write into).


def _sl(start: int, count: int, step: int) -> slice:
    """``count`` positions from ``start`` every ``step``."""
    return slice(start, start + (count - 1) * step + 1, step)


def _fit(x: np.ndarray, lo: Sequence[int], length: Sequence[int], fill: float) -> np.ndarray:
    """``x``'s spatial axes re-framed to ``length``: ``out[i] = x[i - lo]``, ``fill`` where
    that falls outside ``x`` (padding before, padding or cropping after). A view of ``x``
    when nothing is padded."""
    n = x.shape[2:]
    if not any(lo) and all(L <= s for L, s in zip(length, n)):
        return x[(Ellipsis, *(slice(0, L) for L in length))]
    shape = x.shape[:2] + tuple(length)
    out = np.zeros(shape, x.dtype) if fill == 0 else np.full(shape, fill, x.dtype)
    dst, src = [], []
    for p, L, s in zip(lo, length, n):
        a, b = min(p, L), min(p + s, L)
        if b <= a:
            return out
        dst.append(slice(a, b))
        src.append(slice(0, b - p))
    out[(Ellipsis, *dst)] = x[(Ellipsis, *src)]
    return out


def _spans(kernel, dilation) -> list[int]:
    return [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]


# Every window read is a gather through an index table made once per geometry (cached):
# numpy's elementwise copies of windows are strided passes with inner loops as short as a
# row of the output (4 elements for a 4x4 map), which cost several times a gather. The
# tables index one sample at a time (x flattened over its channels and spatial axes), so
# their size does not depend on the batch (an intp per value gathered from one sample:
# about twice that sample's float32 columns; each cache keeps its last 32 geometries); each
# image (channel) may be followed by one fill element that the padding reads.


def _geometry(*attrs) -> tuple:
    """Attributes as the tables' cache key: tuples of ints."""
    return tuple(tuple(int(v) for v in a) for a in attrs)


@functools.lru_cache(maxsize=256)
def _window_table(n, kernel, stride, lo, dilation, m) -> tuple[np.ndarray, bool]:
    """The windows of one image, ``(K, M)`` intp (kernel offsets and windows each in
    row-major order): entry ``[k, i]`` is the flat position within x's spatial axes of
    ``x[i*s + k*d - lo]``, or ``P = prod(n)`` where that lies outside x (in the padding).
    Also whether any entry is ``P``. Read-only."""
    nd = len(n)
    pos = np.zeros((1,) * (2 * nd), np.intp)
    inside = np.ones((1,) * (2 * nd), bool)
    for t, (nt, k, s, p, d, mt) in enumerate(zip(n, kernel, stride, lo, dilation, m)):
        at = [1] * (2 * nd)
        at[t], at[nd + t] = k, mt
        q = ((np.arange(k) * d)[:, None] + (np.arange(mt) * s - p)[None, :]).reshape(at)
        inside = inside & (q >= 0) & (q < nt)
        pos = pos * nt + q
    table = np.where(inside, pos, math.prod(n))
    table = np.ascontiguousarray(np.broadcast_to(table, (*kernel, *m)).reshape(
        math.prod(kernel), math.prod(m)))
    table.flags.writeable = False
    return table, not inside.all()


@functools.lru_cache(maxsize=256)
def _adjoint_table(n, kernel, stride, lo, dilation, m) -> np.ndarray:
    """The transpose of ``_window_table``, ``(K, P)`` intp: entry ``[k, p]`` is the window
    ``i`` whose offset ``k`` reads x's position ``p`` (at most one does), or ``M =
    prod(m)`` where none does. Read-only."""
    table, _ = _window_table(n, kernel, stride, lo, dilation, m)
    K, M = table.shape
    adj = np.full((K, math.prod(n) + 1), M, np.intp)
    adj[np.arange(K)[:, None], table] = np.arange(M)  # reads of the padding land in the end
    adj = np.ascontiguousarray(adj[:, :-1])
    adj.flags.writeable = False
    return adj


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def _channels(table: np.ndarray, C: int, width: int) -> np.ndarray:
    """``table``'s positions in each of ``C`` images of ``width`` elements, the channel
    axis inserted before the table's last axis: ``(..., C, last)``."""
    return table[..., None, :] + (np.arange(C, dtype=np.intp) * width)[:, None]


@functools.lru_cache(maxsize=32)
def _pool_tables(C, n, kernel, stride, lo, dilation, m):
    """For pooling ``C`` images: the gather of every window's values, offset-major, ``(K,
    C*M)`` (each offset's values one contiguous row); whether it reads padding (then each
    image is followed by a fill element); each window's first offset inside x, ``(C*M,)``
    (0 for a window wholly outside; None without padding); and the scatter back, ``(R,
    C*P)``: the ``j``-th reader (in offset order) of each position of x as its place
    ``k*C*M + c*M + i`` among the offset-major values, ``K*C*M`` (a zero appended to them)
    where the position has fewer readers; ``R`` is the most readers of any position (1
    when the windows do not overlap)."""
    table, padded = _window_table(n, kernel, stride, lo, dilation, m)
    adj = _adjoint_table(n, kernel, stride, lo, dilation, m)
    (K, M), P = table.shape, math.prod(n)
    gather = _channels(table, C, P + padded).reshape(K, C * M)
    first = None
    if padded:
        first = _frozen(np.tile(np.argmax(table != P, axis=0), C))
    reads = adj != M
    R = max(1, int(reads.sum(axis=0).max(initial=0)))
    ks = np.argsort(~reads, axis=0, kind="stable")[:R]  # each position's readers first
    at = ks * (C * M) + np.take_along_axis(adj, ks, axis=0)  # (R, P), channel 0
    scatter = np.where(np.take_along_axis(reads, ks, axis=0)[:, None, :],
                       _channels(at, C, M), K * C * M).reshape(R, C * P)
    return _frozen(gather), padded, first, _frozen(scatter)


@functools.lru_cache(maxsize=32)
def _col2im_table(C, n, kernel, stride, lo, dilation, m) -> np.ndarray:
    """For col2im of ``C`` images: ``(K, C*P)`` intp, entry ``[k, c*P + p]`` the place of
    the column value that offset ``k`` adds to x's position ``p`` among the columns ``(C, K,
    M)`` flattened, ``C*K*M`` (a zero appended to them) where no window reads ``p`` at that
    offset."""
    adj = _adjoint_table(n, kernel, stride, lo, dilation, m)
    (K, P), M = adj.shape, math.prod(m)
    at = (np.arange(K, dtype=np.intp) * M)[:, None] + adj  # (K, P) in channel 0
    out = np.where((adj == M)[:, None, :], C * K * M, _channels(at, C, K * M))
    return _frozen(out.reshape(K, C * P))


@functools.lru_cache(maxsize=32)
def _weight_grad_table(C, n, kernel, stride, lo, dilation, m) -> tuple[np.ndarray, bool]:
    """For the weight gradient: the im2col gather window-major, ``(M, C*K)`` (a sample's
    columns as the rows of one matrix), and whether it reads padding."""
    table, padded = _window_table(n, kernel, stride, lo, dilation, m)
    K, M = table.shape
    at = _channels(table.T, C, math.prod(n) + padded)  # (M, C, K)
    return _frozen(at.reshape(M, C * K)), padded


def _samples(x, padded: bool, fill) -> np.ndarray:
    """x as ``(N, C*P)``, or ``(N, C*(P+1))`` with ``fill`` after each image when
    ``padded`` (what the tables read)."""
    N, C = x.shape[:2]
    P = math.prod(x.shape[2:])
    if not padded:
        return x.reshape(N, C * P)
    src = np.empty((N, C, P + 1), x.dtype)
    src[..., :P] = x.reshape(N, C, P)
    src[..., P] = fill
    return src.reshape(N, C * (P + 1))


def _take(src, table) -> np.ndarray:
    """``src (N, W)`` read at ``table``'s positions along its last axis: ``(N,
    *table.shape)``. Every index is in range: ``"wrap"`` only skips numpy's bounds check."""
    return np.take(src, table, axis=1, mode="wrap")


def _im2col(x, kernel, stride, lo, dilation, m) -> np.ndarray:
    """Columns ``(N, C, K, M)``: ``cols[n, c, k, i] = x[n, c, i*s + k*d - lo]`` (0 in the
    padding), one gather."""
    table, padded = _window_table(*_geometry(x.shape[2:], kernel, stride, lo, dilation, m))
    N, C = x.shape[:2]
    src = _samples(x, padded, 0).reshape(N, C, math.prod(x.shape[2:]) + padded)
    return np.take(src, table, axis=2, mode="wrap")


def _lows(padding) -> list[int]:
    return [p[0] for p in padding]


def _into(out, y, shape):
    """``y`` as ``shape``, written into ``out`` when there is one."""
    if out is None:
        return y.reshape(shape)
    np.copyto(out, y.reshape(shape))
    return out


def _view(out, shape):
    """The planned buffer ``out`` viewed as ``shape``, for a numpy call to write into; None
    without a buffer or when it is not contiguous (the result is then copied in by
    ``_into``)."""
    if out is None or not out.flags.c_contiguous:
        return None
    return out.reshape(shape)


def conv_kernel(x, w, stride, padding, dilation, groups, shape, out=None):
    """``conv``: im2col then one batched matmul, groups as a batch axis."""
    N, C = x.shape[:2]
    O, kernel, m = w.shape[0], w.shape[2:], shape[2:]  # noqa: E741
    cols = _im2col(x, kernel, stride, _lows(padding), dilation, m)
    G = groups
    K, M = (C // G) * math.prod(kernel), math.prod(m)
    to = _view(out, (N, G, O // G, M))
    y = np.matmul(w.reshape(G, O // G, K), cols.reshape(N, G, K, M), out=to)
    return out if to is not None else _into(out, y, shape)


def conv_transpose_kernel(y, w, stride, padding, dilation, groups, shape, out=None):
    """``conv_transpose``: a batched matmul with the weight transposed gives the columns
    ``(C, K, M)`` of each sample, then col2im as one gather (each input position's reads,
    one per kernel offset, a zero where no window reads it) and a sum over the offsets."""
    N, O = y.shape[:2]  # noqa: E741
    Cg, kernel, m, n = w.shape[1], w.shape[2:], y.shape[2:], shape[2:]
    G = groups
    Og, K, M = O // G, math.prod(kernel), math.prod(m)
    C = G * Cg
    table = _col2im_table(C, *_geometry(n, kernel, stride, _lows(padding), dilation, m))
    size = C * K * M
    cols = np.empty((N, size + 1), np.result_type(y.dtype, w.dtype))
    cols[:, size] = 0
    it = cols.itemsize
    into = as_strided(cols, (N, G, Cg * K, M), (cols.strides[0], Cg * K * M * it, M * it, it))
    np.matmul(w.reshape(G, Og, Cg * K).transpose(0, 2, 1), y.reshape(N, G, Og, M), out=into)
    to = _view(out, (N, C * math.prod(n)))
    r = np.add.reduce(_take(cols, table), axis=1, out=to)
    return out if to is not None else _into(out, r, shape)


def conv_weight_grad_kernel(x, g, stride, padding, dilation, groups, shape, out=None):
    """``conv_weight_grad``: im2col of x with the windows as rows (one matrix ``(N*M,
    C*K)``), then one matmul per group with g's channels first (summing over the batch and
    the windows at once)."""
    N, C = x.shape[:2]
    O, Cg, kernel, m = shape[0], shape[1], shape[2:], g.shape[2:]  # noqa: E741
    G = groups
    Og, K, M = O // G, Cg * math.prod(kernel), math.prod(m)
    table, padded = _weight_grad_table(C, *_geometry(x.shape[2:], kernel, stride,
                                                     _lows(padding), dilation, m))
    cols = _take(_samples(x, padded, 0), table)  # (N, M, C*K)
    gt = np.empty((G, Og, N, M), g.dtype)
    gt[...] = g.reshape(N, G, Og, M).transpose(1, 2, 0, 3)
    to = _view(out, (G, Og, K))
    r = np.matmul(gt.reshape(G, Og, N * M), cols.reshape(N * M, G, K).transpose(1, 0, 2),
                  out=to)
    return out if to is not None else _into(out, r, shape)


def _pool_frame(x, kernel, stride, padding, dilation, m, fill):
    """The padded input (``fill`` outside), long enough for every window (ceil mode too)."""
    spans = _spans(kernel, dilation)
    length = [(mm - 1) * s + sp for mm, s, sp in zip(m, stride, spans)]
    return _fit(x, padding, length, fill)


def _offsets(kernel, stride, dilation, m):
    """(offset index, strided slice of the padded input) for every kernel offset."""
    for j, jj in enumerate(itertools.product(*map(range, kernel))):
        yield j, (slice(None), slice(None),
                  *(_sl(jt * d, mt, s) for jt, d, mt, s in zip(jj, dilation, m, stride)))


def _pool_values(x, kernel, stride, padding, dilation, m):
    """Every max pooling window's values, offset-major per sample, ``(N, K, C*M)`` (-inf in
    the padding), and the geometry's tables (``_pool_tables``)."""
    tables = _pool_tables(x.shape[1], *_geometry(x.shape[2:], kernel, stride, padding,
                                                 dilation, m))
    return _take(_samples(x, tables[1], -np.inf), tables[0]), tables


def max_pool_kernel(x, kernel, stride, padding, dilation, ceil_mode, shape, out=None):
    """``max_pool``: the windows' values gathered offset-major (-inf padding), reduced by
    maximum over the offsets (NaN propagates)."""
    st, _ = _pool_values(x, kernel, stride, padding, dilation, shape[2:])
    to = _view(out, (st.shape[0], st.shape[2]))
    r = np.maximum.reduce(st, axis=1, out=to)
    return out if to is not None else _into(out, r, shape)


def _argmax(x, kernel, stride, padding, dilation, m):
    """Per window, the flat index into x's spatial axes of its max, as torch picks it: the
    first max in the window's (row-major) order, or its last NaN; a window without any value
    above -inf keeps its first position >= 0 (torch's start, which for a window lying wholly
    in the padding is past the input). Also where that index lies inside x (None: every
    window's does)."""
    xp = _pool_frame(x, kernel, stride, padding, dilation, m, -np.inf)
    # the windows' values as one contiguous (K, N, C, *m) stack: numpy's passes over short
    # strided rows cost several times those over contiguous memory
    st = np.stack([xp[at] for _, at in _offsets(kernel, stride, dilation, m)])
    best = np.maximum.reduce(st, axis=0)
    nd = len(kernel)
    first = np.zeros((1, 1) + tuple(m), np.int64)  # each window's first position >= 0
    for t, (s, p, d, mt) in enumerate(zip(stride, padding, dilation, m)):
        start = np.arange(mt) * s - p
        j = np.where(start < 0, (-start + d - 1) // d, 0)
        first = first + (j * math.prod(kernel[t + 1:])).reshape((mt,) + (1,) * (nd - 1 - t))
    idx = np.empty(best.shape, np.int64)
    idx[...] = first
    hit = np.empty(best.shape, bool)
    step = np.empty(best.shape, np.int64)

    def take(j, where):  # idx = j where ``where`` (arithmetic: faster than a masked copy)
        np.subtract(j, idx, out=step)
        np.multiply(step, where, out=step)
        np.add(idx, step, out=idx)

    for j in reversed(range(len(st))):  # the first max wins
        take(j, np.equal(st[j], best, out=hit))
    if np.isnan(best).any():
        for j in range(len(st)):  # the last NaN wins
            take(j, np.isnan(st[j], out=hit))
    none = best == -np.inf
    if none.any():
        np.copyto(idx, first, where=none)
    # flat index = the window's start + the offset's displacement (a table: no int division)
    n = x.shape[2:]
    sizes = [math.prod(n[t + 1:]) for t in range(nd)]
    disp = np.zeros(math.prod(kernel), np.int64)
    for j, jj in enumerate(itertools.product(*map(range, kernel))):
        disp[j] = sum(jt * d * z for jt, d, z in zip(jj, dilation, sizes))
    base = np.zeros(tuple(m), np.int64)
    for t, (s, p, mt) in enumerate(zip(stride, padding, m)):
        base = base + ((np.arange(mt) * s - p) * sizes[t]).reshape((mt,) + (1,) * (nd - 1 - t))
    flat = np.take(disp, idx)
    flat += base
    if not none.any():  # every window's max is one of x's values
        return flat, None
    # a window of -inf keeps its start: inside x unless the window lies in the padding
    out = np.zeros((1, 1) + tuple(m), bool)
    for t, (s, p, d, mt, nt) in enumerate(zip(stride, padding, dilation, m, n)):
        start = np.arange(mt) * s - p
        pos = np.where(start < 0, start + (-start + d - 1) // d * d, start)
        out = out | (pos >= nt).reshape((mt,) + (1,) * (nd - 1 - t))
    return flat, ~(none & out)


def _first_max(st, first) -> np.ndarray:
    """Per window (column of each sample's offset-major values ``st (N, K, L)``), the offset
    of its max as torch picks it: the first max in the window's order, or its last NaN (a
    NaN always wins); a window without any value above -inf keeps its first offset inside x
    (``first``; None: 0). ``(N, L)``.

    Offsets are visited in order and a later one that takes over has a larger offset, so
    the pick is the largest ``k * took`` (a multiply and a maximum: numpy's masked copies
    are many times slower)."""
    N, K, L = st.shape
    itype = np.int8 if K < 2**7 else np.int16 if K < 2**15 else np.intp
    took = np.empty((N, L), bool)
    step = np.empty((N, L), itype)

    def start():
        idx = np.zeros((N, L), itype)
        if first is not None:
            idx[...] = first
        return idx

    idx = start()
    best = st[:, 0].copy()  # offset 0 is every window's first candidate, or -inf (padding)
    for k in range(1, K):
        np.greater(st[:, k], best, out=took)
        np.maximum(best, st[:, k], out=best)  # propagates NaN: checked below
        np.maximum(idx, np.multiply(took, itype(k), out=step), out=idx)
    if np.isnan(best).any():  # redo by torch's rule: a larger value or a NaN takes over
        nan = np.empty((N, L), bool)
        best[...] = -np.inf
        idx = start()
        for k in range(K):
            np.greater(st[:, k], best, out=took)
            took |= np.isnan(st[:, k], out=nan)
            np.copyto(best, st[:, k], where=took)
            np.maximum(idx, np.multiply(took, itype(k), out=step), out=idx)
    return idx


def max_pool_grad_kernel(x, g, kernel, stride, padding, dilation, ceil_mode, shape, out=None):
    """``max_pool_grad``: each window's argmax found on its values gathered offset-major,
    g put at that offset (zeros elsewhere, one pass per offset), then gathered back onto x
    (a position summing its readers where windows overlap; a window lying wholly in the
    padding adds nothing)."""
    st, (_, _, first, scatter) = _pool_values(x, kernel, stride, padding, dilation,
                                              g.shape[2:])
    idx = _first_max(st, first)
    N, K, L = st.shape
    spread = np.empty((N, K * L + 1), np.result_type(x.dtype, g.dtype))
    spread[:, K * L] = 0
    gf = g.reshape(N, L)
    hit = np.empty((N, L), bool)
    for k in range(K):
        np.multiply(gf, np.equal(idx, k, out=hit), out=spread[:, k * L:(k + 1) * L])
    to = _view(out, (N, scatter.shape[1]))
    r = np.take(spread, scatter[0], axis=1, mode="wrap", out=to)
    for j in range(1, len(scatter)):
        r += _take(spread, scatter[j])
    return out if to is not None else _into(out, r, shape)


def max_pool_indices_kernel(x, kernel, stride, padding, dilation, ceil_mode, shape, out=None):
    """``max_pool_indices``: each window's argmax as a flat index into x's spatial axes
    (torch's ``return_indices``)."""
    return _into(out, _argmax(x, kernel, stride, padding, dilation, shape[2:])[0], shape)


def _divisor(kernel, stride, padding, n, m, count_include_pad, divisor, dtype):
    """Each window's divisor, ``m``-shaped, as torch: the window's size within the padded
    input (``count_include_pad``; the part of a ceil-mode window beyond it is not counted),
    or the number of input elements it covers; ``divisor`` overrides."""
    if divisor is not None:
        return np.asarray(divisor, dtype)
    out = np.ones((), dtype)
    nd = len(kernel)
    for t, (k, s, p, nt, mt) in enumerate(zip(kernel, stride, padding, n, m)):
        start = np.arange(mt) * s - p
        if count_include_pad:
            size = np.minimum(start + k, nt + p) - start
        else:
            size = np.minimum(start + k, nt) - np.maximum(start, 0)
        out = out * size.astype(dtype).reshape((mt,) + (1,) * (nd - 1 - t))
    return out


def _avg_divisor(kernel, stride, padding, n, m, count_include_pad, divisor, dtype):
    """``_divisor`` flattened over the windows, ``(M,)`` (for the ``(N, C, M)`` layout)."""
    d = _divisor(kernel, stride, padding, n, m, count_include_pad, divisor, dtype)
    return np.broadcast_to(d, tuple(m)).reshape(math.prod(m))


def avg_pool_kernel(x, kernel, stride, padding, ceil_mode, count_include_pad, divisor, shape,
                    out=None):
    """``avg_pool``: the windows' values gathered offset-major (zero padding), summed over
    the offsets, divided by each window's divisor."""
    N, C = x.shape[:2]
    m = shape[2:]
    dil = (1,) * len(kernel)
    gather, padded, _, _ = _pool_tables(C, *_geometry(x.shape[2:], kernel, stride, padding,
                                                      dil, m))
    M = math.prod(m)
    to = _view(out, (N, C * M))
    r = np.add.reduce(_take(_samples(x, padded, 0), gather), axis=1, out=to)
    rv = r.reshape(N, C, M)
    np.divide(rv, _avg_divisor(kernel, stride, padding, x.shape[2:], m, count_include_pad,
                               divisor, r.dtype), out=rv)
    return out if to is not None else _into(out, r, shape)


@functools.lru_cache(maxsize=32)
def _avg_scatter(C, n, kernel, stride, lo, dilation, m) -> np.ndarray:
    """``_pool_tables``' scatter with the offsets dropped: each position's readers as
    windows ``c*M + i`` of g flattened, ``C*M`` (a zero appended to it) past the last."""
    gather, _, _, scatter = _pool_tables(C, n, kernel, stride, lo, dilation, m)
    K, L = gather.shape
    return _frozen(np.where(scatter == K * L, L, scatter % L))


def avg_pool_grad_kernel(g, kernel, stride, padding, ceil_mode, count_include_pad, divisor,
                         shape, out=None):
    """``avg_pool_grad``: g divided by each window's divisor, gathered back onto x (each
    position summing the windows that read it)."""
    N, C = g.shape[:2]
    n, m = shape[2:], g.shape[2:]
    M = math.prod(m)
    scatter = _avg_scatter(C, *_geometry(n, kernel, stride, padding, (1,) * len(kernel), m))
    gs = np.empty((N, C * M + 1), g.dtype)
    gs[:, C * M] = 0
    np.divide(g.reshape(N, C, M), _avg_divisor(kernel, stride, padding, n, m,
                                               count_include_pad, divisor, g.dtype),
              out=gs[:, :C * M].reshape(N, C, M))
    to = _view(out, (N, scatter.shape[1]))
    r = np.take(gs, scatter[0], axis=1, mode="wrap", out=to)
    for j in range(1, len(scatter)):
        r += _take(gs, scatter[j])
    return out if to is not None else _into(out, r, shape)


# ========================================================================== attributes


def _int(v: Any, what: str, lo: int | None = None) -> int:
    if isinstance(v, bool) or not hasattr(v, "__index__"):
        raise TypeError(f"{what} {v!r} is not an int")
    i = int(v.__index__())
    if lo is not None and i < lo:
        raise ValueError(f"{what} must be >= {lo}, got {i}")
    return i


def _ints(v: Any, nd: int, what: str, lo: int | None = None) -> tuple[int, ...]:
    """An int or a sequence of ``nd`` ints (one per spatial axis) as a tuple of ints."""
    if isinstance(v, (list, tuple)):
        if len(v) == 1 and nd > 1:
            v = tuple(v) * nd  # torch accepts (k,) for every axis
        if len(v) != nd:
            raise ValueError(f"{what} {tuple(v)!r} must have {nd} entries, one per spatial "
                             "axis (or be a single int)")
        return tuple(_int(a, what, lo) for a in v)
    return (_int(v, what, lo),) * nd


def _flag(v: Any, what: str) -> bool:
    if not isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{what} {v!r} is not a bool")
    return bool(v)


def _pairs(v: Any, nd: int, kernel=None, stride=None, dilation=None) -> tuple:
    """Conv padding as ``((lo, hi), ...)``: from an int, one int per axis, ``(lo, hi)``
    pairs (canonical), or ``"valid"`` / ``"same"`` (needs the kernel; stride 1, as torch;
    an odd total puts the extra element after, as torch)."""
    if isinstance(v, str):
        if v == "valid":
            return ((0, 0),) * nd
        if v == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"padding='same' needs stride 1 (as torch), got stride "
                                 f"{stride}")
            out = []
            for k, d in zip(kernel, dilation):
                total = d * (k - 1)
                out.append((total // 2, total - total // 2))
            return tuple(out)
        raise ValueError(f"padding {v!r} is not an int, a tuple, 'same' or 'valid'")
    if isinstance(v, (list, tuple)) and v and all(isinstance(p, (list, tuple)) for p in v):
        if len(v) != nd or any(len(p) != 2 for p in v):
            raise ValueError(f"padding {v!r}: expected {nd} (before, after) pairs")
        return tuple((_int(a, "padding", 0), _int(b, "padding")) for a, b in v)
    return tuple((p, p) for p in _ints(v, nd, "padding", 0))


def _kernel_of(w, what: str = "the weight") -> tuple[int, ...]:
    k = w.shape[2:]
    if not all(isinstance(d, int) for d in k):
        raise ShapeError(f"{what}'s kernel sizes {Shape(k)} must be ints, not symbolic")
    if any(d < 1 for d in k):
        raise ShapeError(f"{what}'s kernel sizes {Shape(k)} must be >= 1")
    return tuple(k)


def _spatial_rank(x, w, op: str) -> int:
    """The number of spatial axes (1 to 3) of a conv's two operands."""
    nd = x.ndim - 2
    if not 1 <= nd <= 3:
        raise ShapeError(f"{op} takes (N, C, *spatial) operands with 1 to 3 spatial axes, got "
                         f"a rank-{x.ndim} input {x.shape}")
    if w.ndim != x.ndim:
        raise ShapeError(f"{op}: the operands {x.shape} and {w.shape} must have the same rank "
                         f"({nd + 2})")
    return nd


def _normalize_conv_common(nodes, attrs, kernel) -> dict:
    nd = _spatial_rank(nodes[0], nodes[1], "conv")
    stride = _ints(attrs.get("stride", 1), nd, "stride", 1)
    dilation = _ints(attrs.get("dilation", 1), nd, "dilation", 1)
    return {"stride": stride,
            "padding": _pairs(attrs.get("padding", 0), nd, kernel, stride, dilation),
            "dilation": dilation, "groups": _int(attrs.get("groups", 1), "groups", 1)}


def _conv_out(n, kernel, stride, padding, dilation) -> tuple[list, list[Constraint]]:
    """The conv's output sizes over input sizes ``n``, and the conditions that every
    window fits the padded input (a negative ``hi`` crops the input first)."""
    sizes: list = []
    needs: list[Constraint] = []
    for nt, k, s, (lo, hi), d in zip(n, kernel, stride, padding, dilation):
        if hi < 0:
            size, more = window_out_size(nt + hi, k, s, lo, 0, d)
        else:
            size, more = window_out_size(nt, k, s, lo, hi, d)
        sizes.append(size)
        needs += more
    return sizes, needs


def _float_dtype(op: str, *nodes) -> np.dtype:
    for n in nodes:
        if n.dtype.kind != "f":
            raise TypeError(f"{op} needs float operands, got {n.dtype} (cast it with astype)")
    return probe_dtype(np.matmul, *(n.dtype for n in nodes))


def _groups_divide(c, groups: int, what: str) -> None:
    if groups == 1:
        return
    if not isinstance(c, int):
        raise ShapeError(f"groups={groups} needs a concrete number of {what}, got {c}")
    if c % groups:
        raise ShapeError(f"groups={groups} must divide the {what}, {c}")


def _same_dims(got, want, what: str) -> None:
    if not all(definitely_equal(a, b) for a, b in zip(got, want)) or len(got) != len(want):
        raise ShapeError(f"{what}: got {Shape(got)}, the conv relation needs {Shape(want)}")


_COMMON = ("stride", "padding", "dilation", "groups")


# ===================================================================================== conv


def conv(x: Any, w: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
         dilation: Any = 1, groups: int = 1) -> Tensor:
    """N-d convolution (cross-correlation) as torch: ``x (N, C_in, *spatial)`` or unbatched
    ``(C_in, *spatial)``, ``w (C_out, C_in/groups, *kernel)`` with 1 to 3 spatial axes,
    ``bias (C_out,)`` or None. ``padding``: an int, one int per spatial axis, ``"valid"`` or
    ``"same"`` (stride 1; an odd total pads one more after, as torch). The batch and spatial
    sizes may be symbolic: the output sizes are dim expressions and a window larger than the
    padded input is a ShapeError when the symbols are bound."""
    return _conv_build("conv", x, w, bias, None, stride=stride, padding=padding,
                       dilation=dilation, groups=groups)


def _fail(op: str, operands, e: Exception):
    raise build_error(e, op, operands) from None


def _batch(op, x, nd, operands):
    """x with a batch axis (an unbatched input gets one) and whether it was added."""
    from graphc.ops.shape import expand_dims

    if x.ndim == nd + 1:
        return expand_dims(x, 0), True
    if x.ndim != nd + 2:
        _fail(op, operands, ShapeError(
            f"expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input with {nd} "
            f"spatial axes, got {x.shape}"))
    return x, False


def _conv_build(op, x, w, bias, nd, node_op="conv", **attrs) -> Tensor:
    from graphc.ops.shape import reshape, squeeze

    operands = [x, w] if bias is None else [x, w, bias]
    ts = wrap(operands, op)
    x, w = ts[0], ts[1]
    if nd is not None and w.ndim != nd + 2:
        _fail(op, operands, ShapeError(f"expected a {nd + 2}-D weight (C_out, C_in/groups, "
                                       f"*kernel), got {w.shape}"))
    wnd = w.ndim - 2
    if not 1 <= wnd <= 3:
        _fail(op, operands, ShapeError(
            f"the weight {w.shape} must have 1 to 3 spatial axes (rank 3 to 5)"))
    x, unbatched = _batch(op, x, wnd, operands)
    y = x.graph.apply(node_op, [x, w], attrs)
    if bias is not None:
        b = ts[2]
        c = y.shape[1]
        if b.ndim != 1 or not definitely_equal(b.shape[0], c):
            _fail(op, operands, ShapeError(f"the bias {b.shape} must be ({c},), one per "
                                           "output channel"))
        y = y + reshape(b, (c,) + (1,) * wnd)
    return squeeze(y, 0) if unbatched else y


def _normalize_conv(nodes, attrs):
    return _normalize_conv_common(nodes, attrs, _kernel_of(nodes[1]))


def _conv_check(x, w, attrs) -> tuple[list, list[Constraint]]:
    groups = attrs["groups"]
    kernel = _kernel_of(w)
    _groups_divide(w.shape[0], groups, "output channels (the weight's dim 0)")
    if not definitely_equal(x.shape[1], w.shape[1] * groups):
        raise ShapeError(f"x has {x.shape[1]} input channels, but the weight {w.shape} with "
                         f"groups={groups} takes {w.shape[1] * groups}")
    return _conv_out(x.shape[2:], kernel, attrs["stride"], attrs["padding"], attrs["dilation"])


def _conv_infer(nodes, attrs):
    x, w = nodes
    dt = _float_dtype("conv", x, w)
    m, _ = _conv_check(x, w, attrs)
    return Shape((x.shape[0], w.shape[0], *m)), dt


def _conv_requires(node, operands):
    return _conv_check(operands[0], operands[1], node.attr)[1]


def _common(at: dict) -> dict:
    return {k: at[k] for k in _COMMON}


def _conv_vjp(g, out, x, at, need):
    xin, w = x
    gx = gw = None
    if need[0]:
        gx = g.graph.apply("conv_transpose", [g, w], {**_common(at), "size": tuple(xin.shape[2:])})
    if need[1]:
        gw = g.graph.apply("conv_weight_grad", [xin, g],
                           {**_common(at), "kernel": tuple(w.shape[2:])})
    return [gx, gw]


def _code(v: Any) -> str:
    """An attribute as source: ints, bools, None and tuples of them (nothing else)."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, tuple):
        return "(" + "".join(_code(a) + ", " for a in v) + ")"
    return str(int(v))


def _emit(fn, keys: tuple[str, ...]):
    """``k_<n>(operands..., attrs..., shape[, out=buffer])``: the kernel referenced from the
    namespace; the memory plan's buffer is passed when it gives one (ops with ``out=True``:
    every kernel here takes ``out=``)."""
    def emit(args, attrs, ctx):
        parts = [*args, *(_code(attrs[k]) for k in keys), ctx.shape]
        if ctx.out is not None:
            parts.append(f"out={ctx.out}")
        return f"{ctx.ref(fn, 'k')}({', '.join(parts)})"

    return emit


def _compute(fn, keys: tuple[str, ...]):
    return lambda args, attrs, shape: fn(*args, *(attrs[k] for k in keys), shape)


register(OpDef(
    name="conv", kind="reduction", infer=_conv_infer,
    compute=_compute(conv_kernel, _COMMON), emit=_emit(conv_kernel, _COMMON),
    vjp=_conv_vjp, arity=2, out=True, normalize=_normalize_conv, requires=_conv_requires,
    doc=conv.__doc__, attrs=_COMMON,
))


# ------------------------------------------------------------------------ conv_transpose


def conv_transpose(x: Any, w: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
                   output_padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """N-d transposed convolution as torch's ``conv_transpose{1,2,3}d``: ``x (N, C_in,
    *spatial)`` or unbatched, ``w (C_in, C_out/groups, *kernel)``, ``bias (C_out,)``. Each
    output size is ``(n - 1)*stride - 2*padding + dilation*(kernel - 1) + output_padding + 1``
    (a dim expression for a symbolic ``n``); ``output_padding`` must be smaller than the
    stride or the dilation, as torch."""
    operands = [x, w] if bias is None else [x, w, bias]
    ts = wrap(operands, "conv_transpose")
    wt = ts[1]
    nd = wt.ndim - 2
    try:
        if not 1 <= nd <= 3:
            raise ShapeError(f"the weight {wt.shape} must have 1 to 3 spatial axes")
        kernel = _kernel_of(wt)
        stride_ = _ints(stride, nd, "stride", 1)
        dil = _ints(dilation, nd, "dilation", 1)
        pad = _ints(padding, nd, "padding", 0)
        extra = _ints(output_padding, nd, "output_padding", 0)
        for op_, s, d in zip(extra, stride_, dil):
            if op_ >= s and op_ >= d:
                raise ValueError(f"output_padding {extra} must be smaller than the stride "
                                 f"{stride_} or the dilation {dil}")
        xb = ts[0]
        if xb.ndim not in (nd + 1, nd + 2):
            raise ShapeError(f"expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input "
                             f"for a weight with {nd} spatial axes, got {xb.shape}")
        n = xb.shape[-nd:]
        size = []
        for nt, k, s, p, d, e in zip(n, kernel, stride_, pad, dil, extra):
            size.append((nt - 1) * s - 2 * p + d * (k - 1) + e + 1)
    except (ShapeError, TypeError, ValueError) as e:
        _fail("conv_transpose", operands, e)
    return _conv_build("conv_transpose", x, w, bias, None, "conv_transpose", stride=stride_,
                       padding=tuple((p, p - e) for p, e in zip(pad, extra)), dilation=dil,
                       groups=groups, size=tuple(size))


def _normalize_conv_transpose(nodes, attrs):
    if isinstance(attrs.get("padding"), str):
        raise ValueError("a transposed conv's padding is an int, a tuple or (lo, hi) pairs")
    out = _normalize_conv_common(nodes, attrs, _kernel_of(nodes[1]))
    size = attrs["size"]
    if isinstance(size, (tuple, list)) and any(isinstance(s, int) and s < 1 for s in size):
        raise ShapeError(f"the output's spatial sizes {tuple(size)} must be >= 1")
    size = tuple(Shape(size))
    if len(size) != len(out["stride"]):
        raise ShapeError(f"size {Shape(size)} must have one entry per spatial axis")
    return {**out, "size": size}


def _conv_transpose_check(y, w, attrs):
    groups = attrs["groups"]
    kernel = _kernel_of(w)
    _groups_divide(w.shape[0], groups, "input channels (the weight's dim 0)")
    if not definitely_equal(y.shape[1], w.shape[0]):
        raise ShapeError(f"x has {y.shape[1]} input channels, but the weight {w.shape} takes "
                         f"{w.shape[0]}")
    size = attrs["size"]
    m, needs = _conv_out(size, kernel, attrs["stride"], attrs["padding"], attrs["dilation"])
    _same_dims(y.shape[2:], m, f"the input's spatial sizes for an output of {Shape(size)}")
    for s in size:
        needs += at_least(s, 1, "the output size {} must be >= 1")
    return needs


def _conv_transpose_infer(nodes, attrs):
    y, w = nodes
    dt = _float_dtype("conv_transpose", y, w)
    _conv_transpose_check(y, w, attrs)
    return Shape((y.shape[0], w.shape[1] * attrs["groups"], *attrs["size"])), dt


def _conv_transpose_vjp(g, out, x, at, need):
    y, w = x
    gy = gw = None
    if need[0]:
        gy = g.graph.apply("conv", [g, w], _common(at))
    if need[1]:
        gw = g.graph.apply("conv_weight_grad", [g, y],
                           {**_common(at), "kernel": tuple(w.shape[2:])})
    return [gy, gw]


register(OpDef(
    name="conv_transpose", kind="reduction", infer=_conv_transpose_infer,
    compute=_compute(conv_transpose_kernel, _COMMON),
    emit=_emit(conv_transpose_kernel, _COMMON), vjp=_conv_transpose_vjp, arity=2, out=True,
    normalize=_normalize_conv_transpose,
    requires=lambda node, ops: _conv_transpose_check(ops[0], ops[1], node.attr),
    doc=conv_transpose.__doc__ + "\n\nThe node keeps ``padding`` as ``(lo, hi)`` pairs, "
    "``(padding, padding - output_padding)``, and the output's spatial ``size``: it is the "
    "adjoint of ``conv`` with the same attributes.",
    attrs=(*_COMMON, "size"),
))


# ---------------------------------------------------------------------- conv_weight_grad


def _normalize_conv_weight_grad(nodes, attrs):
    nd = _spatial_rank(nodes[0], nodes[1], "conv_weight_grad")
    kernel = _ints(attrs["kernel"], nd, "kernel", 1)
    return {**_normalize_conv_common(nodes, attrs, kernel), "kernel": kernel}


def _conv_weight_grad_check(x, g, attrs):
    groups, kernel = attrs["groups"], attrs["kernel"]
    _groups_divide(x.shape[1], groups, "input channels")
    _groups_divide(g.shape[1], groups, "output channels")
    if not definitely_equal(x.shape[0], g.shape[0]):
        raise ShapeError(f"x {x.shape} and the output gradient {g.shape} have different "
                         "batch sizes")
    m, needs = _conv_out(x.shape[2:], kernel, attrs["stride"], attrs["padding"],
                         attrs["dilation"])
    _same_dims(g.shape[2:], m, f"the output gradient's spatial sizes for an input {x.shape}")
    return needs


def _conv_weight_grad_infer(nodes, attrs):
    x, g = nodes
    dt = _float_dtype("conv_weight_grad", x, g)
    _conv_weight_grad_check(x, g, attrs)
    cg = x.shape[1] // attrs["groups"] if attrs["groups"] > 1 else x.shape[1]
    return Shape((g.shape[1], cg, *attrs["kernel"])), dt


def _conv_weight_grad_vjp(h, out, x, at, need):
    xin, g = x
    gx = gg = None
    if need[0]:
        gx = h.graph.apply("conv_transpose", [g, h], {**_common(at), "size": tuple(xin.shape[2:])})
    if need[1]:
        gg = h.graph.apply("conv", [xin, h], _common(at))
    return [gx, gg]


register(OpDef(
    name="conv_weight_grad", kind="reduction", infer=_conv_weight_grad_infer,
    compute=_compute(conv_weight_grad_kernel, _COMMON),
    emit=_emit(conv_weight_grad_kernel, _COMMON), vjp=_conv_weight_grad_vjp, arity=2,
    out=True,
    normalize=_normalize_conv_weight_grad,
    requires=lambda node, ops: _conv_weight_grad_check(ops[0], ops[1], node.attr),
    doc="The gradient of ``conv`` in its weight, ``(x, g) -> (C_out, C_in/groups, *kernel)``: "
    "the correlation of x with the output gradient g (the adjoint of conv in w).",
    attrs=(*_COMMON, "kernel"),
))


# ================================================================================= pooling

_MAX_POOL = ("kernel", "stride", "padding", "dilation", "ceil_mode")
_AVG_POOL = ("kernel", "stride", "padding", "ceil_mode", "count_include_pad", "divisor")


def _normalize_pool(nodes, attrs, avg: bool) -> dict:
    x = nodes[0]
    nd = x.ndim - 2
    if not 1 <= nd <= 3:
        raise ShapeError(f"pooling takes (N, C, *spatial) with 1 to 3 spatial axes, got a "
                         f"rank-{x.ndim} input {x.shape}")
    kernel = _ints(attrs["kernel"], nd, "kernel_size", 1)
    stride = attrs.get("stride")
    stride = kernel if stride is None or stride == () else _ints(stride, nd, "stride", 1)
    padding = _ints(attrs.get("padding", 0), nd, "padding", 0)
    for p, k in zip(padding, kernel):
        if 2 * p > k:
            raise ValueError(f"padding {padding} must be at most half the kernel size "
                             f"{kernel} (as torch)")
    out = {"kernel": kernel, "stride": stride, "padding": padding}
    if avg:
        divisor = attrs.get("divisor")
        out.update(ceil_mode=_flag(attrs.get("ceil_mode", False), "ceil_mode"),
                   count_include_pad=_flag(attrs.get("count_include_pad", True),
                                           "count_include_pad"),
                   divisor=None if divisor is None else _int(divisor, "divisor_override", 1))
    else:
        out.update(dilation=_ints(attrs.get("dilation", 1), nd, "dilation", 1),
                   ceil_mode=_flag(attrs.get("ceil_mode", False), "ceil_mode"))
    return out


def _pool_out(n, attrs) -> tuple[list, list[Constraint]]:
    sizes: list = []
    needs: list[Constraint] = []
    dil = attrs.get("dilation") or (1,) * len(attrs["kernel"])
    for nt, k, s, p, d in zip(n, attrs["kernel"], attrs["stride"], attrs["padding"], dil):
        size, more = window_out_size(nt, k, s, p, p, d, attrs["ceil_mode"])
        sizes.append(size)
        needs += more
    return sizes, needs


def _pool_dtype(op: str, *nodes) -> np.dtype:
    for n in nodes:
        if n.dtype.kind != "f":
            raise TypeError(f"{op} needs a float tensor, got {n.dtype} (cast it with astype)")
    return np.result_type(*(n.dtype for n in nodes))


def _pool_infer(op: str):
    def infer(nodes, attrs):
        x = nodes[0]
        m, _ = _pool_out(x.shape[2:], attrs)
        return Shape((*x.shape[:2], *m)), _pool_dtype(op, x)

    return infer


def _pool_requires(node, ops):
    return _pool_out(ops[0].shape[2:], node.attr)[1]


def _pool_build(op, x, nd, kernel_size, **attrs) -> tuple[Tensor, Tensor, bool]:
    """x batched (an unbatched input gets an axis), the spatial rank and the flag."""
    (t,) = wrap([x], op)
    if nd is None:
        nd = len(kernel_size) if isinstance(kernel_size, (tuple, list)) else t.ndim - 2
        if not 1 <= nd <= 3:
            _fail(op, [x], ShapeError(f"expected (N, C, *spatial) with 1 to 3 spatial axes, "
                                      f"got {t.shape}"))
    t, unbatched = _batch(op, t, nd, [x])
    return t, unbatched


# --------------------------------------------------------------------------------- max pool


def max_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
             ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """N-d max pooling as torch: ``x (N, C, *spatial)`` (1 to 3 spatial axes; the number of
    axes is ``len(kernel_size)`` when it is a tuple, else ``x.ndim - 2``), ``stride``
    defaulting to the kernel size, ``-inf`` padding of at most half the kernel, ``ceil_mode``
    windows that start inside the input or its left padding. ``return_indices``: also the
    int64 flat index of each window's max within the input's spatial axes (torch's first max
    in the window). The gradient goes to that max."""
    return _max_pool(x, None, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool(x, nd, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
              op="max_pool"):
    from graphc.ops.shape import squeeze

    t, unbatched = _pool_build(op, x, nd, kernel_size)
    attrs = {"kernel": kernel_size, "stride": stride, "padding": padding,
             "dilation": dilation, "ceil_mode": ceil_mode}
    y = t.graph.apply("max_pool", [t], attrs)
    if not return_indices:
        return squeeze(y, 0) if unbatched else y
    idx = t.graph.apply("max_pool_indices", [t], attrs)
    return (squeeze(y, 0), squeeze(idx, 0)) if unbatched else (y, idx)


def _max_pool_vjp(g, out, x, at, need):
    return [g.graph.apply("max_pool_grad", [x[0], g], dict(at))]


register(OpDef(
    name="max_pool", kind="reduction", infer=_pool_infer("max_pool"),
    compute=_compute(max_pool_kernel, _MAX_POOL), emit=_emit(max_pool_kernel, _MAX_POOL),
    out=True,
    vjp=_max_pool_vjp, normalize=lambda nodes, attrs: _normalize_pool(nodes, attrs, False),
    requires=_pool_requires, doc=max_pool.__doc__, attrs=_MAX_POOL,
))


def _max_pool_grad_infer(nodes, attrs):
    x, g = nodes
    m, _ = _pool_out(x.shape[2:], attrs)
    want = (*x.shape[:2], *m)
    if not (g.ndim == x.ndim and all(map(definitely_equal, g.shape, want))):
        raise ShapeError(f"the output gradient {g.shape} does not fit max pooling of "
                         f"{x.shape}, which gives {Shape(want)}")
    return x.shape, _pool_dtype("max_pool_grad", x, g)


def _max_pool_grad_vjp(h, out, x, at, need):
    """Linear in g: its adjoint picks h at the windows' maxima; piecewise constant in x."""
    from graphc.ops.indexing import take_along_axis
    from graphc.ops.shape import reshape

    xin, g = x
    if not need[1]:
        return [None, None]
    N, C = xin.shape[:2]
    idx = h.graph.apply("max_pool_indices", [xin], dict(at))
    flat = take_along_axis(reshape(h, (N, C, _prod(xin.shape[2:]))),
                           reshape(idx, (N, C, _prod(g.shape[2:]))), axis=2)
    return [None, reshape(flat, tuple(g.shape))]


def _prod(dims):
    out: Any = 1
    for d in dims:
        out = out * d
    return out


register(OpDef(
    name="max_pool_grad", kind="index", infer=_max_pool_grad_infer,
    compute=_compute(max_pool_grad_kernel, _MAX_POOL),
    emit=_emit(max_pool_grad_kernel, _MAX_POOL), out=True, vjp=_max_pool_grad_vjp, arity=2,
    normalize=lambda nodes, attrs: _normalize_pool(nodes, attrs, False),
    requires=_pool_requires,
    doc="The gradient of ``max_pool``, ``(x, g) -> x's shape``: zeros with g added at each "
    "window's max (torch's choice at ties: the first in the window).",
    attrs=_MAX_POOL,
))


def _max_pool_indices_infer(nodes, attrs):
    x = nodes[0]
    m, _ = _pool_out(x.shape[2:], attrs)
    _pool_dtype("max_pool", x)
    return Shape((*x.shape[:2], *m)), np.dtype(np.int64)


register(OpDef(
    name="max_pool_indices", kind="index", infer=_max_pool_indices_infer,
    compute=_compute(max_pool_indices_kernel, _MAX_POOL),
    emit=_emit(max_pool_indices_kernel, _MAX_POOL), out=True, vjp=None,
    normalize=lambda nodes, attrs: _normalize_pool(nodes, attrs, False),
    requires=_pool_requires,
    doc="Each max pooling window's argmax as an int64 flat index into x's spatial axes "
    "(torch's ``return_indices``).",
    attrs=_MAX_POOL,
))


# ---------------------------------------------------------------------------- average pool


def avg_pool(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
             ceil_mode: bool = False, count_include_pad: bool = True,
             divisor_override: int | None = None) -> Tensor:
    """N-d average pooling as torch: zero padding of at most half the kernel, ``stride``
    defaulting to the kernel size. Each window's divisor is its size within the padded input
    (``count_include_pad``; a ceil-mode window's part beyond the padded input is not
    counted), else the number of input elements it covers, or ``divisor_override``."""
    return _avg_pool(x, None, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _avg_pool(x, nd, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, op="avg_pool"):
    from graphc.ops.shape import squeeze

    t, unbatched = _pool_build(op, x, nd, kernel_size)
    y = t.graph.apply("avg_pool", [t], {
        "kernel": kernel_size, "stride": stride, "padding": padding, "ceil_mode": ceil_mode,
        "count_include_pad": count_include_pad, "divisor": divisor_override})
    return squeeze(y, 0) if unbatched else y


def _avg_pool_vjp(g, out, x, at, need):
    return [g.graph.apply("avg_pool_grad", [g], {**at, "size": tuple(x[0].shape[2:])})]


register(OpDef(
    name="avg_pool", kind="reduction", infer=_pool_infer("avg_pool"),
    compute=_compute(avg_pool_kernel, _AVG_POOL), emit=_emit(avg_pool_kernel, _AVG_POOL),
    out=True,
    vjp=_avg_pool_vjp, normalize=lambda nodes, attrs: _normalize_pool(nodes, attrs, True),
    requires=_pool_requires, doc=avg_pool.__doc__, attrs=_AVG_POOL,
))


def _normalize_avg_pool_grad(nodes, attrs):
    size = tuple(Shape(attrs["size"]))
    g = nodes[0]
    if len(size) != g.ndim - 2:
        raise ShapeError(f"size {Shape(size)} must have one entry per spatial axis of "
                         f"{g.shape}")
    return {**_normalize_pool(nodes, attrs, True), "size": size}


def _avg_pool_grad_check(g, attrs):
    m, needs = _pool_out(attrs["size"], attrs)
    _same_dims(g.shape[2:], m, f"the output gradient's spatial sizes for an input of "
               f"spatial size {Shape(attrs['size'])}")
    return needs


def _avg_pool_grad_infer(nodes, attrs):
    g = nodes[0]
    _avg_pool_grad_check(g, attrs)
    return Shape((*g.shape[:2], *attrs["size"])), _pool_dtype("avg_pool_grad", g)


def _avg_pool_grad_vjp(h, out, x, at, need):
    return [h.graph.apply("avg_pool", [h], {k: v for k, v in at.items() if k != "size"})]


register(OpDef(
    name="avg_pool_grad", kind="index", infer=_avg_pool_grad_infer,
    compute=_compute(avg_pool_grad_kernel, _AVG_POOL),
    emit=_emit(avg_pool_grad_kernel, _AVG_POOL), out=True, vjp=_avg_pool_grad_vjp,
    normalize=_normalize_avg_pool_grad,
    requires=lambda node, ops: _avg_pool_grad_check(ops[0], node.attr),
    doc="The gradient of ``avg_pool``, ``g -> (N, C, *size)``: each window's g divided by "
    "its divisor, spread over the window (the adjoint of avg_pool).",
    attrs=(*_AVG_POOL, "size"),
))


# ============================================================================== wrappers
# torch.nn.functional's names, signatures and rank checks


def conv1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv1d: ``input (N, C_in, L)`` or ``(C_in, L)``, ``weight
    (C_out, C_in/groups, kL)``; see ``graphc.conv``."""
    return _conv_build("conv1d", input, weight, bias, 1, stride=stride, padding=padding,
                       dilation=dilation, groups=groups)


def conv2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv2d: ``input (N, C_in, H, W)`` or ``(C_in, H, W)``, ``weight
    (C_out, C_in/groups, kH, kW)``; see ``graphc.conv``."""
    return _conv_build("conv2d", input, weight, bias, 2, stride=stride, padding=padding,
                       dilation=dilation, groups=groups)


def conv3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """torch.nn.functional.conv3d: ``input (N, C_in, D, H, W)`` or ``(C_in, D, H, W)``,
    ``weight (C_out, C_in/groups, kD, kH, kW)``; see ``graphc.conv``."""
    return _conv_build("conv3d", input, weight, bias, 3, stride=stride, padding=padding,
                       dilation=dilation, groups=groups)


def _conv_transpose_nd(nd, input, weight, bias, stride, padding, output_padding, groups,
                       dilation):
    op = f"conv_transpose{nd}d"
    ts = wrap([input, weight], op)
    if ts[1].ndim != nd + 2:
        _fail(op, [input, weight], ShapeError(
            f"expected a {nd + 2}-D weight (C_in, C_out/groups, *kernel), got {ts[1].shape}"))
    return conv_transpose(input, weight, bias, stride, padding, output_padding, dilation,
                          groups)


def conv_transpose1d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """torch.nn.functional.conv_transpose1d (groups before dilation, as torch): ``input (N,
    C_in, L)`` or ``(C_in, L)``, ``weight (C_in, C_out/groups, kL)``; see
    ``graphc.conv_transpose``."""
    return _conv_transpose_nd(1, input, weight, bias, stride, padding, output_padding, groups,
                              dilation)


def conv_transpose2d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """torch.nn.functional.conv_transpose2d (groups before dilation, as torch): ``input (N,
    C_in, H, W)`` or ``(C_in, H, W)``, ``weight (C_in, C_out/groups, kH, kW)``; see
    ``graphc.conv_transpose``."""
    return _conv_transpose_nd(2, input, weight, bias, stride, padding, output_padding, groups,
                              dilation)


def conv_transpose3d(input: Any, weight: Any, bias: Any = None, stride: Any = 1,
                     padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                     dilation: Any = 1) -> Tensor:
    """torch.nn.functional.conv_transpose3d (groups before dilation, as torch): ``input (N,
    C_in, D, H, W)`` or ``(C_in, D, H, W)``, ``weight (C_in, C_out/groups, kD, kH, kW)``; see
    ``graphc.conv_transpose``."""
    return _conv_transpose_nd(3, input, weight, bias, stride, padding, output_padding, groups,
                              dilation)


def max_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """torch.nn.functional.max_pool1d on ``(N, C, L)`` or ``(C, L)``; see
    ``graphc.max_pool``."""
    return _max_pool(input, 1, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, op="max_pool1d")


def max_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """torch.nn.functional.max_pool2d on ``(N, C, H, W)`` or ``(C, H, W)``; see
    ``graphc.max_pool``."""
    return _max_pool(input, 2, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, op="max_pool2d")


def max_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               dilation: Any = 1, ceil_mode: bool = False, return_indices: bool = False) -> Any:
    """torch.nn.functional.max_pool3d on ``(N, C, D, H, W)`` or ``(C, D, H, W)``; see
    ``graphc.max_pool``."""
    return _max_pool(input, 3, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices, op="max_pool3d")


def avg_pool1d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> Tensor:
    """torch.nn.functional.avg_pool1d on ``(N, C, L)`` or ``(C, L)`` (no divisor_override,
    as torch); see ``graphc.avg_pool``."""
    return _avg_pool(input, 1, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     None, op="avg_pool1d")


def avg_pool2d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """torch.nn.functional.avg_pool2d on ``(N, C, H, W)`` or ``(C, H, W)``; see
    ``graphc.avg_pool``."""
    return _avg_pool(input, 2, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, op="avg_pool2d")


def avg_pool3d(input: Any, kernel_size: Any, stride: Any = None, padding: Any = 0,
               ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """torch.nn.functional.avg_pool3d on ``(N, C, D, H, W)`` or ``(C, D, H, W)``; see
    ``graphc.avg_pool``. Unlike torch's, an input smaller than the kernel along an axis is
    pooled when the padding makes the windows fit (as avg_pool1d/2d)."""
    return _avg_pool(input, 3, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, op="avg_pool3d")


#: the public builders (re-exported by graphc.ops and graphc)
__all__: list[str] = [
    "avg_pool", "avg_pool1d", "avg_pool2d", "avg_pool3d",
    "conv", "conv1d", "conv2d", "conv3d",
    "conv_transpose", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool", "max_pool1d", "max_pool2d", "max_pool3d",
]
