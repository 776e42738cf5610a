"""Build-time ShapeErrors name the op, the operand shapes and the caller's file:line, and leave
the graph as it was."""

import inspect
import os

import numpy as np
import pytest

import graphc as gc


def _graph():
    g = gc.Graph("errs")
    return g, {
        "x": g.input("x", ("B", 3)),
        "y": g.input("y", (4,)),
        "z": g.input("z", ("B", 3, 4)),
        "t": g.input("t", ("T", 3)),
        "i": g.input("i", ("B", 1), dtype=np.int64),
        "c": g.input("c", ("B", 3), dtype=bool),
        "w": g.input("w", (4, 3, "B")),
        "m": g.input("m", (5, 4, 2)),
    }


# op[:variant] -> (the build that fails, shapes that must appear in the message)
CASES = {
    "add": (lambda v: v["x"] + v["y"], ["(B, 3)", "(4,)"]),
    "add:symbols": (lambda v: v["x"] + v["t"], ["(B, 3)", "(T, 3)"]),
    "multiply": (lambda v: gc.multiply(v["z"], v["x"]), ["(B, 3, 4)", "(B, 3)"]),
    "where": (lambda v: gc.where(v["c"], v["x"], v["y"]), ["(B, 3)", "(4,)"]),
    "less": (lambda v: v["x"] < v["y"], ["(B, 3)", "(4,)"]),
    "matmul": (lambda v: v["x"] @ v["y"], ["(B, 3)", "(4,)"]),
    "matmul:contract": (lambda v: v["z"] @ v["w"], ["(B, 3, 4)", "(4, 3, B)"]),
    "matmul:batch": (lambda v: v["z"] @ v["m"], ["(B, 3, 4)", "(5, 4, 2)"]),
    "sum": (lambda v: v["x"].sum(axis=2), ["(B, 3)"]),
    "mean": (lambda v: gc.mean(v["x"], axis=(0, -2)), ["(B, 3)"]),
    "max": (lambda v: v["z"].max(axis=-4), ["(B, 3, 4)"]),
    "softmax": (lambda v: gc.softmax(v["x"], axis=2), ["(B, 3)"]),
    "reshape": (lambda v: v["z"].reshape(-1, 5), ["(B, 3, 4)"]),
    "reshape:symbol": (lambda v: v["x"].reshape(-1), ["(B, 3)"]),
    "broadcast_to": (lambda v: gc.broadcast_to(v["x"], (5, 3)), ["(B, 3)"]),
    "broadcast_to:bad_dim": (lambda v: gc.broadcast_to(v["x"], ("B", -3)), ["(B, 3)"]),
    "swapaxes": (lambda v: gc.swapaxes(v["x"], 0, 2), ["(B, 3)"]),
    "transpose": (lambda v: gc.transpose(v["z"], (0, 1)), ["(B, 3, 4)"]),
    "transpose:range": (lambda v: gc.transpose(v["z"], (0, 1, 3)), ["(B, 3, 4)"]),
    "expand_dims": (lambda v: gc.expand_dims(v["x"], 5), ["(B, 3)"]),
    "squeeze": (lambda v: gc.squeeze(v["x"], 1), ["(B, 3)"]),
    "squeeze:symbol": (lambda v: gc.squeeze(v["x"], 0), ["(B, 3)"]),
    "squeeze:range": (lambda v: gc.squeeze(v["x"], 4), ["(B, 3)"]),
    "concatenate": (lambda v: gc.concatenate([v["x"], v["z"]], axis=1), ["(B, 3)", "(B, 3, 4)"]),
    "concatenate:axis": (lambda v: gc.concatenate([v["x"], v["x"]], axis=2), ["(B, 3)"]),
    "getitem": (lambda v: v["x"][:, 5], ["(B, 3)"]),
    "getitem:rank": (lambda v: v["x"][0, 0, 0], ["(B, 3)"]),
    "take_along_axis": (lambda v: gc.take_along_axis(v["z"], v["i"], axis=1),
                        ["(B, 3, 4)", "(B, 1)"]),
    "take_along_axis:axis": (lambda v: gc.take_along_axis(v["x"], v["i"], axis=2),
                             ["(B, 3)", "(B, 1)"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_build_error_names_op_shapes_and_caller_line(case):
    build, shapes = CASES[case]
    op = case.split(":")[0]
    g, v = _graph()
    before = len(g)
    with pytest.raises(gc.ShapeError) as ei:
        line = inspect.currentframe().f_lineno + 1
        build(v)
    msg = str(ei.value)
    # the lambda that called the builder is the first frame outside graphc: this file, and the
    # line the lambda is on; the line of the call above is fine too (python may report either)
    lam_line = inspect.getsourcelines(build)[1]
    assert f"{os.path.basename(__file__)}:" in msg, msg
    assert (f"{__file__}:{lam_line}" in msg) or (f"{__file__}:{line}" in msg), msg
    assert msg.count("\n  at ") == 1, msg
    assert f"{op}(" in msg, msg
    for s in shapes:
        assert s in msg, (s, msg)
    assert len(g) == before, "a failed build left nodes behind"


def test_build_error_line_is_the_users_line_not_graphcs():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = g.input("y", (2, 3))
    with pytest.raises(gc.ShapeError) as ei:
        line = inspect.currentframe().f_lineno + 1
        gc.tanh(x * 2.0) - y
    msg = str(ei.value)
    assert f"{__file__}:{line}" in msg
    assert "subtract((B, 3) float64, (2, 3) float64)" in msg
    assert "graphc/ops" not in msg and "graphc/ir" not in msg


def test_reshape_errors_say_why():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    with pytest.raises(gc.ShapeError, match="symbolic dim") as ei:
        x.reshape(-1)
    assert "B*4" in str(ei.value) or "4*B" in str(ei.value)
    with pytest.raises(gc.ShapeError, match="more than one -1"):
        x.reshape(-1, -1)
    with pytest.raises(gc.ShapeError, match="elements"):
        x.reshape("B", 5)
    with pytest.raises(gc.ShapeError, match="elements"):
        x.reshape("T", 4)
    with pytest.raises(gc.ShapeError):
        x.reshape(None)


def test_matmul_errors_say_which_dims():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.zeros((4, 2)))
    with pytest.raises(gc.ShapeError, match="contract") as ei:
        x @ W
    assert "3" in str(ei.value) and "(4, 2)" in str(ei.value)
    with pytest.raises(gc.ShapeError, match="0-d"):
        x @ g.constant(2.0)
    with pytest.raises(gc.ShapeError, match="batch"):
        g.input("a", (2, 3, 4)) @ g.input("b", (5, 4, 6))
