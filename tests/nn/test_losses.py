"""mse_loss, cross_entropy (integer and one-hot labels), binary_cross_entropy_with_logits,
accuracy: values, gradients, errors."""

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")


def _log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_mse_loss_and_its_shape_check():
    g = gc.Graph("mse")
    p, y = g.input("p", ("B", 1)), g.input("y", ("B", 1))
    pv, yv = np.arange(4.0).reshape(4, 1), np.ones((4, 1))
    assert gc.compile(gc.nn.mse_loss(p, y))(pv, yv) == pytest.approx(np.mean((pv - yv) ** 2))
    with pytest.raises(gc.ShapeError, match=r"\(B, 1\) and target \(B,\) differ"):
        gc.nn.mse_loss(p, g.input("flat", ("B",)))
    # a numpy target becomes a constant (of fixed shape: so is the prediction here)
    p4 = g.input("p4", (4, 1))
    assert gc.evaluate(gc.nn.mse_loss(p4, yv), {p4: pv}) == pytest.approx(1.5)


@pytest.mark.parametrize("scale", [1.0, 1000.0])  # 1000: exp would overflow without log-softmax
def test_cross_entropy_integer_and_one_hot_labels(scale):
    g = gc.Graph("ce")
    z = g.input("z", ("B", 4))
    lab = g.input("label", ("B",), np.int64)
    onehot = g.input("onehot", ("B", 4))
    zv = np.random.default_rng(0).normal(size=(6, 4)) * scale
    lv = np.array([0, 3, 1, 2, 2, 0])
    ohv = np.eye(4)[lv]
    ce_int, ce_hot = gc.nn.cross_entropy(z, lab), gc.nn.cross_entropy(z, onehot)
    (g_int,), (g_hot,) = gc.grad(ce_int, [z]), gc.grad(ce_hot, [z])
    a, b, ga, gb = gc.compile([ce_int, ce_hot, g_int, g_hot])(zv, lv, ohv)
    ref = -np.mean(_log_softmax(zv)[np.arange(6), lv])
    assert np.isfinite(a) and a == pytest.approx(ref, rel=1e-12)
    assert b == pytest.approx(ref, rel=1e-12)
    # d/dz mean(-log softmax(z)[label]) = (softmax(z) - onehot) / B
    want = (np.exp(_log_softmax(zv)) - ohv) / 6
    np.testing.assert_allclose(ga, want, atol=1e-15)
    np.testing.assert_allclose(gb, want, atol=1e-15)


def test_cross_entropy_on_another_axis():
    g = gc.Graph("ce")
    z = g.input("z", (3, "B"))
    lab = g.input("label", ("B",), np.int64)
    zv = np.random.default_rng(1).normal(size=(3, 5))
    lv = np.array([0, 1, 2, 1, 0])
    got = gc.compile(gc.nn.cross_entropy(z, lab, axis=0))(zv, lv)
    assert got == pytest.approx(-np.mean(_log_softmax(zv.T)[np.arange(5), lv]))


def test_cross_entropy_label_errors():
    g = gc.Graph("ce")
    z = g.input("z", ("B", 4))
    with pytest.raises(gc.ShapeError, match=r"integer labels must have shape \(B,\)"):
        gc.nn.cross_entropy(z, g.input("l2", ("B", 1), np.int64))
    with pytest.raises(gc.ShapeError, match="one-hot"):
        gc.nn.cross_entropy(z, g.input("oh", ("B", 3)))
    with pytest.raises(TypeError, match="integers or floats"):
        gc.nn.cross_entropy(z, g.input("b", ("B",), np.bool_))
    with pytest.raises(gc.ShapeError, match="class axis"):
        gc.nn.cross_entropy(g.input("s", ()), np.int64(0))


def test_accuracy():
    g = gc.Graph("acc")
    z = g.input("z", ("B", 3))
    lab = g.input("label", ("B",), np.int64)
    zv = np.array([[3.0, 1, 0], [0, 2, 1], [0, 0, 5], [1, 2, 0]])
    lv = np.array([0, 2, 2, 1])
    assert gc.compile(gc.nn.accuracy(z, lab))(zv, lv) == pytest.approx(0.75)
    z4 = g.input("z4", (4, 3))
    assert gc.evaluate(gc.nn.accuracy(z4, np.eye(3)[lv]), {z4: zv}) == pytest.approx(0.75)


def test_accuracy_counts_a_tie_as_a_miss():
    g = gc.Graph("acc")
    z = g.input("z", ("B", 3))
    lab = g.input("label", ("B",), np.int64)
    f = gc.compile(gc.nn.accuracy(z, lab))
    assert f(np.zeros((4, 3)), np.array([0, 1, 2, 0])) == 0.0   # a constant model: not 100%
    assert f(np.array([[2.0, 2, 0], [0, 1, 3]]), np.array([0, 2])) == 0.5
    assert f(np.array([[np.nan, 0, 0]]), np.array([0])) == 0.0
    onehot = g.input("onehot", ("B", 3))
    h = gc.compile(gc.nn.accuracy(z, onehot))
    assert h(np.array([[2.0, 2, 0], [0, 1, 3]]), np.eye(3)[[0, 2]]) == 0.5


def test_integer_one_hot_labels_get_a_hint():
    g = gc.Graph("ce")
    z = g.input("z", ("B", 3))
    with pytest.raises(gc.ShapeError, match="one-hot labels must be floats"):
        gc.nn.cross_entropy(z, g.input("oh", ("B", 3), np.int64))


def _bce_ref(z, y):
    """-(y log sigmoid(z) + (1 - y) log sigmoid(-z)), with log sigmoid from numpy's logaddexp."""
    return y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_values_and_gradient(reduction):
    g = gc.Graph("bce")
    z, y = g.input("z", ("B", 3)), g.input("y", ("B", 3))
    rng = np.random.default_rng(2)
    zv = rng.normal(size=(4, 3)) * 5
    yv = rng.uniform(0, 1, (4, 3))
    loss = gc.nn.binary_cross_entropy_with_logits(z, y, reduction=reduction)
    (gz,) = gc.grad(gc.sum(loss), [z])
    val, grad = gc.compile([loss, gz])(zv, yv)
    per = _bce_ref(zv, yv)
    want = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(val, want, rtol=1e-13)
    scale = 12 if reduction == "mean" else 1
    np.testing.assert_allclose(grad, (1 / (1 + np.exp(-zv)) - yv) / scale, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_with_logits_is_finite_for_any_finite_logit(dtype):
    big = np.finfo(dtype).max
    zv = np.array([[-big, -1e30, -100.0, 0.0, 100.0, 1e30, big]] * 2, dtype)
    yv = np.array([[0.0] * 7, [1.0] * 7], dtype)
    g = gc.Graph("bce")
    z, y = g.input("z", ("B", 7), dtype), g.input("y", ("B", 7), dtype)
    loss = gc.nn.binary_cross_entropy_with_logits(z, y, reduction="none")
    (gz,) = gc.grad(gc.sum(loss), [z])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        val, grad = gc.compile([loss, gz])(zv, yv)
    assert val.dtype == dtype and np.all(np.isfinite(val)) and np.all(np.isfinite(grad))
    # a confident right answer costs ~0, a confident wrong one costs |z|; z = 0 costs log 2
    z64 = zv.astype(np.float64)
    want = np.maximum(np.where(yv == 1, -z64, z64), 0) + np.log(2) * (z64 == 0)
    np.testing.assert_allclose(val, want, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(grad, [[0, 0, 0, 0.5, 1, 1, 1], [-1, -1, -1, -0.5, 0, 0, 0]],
                               atol=1e-30)


def test_binary_cross_entropy_with_logits_argument_errors():
    g = gc.Graph("bce")
    z = g.input("z", ("B", 1))
    with pytest.raises(gc.ShapeError, match=r"logits \(B, 1\) and targets \(B,\) differ"):
        gc.nn.binary_cross_entropy_with_logits(z, g.input("flat", ("B",)))
    with pytest.raises(TypeError, match="targets must be floats"):
        gc.nn.binary_cross_entropy_with_logits(z, g.input("i", ("B", 1), np.int64))
    with pytest.raises(TypeError, match="logits must be floats"):
        gc.nn.binary_cross_entropy_with_logits(g.input("zi", ("B", 1), np.int64), z)
    with pytest.raises(ValueError, match="reduction must be one of"):
        gc.nn.binary_cross_entropy_with_logits(z, g.input("y", ("B", 1)), reduction="avg")


@pytest.mark.parametrize("loss", ["cross_entropy", "accuracy"])
def test_a_negative_label_is_refused_not_taken_from_the_end(loss):
    """Label -1 was the last class (loss 0.0134, accuracy 1.0) while label 3 of 3 was
    refused."""
    g = gc.Graph("l")
    z = g.input("z", ("B", "C"))
    y = g.input("y", ("B",), np.int64)
    f = gc.compile(getattr(gc.nn, loss)(z, y), [z, y])
    Z = np.array([[0.0, 1.0, 5.0]])
    assert np.isfinite(f(Z, np.array([2])))
    for bad in (-1, 3):
        with pytest.raises((IndexError, ValueError), match="labels must be in"):
            f(Z, np.array([bad]))
        with pytest.raises((IndexError, ValueError), match="out of bounds"):
            gc.evaluate(getattr(gc.nn, loss)(z, y), {z: Z, y: np.array([bad])})
