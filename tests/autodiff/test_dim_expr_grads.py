"""Gradients through shapes that are dim expressions: slices, concatenate and reshape on a
symbolic sequence axis, each checked by ``gc.check_grad`` (finite differences, float64) and
compiled, with the symbols bound to several values through one compiled Function."""

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

SIZES = [(1, 2), (3, 5), (2, 9)]  # (B, T)


def _grad_fn(y, wrt):
    """One compiled function of y and its gradients (every input fed)."""
    g = y.graph
    grads = gc.grad(y, wrt)
    return gc.compile([y, *grads], inputs=list(g.inputs.values())), grads


def _check_all(y, wrt, feeds):
    f, grads = _grad_fn(y, wrt)
    source = f.source
    for feed in feeds:
        gc.check_grad(y, wrt, feed)
        got = f(*feed.values())
        want = gc.evaluate([y, *grads], feed)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    assert f.source == source
    return f


def test_differences_along_T():
    g = gc.Graph()
    x = g.input("x", ("B", "T", 3))
    w = g.param("w", np.linspace(-1, 1, 3))
    d = x[:, 1:] - x[:, :-1]
    assert d.shape == ("B", "T - 1", 3) and x.shape[1] - 1 == d.shape[1]
    y = gc.sum(gc.tanh(d * w) ** 2)
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.standard_normal((b, t, 3))} for b, t in SIZES]
    f = _check_all(y, [x, w], feeds)
    X = feeds[1]["x"]
    D = X[:, 1:] - X[:, :-1]
    np.testing.assert_allclose(f(X)[0], np.sum(np.tanh(D * np.linspace(-1, 1, 3)) ** 2))


def test_strided_and_reversed_slices_with_dim_bounds():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    T = x.shape[1]
    parts = [x[:, ::2], x[:, 1::3], x[:, ::-2], x[:, T - 2:], x[:, 1:T - 1], x[:, -1:]]
    assert [p.shape[1] for p in parts] == ["(T + 1)//2", "(T + 1)//3", "(T + 1)//2", 2, "T - 2",
                                           1]
    y = sum(gc.sum(gc.tanh(p) ** 2 * (k + 1)) for k, p in enumerate(parts))
    rng = np.random.default_rng(1)
    _check_all(y, [x], [{"x": rng.standard_normal((b, t + 1))} for b, t in SIZES])


def test_concatenate_along_T_and_S():
    g = gc.Graph()
    a = g.input("a", ("B", "T", 2))
    b = g.input("b", ("B", "S", 2))
    w = g.param("w", np.array([0.5, -2.0]))
    z = gc.concatenate([a, b * w, a], axis=1)
    assert z.shape == ("B", "2*T + S", 2)
    y = gc.sum(gc.tanh(z) ** 3)
    rng = np.random.default_rng(2)
    feeds = [{"a": rng.standard_normal((bb, t, 2)), "b": rng.standard_normal((bb, s, 2))}
             for bb, t, s in ((1, 1, 3), (2, 5, 2), (3, 4, 7))]
    f = _check_all(y, [a, b, w], feeds)
    A, Bv = feeds[2]["a"], feeds[2]["b"]
    Z = np.concatenate([A, Bv * [0.5, -2.0], A], axis=1)
    np.testing.assert_allclose(f(A, Bv)[0], np.sum(np.tanh(Z) ** 3))


def test_reshape_merging_and_splitting_T_through_a_dense_layer():
    g = gc.Graph()
    x = g.input("x", ("B", "T", 4))
    W = g.param("W", np.random.default_rng(3).standard_normal((4, 3)) * 0.5)
    bias = g.param("b", np.array([0.1, -0.2, 0.3]))
    flat = gc.reshape(x, (-1, 4))
    assert flat.shape == ("B*T", 4)
    h = gc.tanh(flat @ W + bias)
    back = gc.reshape(h, (x.shape[0], x.shape[1], 3))
    assert back.shape == ("B", "T", 3)
    y = gc.sum(back[:, 1:] * back[:, :-1])
    rng = np.random.default_rng(4)
    _check_all(y, [x, W, bias], [{"x": rng.standard_normal((b, t, 4))} for b, t in SIZES])


def test_unbroadcast_along_an_expression_dim():
    """A (T - 1, 1) operand broadcast against (B, T - 1, 3) sums back over B and 3."""
    g = gc.Graph()
    x = g.input("x", ("B", "T", 3))
    s = g.input("s", ("T", 1))
    y = gc.sum(gc.tanh(x[:, 1:] * s[1:]))
    (gs,) = gc.grad(y, [s])
    assert gs.shape == ("T", 1)
    rng = np.random.default_rng(5)
    feeds = [{"x": rng.standard_normal((b, t, 3)), "s": rng.standard_normal((t, 1))}
             for b, t in SIZES]
    _check_all(y, [x, s], feeds)


def test_the_lint_sees_a_duplicated_expression_dim():
    g = gc.Graph()
    x = g.input("x", ("B", "T", 4))
    flat = gc.reshape(x, (-1, 4))
    pred = flat[:, :1]  # (B*T, 1)
    target = gc.reshape(x[:, :, 0], (-1,))  # (B*T,)
    with pytest.warns(gc.ShapeWarning, match=r"symbolic dim B\*T is in 2 axes.*\(B\*T\)\*\(B"):
        pred - target


def test_the_pass_verifier_finds_a_size_the_shape_rules_accept():
    """verify compares a pass's result with its input on random values, every symbol bound to
    one size: with a slice that needs T >= 5 it retries at a larger size instead of skipping,
    so a changed result is found."""
    from graphc.ir.nxgraph import needed
    from graphc.ir.program import Program
    from graphc.passes.pipeline import VerifyError, verify

    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    right = gc.sum(x[:, 5:] * 2.0)
    wrong = gc.sum(x[:, 5:] * 3.0)

    def prog(y):
        return Program(g, [x.id], [y.id], [], schedule=needed(g, [y.id]))

    verify(prog(right), before=prog(right))
    with pytest.raises(VerifyError, match="result 0 changed"):
        verify(prog(wrong), before=prog(right))
