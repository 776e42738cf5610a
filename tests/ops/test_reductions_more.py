"""min, argmax, argmin, prod, var, std, cumsum, cumprod, any, all and gc.linalg.norm against
numpy (values, shapes, dtypes; float64, float32, ints, bools) through one compiled Function
per graph with the batch symbol bound to several sizes; gradients against torch and finite
differences (zeros in prod and cumprod, ties in min, a constant slice in std); build-time and
call-time errors; save/load of their attributes; the Tensor methods."""

from __future__ import annotations

import math

import numpy as np
import pytest

import graphc as gc
from graphc.ops import reduction
from graphc.ops.reduction import linalg

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

BS = (1, 2, 5)
RNG = np.random.default_rng(15)


def _tol(dtype):
    return {"rtol": 1e-12, "atol": 1e-12} if np.dtype(dtype) == np.float64 else {
        "rtol": 2e-5, "atol": 2e-6}


def _data(shape, dtype, kind="real"):
    if np.dtype(dtype) == np.bool_:
        return RNG.random(shape) < 0.5
    if kind == "int" or np.dtype(dtype).kind in "iu":
        return RNG.integers(-2, 3, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def _agree(build, want, shape, dtype, kind="real", bs=BS):
    """``build(x)`` compiled once for a symbolic B; at each B, compile == evaluate ==
    ``want(array)`` (numpy) in value, shape and dtype."""
    g = gc.Graph()
    x = g.input("x", shape, dtype=dtype)
    outs = build(x)
    outs = outs if isinstance(outs, list) else [outs]
    f = gc.compile(outs, inputs=[x])
    for B in bs:
        a = _data(tuple(B if d == "B" else d for d in shape), dtype, kind)
        wants = want(a)
        wants = wants if isinstance(wants, list) else [wants]
        got = f(a)
        ev = gc.evaluate(outs, {x: a})
        for o, w, c, e in zip(outs, wants, got, ev, strict=True):
            w = np.asarray(w)
            assert o.shape.bind({"B": B}) == w.shape == c.shape == e.shape, (o, B)
            assert o.dtype == w.dtype == c.dtype == e.dtype, (o, B)
            np.testing.assert_array_equal(c, e)
            if w.dtype.kind == "f":
                np.testing.assert_allclose(c, w, **_tol(w.dtype))
            else:
                np.testing.assert_array_equal(c, w)


# ------------------------------------------------------------------------ numpy agreement

AXES = [None, 0, 1, -1, (0, 2), (2, 0), (0, 1, 2)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_min_prod_var_std_any_all_match_numpy(dtype, axis, keepdims):
    kd = {"keepdims": keepdims}
    _agree(lambda x: [gc.min(x, axis, **kd), gc.prod(x, axis, **kd),
                      gc.var(x, axis, **kd), gc.std(x, axis, ddof=1, **kd),
                      gc.any(x, axis, **kd), gc.all(x > -1.0, axis, **kd),
                      x.min(axis, **kd), x.prod(axis, **kd), x.var(axis, ddof=2, **kd)],
           lambda a: [np.min(a, axis, **kd), np.prod(a, axis, **kd), np.var(a, axis, **kd),
                      np.std(a, axis, ddof=1, **kd), np.any(a, axis, **kd),
                      np.all(a > -1.0, axis, **kd), a.min(axis, **kd), a.prod(axis, **kd),
                      a.var(axis, ddof=2, **kd)],
           ("B", 3, 4), dtype, bs=(3, 5))  # N - ddof > 0


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8, np.int64, np.bool_])
def test_integer_and_bool_inputs_take_numpys_dtypes(dtype):
    _agree(lambda x: [gc.min(x, 1), gc.prod(x, 0), gc.var(x, 1), gc.std(x), gc.cumsum(x),
                      gc.cumprod(x, 1), gc.any(x, 1), gc.all(x), gc.argmax(x), gc.argmin(x, 0),
                      linalg.norm(x, axis=1), linalg.norm(x, 1, axis=0),
                      linalg.norm(x, 0, axis=1), linalg.norm(x, np.inf)],
           lambda a: [np.min(a, 1), np.prod(a, 0), np.var(a, 1), np.std(a), np.cumsum(a),
                      np.cumprod(a, 1), np.any(a, 1), np.all(a), np.argmax(a), np.argmin(a, 0),
                      np.linalg.norm(a, axis=1), np.linalg.norm(a, 1, axis=0),
                      np.linalg.norm(a, 0, axis=1), np.linalg.norm(a, np.inf)],
           ("B", 4), dtype, bs=(1, 3))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, 2])
@pytest.mark.parametrize("keepdims", [False, True])
def test_argmax_argmin_match_numpy_first_index_at_ties(dtype, axis, keepdims):
    _agree(lambda x: [gc.argmax(x, axis, keepdims=keepdims), x.argmin(axis, keepdims=keepdims)],
           lambda a: [np.argmax(a, axis, keepdims=keepdims), np.argmin(a, axis,
                                                                      keepdims=keepdims)],
           ("B", 3, 4), dtype, kind="int")  # small ints: many ties


def test_argmax_is_int64_and_flattens_like_numpy():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    i, j = gc.argmax(x), gc.argmin(x, keepdims=True)
    assert i.dtype == np.int64 and i.shape == () and j.shape == (1, 1)
    a = np.array([[0.0, 5.0, 5.0], [7.0, 7.0, -1.0]])
    ri, rj = gc.compile([i, j], inputs=[x])(a)
    assert ri == 3 and rj.tolist() == [[5]]  # first maximum, flat index into (2, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumsum_cumprod_match_numpy(dtype, axis):
    _agree(lambda x: [gc.cumsum(x, axis), gc.cumprod(x, axis), x.cumsum(axis), x.cumprod(axis)],
           lambda a: [np.cumsum(a, axis), np.cumprod(a, axis), a.cumsum(axis),
                      a.cumprod(axis)], ("B", 3, 4), dtype)


def test_cumsum_axis_none_has_a_symbolic_length():
    g = gc.Graph()
    x = g.input("x", ("B", "T", 2))
    y = gc.cumsum(x)
    assert y.shape == (gc.Dim("B") * gc.Dim("T") * 2,)
    assert gc.cumprod(g.input("s", ())).shape == (1,)  # a 0-d x: one element, as numpy


VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5, -1.5]
MATRIX_ORDS = [None, "fro", 1, -1, np.inf, -np.inf]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ord", VECTOR_ORDS)
@pytest.mark.parametrize("keepdims", [False, True])
def test_vector_norms_match_numpy(dtype, ord, keepdims):
    kd = {"keepdims": keepdims}
    _agree(lambda x: [linalg.norm(x, ord, 1, **kd), linalg.norm(x, ord, -1, **kd),
                      linalg.norm(x, ord, 0, **kd), linalg.norm(x[0, 0], ord, **kd)],
           lambda a: [np.linalg.norm(a, ord, 1, **kd), np.linalg.norm(a, ord, -1, **kd),
                      np.linalg.norm(a, ord, 0, **kd), np.linalg.norm(a[0, 0], ord, **kd)],
           ("B", 3, 4), dtype, kind="int" if ord == 0 else "real")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ord", MATRIX_ORDS)
@pytest.mark.parametrize("axis", [(1, 2), (2, 1), (0, -1), (-1, 0)])
def test_matrix_norms_match_numpy(dtype, ord, axis):
    _agree(lambda x: [linalg.norm(x, ord, axis), linalg.norm(x, ord, axis, keepdims=True),
                      linalg.norm(x[0], ord)],
           lambda a: [np.linalg.norm(a, ord, axis), np.linalg.norm(a, ord, axis, keepdims=True),
                      np.linalg.norm(a[0], ord)], ("B", 3, 4), dtype)


def test_norm_of_everything_flattens_any_rank():
    _agree(lambda x: [linalg.norm(x), linalg.norm(x, keepdims=True), linalg.norm(x[0, 0, 0])],
           lambda a: [np.linalg.norm(a), np.linalg.norm(a, keepdims=True),
                      np.linalg.norm(a[0, 0, 0])], ("B", 2, 3, 2), np.float64)


# ----------------------------------------------------------------------- empty and errors


def _assert_build_error(ei, op):
    msg = str(ei.value)
    assert msg.startswith(f"{op}("), msg
    assert f"\n  at {__file__}:" in msg, msg


@pytest.mark.parametrize("op", ["min", "max", "argmax", "argmin"])
def test_no_identity_over_a_static_empty_axis_is_refused_when_built(op):
    g = gc.Graph()
    z = g.input("z", ("B", 0))
    fn = getattr(gc, op)
    assert fn(z, axis=0).shape == (0,)  # nothing reduced per output: fine, as numpy
    n = len(g.nodes)
    with pytest.raises(gc.ShapeError, match="size 0") as ei:
        fn(z, axis=1)
    _assert_build_error(ei, op)
    with pytest.raises(gc.ShapeError, match="size 0"):
        fn(z)
    assert len(g.nodes) == n  # a failed build leaves the graph as it was


@pytest.mark.parametrize("op", ["min", "argmax", "argmin"])
def test_no_identity_over_an_axis_bound_to_zero_fails_at_call_time(op):
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = getattr(gc, op)(x, axis=0)
    f = gc.compile(y, inputs=[x])
    assert f(np.ones((2, 3))).shape == (3,)
    for run in (lambda a: f(a), lambda a: gc.evaluate(y, {x: a})):
        with pytest.raises(ValueError) as ei:
            run(np.ones((0, 3)))
        assert ei.value.args[0].startswith(f"{op} node") and __file__ in str(ei.value)


def test_empty_axes_with_an_identity_give_numpys_values():
    _agree(lambda x: [gc.prod(x, 0), gc.any(x, 0), gc.all(x, 0), gc.cumsum(x, 0),
                      gc.cumprod(x), linalg.norm(x, axis=0), linalg.norm(x, np.inf, 0),
                      linalg.norm(x, 1, (0, 1)), gc.sum(x, 0)],
           lambda a: [np.prod(a, 0), np.any(a, 0), np.all(a, 0), np.cumsum(a, 0),
                      np.cumprod(a), np.linalg.norm(a, axis=0), np.linalg.norm(a, np.inf, 0),
                      np.linalg.norm(a, 1, (0, 1)), np.sum(a, 0)], ("B", 3), np.float64,
           bs=(0, 2))


def test_norm_with_a_min_over_an_empty_axis_is_refused():
    g = gc.Graph()
    z = g.input("z", (3, 0))
    assert linalg.norm(z, np.inf, 1).shape == (3,)  # numpy's initial=0
    with pytest.raises(gc.ShapeError, match="size 0"):
        linalg.norm(z, -np.inf, axis=1)
    with pytest.raises(gc.ShapeError, match="size 0"):
        linalg.norm(z, -1)  # the min over the columns, which are none
    assert linalg.norm(z, -np.inf).shape == ()  # the min over the 3 rows of 0-sums


@pytest.mark.parametrize("bad,exc,match", [
    (lambda x: linalg.norm(x, "nuc", (0, 1)), ValueError, "SVD"),
    (lambda x: linalg.norm(x, 2, (0, 1)), ValueError, "SVD"),
    (lambda x: linalg.norm(x, "nuc", 1), ValueError, "matrix norm"),
    (lambda x: linalg.norm(x, "fro", 0), ValueError, "matrix norm"),
    (lambda x: linalg.norm(x, 3, (0, 1)), ValueError, "matrix norm order"),
    (lambda x: linalg.norm(x, "max"), ValueError, "not a norm order"),
    (lambda x: linalg.norm(x, float("nan"), 0), ValueError, "nan"),
    (lambda x: linalg.norm(x, [2], 0), TypeError, "ord"),
    (lambda x: linalg.norm(x, 1), gc.ShapeError, "1-D or 2-D"),
    (lambda x: linalg.norm(x, None, (0, 1, 2)), gc.ShapeError, "vector norm takes one axis"),
    (lambda x: linalg.norm(x, None, (1, -2)), gc.ShapeError, "repeats"),
    (lambda x: linalg.norm(x, None, 3), gc.ShapeError, "out of range"),
    (lambda x: gc.var(x, ddof="1"), TypeError, "ddof"),
    (lambda x: gc.std(x, ddof=float("inf")), ValueError, "ddof"),
    (lambda x: gc.argmax(x, (0, 1)), gc.ShapeError, "not an int"),
    (lambda x: gc.cumsum(x, (0,)), gc.ShapeError, "not an int"),
    (lambda x: gc.cumprod(x, 3), gc.ShapeError, "out of range"),
    (lambda x: gc.prod(x, (1, 1)), gc.ShapeError, "repeats"),
])
def test_bad_arguments_are_build_errors_that_leave_no_node(bad, exc, match):
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    n = len(g.nodes)
    with pytest.raises(exc, match=match) as ei:
        bad(x)
    assert f"\n  at {__file__}:" in str(ei.value)
    assert len(g.nodes) == n


def test_keepdims_is_keyword_only_where_numpy_has_dtype_or_out_there():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    for fn in (gc.prod, gc.argmax, gc.argmin, gc.any, gc.all, gc.var, gc.std):
        with pytest.raises(TypeError):
            fn(x, 0, True)
    assert gc.min(x, 0, True).shape == (1, 3)  # as gc.max: numpy's out is not taken


# ------------------------------------------------------------------------------ gradients


def _grad_values(build, a, seed=None):
    g = gc.Graph()
    x = g.input("x", a.shape)
    y = build(x)
    u = g.input("u", y.shape)
    s = RNG.standard_normal(y.shape) if seed is None else seed
    (dx,) = gc.grad(y, [x], seed=u)
    want = gc.evaluate(dx, {x: a, u: s})
    got = gc.compile(dx, inputs=[x, u])(a, s)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    return got, s


def test_min_splits_the_gradient_evenly_at_a_tie_as_max():
    a = np.array([[1.0, 3.0, 1.0, 2.0], [4.0, 4.0, 4.0, 5.0]])
    got, _ = _grad_values(lambda x: gc.min(x, axis=1), a, np.array([1.0, 3.0]))
    np.testing.assert_array_equal(got, [[0.5, 0, 0.5, 0], [1.0, 1.0, 1.0, 0]])
    got, _ = _grad_values(lambda x: gc.max(-x, axis=1), a, np.array([1.0, 3.0]))
    np.testing.assert_array_equal(got, -np.array([[0.5, 0, 0.5, 0], [1.0, 1.0, 1.0, 0]]))


def test_min_gradient_matches_torch_amin_with_ties():
    torch = pytest.importorskip("torch")
    a = RNG.integers(-2, 3, (4, 5)).astype(np.float64)
    for axis in (0, 1, None):
        got, s = _grad_values(lambda x, axis=axis: gc.min(x, axis=axis), a)
        t = torch.tensor(a, requires_grad=True)
        m = torch.amin(t, dim=axis) if axis is not None else torch.amin(t)
        (m * torch.tensor(s)).sum().backward()
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-14)


def _zero_patterns():
    """Rows (slices) with no zero, one zero (at either end and inside), two and three."""
    return np.array([[1.5, -0.5, 2.0, 0.75, -1.25],
                     [0.0, -0.5, 2.0, 0.75, -1.25],
                     [1.5, -0.5, 2.0, 0.75, 0.0],
                     [1.5, 0.0, 2.0, 0.75, -1.25],
                     [0.0, -0.5, 0.0, 0.75, -1.25],
                     [1.5, 0.0, 2.0, 0.0, 0.0],
                     [0.0, 0.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("op", ["prod", "cumprod"])
def test_prod_and_cumprod_gradients_with_zeros_match_torch_to_second_order(op):
    torch = pytest.importorskip("torch")
    a = _zero_patterns()
    fn = {"prod": lambda x: gc.prod(x, axis=1), "cumprod": lambda x: gc.cumprod(x, axis=1)}[op]
    tfn = {"prod": lambda t: torch.prod(t, dim=1), "cumprod": lambda t: torch.cumprod(t, dim=1)}
    got, s = _grad_values(fn, a)
    t = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad((tfn[op](t) * torch.tensor(s)).sum(), t, create_graph=True)
    np.testing.assert_allclose(got, gt.detach().numpy(), rtol=1e-13, atol=1e-15)
    # second order: a Hessian-vector product, against torch's and finite differences
    v = RNG.standard_normal(a.shape)
    (ht,) = torch.autograd.grad((gt * torch.tensor(v)).sum(), t)
    g = gc.Graph()
    x = g.input("x", a.shape)
    y = fn(x)
    (dx,) = gc.grad(y, [x], seed=g.constant(s))
    (hv,) = gc.grad(gc.sum(dx * v), [x])
    np.testing.assert_allclose(gc.evaluate(hv, {x: a}), ht.numpy(), rtol=1e-12, atol=1e-14)
    gc.check_grad(y, [x], {x: a}, order=2, directions=4)


def test_prod_gradient_is_the_product_of_the_others():
    a = _zero_patterns()
    got, s = _grad_values(lambda x: gc.prod(x, axis=1), a)
    want = np.array([[s[r] * np.prod(np.delete(a[r], i)) for i in range(a.shape[1])]
                     for r in range(a.shape[0])])
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_prod_over_several_axes_and_keepdims_with_zeros():
    a = _zero_patterns()[:6].reshape(2, 3, 5)
    for axis, kd in [((0, 2), False), ((1,), True), (None, False), ((0, 1, 2), True)]:
        g = gc.Graph()
        x = g.input("x", a.shape)
        gc.check_grad(gc.prod(x, axis, keepdims=kd), [x], {x: a}, order=2, directions=3)


def test_cumsum_gradient_is_the_running_sum_from_the_end():
    a = RNG.standard_normal((3, 4))
    for axis in (0, 1, None):
        got, s = _grad_values(lambda x, axis=axis: gc.cumsum(x, axis), a)
        if axis is None:
            want = np.cumsum(s[::-1])[::-1].reshape(a.shape)
        else:
            want = np.flip(np.cumsum(np.flip(s, axis), axis), axis)
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_cumprod_axis_none_gradient_with_zeros_matches_torch():
    torch = pytest.importorskip("torch")
    a = _zero_patterns()[3:6]
    got, s = _grad_values(lambda x: gc.cumprod(x), a)
    t = torch.tensor(a, requires_grad=True)
    (torch.cumprod(t.reshape(-1), 0) * torch.tensor(s)).sum().backward()
    np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("ddof", [0, 1, 2.5])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_var_std_gradients_match_torch(ddof, axis):
    torch = pytest.importorskip("torch")
    a = RNG.standard_normal((5, 6))
    for op in ("var", "std"):
        got, s = _grad_values(lambda x, op=op: getattr(gc, op)(x, axis, ddof=ddof), a)
        t = torch.tensor(a, requires_grad=True)
        dim = axis if axis is not None else (0, 1)
        r = getattr(torch, op)(t, dim=dim, correction=ddof)
        (r * torch.tensor(s)).sum().backward()
        np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_std_of_a_constant_slice_is_zero_with_a_nan_gradient():
    """numpy's value (0); the gradient is 0/0 (sqrt at 0), as in torch: not finite."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = gc.std(x, axis=1)
    (dx,) = gc.grad(gc.sum(y), [x])
    a = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    with np.errstate(invalid="ignore"):
        yv, dv = gc.compile([y, dx], inputs=[x])(a)
    np.testing.assert_allclose(yv, np.std(a, axis=1), rtol=1e-15)
    assert yv[0] == 0 and np.isnan(dv[0]).all() and np.isfinite(dv[1]).all()
    # var is smooth there: its gradient 2 (x - mean) / N is 0
    (dvar,) = gc.grad(gc.sum(gc.var(x, axis=1)), [x])
    np.testing.assert_array_equal(gc.evaluate(dvar, {x: a})[0], 0.0)


@pytest.mark.parametrize("ord,axis,tfn", [
    (None, 1, "vector"), (2, 0, "vector"), (1, 1, "vector"), (np.inf, 1, "vector"),
    (-np.inf, 1, "vector"), (3, 1, "vector"), (0.5, 0, "vector"),
    ("fro", (0, 1), "matrix"), (1, (0, 1), "matrix"), (-1, (1, 0), "matrix"),
    (np.inf, (0, 1), "matrix"), (-np.inf, (0, 1), "matrix"),
])
def test_norm_gradients_match_torch(ord, axis, tfn):
    torch = pytest.importorskip("torch")
    a = RNG.standard_normal((4, 5))
    got, s = _grad_values(lambda x: linalg.norm(x, ord, axis), a)
    t = torch.tensor(a, requires_grad=True)
    if tfn == "vector":
        r = torch.linalg.vector_norm(t, 2 if ord is None else ord, dim=axis)
    else:
        r = torch.linalg.matrix_norm(t, ord, dim=axis)
    (r * torch.tensor(s)).sum().backward()
    np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_norm_gradient_at_zero_is_zero_and_ties_split_evenly():
    a = np.array([[0.0, 0.0, 0.0], [3.0, -3.0, 1.0]])
    got, _ = _grad_values(lambda x: linalg.norm(x, axis=1), a, np.ones(2))
    np.testing.assert_allclose(got, [[0, 0, 0], a[1] / np.linalg.norm(a[1])], rtol=1e-15)
    got, _ = _grad_values(lambda x: linalg.norm(x, np.inf, axis=1), a, np.ones(2))
    np.testing.assert_array_equal(got, [[0, 0, 0], [0.5, -0.5, 0]])
    got, _ = _grad_values(lambda x: linalg.norm(x, 0, axis=1), a, np.ones(2))
    np.testing.assert_array_equal(got, np.zeros_like(a))


def test_second_order_where_smooth():
    a = RNG.uniform(0.5, 1.5, (3, 4)) * RNG.choice([-1.0, 1.0], (3, 4))
    for build in (lambda x: gc.var(x, 1, ddof=1), lambda x: gc.std(x, (0, 1)),
                  lambda x: gc.prod(x, 0), lambda x: gc.cumprod(x, 1),
                  lambda x: gc.cumsum(x * x), lambda x: linalg.norm(x, 3, 1),
                  lambda x: linalg.norm(x), lambda x: linalg.norm(x, -np.inf, (1, 0))):
        g = gc.Graph()
        x = g.input("x", a.shape)
        gc.check_grad(build(x), [x], {x: a}, order=2, directions=3)


def test_argmax_picks_like_max_for_the_gradient_of_take_along_axis():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    picked = gc.take_along_axis(x, gc.argmax(x, axis=1, keepdims=True), axis=1)[:, 0]
    a = RNG.standard_normal((3, 4))
    np.testing.assert_array_equal(gc.evaluate(picked, {x: a}), a.max(axis=1))
    gc.check_grad(picked, [x], {x: a})
    with pytest.raises(TypeError, match="only a float y has gradients"):
        gc.grad(gc.argmin(x), [x])


# ------------------------------------------------------------------- save/load, namespace


def test_unusual_attributes_round_trip_through_save_and_load(tmp_path):
    g = gc.Graph("red")
    x = g.input("x", ("B", 3, 4))
    outs = [linalg.norm(x, np.inf, 1), linalg.norm(x, -np.inf, (2, 1), keepdims=True),
            linalg.norm(x[0], "fro"), linalg.norm(x, 0.5, -1), linalg.norm(x),
            gc.var(x, (0, 2), ddof=2.5), gc.std(x, ddof=1.0), gc.argmax(x, keepdims=True),
            gc.argmin(x, -1), gc.cumsum(x), gc.cumprod(x, 1), gc.prod(x, (0, 2)),
            gc.min(x, -1, keepdims=True), gc.any(x > 0, 1), gc.all(x > -3)]
    for k, o in enumerate(outs):
        g.output(f"o{k}", o)
    assert outs[6].node.attr["ddof"] == 1 and type(outs[6].node.attr["ddof"]) is int
    gc.save(g, tmp_path / "r.json")
    h = gc.load(tmp_path / "r.json")
    a = RNG.standard_normal((2, 3, 4))
    want = gc.compile(outs, inputs=[x])(a)
    got = gc.compile(list(h.outputs.values()), inputs=[h.inputs["x"]])(a)
    for w, v in zip(want, got, strict=True):
        assert w.dtype == v.dtype
        np.testing.assert_array_equal(w, v)
    for n, m in zip(g.nodes, h.nodes, strict=True):
        assert n.attr == m.attr


def test_attributes_are_canonical():
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    assert linalg.norm(x, 2.0, [-1]).node.attr == {"ord": 2, "axis": (2,), "keepdims": False}
    assert linalg.norm(x, "f", (2, 0)).node.attr["ord"] is None  # 'fro' over a pair
    assert linalg.norm(x[0], "f").node.attr == {"ord": "fro", "axis": None, "keepdims": False}
    assert linalg.norm(x[0], np.float32(np.inf)).node.attr["axis"] == (0, 1)
    assert gc.var(x, [-1, 0], ddof=np.int64(1)).node.attr == {
        "axis": (0, 2), "ddof": 1, "keepdims": False}
    assert gc.argmax(x, -1).node.attr == {"axis": 2, "keepdims": False}
    assert type(gc.cumsum(x, np.int64(-2)).node.attr["axis"]) is int
    # an equal reduction is the same node (common subexpressions merge on canonical attrs)
    assert gc.var(x, (2, 0), ddof=1.0).node.attr == gc.var(x, [0, -1], ddof=1).node.attr


def test_linalg_is_a_namespace_and_norm_builds_atomically():
    assert linalg.norm.__doc__ == reduction.norm.__doc__
    assert linalg.__all__ == ["norm"]
    g = gc.Graph()
    x = g.input("x", (3, 4))
    n = len(g.nodes)
    with pytest.raises(ValueError):
        linalg.norm(x, "nuc")
    assert len(g.nodes) == n
    import graphc.ops.linalg as family  # the matmul family module is not shadowed

    assert family.matmul is not None and not hasattr(family, "norm")


def test_gc_linalg_norm():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    a = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(gc.evaluate(gc.linalg.norm(x, axis=1), {x: a}),
                               np.linalg.norm(a, axis=1), rtol=1e-15)


# -------------------------------------------------------------------------- Tensor methods


def test_tensor_methods_are_the_builders():
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    pairs = [(x.min(1, True), gc.min(x, 1, True)), (x.argmax(-1), gc.argmax(x, -1)),
             (x.argmin(keepdims=True), gc.argmin(x, keepdims=True)),
             (x.prod((0, 2)), gc.prod(x, (0, 2))), (x.var(1, ddof=1), gc.var(x, 1, ddof=1)),
             (x.std(keepdims=True), gc.std(x, keepdims=True)), (x.cumsum(1), gc.cumsum(x, 1)),
             (x.cumprod(), gc.cumprod(x)), (x.any(0), gc.any(x, 0)),
             (x.all(keepdims=True), gc.all(x, keepdims=True))]
    for m, f in pairs:
        assert m.op == f.op and m.node.attr == f.node.attr and m.shape == f.shape


def test_clip_method_with_tensor_bounds():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    a = RNG.standard_normal((2, 3))
    np.testing.assert_allclose(gc.evaluate(x.clip(-0.5, 0.5), {x: a}), a.clip(-0.5, 0.5))


def test_emitted_code_writes_into_planned_buffers():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    y = (gc.prod(x, 1) + gc.var(x, 1, ddof=1) + gc.std(x, 1) + gc.min(x, 1)
         + gc.cumsum(x, 1)[:, 0] + gc.cumprod(x, 1)[:, 1] + gc.argmax(x, 1) + gc.any(x > 0, 1))
    src = gc.compile(y, inputs=[x]).source
    for call in ("multiply.reduce", "xp.var", "xp.std", "minimum.reduce", "xp.cumsum",
                 "xp.cumprod", "xp.argmax", "xp.any"):
        line = next(ln for ln in src.splitlines() if call in ln)
        assert "out=" in line, line
    assert math.isfinite(float(gc.compile(y, inputs=[x])(np.ones((2, 4)))[0]))
