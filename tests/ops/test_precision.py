"""Precision of the stable ops against exact values (``decimal`` at 80 digits), in ulps of the
result's dtype (``np.spacing``, so subnormal results are judged by their own spacing):
sigmoid, softplus and log_sigmoid over x in [-100, 100] in float16/32/64, log_softmax and
cross_entropy on large logits, logaddexp against numpy's."""

from __future__ import annotations

from decimal import Decimal, localcontext

import numpy as np
import pytest

import graphc as gc

DTYPES = [np.float16, np.float32, np.float64]

#: op -> (builder, exact value at a Decimal, most ulps allowed); measured: sigmoid 2, the
#: logaddexp-based ones 1
EXACT = {
    "sigmoid": (gc.sigmoid, lambda d: 1 / (1 + (-d).exp()), 3),
    "softplus": (gc.softplus, lambda d: (1 + d.exp()).ln(), 2),
    "log_sigmoid": (gc.log_sigmoid, lambda d: -(1 + (-d).exp()).ln(), 2),
}


def _exact(f, xs: np.ndarray) -> np.ndarray:
    """f at each x, exactly then rounded to float64 (80 digits: 1 + e^-100 keeps e^-100)."""
    with localcontext() as c:
        c.prec = 80
        return np.array([float(f(Decimal(float(x)))) for x in xs])


def _ulps(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    """|got - want| in units of the spacing of the dtype at ``want`` (float64 arithmetic)."""
    w = want.astype(got.dtype)
    return (np.abs(got.astype(np.float64) - w.astype(np.float64))
            / np.spacing(np.abs(w)).astype(np.float64))


def _compiled(build, dtype, x: np.ndarray) -> np.ndarray:
    g = gc.Graph()
    t = g.input("x", ("N",), dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, no nan
        return gc.compile(build(t), [t])(x)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op", sorted(EXACT))
def test_relative_accuracy_over_minus_100_to_100(op, dtype):
    build, f, most = EXACT[op]
    x = np.concatenate([np.linspace(-100, 100, 2001), [-40.5, -20.25, -9.5, 0.0]]).astype(dtype)
    got = _compiled(build, dtype, x)
    assert got.dtype == dtype
    ulps = _ulps(got, _exact(f, x))
    worst = int(np.argmax(ulps))
    assert ulps[worst] <= most, f"{op} {np.dtype(dtype)} at x={x[worst]}: {ulps[worst]} ulps"


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_of_very_negative_x_is_not_zero(dtype):
    """The old (1 + tanh(x/2)) / 2 gave exactly 0 from x = -9 (f16), -20 (f32), -38 (f64)."""
    x = np.array([-9.0, -20.0, -38.0, -80.0, -300.0], dtype)
    e = np.exp(x.astype(np.float64))
    want = e / (1 + e)  # x < 0: no overflow, and float64 is exact enough for dtype
    normal = want >= np.finfo(dtype).tiny  # results that are normal numbers of dtype
    got = _compiled(gc.sigmoid, dtype, x)
    assert normal.sum() >= 1 and np.all(got[normal] > 0)
    np.testing.assert_allclose(got[normal], want[normal], rtol=4 * np.finfo(dtype).eps)


def test_log_of_sigmoid_is_finite_with_a_finite_gradient():
    g = gc.Graph()
    x = g.input("x", ("N",), np.float32)
    y = gc.sum(gc.log(gc.sigmoid(x)))
    (gx,) = gc.grad(y, [x])
    xv = np.array([-30.0, -60.0, -85.0, 0.0, 30.0], np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        val, grad = gc.compile([y, gx], [x])(xv)
    assert np.isfinite(val) and val == pytest.approx(-175.0 - np.log(2.0), rel=1e-6)
    # d log sigmoid(x) / dx = 1 - sigmoid(x)
    np.testing.assert_allclose(grad, [1.0, 1.0, 1.0, 0.5, 0.0], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_in_place_on_0d_and_on_ints(dtype):
    from graphc.ops import kernels

    x = np.array([-50.0, -1.0, 0.0, 2.0, np.inf, -np.inf, np.nan], dtype)
    want = kernels.sigmoid(x.copy())
    same = x.copy()
    assert kernels.sigmoid(same, out=same) is same  # out= may be x itself (in place)
    np.testing.assert_array_equal(same, want)
    np.testing.assert_array_equal(want[4:6], [1.0, 0.0])
    assert np.isnan(want[6])
    z = kernels.sigmoid(np.asarray(dtype(-50.0)))
    assert isinstance(z, np.ndarray) and z.shape == () and z == want[0]
    assert kernels.sigmoid(np.array([0, 3])).dtype == np.float64  # ints: numpy's float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stable_ops_stay_finite_at_the_ends_of_the_range(dtype):
    big = np.finfo(dtype).max
    x = np.array([-big, -1e30, -100.0, 100.0, 1e30, big], dtype)
    for build, f in [(gc.softplus, lambda v: np.maximum(v, 0)),
                     (gc.log_sigmoid, lambda v: np.minimum(v, 0))]:
        got = _compiled(build, dtype, x)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got[[0, 1, 4, 5]], f(x[[0, 1, 4, 5]]), rtol=1e-7)


def test_logaddexp_is_numpys_with_broadcasting():
    g = gc.Graph()
    a, b = g.input("a", ("B", 1, 4)), g.input("b", (3, 1))
    out = gc.logaddexp(a, b)
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal((2, 1, 4)) * 300, rng.standard_normal((3, 1)) * 300
    assert out.shape.bind({"B": 2}) == (2, 3, 4)
    np.testing.assert_array_equal(gc.compile(out, [a, b])(av, bv), np.logaddexp(av, bv))
    np.testing.assert_array_equal(gc.evaluate(out, {a: av, b: bv}), np.logaddexp(av, bv))
    assert gc.logaddexp(g.input("h", (3,), np.float32), 0).dtype == np.float32


@pytest.mark.parametrize("op", [gc.softplus, gc.log_sigmoid,
                                lambda t: gc.logaddexp(t, 1.0), lambda t: gc.logaddexp(1.0, t)])
def test_the_new_stable_ops_need_float_operands(op):
    g = gc.Graph()
    with pytest.raises(TypeError, match="needs float operands, got int64"):
        op(g.input("i", (3,), np.int64))


# -------------------------------------------------------------- log_softmax, cross_entropy


def _log_softmax(dtype, z: np.ndarray) -> np.ndarray:
    g = gc.Graph()
    x = g.input("x", ("B", z.shape[1]), dtype)
    out = gc.log_softmax(x, axis=-1)
    got = gc.compile(out, [x])(z)
    np.testing.assert_array_equal(gc.evaluate(out, {x: z}), got)
    return got


def test_log_softmax_of_huge_equal_logits():
    """x - (m + log s) gave 0: 1e308 + log 3 rounds to 1e308."""
    got = _log_softmax(np.float64, np.full((1, 3), 1e308))
    np.testing.assert_allclose(got, np.full((1, 3), -np.log(3.0)), rtol=1e-15)


def test_cross_entropy_of_large_float32_logits():
    """1e7 + (0, -1, -2) in float32 (exact): the loss of class 2 is 2.4076, not 2.0."""
    z = (np.float32(1e7) + np.array([[0.0, -1.0, -2.0]], np.float32)).astype(np.float32)
    want = -np.array([0.0, -1.0, -2.0]) + np.log(1 + np.exp(-1.0) + np.exp(-2.0))
    np.testing.assert_allclose(-_log_softmax(np.float32, z)[0], want, rtol=1e-6)
    g = gc.Graph()
    x, lab = g.input("x", ("B", 3), np.float32), g.input("label", ("B",), np.int64)
    loss = gc.compile(gc.nn.cross_entropy(x, lab), [x, lab])(z, np.array([2]))
    assert loss.dtype == np.float32 and loss == pytest.approx(2.40760596, rel=1e-6)


@pytest.mark.parametrize("dtype,offset", [(np.float32, 1e6), (np.float32, -3e7),
                                          (np.float64, 1e15), (np.float64, -1e300)])
def test_log_softmax_and_cross_entropy_against_torch_at_large_offsets(dtype, offset):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    z = (offset + rng.integers(-8, 9, (5, 4))).astype(dtype)  # exact in dtype
    labels = rng.integers(0, 4, 5)
    tz = torch.tensor(z)
    np.testing.assert_allclose(_log_softmax(dtype, z), torch.log_softmax(tz, -1).numpy(),
                               rtol=1e-6 if dtype == np.float32 else 1e-14)
    g = gc.Graph()
    x, lab = g.input("x", ("B", 4), dtype), g.input("label", ("B",), np.int64)
    loss = gc.compile(gc.nn.cross_entropy(x, lab), [x, lab])(z, labels)
    want = torch.nn.functional.cross_entropy(tz, torch.tensor(labels)).item()
    assert loss == pytest.approx(want, rel=1e-6 if dtype == np.float32 else 1e-14)
