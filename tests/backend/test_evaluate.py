"""gc.evaluate: the reference interpreter's calling convention and errors."""

import numpy as np
import pytest

import graphc as gc


def _graph():
    g = gc.Graph("ev")
    x = g.input("x", ("B", 2))
    W = g.param("W", np.array([[1.0, 2.0], [3.0, 4.0]]))
    out = g.output("out", x @ W)
    return g, x, W, out


def test_single_and_list():
    g, x, W, out = _graph()
    xv = np.array([[1.0, 0.0]])
    r = gc.evaluate(out, {x: xv})
    assert isinstance(r, np.ndarray) and r.tolist() == [[1.0, 2.0]]
    rs = gc.evaluate([out, out * 2], {x: xv})
    assert isinstance(rs, list) and rs[1].tolist() == [[2.0, 4.0]]


def test_feed_by_name_and_param_override():
    g, x, W, out = _graph()
    xv = np.array([[0.0, 1.0]])
    assert gc.evaluate(out, {"x": xv}).tolist() == [[3.0, 4.0]]
    assert gc.evaluate(out, {"x": xv, "W": np.eye(2)}).tolist() == [[0.0, 1.0]]
    assert gc.evaluate(out, {x: xv, W: 2 * np.eye(2)}).tolist() == [[0.0, 2.0]]
    assert g.params["W"].tolist() == [[1.0, 2.0], [3.0, 4.0]]  # override is not stored


def test_results_belong_to_the_caller():
    g, x, W, out = _graph()
    r = gc.evaluate([W, W.T], {})
    r[0][...] = 0.0
    r[1][...] = 0.0
    assert g.params["W"].tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_feed_errors():
    g, x, W, out = _graph()
    with pytest.raises(TypeError, match="'x'"):
        gc.evaluate(out, {})
    with pytest.raises(TypeError, match="'nope'"):
        gc.evaluate(out, {"x": np.ones((1, 2)), "nope": 1})
    with pytest.raises(TypeError):
        gc.evaluate(out, {out: np.ones((1, 2))})  # not an input or param
    with pytest.raises(gc.ShapeError, match="'W'"):
        gc.evaluate(out, {"x": np.ones((1, 2)), "W": np.ones((3, 3))})
    with pytest.raises(TypeError):
        gc.evaluate(3.0, {})


def test_constants_only():
    g = gc.Graph()
    c = g.constant(np.arange(3.0))
    assert gc.evaluate(c * 2 + 1, {}).tolist() == [1.0, 3.0, 5.0]
    assert gc.evaluate((c * 2).sum()).shape == ()
