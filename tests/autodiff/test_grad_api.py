"""gc.grad's contract: shapes and dtypes, seeds, unreached inputs, dtype errors, higher
order, error locations; and gc.check_grad's own behaviour."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest

import graphc as gc
from graphc.ir import opdef as registry

HERE = __file__


def here(offset: int = 1) -> str:
    f = inspect.currentframe().f_back
    return f"{HERE}:{f.f_lineno + offset}"


def _graph():
    g = gc.Graph("g")
    return g, g.input("x", ("B", 3))


# ------------------------------------------------------------------------ shape and dtype


def test_each_gradient_has_exactly_its_xs_shape_and_dtype():
    g = gc.Graph()
    x = g.input("x", ("B", 3), np.float32)
    W = g.param("W", np.ones((3, 2)))  # float64: x @ W promotes to float64
    b = g.param("b", np.zeros(2, dtype=np.float32))
    s = g.param("s", np.float32(1.5))
    y = gc.sum(gc.tanh(x @ W + b) * s)
    gx, gW, gb, gs = gc.grad(y, [x, W, b, s])
    for t, want_shape, want_dtype in [(gx, ("B", 3), np.float32), (gW, (3, 2), np.float64),
                                      (gb, (2,), np.float32), (gs, (), np.float32)]:
        assert t.shape == want_shape and t.dtype == want_dtype
    xv = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    vals = gc.evaluate([gx, gW, gb, gs], {x: xv})
    assert [v.shape for v in vals] == [(5, 3), (3, 2), (2,), ()]
    assert [v.dtype for v in vals] == [np.float32, np.float64, np.float32, np.float32]
    compiled = gc.compile([gx, gW, gb, gs], inputs=[x])(xv)
    assert [v.dtype for v in compiled] == [v.dtype for v in vals]
    for c, v in zip(compiled, vals):
        np.testing.assert_allclose(c, v, rtol=1e-6)


def test_float32_stays_float32_and_agrees_with_float64():
    rng = np.random.default_rng(1)
    Wv, xv = rng.standard_normal((4, 3)), rng.standard_normal((6, 4))
    out = {}
    for dt in (np.float32, np.float64):
        g = gc.Graph()
        x = g.input("x", ("B", 4), dt)
        W = g.param("W", Wv.astype(dt))
        y = gc.mean(gc.log_softmax(x @ W) ** 2)
        (gW,) = gc.grad(y, [W])
        assert gW.dtype == dt
        out[dt] = gc.compile(gW, inputs=[x])(xv.astype(dt))
        assert out[dt].dtype == dt
    np.testing.assert_allclose(out[np.float32], out[np.float64], rtol=1e-4, atol=1e-6)


def test_astype_gradient_is_cast_back():
    g = gc.Graph()
    x = g.input("x", (3,))
    y = gc.sum(gc.astype(x, np.float32) * 2)
    (gx,) = gc.grad(y, [x])
    assert gx.dtype == np.float64
    np.testing.assert_array_equal(gc.evaluate(gx, {x: np.ones(3)}), [2.0, 2.0, 2.0])


# ---------------------------------------------------------------------------------- seeds


def test_non_scalar_y_without_seed_is_a_shape_error():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    y = gc.tanh(x)
    with pytest.raises(gc.ShapeError, match=r"not a scalar.*seed"):
        gc.grad(y, [x])


def test_seed_of_ys_shape_gives_the_vjp():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    W = g.param("W", np.arange(12.0).reshape(4, 3) / 10)
    u = g.input("u", ("B", 3))
    y = gc.tanh(x @ W)  # (B, 3)
    gx, gW = gc.grad(y, [x, W], seed=u)
    rng = np.random.default_rng(2)
    xv, uv = rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    d = uv * (1 - np.tanh(xv @ (np.arange(12.0).reshape(4, 3) / 10)) ** 2)
    gxv, gWv = gc.evaluate([gx, gW], {x: xv, u: uv})
    np.testing.assert_allclose(gxv, d @ (np.arange(12.0).reshape(4, 3) / 10).T, rtol=1e-12)
    np.testing.assert_allclose(gWv, xv.T @ d, rtol=1e-12)


def test_seed_as_an_array_for_a_concrete_y():
    g = gc.Graph()
    x = g.input("x", (2, 3))
    seed = np.arange(6.0).reshape(2, 3)
    (gx,) = gc.grad(x * 3.0, [x], seed=seed)
    np.testing.assert_array_equal(gc.evaluate(gx, {x: np.ones((2, 3))}), 3 * seed)


def test_grad_seed_array_still_works():
    g, x = _graph()
    (gx,) = gc.grad(x[0], [x], seed=np.arange(3.0))
    out = gc.evaluate(gx, {x: np.ones((2, 3))})
    np.testing.assert_array_equal(out, [[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("seed_shape", [(3,), (1, 3), (2, 3, 1)])
def test_seed_of_another_shape_is_a_shape_error(seed_shape):
    g = gc.Graph()
    x = g.input("x", (2, 3))
    with pytest.raises(gc.ShapeError, match="seed"):
        gc.grad(x * 2.0, [x], seed=np.ones(seed_shape))


def test_symbolic_seed_must_match_symbolically():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    u = g.input("u", ("N", 3))
    with pytest.raises(gc.ShapeError, match="seed"):
        gc.grad(x * 2.0, [x], seed=u)


# ----------------------------------------------------------------------- unreached inputs


def test_x_not_reached_by_y_gets_zeros_of_its_shape():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    z = g.input("z", ("B", 2), np.float32)
    W = g.param("W", np.ones((4, 3)))
    V = g.param("V", np.ones((5, 2)))
    y = gc.sum(x @ W)
    gz, gV, gW = gc.grad(y, [z, V, W])
    assert (gz.shape, gz.dtype, gV.shape) == (("B", 2), np.float32, (5, 2))
    feed = {x: np.ones((3, 4)), z: np.ones((3, 2))}
    gzv, gVv, gWv = gc.evaluate([gz, gV, gW], feed)
    assert gzv.dtype == np.float32
    np.testing.assert_array_equal(gzv, np.zeros((3, 2)))
    np.testing.assert_array_equal(gVv, np.zeros((5, 2)))
    np.testing.assert_array_equal(gWv, np.full((4, 3), 3.0))
    c = gc.compile([gz, gV], inputs=[x, z])(np.ones((3, 4)), np.ones((3, 2)))
    np.testing.assert_array_equal(c[0], np.zeros((3, 2)))


def test_gradient_through_comparisons_and_sign_is_zero():
    g = gc.Graph()
    x = g.input("x", (4,))
    y = gc.sum(gc.where(x > 0, 1.0, -1.0) + gc.sign(x) * 3.0)  # piecewise constant in x
    (gx,) = gc.grad(y, [x])
    np.testing.assert_array_equal(gc.evaluate(gx, {x: np.array([-2.0, -0.5, 0.5, 2.0])}),
                                  np.zeros(4))


def test_gradient_of_x_wrt_itself_is_the_seed():
    g = gc.Graph()
    x = g.input("x", ())
    (gx,) = gc.grad(x, [x])
    assert gc.evaluate(gx, {x: 5.0}) == 1.0
    X = g.input("X", ("B", 2))
    u = g.input("u", ("B", 2))
    (gX,) = gc.grad(X, [X], seed=u)
    uv = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(gc.evaluate(gX, {X: np.ones((3, 2)), u: uv}), uv)


def test_the_same_x_twice_gets_the_same_gradient():
    g = gc.Graph()
    x = g.input("x", (3,))
    g1, g2 = gc.grad(gc.sum(x * x), [x, x])
    v1, v2 = gc.evaluate([g1, g2], {x: np.array([1.0, 2.0, 3.0])})
    np.testing.assert_array_equal(v1, [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(v2, v1)


def test_an_x_downstream_of_another_x_gets_the_gradient_through_it():
    g = gc.Graph()
    x = g.input("x", (3,))
    h = gc.tanh(x)
    gx, gh = gc.grad(gc.sum(h * 2.0), [x, h])
    xv = np.array([0.1, -0.5, 1.0])
    vx, vh = gc.evaluate([gx, gh], {x: xv})
    np.testing.assert_array_equal(vh, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(vx, 2 * (1 - np.tanh(xv) ** 2), rtol=1e-14)


def test_integer_paths_carry_no_gradient_but_integer_exponents_work():
    g = gc.Graph()
    x = g.input("x", (3,))
    n = g.input("n", (3,), np.int64)
    y = gc.sum(gc.power(x, n) + x * gc.astype(gc.astype(x * 10, np.int64), np.float64))
    (gx,) = gc.grad(y, [x])
    xv = np.array([0.1, -0.5, 1.0])
    # n x^(n-1) + floor-toward-zero(10 x): the int round trip is piecewise constant
    np.testing.assert_allclose(gc.evaluate(gx, {x: xv, n: np.array([2, 3, -1])}),
                               [0.2 + 1.0, 0.75 - 5.0, -1.0 + 10.0], rtol=1e-14)


# ----------------------------------------------------------------------------- dtype errors


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.bool_])
def test_integer_or_bool_x_is_a_type_error(dtype):
    g = gc.Graph()
    x = g.input("x", (3,))
    i = g.input("i", (3,), dtype)
    y = gc.sum(x * gc.astype(i, np.float64))
    with pytest.raises(TypeError, match="only float tensors have gradients"):
        gc.grad(y, [x, i])


def test_integer_or_bool_y_is_a_type_error():
    g = gc.Graph()
    x = g.input("x", (3,))
    i = g.input("i", (3,), np.int64)
    with pytest.raises(TypeError, match="only a float y"):
        gc.grad(gc.sum(i), [x])
    with pytest.raises(TypeError, match="only a float y"):
        gc.grad(gc.sum(x) > 0, [x])


def test_xs_must_be_a_list_of_tensors_of_ys_graph():
    g, h = gc.Graph("g"), gc.Graph("h")
    x, z = g.input("x", (3,)), h.input("z", (3,))
    y = gc.sum(x)
    with pytest.raises(TypeError, match="list"):
        gc.grad(y, x)
    with pytest.raises(ValueError, match="graph"):
        gc.grad(y, [z])
    with pytest.raises(TypeError):
        gc.grad(np.ones(3), [x])


# --------------------------------------------------------------------------- higher order


def test_gradient_of_gradient():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = gc.sum(x ** 4)
    (g1,) = gc.grad(y, [x])  # 4 x^3
    (g2,) = gc.grad(gc.sum(g1), [x])  # 12 x^2
    (g3,) = gc.grad(gc.sum(g2), [x])  # 24 x
    xv = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    v1, v2, v3 = gc.evaluate([g1, g2, g3], {x: xv})
    np.testing.assert_allclose(v1, 4 * xv ** 3, rtol=1e-14)
    np.testing.assert_allclose(v2, 12 * xv ** 2, rtol=1e-14)
    np.testing.assert_allclose(v3, 24 * xv, rtol=1e-14)


def test_hessian_of_a_broadcast_model_is_exact():
    """H of sum((x @ W + b)^2) w.r.t. b is 2 N I: second order through sum_to's nodes."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    b = g.param("b", np.zeros(2))
    (gb,) = gc.grad(gc.sum((x @ W + b) ** 2), [b])
    rows = [gc.grad(gb[k], [b])[0] for k in range(2)]
    H = np.stack(gc.evaluate(rows, {x: np.ones((5, 3))}))
    np.testing.assert_allclose(H, 10 * np.eye(2), rtol=1e-14)


def test_second_order_compiles():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.full((3, 3), 0.1))
    y = gc.sum(gc.tanh(x @ W))
    (gW,) = gc.grad(y, [W])
    (ggW,) = gc.grad(gc.sum(gW ** 2), [W])
    xv = np.random.default_rng(3).standard_normal((4, 3))
    np.testing.assert_allclose(gc.compile(ggW, inputs=[x])(xv), gc.evaluate(ggW, {x: xv}),
                               rtol=1e-12)


# -------------------------------------------------------------------------- error locations


def test_errors_while_differentiating_name_the_forward_nodes_line(monkeypatch):
    def broken(g, out, x, at, need):
        raise gc.ShapeError("this vjp is broken")

    monkeypatch.setitem(registry._REGISTRY, "tanh",
                        dataclasses.replace(registry.get_op("tanh"), vjp=broken))
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    loc = here()
    h = gc.tanh(x)
    with pytest.raises(gc.ShapeError) as info:
        gc.grad(gc.sum(h * 2.0), [x])
    msg = str(info.value)
    assert "tanh" in msg and loc in msg and "this vjp is broken" in msg


def test_type_errors_while_differentiating_name_the_forward_nodes_line(monkeypatch):
    def broken(g, out, x, at, need):
        return [gc.astype(g, "U4")]

    monkeypatch.setitem(registry._REGISTRY, "exp",
                        dataclasses.replace(registry.get_op("exp"), vjp=broken))
    g = gc.Graph()
    x = g.input("x", (4,))
    loc = here()
    h = gc.exp(x)
    with pytest.raises(TypeError) as info:
        gc.grad(gc.sum(h), [x])
    assert loc in str(info.value) and "exp" in str(info.value)


@pytest.mark.parametrize("case", ["xs_tensor", "xs_scalar", "xs_other_graph", "seed_str",
                                  "seed_other_graph", "y_float"])
def test_grad_errors_name_the_callers_line(case):
    """Every error gc.grad raises itself starts with "grad: " once and ends with the user's
    line, and leaves the graph as it was."""
    g, x = _graph()
    other = gc.Graph("h").input("a", (3,))
    total, row = x.sum(), x[0]
    calls = {
        "xs_tensor": (TypeError, lambda: gc.grad(total, x)),
        "xs_scalar": (TypeError, lambda: gc.grad(total, [1.0])),
        "xs_other_graph": (ValueError, lambda: gc.grad(total, [other])),
        "seed_str": (ValueError, lambda: gc.grad(row, [x], seed="a")),
        "seed_other_graph": (ValueError, lambda: gc.grad(row, [x], seed=other)),
        "y_float": (TypeError, lambda: gc.grad(1.0, [x])),
    }
    kind, call = calls[case]
    before = len(g)
    with pytest.raises(kind) as ei:
        call()
    msg = str(ei.value)
    assert msg.startswith("grad: "), msg
    assert f"\n  at {__file__}:" in msg, msg
    assert msg.count("grad: ") == 1, msg
    assert len(g) == before


# ------------------------------------------------------------------------------ check_grad


def test_check_grad_reports_its_comparisons():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.full((3, 2), 0.3))
    y = gc.sum(gc.tanh(x @ W))
    rep = gc.check_grad(y, [W, x], {"x": np.ones((2, 3))}, order=2, directions=3)
    assert rep.count == 6 and rep.worst <= 1
    assert [c["what"] for c in rep.checks][:2] == ["first order, direction 0",
                                                   "second order, direction 0"]


def test_check_grad_leaves_the_users_graph_alone():
    g = gc.Graph()
    x = g.input("x", (3,))
    y = gc.sum(gc.exp(x))
    n = len(g)
    gc.check_grad(y, [x], {x: np.zeros(3)})
    assert len(g) == n and list(g.inputs) == ["x"]


def test_check_grad_names_the_x_with_the_wrong_gradient(monkeypatch):
    monkeypatch.setitem(registry._REGISTRY, "multiply", dataclasses.replace(
        registry.get_op("multiply"),
        vjp=lambda g, out, x, at, need: [g * x[1], g * x[0] * 1.01]))
    g = gc.Graph()
    a = g.input("a", (3,))
    W = g.param("W", np.array([1.0, 2.0, 3.0]))
    with pytest.raises(gc.GradCheckError, match="'W'") as info:
        gc.check_grad(gc.sum(a * W), [a, W], {a: np.array([0.5, -1.0, 2.0])}, order=1)
    assert "'a'" not in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_check_grad_argument_errors():
    g = gc.Graph()
    x = g.input("x", (3,))
    y = gc.sum(gc.exp(x))
    with pytest.raises(ValueError, match="order"):
        gc.check_grad(y, [x], {x: np.zeros(3)}, order=3)
    with pytest.raises(TypeError, match="input or a param"):
        gc.check_grad(y, [gc.exp(x)], {x: np.zeros(3)})
    with pytest.raises(TypeError, match="feed"):
        gc.check_grad(y, [x], {})
    with pytest.raises(TypeError, match="list"):
        gc.check_grad(y, x, {x: np.zeros(3)})


def test_check_grad_refuses_float32():
    g = gc.Graph()
    x = g.input("x", (3,), np.float32)
    with pytest.raises(TypeError, match="float64"):
        gc.check_grad(gc.sum(gc.exp(x)), [x], {x: np.zeros(3)})


def test_check_grad_second_order_blames_the_right_x(monkeypatch):
    """A wrong square vjp only shows in the second-order graph of tanh; only W goes through
    tanh, so only W is named."""
    monkeypatch.setitem(registry._REGISTRY, "square", dataclasses.replace(
        registry.get_op("square"), vjp=lambda g, out, x, at, need: [g * (2.05 * x[0])]))
    g = gc.Graph()
    a = g.input("a", (3,))
    W = g.param("W", np.array([0.1, 0.2, -0.3]))
    y = gc.sum(gc.tanh(W * 2.0) + gc.exp(a) * 0.5)
    with pytest.raises(gc.GradCheckError, match="second order.*param 'W'") as info:
        gc.check_grad(y, [a, W], {a: np.array([0.5, -1.0, 2.0])})
    assert "input 'a'" not in str(info.value)
