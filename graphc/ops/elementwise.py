"""Elementwise ops: arithmetic, unary math (trig, hyperbolic, logs and exps, erf),
activations, comparisons, where, astype, binary math (hypot, arctan2, remainder, fmod),
rounding, clip, and the bool predicates and logic (isfinite, isnan, logical_*).

Each block holds one op: its builder, shape and dtype rule (numpy broadcasting; numpy's own
dtype promotion, probed once per dtype combination), reference compute, numpy lowering and
vjp. A vjp may return its gradient in the broadcast output shape: the autodiff driver sums
it back to the operand's shape, so no rule here unbroadcasts.
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np

from graphc.ir.dims import broadcast_shapes
from graphc.ir.dtypes import check_dtype, probe_dtype
from graphc.ir.opdef import Kernel, OpDef, register
from graphc.ir.tensor import Tensor
from graphc.ops import kernels
from graphc.ops._common import apply, call, is_float

# ------------------------------------------------------------------------------- machinery


@cache
def _probe(fn_name: str, *dtypes: np.dtype) -> np.dtype:
    fn = getattr(np, fn_name, None) or getattr(kernels, fn_name)
    return probe_dtype(fn, *dtypes)


def _elementwise_infer(np_name: str, out_dtype: Any = None, float_only: bool = False):
    """Shape: numpy broadcasting of all operands. dtype: numpy's result for these dtypes
    (``float_only``: float operands only, not numpy's silent int -> float64)."""

    def infer(nodes, attrs):
        if float_only:
            for n in nodes:
                if n.dtype.kind != "f":
                    raise TypeError(f"{np_name} needs float operands, got {n.dtype} "
                                    "(cast it with astype)")
        shape = broadcast_shapes(*[n.shape for n in nodes])
        if out_dtype is not None:
            _probe(np_name, *[n.dtype for n in nodes])  # still refuse what numpy refuses
            return shape, np.dtype(out_dtype)
        dt = _probe(np_name, *[n.dtype for n in nodes])
        check_dtype(dt, np_name)
        return shape, dt

    return infer


def _numpy(np_name: str):
    fn = getattr(np, np_name)
    return lambda args, attrs, shape: fn(*args)


def _broadcast_axis_source(node, src, axis):
    """A size-1 result axis comes from the operands' aligned axes (numpy broadcasting)."""
    found = [(k, axis - (node.ndim - n.ndim)) for k, n in enumerate(src)]
    return [(k, a) for k, a in found if a >= 0]


def _scalar_operator(infix: str) -> Kernel:
    """0-d float arithmetic on 0-d operands of its dtype (a loss ``sum / count``) as a Python
    operator on numpy scalars: the same IEEE operation, ~0.1 us instead of a ~0.5 us ufunc."""

    def when(n, ins, prog) -> bool:
        return n.ndim == 0 and n.dtype.kind == "f" and all(
            m.ndim == 0 and m.dtype == n.dtype for m in ins)

    return Kernel("python operator", when, lambda args, attrs, ctx: f" {infix} ".join(args),
                  out=False, scalar=True)


def _def(name: str, vjp, doc: str, np_name: str | None = None, kind: str = "elementwise",
         out_dtype: Any = None, emit=None, compute=None, arity: int = 1,
         infix: str | None = None, kernels: tuple[Kernel, ...] = (),
         float_only: bool = False) -> OpDef:
    """Register a numpy ufunc: broadcasting shape rule, numpy's dtype, ``out=``, in place."""
    np_name = np_name or name
    return register(OpDef(
        name=name, kind=kind, infer=_elementwise_infer(np_name, out_dtype, float_only),
        compute=compute or _numpy(np_name), emit=emit or call(f"xp.{np_name}", out=True),
        vjp=vjp, out=True, doc=doc, arity=arity, ufunc=True, inplace=True, infix=infix,
        axis_source=_broadcast_axis_source, kernels=kernels,
    ))


# --------------------------------------------------------------------------- arithmetic


def add(a: Any, b: Any) -> Tensor:
    """a + b, with numpy broadcasting."""
    return apply("add", [a, b])


_def("add", lambda g, out, x, at, need: [g, g], add.__doc__, arity=2, infix="+",
     kernels=(_scalar_operator("+"),))


def subtract(a: Any, b: Any) -> Tensor:
    """a - b, with numpy broadcasting."""
    return apply("subtract", [a, b])


_def("subtract", lambda g, out, x, at, need: [g, negative(g) if need[1] else None],
     subtract.__doc__, arity=2, infix="-", kernels=(_scalar_operator("-"),))


def multiply(a: Any, b: Any) -> Tensor:
    """a * b, with numpy broadcasting."""
    return apply("multiply", [a, b])


_def("multiply",
     lambda g, out, x, at, need: [g * x[1] if need[0] else None, g * x[0] if need[1] else None],
     multiply.__doc__, arity=2, infix="*", kernels=(_scalar_operator("*"),))


def divide(a: Any, b: Any) -> Tensor:
    """a / b (true division), with numpy broadcasting."""
    return apply("divide", [a, b])


def _divide_vjp(g, out, x, at, need):
    a, b = x
    # d(a/b)/da = 1/b ; d(a/b)/db = -a/b^2 = -out/b
    return [g / b if need[0] else None, negative(g * out / b) if need[1] else None]


_def("divide", _divide_vjp, divide.__doc__, arity=2, infix="/",
     kernels=(_scalar_operator("/"),))


def power(a: Any, b: Any) -> Tensor:
    """a ** b, with numpy broadcasting (a scalar exponent is the common case)."""
    return apply("power", [a, b])


def _power_vjp(g, out, x, at, need):
    a, b = x
    ga = gb = None
    if need[0]:
        # d(a^b)/da = b * a^(b-1), which is 0 where b == 0: the exponent b - 1 is replaced
        # by 1 there, so that 0^-1 = inf does not make it 0 * inf = NaN at a == 0 (needed
        # only where b may be 0: not for a constant exponent such as the 2 of x ** 2)
        nonzero = b.node.value is not None and bool(np.all(b.node.value != 0))
        ga = g * b * power(a, b - 1 if nonzero else where(equal(b, 0), 1, b - 1))
    if need[1]:
        # d(a^b)/db = a^b * log(a), taken as 0 where a <= 0 (where a^b is real only for
        # integer b, and the derivative in b does not exist)
        pos = greater(a, 0)
        ga_log = where(pos, log(where(pos, a, 1)), 0)
        gb = g * out * ga_log
    return [ga, gb]


_def("power", _power_vjp, power.__doc__, arity=2, infix="**")


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max. The gradient at a tie is split evenly between a and b."""
    return apply("maximum", [a, b])


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min. The gradient at a tie is split evenly between a and b."""
    return apply("minimum", [a, b])


def _select_vjp(first_wins):
    def vjp(g, out, x, at, need):
        a, b = x
        # share of the gradient that goes to a: 1 where a wins, 1/2 at a tie, 0 elsewhere
        share = astype(first_wins(a, b), g.dtype) + 0.5 * astype(equal(a, b), g.dtype)
        return [g * share if need[0] else None, g * (1 - share) if need[1] else None]

    return vjp


_def("maximum", _select_vjp(lambda a, b: greater(a, b)), maximum.__doc__, arity=2)
_def("minimum", _select_vjp(lambda a, b: less(a, b)), minimum.__doc__, arity=2)


def logaddexp(a: Any, b: Any) -> Tensor:
    """log(e^a + e^b) as numpy's stable logaddexp, with broadcasting (float operands only)."""
    return apply("logaddexp", [a, b])


def _logaddexp_vjp(g, out, x, at, need):
    # d/da = e^a / (e^a + e^b) = sigmoid(a - b), in [0, 1] (a - b overflows to inf only where
    # numpy's logaddexp itself flags an overflow, |a - b| > max; sigmoid(inf) = 1 is exact)
    d = x[0] - x[1]
    return [g * sigmoid(d) if need[0] else None, g * sigmoid(negative(d)) if need[1] else None]


_def("logaddexp", _logaddexp_vjp, logaddexp.__doc__, arity=2, float_only=True)


# ---------------------------------------------------------------------------- unary math


def negative(x: Any) -> Tensor:
    """-x."""
    return apply("negative", [x])


_def("negative", lambda g, out, x, at, need: [negative(g)], negative.__doc__)


def exp(x: Any) -> Tensor:
    """e ** x."""
    return apply("exp", [x])


_def("exp", lambda g, out, x, at, need: [g * out], exp.__doc__)


def log(x: Any) -> Tensor:
    """Natural logarithm."""
    return apply("log", [x])


_def("log", lambda g, out, x, at, need: [g / x[0]], log.__doc__)


def tanh(x: Any) -> Tensor:
    """Hyperbolic tangent."""
    return apply("tanh", [x])


_def("tanh", lambda g, out, x, at, need: [g * (1 - square(out))], tanh.__doc__)


def sigmoid(x: Any) -> Tensor:
    """Logistic sigmoid 1 / (1 + e^-x), computed from e^-|x|: no overflow, accurate for x << 0."""
    return apply("sigmoid", [x])


_def("sigmoid", lambda g, out, x, at, need: [g * out * (1 - out)], sigmoid.__doc__,
     emit=call("rt.sigmoid", out=True),
     compute=lambda args, attrs, shape: kernels.sigmoid(*args))


def softplus(x: Any) -> Tensor:
    """log(1 + e^x), computed stably as numpy's logaddexp(x, 0) (float x only)."""
    return apply("softplus", [x])


_def("softplus", lambda g, out, x, at, need: [g * sigmoid(x[0])], softplus.__doc__,
     emit=call("rt.softplus", out=True), float_only=True,
     compute=lambda args, attrs, shape: kernels.softplus(*args))


def log_sigmoid(x: Any) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), computed stably: finite for finite x (float x only)."""
    return apply("log_sigmoid", [x])


_def("log_sigmoid", lambda g, out, x, at, need: [g * sigmoid(negative(x[0]))],
     log_sigmoid.__doc__, emit=call("rt.log_sigmoid", out=True), float_only=True,
     compute=lambda args, attrs, shape: kernels.log_sigmoid(*args))


def relu(x: Any) -> Tensor:
    """max(x, 0). Its gradient at 0 is 0."""
    return apply("relu", [x])


_def("relu", lambda g, out, x, at, need: [where(greater(x[0], 0), g, 0)], relu.__doc__,
     emit=call("rt.relu", out=True), compute=lambda args, attrs, shape: kernels.relu(*args))


def sqrt(x: Any) -> Tensor:
    """Square root."""
    return apply("sqrt", [x])


_def("sqrt", lambda g, out, x, at, need: [g * 0.5 / out], sqrt.__doc__)


def square(x: Any) -> Tensor:
    """x * x."""
    return apply("square", [x])


_def("square", lambda g, out, x, at, need: [g * (2 * x[0])], square.__doc__)


def abs(x: Any) -> Tensor:  # noqa: A001 - numpy's name
    """|x|. Its gradient at 0 is 0."""
    return apply("abs", [x])


_def("abs", lambda g, out, x, at, need: [g * sign(x[0])], abs.__doc__, np_name="absolute")


def sign(x: Any) -> Tensor:
    """-1, 0 or 1 by the sign of x (piecewise constant: zero gradient)."""
    return apply("sign", [x])


_def("sign", None, sign.__doc__)


# --------------------------------------------------------------------------- comparisons


def _comparison(name: str, infix: str, doc: str):
    def builder(a: Any, b: Any) -> Tensor:
        return apply(name, [a, b])

    builder.__name__ = name
    builder.__doc__ = doc
    _def(name, None, doc, kind="comparison", out_dtype=bool, arity=2, infix=infix)
    return builder


less = _comparison("less", "<", "a < b (bool, no gradient).")
less_equal = _comparison("less_equal", "<=", "a <= b (bool, no gradient).")
greater = _comparison("greater", ">", "a > b (bool, no gradient).")
greater_equal = _comparison("greater_equal", ">=", "a >= b (bool, no gradient).")
equal = _comparison("equal", "==", "a == b (bool, no gradient).")
not_equal = _comparison("not_equal", "!=", "a != b (bool, no gradient).")


# ---------------------------------------------------------------------------------- where


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """a where condition is true, else b (all three broadcast). No gradient to condition."""
    return apply("where", [condition, a, b])


def _where_infer(nodes, attrs):
    if nodes[0].dtype.kind != "b":
        raise TypeError(f"where: the condition must be bool (a comparison), got {nodes[0].dtype}")
    shape = broadcast_shapes(*[n.shape for n in nodes])
    return shape, np.result_type(nodes[1].dtype, nodes[2].dtype)


def _where_vjp(g, out, x, at, need):
    c = x[0]
    return [None, where(c, g, 0) if need[1] else None, where(c, 0, g) if need[2] else None]


register(OpDef(
    name="where", kind="elementwise", infer=_where_infer,
    compute=lambda args, attrs, shape: np.where(*args),
    emit=call("xp.where"), vjp=_where_vjp, doc=where.__doc__, arity=3,
    axis_source=_broadcast_axis_source,
))


# --------------------------------------------------------------------------------- astype


def astype(x: Any, dtype: Any) -> Tensor:
    """x converted to ``dtype`` (gradient flows between float dtypes only)."""
    dt = check_dtype(dtype, "astype")
    return apply("astype", [x], dtype=dt.name)


def _astype_infer(nodes, attrs):
    return nodes[0].shape, check_dtype(attrs["dtype"], "astype")


def _astype_emit(args, attrs, ctx):
    dt = ctx.ref(np.dtype(attrs["dtype"]), "dt")
    return f"{args[0]}.astype({dt})"


def _astype_vjp(g, out, x, at, need):
    return [astype(g, x[0].dtype) if is_float(x[0]) and is_float(out) else None]


register(OpDef(
    name="astype", kind="elementwise", infer=_astype_infer,
    compute=lambda args, attrs, shape: args[0].astype(attrs["dtype"]),
    emit=_astype_emit, vjp=_astype_vjp, doc=astype.__doc__, attrs=("dtype",),
    axis_source=_broadcast_axis_source,
))

# ------------------------------------------------------------------------ more unary math
# numpy's ufuncs, with numpy's dtype rule (ints and bools -> numpy's float: int64 -> float64,
# int8 -> float16) and numpy's values, NaNs and warnings outside the domain (arcsin(2) is
# nan with numpy's "invalid value" RuntimeWarning in compiled code).

_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _one_minus_square(x: Tensor) -> Tensor:
    """1 - x^2 as (1 - x)(1 + x): no cancellation near |x| = 1."""
    return (1 - x) * (1 + x)


def sin(x: Any) -> Tensor:
    """Sine (radians)."""
    return apply("sin", [x])


_def("sin", lambda g, out, x, at, need: [g * cos(x[0])], sin.__doc__)


def cos(x: Any) -> Tensor:
    """Cosine (radians)."""
    return apply("cos", [x])


_def("cos", lambda g, out, x, at, need: [negative(g * sin(x[0]))], cos.__doc__)


def tan(x: Any) -> Tensor:
    """Tangent (radians). Its derivative is 1 + tan(x)^2."""
    return apply("tan", [x])


_def("tan", lambda g, out, x, at, need: [g * (1 + square(out))], tan.__doc__)


def arcsin(x: Any) -> Tensor:
    """Inverse sine, in [-pi/2, pi/2]; nan outside [-1, 1] (as numpy)."""
    return apply("arcsin", [x])


_def("arcsin", lambda g, out, x, at, need: [g / sqrt(_one_minus_square(x[0]))],
     arcsin.__doc__)


def arccos(x: Any) -> Tensor:
    """Inverse cosine, in [0, pi]; nan outside [-1, 1] (as numpy)."""
    return apply("arccos", [x])


_def("arccos", lambda g, out, x, at, need: [negative(g / sqrt(_one_minus_square(x[0])))],
     arccos.__doc__)


def arctan(x: Any) -> Tensor:
    """Inverse tangent, in (-pi/2, pi/2)."""
    return apply("arctan", [x])


_def("arctan", lambda g, out, x, at, need: [g / (1 + square(x[0]))], arctan.__doc__)


def sinh(x: Any) -> Tensor:
    """Hyperbolic sine."""
    return apply("sinh", [x])


_def("sinh", lambda g, out, x, at, need: [g * cosh(x[0])], sinh.__doc__)


def cosh(x: Any) -> Tensor:
    """Hyperbolic cosine."""
    return apply("cosh", [x])


_def("cosh", lambda g, out, x, at, need: [g * sinh(x[0])], cosh.__doc__)


def arcsinh(x: Any) -> Tensor:
    """Inverse hyperbolic sine. Its derivative 1 / sqrt(x^2 + 1) is taken as 1 / hypot(x, 1)
    (no overflow for large x)."""
    return apply("arcsinh", [x])


_def("arcsinh", lambda g, out, x, at, need: [g / hypot(x[0], 1.0)], arcsinh.__doc__)


def arctanh(x: Any) -> Tensor:
    """Inverse hyperbolic tangent; +-inf at +-1 and nan outside [-1, 1] (as numpy)."""
    return apply("arctanh", [x])


_def("arctanh", lambda g, out, x, at, need: [g / _one_minus_square(x[0])], arctanh.__doc__)


def log1p(x: Any) -> Tensor:
    """log(1 + x), accurate for small x."""
    return apply("log1p", [x])


_def("log1p", lambda g, out, x, at, need: [g / (1 + x[0])], log1p.__doc__)


def expm1(x: Any) -> Tensor:
    """e^x - 1, accurate for small x."""
    return apply("expm1", [x])


_def("expm1", lambda g, out, x, at, need: [g * (out + 1)], expm1.__doc__)


def log2(x: Any) -> Tensor:
    """Base-2 logarithm."""
    return apply("log2", [x])


_def("log2", lambda g, out, x, at, need: [g / (x[0] * _LN2)], log2.__doc__)


def log10(x: Any) -> Tensor:
    """Base-10 logarithm."""
    return apply("log10", [x])


_def("log10", lambda g, out, x, at, need: [g / (x[0] * _LN10)], log10.__doc__)


def exp2(x: Any) -> Tensor:
    """2 ** x."""
    return apply("exp2", [x])


_def("exp2", lambda g, out, x, at, need: [g * out * _LN2], exp2.__doc__)


def reciprocal(x: Any) -> Tensor:
    """1 / x as numpy's reciprocal: of an int dtype it stays int (numpy's integer 1 // x)."""
    return apply("reciprocal", [x])


_def("reciprocal", lambda g, out, x, at, need: [negative(g * square(out))],
     reciprocal.__doc__)


def cbrt(x: Any) -> Tensor:
    """Real cube root (negative for negative x). Its gradient at 0 is inf."""
    return apply("cbrt", [x])


_def("cbrt", lambda g, out, x, at, need: [g / (3 * square(out))], cbrt.__doc__)


def erf(x: Any) -> Tensor:
    """The error function 2/sqrt(pi) * integral_0^x exp(-t^2) dt, within 1 ulp in float64
    (numpy has none: graphc's own vectorized kernel). The dtype follows numpy's float rule
    as for ``sin`` (ints -> float64); erf(+-inf) = +-1. Its derivative is
    2/sqrt(pi) exp(-x^2)."""
    return apply("erf", [x])


_def("erf", lambda g, out, x, at, need: [g * (_TWO_OVER_SQRT_PI * exp(negative(square(x[0]))))],
     erf.__doc__, emit=call("rt.erf", out=True),
     compute=lambda args, attrs, shape: kernels.erf(*args))


# ------------------------------------------------------------------------ binary math


def hypot(a: Any, b: Any) -> Tensor:
    """sqrt(a^2 + b^2) without overflow or underflow, with numpy broadcasting."""
    return apply("hypot", [a, b])


def _hypot_vjp(g, out, x, at, need):
    a, b = x
    return [g * a / out if need[0] else None, g * b / out if need[1] else None]


_def("hypot", _hypot_vjp, hypot.__doc__, arity=2)


def arctan2(y: Any, x: Any) -> Tensor:
    """The angle of the point (x, y) in (-pi, pi], quadrant-aware: numpy's arctan2(y, x),
    with broadcasting. Gradients x / (x^2 + y^2) for y and -y / (x^2 + y^2) for x."""
    return apply("arctan2", [y, x])


def _arctan2_vjp(g, out, x, at, need):
    y, xx = x
    r2 = square(y) + square(xx)
    return [g * xx / r2 if need[0] else None, negative(g * y / r2) if need[1] else None]


_def("arctan2", _arctan2_vjp, arctan2.__doc__, arity=2)


def remainder(a: Any, b: Any) -> Tensor:
    """a - b * floor(a / b): the remainder with the sign of b (Python's %), as numpy's
    remainder/mod, with broadcasting; an int remainder by 0 is 0 (numpy warns). Gradients
    1 for a and -floor(a / b) for b (away from the jumps at a / b an integer)."""
    return apply("remainder", [a, b])


def mod(a: Any, b: Any) -> Tensor:
    """numpy's mod, the same op as ``remainder``: the remainder with the sign of b."""
    return apply("remainder", [a, b])


_def("remainder",
     lambda g, out, x, at, need: [g if need[0] else None,
                                  negative(g * floor(x[0] / x[1])) if need[1] else None],
     remainder.__doc__, arity=2, infix="%")


def fmod(a: Any, b: Any) -> Tensor:
    """a - b * trunc(a / b): the remainder with the sign of a (C's fmod), as numpy's fmod,
    with broadcasting. Gradients 1 for a and -trunc(a / b) for b."""
    return apply("fmod", [a, b])


_def("fmod",
     lambda g, out, x, at, need: [g if need[0] else None,
                                  negative(g * trunc(x[0] / x[1])) if need[1] else None],
     fmod.__doc__, arity=2)


# ------------------------------------------------------------------- rounding (no gradient)


def floor(x: Any) -> Tensor:
    """The largest integer <= x (ints stay ints, as numpy). Piecewise constant: zero
    gradient."""
    return apply("floor", [x])


_def("floor", None, floor.__doc__)


def ceil(x: Any) -> Tensor:
    """The smallest integer >= x (ints stay ints, as numpy). Piecewise constant: zero
    gradient."""
    return apply("ceil", [x])


_def("ceil", None, ceil.__doc__)


def trunc(x: Any) -> Tensor:
    """x rounded towards 0 (ints stay ints, as numpy). Piecewise constant: zero gradient."""
    return apply("trunc", [x])


_def("trunc", None, trunc.__doc__)


def round(x: Any, decimals: int = 0) -> Tensor:  # noqa: A001 - numpy's name
    """x rounded to ``decimals`` decimal places as numpy's round: halves to even
    (0.5 -> 0.0, 1.5 -> 2.0, -2.5 -> -2.0); ints stay ints; a negative ``decimals`` rounds
    to tens, hundreds, ... Piecewise constant: zero gradient."""
    return apply("round", [x], decimals=decimals)


def _round_normalize(nodes, attrs):
    d = attrs["decimals"]
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
        raise TypeError(f"round: decimals must be an int, got {d!r}")
    if not -(2**31) <= d < 2**31:  # numpy's C int
        raise ValueError(f"round: decimals={d} is out of range (numpy takes a 32-bit int)")
    return {"decimals": int(d)}


@cache
def _round_dtype(dtype: np.dtype, decimals: int) -> np.dtype:
    return probe_dtype(lambda a: np.round(a, decimals), dtype)


def _round_infer(nodes, attrs):
    # numpy's dtype for this decimals (a bool rounds to float16 at decimals=0, is refused at
    # any other)
    dt = _round_dtype(nodes[0].dtype, attrs["decimals"])
    check_dtype(dt, "round")
    return nodes[0].shape, dt


register(OpDef(
    name="round", kind="elementwise", infer=_round_infer, normalize=_round_normalize,
    compute=lambda args, attrs, shape: np.round(args[0], attrs["decimals"]),
    emit=call("xp.round", out=True), vjp=None, out=True, ufunc=True, inplace=True,
    doc=round.__doc__, attrs=("decimals",), axis_source=_broadcast_axis_source,
))


# ---------------------------------------------------------------------------------- clip


def clip(a: Any, a_min: Any = None, a_max: Any = None) -> Tensor:
    """a limited to [a_min, a_max] as numpy's clip: ``min(max(a, a_min), a_max)`` (so a_max
    wins where a_min > a_max), every operand broadcast; either bound may be None (no limit),
    a scalar or a tensor; the dtype is numpy's for the operands (int a, float bound ->
    float).

    Gradient (as torch.clamp): to a where a_min <= a <= a_max (the boundaries included),
    to a_min where a < a_min <= a_max, to a_max where a > a_max or a_min > a_max; so each
    element's gradient goes to exactly one operand (torch drops it where a < a_min == a_max;
    graphc gives it to a_min).
    """
    bounds = [b for b in (a_min, a_max) if b is not None]
    return apply("clip", [a, *bounds], lower=a_min is not None, upper=a_max is not None)


def _clip_normalize(nodes, attrs):
    lower, upper = attrs["lower"], attrs["upper"]
    for name, v in (("lower", lower), ("upper", upper)):
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"clip: {name} must be a bool, got {v!r}")
    want = 1 + bool(lower) + bool(upper)
    if len(nodes) != want:
        raise TypeError(f"clip with lower={bool(lower)}, upper={bool(upper)} takes {want} "
                        f"operand(s), got {len(nodes)}")
    return {"lower": bool(lower), "upper": bool(upper)}


def _clip_args(args, attrs):
    """(a, a_min or None, a_max or None) from the operands present."""
    rest = iter(args[1:])
    lo = next(rest) if attrs["lower"] else None
    hi = next(rest) if attrs["upper"] else None
    return args[0], lo, hi


@cache
def _clip_dtype(lower: bool, upper: bool, *dtypes: np.dtype) -> np.dtype:
    def fn(*xs):
        return np.clip(*_clip_args(xs, {"lower": lower, "upper": upper}))

    return probe_dtype(fn, *dtypes)


def _clip_infer(nodes, attrs):
    shape = broadcast_shapes(*[n.shape for n in nodes])
    dt = _clip_dtype(attrs["lower"], attrs["upper"], *[n.dtype for n in nodes])
    check_dtype(dt, "clip")
    return shape, dt


def _clip_emit(args, attrs, ctx):
    a, lo, hi = _clip_args(args, attrs)
    out = f", out={ctx.out}" if ctx.out is not None else ""
    return f"xp.clip({a}, {lo or 'None'}, {hi or 'None'}{out})"


def _clip_vjp(g, out, x, at, need):
    a, lo, hi = _clip_args(x, at)

    def to_a():  # a_min <= a <= a_max (None: no bound, all of g)
        if lo is None:
            return None if hi is None else less_equal(a, hi)
        return greater_equal(a, lo) if hi is None else logical_and(greater_equal(a, lo),
                                                                   less_equal(a, hi))

    def to_lo():  # a < a_min <= a_max
        return less(a, lo) if hi is None else logical_and(less(a, lo), less_equal(lo, hi))

    def to_hi():  # a > a_max, or a_min > a_max (then the result is a_max)
        return greater(a, hi) if lo is None else logical_or(greater(a, hi), greater(lo, hi))

    rules = [to_a] + ([to_lo] if lo is not None else []) + ([to_hi] if hi is not None else [])
    grads = []
    for needed, rule in zip(need, rules):
        mask = rule() if needed else None
        grads.append(None if not needed else g if mask is None else where(mask, g, 0))
    return grads


register(OpDef(
    name="clip", kind="elementwise", infer=_clip_infer, normalize=_clip_normalize,
    compute=lambda args, attrs, shape: np.clip(*_clip_args(args, attrs)),
    emit=_clip_emit, vjp=_clip_vjp, arity=None, out=True, ufunc=True, inplace=True,
    doc=clip.__doc__, attrs=("lower", "upper"), axis_source=_broadcast_axis_source,
))


# ------------------------------------------------------------- predicates and logic (bool)


def isfinite(x: Any) -> Tensor:
    """True where x is neither inf nor nan (bool, no gradient; always true for ints)."""
    return apply("isfinite", [x])


_def("isfinite", None, isfinite.__doc__, kind="comparison")


def isnan(x: Any) -> Tensor:
    """True where x is nan (bool, no gradient)."""
    return apply("isnan", [x])


_def("isnan", None, isnan.__doc__, kind="comparison")


def logical_and(a: Any, b: Any) -> Tensor:
    """a and b, elementwise, of any dtypes (nonzero is true), with broadcasting (bool)."""
    return apply("logical_and", [a, b])


_def("logical_and", None, logical_and.__doc__, kind="comparison", arity=2)


def logical_or(a: Any, b: Any) -> Tensor:
    """a or b, elementwise, of any dtypes (nonzero is true), with broadcasting (bool)."""
    return apply("logical_or", [a, b])


_def("logical_or", None, logical_or.__doc__, kind="comparison", arity=2)


def logical_xor(a: Any, b: Any) -> Tensor:
    """a xor b, elementwise, of any dtypes (nonzero is true), with broadcasting (bool)."""
    return apply("logical_xor", [a, b])


_def("logical_xor", None, logical_xor.__doc__, kind="comparison", arity=2)


def logical_not(x: Any) -> Tensor:
    """not x, elementwise, of any dtype (nonzero is true) (bool)."""
    return apply("logical_not", [x])


_def("logical_not", None, logical_not.__doc__, kind="comparison")


#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "abs", "add", "arccos", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "astype",
    "cbrt", "ceil", "clip", "cos", "cosh", "divide", "equal", "erf", "exp", "exp2", "expm1",
    "floor", "fmod", "greater", "greater_equal", "hypot", "isfinite", "isnan", "less",
    "less_equal", "log", "log1p", "log2", "log10", "log_sigmoid", "logaddexp", "logical_and",
    "logical_not", "logical_or", "logical_xor", "maximum", "minimum", "mod", "multiply",
    "negative", "not_equal", "power", "reciprocal", "relu", "remainder", "round", "sigmoid",
    "sign", "sin", "sinh", "softplus", "sqrt", "square", "subtract", "tan", "tanh", "trunc",
    "where",
]
