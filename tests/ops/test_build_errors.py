"""Build-time errors name the op, the operand shapes and the caller's file:line, and leave
the graph as it was: ShapeErrors of the shape rules, and the TypeErrors / ValueErrors raised
while wrapping operands (another graph's tensor, an unusable value, a python int that does not
fit its neighbour's dtype)."""

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


def _assert_build_error(ei, op, *shapes):
    msg = str(ei.value)
    assert msg.startswith(f"{op}("), msg
    for s in shapes:
        assert s in msg, msg
    assert f"\n  at {__file__}:" in msg, msg
    assert msg.count("\n  at ") == 1, msg


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
    "reshape:symbol": (lambda v: v["x"].reshape(-1, 2), ["(B, 3)"]),
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
    with pytest.raises(gc.ShapeError, match="whole multiple") as ei:
        x.reshape(-1, 3)
    assert "4*B elements are not a whole multiple of 3" in str(ei.value)
    with pytest.raises(gc.ShapeError, match="more than one -1"):
        x.reshape(-1, -1)
    with pytest.raises(gc.ShapeError, match="elements"):
        x.reshape("B", 5)
    with pytest.raises(gc.ShapeError, match="elements"):
        x.reshape(16)
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


# ----------------------------------------------------- reshape targets, size-0 reductions


def test_reshape_target_that_is_not_a_tuple_names_the_line():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    with pytest.raises(gc.ShapeError) as ei:
        gc.reshape(x, None)
    _assert_build_error(ei, "reshape", "(B, 3) float64")


def test_max_over_an_axis_of_size_zero_is_refused_when_built():
    g = gc.Graph()
    z = g.input("z", ("B", 0))
    assert z.max(axis=0).shape == (0,)  # no element reduced per output: fine, as in numpy
    with pytest.raises(gc.ShapeError) as ei:
        z.max(axis=-1)
    _assert_build_error(ei, "max", "(B, 0) float64")
    assert "size 0" in str(ei.value)
    with pytest.raises(gc.ShapeError, match="size 0"):
        z.max()


# ------------------------------------------------------------------------- wrapping operands


def test_operand_of_another_graph_names_op_shapes_and_line():
    g, h = gc.Graph("g"), gc.Graph("h")
    x, y = g.input("x", ("B", 3)), h.input("y", ("B", 4))
    with pytest.raises(ValueError) as ei:
        x * y
    _assert_build_error(ei, "multiply", "(B, 3) float64", "(B, 4) float64")
    assert "graph 'h', not 'g'" in str(ei.value)
    with pytest.raises(ValueError) as ei:
        gc.concatenate([x, y], axis=1)
    _assert_build_error(ei, "concatenate", "(B, 3) float64", "(B, 4) float64")


@pytest.mark.parametrize("bad", ["a", None, 1j, object()])
def test_unusable_operand_names_op_shapes_and_line(bad):
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    with pytest.raises(TypeError) as ei:
        x - bad
    _assert_build_error(ei, "subtract", "(B, 3) float64")
    assert "operand 1" in str(ei.value)


def test_builder_without_any_tensor_names_its_line():
    with pytest.raises(TypeError) as ei:
        gc.sum(np.ones(3))
    _assert_build_error(ei, "sum", "(3,) float64")
    assert "at least one operand must be a graphc Tensor" in str(ei.value)


# --------------------------------------------------- python ints that do not fit their dtype


@pytest.mark.parametrize("value", [1000, -129, 2**70])
def test_python_int_that_does_not_fit_the_int_tensor_is_a_type_error(value):
    # numpy 2 would raise OverflowError: a python int takes the tensor's dtype (NEP 50)
    g = gc.Graph()
    x = g.input("x", ("B", 3), dtype=np.int8)
    before = len(g)
    with pytest.raises(TypeError) as ei:
        x + value
    _assert_build_error(ei, "add", "(B, 3) int8", str(value))
    assert "does not fit int8" in str(ei.value)
    assert len(g) == before
    assert (x + 127).dtype == np.int8 and (x + (-128)).dtype == np.int8


def test_python_int_fits_a_wider_neighbour_and_floats_take_any_int():
    g = gc.Graph()
    u = g.input("u", (3,), dtype=np.uint8)
    assert (u + 255).dtype == np.uint8
    with pytest.raises(TypeError, match="does not fit uint8"):
        u + (-1)
    assert (g.input("f", (3,), dtype=np.float32) * 2**70).dtype == np.float32


def test_constant_that_does_not_fit_its_dtype_is_a_type_error():
    g = gc.Graph()
    with pytest.raises(TypeError, match="does not fit dtype int64"):
        g.constant(2**70)
    with pytest.raises(TypeError, match="does not fit dtype int8"):
        g.constant(300, dtype=np.int8)


def test_an_out_of_range_constant_index_is_a_run_time_error_at_the_users_line():
    """Constant operands: neither folding nor the per-binding static values may raise numpy's
    bare IndexError; the call raises graphc's error naming the op and the line."""
    g = gc.Graph()
    x = g.input("x", (2, 1))
    c = g.constant(np.arange(6.0).reshape(2, 3))
    line = inspect.currentframe().f_lineno + 1
    y = gc.take_along_axis(c, np.array([[5], [0]]), axis=1) + x
    f = gc.compile(y)
    with pytest.raises(ValueError, match=f"take_along_axis node .* index 5 is out of bounds"
                                         f"(.|\\n)*:{line}"):
        f(np.zeros((2, 1)))


def test_concatenate_of_nothing_is_a_clear_type_error():
    g = gc.Graph()
    with pytest.raises(TypeError, match="at least one operand"):
        g.apply("concatenate", [], {"axis": 0})
    assert len(g) == 0
