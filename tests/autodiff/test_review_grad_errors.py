"""Review findings: every error gc.grad raises ends with the user's line (each failed before)."""

import numpy as np
import pytest

import graphc as gc


def _graph():
    g = gc.Graph("g")
    return g, g.input("x", ("B", 3))


@pytest.mark.parametrize("case", ["xs_tensor", "xs_scalar", "xs_other_graph", "seed_str",
                                  "seed_other_graph", "y_float"])
def test_grad_errors_name_the_callers_line(case):
    g, x = _graph()
    other = gc.Graph("h").input("a", (3,))
    total, row = x.sum(), x[0]
    calls = {
        "xs_tensor": (TypeError, lambda: gc.grad(total, x)),
        "xs_scalar": (TypeError, lambda: gc.grad(total, [1.0])),
        "xs_other_graph": (ValueError, lambda: gc.grad(total, [other])),
        "seed_str": (ValueError, lambda: gc.grad(row, [x], seed="a")),
        "seed_other_graph": (ValueError, lambda: gc.grad(row, [x], seed=other)),
        "y_float": (TypeError, lambda: gc.grad(1.0, [x])),
    }
    kind, call = calls[case]
    before = len(g)
    with pytest.raises(kind) as ei:
        call()
    msg = str(ei.value)
    assert msg.startswith("grad: "), msg
    assert f"\n  at {__file__}:" in msg, msg
    assert msg.count("grad: ") == 1, msg
    assert len(g) == before


def test_grad_seed_array_still_works():
    g, x = _graph()
    (gx,) = gc.grad(x[0], [x], seed=np.arange(3.0))
    out = gc.evaluate(gx, {x: np.ones((2, 3))})
    np.testing.assert_array_equal(out, [[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
