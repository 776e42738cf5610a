"""Layers with torch's parameter layout: weights copied from torch give torch's outputs and
gradients (float64), with symbolic batch and sequence dims bound to several values through
one compiled Function."""

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")


def _copy(g: gc.Graph, scope: str, tmod) -> None:
    """torch's parameters into the graph's, by name (``weight`` -> ``<scope>/weight``)."""
    for name, p in tmod.named_parameters():
        key = f"{scope}/{name.replace('.', '_')}"
        assert g.params[key].shape == tuple(p.shape), key
        g.params[key][...] = p.detach().numpy()


def _compare(g, x, y, tmod, scope, shapes, extra_inputs=()):
    """Forward, the input's gradient and every param's gradient against torch."""
    u = g.input("u", y.shape)
    loss = gc.sum(y * u)
    params = [g[k] for k in g.params if k.startswith(scope + "/")]
    grads = gc.grad(loss, [x, *params])
    f = gc.compile([y, *grads], inputs=[x, u, *extra_inputs])
    source = f.source
    rng = np.random.default_rng(0)
    for shape in shapes:
        X = rng.standard_normal(shape)
        xt = torch.tensor(X, requires_grad=True)
        ref = tmod(xt)
        ref = ref[0] if isinstance(ref, tuple) else ref
        U = rng.standard_normal(tuple(ref.shape))
        (ref * torch.tensor(U)).sum().backward()
        got, gx, *gp = f(X, U)
        np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        tgrads = {f"{scope}/{n.replace('.', '_')}": p.grad for n, p in tmod.named_parameters()}
        for p, gv in zip(params, gp):
            np.testing.assert_allclose(gv, tgrads[p.name].numpy(), rtol=1e-9, atol=1e-11,
                                       err_msg=p.name)
        tmod.zero_grad()
    assert f.source == source


@pytest.mark.parametrize("shape, affine, bias", [((6,), True, True), ((3, 4), True, False),
                                                  ((5,), False, False)])
def test_layer_norm_matches_torch(shape, affine, bias):
    torch.manual_seed(0)
    tmod = torch.nn.LayerNorm(shape, elementwise_affine=affine, bias=bias, dtype=torch.float64)
    if affine:
        with torch.no_grad():
            for p in tmod.parameters():
                p.uniform_(-1, 2)
    g = gc.Graph()
    x = g.input("x", ("B", "T", *shape))
    ln = gc.nn.LayerNorm(shape, elementwise_affine=affine, bias=bias)
    y = ln(x)
    _copy(g, ln.scope, tmod)
    _compare(g, x, y, tmod, ln.scope, [(2, 3, *shape), (1, 5, *shape)])


@pytest.mark.parametrize("eps", [None, 1e-3])
def test_rms_norm_matches_torch(eps):
    torch.manual_seed(1)
    tmod = torch.nn.RMSNorm(8, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        tmod.weight.uniform_(0.5, 2)
    g = gc.Graph()
    x = g.input("x", ("B", 8))
    rms = gc.nn.RMSNorm(8, eps=eps)
    y = rms(x)
    _copy(g, rms.scope, tmod)
    _compare(g, x, y, tmod, rms.scope, [(3, 8), (1, 8)])


@pytest.mark.parametrize("causal, bias", [(False, True), (True, True), (True, False)])
def test_multi_head_attention_matches_torch(causal, bias):
    torch.manual_seed(2)
    E, H = 8, 2
    tmha = torch.nn.MultiheadAttention(E, H, bias=bias, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        for p in tmha.parameters():
            p.uniform_(-0.5, 0.5)

    class Self(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = tmha

        def forward(self, x):
            T = x.shape[1]
            mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1) if causal else None
            return self.m(x, x, x, attn_mask=mask, need_weights=False)[0]

    tmod = Self()
    g = gc.Graph()
    x = g.input("x", ("B", "T", E))
    mha = gc.nn.MultiHeadAttention(E, H, bias=bias, causal=causal)
    y = mha(x)
    assert y.shape == ("B", "T", E)
    for name, p in tmha.named_parameters():
        g.params[f"{mha.scope}/{name.replace('.', '_')}"][...] = p.detach().numpy()

    class Renamed(torch.nn.Module):  # named_parameters as graphc names them
        def __init__(self):
            super().__init__()
            self.inner = tmod

        def named_parameters(self, *a, **k):
            return [(n.removeprefix("m."), p) for n, p in tmod.named_parameters()]

        def forward(self, x):
            return tmod(x)

        def zero_grad(self, *a, **k):
            tmod.zero_grad()

    _compare(g, x, y, Renamed(), mha.scope, [(2, 3, E), (1, 7, E), (3, 1, E)])


def test_layer_errors_are_clear():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    with pytest.raises(gc.ShapeError, match=r"LayerNorm\(5,\) expects inputs \(\.\.\., 5\)"):
        gc.nn.LayerNorm(5)(x)
    with pytest.raises(ValueError, match="normalized_shape"):
        gc.nn.LayerNorm(0)
    with pytest.raises(ValueError, match="not divisible"):
        gc.nn.MultiHeadAttention(6, 4)
    with pytest.raises(gc.ShapeError, match=r"query must be \(B, T, 4\)"):
        gc.nn.MultiHeadAttention(4, 2)(x)
    assert len(g) == 1  # nothing was left behind
