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


def test_a_conversion_warning_points_at_the_callers_line_and_names_the_input():
    """A float64 batch that overflows a float32 input warned at graphc/ir/binding.py."""
    g = gc.Graph("w")
    x = g.input("x", ("B",), np.float32)
    f = gc.compile(x * 2.0)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f(np.array([1e300]))
        line = inspect.currentframe().f_lineno - 1
    (rec,) = [r for r in w if issubclass(r.category, RuntimeWarning)]
    assert rec.filename.endswith(HERE) and rec.lineno == line
    assert "input 'x'" in str(rec.message) and "float64 to float32" in str(rec.message)
