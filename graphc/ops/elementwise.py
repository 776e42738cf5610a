"""Elementwise ops: arithmetic, unary math, activations, comparisons, where, astype.

Each block holds one op: its builder, shape and dtype rule (numpy broadcasting; numpy's own
dtype promotion, probed once per dtype combination), reference compute, numpy lowering and
vjp. A vjp may return its gradient in the broadcast output shape: the autodiff driver sums
it back to the operand's shape, so no rule here unbroadcasts.
"""

from __future__ import annotations

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

#: the public builders (re-exported by graphc.ops and graphc)
__all__ = [
    "abs", "add", "astype", "divide", "equal", "exp", "greater", "greater_equal", "less",
    "less_equal", "log", "log_sigmoid", "logaddexp", "maximum", "minimum", "multiply",
    "negative", "not_equal", "power", "relu", "sigmoid", "sign", "softplus", "sqrt", "square",
    "subtract", "tanh", "where",
]
