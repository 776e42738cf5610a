"""gc.compile(..., check_finite=True): stop at the first NaN/inf and name the node's source."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import graphc as gc


def _model():
    g = gc.Graph("finite")
    x = g.input("x", ("B", 2))
    W = g.param("W", np.array([[1.0], [2.0]]))
    h = gc.log(x @ W)  # line of the log: nan for a negative argument
    loss = gc.mean(h * h)
    return g, x, W, h, loss


def _line_of(text: str) -> int:
    import inspect

    src, start = inspect.getsourcelines(_model)
    return start + next(k for k, s in enumerate(src) if text in s)


def test_forward_nan_names_op_shape_and_user_line():
    g, x, W, h, loss = _model()
    f = gc.compile(loss, check_finite=True)
    assert f(np.ones((3, 2))) == pytest.approx(np.log(3.0) ** 2)
    with pytest.raises(gc.NonFiniteError) as info:
        f(np.array([[1.0, 1.0], [-5.0, 1.0]]))
    msg = str(info.value)
    assert "log node" in msg and "(B, 1)" in msg and "1 nan" in msg
    assert f"test_check_finite.py:{_line_of('gc.log(x @ W)')}" in msg


def test_gradient_node_names_the_forward_line_and_params_are_untouched():
    g, x, W, h, loss = _model()
    (gW,) = gc.grad(loss, [W])
    f = gc.compile(loss, updates={W: W - 0.1 * gW}, check_finite=True)
    before = g.params["W"].copy()
    # x @ W == 0 exactly: log gives -inf in the forward pass first
    with pytest.raises(gc.NonFiniteError, match="log node"):
        f(np.array([[2.0, -1.0]]))
    np.testing.assert_array_equal(g.params["W"], before)
    # a finite forward whose gradient is not: d sqrt(u)/du = 0.5 / sqrt(u) is inf at u = 0
    g2 = gc.Graph()
    x2 = g2.input("x", ("B",))
    V = g2.param("V", np.array([1.0]))
    y = gc.sum(gc.sqrt(x2 * V))
    (gV,) = gc.grad(y, [V])
    f2 = gc.compile([y, gV], check_finite=True)
    with pytest.raises(gc.NonFiniteError) as info:
        f2(np.array([0.0, 1.0]))
    msg = str(info.value)
    assert "in the gradient of sqrt built at" in msg and "test_check_finite.py" in msg


def test_nan_inputs_and_params_are_named():
    g, x, W, h, loss = _model()
    f = gc.compile(loss, check_finite=True)
    with pytest.raises(gc.NonFiniteError, match="input 'x'"):
        f(np.array([[np.nan, 1.0]]))
    g.params["W"][0, 0] = np.inf
    with pytest.raises(gc.NonFiniteError, match="param 'W'"):
        f(np.ones((1, 2)))


def test_check_finite_matches_the_plain_function_and_pickles():
    import pickle

    g, x, W, h, loss = _model()
    (gW,) = gc.grad(loss, [W])
    plain = gc.compile([loss, gW])
    checked = gc.compile([loss, gW], check_finite=True)
    xs = np.abs(np.random.default_rng(0).standard_normal((4, 2))) + 0.5
    for a, b in zip(plain(xs), checked(xs)):
        np.testing.assert_allclose(a, b, rtol=1e-14)
    again = pickle.loads(pickle.dumps(checked))
    assert "isfinite" in again.source and "isfinite" not in plain.source
    with pytest.raises(gc.NonFiniteError):
        again(-xs)


def test_a_rewritten_node_is_named_after_the_op_the_user_wrote():
    """gc.mean runs as sum / numel: the error said 'divide node %8', an op the user never
    wrote; it names the mean and its line."""
    g = gc.Graph("m")
    x = g.input("x", ("B", 3))
    m = gc.mean(x)  # the user's line
    line = inspect.currentframe().f_lineno - 1
    f = gc.compile(m, [x], check_finite=True)
    with np.errstate(all="ignore"), pytest.raises(gc.NonFiniteError) as e:
        f(np.zeros((0, 3)))  # an empty batch: 0 / 0
    msg = str(e.value)
    assert "divide node" in msg and "from mean" in msg and f"test_check_finite.py:{line}" in msg


@pytest.mark.parametrize("opt", [gc.optim.SGD(0.1), gc.optim.SGD(0.1, momentum=0.9),
                                 gc.optim.Adam(0.1)])
def test_a_finite_loss_with_an_infinite_gradient_commits_nothing(opt):
    """The guard checked only the loss: sqrt at 0 has a finite value and an infinite slope,
    and the step wrote inf into the param."""
    g = gc.Graph("s")
    x = g.input("x", ("B", 2))
    W = g.param("W", np.array([[0.0, 1.0], [1.0, 4.0]]))
    loss = gc.mean(x @ gc.sqrt(W))
    f = gc.compile(loss, [x], updates=opt.updates(loss, [W]), check_finite="outputs")
    before = {k: v.copy() for k, v in g.params.items()}
    with np.errstate(all="ignore"), pytest.raises(gc.NonFiniteError, match="inf|nan"):
        f(np.ones((3, 2)))
    for k, v in before.items():
        np.testing.assert_array_equal(g.params[k], v, err_msg=k)


def test_fit_reports_a_non_finite_gradient_under_a_finite_loss():
    g = gc.Graph("s")
    x = g.input("x", ("B", 2))
    y = g.input("y", ("B", 1))
    W = g.param("W", np.array([[0.0], [1.0]]))
    loss = gc.nn.mse_loss(x @ gc.sqrt(W), y)
    with np.errstate(all="ignore"), pytest.raises(gc.nn.NonFiniteLossError,
                                                  match="update is made of.*loss was finite"):
        gc.nn.fit(loss, gc.optim.SGD(0.1), {x: np.ones((4, 2)), y: np.ones((4, 1))},
                  epochs=1, progress=False)
    np.testing.assert_array_equal(g.params["W"], [[0.0], [1.0]])


@pytest.mark.parametrize("build", [
    lambda g, x: x + gc.log(g.constant(np.zeros(3))),  # folded to a constant -inf
    lambda g, x: x * (g.constant(0.0) * gc.log(g.constant(np.zeros(3)))),  # 0 * -inf: nan
    lambda g, x: x + gc.mean(gc.broadcast_to(g.constant(1.0), ("B", 3)) * 0.0, axis=0),
])
def test_check_finite_sees_folded_and_static_values(build):
    """log(constant 0), 0 * log(0) and the mean of a constant over an empty batch were never
    checked: they are folded at compile time or computed once per binding."""
    g = gc.Graph("c")
    x = g.input("x", ("B", 3))
    out = build(g, x)
    f = gc.compile(out, [x], check_finite=True)
    with np.errstate(all="ignore"), pytest.raises(gc.NonFiniteError):
        f(np.zeros((0, 3)))
