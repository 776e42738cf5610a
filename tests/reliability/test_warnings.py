"""Run-time numpy warnings say which node raised them and where the user built it."""

from __future__ import annotations

import inspect
import linecache
import warnings

import numpy as np
import pytest

import graphc as gc

HERE = "test_warnings.py"


def _exp_model():
    g = gc.Graph("w")
    x = g.input("x", ("B",))
    y = gc.exp(x)  # the user's line
    return x, y, inspect.currentframe().f_lineno - 1


def test_a_warning_shows_the_nodes_op_shape_and_user_line():
    """It pointed at ``<graphc>:21``, a line nobody could read."""
    x, y, line = _exp_model()
    f = gc.compile(y)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f(np.array([1000.0]))
    (rec,) = [r for r in w if issubclass(r.category, RuntimeWarning)]
    shown = linecache.getline(rec.filename, rec.lineno)  # what Python prints under it
    assert "xp.exp(" in shown and "# exp (B,)" in shown and f"@ {HERE}:{line}" in shown
    warnings.formatwarning(rec.message, rec.category, rec.filename, rec.lineno)  # printable


def test_a_warning_made_an_error_names_the_node_and_keeps_its_type():
    x, y, line = _exp_model()
    f = gc.compile(y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match=rf"(?s)exp node %\d+ \(B,\).*{HERE}:{line}"):
            f(np.array([1000.0]))
    with np.errstate(over="raise"), pytest.raises(
            FloatingPointError, match=rf"(?s)exp node %\d+ \(B,\).*{HERE}:{line}"):
        f(np.array([1000.0]))


def test_a_narrowing_cast_that_does_not_fit_is_refused_naming_the_input():
    """1e300 became inf in a float32 input with a warning at graphc/ir/binding.py, and int64
    2**32 + 7 became 7 in an int32 input silently."""
    g = gc.Graph("w")
    x = g.input("x", ("B",), np.float32)
    i = g.input("i", ("B",), np.int32)
    f = gc.compile([x * 2.0, i + 1], [x, i])
    ok = f(np.array([1.5, 1e30]), np.array([3, -4], dtype=np.int64))  # rounding is fine
    np.testing.assert_array_equal(ok[1], [4, -3])
    with pytest.raises(ValueError, match=r"input 'x'.*1e\+300.*float32.*inf"):
        f(np.array([1e300]), np.array([1]))
    with pytest.raises(ValueError, match=r"input 'i'.*4294967303.*int32.*7"):
        f(np.array([1.0]), np.array([2**32 + 7]))
    s = g.input("s", ("B",), np.int8)
    with pytest.raises(ValueError, match="input 's'.*300.*int8"):
        gc.evaluate(s + 1, {s: np.array([300])})


def test_an_unsigned_value_past_a_signed_inputs_range_is_refused():
    """uint64 2**64 - 1 became int64 -1: a round trip back to uint64 looked lossless."""
    g = gc.Graph("w")
    i = g.input("i", ("B",), np.int64)
    f = gc.compile(i + 1, [i])
    np.testing.assert_array_equal(f(np.array([5], dtype=np.uint64)), [6])
    with pytest.raises(ValueError, match="input 'i'.*18446744073709551615.*int64"):
        f(np.array([2**64 - 1], dtype=np.uint64))
