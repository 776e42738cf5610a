"""Creation ops with symbolic shapes: ``g.zeros / g.ones / g.full / g.arange``,
``gc.zeros_like / ones_like / full_like``, ``gc.tril / gc.triu`` (the issue: a causal mask for
any T is ``gc.tril(g.ones((T, T), bool))``).

Values are checked against numpy at several bindings from one compiled Function and from
``gc.evaluate``; the creation nodes are computed once per binding (static in the memory plan,
never in the body, never folded); errors name the problem and leave the graph unchanged.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import graphc as gc
from graphc.backend.numpy.codegen import EmitContext
from graphc.ir.dims import Dim, Shape, bind_attrs
from graphc.ir.opdef import get_op
from graphc.ops.creation import arange_size, fit_value

RNG = np.random.default_rng(0)
T_VALUES = (1, 3, 7)


def _check(f, outs, feed_of, want_of, values=T_VALUES):
    """``f`` (one compiled Function) and ``gc.evaluate`` equal numpy at each binding."""
    for t in values:
        feed = feed_of(t)
        want = want_of(t, *feed.values())
        got = f(*feed.values())
        ref = gc.evaluate(outs, feed)
        for w, u, v in zip(want, got, ref, strict=True):
            w = np.asarray(w)
            assert u.shape == w.shape and u.dtype == w.dtype, (t, u.shape, w.shape)
            assert v.shape == w.shape and v.dtype == w.dtype
            np.testing.assert_array_equal(u, w)
            np.testing.assert_array_equal(v, w)


# ------------------------------------------------------------------------ symbolic shapes


def test_full_zeros_ones_of_symbols_and_expressions_at_several_bindings():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    outs = [
        g.zeros(("B", "T")),
        g.ones(("T", "T"), bool),
        g.full("2*T", 1.5),
        g.full(("T - 1", "(T + 1)//2", 2), -3, np.int32),
        g.zeros((x.shape[1] * x.shape[0],), np.float32),
        g.full((), np.inf),
    ]
    assert [o.shape for o in outs] == [("B", "T"), ("T", "T"), ("2*T",),
                                       ("T - 1", "(T + 1)//2", 2), ("B*T",), ()]
    assert [o.op for o in outs] == ["full"] * len(outs)
    f = gc.compile(outs, inputs=[x])

    def want(t, a):
        b = a.shape[0]
        return [np.zeros((b, t)), np.ones((t, t), bool), np.full(2 * t, 1.5),
                np.full((t - 1, (t + 1) // 2, 2), -3, np.int32), np.zeros(b * t, np.float32),
                np.asarray(np.inf)]

    _check(f, outs, lambda t: {x: RNG.standard_normal((t % 3 + 1, t))}, want)


def test_full_in_arithmetic_and_the_like_builders():
    g = gc.Graph()
    x = g.input("x", ("B", "T"), np.float32)
    y = x * gc.ones_like(x) + gc.full_like(x, 0.25) - gc.zeros_like(x, np.float32)
    n = gc.zeros_like(x, np.int64) + 1
    assert y.dtype == np.float32 and n.dtype == np.int64
    assert gc.full_like(x, 2).dtype == np.float32  # x's dtype
    f = gc.compile([y, n])
    _check(f, [y, n], lambda t: {x: RNG.standard_normal((2, t)).astype(np.float32)},
           lambda t, a: [a * np.float32(1) + np.float32(0.25), np.ones(a.shape, np.int64)])


def test_no_gradient_flows_through_the_like_builders():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = gc.sum(gc.full_like(x, 2.0) * x + gc.ones_like(x))
    (dx,) = gc.grad(y, [x])
    a = RNG.standard_normal((4, 3))
    np.testing.assert_array_equal(gc.evaluate(dx, {x: a}), np.full((4, 3), 2.0))
    (dz,) = gc.grad(gc.sum(gc.zeros_like(x)), [x])
    np.testing.assert_array_equal(gc.evaluate(dz, {x: a}), np.zeros((4, 3)))


def test_dtype_from_the_value_as_numpy():
    g = gc.Graph()
    cases = [(True, np.bool_), (3, np.int64), (2.5, np.float64), (np.float32(2.5), np.float32),
             (np.int8(-3), np.int8)]
    for value, dt in cases:
        t = g.full((2,), value)
        assert t.dtype == dt
        np.testing.assert_array_equal(gc.evaluate(t), np.full(2, value, dt))
    # the stored value is the Python scalar the dtype holds (canonical, JSON-able)
    assert g.full((2,), 1, np.float32).node.attr["value"] == 1.0
    assert type(g.full((2,), 1, np.float32).node.attr["value"]) is float
    assert g.full((2,), 1, bool).node.attr["value"] is True
    assert type(g.full((2,), 2.0, np.int16).node.attr["value"]) is int
    assert g.full((2,), np.float64(0.5), np.float16).node.attr["value"] == 0.5
    assert g.zeros((2,)).dtype == np.float64 and g.ones((2,), np.uint8).dtype == np.uint8


def test_non_finite_and_extreme_values():
    g = gc.Graph()
    x = g.input("x", ("B",))
    outs = [g.full(("B",), v, dt) for v, dt in [
        (math.nan, np.float64), (-math.inf, np.float32), (-0.0, np.float64),
        (np.iinfo(np.int64).min, np.int64), (np.iinfo(np.uint64).max, np.uint64),
        (65504.0, np.float16)]]
    f = gc.compile(outs, inputs=[x])
    for got in (f(np.zeros(3)), gc.evaluate(outs, {x: np.zeros(3)})):
        assert np.isnan(got[0]).all() and (got[1] == -np.inf).all()
        assert np.signbit(got[2]).all()
        assert got[3][0] == np.iinfo(np.int64).min and got[4][0] == np.iinfo(np.uint64).max
        assert got[5].dtype == np.float16 and got[5][0] == 65504


# -------------------------------------------------------------------------- causal mask


def test_causal_mask_for_any_T_from_one_function():
    g = gc.Graph()
    x = g.input("x", ("B", "T", "T"))
    T = x.shape[1]
    mask = gc.tril(g.ones((T, T), bool))
    assert mask.shape == ("T", "T") and mask.dtype == np.bool_
    y = gc.where(mask, x, -np.inf)
    p = gc.softmax(y, axis=-1)
    f = gc.compile([y, p])

    def want(t, a):
        m = np.tril(np.ones((t, t), bool))
        w = np.where(m, a, -np.inf)
        e = np.exp(w - w.max(-1, keepdims=True))
        return [w, e / e.sum(-1, keepdims=True)]

    for t in (1, 3, 7, 3):
        a = RNG.standard_normal((2, t, t))
        got = f(a)
        w = want(t, a)
        np.testing.assert_array_equal(got[0], w[0])
        np.testing.assert_allclose(got[1], w[1], rtol=1e-14)
        ref = gc.evaluate([y, p], {x: a})
        np.testing.assert_array_equal(ref[0], w[0])
        assert np.all(np.triu(got[1], 1) == 0)


def test_the_mask_is_computed_once_per_binding_outside_the_body():
    g = gc.Graph()
    x = g.input("x", ("B", "T", "T"))
    T = x.shape[1]
    mask = gc.tril(g.ones((T, T), bool))
    pos = g.arange(T).astype(np.float64)
    y = gc.where(mask, x, 0.0) + pos
    f = gc.compile(y)
    ops = {f.graph.node(i).op for i in f.plan.static}
    assert {"full", "tril", "arange"} <= ops
    body = f.source.split("# body")[1]
    assert not re.search(r"^ +(full|tril|arange|astype)_\d+ = ", body, re.M), body
    assert re.search(r"^ +full_\d+, tril_\d+, arange_\d+, astype_\d+ = M$", f.source, re.M)
    assert "rt_plan(" in f.source  # the static values come with the binding's buffer set
    # the values made per binding are read-only and reused: a second call with the same T
    # takes them from the pool; a new T makes new ones; results are right at each
    for t in (3, 5, 3, 1):
        a = RNG.standard_normal((2, t, t))
        want = np.where(np.tril(np.ones((t, t), bool)), a, 0.0) + np.arange(t)
        np.testing.assert_array_equal(f(a), want)
    pools = f._fn.__globals__["POOLS"]
    assert {k[1] for k in pools} == {1, 3, 5}


def test_a_concrete_creation_is_never_folded_into_a_constant():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = x + gc.tril(g.ones((3, 3)))[0] + g.arange(3)
    f = gc.compile(y)
    ops = [n.op for n in f.graph.nodes]
    assert "full" in ops and "arange" in ops
    a = RNG.standard_normal((2, 3))
    np.testing.assert_array_equal(f(a), a + np.array([1.0, 0, 0]) + np.arange(3))


def test_compile_takes_the_inputs_that_bind_the_symbols():
    """By default a compiled function takes the inputs its outputs read, then those that only
    bind a needed symbol (x of zeros_like(x)); an explicit inputs list must bind them."""
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    y = g.input("y", ("B",))
    z = gc.zeros_like(x)
    f = gc.compile(z)
    assert f.input_names == ["x"] and f(np.ones((2, 5))).shape == (2, 5)
    f = gc.compile([g.arange(x.shape[1]), y * 2.0])
    assert f.input_names == ["y", "x"]
    assert [a.shape for a in f(np.ones(4), np.ones((4, 5)))] == [(5,), (4,)]
    with pytest.raises(gc.ShapeError, match="no input of the compiled function binds T"):
        gc.compile([g.arange(x.shape[1]), y * 2.0], inputs=[y])
    with pytest.raises(gc.ShapeError, match="no input of the compiled function binds N"):
        gc.compile(g.ones(("N",)))
    with pytest.raises(gc.ShapeError, match="no input binds"):
        gc.evaluate(g.ones(("N",)), {x: np.ones((2, 5))})


def test_returned_creation_values_are_the_callers_own():
    g = gc.Graph()
    x = g.input("x", ("T",))
    f = gc.compile([g.zeros(("T",)), g.arange(x.shape[0])], inputs=[x])
    z, r = f(np.ones(3))
    z += 1
    r[0] = 9
    z2, r2 = f(np.ones(3))
    np.testing.assert_array_equal(z2, np.zeros(3))
    np.testing.assert_array_equal(r2, np.arange(3))


# --------------------------------------------------------------------------------- arange


def test_arange_of_symbolic_bounds():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    T = x.shape[1]
    outs = [g.arange(T), g.arange(1, T), g.arange(T, 0, -1), g.arange(0, T, 2, dtype=np.float32),
            g.arange(T - 1, -1, -3), g.arange(T, T + 4), g.arange("T + 2", 2, -1, np.int16),
            g.arange(3, 2 * T + 3, 5)]
    assert [o.shape for o in outs] == [
        ("T",), ("T - 1",), ("T",), ("(T + 1)//2",), ("(T + 2)//3",), (4,), ("T",),
        ("(2*T + 4)//5",)]
    assert outs[0].dtype == np.int64 and outs[3].dtype == np.float32
    assert outs[6].dtype == np.int16
    f = gc.compile(outs, inputs=[x])

    def want(t, a):
        return [np.arange(t), np.arange(1, t), np.arange(t, 0, -1),
                np.arange(0, t, 2, dtype=np.float32), np.arange(t - 1, -1, -3),
                np.arange(t, t + 4), np.arange(t + 2, 2, -1, dtype=np.int16),
                np.arange(3, 2 * t + 3, 5)]

    _check(f, outs, lambda t: {x: np.zeros((2, t))}, want)


def test_arange_of_ints_is_numpys():
    g = gc.Graph()
    for args in [(5,), (2, 5), (5, 2), (5, 0, -2), (-3, 4, 3), (0,), (-2, 3)]:
        t = g.arange(*args)
        np.testing.assert_array_equal(gc.evaluate(t), np.arange(*args))
        assert t.shape == (len(range(*args)),)
    t = g.arange(np.int32(4), dtype=np.float16)
    assert t.dtype == np.float16
    np.testing.assert_array_equal(gc.evaluate(t), np.arange(4, dtype=np.float16))


def test_arange_size_rule():
    T = Dim("T")
    assert arange_size(0, T, 1) == (T, [])
    size, needs = arange_size(1, T, 1)
    assert size == T - 1 and len(needs) == 1 and "needs T >= 1" in needs[0].why
    size, needs = arange_size(T, 0, -1)
    assert size == T and needs == []
    assert arange_size(T, T + 4, 2) == (2, [])
    assert arange_size(5, 2, 1) == (0, [])  # ints: numpy's empty range
    with pytest.raises(gc.ShapeError, match="run backwards"):
        arange_size(T + 5, T, 1)


def test_a_range_over_dims_that_runs_backwards_is_refused_when_bound():
    g = gc.Graph()
    x = g.input("x", ("T",))
    r = g.arange(1, x.shape[0])
    f = gc.compile(r, inputs=[x])
    np.testing.assert_array_equal(f(np.zeros(1)), np.zeros(0, np.int64))  # T = 1: empty, ok
    with pytest.raises(gc.ShapeError, match=r"arange\(1, T\) needs T >= 1.*T = 0"):
        f(np.zeros(0))
    with pytest.raises(gc.ShapeError, match="needs T >= 1"):
        gc.evaluate(r, {x: np.zeros(0)})
    down = g.arange(x.shape[0] - 2, 0, -1)
    with pytest.raises(gc.ShapeError, match="needs T - 2 >= 0"):
        gc.compile(down, inputs=[x])(np.zeros(1))
    # known to run backwards for every binding: refused when built
    n = len(g)
    with pytest.raises(gc.ShapeError, match="run backwards"):
        g.arange(x.shape[0] + 1, x.shape[0])
    assert len(g) == n


def test_arange_in_a_narrow_int_dtype_checks_its_values():
    g = gc.Graph()
    x = g.input("x", ("T",))
    r = g.arange(-3, x.shape[0], dtype=np.int8)
    f = gc.compile(r, inputs=[x])
    np.testing.assert_array_equal(f(np.zeros(128)), np.arange(-3, 128, dtype=np.int8))
    with pytest.raises(gc.ShapeError, match="int8 needs T - 1 <= 127"):
        f(np.zeros(129))
    u = g.arange(x.shape[0] - 2, x.shape[0], dtype=np.uint8)
    with pytest.raises(gc.ShapeError, match="uint8 needs T - 2 >= 0"):
        gc.evaluate(u, {x: np.zeros(1)})
    np.testing.assert_array_equal(gc.evaluate(u, {x: np.zeros(4)}), np.array([2, 3], np.uint8))
    with pytest.raises(TypeError, match="do not fit dtype int8"):
        g.arange(0, 300, dtype=np.int8)
    with pytest.raises(TypeError, match="uint8 needs -1 >= 0"):
        g.arange(-1, x.shape[0], dtype=np.uint8)


# ---------------------------------------------------------------------------- tril, triu


@pytest.mark.parametrize("k", [-2, -1, 0, 1, 3])
def test_tril_triu_as_numpy_on_a_batch(k):
    g = gc.Graph()
    x = g.input("x", ("B", "T", 4))
    b = g.input("b", ("T", "T"), bool)
    outs = [gc.tril(x, k), gc.triu(x, k=k), gc.tril(b, k), gc.triu(b, k),
            gc.tril(x.astype(np.int32), k)]
    f = gc.compile(outs)
    for t in T_VALUES:
        a = RNG.standard_normal((2, t, 4))
        m = RNG.random((t, t)) < 0.5
        want = [np.tril(a, k), np.triu(a, k), np.tril(m, k), np.triu(m, k),
                np.tril(a.astype(np.int32), k)]
        for got in (f(a, m), gc.evaluate(outs, {x: a, b: m})):
            for w, v in zip(want, got, strict=True):
                assert v.dtype == w.dtype
                np.testing.assert_array_equal(v, w)


@pytest.mark.parametrize("B", [1, 3])
def test_tril_triu_gradients(B):
    g = gc.Graph()
    x = g.input("x", ("B", 3, 3))
    w = g.input("w", ("B", 3, 4))
    y = gc.sum(gc.tanh(gc.tril(x, -1) @ gc.triu(w, 1)) * gc.triu(x @ w, 0))
    xs = {x: RNG.standard_normal((B, 3, 3)), w: RNG.standard_normal((B, 3, 4))}
    gc.check_grad(y, [x, w], xs)
    gx = gc.grad(gc.sum(gc.tril(x, 1) * 2.0), [x])[0]
    np.testing.assert_array_equal(gc.evaluate(gx, xs), np.broadcast_to(
        np.tril(np.full((3, 3), 2.0), 1), (B, 3, 3)))


# ---------------------------------------------------------------------------------- emit


def _emitted(t: gc.Tensor, binding: dict[str, int]):
    """Run the op's ``emit`` code (the static path never uses it) for a binding."""
    n = t.node
    ns: dict = {"xp": np}
    symbols = {s: f"s{k}" for k, s in enumerate(binding)}
    ctx = EmitContext(ns, symbols)
    ctx.node, ctx.inputs = n, []
    code = get_op(n.op).emit([], n.attr, ctx)
    ns.update({symbols[s]: v for s, v in binding.items()})
    return eval(code, ns), code  # noqa: S307 - code made by the op's emit from checked attrs


def test_emit_agrees_with_compute():
    g = gc.Graph()
    cases = [g.full(("B", "2*T - 1"), 2.5, np.float32), g.ones(("T", "T"), bool),
             g.full((3,), math.nan), g.full((2,), -math.inf), g.full(("T",), -7, np.int8),
             g.arange(1, "T"), g.arange("T", -2, -3, np.float64), g.zeros(())]
    for t in cases:
        for binding in ({"B": 2, "T": 3}, {"B": 1, "T": 1}):
            v, code = _emitted(t, binding)
            n = t.node
            want = get_op(n.op).compute([], bind_attrs(n.attr, binding), n.shape.bind(binding))
            assert v.dtype == want.dtype and v.shape == want.shape, code
            np.testing.assert_array_equal(v, want)
    _, code = _emitted(g.full((2,), math.nan), {})
    assert code.startswith("xp.full((2,), xp.nan, dt_")


# -------------------------------------------------------------------------------- errors


def _refused(g: gc.Graph, exc, match: str, build):
    n, outputs = len(g), dict(g.outputs)
    with pytest.raises(exc, match=match):
        build()
    assert len(g) == n and dict(g.outputs) == outputs


def test_bad_shapes_values_and_dtypes_change_nothing():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    x64, total, row = x.astype(np.int64), gc.sum(x), x[0]
    cases = [
        (gc.ShapeError, "negative", lambda: g.zeros((2, -1))),
        (gc.ShapeError, "dim expression", lambda: g.zeros(("T -",))),
        (gc.ShapeError, "not an int", lambda: g.ones((2.0, 3))),
        (gc.ShapeError, "bool", lambda: g.ones((True,))),
        (gc.ShapeError, "not a tuple of dims", lambda: g.ones(x)),
        (TypeError, "is not a bool, an int or a float", lambda: g.full((2,), "a")),
        (TypeError, "is not a bool, an int or a float", lambda: g.full((2,), None)),
        (TypeError, "is not a bool, an int or a float", lambda: g.full((2,), 1j)),
        (TypeError, "is not a bool, an int or a float", lambda: g.full((2,), x)),
        (TypeError, "not an integer", lambda: g.full((2,), 1.5, np.int64)),
        (TypeError, "not an integer", lambda: g.full((2,), math.nan, np.int32)),
        (TypeError, r"does not fit dtype int8 \(its range is \[-128, 127\]\)",
         lambda: g.full((2,), 300, np.int8)),
        (TypeError, "does not fit dtype uint8", lambda: g.full((2,), -1, np.uint8)),
        (TypeError, "does not fit dtype bool", lambda: g.full((2,), 2, bool)),
        (TypeError, "does not fit dtype bool", lambda: g.full((2,), 0.5, bool)),
        (TypeError, "does not fit dtype float32", lambda: g.full((2,), 1e300, np.float32)),
        (TypeError, "does not fit dtype float64", lambda: g.full((2,), 10**400, float)),
        (TypeError, r"value 1000000000\.\.\. does not fit dtype int64",
         lambda: g.full((2,), 10**400)),
        (TypeError, "does not fit dtype float16", lambda: gc.full_like(x, 1e5, np.float16)),
        (TypeError, "not supported", lambda: g.zeros((2,), np.complex128)),
        (TypeError, "not supported", lambda: g.zeros((2,), object)),
        (TypeError, "not a numpy dtype", lambda: g.zeros((2,), "no such dtype")),
        (TypeError, "must be a graphc Tensor", lambda: gc.zeros_like(np.zeros(3))),
        (TypeError, "must be a graphc Tensor", lambda: gc.full_like([1.0], 2.0)),
        (TypeError, "does not fit dtype int64", lambda: gc.full_like(x64, 0.5)),
        (gc.ShapeError, "step cannot be zero", lambda: g.arange(0, 5, 0)),
        (TypeError, "step .* must be an int, not a dim", lambda: g.arange(0, 5, x.shape[0])),
        (TypeError, "step 1.0 is not an int", lambda: g.arange(0, 5, 1.0)),
        (TypeError, "not an int or a dim", lambda: g.arange(2.5)),
        (TypeError, "not an int or a dim", lambda: g.arange(True)),
        (TypeError, "is a Tensor", lambda: g.arange(total)),
        (TypeError, "dtype bool is not supported", lambda: g.arange(3, dtype=bool)),
        (TypeError, "not supported", lambda: g.arange(3, dtype=np.complex64)),
        (gc.ShapeError, "dim expression", lambda: g.arange("T +")),
        (gc.ShapeError, "at least 2 is needed", lambda: gc.tril(row)),
        (gc.ShapeError, "at least 2 is needed", lambda: gc.triu(total)),
        (TypeError, "k 1.5 is not an int", lambda: gc.tril(x, 1.5)),
        (TypeError, "k True is not an int", lambda: gc.triu(x, True)),
        (TypeError, "expected a graphc Graph", lambda: gc.ops.graph_full(x, (2,), 0)),
    ]
    for exc, match, build in cases:
        _refused(g, exc, match, build)


def test_errors_name_the_op_and_the_users_line():
    g = gc.Graph()
    with pytest.raises(TypeError) as e:
        g.full((2,), 300, np.int8)
    assert str(e.value).startswith("full(): value 300 does not fit dtype int8")
    assert "test_creation.py" in str(e.value)
    with pytest.raises(gc.ShapeError) as e:
        g.arange(0, 1, 0)
    assert str(e.value).startswith("arange(): arange step cannot be zero")


def test_fit_value():
    assert fit_value(1, np.dtype(bool)) is True and fit_value(0, np.dtype(bool)) is False
    assert fit_value(True, np.dtype(np.int8)) == 1
    assert fit_value(-128, np.dtype(np.int8)) == -128
    assert fit_value(np.uint64(2**64 - 1), np.dtype(np.uint64)) == 2**64 - 1
    assert fit_value(3, np.dtype(np.float16)) == 3.0
    assert math.isnan(fit_value(math.nan, np.dtype(np.float16)))
    assert fit_value(math.inf, np.dtype(np.float32)) == math.inf


# ------------------------------------------------------------------- save, load, drawing


def test_save_load_roundtrip_with_dim_attributes(tmp_path):
    g = gc.Graph("creation")
    x = g.input("x", ("B", "T", "T"))
    T = x.shape[1]
    mask = gc.tril(g.ones((T, T), bool), -1)
    pos = g.arange(1, T + 1, dtype=np.float32)
    y = gc.where(mask, x, math.nan) * pos + g.full(("2*T - T",), -math.inf).sum()
    z = gc.triu(x, 1) + gc.zeros_like(x) + g.arange(T, 0, -1)
    g.output("y", y)
    g.output("z", z)
    path = tmp_path / "creation.graphc.json"
    gc.save(g, path)
    h = gc.load(path)
    assert [n.attr for n in h.nodes] == [n.attr for n in g.nodes]
    fulls = [n.attr for n in h.nodes if n.op == "full"]
    assert [f["shape"] for f in fulls] == [("T", "T"), ("2*T - T",), ("B", "T", "T")]
    assert isinstance(fulls[0]["shape"][0], Dim) and fulls[0]["value"] is True
    assert fulls[1]["value"] == -math.inf
    aranges = [n.attr for n in h.nodes if n.op == "arange"]
    assert aranges[0]["stop"] == Dim("T + 1") and aranges[1]["start"] == Dim("T")
    assert aranges[1]["step"] == -1 and aranges[0]["dtype"] == "float32"
    assert gc.io.dumps(h) == gc.io.dumps(g)
    fg = gc.compile(list(g.outputs.values()), inputs=[x])
    fh = gc.compile(list(h.outputs.values()), inputs=[h["x"]])
    for t in T_VALUES:
        a = RNG.standard_normal((2, t, t))
        for u, v in zip(fg(a), fh(a), strict=True):
            np.testing.assert_array_equal(u, v)


def test_loading_refuses_a_tampered_creation_node():
    g = gc.Graph()
    x = g.input("x", ("T",))
    g.output("r", g.arange(1, x.shape[0]))
    g.output("f", g.full(("T",), 2, np.int8))
    text = gc.io.dumps(g)
    for old, new in [('"value": 2', '"value": 2.5'), ('"value": 2', '"value": 300'),
                     ('"step": 1', '"step": 0'), ('"dtype": "int8"', '"dtype": "complex64"')]:
        assert old in text
        with pytest.raises(ValueError):
            gc.io.loads(text.replace(old, new))


def test_drawing():
    g = gc.Graph()
    x = g.input("x", ("B", "T", "T"))
    T = x.shape[1]
    y = gc.where(gc.tril(g.ones((T, T), bool)), x, 0.0) + g.arange(T)
    g.output("y", y)
    dot = gc.to_dot(g)
    assert "full" in dot and "arange" in dot and "tril" in dot
    from graphc.viz.dot import KIND_COLORS

    assert KIND_COLORS["creation"] in dot
    assert "creation op" in gc.to_dot(y, legend=True)
    gc.to_dot(gc.compile(y), depth=0)
    gc.to_networkx(g)


def test_shape_strings_and_single_dims():
    g = gc.Graph()
    assert g.zeros("T").shape == ("T",)
    assert g.zeros(5).shape == (5,)
    assert g.zeros(Dim("B") * 2).shape == ("2*B",)
    assert g.zeros(Shape(("B", 3))).shape == ("B", 3)
    assert g.zeros((np.int64(2), "B")).shape == (2, "B")
    t = g.zeros(("T - 1",))
    assert gc.evaluate(t, {g.input("x", ("T",)): np.zeros(4)}).shape == (3,)
