"""Fast transcendental functions for generated kernels: branch-free scalar code that LLVM
inlines into a kernel's loop and vectorizes (AVX2: 4 doubles or 8 floats an instruction).

pip's numba has no SVML, and numpy's float64 ``tanh`` is a scalar libm loop: 13-18 ns an
element on an AVX2 EPYC, against under 2 ns for ``tanh_f64`` in a kernel's loop. These
functions are the opt-in fast mode: the results are not numpy's bits, but stay within
``ULP_BOUND`` of the exact result (measured by ``tests/backend/numba/test_fast_math.py``
against a long-double reference).

**Method.**

- ``exp``: ``n = rint(x / ln2)`` by the shift trick (``x * log2e + 1.5 * 2**p`` rounds to an
  integer in the low mantissa bits), ``r = x - n * ln2`` with ``ln2`` split in a high part
  (exact product with ``n``) and a low part, ``exp(r)`` by its Taylor series (coefficients
  ``1/k!``; degree 13 for float64, 7 for float32, truncation well under 0.1 ulp on
  ``|r| <= ln2/2``) in Estrin's form with fused multiply-adds, then scaled by ``2**n`` built
  from its bits. The scale is split in two factors ``2**n1 * 2**n2`` so that results down
  in the subnormal range and up to the overflow threshold come out of one rounding.
- ``tanh``: ``sign(x) * m / (m + 2)`` with ``m = expm1(2|x|)`` while ``tanh < 1/2``, and
  ``sign(x) * (1 - 2 / (m + 2))`` above, which rounds monotonically up to 1 (the numerators
  are selected before one division); ``|x|`` is clamped to where tanh rounds to 1.
  ``expm1(y) = 2**n expm1(r) + (2**n - 1)`` shares exp's reduction and polynomial (without
  its constant term), so it keeps full relative accuracy near 0 and no separate
  small-argument branch is needed.
- ``sigmoid``: ``1 / (1 + e)`` for ``x >= 0`` and ``e / (1 + e)`` below, ``e = exp(-|x|)``
  with the fast ``exp`` (no overflow, and subnormal results kept).

Every branch is computed and the result chosen by conditional expressions that LLVM turns
into selects; divisions, fused multiply-adds and bit casts are LLVM instructions written
as numba intrinsics, so no libm call and no ``ZeroDivisionError`` check (numba's python
error model) is left in a calling loop. float32 functions compute in float32 throughout
(``np.float32`` constants; a Python float literal would promote to float64).

**Special values.** ``tanh(+-0) = +-0`` (the sign is copied from x), subnormal and tiny x
give x (exactly below ``2**-53``: ``m = 2|x|`` and ``m / (m + 2) = |x|``),
``tanh(+-inf) = +-1``, ``tanh(nan) = nan``, ``|tanh(x)| <= 1``, and tanh is monotone
(tested over the sweeps). ``exp(-inf) = 0``, ``exp(inf) = inf``, ``exp(nan) = nan``,
``exp(0) = 1``; overflow gives ``inf``; subnormal results are computed (not flushed), with
an absolute error within ``ULP_BOUND`` subnormal ulps, and results below half the smallest
subnormal give 0. ``sigmoid(-inf) = 0``, ``sigmoid(inf) = 1``, ``sigmoid(nan) = nan``.

**Calling them.** Call from an ``@njit`` kernel's loop, e.g. ``for i in range(n):
out[i] = tanh_f64(a[i] + b[i])``. They are inlined by numba (``inline="always"``) at
every call site: left to LLVM's inliner (plain ``@njit``), they were inlined in a small
kernel but not in the training step's large one, where each element then paid a scalar
call (the curve step at batch 4096: 10-12 ms instead of 5.3 ms). numba's inlining types
the body again at each call site, about 0.3 s of JIT per call site.
The loop vectorizes under numba's default flags: no ``fastmath`` and no
``error_model='numpy'`` is needed. The loop body must itself be free of branches the
vectorizer cannot remove (say, a ``/`` under the python error model, which checks for
zero); an output that may overlap an input costs LLVM's run-time overlap check, not the
vectorization. The fused multiply-add is ``llvm.fma``: a vector instruction on CPUs with
FMA (numba compiles for the host CPU); without FMA hardware LLVM calls libm's ``fma``,
correct but scalar.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

# ---------------------------------------------------------------------------------------
# LLVM instructions as numba intrinsics


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` with one rounding (``llvm.fma``), for float32 or float64 operands."""
    if not (isinstance(a, types.Float) and a == b == c):
        return None

    def codegen(context, builder, sig, args):
        return builder.fma(*args)

    return a(a, a, a), codegen


@intrinsic
def _div(typingctx, a, b):
    """``a / b`` as a plain IEEE division: no zero check, so the caller's loop stays
    branch-free under numba's python error model."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        return builder.fdiv(*args)

    return a(a, a), codegen


@intrinsic
def _copysign(typingctx, a, b):
    """``|a|`` with the sign of ``b`` (``llvm.copysign``: two bitwise vector ops)."""
    if not (isinstance(a, types.Float) and a == b):
        return None

    def codegen(context, builder, sig, args):
        lty = args[0].type
        fnty = ir.FunctionType(lty, [lty, lty])
        fn = builder.module.declare_intrinsic("llvm.copysign", [lty], fnty)
        return builder.call(fn, args)

    return a(a, a), codegen


#: float type -> (int type of the same width, mantissa bits, exponent bias, shift constant)
_LAYOUT = {
    types.float64: (types.int64, 52, 1023, np.float64(1.5 * 2.0**52)),
    types.float32: (types.int32, 23, 127, np.float32(1.5 * 2.0**23)),
}


@intrinsic
def _pow2_of_shifted(typingctx, t):
    """``2**n`` for ``t = C + n`` (``C`` the shift constant of ``_LAYOUT``, ``n`` an integer
    with ``2**n`` normal): the bits of ``t`` minus those of ``C`` are ``n``, moved into the
    exponent field. Pure integer ops on the bit pattern; vectorizable."""
    if t not in _LAYOUT:
        return None
    ity, mant, bias, shift = _LAYOUT[t]
    width = ity.bitwidth
    shift_bits = int(np.array(shift).view(f"int{width}"))

    def codegen(context, builder, sig, args):
        lty = ir.IntType(width)
        bits = builder.bitcast(args[0], lty)
        biased = builder.add(bits, ir.Constant(lty, bias - shift_bits))
        return builder.bitcast(builder.shl(biased, ir.Constant(lty, mant)), args[0].type)

    return t(t), codegen


# ---------------------------------------------------------------------------------------
# constants (float64 / float32 pairs; see the module docstring for their role)

_LOG2E_D = np.float64(1.4426950408889634)
# ln2 split (Cody and Waite's, as in fdlibm): the high part has 32 significant bits, so
# n * _LN2_HI_D is exact for |n| < 2**21
_LN2_HI_D = np.float64(0.6931471803691238)
_LN2_LO_D = np.float64(1.9082149292705877e-10)
_SHIFT_D = _LAYOUT[types.float64][3]
_HALF_D = np.float64(0.5)
# exp's input clamp: above it the result overflows to inf, below it underflows to 0
_EXP_HI_D = np.float64(710.0)
_EXP_LO_D = np.float64(-746.0)
#: Taylor coefficients 1/k! for k = 13 .. 2 (highest first); those of r and 1 are exactly 1
_EXP_POLY_D = tuple(np.float64(1.0 / np.prod(np.arange(1, k + 1, dtype=np.float64)))
                    for k in range(13, 1, -1))
_ZERO_D = np.float64(0.0)
_ONE_D = np.float64(1.0)
_TWO_D = np.float64(2.0)

_LOG2E_F = np.float32(1.44269504)
# ln2 split: the high part has 16 significant bits, so n * _LN2_HI_F is exact for |n| < 2**8
_LN2_HI_F = np.float32(0.693145752)
_LN2_LO_F = np.float32(1.42860677e-06)
_SHIFT_F = _LAYOUT[types.float32][3]
_HALF_F = np.float32(0.5)
_EXP_HI_F = np.float32(89.0)
_EXP_LO_F = np.float32(-104.0)
_EXP_POLY_F = tuple(np.float32(1.0 / np.prod(np.arange(1, k + 1, dtype=np.float64)))
                    for k in range(7, 1, -1))
_ZERO_F = np.float32(0.0)
_ONE_F = np.float32(1.0)
_TWO_F = np.float32(2.0)

# tanh: |x| above which tanh rounds to 1 (1 - tanh(x) < 2**-54 from 19.06, < 2**-25 from
# 9.01); exp(2 |x|) stays finite there
_TANH_SAT_D = np.float64(20.0)
_TANH_SAT_F = np.float32(10.0)
# tanh(x) = 1/2 here: the form 1 - 2 / (m + 2) takes over from m / (m + 2)
_TANH_HALF_D = np.float64(0.5493061443340548)
_TANH_HALF_F = np.float32(0.54930615)

# ---------------------------------------------------------------------------------------
# exp


@njit(inline="always")
def _expm1_poly_d(r):
    """exp(r) - 1 for |r| <= ln2/2: ``r + r^2 q(r)`` with q the Taylor tail of degree 11,
    evaluated by Estrin's scheme (a short dependency chain: the loop is latency-bound
    with Horner's)."""
    c = _EXP_POLY_D
    r2 = r * r
    r4 = r2 * r2
    qa = _fma(_fma(c[8], r, c[9]), r2, _fma(c[10], r, c[11]))
    qb = _fma(_fma(c[4], r, c[5]), r2, _fma(c[6], r, c[7]))
    qc = _fma(_fma(c[0], r, c[1]), r2, _fma(c[2], r, c[3]))
    q = _fma(_fma(qc, r4, qb), r4, qa)
    return _fma(r2, q, r)


@njit(inline="always")
def _expm1_poly_f(r):
    """exp(r) - 1 for |r| <= ln2/2: ``r + r^2 q(r)``, q the Taylor tail of degree 5."""
    c = _EXP_POLY_F
    r2 = r * r
    q = _fma(_fma(_fma(c[0], r, c[1]), r2, _fma(c[2], r, c[3])), r2, _fma(c[4], r, c[5]))
    return _fma(r2, q, r)


@njit(inline="always")
def exp_f64(x):
    """exp(x) for float64 x, within ``ULP_BOUND[("exp", "d")]`` ulp; branch-free."""
    # clamped so that n stays small; nan passes both comparisons and is restored at the end
    xc = _EXP_HI_D if x > _EXP_HI_D else x
    xc = _EXP_LO_D if xc < _EXP_LO_D else xc
    xc = xc if xc == xc else _ONE_D
    t = _fma(xc, _LOG2E_D, _SHIFT_D)
    n = t - _SHIFT_D
    r = _fma(n, -_LN2_LO_D, _fma(n, -_LN2_HI_D, xc))
    p = _expm1_poly_d(r) + _ONE_D
    # 2**n as 2**n1 * 2**n2, n1 = rint(n/2): both factors normal for n in [-1077, 1025]
    t1 = _fma(n, _HALF_D, _SHIFT_D)
    t2 = (n - (t1 - _SHIFT_D)) + _SHIFT_D
    y = p * _pow2_of_shifted(t1) * _pow2_of_shifted(t2)
    return y if x == x else x


@njit(inline="always")
def exp_f32(x):
    """exp(x) for float32 x, within ``ULP_BOUND[("exp", "f")]`` ulp; branch-free."""
    xc = _EXP_HI_F if x > _EXP_HI_F else x
    xc = _EXP_LO_F if xc < _EXP_LO_F else xc
    xc = xc if xc == xc else _ONE_F
    t = _fma(xc, _LOG2E_F, _SHIFT_F)
    n = t - _SHIFT_F
    r = _fma(n, -_LN2_LO_F, _fma(n, -_LN2_HI_F, xc))
    p = _expm1_poly_f(r) + _ONE_F
    t1 = _fma(n, _HALF_F, _SHIFT_F)
    t2 = (n - (t1 - _SHIFT_F)) + _SHIFT_F
    y = p * _pow2_of_shifted(t1) * _pow2_of_shifted(t2)
    return y if x == x else x


@njit(inline="always")
def _expm1_small_d(x):
    """exp(x) - 1 for float64 0 <= x <= 40, as ``2**n expm1(r) + (2**n - 1)``: accurate near
    0, where exp(x) - 1 would cancel (no clamping or split scale: 2**n is normal)."""
    t = _fma(x, _LOG2E_D, _SHIFT_D)
    n = t - _SHIFT_D
    r = _fma(n, -_LN2_LO_D, _fma(n, -_LN2_HI_D, x))
    s = _pow2_of_shifted(t)
    return _fma(s, _expm1_poly_d(r), s - _ONE_D)


@njit(inline="always")
def _expm1_small_f(x):
    """exp(x) - 1 for float32 0 <= x <= 20 (see ``_expm1_small_d``)."""
    t = _fma(x, _LOG2E_F, _SHIFT_F)
    n = t - _SHIFT_F
    r = _fma(n, -_LN2_LO_F, _fma(n, -_LN2_HI_F, x))
    s = _pow2_of_shifted(t)
    return _fma(s, _expm1_poly_f(r), s - _ONE_F)


# ---------------------------------------------------------------------------------------
# tanh


@njit(inline="always")
def tanh_f64(x):
    """tanh(x) for float64 x, within ``ULP_BOUND[("tanh", "d")]`` ulp; branch-free."""
    ax = abs(x)
    # clamped where tanh rounds to 1; nan passes the comparison and propagates
    m = _expm1_small_d(_TWO_D * (_TANH_SAT_D if ax > _TANH_SAT_D else ax))
    # m / (m + 2) below tanh = 1/2, 1 - 2 / (m + 2) above (it rounds monotonically up
    # to saturation); tiny and subnormal x come out as x itself, zeros get x's sign
    big = ax >= _TANH_HALF_D
    y = (_ONE_D if big else _ZERO_D) + _div(-_TWO_D if big else m, m + _TWO_D)
    return _copysign(y, x)


@njit(inline="always")
def tanh_f32(x):
    """tanh(x) for float32 x, within ``ULP_BOUND[("tanh", "f")]`` ulp; branch-free."""
    ax = abs(x)
    m = _expm1_small_f(_TWO_F * (_TANH_SAT_F if ax > _TANH_SAT_F else ax))
    big = ax >= _TANH_HALF_F
    y = (_ONE_F if big else _ZERO_F) + _div(-_TWO_F if big else m, m + _TWO_F)
    return _copysign(y, x)


# ---------------------------------------------------------------------------------------
# sigmoid


@njit(inline="always")
def sigmoid_f64(x):
    """1 / (1 + exp(-x)) for float64 x, within ``ULP_BOUND[("sigmoid", "d")]`` ulp;
    computed as ``e / (1 + e)``, ``e = exp(x)``, for negative x, so that it neither
    overflows nor loses the subnormal results."""
    e = exp_f64(-abs(x))
    return _div(_ONE_D if x >= 0 else e, _ONE_D + e)


@njit(inline="always")
def sigmoid_f32(x):
    """1 / (1 + exp(-x)) for float32 x, within ``ULP_BOUND[("sigmoid", "f")]`` ulp."""
    e = exp_f32(-abs(x))
    return _div(_ONE_F if x >= 0 else e, _ONE_F + e)


#: a digest of this file: numba's on-disk cache of a kernel that calls these functions is
#: keyed by the kernel's own source file only, so a cache key must include this
SOURCE_DIGEST = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]

#: (op, numpy type char) -> the fast scalar function
FAST = {
    ("tanh", "d"): tanh_f64, ("tanh", "f"): tanh_f32,
    ("exp", "d"): exp_f64, ("exp", "f"): exp_f32,
    ("sigmoid", "d"): sigmoid_f64, ("sigmoid", "f"): sigmoid_f32,
}

#: (op, numpy type char) -> the error bound, in ulp of the result's type (subnormal exp
#: results: in subnormal ulps), that tests/backend/numba/test_fast_math.py asserts; the
#: largest errors it measures are 2.30 (tanh d), 2.22 (tanh f), 0.98 (exp d), 1.02 (exp f),
#: 2.06 (sigmoid d) and 2.29 (sigmoid f)
ULP_BOUND = {
    ("tanh", "d"): 3.0, ("tanh", "f"): 3.0,
    ("exp", "d"): 1.5, ("exp", "f"): 1.5,
    ("sigmoid", "d"): 3.0, ("sigmoid", "f"): 3.0,
}


def fast_function(op: str, dtype):
    """The fast scalar function for unary ``op`` on ``dtype`` (float32/float64), or None."""
    return FAST.get((op, np.dtype(dtype).char))
