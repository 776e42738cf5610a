"""torch as a second, independent oracle: the same models written in graphc and in torch
give the same values and gradients in float64 (compiled and reference evaluator)."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")


def _t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


def _compare(outputs, feed, torch_loss, torch_leaves):
    """graphc [loss, *grads] (evaluated and compiled) against torch's loss and .grad."""
    ref = gc.evaluate(outputs, feed)
    comp = gc.compile(outputs, inputs=list(feed))(*feed.values())
    torch_loss.backward()
    want = [torch_loss.detach().numpy()] + [t.grad.numpy() for t in torch_leaves]
    for r, c, w in zip(ref, comp, want):
        assert r.shape == w.shape
        np.testing.assert_allclose(r, w, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(c, r, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("B", [1, 7])
def test_mlp_tanh_mse(B):
    rng = np.random.default_rng(B)
    Ws = [rng.standard_normal((3, 8)), rng.standard_normal((8, 8)), rng.standard_normal((8, 2))]
    bs = [rng.standard_normal(8), rng.standard_normal(8), rng.standard_normal(2)]
    xv, yv = rng.standard_normal((B, 3)), rng.standard_normal((B, 2))

    g = gc.Graph("mlp")
    x, y = g.input("x", ("B", 3)), g.input("y", ("B", 2))
    params = []
    h = x
    for k, (W, b) in enumerate(zip(Ws, bs)):
        Wt, bt = g.param(f"W{k}", W), g.param(f"b{k}", b)
        params += [Wt, bt]
        h = h @ Wt + bt
        if k < 2:
            h = gc.tanh(h)
    loss = gc.mean((h - y) ** 2)
    outputs = [loss, *gc.grad(loss, params + [x])]

    tp = [_t(a) for W, b in zip(Ws, bs) for a in (W, b)]
    tx = _t(xv)
    th = tx
    for k in range(3):
        th = th @ tp[2 * k] + tp[2 * k + 1]
        if k < 2:
            th = torch.tanh(th)
    tloss = torch.mean((th - torch.tensor(yv)) ** 2)
    _compare(outputs, {x: xv, y: yv}, tloss, tp + [tx])


def test_softmax_cross_entropy_with_integer_labels():
    rng = np.random.default_rng(11)
    Wv, bv = rng.standard_normal((4, 5)), rng.standard_normal(5)
    xv, lv = rng.standard_normal((6, 4)) * 3, rng.integers(0, 5, 6)

    g = gc.Graph("ce")
    x, lab = g.input("x", ("B", 4)), g.input("lab", ("B",), np.int64)
    W, b = g.param("W", Wv), g.param("b", bv)
    logits = x @ W + b
    loss = -gc.mean(gc.take_along_axis(gc.log_softmax(logits, axis=1), lab[:, None], axis=1))
    outputs = [loss, *gc.grad(loss, [W, b, x])]

    tW, tb, tx = _t(Wv), _t(bv), _t(xv)
    tloss = torch.nn.functional.cross_entropy(tx @ tW + tb, torch.tensor(lv))
    _compare(outputs, {x: xv, lab: lv}, tloss, [tW, tb, tx])


def test_softmax_and_logsumexp_losses():
    rng = np.random.default_rng(12)
    xv, wv = rng.standard_normal((5, 4)), rng.standard_normal(4)
    g = gc.Graph("sm")
    x, w = g.input("x", ("B", 4)), g.param("w", wv)
    loss = gc.sum(gc.softmax(x * w, axis=0) ** 2) + gc.mean(gc.logsumexp(x, axis=1) * 0.5)
    outputs = [loss, *gc.grad(loss, [w, x])]
    tx, tw = _t(xv), _t(wv)
    tloss = torch.sum(torch.softmax(tx * tw, 0) ** 2) + torch.mean(torch.logsumexp(tx, 1) * 0.5)
    _compare(outputs, {x: xv}, tloss, [tw, tx])


@pytest.mark.parametrize("sa,sb", [((3, 2, 4), (4, 5)), ((2, 4), (3, 4, 1)),
                                   ((3, 1, 2, 4), (2, 4, 3)), ((4,), (3, 4, 2)),
                                   ((3, 2, 4), (4,))])
def test_batched_matmul(sa, sb):
    """Batch-broadcast matmul (including W @ x with x (B, k, 1) and 1-D promotion)."""
    rng = np.random.default_rng(len(sa) * 10 + len(sb))
    av, bv = rng.standard_normal(sa), rng.standard_normal(sb)
    g = gc.Graph("bmm")
    a = g.input("a", ("B",) + sa[1:]) if len(sa) == 3 else g.param("a", av)
    b = g.input("b", ("B",) + sb[1:]) if len(sb) == 3 and len(sa) != 3 else g.param("b", bv)
    loss = gc.sum(gc.tanh(a @ b) * 1.5)
    outputs = [loss, *gc.grad(loss, [a, b])]
    feed = {t: v for t, v in ((a, av), (b, bv)) if t.node.role == "input"}
    ta, tb = _t(av), _t(bv)
    tloss = torch.sum(torch.tanh(ta @ tb) * 1.5)
    _compare(outputs, feed, tloss, [ta, tb])


def test_second_order_matches_torch():
    """Gradient of a gradient norm (a Hessian-vector product) against torch.autograd.grad."""
    rng = np.random.default_rng(13)
    Wv, xv = rng.standard_normal((3, 4)), rng.standard_normal((5, 3))
    g = gc.Graph("hvp")
    x, W = g.input("x", ("B", 3)), g.param("W", Wv)
    loss = gc.sum(gc.log_softmax(gc.tanh(x @ W), axis=-1) ** 2)
    (gW,) = gc.grad(loss, [W])
    (hW,) = gc.grad(gc.sum(gW * gW), [W])
    got = gc.evaluate(hW, {x: xv})

    tW = _t(Wv)
    tl = torch.sum(torch.log_softmax(torch.tanh(torch.tensor(xv) @ tW), -1) ** 2)
    (tg,) = torch.autograd.grad(tl, tW, create_graph=True)
    (th,) = torch.autograd.grad(torch.sum(tg * tg), tW)
    np.testing.assert_allclose(got, th.numpy(), rtol=1e-10, atol=1e-12)


def test_stable_activations_and_logaddexp_match_torch_at_large_inputs():
    """softplus, log_sigmoid, logaddexp (broadcast) and sigmoid on inputs up to |x| = 800,
    where exp overflows: values and gradients against torch."""
    rng = np.random.default_rng(14)
    xv = np.concatenate([rng.standard_normal(8) * 3, [-800.0, -40.0, 40.0, 800.0]]).reshape(3, 4)
    yv = np.array([-700.0, 0.5, 30.0, 750.0])
    g = gc.Graph("stable")
    x, y = g.input("x", (3, 4)), g.input("y", (4,))
    w = np.linspace(0.5, 2.0, 12).reshape(3, 4)
    loss = gc.sum((gc.softplus(x) + gc.log_sigmoid(x) + gc.logaddexp(x, y) + gc.sigmoid(x)) * w)
    outputs = [loss, *gc.grad(loss, [x, y])]
    tx, ty = _t(xv), _t(yv)
    tf = torch.nn.functional
    tloss = torch.sum((tf.softplus(tx) + tf.logsigmoid(tx) + torch.logaddexp(tx, ty)
                       + torch.sigmoid(tx)) * torch.tensor(w))
    _compare(outputs, {x: xv, y: yv}, tloss, [tx, ty])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits_matches_torch(reduction):
    rng = np.random.default_rng(15)
    Wv = rng.standard_normal((3, 2))
    xv = rng.standard_normal((6, 3)) * 40  # logits far into both tails
    yv = rng.uniform(0, 1, (6, 2))
    yv[:2] = [[0.0, 1.0], [1.0, 0.0]]
    g = gc.Graph("bce")
    x, y, W = g.input("x", ("B", 3)), g.input("y", ("B", 2)), g.param("W", Wv)
    loss = gc.nn.binary_cross_entropy_with_logits(x @ W, y, reduction=reduction)
    seed = np.linspace(0.5, 1.5, 12).reshape(6, 2)
    u = g.input("u", ("B", 2))
    scalar = loss if reduction != "none" else gc.sum(loss * u)
    outputs = [scalar, *gc.grad(scalar, [W, x, y])]
    feed = {x: xv, y: yv} if reduction != "none" else {x: xv, y: yv, u: seed}
    tW, tx, ty = _t(Wv), _t(xv), _t(yv)
    tl = torch.nn.functional.binary_cross_entropy_with_logits(tx @ tW, ty, reduction=reduction)
    if reduction == "none":
        tl = torch.sum(tl * torch.tensor(seed))
    _compare(outputs, feed, tl, [tW, tx, ty])
