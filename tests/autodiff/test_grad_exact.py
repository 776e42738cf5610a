"""Exact gradients where finite differences cannot speak: ties of max / maximum / minimum
(the gradient is split evenly among the tied entries), kinks of relu / abs, power at a zero
exponent (d(x**0)/dx is 0, also at x == 0; torch, where installed, as the oracle), and
numerical stability of softmax / log_softmax / logsumexp at large inputs."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def grads(y, xs, feed, compiled=True):
    """The gradients by the reference evaluator, checked equal to the compiled function's."""
    gs = gc.grad(y, xs)
    ref = gc.evaluate(gs, feed)
    if compiled:
        inputs = [t for t in feed]
        out = gc.compile(gs, inputs=inputs)(**{t.name: v for t, v in feed.items()})
        for a, b in zip(out, ref):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=0)
    return ref


# ------------------------------------------------------------------------------------- max


def test_max_ties_split_evenly_along_an_axis():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    w = g.input("w", ("B",))
    y = gc.sum(gc.max(x, axis=1) * w)
    xv = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, -1.0, 5.0], [-4.0, -4.0, -7.0]])
    wv = np.array([1.0, 3.0, 2.0, -2.0])
    (gx,) = grads(y, [x], {x: xv, w: wv})
    np.testing.assert_array_equal(gx, [[0, 0.5, 0.5], [1.0, 1.0, 1.0], [0, 0, 2.0],
                                       [-1.0, -1.0, 0]])


def test_max_ties_over_all_axes_and_keepdims():
    g = gc.Graph()
    x = g.input("x", (2, 3))
    xv = np.array([[1.0, 5.0, 0.0], [5.0, 5.0, 2.0]])
    (gx,) = grads(gc.max(x) * 3.0, [x], {x: xv})
    np.testing.assert_array_equal(gx, [[0, 1.0, 0], [1.0, 1.0, 0]])
    (gk,) = grads(gc.sum(gc.max(x, axis=0, keepdims=True) ** 2), [x], {x: xv})
    # column 0: max 5 once -> 2*5; column 1: tie of 5s -> 10 split; column 2: 2 -> 4
    np.testing.assert_array_equal(gk, [[0, 5.0, 0], [10.0, 5.0, 4.0]])


def test_max_tie_gradient_sums_to_the_untied_gradient():
    """Splitting keeps the total: sum of shares is 1 per reduced slice, for any tie count."""
    g = gc.Graph()
    x = g.input("x", ("B", 4, 5))
    y = gc.sum(gc.max(x, axis=(1, 2)))
    xv = np.random.default_rng(0).integers(0, 3, (6, 4, 5)).astype(float)  # many ties
    (gx,) = grads(y, [x], {x: xv})
    np.testing.assert_allclose(gx.sum(axis=(1, 2)), np.ones(6), rtol=1e-14)
    hit = xv == xv.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(gx, hit / hit.sum(axis=(1, 2), keepdims=True), rtol=1e-15)


# ------------------------------------------------------------------------ maximum, minimum


@pytest.mark.parametrize("fn,a_wins", [(gc.maximum, [0.5, 1.0, 0.5, 0.0]),
                                       (gc.minimum, [0.5, 0.0, 0.5, 1.0])])
def test_maximum_minimum_ties_split_evenly(fn, a_wins):
    g = gc.Graph()
    a, b = g.input("a", (4,)), g.input("b", (4,))
    av, bv = np.array([1.0, 2.0, 3.0, -1.0]), np.array([1.0, 0.0, 3.0, 4.0])
    ga, gb = grads(gc.sum(fn(a, b) * 2.0), [a, b], {a: av, b: bv})
    np.testing.assert_array_equal(ga, 2 * np.array(a_wins))
    np.testing.assert_array_equal(gb, 2 * (1 - np.array(a_wins)))


def test_maximum_ties_with_a_broadcast_operand():
    """maximum(x, s): s gets 1 per entry it wins and 1/2 per tie, summed over the broadcast."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    s = g.param("s", 1.0)
    xv = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, -3.0]])
    gx, gs = grads(gc.sum(gc.maximum(x, s)), [x, s], {x: xv})
    np.testing.assert_array_equal(gx, [[0, 0.5, 1.0], [0.5, 0.5, 0]])
    assert gs == 2 * 1.0 + 3 * 0.5


@pytest.mark.parametrize("fn", [gc.maximum, gc.minimum])
def test_maximum_of_x_with_itself_has_gradient_one(fn):
    g = gc.Graph()
    x = g.input("x", (3,))
    (gx,) = grads(gc.sum(fn(x, x)), [x], {x: np.array([-1.0, 0.0, 2.0])})
    np.testing.assert_array_equal(gx, np.ones(3))


def test_relu_and_abs_have_zero_gradient_at_zero():
    g = gc.Graph()
    x = g.input("x", (3,))
    xv = np.array([-1.0, 0.0, 2.0])
    (gr,) = grads(gc.sum(gc.relu(x)), [x], {x: xv})
    (ga,) = grads(gc.sum(gc.abs(x)), [x], {x: xv})
    np.testing.assert_array_equal(gr, [0, 0, 1.0])
    np.testing.assert_array_equal(ga, [-1.0, 0, 1.0])


# ------------------------------------------------------------------ power, zero exponent
# d(x**0)/dx was NaN at x == 0 (0 * 0**-1 = 0 * inf); it is 0, as in torch.


def test_polynomial_features_have_finite_gradients_at_zero():
    torch = pytest.importorskip("torch")
    g = gc.Graph()
    x = g.input("x", ("B",))
    c = g.param("c", np.array([0.5, -1.0, 2.0, 0.25]))
    y = gc.sum(sum(c[k] * x ** k for k in range(4)))
    X = np.array([0.0, -1.5, 2.0])
    gx, gc_ = gc.grad(y, [x, c])
    got = gc.compile([gx, gc_])(X)
    tx = torch.tensor(X, requires_grad=True)
    tc = torch.tensor(g.params["c"], requires_grad=True)
    sum(tc[k] * tx ** k for k in range(4)).sum().backward()
    np.testing.assert_allclose(got[0], tx.grad.numpy())
    np.testing.assert_allclose(got[1], tc.grad.numpy())
    gc.check_grad(y, [x, c], {x: X})  # second order too


@pytest.mark.parametrize("exponent", [0, 0.0])
def test_gradient_of_power_zero_is_zero_everywhere(exponent):
    g = gc.Graph()
    x = g.input("x", (3,))
    (gx,) = gc.grad(gc.sum(x ** exponent), [x])
    np.testing.assert_array_equal(gc.evaluate(gx, {x: np.array([0.0, -2.0, 3.0])}), 0.0)


def test_gradient_with_a_tensor_exponent_that_is_zero_in_places():
    torch = pytest.importorskip("torch")
    g = gc.Graph()
    x, e = g.input("x", (4,)), g.input("e", (4,))
    X, E = np.array([0.0, 0.0, 2.0, 1.5]), np.array([0.0, 2.0, 0.0, 3.0])
    (gx,) = gc.grad(gc.sum(x ** e), [x])
    tx = torch.tensor(X, requires_grad=True)
    (tx ** torch.tensor(E)).sum().backward()
    np.testing.assert_allclose(gc.compile(gx)(X, E), tx.grad.numpy())


def test_a_nonzero_constant_exponent_adds_no_guard_nodes():
    # the backward half of x ** 2 stays as drawn before: no equal/where for an exponent that
    # cannot be 0
    g = gc.Graph()
    x = g.input("x", (3,))
    y = gc.sum(x ** 2)
    n = len(g)
    gc.grad(y, [x])
    assert not {"equal", "where"} & {node.op for node in g.nodes[n:]}


# ------------------------------------------------------------------------------ stability

LARGE = np.array([[1000.0, 1001.0, 999.0, 1000.5],
                  [-1000.0, -1000.0, -999.0, -1002.0],
                  [1000.0, -1000.0, 0.0, 1000.0]])


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
def test_stable_at_large_inputs(name):
    """Values and gradients (first and second order) are finite at |x| ~ 1000, and equal to
    those at the max-shifted input (softmax is shift invariant, logsumexp shifts by it)."""
    fn = getattr(gc, name)
    shift = LARGE.max(axis=1, keepdims=True)
    out = {}
    for label, xv in (("large", LARGE), ("shifted", LARGE - shift)):
        g = gc.Graph()
        x = g.input("x", ("B", 4))
        w = g.param("w", np.array([0.3, -1.0, 2.0, 0.7]))
        y = fn(x, axis=-1) if name != "logsumexp" else fn(x, axis=-1, keepdims=True)
        loss = gc.sum(y * w) if name != "logsumexp" else gc.sum(y * y)
        (gx,) = gc.grad(loss, [x])
        (hx,) = gc.grad(gc.sum(gx * gx), [x])
        vals = gc.evaluate([y, gx, hx], {x: xv})
        compiled = gc.compile([y, gx, hx], inputs=[x])(xv)
        for v, c in zip(vals, compiled):
            assert np.all(np.isfinite(v)) and np.all(np.isfinite(c))
            np.testing.assert_allclose(c, v, rtol=1e-12, atol=1e-300)
        out[label] = vals
    y_large, y_shift = out["large"][0], out["shifted"][0]
    if name == "logsumexp":
        np.testing.assert_allclose(y_large, y_shift + shift, rtol=1e-15)
        # y*y = lse^2 is not shift invariant: its gradient is 2 lse softmax
        np.testing.assert_allclose(out["large"][1] / (2 * y_large),
                                   out["shifted"][1] / (2 * y_shift), rtol=1e-12)
    else:
        # |x| ~ 1000 carries an absolute rounding of ~1e-13 into x - lse
        np.testing.assert_allclose(y_large, y_shift, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out["large"][1], out["shifted"][1], rtol=1e-12, atol=1e-300)
        np.testing.assert_allclose(out["large"][2], out["shifted"][2], rtol=1e-12, atol=1e-300)


def test_logsumexp_value_and_gradient_at_1000():
    g = gc.Graph()
    x = g.input("x", (2,))
    y = gc.logsumexp(x)
    (gx,) = gc.grad(y, [x])
    yv, gv = gc.evaluate([y, gx], {x: np.array([1000.0, 1000.0])})
    assert yv == pytest.approx(1000 + np.log(2), rel=1e-15)
    np.testing.assert_allclose(gv, [0.5, 0.5], rtol=1e-12)  # exp(x - lse): ulp(1000) ~ 1e-13


def test_cross_entropy_with_huge_logits_has_finite_gradient():
    g = gc.Graph()
    z = g.input("z", ("B", 3))
    lab = g.input("lab", ("B",), np.int64)
    loss = -gc.mean(gc.take_along_axis(gc.log_softmax(z), lab[:, None], axis=1))
    (gz,) = gc.grad(loss, [z])
    zv = np.array([[1e4, -1e4, 0.0], [0.0, 5e3, 5e3]])
    lv, gv = gc.evaluate([loss, gz], {z: zv, lab: np.array([1, 2])})
    assert np.isfinite(lv) and lv == pytest.approx(2e4 / 2 + np.log(2) / 2, rel=1e-12)
    np.testing.assert_allclose(gv, [[0.5, -0.5, 0], [0, 0.25, -0.25]], atol=1e-15)


# ------------------------------------------------------------------------------ indexing


def test_take_along_axis_repeated_indices_add_up():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    idx = g.input("idx", ("B", 4), np.int64)
    w = np.array([1.0, 10.0, 100.0, 1000.0])
    y = gc.sum(gc.take_along_axis(x, idx, axis=1) * w)
    iv = np.array([[0, 0, 2, 0], [1, 1, 1, 1]])
    (gx,) = grads(y, [x], {x: np.zeros((2, 3)), idx: iv})
    np.testing.assert_array_equal(gx, [[1011.0, 0, 100.0], [0, 1111.0, 0]])


def test_take_along_axis_broadcast_operand_collects_every_row():
    g = gc.Graph()
    x = g.param("x", np.zeros((1, 3)))  # broadcast against (2, 2) indices
    idx = g.input("idx", (2, 2), np.int64)
    y = gc.sum(gc.take_along_axis(x, idx, axis=1) * np.array([[1.0, 2.0], [3.0, 4.0]]))
    (gx,) = grads(y, [x], {idx: np.array([[2, 0], [2, 2]])})
    np.testing.assert_array_equal(gx, [[2.0, 0, 8.0]])


def test_getitem_gradient_scatters_into_zeros():
    g = gc.Graph()
    x = g.input("x", (3, 4))
    y = gc.sum(x[::-2, 1] * np.array([1.0, 2.0])) + gc.sum(x[1:, None, -1])
    (gx,) = grads(y, [x], {x: np.zeros((3, 4))})
    want = np.zeros((3, 4))
    want[2, 1], want[0, 1] = 1.0, 2.0
    want[1:, -1] += 1.0
    np.testing.assert_array_equal(gx, want)
