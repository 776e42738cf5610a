"""gc.stack, gc.split, gc.array_split, gc.flip, gc.roll, gc.moveaxis, gc.ravel and
gc.flatten: numpy's results through ``gc.compile`` and ``gc.evaluate`` for concrete and
symbolic shapes (the symbols bound to several sizes through one compiled Function), shapes
as dim expressions, gradients against finite differences, against an independent adjoint
and against torch, canonical attributes, save/load and the errors.

Chosen semantics checked here:

* ``split`` into ``n`` equal sections of a symbolic axis ``T`` gives parts of ``T//n`` and
  checks ``T % n == 0`` when the symbols are bound (an int axis that ``n`` does not divide,
  or an expression that is never divisible, such as ``2*T + 1`` by 2, is refused at build);
* ``array_split`` of a symbolic axis works for every size: part ``k`` of ``n`` has
  ``(T + n - 1 - k)//n`` entries, numpy's sizes as one expression per part;
* split positions on a symbolic axis must lie within the axis and must not decrease
  (checked at call time; numpy would give empty parts), as graphc's slices;
* ``roll`` on a symbolic axis takes the shift modulo the size at run time (``np.roll``);
* ``flatten`` is a view like ``ravel`` (graphc values are immutable; a compiled Function
  returns arrays its caller owns).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pytest

import graphc as gc
from graphc.io import dumps, loads

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

#: the sizes each symbol is bound to (every combination, through one compiled Function)
SIZES = (0, 1, 2, 3, 5, 6)


def bindings(shape, sizes=SIZES) -> list[dict[str, int]]:
    syms = gc.Shape(shape).symbols
    return [dict(zip(syms, vs)) for vs in itertools.product(sizes, repeat=len(syms))]


def draw(rng, shape, dtype):
    if np.dtype(dtype).kind == "b":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def listed(v) -> list:
    return list(v) if isinstance(v, (list, tuple)) else [v]


@dataclass(frozen=True)
class Case:
    """``gc.<fn>(x, *args, **kw)`` against ``np.<fn>(a, *args, **kw)``; ``stack`` takes
    ``n_in`` operands of ``shape``."""

    fn: str
    shape: tuple
    args: tuple = ()
    kw: tuple = ()
    #: the shape of each result, as dim expressions
    out: tuple | None = None
    n_in: int = 1

    def build(self, xs):
        if self.fn == "stack":
            return gc.stack(list(xs), *self.args, **dict(self.kw))
        return getattr(gc, self.fn)(xs[0], *self.args, **dict(self.kw))

    def ref(self, arrs):
        if self.fn == "stack":
            return np.stack(arrs, *self.args, **dict(self.kw))
        if self.fn == "flatten":
            return arrs[0].flatten()
        return getattr(np, self.fn)(arrs[0], *self.args, **dict(self.kw))

    @property
    def axis(self) -> int:
        return dict(self.kw).get("axis", 0)

    @property
    def id(self) -> str:
        kw = ",".join(f"{k}={v!r}" for k, v in self.kw)
        n = f"x{self.n_in}" if self.n_in > 1 else ""
        return f"{self.fn}{gc.Shape(self.shape)}{n}{self.args!r}{kw}".replace(" ", "")


def allowed(c: Case, shape) -> bool:
    """The chosen rule, written out independently: equal sections need the axis divisible;
    positions on a symbolic axis lie within it and do not decrease."""
    if c.fn not in ("split", "array_split"):
        return True
    ios, axis = c.args[0], c.axis % len(shape)
    d = shape[axis]
    if isinstance(ios, int):
        return c.fn == "array_split" or d % ios == 0
    if not isinstance(gc.Shape(c.shape)[axis], gc.Dim):
        return True
    pos = [p if p >= 0 else d + p for p in ios]
    return all(0 <= p <= d for p in pos) and pos == sorted(pos)


def S(shape, ios, axis=0, out=None):
    return Case("split", shape, (ios,), (("axis", axis),), out)


def A(shape, ios, axis=0, out=None):
    return Case("array_split", shape, (ios,), (("axis", axis),), out)


def K(shape, n_in, axis=0, out=None):
    return Case("stack", shape, (), (("axis", axis),), out, n_in)


def F(shape, axis=None, out=None):
    return Case("flip", shape, (), (("axis", axis),), out)


def R(shape, shift, axis=None, out=None):
    return Case("roll", shape, (shift,), (("axis", axis),), out)


def M(shape, src, dst, out=None):
    return Case("moveaxis", shape, (src, dst), (), out)


SYMBOLIC = [
    S(("B", "T"), 3, 1, out=[("B", "T//3")] * 3),
    S(("B", "T"), 2, 0, out=[("B//2", "T")] * 2),
    S(("2*T",), 2, out=[("T",)] * 2),  # divisible by construction: nothing to check
    S(("B", "3*T"), 3, -1, out=[("B", "T")] * 3),
    S(("B", "T"), 1, 1, out=[("B", "T")]),
    S(("B", "T"), [1, 3], 1, out=[("B", 1), ("B", 2), ("B", "T - 3")]),
    S(("B", "T"), [2, -1], -1, out=[("B", 2), ("B", "T - 3"), ("B", 1)]),
    S(("T",), [], out=[("T",)]),
    S(("T", 2), [0, 0, 2], out=[(0, 2), (0, 2), (2, 2), ("T - 2", 2)]),
    A(("B", "T"), 3, 1, out=[("B", "(T + 2)//3"), ("B", "(T + 1)//3"), ("B", "T//3")]),
    A(("T",), 4, out=[("(T + 3)//4",), ("(T + 2)//4",), ("(T + 1)//4",), ("T//4",)]),
    A(("B", "T"), 2, 0, out=[("(B + 1)//2", "T"), ("B//2", "T")]),
    A(("3*T",), 3, out=[("T",)] * 3),
    A(("2*T + 1",), 2, out=[("T + 1",), ("T",)]),
    A(("B", "T"), [1, 3], 1, out=[("B", 1), ("B", 2), ("B", "T - 3")]),
    K(("B", "T"), 2, 0, out=[(2, "B", "T")]),
    K(("B", "T"), 2, 1, out=[("B", 2, "T")]),
    K(("B", "T"), 3, -1, out=[("B", "T", 3)]),
    K(("T",), 1, 0, out=[(1, "T")]),
    F(("B", "T"), out=[("B", "T")]),
    F(("B", "T"), 1, out=[("B", "T")]),
    F(("B", 3, "T"), (0, 2), out=[("B", 3, "T")]),
    F(("B", "T"), -2, out=[("B", "T")]),
    R(("B", "T"), 2, 1, out=[("B", "T")]),
    R(("B", "T"), -7, 1, out=[("B", "T")]),
    R(("B", "T"), 13, out=[("B", "T")]),
    R(("B", "T"), (1, -2), (0, 1), out=[("B", "T")]),
    R(("B", "T"), 3, (1, 1), out=[("B", "T")]),
    R(("B", 3, "T"), (4, 1), 1, out=[("B", 3, "T")]),
    M(("B", 3, "T"), 0, -1, out=[(3, "T", "B")]),
    M(("B", 3, "T"), (0, 1), (2, 0), out=[(3, "T", "B")]),
    M(("B", "T"), -1, 0, out=[("T", "B")]),
    Case("ravel", ("B", "T"), out=[("B*T",)]),
    Case("flatten", ("B", 3, "T"), out=[("3*B*T",)]),
]

CONCRETE = [
    S((4, 6), 3, 1), S((6,), [2, 2, 9]), S((6,), [4, 2]), S((6,), [-2]), S((0, 3), 2),
    S((3, 4), np.array([1, 3]), 1), S((6,), np.int64(3)), S((2, 3), 1, -1),
    A((7,), 3), A((2,), 5), A((3, 4), [1], 1), A((0,), 2), A((5, 2), 3, 0),
    K((), 2), K((2, 3), 2, 2), K((0, 3), 3, 1), K((4,), 1, -1),
    F(()), F((2, 3), ()), F((2, 3), 0), F((2, 3, 4), (2, 0)), F((0, 3), 1),
    R((), 3), R((0, 3), 2, 0), R((3, 4), (1, 1), (0, 0)), R((2, 3), 7), R((2, 3), -1, (0, 1)),
    R((3, 4), np.array([1, 2]), (0, 1)), R((4,), np.int32(-9), 0),
    M((2, 3, 4), 1, 0), M((2, 3, 4), (0, 2), (1, 0)), M((5,), 0, -1),
    Case("ravel", ()), Case("flatten", (2, 3)), Case("ravel", (0, 4)),
]


def _compare(c: Case, dtype, shapes) -> int:
    """One compiled Function for ``c``, called on arrays of each concrete shape; each result
    equal to numpy's and to gc.evaluate's. Returns how many shapes it ran."""
    rng = np.random.default_rng(0)
    g = gc.Graph()
    xs = [g.input(f"x{k}", c.shape, dtype=dtype) for k in range(c.n_in)]
    ys = listed(c.build(xs))
    assert all(y.dtype == np.dtype(dtype) for y in ys)
    f = gc.compile(ys, inputs=xs)
    ran = 0
    for binding, shape in shapes:
        arrs = [draw(rng, shape, dtype) for _ in xs]
        if not allowed(c, shape):
            with pytest.raises(gc.ShapeError, match="needs"):
                f(*arrs)
            with pytest.raises(gc.ShapeError, match="needs"):
                gc.evaluate(ys, dict(zip(xs, arrs)))
            continue
        want = listed(c.ref(arrs))
        got = f(*arrs)
        ev = gc.evaluate(ys, dict(zip(xs, arrs)))
        assert len(got) == len(want) == len(ev) == len(ys)
        for y, w, v, e in zip(ys, want, got, ev):
            assert y.shape.bind(binding) == w.shape
            assert v.dtype == w.dtype and v.shape == w.shape
            np.testing.assert_array_equal(v, w)
            assert isinstance(e, np.ndarray) and e.dtype == w.dtype
            np.testing.assert_array_equal(e, w)
        ran += 1
    return ran


@pytest.mark.parametrize("c", SYMBOLIC, ids=[c.id for c in SYMBOLIC])
def test_symbolic_shape_is_an_expression(c):
    g = gc.Graph()
    xs = [g.input(f"x{k}", c.shape) for k in range(c.n_in)]
    ys = listed(c.build(xs))
    assert [y.shape for y in ys] == [gc.Shape(s) for s in c.out]
    assert [str(y.shape) for y in ys] == [str(gc.Shape(s)) for s in c.out]


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.bool_])
@pytest.mark.parametrize("c", SYMBOLIC, ids=[c.id for c in SYMBOLIC])
def test_symbolic_equals_numpy_for_every_binding(c, dtype):
    shapes = [(b, gc.Shape(c.shape).bind(b)) for b in bindings(c.shape)]
    assert _compare(c, dtype, shapes) >= 3


@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.bool_])
@pytest.mark.parametrize("c", CONCRETE, ids=[c.id for c in CONCRETE])
def test_concrete_equals_numpy(c, dtype):
    assert _compare(c, dtype, [({}, c.shape)]) == 1


def test_shapes_print_as_expressions():
    x = gc.Graph().input("x", ("B", "T"))
    assert [str(p.shape) for p in gc.array_split(x, 3, axis=1)] == [
        "(B, (T + 2)//3)", "(B, (T + 1)//3)", "(B, T//3)"]
    assert [str(p.shape) for p in gc.split(x, 2, axis=1)] == ["(B, T//2)"] * 2
    assert str(gc.stack([x, x], axis=-1).shape) == "(B, T, 2)"
    assert str(gc.ravel(x).shape) == "(B*T,)"
    y = x[:, 1:]  # an expression split: T - 1 into 3
    assert [str(p.shape) for p in gc.array_split(y, 3, axis=1)] == [
        "(B, (T + 1)//3)", "(B, T//3)", "(B, (T + 2)//3 - 1)"]


def test_split_on_a_symbolic_axis_checks_divisibility_at_call():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    parts = gc.split(x, 3, axis=1)
    f = gc.compile(parts, inputs=[x])
    for T in (0, 3, 6, 9):
        a = np.arange(2.0 * T).reshape(2, T)
        for u, v in zip(f(a), np.split(a, 3, axis=1)):
            np.testing.assert_array_equal(u, v)
    for T in (1, 4, 8):
        with pytest.raises(gc.ShapeError, match=rf"needs T % 3 == 0, but T = {T}"):
            f(np.zeros((2, T)))
        with pytest.raises(gc.ShapeError, match=r"needs T % 3 == 0"):
            gc.evaluate(parts, {x: np.zeros((2, T))})
    # numpy refuses the same
    with pytest.raises(ValueError):
        np.split(np.zeros((2, 4)), 3, axis=1)


def test_one_part_used_still_checks_divisibility():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    f = gc.compile(gc.split(x, 3, axis=1)[0] * 2.0, inputs=[x])
    np.testing.assert_array_equal(f(np.ones((1, 6))), np.full((1, 2), 2.0))
    with pytest.raises(gc.ShapeError, match=r"split of axis 1 of \(B, T\) into 3 equal sections "
                                            r"needs T % 3 == 0, but T = 4"):
        f(np.ones((1, 4)))


def test_divisible_by_construction_has_no_check():
    g = gc.Graph()
    x = g.input("x", ("B", "2*T"))
    parts = gc.split(x, 2, axis=1)
    assert [p.shape for p in parts] == [("B", "T")] * 2
    f = gc.compile(parts, inputs=[x])
    assert "equal sections" not in f.source
    a = np.arange(12.0).reshape(2, 6)
    for u, v in zip(f(a), np.split(a, 2, axis=1)):
        np.testing.assert_array_equal(u, v)


def test_expression_axis_names_the_condition():
    g = gc.Graph()
    x = g.input("x", ("T",))
    parts = gc.split(x[1:], 3)
    assert parts[0].shape == ("(T - 1)//3",)
    f = gc.compile(parts, inputs=[x])
    assert len(f(np.zeros(7))) == 3
    with pytest.raises(gc.ShapeError, match=r"needs \(T - 1\) % 3 == 0, but T = 6"):
        f(np.zeros(6))


def test_never_divisible_expression_fails_at_build():
    x = gc.Graph().input("x", ("2*T + 1",))
    with pytest.raises(gc.ShapeError, match=r"needs \(2\*T \+ 1\) % 2 == 0 \(for no size\)"):
        gc.split(x, 2)
    assert len(x.graph.nodes) == 1
    assert [p.shape for p in gc.array_split(x, 2)] == [("T + 1",), ("T",)]


def test_positions_on_a_symbolic_axis_are_checked_at_call():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    parts = gc.split(x, [2, 5], axis=1)
    f = gc.compile(parts, inputs=[x])
    a = np.arange(14.0).reshape(2, 7)
    for u, v in zip(f(a), np.split(a, [2, 5], axis=1)):
        np.testing.assert_array_equal(u, v)
    with pytest.raises(gc.ShapeError, match=r"needs T >= 5, but T = 4"):
        f(np.zeros((2, 4)))
    assert [p.shape for p in np.split(np.zeros((2, 4)), [2, 5], axis=1)] == [
        (2, 2), (2, 2), (2, 0)]  # numpy would clamp: the refusal is the documented choice


def test_decreasing_positions_on_a_symbolic_axis_fail_at_build():
    x = gc.Graph().input("x", ("B", "T"))
    with pytest.raises(gc.ShapeError, match="needs 1 >= 3"):
        gc.split(x, [3, 1], axis=1)
    assert len(x.graph.nodes) == 1
    # on an int axis numpy's slices apply: an empty part, an overlapping one
    y = gc.Graph().input("y", (2, 6))
    assert [p.shape for p in gc.split(y, [3, 1], axis=1)] == [(2, 3), (2, 0), (2, 5)]


def test_dim_positions_split_there():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    head, last = gc.split(x, [x.shape[1] - 1], axis=1)
    assert head.shape == ("B", "T - 1") and last.shape == ("B", 1)
    f = gc.compile([head, last], inputs=[x])
    for T in (1, 2, 5):
        a = np.arange(3.0 * T).reshape(3, T)
        u, v = f(a)
        np.testing.assert_array_equal(u, a[:, :-1])
        np.testing.assert_array_equal(v, a[:, -1:])
    with pytest.raises(gc.ShapeError, match="needs T >= 1"):
        f(np.zeros((3, 0)))


def test_array_split_sizes_are_numpy_s_for_every_length():
    g = gc.Graph()
    x = g.input("x", ("T",))
    for n in (1, 2, 3, 5, 8):
        parts = gc.array_split(x, n)
        f = gc.compile(parts, inputs=[x])
        for T in range(0, 20):
            a = np.arange(float(T))
            want = np.array_split(a, n)
            got = f(a)
            assert [p.shape.bind({"T": T}) for p in parts] == [w.shape for w in want]
            for u, v in zip(got, want):
                np.testing.assert_array_equal(u, v)


def test_array_split_into_too_many_parts_of_a_symbolic_axis():
    x = gc.Graph().input("x", ("T",))
    assert len(gc.array_split(x, 60)) == 60
    with pytest.raises(gc.ShapeError, match="array_split of the symbolic axis T into 70 parts"
                                            ".*too complex.*use fewer parts"):
        gc.array_split(x, 70)
    assert len(x.graph.nodes) == 61  # the failed call left no part behind
    y = gc.Graph().input("y", (200,))  # an int axis has no limit
    assert [p.shape for p in gc.array_split(y, 70)][-1] == (2,)


def test_split_parts_are_views_and_the_caller_owns_the_results():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    parts = gc.split(x, 2, axis=1)
    flat = gc.flatten(x)
    f = gc.compile([*parts, flat, gc.flip(x)], inputs=[x])
    assert "in_0[:, :2]" in f.source and "in_0[:, 2:]" in f.source
    assert "in_0[::-1," in f.source
    a = np.arange(8.0).reshape(2, 4)
    keep = a.copy()
    for r in f(a):
        r[...] = -1.0  # writing into a result never reaches the input
    np.testing.assert_array_equal(a, keep)


def test_views_of_planned_buffers_follow_the_buffer():
    """flip and split parts of intermediate values are views the memory plan makes once per
    binding: they must see every call's values (a 0-d flip too)."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    s, t = gc.sum(x), gc.tanh(x)
    outs = [gc.flip(s) * 2.0, gc.flip(t, 1) * 2.0, gc.split(t, 3, axis=1)[2] * 2.0,
            gc.array_split(t, 2, axis=1)[0] * 2.0, gc.flip(gc.split(t, 3, 1)[1]) * 1.0,
            gc.split(gc.stack([s, s * s, s]), 3)[1] + 1.0]
    f = gc.compile(outs, inputs=[x])
    assert "hoisted views" in f.source and ", flip_" in f.source
    for B in (2, 3, 2, 1):
        a = np.arange(3.0 * B).reshape(B, 3) / 7 + B
        for u, v in zip(f(a), gc.evaluate(outs, {x: a}), strict=True):
            assert type(u) is np.ndarray and u.shape == v.shape
            np.testing.assert_array_equal(u, v)


# ----------------------------------------------------------------------------- stack


def test_stack_lowers_to_np_stack_into_a_planned_buffer():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    i = g.input("i", ("B", 3), dtype=np.int64)
    y = gc.tanh(gc.stack([x, i, x * 2.0], axis=1))  # int and float: float64, out= casts
    assert y.dtype == np.float64
    f = gc.compile(y, inputs=[x, i])
    assert "xp.stack((" in f.source
    line = next(ln for ln in f.source.splitlines() if "xp.stack((" in ln)
    assert "out=b" in line
    rng = np.random.default_rng(0)
    for B in (1, 4, 2):
        a, b = rng.standard_normal((B, 3)), rng.integers(-3, 4, (B, 3))
        want = np.tanh(np.stack([a, b, a * 2.0], axis=1))
        np.testing.assert_allclose(f(a, b), want, rtol=1e-15)
        np.testing.assert_allclose(gc.evaluate(y, {x: a, i: b}), want, rtol=1e-15)


@pytest.mark.parametrize("dtypes, want", [
    ((np.float32, np.float64), np.float64), ((np.int32, np.float32), np.float64),
    ((np.bool_, np.int8), np.int8), ((np.bool_, np.bool_), np.bool_),
    ((np.int64, np.float32), np.float64),
])
def test_stack_dtype_is_numpy_s(dtypes, want):
    g = gc.Graph()
    xs = [g.input(f"x{k}", (2,), dtype=dt) for k, dt in enumerate(dtypes)]
    y = gc.stack(xs)
    arrs = [np.ones(2, dt) for dt in dtypes]
    assert y.dtype == np.stack(arrs).dtype == want
    np.testing.assert_array_equal(gc.compile(y, inputs=xs)(*arrs), np.stack(arrs))


def test_stack_takes_python_scalars_and_arrays_as_constants():
    g = gc.Graph()
    x = g.input("x", (), dtype=np.float32)
    y = gc.stack([x, 2.0, np.float32(3.0)])
    assert y.shape == (3,) and y.dtype == np.float32
    np.testing.assert_array_equal(gc.evaluate(y, {x: np.float32(1.0)}), [1.0, 2.0, 3.0])


# ------------------------------------------------------------------------------ roll


def test_roll_shift_is_taken_modulo_the_size_at_run_time():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    ys = [gc.roll(x, s, axis=1) for s in (7, -7, 100, 0)]
    assert ys[0].node.attr == {"shift": (7,), "axis": (1,)}  # kept: T is not known
    f = gc.compile(ys, inputs=[x])
    for T in (0, 1, 2, 3, 5, 7, 11):
        a = np.arange(2.0 * T).reshape(2, T)
        for s, u in zip((7, -7, 100, 0), f(a)):
            np.testing.assert_array_equal(u, np.roll(a, s, axis=1))


def test_roll_by_a_dim():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    y = gc.roll(x, x.shape[1] // 2, axis=1)  # fftshift's roll
    z = gc.roll(x, (x.shape[0], -x.shape[1]), axis=(1, 0))
    f = gc.compile([y, z], inputs=[x])
    assert "//2" in f.source
    for B, T in [(1, 1), (2, 5), (3, 6), (4, 0)]:
        a = np.arange(float(B * T)).reshape(B, T)
        u, v = f(a)
        np.testing.assert_array_equal(u, np.roll(a, T // 2, axis=1))
        np.testing.assert_array_equal(v, np.roll(a, (B, -T), axis=(1, 0)))
        np.testing.assert_array_equal(gc.evaluate(y, {x: a}), u)


@pytest.mark.parametrize("shape, shift, axis, attrs", [
    ((3, 5), 13, 1, {"shift": (3,), "axis": (1,)}),
    ((3, 5), -1, -1, {"shift": (4,), "axis": (1,)}),
    ((3, 5), 5, 1, {"shift": (), "axis": ()}),
    ((3, 5), (1, 2), 0, {"shift": (), "axis": ()}),  # 3 places along 3: nothing moves
    ((3, 5), (1, 1), 0, {"shift": (2,), "axis": (0,)}),
    ((3, 5), 3, (1, 0, 1), {"shift": (1,), "axis": (1,)}),  # 6 along 5; 3 along 3
    ((3, 5), np.int64(2), np.int64(1), {"shift": (2,), "axis": (1,)}),
    ((3, 5), 17, None, {"shift": 2, "axis": None}),
    ((3, 5), (10, 8), None, {"shift": 3, "axis": None}),
    (("B", 5), 17, None, {"shift": 17, "axis": None}),
    (("B", "T"), -3, (1,), {"shift": (-3,), "axis": (1,)}),
    ((0, 4), 3, 0, {"shift": (), "axis": ()}),
    ((2, 1), 5, 1, {"shift": (), "axis": ()}),
])
def test_roll_attributes_are_canonical(shape, shift, axis, attrs):
    x = gc.Graph().input("x", shape)
    y = gc.roll(x, shift, axis)
    assert y.node.attr == attrs
    a = y.node.attr
    assert all(type(s) is int for s in listed(a["shift"]))
    if not gc.Shape(shape).symbols:
        arr = np.arange(float(np.prod(shape))).reshape(shape)
        np.testing.assert_array_equal(gc.evaluate(y, {x: arr}), np.roll(arr, shift, axis))


def test_roll_of_nothing_is_a_copy():
    x = gc.Graph().input("x", (2, 3))
    y = gc.roll(x, 3, axis=1)
    assert y.node.attr == {"shift": (), "axis": ()}
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(gc.compile(y, inputs=[x])(a), a)


# ------------------------------------------------------------------------------ flip


def test_flip_attributes_are_canonical():
    x = gc.Graph().input("x", ("B", 3, 4))
    assert gc.flip(x).node.attr == {"axis": (0, 1, 2)}
    assert gc.flip(x, (2, 0)).node.attr == {"axis": (0, 2)}
    assert gc.flip(x, [np.int64(-1)]).node.attr == {"axis": (2,)}
    assert gc.flip(x, ()).node.attr == {"axis": ()}
    assert gc.flip(gc.Graph().input("s", ()), None).node.attr == {"axis": ()}


def test_moveaxis_is_a_transpose_and_ravel_a_reshape():
    x = gc.Graph().input("x", ("B", 3, "T"))
    m = gc.moveaxis(x, 0, -1)
    assert m.op == "transpose" and m.node.attr == {"axes": (1, 2, 0)}
    assert gc.moveaxis(x, [0, 1], [-1, -2]).node.attr == {"axes": (2, 1, 0)}
    r = gc.ravel(x)
    assert r.op == "reshape" and r.shape == ("3*B*T",)
    assert gc.flatten(x).node.attr == r.node.attr


# ----------------------------------------------------------------------------- gradients

GRAD_SYMBOLIC = [
    S(("B", "T"), 3, 1), S(("B", "T"), 2, 0), S(("2*T",), 2), S(("B", "T"), [1, 3], 1),
    A(("B", "T"), 3, 1), A(("T",), 4), A(("B", "T"), 2, 0),
    K(("B", "T"), 2, 1), K(("B", "T"), 3, -1), K(("T",), 1, 0),
    F(("B", "T")), F(("B", 3, "T"), (0, 2)),
    R(("B", "T"), -7, 1), R(("B", "T"), 13), R(("B", "T"), (1, -2), (0, 1)),
    M(("B", 3, "T"), (0, 1), (2, 0)), Case("ravel", ("B", "T")),
]
GRAD_CONCRETE = [
    S((4, 6), 3, 1), S((6,), [4, 2]), A((7,), 3), A((2,), 5), K((), 2), K((2, 3), 2, 2),
    F(()), F((2, 3, 4), (2, 0)), R((), 3), R((2, 3), 7), R((3, 4), (1, 1), (0, 0)),
]


def _joined(c: Case, x):
    """One tensor of the case's results from one input: stack's operands are x and tanh(x)
    (and x*x); split's parts are weighted by k + 1 and joined back."""
    if c.fn == "stack":
        ops = [x, gc.tanh(x), x * x][:c.n_in]
        return c.build(ops)
    out = c.build([x])
    if isinstance(out, list):
        return gc.concatenate([gc.ravel(p) * float(k + 1) for k, p in enumerate(out)])
    return out


def _grad_shapes(c: Case):
    """(binding, shape) pairs the rule accepts, sizes >= 1, at most four of them."""
    out = [(b, gc.Shape(c.shape).bind(b)) for b in bindings(c.shape, (1, 2, 3, 6))]
    out = [(b, s) for b, s in out if allowed(c, s)]
    return out if len(out) <= 4 else [out[0], out[len(out) // 2], out[-2], out[-1]]


@pytest.mark.parametrize("c", GRAD_SYMBOLIC + GRAD_CONCRETE,
                         ids=[c.id for c in GRAD_SYMBOLIC + GRAD_CONCRETE])
def test_gradient_matches_finite_differences(c):
    """check_grad to second order (the op between squares, so the Hessian is not 0), the
    same graph with its symbols bound to several sizes."""
    g = gc.Graph()
    x = g.input("x", c.shape)
    y = gc.square(_joined(c, gc.tanh(x) + x))
    shapes = _grad_shapes(c)
    assert shapes
    rng = np.random.default_rng(1)
    for _, s in shapes:
        report = gc.check_grad(y, [x], {x: rng.standard_normal(s)}, order=2, rtol=1e-6)
        assert report.count == 4 and report.worst <= 1.0


def _adjoint(fn, a: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The transpose of the linear map ``fn`` applied to u, entry by entry (numpy only)."""
    out = np.zeros(a.shape)
    for i in np.ndindex(*a.shape):
        e = np.zeros(a.shape)
        e[i] = 1.0
        out[i] = np.sum(fn(e) * u)
    return out


def _flat_ref(c: Case, a):
    """numpy's op on one array, its results flattened and joined as ``_joined`` does."""
    if c.fn == "stack":
        return c.ref([a, a][:c.n_in] if c.n_in <= 2 else [a] * c.n_in)
    out = c.ref([a])
    if isinstance(out, list):
        return np.concatenate([p.reshape(-1) * float(k + 1) for k, p in enumerate(out)])
    return out


@pytest.mark.parametrize("c", GRAD_SYMBOLIC, ids=[c.id for c in GRAD_SYMBOLIC])
def test_compiled_gradient_equals_the_adjoint(c):
    """One compiled gradient Function for every binding the rule accepts: its value is the
    transpose of numpy's op applied to the seed (stack's operands all x here)."""
    g = gc.Graph()
    x = g.input("x", c.shape)
    y = _joined(c, x) if c.fn != "stack" else c.build([x] * c.n_in)
    u = g.input("u", y.shape)
    (dx,) = gc.grad(y, [x], seed=u)
    assert dx.shape == x.shape
    f = gc.compile(dx, inputs=[x, u])
    rng = np.random.default_rng(2)
    ran = 0
    for b in bindings(c.shape, (0, 1, 2, 3, 6)):
        s = gc.Shape(c.shape).bind(b)
        if not allowed(c, s):
            continue
        a = rng.standard_normal(s)
        seed = rng.standard_normal(y.shape.bind(b))
        want = _adjoint(lambda e: _flat_ref(c, e), a, seed)
        np.testing.assert_allclose(f(a, seed), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gc.evaluate(dx, {x: a, u: seed}), want, rtol=1e-12,
                                   atol=1e-12)
        ran += 1
    assert ran >= 3


@pytest.mark.parametrize("fn", ["split", "array_split"])
def test_split_gradient_is_the_parts_joined_with_zeros_for_unused_parts(fn):
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    parts = getattr(gc, fn)(x, 3, axis=1)
    us = [g.input(f"u{k}", p.shape) for k, p in enumerate(parts)]
    used = (0, 2)
    y = gc.sum(parts[0] * us[0]) + gc.sum(parts[2] * us[2])
    (dx,) = gc.grad(y, [x])
    f = gc.compile(dx, inputs=[x, *us])
    rng = np.random.default_rng(3)
    for B, T in [(1, 3), (2, 6), (3, 9)] + ([(2, 7), (1, 1), (2, 0)] if fn == "array_split"
                                             else []):
        a = rng.standard_normal((B, T))
        pieces = getattr(np, fn)(a, 3, axis=1)
        seeds = [rng.standard_normal(p.shape) for p in pieces]
        want = np.concatenate([s if k in used else np.zeros_like(s)
                               for k, s in enumerate(seeds)], axis=1)
        np.testing.assert_array_equal(f(a, *seeds), want)
        np.testing.assert_array_equal(gc.evaluate(dx, {x: a, **dict(zip(us, seeds))}), want)


def test_stack_gradient_is_a_slice_per_operand():
    g = gc.Graph()
    a = g.input("a", ("B", 3))
    b = g.input("b", ("B", 3))
    u = g.input("u", ("B", 2, 3))
    da, db = gc.grad(gc.sum(gc.stack([a, b], axis=1) * u), [a, b])
    f = gc.compile([da, db], inputs=[a, b, u])
    assert "[:, 0]" in f.source and "[:, 1]" in f.source
    seed = np.random.default_rng(4).standard_normal((4, 2, 3))
    ga, gb = f(np.zeros((4, 3)), np.zeros((4, 3)), seed)
    np.testing.assert_array_equal(ga, seed[:, 0])
    np.testing.assert_array_equal(gb, seed[:, 1])


def test_gradient_through_a_chain_of_the_ops():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    q, k, v = gc.split(gc.stack([x, gc.tanh(x), x * x], axis=0), 3, axis=0)
    z = gc.roll(gc.flip(q[0] * k[0], axis=1), x.shape[1] // 2, axis=1) + v[0]
    y = gc.sum(gc.square(gc.moveaxis(gc.stack(gc.array_split(z, 2, axis=0)[:1]), 0, -1)))
    rng = np.random.default_rng(5)
    for s in [(1, 2), (2, 5), (5, 3)]:
        gc.check_grad(y, [x], {x: rng.standard_normal(s)}, order=2)


def test_against_torch_forward_and_backward():
    """One compiled Function (value and gradient) for T = 3, 6, 12, against torch's stack,
    split, tensor_split (numpy's array_split), flip, roll and movedim."""
    torch = pytest.importorskip("torch")
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    w = g.input("w", ("B", "T"))
    q, k, v = gc.split(x, 3, axis=1)
    parts = gc.array_split(x * w, 4, axis=1)
    s = gc.stack([q, gc.tanh(k), v * v], axis=-1)
    r = gc.roll(gc.flip(x, 1), (2, -5), (1, 0))
    m = gc.moveaxis(s, -1, 0)
    loss = (gc.sum(gc.square(m) * 0.5) + gc.sum(r * w)
            + sum(float(j + 1) * gc.sum(gc.tanh(p)) for j, p in enumerate(parts)))
    (dx,) = gc.grad(loss, [x])
    f = gc.compile([loss, dx], inputs=[x, w])
    rng = np.random.default_rng(6)
    for B, T in [(2, 3), (3, 6), (1, 12)]:
        a, b = rng.standard_normal((B, T)), rng.standard_normal((B, T))
        xt = torch.tensor(a, requires_grad=True)
        wt = torch.tensor(b)
        tq, tk, tv = torch.split(xt, T // 3, dim=1)
        tparts = torch.tensor_split(xt * wt, 4, dim=1)
        ts = torch.stack([tq, torch.tanh(tk), tv * tv], dim=-1)
        tr = torch.roll(torch.flip(xt, (1,)), (2, -5), (1, 0))
        tm = torch.movedim(ts, -1, 0)
        tl = ((tm ** 2 * 0.5).sum() + (tr * wt).sum()
              + sum((j + 1) * torch.tanh(p).sum() for j, p in enumerate(tparts)))
        tl.backward()
        got_loss, got_dx = f(a, b)
        np.testing.assert_allclose(got_loss, tl.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(got_dx, xt.grad.numpy(), rtol=1e-12, atol=1e-14)


# ----------------------------------------------------------------------------- save/load


def test_save_and_load_round_trip():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    for k, p in enumerate(gc.split(x, 2, axis=0)):
        g.output(f"s{k}", p)
    for k, p in enumerate(gc.array_split(x, 3, axis=1)):
        g.output(f"a{k}", p)
    g.output("st", gc.stack([x, x * 2.0], axis=-1))
    g.output("fl", gc.flip(x, (0, 1)))
    g.output("rd", gc.roll(x, (x.shape[1] // 2, -3), axis=(1, 0)))
    g.output("rn", gc.roll(x, -(x.shape[0] + 2)))
    g.output("mv", gc.moveaxis(x, 0, 1))
    text = dumps(g)
    h = loads(text)
    assert dumps(h) == text
    assert [o.shape for o in h.outputs.values()] == [o.shape for o in g.outputs.values()]
    want_f = gc.compile(list(g.outputs.values()))
    got_f = gc.compile(list(h.outputs.values()))
    rng = np.random.default_rng(7)
    for s in [(2, 3), (4, 7), (6, 1)]:
        a = rng.standard_normal(s)
        for w, v in zip(want_f(a), got_f(a), strict=True):
            np.testing.assert_array_equal(w, v)
    with pytest.raises(gc.ShapeError, match="needs B % 2 == 0"):
        got_f(np.zeros((3, 2)))


# ---------------------------------------------------------------------------------- errors


def _x(shape=("B", "T"), dtype=np.float64):
    return gc.Graph().input("x", shape, dtype=dtype)


@pytest.mark.parametrize("build, err, op, match", [
    (lambda x: gc.split(x, 0, axis=1), gc.ShapeError, "split", "into 0 sections.* >= 1"),
    (lambda x: gc.array_split(x, -2), gc.ShapeError, "array_split", "into -2 sections"),
    (lambda x: gc.split(x, 2.0), TypeError, "split", "2.0 .float. is neither an int"),
    (lambda x: gc.split(x, True), TypeError, "split", "True .bool. is neither"),
    (lambda x: gc.split(x, "3"), TypeError, "split", "is neither an int"),
    (lambda x: gc.split(x, gc.Dim("T"), axis=1), TypeError, "split",
     r"sections T is a dim; .*\(\[T\]\)"),
    (lambda x: gc.split(x, x), TypeError, "split", "Tensor. is neither"),
    (lambda x: gc.split(x, [1, 2.5]), TypeError, "split", "position 2.5 .float. is not an int"),
    (lambda x: gc.split(x, [True]), TypeError, "split", "position True"),
    (lambda x: gc.split(x, np.ones((2, 2), int)), TypeError, "split", "1-D list"),
    (lambda x: gc.split(x, 2, axis=2), gc.ShapeError, "split", "axis 2 is out of range"),
    (lambda x: gc.array_split(x, 2, axis=1.0), gc.ShapeError, "array_split",
     "axis 1.0 is not an int"),
    (lambda x: gc.split(_x((3, 10)), 3, axis=1), gc.ShapeError, "split",
     r"needs 10 % 3 == 0; gc.array_split allows unequal parts"),
    (lambda x: gc.split(_x(()), 1), gc.ShapeError, "split", "out of range for a tensor of rank 0"),
    (lambda x: gc.stack([]), TypeError, "stack", "non-empty list"),
    (lambda x: gc.stack(x), TypeError, "stack", "non-empty list"),
    (lambda x: gc.stack([x, x.graph.inputs["y"]]), gc.ShapeError, "stack",
     r"operand 1 has shape \(B, T - 1\), operand 0 has \(B, T\) \(symbolic dims"),
    (lambda x: gc.stack([x, x.graph.inputs["z"]]), gc.ShapeError, "stack",
     r"operand 1 has shape \(T,\)"),
    (lambda x: gc.stack([x, x], axis=3), gc.ShapeError, "stack",
     "axis 3 is out of range for a tensor of rank 3"),
    (lambda x: gc.stack([x, x], axis="0"), gc.ShapeError, "stack", "is not an int"),
    (lambda x: gc.flip(x, 2), gc.ShapeError, "flip", "axis 2 is out of range"),
    (lambda x: gc.flip(x, (1, -1)), gc.ShapeError, "flip", "repeats an axis"),
    (lambda x: gc.flip(x, 0.5), gc.ShapeError, "flip", "is not an int"),
    (lambda x: gc.roll(x, 1.5, 1), TypeError, "roll", "shift 1.5 .float. is not an int or a dim"),
    (lambda x: gc.roll(x, "T", 1), TypeError, "roll", "shift 'T' .str. is not an int"),
    (lambda x: gc.roll(x, True), TypeError, "roll", "shift True"),
    (lambda x: gc.roll(x, (1, 2, 3), (0, 1)), gc.ShapeError, "roll", "3 shifts for 2 axes"),
    (lambda x: gc.roll(x, 1, 2), gc.ShapeError, "roll", "axis 2 is out of range"),
    (lambda x: gc.roll(x, [[1]], 0), TypeError, "roll", "is not an int or a dim"),
    (lambda x: gc.moveaxis(x, 0, 2), gc.ShapeError, "moveaxis",
     "destination axis 2 is out of range"),
    (lambda x: gc.moveaxis(x, (0, 0), (1, 0)), gc.ShapeError, "moveaxis",
     r"source \(0, 0\) repeats an axis"),
    (lambda x: gc.moveaxis(x, (0, 1), 0), gc.ShapeError, "moveaxis", "the same number of axes"),
    (lambda x: gc.moveaxis(x, "a", 0), gc.ShapeError, "moveaxis", "source axis 'a' is not an int"),
])
def test_errors_name_the_problem_and_leave_the_graph_unchanged(build, err, op, match):
    x = _x()
    x.graph.input("y", ("B", "T - 1"))
    x.graph.input("z", ("T",))
    before = len(x.graph.nodes)
    with pytest.raises(err, match=match) as info:
        build(x)
    assert len(x.graph.nodes) == before
    assert str(info.value).split("(")[0] == op  # the op, first
    assert "test_shape_ops_more.py" in str(info.value)  # the user's line


def test_a_failed_split_leaves_no_part_behind():
    x = _x(("B", 9))
    before = len(x.graph.nodes)
    with pytest.raises(gc.ShapeError, match="needs 9 % 2 == 0"):
        gc.split(x, 2, axis=1)
    assert len(x.graph.nodes) == before
    assert len(gc.split(x, 3, axis=1)) == 3


def test_every_op_is_public_and_documented():
    for name in ("stack", "split", "array_split", "flip", "roll", "moveaxis", "ravel",
                 "flatten"):
        assert name in gc.__all__ and callable(getattr(gc, name))
        doc = getattr(gc, name).__doc__
        assert doc and (doc.startswith(f"np.{name}") or "numpy" in doc[:40]
                        or name == "flatten"), name
    for op in ("stack", "split", "flip", "roll"):
        assert gc.ops.get_op(op).doc
