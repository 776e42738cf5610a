"""Shape rules with symbolic dims and size-0 dims, their refusals, canonical attributes, and
broadcasting through real ops
(hypothesis: an op builds exactly when numpy broadcasts, with numpy's result shape)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc

# broadcasts here are deliberate: the lint's warnings about them are not under test
pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")


def _inputs(*shapes, dtype=np.float64):
    g = gc.Graph()
    return [g.input(f"x{k}", s, dtype=dtype) for k, s in enumerate(shapes)]


def _shape_of(build, *shapes, dtypes=None):
    g = gc.Graph()
    dtypes = dtypes or [np.float64] * len(shapes)
    xs = [g.input(f"x{k}", s, dtype=d)
          for k, (s, d) in enumerate(zip(shapes, dtypes, strict=True))]
    return build(*xs).shape


# ------------------------------------------------------------------------------ matmul


@pytest.mark.parametrize("a, b, out", [
    (("B", 3), (3, 16), ("B", 16)),
    (("B", "T", 8), (8, 4), ("B", "T", 4)),
    (("B", 3, 4), ("B", 4, 5), ("B", 3, 5)),
    ((2, 1, 3, 4), ("B", 4, 5), (2, "B", 3, 5)),
    (("B", 1, 3, 4), (5, 4, 2), ("B", 5, 3, 2)),
    ((4,), (4, 5), (5,)),
    ((4,), ("B", 4, 5), ("B", 5)),
    (("B", 3, 4), (4,), ("B", 3)),
    ((4,), (4,), ()),
    (("B",), ("B",), ()),
    (("T", "B"), ("B", 2), ("T", 2)),
])
def test_matmul_shapes(a, b, out):
    assert _shape_of(gc.matmul, a, b) == out
    concrete = {"B": 3, "T": 2}
    ca = tuple(concrete.get(d, d) for d in a)
    cb = tuple(concrete.get(d, d) for d in b)
    assert gc.Shape(out).bind(concrete) == np.matmul(np.ones(ca), np.ones(cb)).shape


@pytest.mark.parametrize("a, b, why", [
    (("B", 3), (4, 2), "contract"),
    (("B", 3), ("T", 2), "contract"),
    ((3, "B"), (3, 2), "contract"),  # B may be 3 at run time, but that is not provable
    ((2, 3, 4), (5, 4, 6), "batch"),
    (("B", 3, 4), ("T", 4, 6), "batch"),
    ((), (3,), "0-d"),
    ((3,), (), "0-d"),
])
def test_matmul_refusals(a, b, why):
    with pytest.raises(gc.ShapeError, match=why):
        _shape_of(gc.matmul, a, b)


# -------------------------------------------------------------------------- reductions


@pytest.mark.parametrize("axis, keepdims, out", [
    (None, False, ()), (None, True, (1, 1, 1)), (0, False, (3, "T")), (-1, False, ("B", 3)),
    ((0, 2), False, (3,)), ((0, -1), True, (1, 3, 1)), (1, True, ("B", 1, "T")),
    ((), False, ("B", 3, "T")), ([2, 0], False, (3,)),
])
@pytest.mark.parametrize("op", ["sum", "mean", "max", "logsumexp"])
def test_reduction_shapes(op, axis, keepdims, out):
    (x,) = _inputs(("B", 3, "T"))
    t = getattr(gc, op)(x, axis=axis, keepdims=keepdims)
    assert t.shape == out
    # the stored axis is canonical: sorted, non-negative
    ax = t.node.attr["axis"]
    assert ax == tuple(sorted(ax)) and all(a >= 0 for a in ax)


def test_equal_reductions_have_equal_attrs():
    (x,) = _inputs(("B", 3, 4))
    assert x.sum(axis=(-1, 0)).node.attrs == x.sum(axis=[0, 2]).node.attrs


@pytest.mark.parametrize("axis", [3, -4, (0, 0), (1, -2), 1.0, "0"])
def test_reduction_refuses_bad_axes(axis):
    (x,) = _inputs(("B", 3, 4))
    with pytest.raises(gc.ShapeError):
        x.sum(axis=axis)


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_axiswise_shapes(op):
    (x,) = _inputs(("B", 3, 4))
    for axis in (0, 1, -1):
        assert getattr(gc, op)(x, axis=axis).shape == ("B", 3, 4)
    with pytest.raises(gc.ShapeError):
        getattr(gc, op)(x, axis=3)
    with pytest.raises(gc.ShapeError):
        getattr(gc, op)(x, axis=(0, 1))


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


# ----------------------------------------------------------------------------- reshape


@pytest.mark.parametrize("src, target, out", [
    (("B", 3, 4), ("B", 12), ("B", 12)),
    (("B", 3, 4), ("B", -1), ("B", 12)),
    (("B", 3, 4), (-1, 12), ("B", 12)),
    (("B", 12), ("B", 3, -1), ("B", 3, 4)),
    (("B", 12), (-1, 3, 4), ("B", 3, 4)),
    (("B", "T", 4), ("B", -1, 4), ("B", "T", 4)),
    (("B", "T", 4), (-1, "T", 4), ("B", "T", 4)),
    (("B", 4), (4, "B"), (4, "B")),
    (("B", 1), ("B",), ("B",)),
    ((3, 4), (-1,), (12,)),
    ((), (1, -1), (1, 1)),
    (("B", 4), (-1,), ("4*B",)),
    (("B", "T"), (-1,), ("B*T",)),
    (("B", "T", 4), (-1, 4), ("B*T", 4)),
    (("B*T", 4), ("B", "T", 4), ("B", "T", 4)),
    (("B", "T", 4), ("B", -1), ("B", "4*T")),
    (("B", 6), ("B", 2, -1), ("B", 2, 3)),
])
def test_reshape_carries_symbols_and_infers_minus_one(src, target, out):
    (x,) = _inputs(src)
    assert x.reshape(target).shape == out
    assert gc.reshape(x, target).shape == out


@pytest.mark.parametrize("src, target, why", [
    (("B", 4), (-1, 3), "cannot infer the -1"),  # 4*B / 3 is not whole for every B
    (("B", 3, 4), ("B", 5, -1), "cannot infer the -1"),
    (("B", "T"), ("B", -1, 2), "cannot infer the -1"),
    (("B", 4), ("B", 5), "elements"),  # counts over the same symbols: never equal
    (("B", 4), (12,), "elements"),
    (("B", 4), ("B", 4, 2), "elements"),
    ((3, 4), (5, -1), "cannot infer the -1"),
    ((3, 4), (-1, -1), "more than one"),
    ((3, 4), (2, 7), "elements"),
    ((3, 4), (-2, -6), "negative"),
    ((0, 4), (0, -1), "cannot infer the -1"),  # numpy refuses too: 0 / 0 is ambiguous
])
def test_reshape_refusals_say_why(src, target, why):
    (x,) = _inputs(src)
    with pytest.raises(gc.ShapeError, match=why):
        x.reshape(target)


def test_reshape_stores_its_target_with_the_minus_one_resolved():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    a, b, c = x.reshape(-1, 3), x.reshape("B", 3), x.reshape(np.int64(1), "B", np.int64(-1))
    assert a.node.attrs == b.node.attrs == (("shape", ("B", 3)),)
    assert c.node.attr["shape"] == (1, "B", 3)
    assert all(type(d) in (int, gc.Dim) for d in c.node.attr["shape"])
    assert "np.int64" not in str(g)
    out = gc.compile([a, c])(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(out[1], np.arange(6.0).reshape(1, 2, 3))


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


# ---------------------------------------------------------------- other shape ops


def test_swapaxes_transpose_expand_squeeze():
    (x,) = _inputs(("B", 3, 4))
    assert gc.swapaxes(x, -1, -2).shape == ("B", 4, 3)
    assert gc.swapaxes(x, 0, 0).shape == ("B", 3, 4)
    assert gc.transpose(x).shape == (4, 3, "B")
    assert gc.transpose(x, (2, 0, 1)).shape == (4, "B", 3)
    assert gc.transpose(x, (-1, 0, 1)).shape == (4, "B", 3)
    assert gc.expand_dims(x, 0).shape == (1, "B", 3, 4)
    assert gc.expand_dims(x, -1).shape == ("B", 3, 4, 1)
    assert gc.expand_dims(x, (1, 3)).shape == ("B", 1, 3, 1, 4)
    assert gc.squeeze(gc.expand_dims(x, 1), 1).shape == ("B", 3, 4)
    (y,) = _inputs((1, "B", 1))
    assert gc.squeeze(y).shape == ("B",)  # None: the axes known to be 1; never B
    assert gc.squeeze(y, -1).shape == (1, "B")
    for bad in [lambda: gc.transpose(x, (0, 1)), lambda: gc.transpose(x, (0, 0, 1)),
                lambda: gc.swapaxes(x, 0, 3), lambda: gc.expand_dims(x, 4),
                lambda: gc.expand_dims(x, (0, 0)), lambda: gc.squeeze(x, 1),
                lambda: gc.squeeze(y, 1)]:
        with pytest.raises(gc.ShapeError):
            bad()


def test_concatenate():
    a, b, c = _inputs(("B", 3), ("B", 5), ("T", 3))
    assert gc.concatenate([a, b], axis=1).shape == ("B", 8)
    assert gc.concatenate([a, b], axis=-1).shape == ("B", 8)
    assert gc.concatenate([a], axis=0).shape == ("B", 3)
    with pytest.raises(gc.ShapeError, match="differs"):
        gc.concatenate([a, c], axis=1)  # B vs T on the other axis
    assert gc.concatenate([a, c], axis=0).shape == ("B + T", 3)
    assert gc.concatenate([a, a, c], axis=0).shape == ("2*B + T", 3)
    with pytest.raises(gc.ShapeError, match="differs"):
        gc.concatenate([a, b], axis=0)
    with pytest.raises(TypeError):
        gc.concatenate(a)
    with pytest.raises(TypeError):
        gc.concatenate([])
    d, e = _inputs((2, 3), (4, 3), dtype=np.float32)
    assert gc.concatenate([d, e]).shape == (6, 3)
    assert gc.concatenate([d, e]).dtype == np.float32


@pytest.mark.parametrize("x, target, ok", [
    ((4,), ("B", 3, 4), ("B", 3, 4)), ((1, 4), ("B", 4), ("B", 4)), ((), ("B",), ("B",)),
    (("B", 1), ("B", 5), ("B", 5)), (("B", 4), (4,), None), (("B", 4), ("T", 4), None),
    ((3,), (4,), None), (("B",), (3,), None), ((3, 1), (3, "B"), (3, "B")),
])
def test_broadcast_to(x, target, ok):
    (t,) = _inputs(x)
    if ok is None:
        with pytest.raises(gc.ShapeError):
            gc.broadcast_to(t, target)
    else:
        assert gc.broadcast_to(t, target).shape == ok


def test_where_and_comparisons_broadcast():
    c, a, b, t = _inputs(("B", 1), (4,), (), ("T",))
    assert (a < b).shape == (4,)
    assert gc.greater_equal(c, a).shape == ("B", 4)
    assert gc.where(c > 0, a, b).shape == ("B", 4)
    assert gc.where(c > 0, 1.0, 0.0).shape == ("B", 1)
    with pytest.raises(gc.ShapeError):
        gc.where(c > 0, t, a)


@pytest.mark.parametrize("shape, index, out", [
    (("B", 4), 0, (4,)), (("B", 4), (slice(None), 1), ("B",)),
    (("B", 4), (slice(None), slice(1, 3)), ("B", 2)), (("B", 4), None, (1, "B", 4)),
    (("B", 4), (Ellipsis, None), ("B", 4, 1)), (("B", 4), (..., -1), ("B",)),
    (("B", 4), (slice(None), slice(None, None, -1)), ("B", 4)),
    (("B", 3, 4), (slice(None), 0, slice(1, None, 2)), ("B", 2)),
    ((3, 4), (slice(-2, None), slice(5, 9)), (2, 0)), ((3, 4), (1, 2), ()),
    (("B", 3, 4), (Ellipsis,), ("B", 3, 4)), (("B", 3, 4), (None, ..., None, 0), (1, "B", 3, 1)),
])
def test_getitem_shapes(shape, index, out):
    (x,) = _inputs(shape)
    assert x[index].shape == out
    if not any(d == "B" for d in shape):
        assert np.empty(shape)[index].shape == out


@pytest.mark.parametrize("shape, index, err", [
    (("B", 4), (slice(None), 4), gc.ShapeError), ((3, 4), -4, gc.ShapeError),
    (("B", 4), (0, 0, 0), gc.ShapeError), (("B", 4), (Ellipsis, Ellipsis), gc.ShapeError),
    (("B", 4), slice(5, 3), gc.ShapeError),  # a range that runs backwards on B
    (("B", 4), slice("B", None), TypeError),
    (("B", 4), (slice(None), slice(None, None, 0)), gc.ShapeError),
    (("B", 4), [0, 1], TypeError), (("B", 4), np.array([0]), TypeError),
    (("B", 4), 1.0, TypeError), (("B", 4), "0", TypeError),
])
def test_getitem_refusals(shape, index, err):
    (x,) = _inputs(shape)
    with pytest.raises(err):
        x[index]


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
    assert x[::-2].shape == ("(B + 1)//2", 3)
    np.testing.assert_array_equal(gc.compile(x[::-2])(np.arange(15.0).reshape(5, 3)),
                                  np.arange(15.0).reshape(5, 3)[::-2])


def test_take_along_axis_shapes():
    g = gc.Graph()
    logp = g.input("logp", ("B", 10))
    y = g.input("y", ("B",), dtype=np.int64)
    picked = gc.take_along_axis(logp, y[:, None], axis=1)
    assert picked.shape == ("B", 1) and picked.dtype == np.float64
    assert gc.take_along_axis(logp, y[:, None], axis=-1).node.attr["axis"] == 1
    k = g.input("k", ("B", 3), dtype=np.int32)
    assert gc.take_along_axis(logp, k, axis=1).shape == ("B", 3)
    with pytest.raises(gc.ShapeError):
        gc.take_along_axis(logp, y, axis=1)  # rank differs
    with pytest.raises(gc.ShapeError):
        gc.take_along_axis(logp, g.input("z", ("T", 1), dtype=np.int64), axis=1)


# ------------------------------------------------------- broadcasting through real ops

dim = st.sampled_from([1, 1, 2, 3])
shape = st.lists(dim, max_size=3).map(tuple)


@given(shape, shape, st.sampled_from(["add", "multiply", "maximum", "less", "where"]))
def test_ops_build_exactly_when_numpy_broadcasts(a, b, op):
    g = gc.Graph()
    x, y = g.input("x", a), g.input("y", b)
    build = {"where": lambda: gc.where(x > 0, x, y)}.get(op, lambda: getattr(gc, op)(x, y))
    try:
        want = np.broadcast_shapes(a, b)
    except ValueError:
        with pytest.raises(gc.ShapeError):
            build()
        return
    t = build()
    assert t.shape == want
    got = gc.evaluate(t, {x: np.ones(a), y: np.ones(b)})
    assert got.shape == want


sym_dim = st.sampled_from([1, 2, 3, "B", "B"])
sym_shape = st.lists(sym_dim, max_size=3).map(tuple)


@given(sym_shape, sym_shape, st.integers(2, 4))
def test_symbolic_broadcast_result_matches_numpy_at_every_binding(a, b, B):
    g = gc.Graph()
    x, y = g.input("x", a), g.input("y", b)
    try:
        t = x + y
    except gc.ShapeError:
        # refused: it must fail for some B >= 2 (B = 5 differs from every int dim here)
        with pytest.raises(ValueError):
            np.broadcast_shapes(tuple(5 if d == "B" else d for d in a),
                                tuple(5 if d == "B" else d for d in b))
        return
    ca = tuple(B if d == "B" else d for d in a)
    cb = tuple(B if d == "B" else d for d in b)
    want = np.broadcast_shapes(ca, cb)
    assert t.shape.bind({"B": B}) == want
    feed = {x: np.ones(ca), y: np.ones(cb)}
    if "B" in a or "B" in b:
        assert gc.compile(t, inputs=[x, y])(*feed.values()).shape == want
