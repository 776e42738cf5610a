"""Conv and pooling layers with torch's layouts: weights copied from torch give torch's outputs
and gradients (float64), the batch and spatial sizes symbolic, bound to several values through
one compiled Function."""

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")


def _check(make_g, make_t, in_shape, sizes):
    g = gc.Graph()
    x = g.input("x", in_shape)
    layer = make_g()
    y = layer(x)
    tmod = make_t().double()
    with torch.no_grad():
        for p in tmod.parameters():
            p.uniform_(-0.5, 0.5)
    for name, p in tmod.named_parameters():
        g.params[f"{layer.scope}/{name}"][...] = p.detach().numpy()
    u = g.input("u", y.shape)
    params = [g[k] for k in g.params if k.startswith(layer.scope + "/")]
    grads = gc.grad(gc.sum(y * u), [x, *params])
    f = gc.compile([y, *grads], inputs=[x, u])
    rng = np.random.default_rng(0)
    for shape in sizes:
        X = rng.standard_normal(shape)
        xt = torch.tensor(X, requires_grad=True)
        ref = tmod(xt)
        U = rng.standard_normal(tuple(ref.shape))
        (ref * torch.tensor(U)).sum().backward()
        got, gx, *gp = f(X, U)
        np.testing.assert_allclose(got, ref.detach().numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-9, atol=1e-12)
        tg = dict(tmod.named_parameters())
        for p, gv in zip(params, gp):
            np.testing.assert_allclose(gv, tg[p.name.rsplit("/", 1)[1]].grad.numpy(),
                                       rtol=1e-9, atol=1e-11)
        tmod.zero_grad()


@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=1), dict(padding="same"),
                                dict(dilation=2, groups=2, bias=False)])
def test_conv2d(kw):
    _check(lambda: gc.nn.Conv2d(4, 6, 3, **kw), lambda: torch.nn.Conv2d(4, 6, 3, **kw),
           ("N", 4, "H", "W"), [(2, 4, 7, 9), (1, 4, 5, 5)])


def test_conv1d_and_3d():
    _check(lambda: gc.nn.Conv1d(3, 5, 3, stride=2), lambda: torch.nn.Conv1d(3, 5, 3, stride=2),
           ("N", 3, "L"), [(2, 3, 9), (3, 3, 4)])
    _check(lambda: gc.nn.Conv3d(2, 3, 2), lambda: torch.nn.Conv3d(2, 3, 2),
           ("N", 2, 4, 4, 3), [(2, 2, 4, 4, 3)])


def test_conv_transpose2d():
    _check(lambda: gc.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
           lambda: torch.nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1),
           ("N", 4, "H", "W"), [(2, 4, 3, 5), (1, 4, 4, 4)])


@pytest.mark.parametrize("make_g, make_t", [
    (lambda: gc.nn.MaxPool2d(2), lambda: torch.nn.MaxPool2d(2)),
    (lambda: gc.nn.MaxPool2d(3, 2, 1, ceil_mode=True),
     lambda: torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
    (lambda: gc.nn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2)),
    (lambda: gc.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
     lambda: torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
    (lambda: gc.nn.Flatten(), lambda: torch.nn.Flatten()),
])
def test_pooling_and_flatten(make_g, make_t):
    _check(make_g, make_t, ("N", 3, "H", "W"), [(2, 3, 6, 6), (1, 3, 7, 5)])


def test_layer_init_matches_torch_bounds_and_errors():
    g = gc.Graph()
    x = g.input("x", ("N", 4, 8, 8))
    c = gc.nn.Conv2d(4, 6, 3, rng=0)
    y = c(x)
    assert y.shape == ("N", 6, 6, 6)
    w = g.params[f"{c.scope}/weight"]
    assert w.shape == (6, 4, 3, 3) and np.abs(w).max() <= 1 / np.sqrt(36)
    with pytest.raises(gc.ShapeError, match=r"expects inputs \(N, 3, L, L\)"):
        gc.nn.Conv2d(3, 6, 3)(x)
    with pytest.raises(ValueError, match="groups 4 must divide"):
        gc.nn.Conv2d(6, 6, 3, groups=4)
    f = gc.nn.Flatten()(x)
    assert f.shape == ("N", 256)
