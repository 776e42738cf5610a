"""binary_cross_entropy, nll_loss, huber_loss, smooth_l1_loss, cross_entropy's label smoothing,
ignore_index and reductions: values and gradients equal torch's (autograd), the batch dim
bound to several sizes through one compiled Function; refused arguments change nothing."""

import math

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")

torch = pytest.importorskip("torch")
F = torch.nn.functional
SIZES = (1, 4, 9)
REDUCTIONS = ["mean", "sum", "none"]


def _against_torch(specs, ours, theirs, data, rtol=1e-12, atol=1e-15, wrt=0):
    """Compile ``ours(*inputs)`` and its gradient with respect to input ``wrt`` once, then for
    each batch size B compare them with torch's value and autograd gradient of
    ``theirs(*tensors)`` on ``data(B, rng)``. A non-scalar loss is summed for the gradient."""
    g = gc.Graph("loss")
    ins = [g.input(name, shape, dtype) for name, shape, dtype in specs]
    loss = ours(*ins)
    (gx,) = gc.grad(loss if loss.ndim == 0 else gc.sum(loss), [ins[wrt]])
    f = gc.compile([loss, gx], ins)
    rng = np.random.default_rng(11)
    for B in SIZES:
        arrays = data(B, rng)
        val, grad = f(*arrays)
        ts = [torch.tensor(a, requires_grad=(k == wrt)) for k, a in enumerate(arrays)]
        t = theirs(*ts)
        (t if t.ndim == 0 else t.sum()).backward()
        np.testing.assert_allclose(val, t.detach().numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"value at B={B}")
        np.testing.assert_allclose(grad, ts[wrt].grad.numpy(), rtol=rtol, atol=atol,
                                   err_msg=f"gradient at B={B}")
        assert np.shape(val) == tuple(t.shape)
    return f


# ------------------------------------------------------------------- binary cross-entropy
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_equals_torch(reduction):
    def data(B, rng):
        return rng.uniform(1e-4, 1 - 1e-4, (B, 3)), rng.uniform(0, 1, (B, 3))

    _against_torch([("p", ("B", 3), np.float64), ("y", ("B", 3), np.float64)],
                   lambda p, y: gc.nn.binary_cross_entropy(p, y, reduction),
                   lambda p, y: F.binary_cross_entropy(p, y, reduction=reduction), data)


def test_binary_cross_entropy_at_the_ends_is_torch_clamped_value():
    """log is clamped to >= -100 as torch's: p = 0 or 1 costs at most 100. log(1 - p) is
    accurate for tiny p (torch uses log1p). Gradients stay finite."""
    ps = np.array([0.0, 1e-300, 1e-50, 1e-20, 1e-10, 0.5, 1 - 1e-10, 1 - 2**-53, 1.0])
    p = np.repeat(ps, 3)
    y = np.tile([0.0, 1.0, 0.3], len(ps))
    g = gc.Graph("bce")
    pi, yi = g.input("p", ("N",)), g.input("y", ("N",))
    loss = gc.nn.binary_cross_entropy(pi, yi, reduction="none")
    (gp,) = gc.grad(gc.sum(loss), [pi])
    with np.errstate(all="raise"):
        val, grad = gc.compile([loss, gp])(p, y)
    want = F.binary_cross_entropy(torch.tensor(p), torch.tensor(y), reduction="none").numpy()
    np.testing.assert_allclose(val, want, rtol=1e-14, atol=0)
    assert val.max() <= 100 and np.all(np.isfinite(grad))
    # where p (1 - p) >= 1e-12 the gradient is torch's; at the clamped ends it is 0
    tp = torch.tensor(p, requires_grad=True)
    F.binary_cross_entropy(tp, torch.tensor(y), reduction="sum").backward()
    inner = p * (1 - p) >= 1e-12
    np.testing.assert_allclose(grad[inner], tp.grad.numpy()[inner], rtol=1e-12)
    assert np.all(grad[p == 0][1::3] == 0) and np.all(grad[p == 1][0::3] == 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_outside_0_1_is_nan(dtype):
    g = gc.Graph("bce")
    p, y = g.input("p", ("B",), dtype), g.input("y", ("B",), dtype)
    loss = gc.nn.binary_cross_entropy(p, y, reduction="none")
    (gp,) = gc.grad(gc.sum(loss), [p])
    f = gc.compile([loss, gp])
    val, grad = f(np.array([-0.1, 1.1, np.nan, 0.25, 0, 1], dtype), np.full(6, 0.5, dtype))
    assert val.dtype == dtype and np.isnan(val[:3]).all() and np.isfinite(val[3:]).all()
    assert np.all(grad[:2] == 0)
    want = F.binary_cross_entropy(torch.tensor([0.25, 0, 1], dtype=torch.float64),
                                  torch.full((3,), 0.5, dtype=torch.float64), reduction="none")
    np.testing.assert_allclose(val[3:], want.numpy(), rtol=1e-6)
    # the mean is nan too, so fit stops with NonFiniteLossError
    assert np.isnan(gc.compile(gc.nn.binary_cross_entropy(p, y))(
        np.array([0.5, 2.0], dtype), np.ones(2, dtype)))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits_equals_torch(reduction):
    def data(B, rng):
        return rng.normal(size=(B, 2)) * 4, rng.uniform(0, 1, (B, 2))

    _against_torch([("z", ("B", 2), np.float64), ("y", ("B", 2), np.float64)],
                   lambda z, y: gc.nn.binary_cross_entropy_with_logits(z, y, reduction),
                   lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction=reduction),
                   data)


def test_bce_of_sigmoid_equals_bce_with_logits():
    g = gc.Graph("bce")
    z, y = g.input("z", ("B",)), g.input("y", ("B",))
    a = gc.nn.binary_cross_entropy(gc.sigmoid(z), y)
    b = gc.nn.binary_cross_entropy_with_logits(z, y)
    ga, gb = gc.grad(a, [z])[0], gc.grad(b, [z])[0]
    zv = np.linspace(-5, 5, 11)
    yv = np.linspace(0, 1, 11)
    va, vb, da, db = gc.compile([a, b, ga, gb])(zv, yv)
    assert va == pytest.approx(vb, rel=1e-14)
    np.testing.assert_allclose(da, db, rtol=1e-12, atol=1e-17)


# ---------------------------------------------------------------------------- nll, ce
def _class_data(C, extra=(), ignore=None):
    def data(B, rng):
        z = rng.normal(size=(B, C, *extra)) * 3
        y = rng.integers(0, C, size=(B, *extra))
        if ignore is not None:
            y.flat[:: 3] = ignore
        return z, y
    return data


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("ignore", [None, -100, 2])
def test_nll_loss_equals_torch(reduction, ignore):
    kw = {} if ignore is None else {"ignore_index": ignore}

    def data(B, rng):
        z, y = _class_data(5, ignore=ignore)(B, rng)
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True)), y  # log-probabilities

    _against_torch([("logp", ("B", 5), np.float64), ("y", ("B",), np.int64)],
                   lambda lp, y: gc.nn.nll_loss(lp, y, reduction=reduction, **kw),
                   lambda lp, y: F.nll_loss(lp, y, reduction=reduction, **kw), data)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_and_cross_entropy_on_torchs_class_axis(reduction):
    """(N, C, d) with the classes on axis 1, as torch's K-dimensional losses."""
    for ignore in (None, 1):
        kw = {} if ignore is None else {"ignore_index": ignore}
        _against_torch([("z", ("B", 4, 3), np.float64), ("y", ("B", 3), np.int64)],
                       lambda z, y: gc.nn.nll_loss(z, y, axis=1, reduction=reduction, **kw),
                       lambda z, y: F.nll_loss(z, y, reduction=reduction, **kw),
                       _class_data(4, (3,), ignore))
        _against_torch([("z", ("B", 4, 3), np.float64), ("y", ("B", 3), np.int64)],
                       lambda z, y: gc.nn.cross_entropy(z, y, axis=1, reduction=reduction,
                                                        label_smoothing=0.2, **kw),
                       lambda z, y: F.cross_entropy(z, y, reduction=reduction,
                                                    label_smoothing=0.2, **kw),
                       _class_data(4, (3,), ignore))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("ignore", [None, -100, 0])
def test_cross_entropy_integer_labels_equal_torch(reduction, smoothing, ignore):
    kw = {} if ignore is None else {"ignore_index": ignore}
    _against_torch([("z", ("B", 6), np.float64), ("y", ("B",), np.int64)],
                   lambda z, y: gc.nn.cross_entropy(z, y, reduction=reduction,
                                                    label_smoothing=smoothing, **kw),
                   lambda z, y: F.cross_entropy(z, y, reduction=reduction,
                                                label_smoothing=smoothing, **kw),
                   _class_data(6, ignore=ignore))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.25])
def test_cross_entropy_probability_labels_equal_torch(reduction, smoothing):
    def data(B, rng):
        z = rng.normal(size=(B, 4)) * 2
        y = rng.uniform(0, 1, (B, 4))
        return z, y / y.sum(axis=1, keepdims=True)

    _against_torch([("z", ("B", 4), np.float64), ("y", ("B", 4), np.float64)],
                   lambda z, y: gc.nn.cross_entropy(z, y, reduction=reduction,
                                                    label_smoothing=smoothing),
                   lambda z, y: F.cross_entropy(z, y, reduction=reduction,
                                                label_smoothing=smoothing), data)


def test_every_label_ignored_is_nan_as_torch_and_the_gradient_is_zero():
    g = gc.Graph("ce")
    z, y = g.input("z", ("B", 3)), g.input("y", ("B",), np.int64)
    loss = gc.nn.cross_entropy(z, y, ignore_index=-1, label_smoothing=0.1)
    (gz,) = gc.grad(loss, [z])
    total = gc.nn.cross_entropy(z, y, ignore_index=-1, reduction="sum")
    with np.errstate(all="raise"):
        val, grad, s = gc.compile([loss, gz, total])(np.ones((2, 3)), np.array([-1, -1]))
    tz = torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    want = F.cross_entropy(tz, torch.tensor([-1, -1]), ignore_index=-1, label_smoothing=0.1)
    want.backward()
    assert math.isnan(val) and math.isnan(want.item()) and s == 0
    assert np.array_equal(grad, np.zeros((2, 3))) and not tz.grad.any()


def test_an_ignore_index_no_label_can_equal_ignores_nothing():
    g = gc.Graph("ce")
    z, y = g.input("z", ("B", 3)), g.input("y", ("B",), np.uint8)
    a = gc.nn.cross_entropy(z, y, ignore_index=-100)
    b = gc.nn.cross_entropy(z, y)
    zv, yv = np.random.default_rng(0).normal(size=(4, 3)), np.array([0, 2, 1, 2], np.uint8)
    va, vb = gc.compile([a, b])(zv, yv)
    assert va == vb


def test_label_out_of_range_is_still_refused_with_ignore_index():
    g = gc.Graph("nll")
    z, y = g.input("z", ("B", 3)), g.input("y", ("B",), np.int64)
    f = gc.compile(gc.nn.nll_loss(z, y, ignore_index=-100))
    assert f(np.zeros((2, 3)), np.array([-100, 2])) == 0.0
    for bad in (-1, 3):
        with pytest.raises((IndexError, ValueError), match="labels must be in"):
            f(np.zeros((2, 3)), np.array([bad, 2]))


# ------------------------------------------------------------------- huber, smooth L1, mse
def _pair_data(B, rng):
    pred = rng.normal(size=(B, 3)) * 2
    target = rng.normal(size=(B, 3))
    pred[0, 0] = target[0, 0] + 1.0  # exactly on the threshold (delta = beta = 1)
    pred[0, 1] = target[0, 1]        # no error
    return pred, target


PAIR = [("p", ("B", 3), np.float64), ("t", ("B", 3), np.float64)]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("delta", [0.3, 1.0, 2.5])
def test_huber_loss_equals_torch(reduction, delta):
    _against_torch(PAIR, lambda p, t: gc.nn.huber_loss(p, t, reduction, delta=delta),
                   lambda p, t: F.huber_loss(p, t, reduction=reduction, delta=delta),
                   _pair_data)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [0.0, 0.3, 1.0, 2.5])
def test_smooth_l1_loss_equals_torch(reduction, beta):
    _against_torch(PAIR, lambda p, t: gc.nn.smooth_l1_loss(p, t, reduction, beta=beta),
                   lambda p, t: F.smooth_l1_loss(p, t, reduction=reduction, beta=beta),
                   _pair_data)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_loss_reductions_equal_torch(reduction):
    _against_torch(PAIR, lambda p, t: gc.nn.mse_loss(p, t, reduction),
                   lambda p, t: F.mse_loss(p, t, reduction=reduction), _pair_data)


def test_gradient_with_respect_to_the_target_too():
    _against_torch(PAIR, lambda p, t: gc.nn.huber_loss(p, t, delta=0.7),
                   lambda p, t: F.huber_loss(p, t, delta=0.7), _pair_data, wrt=1)
    _against_torch([("p", ("B", 2), np.float64), ("y", ("B", 2), np.float64)],
                   gc.nn.binary_cross_entropy, F.binary_cross_entropy,
                   lambda B, rng: (rng.uniform(0.01, 0.99, (B, 2)), rng.uniform(0, 1, (B, 2))),
                   wrt=1)


@pytest.mark.parametrize("loss", ["huber_loss", "smooth_l1_loss", "binary_cross_entropy",
                                  "nll_loss", "cross_entropy"])
def test_float32_in_float32_out(loss):
    g = gc.Graph("f32")
    if loss in ("nll_loss", "cross_entropy"):
        a, b = g.input("z", ("B", 3), np.float32), g.input("y", ("B",), np.int64)
        args = (np.full((2, 3), -1.0, np.float32), np.array([0, 2]))
    else:
        a, b = g.input("p", ("B", 3), np.float32), g.input("y", ("B", 3), np.float32)
        args = (np.full((2, 3), 0.25, np.float32), np.full((2, 3), 0.5, np.float32))
    out = getattr(gc.nn, loss)(a, b)
    (ga,) = gc.grad(out, [a])
    assert out.dtype == ga.dtype == np.float32
    v, d = gc.compile([out, ga])(*args)
    assert v.dtype == d.dtype == np.float32 and np.isfinite(v)


# ------------------------------------------------------------------------------- errors
def _errors():
    g = gc.Graph("err")
    p, t = g.input("p", ("B", 3)), g.input("t", ("B", 3))
    flat = g.input("flat", ("B",))
    ints = g.input("ints", ("B", 3), np.int64)
    z, y = g.input("z", ("B", 4)), g.input("y", ("B",), np.int64)
    oh, y2 = g.input("oh", ("B", 4)), g.input("y2", ("B", 1), np.int64)
    zi = g.input("zi", ("B", 4), np.int64)
    n = gc.nn
    return g, [
        (lambda: n.huber_loss(p, flat), gc.ShapeError, r"prediction \(B, 3\) and target \(B,\)"),
        (lambda: n.huber_loss(p, t, delta=0), ValueError, r"delta must be in \(0, inf\)"),
        (lambda: n.huber_loss(p, t, delta=-1.0), ValueError, "delta must be in"),
        (lambda: n.huber_loss(p, t, delta=math.nan), ValueError, "delta must be in"),
        (lambda: n.huber_loss(p, t, delta="1"), TypeError, "delta must be a number"),
        (lambda: n.huber_loss(p, ints), TypeError, "target must be floats"),
        (lambda: n.huber_loss(p, t, "avg"), ValueError, "reduction must be one of"),
        (lambda: n.smooth_l1_loss(p, t, beta=-0.5), ValueError, r"beta must be in \[0, inf\)"),
        (lambda: n.smooth_l1_loss(ints, t), TypeError, "prediction must be floats"),
        (lambda: n.smooth_l1_loss(p, np.ones((4, 3))), gc.ShapeError, r"\(4, 3\) differ"),
        (lambda: n.mse_loss(p, t, reduction=None), ValueError, "reduction must be one of"),
        (lambda: n.mse_loss(p, flat), gc.ShapeError, r"\(B, 3\) and target \(B,\) differ"),
        (lambda: n.binary_cross_entropy(p, flat), gc.ShapeError, r"probs \(B, 3\) and targets"),
        (lambda: n.binary_cross_entropy(p, ints), TypeError, "targets must be floats"),
        (lambda: n.binary_cross_entropy(ints, p), TypeError, "probs must be floats"),
        (lambda: n.binary_cross_entropy(p, t, "batchmean"), ValueError, "reduction must be"),
        (lambda: n.binary_cross_entropy_with_logits(p, np.ones(3)), gc.ShapeError, "differ"),
        (lambda: n.nll_loss(z, t), gc.ShapeError, "one-hot"),
        (lambda: n.nll_loss(z, oh), TypeError, "integer classes"),
        (lambda: n.nll_loss(z, y2), gc.ShapeError,
         r"integer labels must have shape \(B,\)"),
        (lambda: n.nll_loss(zi, y), TypeError,
         "scores must be floats"),
        (lambda: n.nll_loss(z, y, ignore_index=1.0), TypeError, "ignore_index must be an int"),
        (lambda: n.nll_loss(z, y, axis=2), ValueError, r"axis 2 is out of range"),
        (lambda: n.nll_loss(z, y, axis=1.0), TypeError, "axis must be an int"),
        (lambda: n.nll_loss(z, y, reduction="elementwise_mean"), ValueError, "reduction"),
        (lambda: n.cross_entropy(z, y, label_smoothing=1.5), ValueError,
         r"label_smoothing must be in \[0, 1\]"),
        (lambda: n.cross_entropy(z, y, label_smoothing=-0.1), ValueError, "label_smoothing"),
        (lambda: n.cross_entropy(z, y, label_smoothing=None), TypeError, "must be a number"),
        (lambda: n.cross_entropy(z, oh, ignore_index=0), ValueError,
         "ignore_index applies to integer class labels"),
        (lambda: n.cross_entropy(z, y, ignore_index=True), TypeError, "ignore_index"),
        (lambda: n.cross_entropy(z, y, 0, "sum"), TypeError, "positional"),
    ]


def test_refused_arguments_raise_clearly_and_add_nothing():
    g, cases = _errors()
    for k, (call, exc, match) in enumerate(cases):
        n = len(g)
        with pytest.raises(exc, match=match):
            call()
        assert len(g) == n, f"case {k} left nodes behind"


def test_symbolic_class_count_too():
    """Batch and class count both symbolic: one Function for (B, C) = (3, 2), (5, 7)."""
    g = gc.Graph("ce")
    z, y = g.input("z", ("B", "C")), g.input("y", ("B",), np.int64)
    loss = gc.nn.cross_entropy(z, y, label_smoothing=0.3, ignore_index=1)
    (gz,) = gc.grad(loss, [z])
    f = gc.compile([loss, gz])
    rng = np.random.default_rng(5)
    for B, C in ((3, 2), (5, 7)):
        zv, yv = rng.normal(size=(B, C)), rng.integers(0, C, B)
        yv[0] = 0  # at least one label counts
        val, grad = f(zv, yv)
        tz = torch.tensor(zv, requires_grad=True)
        t = F.cross_entropy(tz, torch.tensor(yv), label_smoothing=0.3, ignore_index=1)
        t.backward()
        assert val == pytest.approx(t.item(), rel=1e-12)
        np.testing.assert_allclose(grad, tz.grad.numpy(), rtol=1e-12, atol=1e-15)
