"""Small numpy kernels that generated code calls (``rt.<name>``) where numpy has no single call.

Each takes an optional ``out=`` where that lets the memory plan reuse a buffer. They are
the only numpy code an op lowers to besides numpy itself; the reference evaluator calls
the same functions, and the tests check them against plain numpy formulas.
"""

from __future__ import annotations

import numpy as np


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)) as (1 + tanh(x / 2)) / 2: no overflow for large |x|."""
    out = np.multiply(x, 0.5, out=out)
    if out.__class__ is not np.ndarray:  # a 0-d x gives a numpy scalar
        out = np.asarray(out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def relu(x, out=None):
    """max(x, 0), keeping x's dtype."""
    return np.maximum(x, np.zeros((), dtype=x.dtype), out=out)


def logsumexp(x, axis, keepdims):
    """log(sum(exp(x), axis)) shifted by the max, so large inputs do not overflow."""
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)  # -inf: an empty axis
    # an all -inf slice has max -inf; shift by 0 there to get -inf instead of nan
    m = np.where(np.isfinite(m), m, 0)
    s = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    return s if keepdims else np.squeeze(s, axis=axis)


def log_softmax(x, axis):
    """x - logsumexp(x, axis): stable log-probabilities."""
    return x - logsumexp(x, axis, True)


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


def sum_of_squares(x):
    """sum(x * x) over every element as one BLAS dot of x flattened (a copy only when x is
    not contiguous); rounds differently from numpy's pairwise add.reduce, in the last bits."""
    v = x.reshape(-1)
    return np.dot(v, v)
