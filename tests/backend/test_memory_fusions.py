"""The memory plan's call-saving fusions: sum of squares as one dot (up to
kernels.SUM_OF_SQUARES_DOT_MAX elements, where its rounding matches the pairwise sum's), 0-d
arithmetic as Python operators, the gradient arena (one multiply for every ``lr * g``), no
in-place ops on values that are one element at batch size 1, and broadcast operands reshaped
for numpy's fast loop. Each is checked for being used (the generated source) and for computing
what gc.evaluate computes."""

import math
import re

import numpy as np
import pytest

import graphc as gc
from graphc.ops.kernels import SUM_OF_SQUARES_DOT_MAX


def sgd_mlp(sizes=(1, 8, 8, 1), lr=0.05, seed=0):
    g = gc.Graph("m")
    x = g.input("x", ("B", sizes[0]))
    y = g.input("y", ("B", sizes[-1]))
    mlp = gc.nn.MLP(list(sizes))
    loss = gc.nn.mse_loss(mlp(x), y)
    opt = gc.optim.SGD(lr)
    params = mlp.parameters()
    rng = np.random.default_rng(seed)
    for p in params:
        g.params[p.name][...] = rng.standard_normal(p.shape)
    return g, x, y, loss, params, opt


def expected_step(g, x, y, loss, params, lr, X, Y):
    """loss and the new params, from gc.evaluate (the reference interpreter)."""
    L, *grads = gc.evaluate([loss, *gc.grad(loss, params)], {x: X, y: Y})
    return L, [g.params[p.name] - lr * gr for p, gr in zip(params, grads)]


@pytest.mark.parametrize("B", [1, 3, 32])
def test_sgd_step_with_every_fusion_matches_evaluate(B):
    g, x, y, loss, params, opt = sgd_mlp()
    f = gc.compile(loss, [x, y], updates=opt.updates(loss, params))
    src = f.source
    assert "arena_0" in src and src.count("xp.multiply(p_") == 1  # one lr * g for all
    assert "fused into" in src and "xp.dot(flat_b" in src  # mean((h - y)**2) as a dot
    assert " / numel" in src  # the loss: sum / count on numpy scalars
    rng = np.random.default_rng(B)
    for _ in range(3):
        X, Y = rng.standard_normal((B, 1)), rng.standard_normal((B, 1))
        want_L, want_p = expected_step(g, x, y, loss, params, 0.05, X, Y)
        got_L = f(X, Y)
        assert isinstance(got_L, np.ndarray) and got_L.shape == ()
        # dot sums in another order than add.reduce: equal to rounding, not bit for bit
        np.testing.assert_allclose(got_L, want_L, rtol=1e-13)
        for p, w in zip(params, want_p):
            np.testing.assert_allclose(g.params[p.name], w, rtol=1e-12, atol=1e-15)


def test_arena_reads_the_learning_rate_at_each_call():
    g, x, y, loss, params, opt = sgd_mlp()
    f = gc.compile(loss, [x, y], updates=opt.updates(loss, params))
    X, Y = np.ones((4, 1)), np.zeros((4, 1))
    for lr in (0.05, 0.0, 0.2):
        opt.lr = lr
        _, want = expected_step(g, x, y, loss, params, lr, X, Y)
        f(X, Y)
        for p, w in zip(params, want):
            np.testing.assert_allclose(g.params[p.name], w, rtol=1e-12, atol=1e-15)


def test_arena_step_is_atomic_and_params_stay_the_users_arrays():
    g, x, y, loss, params, opt = sgd_mlp()
    f = gc.compile(loss, [x, y], updates=opt.updates(loss, params))
    held = {k: v for k, v in g.params.items()}
    before = {k: v.copy() for k, v in g.params.items()}
    with pytest.raises(gc.ShapeError):
        f(np.ones((4, 1)), np.ones((5, 1)))
    for k, v in g.params.items():
        assert v is held[k]
        np.testing.assert_array_equal(v, before[k])
    f(np.ones((4, 1)), np.ones((4, 1)))
    assert all(g.params[k] is held[k] for k in held)  # updated in place, never replaced
    assert any(not np.array_equal(g.params[k], before[k]) for k in held)


def test_rebinding_a_param_between_calls_is_seen():
    g, x, y, loss, params, opt = sgd_mlp()
    f = gc.compile(loss, [x, y], updates=opt.updates(loss, params))
    X, Y = np.ones((2, 1)), np.zeros((2, 1))
    f(X, Y)
    name = params[0].name
    g.params[name] = np.full(params[0].shape, 0.25)  # a new array under the same name
    _, want = expected_step(g, x, y, loss, params, 0.05, X, Y)
    f(X, Y)
    np.testing.assert_allclose(g.params[name], want[0], rtol=1e-12)


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "vector"])
def test_sum_of_squares_of_an_input_any_layout(layout):
    g = gc.Graph("s")
    if layout == "vector":
        x = g.input("x", ("B",))
        X = np.random.default_rng(0).standard_normal(7)
    else:
        x = g.input("x", ("B", 3))
        X = np.random.default_rng(0).standard_normal((7, 3) if layout == "contiguous"
                                                    else (3, 7)).copy()
        if layout == "transposed":
            X = X.T  # not contiguous: flattened with a copy
    out = gc.sum(gc.square(x)) + gc.sum(x * x)
    f = gc.compile(out, [x])
    assert "xp.square(" not in f.source and "xp.multiply(" not in f.source
    assert len(f.plan.lowering.chosen("one dot")) == 2
    assert "sum_of_squares" in f.source or "xp.dot(in_0, in_0)" in f.source
    np.testing.assert_allclose(f(X), gc.evaluate(out, {x: X}), rtol=1e-13)
    np.testing.assert_allclose(f(X), 2 * np.sum(X ** 2), rtol=1e-13)


def test_sum_of_squares_is_not_fused_when_the_square_is_needed_elsewhere():
    g = gc.Graph("s")
    x = g.input("x", ("B", 3))
    sq = gc.square(gc.tanh(x))
    f = gc.compile([gc.sum(sq), sq * 2.0], [x])
    assert not f.plan.lowering.chosen("one dot") and "xp.square(" in f.source
    X = np.random.default_rng(1).standard_normal((4, 3))
    for a, b in zip(f(X), gc.evaluate([gc.sum(sq), sq * 2.0], {x: X})):
        np.testing.assert_allclose(a, b, rtol=1e-13)


@pytest.mark.parametrize("n,fused", [(SUM_OF_SQUARES_DOT_MAX, True),
                                     (SUM_OF_SQUARES_DOT_MAX + 1, False)])
def test_sum_of_squares_of_a_static_size_is_one_dot_only_up_to_the_limit(n, fused):
    g = gc.Graph("s")
    x = g.input("x", (n,), np.float32)
    f = gc.compile(gc.sum(gc.square(x)), [x])
    assert bool(f.plan.lowering.chosen("one dot")) == fused
    assert ("xp.dot(in_0, in_0)" in f.source) == fused and ("xp.square(" in f.source) != fused


@pytest.mark.parametrize("computed", [False, True])
def test_sum_of_squares_of_a_symbolic_size_checks_the_size_at_run_time(computed):
    """Up to the limit one dot; above it numpy's pairwise sum, bit for bit. The check is
    inline for a planned buffer's flat view, in rt.sum_of_squares for an input."""
    g = gc.Graph("s")
    x = g.input("x", ("B", 3), np.float32)
    factor = np.float32(2.0 if computed else 1.0)  # exact, so the bits compare below
    d = x * factor if computed else x
    f = gc.compile(gc.sum(gc.square(d)), [x])
    assert f.plan.lowering.chosen("one dot")
    inline = (rf"\(xp\.dot\((flat_b\d+), \1\) if \1\.size <= {SUM_OF_SQUARES_DOT_MAX} "
              r"else rt\.sum_of_squares\(\1\)\)")
    assert re.search(inline, f.source) if computed else "rt.sum_of_squares(in_0)" in f.source
    rng = np.random.default_rng(2)
    small, large = (rng.standard_normal((B, 3)).astype(np.float32) for B in (5, 2000))
    np.testing.assert_allclose(f(small), np.sum(np.square(small * factor)), rtol=1e-6)
    assert f(large) == np.add.reduce(np.square(large * factor).reshape(-1))


@pytest.fixture(scope="module")
def ten_million_float32():
    """pred, target (float32, 1e7 elements) and the exact mean of (pred - target)^2: the
    float32 differences, squared exactly in float64, summed exactly by math.fsum."""
    rng = np.random.default_rng(3)
    p = rng.standard_normal(10**7).astype(np.float32)
    t = (rng.standard_normal(10**7) * 0.5 + 1).astype(np.float32)
    d = (p - t).astype(np.float64)
    return p, t, math.fsum((d * d).tolist()) / d.size


@pytest.mark.parametrize("shape", [("N",), (10**7,)])
def test_mse_loss_of_ten_million_float32_elements_is_accurate(shape, ten_million_float32):
    """One BLAS dot over 1e7 float32 elements was off by ~1e-4 relative; the pairwise sum
    ~1e-8."""
    p, t, exact = ten_million_float32
    g = gc.Graph("mse")
    pred, target = g.input("pred", shape, np.float32), g.input("target", shape, np.float32)
    got = gc.compile(gc.nn.mse_loss(pred, target), [pred, target])(p, t)
    assert got.dtype == np.float32
    assert abs(float(got) - exact) / exact < 1e-6


def test_sum_of_squares_keeps_nan_and_inf():
    g = gc.Graph("s")
    x = g.input("x", ("B", 2))
    out = gc.mean(gc.square(x - 1.0))
    f = gc.compile(out, [x])
    with np.errstate(all="ignore"):
        assert np.isnan(f(np.array([[np.nan, 0.0]])))
        assert np.isposinf(f(np.array([[np.inf, 0.0]])))
        assert f(np.zeros((0, 2))).shape == () and np.isnan(f(np.zeros((0, 2))))


def test_values_of_one_element_at_batch_1_are_not_computed_in_place():
    g, x, y, loss, params, opt = sgd_mlp()
    f = gc.compile(loss, [x, y], updates=opt.updates(loss, params))
    for i in f.plan.inplace:
        n = f.graph.node(i)
        thin = all(isinstance(d, (str, gc.Dim)) or d == 1 for d in n.shape)
        in_arena = any(i in members for *_, members in f.plan.arenas)
        assert not thin or in_arena, n


@pytest.mark.parametrize("B", [1, 4])
def test_broadcast_operands_reshaped_for_the_fast_loop(B):
    g = gc.Graph("b")
    x = g.input("x", ("B", 5))
    z = g.input("z", ("B", 1))
    b = g.param("b", np.arange(5.0))
    c = g.param("c", np.array([2.0]))
    s = g.param("s", np.array([[3.0]]))
    h = gc.tanh(x) + b  # (B, 5) + (5,): b[None]
    k = gc.tanh(z) * c - s  # (B, 1) * (1,), - (1, 1): squeezed to 0-d
    outs = [h * 1.5, k * 1.5]
    f = gc.compile(outs, [x, z])
    assert "p_2[None]" in f.source and ".squeeze()" in f.source
    rng = np.random.default_rng(B)
    X, Z = rng.standard_normal((B, 5)), rng.standard_normal((B, 1))
    for got, want in zip(f(X, Z), gc.evaluate(outs, {x: X, z: Z})):
        np.testing.assert_array_equal(got, want)


def test_float32_step_keeps_float32():
    g = gc.Graph("f32")
    x = g.input("x", ("B", 2), np.float32)
    w = g.param("w", np.ones((2, 3), np.float32))
    b = g.param("b", np.zeros(3, np.float32))
    loss = gc.mean(gc.square(x @ w + b))
    gw, gb = gc.grad(loss, [w, b])
    f = gc.compile(loss, [x], updates={w: w - 0.1 * gw, b: b - 0.1 * gb})
    X = np.arange(8, dtype=np.float32).reshape(4, 2)
    want_L, want_w, want_b = gc.evaluate([loss, w - 0.1 * gw, b - 0.1 * gb], {x: X})
    L = f(X)
    assert L.dtype == np.float32 and g.params["w"].dtype == np.float32
    np.testing.assert_allclose(L, want_L, rtol=1e-6)
    np.testing.assert_allclose(g.params["w"], want_w, rtol=1e-6)
    np.testing.assert_allclose(g.params["b"], want_b, rtol=1e-6, atol=1e-7)
