"""Review finding: d(x**0)/dx was NaN at x == 0 (0 * 0**-1 = 0 * inf); it is 0, as in torch."""

import numpy as np
import pytest
import torch

import graphc as gc


def test_polynomial_features_have_finite_gradients_at_zero():
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
