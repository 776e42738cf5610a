"""gc.pad, gc.tile and gc.repeat: numpy's results through ``gc.compile`` and ``gc.evaluate``
for concrete and symbolic shapes (the symbols bound to several sizes through one compiled
Function), shapes as dim expressions, gradients against finite differences and against an
independent adjoint, canonical attributes and the errors.

Chosen semantics checked here: ``reflect`` needs each padded axis longer than its widths
(numpy's repeated reflection is refused), ``edge`` needs a padded axis of size >= 1 (numpy
refuses an empty one too); on a symbolic axis both are checked when the symbols are bound.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

import graphc as gc
from graphc.io import dumps, loads

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

#: the sizes each symbol is bound to (every combination, through one compiled Function)
SIZES = (1, 2, 5)


def bindings(shape) -> list[dict[str, int]]:
    syms = gc.Shape(shape).symbols
    return [dict(zip(syms, vs)) for vs in itertools.product(SIZES, repeat=len(syms))]


def draw(rng, shape, dtype):
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


@dataclass(frozen=True)
class Case:
    """``gc.<fn>(x, *args, **kw)`` against ``np.<fn>(a, *args, **kw)``."""

    fn: str
    shape: tuple
    args: tuple
    kw: tuple = ()
    #: the shape the rule gives, as dim expressions
    out: tuple | None = None

    def build(self, x):
        return getattr(gc, self.fn)(x, *self.args, **dict(self.kw))

    def ref(self, a):
        return getattr(np, self.fn)(a, *self.args, **dict(self.kw))

    @property
    def id(self) -> str:
        kw = ",".join(f"{k}={v!r}" for k, v in self.kw)
        return f"{self.fn}{gc.Shape(self.shape)}{self.args!r}{kw}".replace(" ", "")


def pad_allowed(shape, pad_width, mode) -> bool:
    """The chosen rule, written out independently: edge needs a padded axis >= 1, reflect a
    padded axis longer than each of its widths."""
    w = np.broadcast_to(np.asarray(pad_width, dtype=int), (len(shape), 2))
    for d, (b, a) in zip(shape, w):
        if b or a:
            if mode == "edge" and d < 1:
                return False
            if mode == "reflect" and d <= max(b, a):
                return False
    return True


def allowed(c: Case, shape) -> bool:
    if c.fn != "pad":
        return True
    return pad_allowed(shape, c.args[0], dict(c.kw).get("mode", "constant"))


def P(shape, width, mode="constant", out=None, **kw):
    return Case("pad", shape, (width,), tuple(sorted({"mode": mode, **kw}.items())), out)


def T(shape, reps, out=None):
    return Case("tile", shape, (reps,), (), out)


def R(shape, repeats, axis=None, out=None):
    return Case("repeat", shape, (repeats,), (("axis", axis),), out)


SYMBOLIC = [
    P(("B", "T"), ((0, 0), (1, 2)), out=("B", "T + 3")),
    P(("B", "T"), 1, out=("B + 2", "T + 2")),
    P(("B", "T"), (2, 0), out=("B + 2", "T + 2")),
    P((3, "T"), ((1,), (2,)), out=(5, "T + 4")),
    P(("B", "T"), ((0, 1), (2, 1)), constant_values=-1.5, out=("B + 1", "T + 3")),
    P(("B", "T"), ((0, 0), (1, 2)), "edge", out=("B", "T + 3")),
    P(("B", "T"), 2, "edge", out=("B + 4", "T + 4")),
    P(("B", 3, "T"), ((1, 0), (0, 0), (0, 2)), "edge", out=("B + 1", 3, "T + 2")),
    P(("B", "T"), ((0, 0), (1, 2)), "reflect", out=("B", "T + 3")),
    P(("B", "T"), 1, "reflect", out=("B + 2", "T + 2")),
    P(("T",), (4, 1), "reflect", out=("T + 5",)),
    P(("B", 4), ((1, 1), (3, 2)), "reflect", out=("B + 2", 9)),
    T(("B", "T"), (2, 3), out=("2*B", "3*T")),
    T(("B", "T"), 2, out=("B", "2*T")),
    T(("T",), (2, 1), out=(2, "T")),
    T(("B", "T"), (2, 1, 1), out=(2, "B", "T")),
    T(("B", "T"), (0, 2), out=(0, "2*T")),
    T(("B", 3), (1, 1), out=("B", 3)),
    R(("B", "T"), 3, 1, out=("B", "3*T")),
    R(("B", "T"), 2, 0, out=("2*B", "T")),
    R(("B", "T"), 2, -1, out=("B", "2*T")),
    R(("B", "T"), 3, out=("3*B*T",)),
    R(("B", 2, "T"), 1, 1, out=("B", 2, "T")),
    R(("B", "T"), 0, 1, out=("B", 0)),
    R(("B",), 4, out=("4*B",)),
]

CONCRETE = [
    P((3, 4), ((1, 2), (0, 3))), P((4,), 3, "edge"), P((4,), 3, "reflect"),
    P((3, 4), ((2, 2), (3, 1)), "reflect"), P((0, 3), 1), P((0, 3), ((0, 0), (1, 1)), "edge"),
    P((), 2), P((2, 3), 0, "reflect"), P((1, 3), ((0, 0), (2, 2)), "reflect"),
    P((2, 3), 1, constant_values=7), P((1, 1), 2, "edge"),
    T((3, 4), (2, 3)), T((4,), (2, 2, 2)), T((), (2, 3)), T((), ()), T((2, 3), ()),
    T((2, 3), 0), T((0, 3), 2),
    R((3, 4), 2, 0), R((3, 4), 3), R((), 4), R((3, 4), 0), R((0, 4), 2, 1), R((2, 3, 4), 2, -2),
]


def _compare(c: Case, dtype, shapes) -> int:
    """One compiled Function for ``c``, called on arrays of each concrete shape; each result
    equal to numpy's and to gc.evaluate's. Returns how many shapes it ran."""
    rng = np.random.default_rng(0)
    g = gc.Graph()
    x = g.input("x", c.shape, dtype=dtype)
    y = c.build(x)
    assert y.op == c.fn and y.dtype == np.dtype(dtype)
    f = gc.compile(y, inputs=[x])
    ran = 0
    for binding, shape in shapes:
        a = draw(rng, shape, dtype)
        if not allowed(c, shape):
            with pytest.raises(gc.ShapeError, match="needs"):
                f(a)
            with pytest.raises(gc.ShapeError, match="needs"):
                gc.evaluate(y, {x: a})
            continue
        want = c.ref(a)
        assert y.shape.bind(binding) == want.shape
        got = f(a)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
        ev = gc.evaluate(y, {x: a})
        assert ev.dtype == want.dtype
        np.testing.assert_array_equal(ev, want)
        ran += 1
    return ran


def _for_dtype(c: Case, dtype) -> Case:
    """The case with a constant value the dtype holds (an int or bool tensor pads with an
    int or a bool; other values are refused, see test_constant_values_must_fit_the_dtype)."""
    kw = dict(c.kw)
    v = kw.get("constant_values", 0)
    if np.dtype(dtype).kind == "b" and v not in (0, 1):
        kw["constant_values"] = True
    elif np.dtype(dtype).kind in "iu" and v != int(v):
        kw["constant_values"] = int(v)
    return Case(c.fn, c.shape, c.args, tuple(sorted(kw.items())), c.out)


@pytest.mark.parametrize("c", SYMBOLIC, ids=[c.id for c in SYMBOLIC])
def test_symbolic_shape_is_an_expression(c):
    x = gc.Graph().input("x", c.shape)
    y = c.build(x)
    assert y.shape == c.out
    assert str(y.shape) == str(gc.Shape(c.out))


def test_shapes_print_as_expressions():
    x = gc.Graph().input("x", ("B", "T"))
    assert str(gc.pad(x, ((0, 0), (1, 2))).shape) == "(B, T + 3)"
    assert str(gc.tile(x, (2, 3)).shape) == "(2*B, 3*T)"
    assert str(gc.repeat(x, 3).shape) == "(3*B*T,)"
    y = gc.pad(x[:, 1:], (0, 2), "edge")  # an expression padded: T - 1 + 2
    assert y.shape == ("B + 2", "T + 1")


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("c", SYMBOLIC, ids=[c.id for c in SYMBOLIC])
def test_symbolic_equals_numpy_for_every_binding(c, dtype):
    c = _for_dtype(c, dtype)
    shapes = [(b, gc.Shape(c.shape).bind(b)) for b in bindings(c.shape)]
    ran = _compare(c, dtype, shapes)
    assert ran >= 1


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
@pytest.mark.parametrize("c", CONCRETE, ids=[c.id for c in CONCRETE])
def test_concrete_equals_numpy(c, dtype):
    c = _for_dtype(c, dtype)
    assert _compare(c, dtype, [({}, c.shape)]) == 1


def test_expression_input_dims_are_solved_and_checked():
    """x of shape (B, T + 1): T is solved from the array; reflect by 2 needs T + 1 >= 3."""
    g = gc.Graph()
    x = g.input("x", ("B", "T + 1"))
    y = gc.pad(x, ((0, 0), (2, 2)), "reflect")
    assert y.shape == ("B", "T + 5")
    f = gc.compile(y, inputs=[x])
    for n in (3, 4, 6):
        a = np.arange(2.0 * n).reshape(2, n)
        np.testing.assert_array_equal(f(a), np.pad(a, ((0, 0), (2, 2)), "reflect"))
    with pytest.raises(gc.ShapeError, match=r"needs T \+ 1 >= 3"):
        f(np.zeros((2, 2)))


# ----------------------------------------------------------------------------- gradients

GRAD_SYMBOLIC = [
    P(("B", "T"), ((0, 0), (1, 2))), P(("B", "T"), ((1, 2), (2, 0)), constant_values=3.0),
    P(("B", "T"), ((0, 0), (1, 2)), "edge"), P(("B", "T"), 2, "edge"),
    P(("B", 3, "T"), ((1, 0), (0, 1), (0, 2)), "edge"),
    P(("B", "T"), ((0, 0), (1, 2)), "reflect"), P(("B", "T"), 1, "reflect"),
    P(("T",), (3, 1), "reflect"),
    T(("B", "T"), (2, 3)), T(("T",), (3, 1, 2)), T(("B", "T"), (0, 2)), T(("B", 3), (1, 1)),
    R(("B", "T"), 3, 1), R(("B", "T"), 2, 0), R(("B", "T"), 3), R(("B", "T"), 0, -1),
    R(("B", 2, "T"), 1, 1),
]
GRAD_CONCRETE = [
    P((3, 4), ((1, 2), (0, 3))), P((4,), 3, "edge"), P((4,), 3, "reflect"),
    P((3, 4), ((2, 2), (3, 1)), "reflect"), P((1, 1), 2, "edge"), P((), 1),
    P((2, 3), ((0, 0), (2, 2)), "reflect"),
    T((3, 4), (2, 3)), T((), (2, 3)), T((4,), (2, 2, 2)), T((2, 3), 0),
    R((3, 4), 2, 0), R((3, 4), 3), R((), 4), R((2, 3, 4), 2, -2), R((3, 4), 0),
]


def _grad_shapes(c: Case):
    """(binding, concrete shape) pairs the chosen rule accepts, at most four of them."""
    out = [(b, gc.Shape(c.shape).bind(b)) for b in bindings(c.shape)]
    out = [(b, s) for b, s in out if allowed(c, s)]
    return out if len(out) <= 4 else [out[0], out[len(out) // 2], out[-2], out[-1]]


@pytest.mark.parametrize("c", GRAD_SYMBOLIC + GRAD_CONCRETE,
                         ids=[c.id for c in GRAD_SYMBOLIC + GRAD_CONCRETE])
def test_gradient_matches_finite_differences(c):
    """check_grad to second order (the op between squares, so the Hessian is not 0), the
    same graph with its symbols bound to several sizes."""
    g = gc.Graph()
    x = g.input("x", c.shape)
    y = gc.square(c.build(gc.tanh(x) + x))
    shapes = _grad_shapes(c)
    assert shapes
    rng = np.random.default_rng(1)
    for _, s in shapes:
        report = gc.check_grad(y, [x], {x: rng.standard_normal(s)}, order=2, rtol=1e-6)
        assert report.count == 4 and report.worst <= 1.0


def _adjoint(np_fn: Callable, a: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The transpose of the linear map np_fn applied to u, column by column (independent of
    graphc: the Jacobian built from numpy on unit vectors)."""
    out = np.zeros(a.shape)
    offset = np_fn(np.zeros(a.shape))  # an affine map (a constant pad value): its linear part
    for i in np.ndindex(*a.shape):
        e = np.zeros(a.shape)
        e[i] = 1.0
        out[i] = np.sum((np_fn(e) - offset) * u)
    return out


@pytest.mark.parametrize("c", GRAD_SYMBOLIC, ids=[c.id for c in GRAD_SYMBOLIC])
def test_compiled_gradient_equals_the_adjoint(c):
    """One compiled gradient Function for every binding the rule accepts: its value is the
    transpose of numpy's op applied to the seed."""
    g = gc.Graph()
    x = g.input("x", c.shape)
    y = c.build(x)
    u = g.input("u", y.shape)
    (dx,) = gc.grad(y, [x], seed=u)
    assert dx.shape == x.shape
    f = gc.compile(dx, inputs=[x, u])
    rng = np.random.default_rng(2)
    for b in bindings(c.shape):
        s = gc.Shape(c.shape).bind(b)
        if not allowed(c, s):
            continue
        a = rng.standard_normal(s)
        seed = rng.standard_normal(y.shape.bind(b))
        want = _adjoint(lambda e: c.ref(e), a, seed)
        np.testing.assert_allclose(f(a, seed), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gc.evaluate(dx, {x: a, u: seed}), want, rtol=1e-12,
                                   atol=1e-12)


def test_gradient_through_a_chain_of_the_three():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    y = gc.repeat(gc.tile(gc.pad(x, ((0, 0), (1, 1)), "reflect"), (2, 1)), 2, axis=1)
    z = gc.sum(gc.tanh(y)) * gc.sum(gc.square(gc.pad(x, 1, "edge")[:, :2]))
    assert y.shape == ("2*B", "2*T + 4")
    rng = np.random.default_rng(3)
    for s in [(1, 2), (2, 5), (5, 3)]:
        gc.check_grad(z, [x], {x: rng.standard_normal(s)}, order=2)


def test_padding_a_constant_value_has_no_gradient_from_the_pad():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    (dx,) = gc.grad(gc.sum(gc.pad(x, 3, constant_values=5.0)), [x])
    np.testing.assert_array_equal(gc.evaluate(dx, {x: np.zeros((4, 2))}), np.ones((4, 2)))


# ------------------------------------------------------------------- canonical attributes


@pytest.mark.parametrize("width", [
    1, (1,), (1, 1), [1, 1], ((1, 1),), ((1,), (1,)), ((1, 1), (1, 1)), np.int64(1),
    np.array([[1, 1], [1, 1]]), np.array(1), [np.int32(1), 1],
])
def test_pad_width_forms_are_one_canonical_attribute(width):
    x = gc.Graph().input("x", ("B", 3))
    y = gc.pad(x, width)
    assert y.node.attr["pad_width"] == ((1, 1), (1, 1))
    assert all(type(v) is int for pair in y.node.attr["pad_width"] for v in pair)
    assert y.node.attr["mode"] == "constant" and type(y.node.attr["constant_values"]) is float


def test_pad_width_pair_is_per_axis_when_given_per_axis():
    x = gc.Graph().input("x", (2, 3))
    assert gc.pad(x, (1, 2)).node.attr["pad_width"] == ((1, 2), (1, 2))
    assert gc.pad(x, ((1,), (2,))).node.attr["pad_width"] == ((1, 1), (2, 2))
    assert gc.pad(x, ((1, 2), (3, 4))).node.attr["pad_width"] == ((1, 2), (3, 4))


@pytest.mark.parametrize("dtype, value, stored", [
    (np.float64, 2, 2.0), (np.float32, np.float32(0.5), 0.5), (np.int64, 3, 3),
    (np.int64, 4.0, 4), (np.uint8, 255, 255), (np.bool_, True, True), (np.bool_, 0, False),
    (np.float64, np.array(1.5), 1.5),
])
def test_constant_values_take_the_tensor_kind(dtype, value, stored):
    x = gc.Graph().input("x", (2,), dtype=dtype)
    y = gc.pad(x, 1, constant_values=value)
    v = y.node.attr["constant_values"]
    assert v == stored and type(v) is type(stored)
    a = draw(np.random.default_rng(0), (2,), dtype)
    np.testing.assert_array_equal(gc.compile(y, inputs=[x])(a),
                                  np.pad(a, 1, constant_values=value))


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf])
def test_non_finite_constant_values_pad_a_float_tensor(value):
    g = gc.Graph()
    x = g.input("x", ("B", 2), dtype=np.float32)
    y = gc.pad(x, ((1, 0), (0, 2)), constant_values=value)
    g.output("y", y)
    h = loads(dumps(g))  # the attribute round-trips (NaN is identical to NaN)
    a = np.ones((3, 2), np.float32)
    want = np.pad(a, ((1, 0), (0, 2)), constant_values=value)
    for f in (gc.compile(y, inputs=[x]), gc.compile(h.outputs["y"])):
        np.testing.assert_array_equal(f(a), want)
    np.testing.assert_array_equal(gc.evaluate(y, {x: a}), want)


def test_tile_and_repeat_attributes_are_canonical():
    x = gc.Graph().input("x", ("B", 3))
    assert gc.tile(x, 2).node.attr["reps"] == (1, 2)
    assert gc.tile(x, [np.int64(2)]).node.attr["reps"] == (1, 2)
    assert gc.tile(x, np.array([3, 1, 2])).node.attr["reps"] == (3, 1, 2)
    assert gc.tile(x, ()).node.attr["reps"] == (1, 1)
    r = gc.repeat(x, np.int64(2), axis=-1)
    assert r.node.attr == {"repeats": 2, "axis": 1} and type(r.node.attr["repeats"]) is int
    assert gc.repeat(x, np.array(2)).node.attr == {"repeats": 2, "axis": None}


def test_save_and_load_round_trip():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    g.output("p", gc.pad(x, ((0, 1), (2, 0)), constant_values=-0.25))
    g.output("e", gc.pad(x, 1, "edge"))
    g.output("r", gc.pad(x, ((0, 0), (1, 1)), "reflect"))
    g.output("t", gc.tile(x, (2, 1, 3)))
    g.output("n", gc.repeat(x, 2, axis=0))
    g.output("f", gc.repeat(x, 3))
    text = dumps(g)
    h = loads(text)
    assert dumps(h) == text
    a = np.random.default_rng(4).standard_normal((2, 3))
    want = gc.compile(list(g.outputs.values()))(a)
    got = gc.compile(list(h.outputs.values()))(a)
    for w, v in zip(want, got, strict=True):
        np.testing.assert_array_equal(w, v)
    assert [o.shape for o in h.outputs.values()] == [o.shape for o in g.outputs.values()]


# ---------------------------------------------------------------------------------- errors


def _x(shape=("B", "T"), dtype=np.float64):
    return gc.Graph().input("x", shape, dtype=dtype)


@pytest.mark.parametrize("build, err, match", [
    (lambda x: gc.pad(x, -1), gc.ShapeError, "pad width -1 is negative"),
    (lambda x: gc.pad(x, ((0, 0), (1, -2))), gc.ShapeError, "pad width -2 is negative"),
    (lambda x: gc.pad(x, 1.0), TypeError, "pad width 1.0 .float. is not an int"),
    (lambda x: gc.pad(x, "T"), TypeError, "is not an int"),
    (lambda x: gc.pad(x, gc.Dim("T")), TypeError, "is not an int"),
    (lambda x: gc.pad(x, True), TypeError, "is not an int"),
    (lambda x: gc.pad(x, (1, 2, 3)), gc.ShapeError, "not a .before, after. pair"),
    (lambda x: gc.pad(x, ((1, 1), (1, 1), (1, 1))), gc.ShapeError, "3 pairs .* rank 2"),
    (lambda x: gc.pad(x, (1, (1, 2))), TypeError, "mixes ints and pairs"),
    (lambda x: gc.pad(x, ()), gc.ShapeError, "no widths"),
    (lambda x: gc.pad(x, 1, mode="wrap"), ValueError, "mode 'wrap' is not supported"),
    (lambda x: gc.pad(x, 1, mode="Edge"), ValueError, "is not supported"),
    (lambda x: gc.pad(x, 1, mode=None), TypeError, "mode None is not a string"),
    (lambda x: gc.pad(x, 1, "edge", constant_values=1.0), TypeError, "only for mode"),
    (lambda x: gc.pad(x, 1, constant_values=(0, 1)), TypeError, "not one number"),
    (lambda x: gc.pad(x, 1, constant_values="0"), TypeError, "not one number"),
    (lambda x: gc.tile(x, 2.0), TypeError, "reps entry 2.0 .float. is not an int"),
    (lambda x: gc.tile(x, (2, "3")), TypeError, "is not an int"),
    (lambda x: gc.tile(x, (gc.Dim("B"),)), TypeError, "is not an int"),
    (lambda x: gc.tile(x, (1, True)), TypeError, "is not an int"),
    (lambda x: gc.tile(x, (2, -1)), gc.ShapeError, "reps entry -1 is negative"),
    (lambda x: gc.repeat(x, [1, 2]), TypeError, "per-entry repeats"),
    (lambda x: gc.repeat(x, np.array([2, 2]), axis=1), TypeError, "per-entry repeats"),
    (lambda x: gc.repeat(x, 2.5), TypeError, "repeats 2.5 .float. is not an int"),
    (lambda x: gc.repeat(x, gc.Dim("T")), TypeError, "is not an int"),
    (lambda x: gc.repeat(x, -1, axis=0), gc.ShapeError, "repeats -1 is negative"),
    (lambda x: gc.repeat(x, 2, axis=2), gc.ShapeError, "axis 2 is out of range"),
    (lambda x: gc.repeat(x, 2, axis=1.0), gc.ShapeError, "axis 1.0 is not an int"),
])
def test_errors_name_the_problem_and_leave_the_graph_unchanged(build, err, match):
    x = _x()
    before = len(x.graph.nodes)
    with pytest.raises(err, match=match) as info:
        build(x)
    assert len(x.graph.nodes) == before
    assert str(info.value).split("(")[0] in ("pad", "tile", "repeat")  # the op, first
    assert "test_pad_tile_repeat.py" in str(info.value)  # the user's line


@pytest.mark.parametrize("dtype, value, match", [
    (np.int64, 0.5, "is not an int"), (np.int64, float("nan"), "is not an int"),
    (np.int32, float("inf"), "is not an int"), (np.uint8, -1, "does not fit"),
    (np.int8, 300, "does not fit"), (np.bool_, 2, "is not a bool"),
])
def test_constant_values_must_fit_the_dtype(dtype, value, match):
    x = _x((3,), dtype)
    with pytest.raises(TypeError, match=match):
        gc.pad(x, 1, constant_values=value)
    assert len(x.graph.nodes) == 1


@pytest.mark.parametrize("shape, width, mode, match", [
    ((3, 2), ((0, 0), (2, 0)), "reflect", r"needs 2 >= 3 \(reflecting more than once"),
    ((3, 2), 2, "reflect", r"axis 1 of \(3, 2\) needs 2 >= 3"),
    ((3, 1), ((0, 0), (0, 1)), "reflect", "axis 1 .* needs 1 >= 2"),
    ((0, 4), 1, "reflect", "axis 0 .* needs 0 >= 2"),
    ((0, 4), ((1, 0), (0, 0)), "edge", "'edge' of .1, 0. on axis 0 .* needs 0 >= 1"),
])
def test_concrete_axis_too_short_fails_at_build(shape, width, mode, match):
    x = _x(shape)
    with pytest.raises(gc.ShapeError, match=match):
        gc.pad(x, width, mode)
    assert len(x.graph.nodes) == 1


def test_reflect_by_one_less_than_the_axis_builds():
    assert gc.pad(_x((3, 2)), 1, "reflect").shape == (5, 4)


def test_symbolic_axis_too_short_fails_at_call_with_the_reason():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    y = gc.pad(x, ((0, 0), (3, 1)), "reflect")
    e = gc.pad(x, ((1, 0), (0, 0)), "edge")
    f = gc.compile([y, e], inputs=[x])
    f(np.zeros((1, 4)))
    with pytest.raises(gc.ShapeError, match=r"'reflect' of \(3, 1\) on axis 1 .* needs T >= 4, "
                                            r"but T = 3"):
        f(np.zeros((1, 3)))
    with pytest.raises(gc.ShapeError, match=r"'edge' .* needs B >= 1, but B = 0"):
        f(np.zeros((0, 4)))
    with pytest.raises(gc.ShapeError, match="needs T >= 4"):
        gc.evaluate(y, {x: np.zeros((2, 2))})
    # numpy itself reflects repeatedly there: the refusal is the documented choice
    assert np.pad(np.zeros(3), (3, 1), "reflect").shape == (7,)


def test_per_entry_repeats_are_refused_even_with_one_entry():
    with pytest.raises(TypeError, match="per-entry repeats"):
        gc.repeat(_x(), [2])


def test_every_op_is_public_and_documented():
    for name in ("pad", "tile", "repeat"):
        assert name in gc.__all__ and callable(getattr(gc, name))
        assert gc.ops.get_op(name).doc.startswith("np.")
