"""The seed's invariance: for a sum loss, the gradient over a batch is the sum of the
per-example gradients. One compiled function is called at B = N and N times at B = 1; the
parameter gradients (summed over the batch by sum_to) must agree with the sum of the
single-example ones, and the input gradient row by row."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

N = 5


def _check_invariance(f, xv, extra=()):
    """f(x, *extra) -> [loss, g_x, g_params...]; batch vs. the sum over single examples."""
    batch = f(xv, *extra)
    singles = [f(xv[i:i + 1], *(e[i:i + 1] for e in extra)) for i in range(len(xv))]
    np.testing.assert_allclose(batch[0], sum(s[0] for s in singles), rtol=1e-12)
    np.testing.assert_allclose(batch[1], np.concatenate([s[1] for s in singles]), rtol=1e-12,
                               atol=1e-15)
    for k in range(2, len(batch)):
        total = sum(s[k] for s in singles)
        assert batch[k].shape == total.shape == singles[0][k].shape
        np.testing.assert_allclose(batch[k], total, rtol=1e-11, atol=1e-14)
        # the batch matters: a gradient that ignored all but one example would differ
        assert not np.allclose(batch[k], singles[0][k])


def test_row_layout_x_W_plus_b():
    """x (B, n) @ W (n, m) + b (m,): gW and gb sum over the batch."""
    rng = np.random.default_rng(0)
    g = gc.Graph("row")
    x = g.input("x", ("B", 3))
    W1 = g.param("W1", rng.standard_normal((3, 4)))
    b1 = g.param("b1", rng.standard_normal(4))
    W2 = g.param("W2", rng.standard_normal((4, 2)))
    b2 = g.param("b2", rng.standard_normal(2))
    h = gc.tanh(x @ W1 + b1)
    loss = gc.sum((h @ W2 + b2) ** 2)
    params = [W1, b1, W2, b2]
    f = gc.compile([loss, *gc.grad(loss, [x, *params])], inputs=[x])
    _check_invariance(f, rng.standard_normal((N, 3)))


def test_column_layout_W_x_plus_b():
    """The seed's layout: W (m, n) @ x (B, n, 1) + b (m, 1); gW and gb sum over B."""
    rng = np.random.default_rng(1)
    g = gc.Graph("column")
    x = g.input("x", ("B", 3, 1))
    W1 = g.param("W1", rng.standard_normal((4, 3)))
    b1 = g.param("b1", rng.standard_normal((4, 1)))
    W2 = g.param("W2", rng.standard_normal((2, 4)))
    b2 = g.param("b2", rng.standard_normal((2, 1)))
    h = gc.sigmoid(W1 @ x + b1)
    loss = gc.sum(gc.square(W2 @ h + b2))
    params = [W1, b1, W2, b2]
    f = gc.compile([loss, *gc.grad(loss, [x, *params])], inputs=[x])
    _check_invariance(f, rng.standard_normal((N, 3, 1)))


def test_sum_cross_entropy_with_labels():
    """Summed cross-entropy over integer labels: also a per-example sum."""
    rng = np.random.default_rng(2)
    g = gc.Graph("ce")
    x = g.input("x", ("B", 3))
    lab = g.input("lab", ("B",), np.int64)
    W = g.param("W", rng.standard_normal((3, 4)))
    b = g.param("b", rng.standard_normal(4))
    logp = gc.log_softmax(x @ W + b, axis=-1)
    loss = -gc.sum(gc.take_along_axis(logp, lab[:, None], axis=1))
    f = gc.compile([loss, *gc.grad(loss, [x, W, b])], inputs=[x, lab])
    _check_invariance(f, rng.standard_normal((N, 3)), (rng.integers(0, 4, N),))


def test_mean_loss_is_not_a_sum_and_the_check_can_tell():
    """Sanity of the check itself: with a mean loss, the batch gradient is the average."""
    rng = np.random.default_rng(3)
    g = gc.Graph("mean")
    x = g.input("x", ("B", 3))
    W = g.param("W", rng.standard_normal((3, 2)))
    loss = gc.mean(gc.tanh(x @ W))
    f = gc.compile([loss, *gc.grad(loss, [x, W])], inputs=[x])
    xv = rng.standard_normal((N, 3))
    with pytest.raises(AssertionError):
        _check_invariance(f, xv)
    singles = [f(xv[i:i + 1])[2] for i in range(N)]
    np.testing.assert_allclose(f(xv)[2], sum(singles) / N, rtol=1e-12)
