"""Small numpy kernels that generated code calls (``rt.<name>``) where numpy has no single call.

Each takes an optional ``out=`` where that lets the memory plan reuse a buffer. They are
the only numpy code an op lowers to besides numpy itself; the reference evaluator calls
the same functions, and the tests check them against plain numpy formulas.
"""

from __future__ import annotations

import functools

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


# ------------------------------------------------------------------------------------ erf
#
# numpy has no erf (and scipy is not a dependency). erf here is a piecewise Taylor
# expansion: about the centres c = j/16 (j = 0..96), |x| within 1/32 of its nearest centre,
#
#     erf(c + d) = erf(c) + sum_k a_k d^k,   a_k = (2/sqrt(pi)) b_(k-1) / k,
#
# where b_k are the Taylor coefficients of exp(-x^2) about c: b_0 = exp(-c^2),
# b_1 = -2c b_0, (k+1) b_(k+1) = -2c b_k - 2 b_(k-1) (from y' = -2xy). The table is computed
# once, at the first call, in 60-digit decimal arithmetic (erf(c) from its Maclaurin series,
# pi from Machin's formula) and rounded to float64; erf(c) is kept as a double-double (a
# float64 plus its rounding error), so the sum's only large term is nearly exact. Ten terms
# leave a truncation error below 1e-18 (measured: 9 suffice); the result is within 1 ulp of
# the exact erf in float64 (the tests: <= 2 ulp from math.erf over a dense grid). About 0,
# a_0 = 0 and the even a_k vanish: erf(x) = x (2/sqrt(pi) - ...) keeps its relative
# accuracy down to the smallest subnormal. From |x| = 6.03 (past 5.921, where erf rounds to
# 1 in float64) a constant row gives exactly +-1. Other float dtypes are computed in float64
# and rounded once.

_ERF_STEPS = 16  # centres per unit
_ERF_LAST = 96  # the last centre, 6.0
_ERF_DEGREE = 10
_ERF_CHUNK = 8192  # elements per pass: the (DEGREE + 2) x CHUNK gathered table fits in L2


def _decimal_pi():
    """pi to the current decimal precision: Machin's 16 atan(1/5) - 4 atan(1/239)."""
    from decimal import Decimal, getcontext

    eps = Decimal(10) ** -(getcontext().prec + 2)

    def atan_inv(n: int):
        x = Decimal(1) / n
        x2, term, total, k = x * x, x, x, 1
        while abs(term) > eps:
            term *= -x2
            k += 2
            total += term / k
        return total

    return 16 * atan_inv(5) - 4 * atan_inv(239)


@functools.cache
def _erf_table() -> np.ndarray:
    """(DEGREE + 2, LAST + 2) float64: row k < DEGREE + 1 holds a_k of every centre, row
    DEGREE + 1 the rounding error of a_0 = erf(c); column LAST + 1 is the constant 1."""
    from decimal import Decimal, localcontext

    deg = _ERF_DEGREE
    cols = []
    with localcontext() as ctx:
        ctx.prec = 60
        two_over_sqrt_pi = 2 / _decimal_pi().sqrt()
        tiny = Decimal(10) ** -58
        for j in range(_ERF_LAST + 1):
            c = Decimal(j) / _ERF_STEPS
            c2 = c * c
            # erf(c) = 2/sqrt(pi) sum_n (-1)^n c^(2n+1) / (n! (2n+1)); the largest term is
            # about e^(c^2) < 1e16, so 60 digits leave 44 after the cancellation
            term, total, n = c, c, 0
            while n <= c2 or abs(term) > tiny:
                n += 1
                term = -term * c2 / n
                total += term / (2 * n + 1)
            a0 = two_over_sqrt_pi * total
            b = [(-c2).exp()]
            b.append(-2 * c * b[0])
            for k in range(1, deg - 1):
                b.append((-2 * c * b[k] - 2 * b[k - 1]) / (k + 1))
            col = [a0] + [two_over_sqrt_pi * b[k - 1] / k for k in range(1, deg + 1)]
            cols.append([float(v) for v in col] + [float(a0 - Decimal(float(a0)))])
    cols.append([1.0] + [0.0] * (deg + 1))
    table = np.array(cols, dtype=np.float64).T.copy()
    table.flags.writeable = False
    return table


def _erf_chunk(x: np.ndarray, out: np.ndarray) -> None:
    """erf of the 1-d ``x`` into the 1-d ``out`` (of x's size; it may be x itself)."""
    table = _erf_table()
    a = np.abs(x, dtype=np.float64)
    np.minimum(a, 7.0, out=a)  # inf -> 7 (the constant column); nan stays nan
    j = np.multiply(a, float(_ERF_STEPS))
    np.rint(j, out=j)
    np.fmin(j, _ERF_LAST + 1, out=j)  # nan -> the constant column: 1 + 0 * nan = nan
    idx = j.astype(np.intp)
    d = np.multiply(j, -1.0 / _ERF_STEPS, out=j)
    d += a  # exact: |x| - c for |x| within 1/32 of c (Sterbenz), and |x| itself about 0
    coef = table.take(idx, axis=1)
    # below 1e-100 the terms past d * a_1 are 0 to double precision; dropping them keeps the
    # Horner products from underflowing (the last product, a_1 * |x|, stays exact-ish)
    dh = np.where(a < 1e-100, 0.0, d) if np.any(a < 1e-100) else d
    p = coef[_ERF_DEGREE]
    for k in range(_ERF_DEGREE - 1, 0, -1):
        p *= dh
        p += coef[k]
    p *= d
    p += coef[_ERF_DEGREE + 1]  # the small terms and erf(c)'s rounding error first
    p += coef[0]
    np.copysign(p, x, out=out, casting="same_kind")


def erf(x, out=None):
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt, elementwise, within 1 ulp
    in float64 (see the table above). The dtype is numpy's float result for x's dtype (as for
    np.sin: ints -> float64, int8 and bool -> float16, float32 stays); erf(+-inf) = +-1,
    erf(nan) = nan, erf(-0.0) = -0.0; no numpy warnings are raised for any input."""
    x = np.asarray(x)
    dtype = np.result_type(x.dtype, np.float16)
    res = out if out is not None and out.flags.c_contiguous else np.empty(x.shape, dtype)
    flat, rflat = x.reshape(-1), res.reshape(-1)
    for s in range(0, flat.size, _ERF_CHUNK):
        _erf_chunk(flat[s:s + _ERF_CHUNK], rflat[s:s + _ERF_CHUNK])
    if out is not None and res is not out:
        np.copyto(out, res)
        return out
    return res
