"""Review findings: build errors raised while wrapping operands, python ints that do not fit
their neighbour's dtype, and reshape's canonical attributes (each failed before its fix)."""

import os

import numpy as np
import pytest

import graphc as gc

HERE = os.path.basename(__file__)


def _assert_build_error(ei, op, *shapes):
    msg = str(ei.value)
    assert msg.startswith(f"{op}("), msg
    for s in shapes:
        assert s in msg, msg
    assert f"\n  at {__file__}:" in msg, msg
    assert msg.count("\n  at ") == 1, msg


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


def test_reshape_stores_its_target_with_the_minus_one_resolved():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    a, b, c = x.reshape(-1, 3), x.reshape("B", 3), x.reshape(np.int64(1), "B", np.int64(-1))
    assert a.node.attrs == b.node.attrs == (("shape", ("B", 3)),)
    assert c.node.attr["shape"] == (1, "B", 3)
    assert all(type(d) in (int, str) for d in c.node.attr["shape"])
    assert "np.int64" not in str(g)
    out = gc.compile([a, c])(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(out[1], np.arange(6.0).reshape(1, 2, 3))


def test_reshape_target_that_is_not_a_tuple_names_the_line():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    with pytest.raises(gc.ShapeError) as ei:
        gc.reshape(x, None)
    _assert_build_error(ei, "reshape", "(B, 3) float64")


def test_reshape_of_an_empty_tensor_with_a_symbol():
    # (B, 0) has no elements whatever B is, as numpy knows: reshape(-1) is (0,)
    g = gc.Graph()
    x = g.input("x", ("B", 0))
    assert x.reshape(-1).shape == (0,)
    assert x.reshape("B", -1).shape == ("B", 0)
    assert x.reshape(0, 5).shape == (0, 5)
    with pytest.raises(gc.ShapeError, match="-1"):
        x.reshape(0, -1)  # numpy cannot resolve this one either
    f = gc.compile([x.reshape(-1), x.reshape(0, 5)])
    r = f(np.zeros((4, 0)))
    assert r[0].shape == (0,) and r[1].shape == (0, 5)


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


@pytest.mark.filterwarnings("ignore:divide by zero")
@pytest.mark.parametrize("build", [lambda z: gc.logsumexp(z, axis=1),
                                   lambda z: gc.softmax(z, axis=1),
                                   lambda z: gc.log_softmax(z, axis=-1),
                                   lambda z: gc.softmax(z, axis=0)])
def test_stable_normalisations_over_an_empty_axis_compute(build):
    # logsumexp over no elements is log(0) = -inf; softmax of an empty axis is empty
    g = gc.Graph()
    z = g.input("z", ("B", 0))
    t = build(z)
    zs = np.zeros((2, 0))
    want = np.full(2, -np.inf) if t.node.op == "logsumexp" else np.zeros((2, 0))
    np.testing.assert_array_equal(gc.evaluate(t, {z: zs}), want)
    np.testing.assert_array_equal(gc.compile(t)(zs), want)


def test_reversing_a_symbolic_axis_keeps_its_size_and_gradient():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    r = x[::-1]
    assert r.shape == ("B", 3)
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(gc.compile(r)(X), X[::-1])
    w = np.arange(1.0, 4.0)
    y = gc.sum(r[:, ::-1] * w)
    (gx,) = gc.grad(y, [x])
    np.testing.assert_array_equal(gc.compile(gx, inputs=[x])(X), np.broadcast_to(w[::-1], (2, 3)))
    gc.check_grad(gc.sum(r ** 2 * w), [x], {x: X})
    with pytest.raises(gc.ShapeError, match="slice it whole"):
        x[::-2]
