"""Small numpy kernels that generated code calls (``rt.<name>``) where numpy has no single call.

Each takes an optional ``out=`` where that lets the memory plan reuse a buffer. They are
the only numpy code an op lowers to besides numpy itself; the reference evaluator calls
the same functions, and the tests check them against plain numpy formulas.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)) as n / (1 + e), e = exp(-|x|), n = 1 (x > 0) or e (x <= 0).

    exp(-|x|) never overflows, and both sides keep relative accuracy: for x << 0 the result is
    e^x, not 1 - (1 - e^x) rounded to 0. Six numpy calls and one temporary.
    """
    if x.ndim == 0 or x.dtype.kind != "f":  # numpy returns 0-d results as scalars; ints: float
        r = sigmoid(np.multiply(x, 1.0).reshape(-1)).reshape(x.shape)
        return r if out is None else _copy_into(out, r)
    s = np.sign(x)  # read before out, which may be x itself, is written
    e = np.abs(x, out=out)
    np.negative(e, out=e)
    np.exp(e, out=e)
    np.maximum(e, s, out=s)  # the numerator: 1 for x > 0, e^x for x <= 0, nan for nan
    e += 1.0
    return np.divide(s, e, out=e)


def _copy_into(out, r):
    np.copyto(out, r)
    return out


def softplus(x, out=None):
    """log(1 + exp(x)) as numpy's logaddexp(x, 0): x + log1p(e^-x) or log1p(e^x), no overflow."""
    return np.logaddexp(x, 0.0, out=out)


def log_sigmoid(x, out=None):
    """log(sigmoid(x)) as -logaddexp(-x, 0): x - log1p(e^x) for x < 0, -log1p(e^-x) for x > 0."""
    t = np.negative(x, out=out)
    if t.__class__ is np.ndarray:  # a 0-d x gives numpy scalars, which take no out=
        out = t
    t = np.logaddexp(t, 0.0, out=out)
    return np.negative(t, out=out)


def relu(x, out=None):
    """max(x, 0), keeping x's dtype."""
    return np.maximum(x, np.zeros((), dtype=x.dtype), out=out)


def _shift(x, axis):
    """The max over ``axis`` (kept), 0 where it is not finite: an all -inf slice then gives
    -inf instead of nan, an empty axis (max -inf) gives log(0) = -inf."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return np.where(np.isfinite(m), m, 0)


def logsumexp(x, axis, keepdims):
    """log(sum(exp(x), axis)) shifted by the max, so large inputs do not overflow."""
    m = _shift(x, axis)
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


def log_softmax(x, axis):
    """(x - m) - log(sum(exp(x - m))), m the max: not x - (m + log(...)), whose m + log(...)
    rounds away log(...) for large logits (1e7 in float32, 1e308)."""
    z = x - _shift(x, axis)
    z -= np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
    return z


def softmax(x, axis):
    """exp(x - max) / sum(exp(x - max)): stable probabilities."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))
    e /= np.sum(e, axis=axis, keepdims=True)
    return e


def index_from_attr(index):
    """A normalized basic index (graphc's attribute form) as a numpy index tuple."""
    out = []
    for item in index:
        kind = item[0]
        if kind == "int":
            out.append(item[1])
        elif kind == "slice":
            out.append(slice(item[1], item[2], item[3]))
        else:  # "new"
            out.append(None)
    return tuple(out)


def getitem_grad(g, shape, index, dtype):
    """Zeros of ``shape`` with ``g`` written at ``index`` (basic indexing never repeats a cell)."""
    z = np.zeros(shape, dtype=dtype)
    z[index] = g
    return z


def take_along_axis_grad(g, idx, shape, axis, dtype):
    """Zeros of ``shape`` with ``g`` added at ``idx`` along ``axis`` (repeated indices add up).

    Where the forward operand had size 1 on another axis (it was broadcast against idx), the
    contributions of that axis all land on its single cell.
    """
    z = np.zeros(shape, dtype=dtype)
    ndim = g.ndim
    grids = []
    for a in range(ndim):
        if a == axis:
            grids.append(np.broadcast_to(idx, g.shape))
            continue
        n = g.shape[a]
        r = np.arange(n) if shape[a] != 1 else np.zeros(n, dtype=np.intp)
        view = [1] * ndim
        view[a] = n
        grids.append(r.reshape(view))
    np.add.at(z, tuple(grids), g)
    return z


def numel(x, axes, dtype):
    """The number of elements of ``x`` over ``axes``, as a 0-d array of ``dtype``."""
    n = 1
    for a in axes:
        n *= x.shape[a]
    return np.asarray(n, dtype=dtype)


#: the most elements whose sum of squares is one BLAS dot: measured against the exact sum
#: (math.fsum), the dot's relative error stays within ~2 eps (numpy's pairwise sum: < 1.6 eps)
#: up to 1024 elements in float32 and float64, even for nearly constant data; beyond, its
#: lanes sum long runs sequentially (1e7 float32 elements: ~800 eps on normal data, ~7000 on
#: constant data). The dot only saves ~1 us a call, which matters only for small arrays.
SUM_OF_SQUARES_DOT_MAX = 1024


def sum_of_squares(x):
    """sum(x * x) over every element: one BLAS dot of x flattened (a copy only when x is not
    contiguous) up to SUM_OF_SQUARES_DOT_MAX elements, numpy's pairwise sum above."""
    v = x.reshape(-1)
    if v.size <= SUM_OF_SQUARES_DOT_MAX:
        return np.dot(v, v)
    return np.add.reduce(np.square(v))
