"""Call-time binding: ShapeError naming the input and the dim (wrong rank, a fixed dim that
differs, a symbol bound to two sizes); TypeError for a bad dtype. Compiled and reference paths
raise the same way."""

import numpy as np
import pytest

import graphc as gc


def _graph():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = g.input("y", ("B", "T"))
    sq = g.input("sq", ("T", "T"))
    out = (x.sum(axis=1, keepdims=True) + y) @ sq
    return g, [x, y, sq], out


GOOD = [np.ones((2, 3)), np.ones((2, 4)), np.ones((4, 4))]


def _both(out, xs, arrays):
    """Run the compiled function and the reference interpreter; both must raise the same."""
    f = gc.compile(out, inputs=xs)
    errs = []
    for run in (lambda: f(*arrays), lambda: gc.evaluate(out, dict(zip(xs, arrays, strict=True)))):
        with pytest.raises((gc.ShapeError, TypeError)) as ei:
            run()
        errs.append(ei)
    assert errs[0].type is errs[1].type
    return errs


def test_good_call():
    g, xs, out = _graph()
    f = gc.compile(out, inputs=xs)
    np.testing.assert_allclose(f(*GOOD), gc.evaluate(out, dict(zip(xs, GOOD, strict=True))))
    assert f(*GOOD).shape == (2, 4)


@pytest.mark.parametrize("k, bad, words", [
    (0, np.ones((2, 3, 1)), ["'x'", "rank 2", "(B, 3)", "(2, 3, 1)"]),
    (0, np.ones(3), ["'x'", "rank"]),
    (0, np.ones((2, 4)), ["'x'", "axis 1", "3", "4"]),
    (1, np.ones((5, 4)), ["'y'", "B", "5", "2"]),  # B bound to 2 by x
    (2, np.ones((4, 5)), ["'sq'", "T", "5", "4"]),  # T bound twice within sq / by y
    (2, np.ones((3, 3)), ["'sq'", "T", "3", "4"]),
    (1, np.float64(1.0), ["'y'", "rank"]),
])
def test_shape_errors_name_the_input_and_the_dim(k, bad, words):
    g, xs, out = _graph()
    arrays = list(GOOD)
    arrays[k] = bad
    for ei in _both(out, xs, arrays):
        assert ei.type is gc.ShapeError
        msg = str(ei.value)
        for w in words:
            assert w in msg, (w, msg)


def test_a_symbol_repeated_in_one_input():
    g = gc.Graph()
    m = g.input("m", ("N", "N"))
    f = gc.compile(m * 2.0)
    assert f(np.eye(3)).shape == (3, 3)
    for run in (lambda a: f(a), lambda a: gc.evaluate(m * 2.0, {m: a})):
        with pytest.raises(gc.ShapeError, match="'m'") as ei:
            run(np.ones((3, 2)))
        assert "N" in str(ei.value)


@pytest.mark.parametrize("bad, words", [
    (np.array([["a", "b", "c"]] * 2), ["'x'", "<U1"]),
    (np.ones((2, 3), dtype=complex), ["'x'", "complex"]),
    (np.empty((2, 3), dtype=object), ["'x'", "object"]),
    ([[1, 2], [3]], ["'x'"]),
])
def test_unusable_arrays_are_type_errors_naming_the_input(bad, words):
    g, xs, out = _graph()
    arrays = [bad] + GOOD[1:]
    for ei in _both(out, xs, arrays):
        assert ei.type is TypeError
        for w in words:
            assert w in str(ei.value), (w, str(ei.value))


def test_int_input_refuses_floats_and_float_input_takes_ints():
    g = gc.Graph()
    i = g.input("i", ("B",), dtype=np.int64)
    x = g.input("x", ("B",))
    f = gc.compile(x * i, inputs=[x, i])
    np.testing.assert_array_equal(f(np.array([1, 2]), np.array([3, 4])), [3.0, 8.0])
    np.testing.assert_array_equal(f([1.5, 2.0], [True, False]), [1.5, 0.0])
    with pytest.raises(TypeError, match="'i'"):
        f(np.ones(2), np.ones(2))


def test_inputs_are_not_modified_by_a_call():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = g.input("y", ("B", 3), dtype=np.float32)
    f = gc.compile(gc.relu(x) * 2.0 + gc.exp(y), inputs=[x, y])
    xv = np.linspace(-1, 1, 6).reshape(2, 3)
    yv = np.linspace(-1, 1, 6).reshape(2, 3)  # float64 fed to a float32 input
    x0, y0 = xv.copy(), yv.copy()
    f(xv, yv)
    np.testing.assert_array_equal(xv, x0)
    np.testing.assert_array_equal(yv, y0)
    assert yv.dtype == np.float64
