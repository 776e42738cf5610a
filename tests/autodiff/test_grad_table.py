"""Every op's vjp against finite differences, table-driven over the op registry.

Each case builds ``y`` from fresh inputs (symbolic ``B`` where the shape has one), feeds
values from a domain away from the op's kinks, and runs ``gc.check_grad`` to second order
at 1e-6 relative in float64. Cases with a symbolic dim run with B bound to 1 and to 3.
A coverage test keeps the table honest: every registered op is either here or listed as
non-differentiable.
"""

from __future__ import annotations

import runpy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from _gradkit import check, concrete, draw, dtype_of, has_symbol, ops_under, rng_for

import graphc as gc
from graphc.errors import ShapeError
from graphc.ir.dims import Shape, broadcast_shapes
from graphc.ops import all_ops, getitem
from graphc.ops.indexing import normalize_index

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

#: registered ops that carry no gradient (vjp None): piecewise constant, bool/int valued, or
#: not computed at all (sources)
NON_DIFFERENTIABLE = {
    "less", "less_equal", "greater", "greater_equal", "equal", "not_equal",  # bool
    "sign",  # piecewise constant
    "numel",  # an element count
    "full", "arange",  # no operands: created from the symbols' sizes
    "input", "param", "constant",  # sources
}


@dataclass(frozen=True)
class Case:
    """One finite-difference check: ``y = build(*inputs)``, differentiated w.r.t. ``wrt``."""

    op: str
    label: str
    shapes: tuple
    build: Callable[..., gc.Tensor]
    domains: tuple = ()
    wrt: tuple | None = None  # indices of the inputs to differentiate; default: float ones
    order: int = 2

    def domain(self, k: int) -> str:
        return self.domains[k] if k < len(self.domains) else "any"


CASES: list[Case] = []


def case(op: str, label: str, shapes, build, domains=(), wrt=None, order=2) -> None:
    CASES.append(Case(op, f"{op}:{label}", tuple(Shape(s) for s in shapes), build,
                      tuple(domains), wrt, order))


def fmt(shape) -> str:
    return str(Shape(shape)).replace(" ", "")


# ----------------------------------------------------------------- binary elementwise grid

GRID = [(), (4,), (3, 4), (1, 4), ("B", 4), ("B", 1, 4), ("B", 3, 1)]


def _broadcastable(sa, sb) -> bool:
    try:
        broadcast_shapes(Shape(sa), Shape(sb))
    except ShapeError:
        return False
    return True


PAIRS = [(sa, sb) for sa in GRID for sb in GRID if _broadcastable(sa, sb)]

BINARY = {
    "add": (gc.add, "any", "any"),
    "subtract": (gc.subtract, "any", "any"),
    "multiply": (gc.multiply, "any", "any"),
    "divide": (gc.divide, "any", "away0"),
    "power": (gc.power, "pos", "any"),  # a tensor exponent
    "maximum": (gc.maximum, "lattice", "lattice_half"),  # no ties (tested exactly elsewhere)
    "minimum": (gc.minimum, "lattice", "lattice_half"),
    "logaddexp": (gc.logaddexp, "any", "any"),
}
for _name, (_fn, _da, _db) in BINARY.items():
    for _sa, _sb in PAIRS:
        case(_name, f"{fmt(_sa)}x{fmt(_sb)}", [_sa, _sb], _fn, [_da, _db])
    # the same tensor on both sides: the two contributions add up
    case(_name, "self", [("B", 4)], lambda a, fn=_fn: fn(a, a * 0.5 + 0.3),
         ["pos" if _name in ("divide", "power") else _da])

# scalar and constant operands (weakly typed python scalars, arrays baked in)
case("power", "x**3", [("B", 4)], lambda a: a ** 3)
case("power", "x**2.5", [(3, 4)], lambda a: a ** 2.5, ["pos"])
case("power", "x**-1", [("B", 4)], lambda a: a ** -1, ["away0"])
case("power", "x**0.5", [()], lambda a: gc.power(a, 0.5), ["pos"])
case("power", "2**x", [("B", 4)], lambda a: 2.0 ** a)
case("power", "x**const(4,)", [("B", 3, 4)], lambda a: a ** np.array([1.0, 2.0, 3.0, 0.5]),
     ["pos"])
case("divide", "1/x", [(3, 4)], lambda a: 1.0 / a, ["away0"])
case("divide", "x/2", [("B", 4)], lambda a: a / 2.0)
case("subtract", "1-x", [("B", 4)], lambda a: 1.0 - a)
case("maximum", "relu-like", [("B", 4)], lambda a: gc.maximum(a, 0.0), ["away0"])
case("minimum", "clip", [("B", 4)], lambda a: gc.minimum(a, 0.625), ["lattice"])

# ------------------------------------------------------------------------ unary elementwise

UNARY_SHAPES = [(), (4,), (3, 4), ("B", 4), ("B", 1, 4)]
UNARY = {
    "negative": (gc.negative, "any"),
    "exp": (gc.exp, "any"),
    "log": (gc.log, "pos"),
    "tanh": (gc.tanh, "any"),
    "sigmoid": (gc.sigmoid, "any"),
    "softplus": (gc.softplus, "any"),
    "log_sigmoid": (gc.log_sigmoid, "any"),
    "relu": (gc.relu, "away0"),
    "sqrt": (gc.sqrt, "pos"),
    "square": (gc.square, "any"),
    "abs": (gc.abs, "away0"),
    "astype": (lambda x: gc.astype(x, np.float64), "any"),
}
for _name, (_fn, _d) in UNARY.items():
    for _s in UNARY_SHAPES:
        case(_name, fmt(_s), [_s], _fn, [_d])
case("sigmoid", "large", [(4,)], lambda a: gc.sigmoid(a * 30.0))
# large arguments: the stable forms keep first and second derivatives right far from 0
case("softplus", "large", [(4,)], lambda a: gc.softplus(a * 30.0))
case("log_sigmoid", "large", [(4,)], lambda a: gc.log_sigmoid(a * 30.0))
case("logaddexp", "large", [("B", 4), (4,)], lambda a, b: gc.logaddexp(a * 30.0, b * 30.0))
case("logaddexp", "x,0", [("B", 4)], lambda a: gc.logaddexp(a, 0.0))
case("astype", "chain", [("B", 4)], lambda a: gc.astype(gc.tanh(a), "float64") * a)

# ------------------------------------------------------------------------------- where

WHERE_SHAPES = [
    ((3, 4), (3, 4), (3, 4)),
    (("B", 4), (4,), ()),
    (("B", 1, 4), ("B", 3, 1), (4,)),
    ((), ("B", 4), (1, 4)),
]
for _sc, _sa, _sb in WHERE_SHAPES:
    # the condition comes from a comparison of a third input c, which gets a zero gradient
    case("where", f"{fmt(_sc)},{fmt(_sa)},{fmt(_sb)}", [_sc, _sa, _sb],
         lambda c, a, b: gc.where(c > 0, a, b), ["away0"])
case("where", "bool-input", [(3, 4), (3, 4), ("B", 3, 4)],
     lambda c, a, b: gc.where(c, a * a, b), ["bool"], wrt=(1, 2))
case("where", "safe-log", [("B", 4)],
     lambda a: gc.where(a > 0, gc.log(gc.where(a > 0, a, 1.0)), 0.0), ["away0"])

# -------------------------------------------------------------------------- reductions

REDUCE_CONFIGS = [
    ((), None), ((4,), None), ((4,), 0), ((3, 4), None), ((3, 4), 0), ((3, 4), -1),
    ((3, 4), (0, 1)), (("B", 4), 0), (("B", 4), -1), (("B", 4), None), (("B", 3, 4), (0, 2)),
    (("B", 3, 4), 1), (("B", 1, 4), 1),
]
REDUCE = {"sum": (gc.sum, "any"), "mean": (gc.mean, "any"), "max": (gc.max, "lattice"),
          "logsumexp": (gc.logsumexp, "any")}
for _name, (_fn, _d) in REDUCE.items():
    for _s, _axis in REDUCE_CONFIGS:
        for _kd in (False, True):
            case(_name, f"{fmt(_s)},axis={_axis},keepdims={_kd}", [_s],
                 lambda a, fn=_fn, axis=_axis, kd=_kd: fn(a, axis=axis, keepdims=kd), [_d])
case("max", "method", [("B", 4)], lambda a: a.max(axis=1) * a.max(), ["lattice"])
case("mean", "method", [("B", 4)], lambda a: a.mean(axis=0) ** 2)

AXISWISE_CONFIGS = [((4,), -1), ((3, 4), 0), ((3, 4), -1), (("B", 4), -1), (("B", 4), 0),
                    (("B", 3, 4), 1), (("B", 1, 4), 1), (("B", 3, 4), -1)]
for _name, _fn in (("softmax", gc.softmax), ("log_softmax", gc.log_softmax)):
    for _s, _axis in AXISWISE_CONFIGS:
        case(_name, f"{fmt(_s)},axis={_axis}", [_s], lambda a, fn=_fn, axis=_axis: fn(a, axis))

# --------------------------------------------------------------------------------- matmul

MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((4,), (4, 2)),  # 1-D promotion on the left
    ((3, 4), (4,)),  # on the right
    ((4,), (4,)),  # both: a dot product
    (("B", 3, 4), (4, 2)),  # row layout: W's gradient sums over B
    ((2, 4), ("B", 4, 1)),  # column layout W @ x: W's gradient sums over B
    (("B", 3, 4), ("B", 4, 2)),
    ((5, 3, 4), (1, 4, 2)),  # batch axes broadcast 1 -> 5
    (("B", 1, 3, 4), (2, 4, 5)),  # batch axes (B, 1) x (2,) -> (B, 2)
    ((4,), ("B", 4, 2)),
    (("B", 3, 4), (4,)),
    (("B", 4), (4, 3)),
]
for _sa, _sb in MATMUL_SHAPES:
    case("matmul", f"{fmt(_sa)}@{fmt(_sb)}", [_sa, _sb], lambda a, b: a @ b)
case("matmul", "x@x.T", [(3, 4)], lambda a: a @ a.T)
case("matmul", "chain", [("B", 3), (3, 4), (4, 2)], lambda x, w1, w2: gc.tanh(x @ w1) @ w2)

# ---------------------------------------------------------------------------- shape ops

for _s, _t in [((3, 4), (4, 3)), ((3, 4), (12,)), ((3, 4), (2, -1)), ((), (1, 1)),
               (("B", 4), ("B", 2, 2)), (("B", 3, 4), ("B", -1)), (("B", 1, 4), ("B", 4)),
               ((1, 4), (4,))]:
    case("reshape", f"{fmt(_s)}->{_t}", [_s], lambda a, t=_t: gc.reshape(a, t) * 1.5)
case("reshape", "method", [("B", 6)], lambda a: a.reshape("B", 2, 3).sum(axis=1))

for _s, _t in [((4,), (3, 4)), ((1, 4), (3, 4)), (("B", 1), ("B", 4)), ((), (2, 3)),
               (("B", 1, 4), ("B", 3, 4)), ((3, 1), (2, 3, 4)), (("B", 4), ("B", 4))]:
    case("broadcast_to", f"{fmt(_s)}->{_t}", [_s], lambda a, t=_t: gc.broadcast_to(a, t))

for _s, _a1, _a2 in [((3, 4), 0, 1), (("B", 3, 4), -1, -2), (("B", 3, 4), 0, 2),
                     ((3, 4), 1, 1)]:
    case("swapaxes", f"{fmt(_s)},{_a1},{_a2}", [_s],
         lambda a, a1=_a1, a2=_a2: gc.swapaxes(a, a1, a2))
case("swapaxes", ".mT", [("B", 3, 4)], lambda a: a.mT @ a)

for _s, _p in [((3, 4), None), (("B", 3, 4), (2, 0, 1)), (("B", 3, 4), None),
               ((2, 3, 4), (1, 2, 0))]:
    case("transpose", f"{fmt(_s)},{_p}", [_s], lambda a, p=_p: gc.transpose(a, p))
case("transpose", ".T", [(3, 4)], lambda a: a.T * 2.0)

for _s, _a in [((4,), 0), ((3, 4), -1), (("B", 4), (0, 2)), ((), 0)]:
    case("expand_dims", f"{fmt(_s)},{_a}", [_s], lambda a, ax=_a: gc.expand_dims(a, ax))
for _s, _a in [((1, 4), 0), (("B", 1, 4), 1), ((3, 1, 1), None), ((1,), None)]:
    case("squeeze", f"{fmt(_s)},{_a}", [_s], lambda a, ax=_a: gc.squeeze(a, ax))

case("concatenate", "axis0", [(2, 4), (3, 4)], lambda a, b: gc.concatenate([a, b], 0))
case("concatenate", "B-axis-1", [("B", 2), ("B", 3)], lambda a, b: gc.concatenate([a, b], -1))
case("concatenate", "1-d-three", [(4,), (1,), (2,)], lambda a, b, c: gc.concatenate([a, b, c]))
case("concatenate", "single", [("B", 3)], lambda a: gc.concatenate([a], axis=1))
case("concatenate", "same-twice", [("B", 2, 3)], lambda a: gc.concatenate([a, a * a], axis=1))
case("concatenate", "B,axis1", [("B", 1, 4), ("B", 2, 4)],
     lambda a, b: gc.concatenate([a, b], axis=1))

# ------------------------------------------------------------------------------- indexing

_ = slice(None)
GETITEM = [
    ((3, 4), 1), ((3, 4), -1), ((3, 4), (_, slice(1, 3))), ((3, 4), None),
    ((3, 4), slice(None, None, -1)), ((3, 4), (-1, slice(None, None, -2))),
    (("B", 4), (_, 2)), (("B", 3, 4), (Ellipsis, 0)),
    ((3, 4), (slice(1, None), None, slice(None, None, -1))), ((5,), slice(4, 0, -2)),
    (("B", 3, 4), (_, -1, _, None)), ((3, 4), (slice(3, None),)), ((4,), 2),
]
for _s, _i in GETITEM:
    case("getitem", f"{fmt(_s)}[{_i!r}]", [_s], lambda a, i=_i: a[i])
case("getitem", "overlapping", [("B", 4)], lambda a: a[:, 1:] * a[:, :-1])

GETITEM_GRAD = [((3, 4), 1), (("B", 4), (_, 2)), ((3, 4), (slice(None, None, -1), None)),
                ((5,), slice(4, 0, -2))]
for _s, _i in GETITEM_GRAD:
    def _scatter(g, s=_s, i=_i):
        return g.graph.apply("getitem_grad", [g], {"index": normalize_index(i, len(s)),
                                                   "shape": tuple(Shape(s))})

    _gshape = Shape(getitem(gc.Graph().input("t", _s), _i).shape)
    case("getitem_grad", f"{fmt(_s)}[{_i!r}]", [_gshape], _scatter)

TAKE = [  # (x shape, index shape, axis, index domain); int:2 along a longer axis repeats
    ((3, 5), (3, 4), 1, "int:2"),
    (("B", 5), ("B", 1), 1, "int:5"),  # cross-entropy: one label per row
    ((5, 3), (4, 3), 0, "int:2"),
    ((1, 5), (3, 4), 1, "int:3"),  # x broadcast against the indices
    ((3, 5), (1, 4), 1, "int:5"),  # indices broadcast against x
    (("B", 3, 5), ("B", 3, 6), -1, "int:3"),
]
for _sx, _si, _ax, _d in TAKE:
    case("take_along_axis", f"{fmt(_sx)},{fmt(_si)},axis={_ax}", [_sx, _si],
         lambda x, i, ax=_ax: gc.take_along_axis(x, i, ax), ["any", _d], wrt=(0,))
case("take_along_axis", "nll", [("B", 5), ("B",)],
     lambda z, y: -gc.take_along_axis(gc.log_softmax(z), y[:, None], axis=1).mean(),
     ["any", "int:5"], wrt=(0,))

for _sg, _si, _sx, _ax in [((3, 4), (3, 4), (3, 5), 1), (("B", 1), ("B", 1), ("B", 5), 1),
                           ((3, 4), (3, 4), (1, 5), 1)]:
    case("take_along_axis_grad", f"{fmt(_sg)}->{fmt(_sx)}", [_sg, _si],
         lambda g, i, sx=_sx, ax=_ax: g.graph.apply(
             "take_along_axis_grad", [g, i], {"axis": ax, "shape": tuple(Shape(sx))}),
         ["any", "int:2"], wrt=(0,))


# ------------------------------------------------------------------------------ triangles

for _s, _k in [((4, 4), 0), (("B", 3, 3), 1), (("B", 2, 3, 4), -1), ((3, 5), 2), ((2, 3), -3)]:
    case("tril", f"{fmt(_s)},k={_k}", [_s], lambda a, k=_k: gc.tril(a, k) * a)
    case("triu", f"{fmt(_s)},k={_k}", [_s], lambda a, k=_k: gc.triu(a, k=k) * a)
# a causal mask made from the operand's symbolic length, and a mask of ones times x
case("tril", "masked-softmax", [("B", "T", "T")],
     lambda a: gc.softmax(gc.where(gc.tril(a.graph.ones((a.shape[1],) * 2, bool)), a, -1e9)))
case("triu", "ones-like", [("B", 3, 3)], lambda a: gc.triu(gc.ones_like(a)) * gc.tanh(a))
case("tril", "of-a-product", [("B", 3, 3)], lambda a: gc.tril(a @ a.mT, -1))


# more cases, one file per op family (``grad_cases_<family>.py`` next to this file), run in
# this module's namespace: they call ``case`` and may add to NON_DIFFERENTIABLE
for _path in sorted(Path(__file__).parent.glob("grad_cases_*.py")):
    runpy.run_path(str(_path), init_globals=dict(globals()))


# ---------------------------------------------------------------------------------- tests


def _params():
    for c in CASES:
        for B in ((1, 3) if has_symbol(*c.shapes) else (None,)):
            yield pytest.param(c, B, id=f"{c.label}-B{B}" if B else c.label)


def build_case(c: Case, B: int | None) -> tuple[gc.Tensor, list[gc.Tensor], dict]:
    g = gc.Graph(c.label)
    ins = [g.input(f"x{k}", s, dtype_of(c.domain(k))) for k, s in enumerate(c.shapes)]
    y = c.build(*ins)
    rng = rng_for(f"{c.label}-{B}")
    feed = {t: draw(rng, concrete(s, B), c.domain(k))
            for k, (t, s) in enumerate(zip(ins, c.shapes))}
    wrt = c.wrt if c.wrt is not None else [k for k in range(len(ins))
                                           if dtype_of(c.domain(k)) is np.float64]
    return y, [ins[k] for k in wrt], feed


@pytest.mark.parametrize("c,B", list(_params()))
def test_vjp_matches_finite_differences(c: Case, B: int | None):
    y, xs, feed = build_case(c, B)
    assert c.op in ops_under(y), f"case {c.label} does not exercise {c.op}"
    check(y, xs, feed, order=c.order)


def test_every_op_is_in_the_table_or_declared_non_differentiable():
    ops = all_ops()
    tested = {c.op for c in CASES}
    assert tested | NON_DIFFERENTIABLE == set(ops), (
        f"untested ops: {sorted(set(ops) - tested - NON_DIFFERENTIABLE)}; "
        f"unknown ops in the table: {sorted((tested | NON_DIFFERENTIABLE) - set(ops))}")
    assert not tested & NON_DIFFERENTIABLE
    assert all(ops[name].vjp is not None for name in tested)
    assert all(ops[name].vjp is None for name in NON_DIFFERENTIABLE)


def test_every_contract_op_has_at_least_two_cases():
    counts: dict[str, int] = {}
    for c in CASES:
        counts[c.op] = counts.get(c.op, 0) + 1
    assert min(counts.values()) >= 2, {k: v for k, v in counts.items() if v < 2}


def test_grid_covers_the_issue_shapes_with_both_batch_bindings():
    params = list(_params())
    labels = {p.id for p in params}
    assert "add:(B,1,4)x(1,4)-B1" in labels and "add:(B,1,4)x(1,4)-B3" in labels
    assert "add:()x(3,4)" in labels
    assert not any(lbl.startswith("add:(3,4)x(B,4)") for lbl in labels)  # B vs 3: ShapeError


def test_check_grad_catches_a_wrong_vjp(monkeypatch):
    """The table can fail: a vjp off by a factor is caught, first and second order."""
    import dataclasses

    from graphc.ir import opdef as registry

    bad = dataclasses.replace(registry.get_op("tanh"),
                              vjp=lambda g, out, x, at, need: [g * (1.001 - gc.square(out))])
    monkeypatch.setitem(registry._REGISTRY, "tanh", bad)
    c = next(c for c in CASES if c.label == "tanh:(B,4)")
    y, xs, feed = build_case(c, 3)
    with pytest.raises(gc.GradCheckError, match="first order"):
        gc.check_grad(y, xs, feed)


def test_check_grad_catches_a_wrong_second_derivative(monkeypatch):
    """tanh's vjp is built from square; a wrong square vjp only shows at second order."""
    import dataclasses

    from graphc.ir import opdef as registry

    bad = dataclasses.replace(registry.get_op("square"),
                              vjp=lambda g, out, x, at, need: [g * (2.01 * x[0])])
    monkeypatch.setitem(registry._REGISTRY, "square", bad)
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    y = gc.tanh(x)
    feed = {x: np.random.default_rng(0).standard_normal((3, 4))}
    gc.check_grad(y, [x], feed, order=1)
    with pytest.raises(gc.GradCheckError, match="second order"):
        gc.check_grad(y, [x], feed, order=2)


def _compiled_params():
    for c in CASES:
        B = 3 if has_symbol(*c.shapes) else None
        yield pytest.param(c, B, id=f"{c.label}-B{B}" if B else c.label)


@pytest.mark.parametrize("c,B", list(_compiled_params()))
def test_compiled_gradients_equal_the_reference(c: Case, B: int | None):
    """The first- and second-order gradient graphs compile to the evaluator's values."""
    y, xs, feed = build_case(c, B)
    g = y.graph
    u = g.input("u", y.shape)
    feed[u] = rng_for(c.label).standard_normal(concrete(y.shape, B))
    first = gc.grad(y, xs, seed=u)
    second = gc.grad(gc.sum(gc.square(first[0])), xs)
    outs = [y, *first, *second]
    want = gc.evaluate(outs, feed)
    got = gc.compile(outs, inputs=list(feed))(*feed.values())
    for w, v in zip(want, got):
        assert v.shape == w.shape and v.dtype == w.dtype
        np.testing.assert_allclose(v, w, rtol=1e-12, atol=1e-12)
