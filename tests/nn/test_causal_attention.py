"""A causal self-attention block with a symbolic sequence length T, its mask built with
``gc.tril``, against torch forward and backward at T = 3 and T = 11 from one compiled
Function."""

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")

D, H = 8, 2  # model width, heads


def build(seed: int = 0):
    rng = np.random.default_rng(seed)
    g = gc.Graph("attention")
    x = g.input("x", ("B", "T", D))
    W = {k: g.param(k, rng.standard_normal((D, D)) / np.sqrt(D)) for k in ("Wq", "Wk", "Wv",
                                                                          "Wo")}
    T = x.shape[1]
    hd = D // H

    def heads(t):  # (B, T, D) -> (B, H, T, hd)
        return gc.transpose(gc.reshape(t, (x.shape[0], T, H, hd)), (0, 2, 1, 3))

    q, k, v = (heads(x @ W[n]) for n in ("Wq", "Wk", "Wv"))
    scores = (q @ gc.swapaxes(k, -1, -2)) / np.sqrt(hd)  # (B, H, T, T)
    mask = gc.tril(g.ones((T, T), bool))  # causal: position t sees 0..t
    att = gc.softmax(gc.where(mask, scores, -np.inf), axis=-1)
    out = gc.reshape(gc.transpose(att @ v, (0, 2, 1, 3)), (x.shape[0], T, D)) @ W["Wo"]
    assert out.shape == ("B", "T", D) and mask.shape == ("T", "T")
    return g, x, W, out


def torch_attention(X, P):
    x = torch.tensor(X, requires_grad=True)
    Wt = {k: torch.tensor(v, requires_grad=True) for k, v in P.items()}
    B, T, _ = X.shape

    def heads(t):
        return t.reshape(B, T, H, D // H).transpose(1, 2)

    q, k, v = (heads(x @ Wt[n]) for n in ("Wq", "Wk", "Wv"))
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    out = o.transpose(1, 2).reshape(B, T, D) @ Wt["Wo"]
    return x, Wt, out


def test_matches_torch_forward_and_backward_at_two_lengths_from_one_function():
    g, x, W, out = build()
    u = g.input("u", ("B", "T", D))  # the upstream gradient: loss = sum(out * u)
    loss = gc.sum(out * u)
    names = list(W)
    grads = gc.grad(loss, [x, *W.values()])
    f = gc.compile([out, *grads], inputs=[x, u])
    source = f.source
    assert "tril" in source
    rng = np.random.default_rng(1)
    for b, t in ((2, 3), (3, 11), (1, 1)):
        X, U = rng.standard_normal((b, t, D)), rng.standard_normal((b, t, D))
        got_out, gx, *gw = f(X, U)
        xt, Wt, ref = torch_attention(X, {k: g.params[k] for k in names})
        (ref * torch.tensor(U)).sum().backward()
        np.testing.assert_allclose(got_out, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        for k, gv in zip(names, gw):
            np.testing.assert_allclose(gv, Wt[k].grad.numpy(), rtol=1e-9, atol=1e-12)
    assert f.source == source  # one Function for every T


def test_gradients_check_against_finite_differences():
    g, x, W, out = build(seed=2)
    loss = gc.sum(gc.tanh(out) ** 2)
    rng = np.random.default_rng(3)
    for t in (3, 5):
        gc.check_grad(loss, [x, *W.values()], {x: rng.standard_normal((2, t, D))})
