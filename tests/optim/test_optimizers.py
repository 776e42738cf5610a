"""gc.optim: each step equals a hand-written numpy one (and torch's, where installed)."""

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")

RNG = np.random.default_rng(0)
X = RNG.normal(size=(6, 3))
Y = RNG.normal(size=(6, 2))
W0 = RNG.normal(size=(3, 2))
B0 = RNG.normal(size=(2,))


def _problem():
    """loss = mean((x @ W + b - y)^2) over a fixed batch."""
    g = gc.Graph("opt")
    x, y = g.input("x", ("B", 3)), g.input("y", ("B", 2))
    W, b = g.param("W", W0), g.param("b", B0)
    return g, x, y, W, b, gc.mean((x @ W + b - y) ** 2)


def _grads(W, b):
    r = 2 * (X @ W + b - Y) / Y.size
    return X.T @ r, r.sum(axis=0)


def _run(opt, steps=3):
    g, x, y, W, b, loss = _problem()
    step = gc.compile(loss, updates=opt.updates(loss))
    out = []
    for _ in range(steps):
        step(X, Y)
        out.append((g.params["W"].copy(), g.params["b"].copy()))
    return out


def _numpy_sgd(lr, mu=0.0, nesterov=False, steps=3):
    ps, vs, out = [W0.copy(), B0.copy()], [0.0, 0.0], []
    for _ in range(steps):
        gs = _grads(*ps)
        for i, gr in enumerate(gs):
            vs[i] = mu * vs[i] + gr
            d = gr + mu * vs[i] if nesterov else (vs[i] if mu else gr)
            ps[i] = ps[i] - lr * d
        out.append(tuple(p.copy() for p in ps))
    return out


def _numpy_adam(lr, b1, b2, eps, steps=3):
    ps, ms, vs, out = [W0.copy(), B0.copy()], [0.0, 0.0], [0.0, 0.0], []
    for t in range(1, steps + 1):
        gs = _grads(*ps)
        for i, gr in enumerate(gs):
            ms[i] = b1 * ms[i] + (1 - b1) * gr
            vs[i] = b2 * vs[i] + (1 - b2) * gr**2
            mhat, vhat = ms[i] / (1 - b1**t), vs[i] / (1 - b2**t)
            ps[i] = ps[i] - lr * mhat / (np.sqrt(vhat) + eps)
        out.append(tuple(p.copy() for p in ps))
    return out


def _assert_steps(got, want):
    for k, ((gw, gb), (ww, wb)) in enumerate(zip(got, want, strict=True)):
        np.testing.assert_allclose(gw, ww, rtol=1e-12, atol=1e-15, err_msg=f"W after step {k+1}")
        np.testing.assert_allclose(gb, wb, rtol=1e-12, atol=1e-15, err_msg=f"b after step {k+1}")


@pytest.mark.parametrize("mu,nesterov", [(0.0, False), (0.9, False), (0.8, True)])
def test_sgd_equals_numpy(mu, nesterov):
    _assert_steps(_run(gc.optim.SGD(0.1, momentum=mu, nesterov=nesterov)),
                  _numpy_sgd(0.1, mu, nesterov))


def test_adam_equals_numpy_with_bias_correction():
    # eps large enough to matter, betas far from the defaults so a missed correction shows
    _assert_steps(_run(gc.optim.Adam(0.05, betas=(0.7, 0.9), eps=1e-3)),
                  _numpy_adam(0.05, 0.7, 0.9, 1e-3))
    # the first bias-corrected Adam step moves every coordinate by ~lr * sign(grad)
    (w1, _), = _run(gc.optim.Adam(0.01), steps=1)
    np.testing.assert_allclose(W0 - w1, 0.01 * np.sign(_grads(W0, B0)[0]), rtol=1e-5)


def test_the_step_returns_the_loss_before_the_update():
    g, x, y, W, b, loss = _problem()
    step = gc.compile(loss, updates=gc.optim.SGD(0.1).updates(loss))
    assert step(X, Y) == pytest.approx(np.mean((X @ W0 + B0 - Y) ** 2))
    assert not np.array_equal(g.params["W"], W0)


def _torch_steps(make, steps=3):
    torch = pytest.importorskip("torch")
    W = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt, out = make(torch, [W, b]), []
    for _ in range(steps):
        opt.zero_grad()
        torch.mean((torch.tensor(X) @ W + b - torch.tensor(Y)) ** 2).backward()
        opt.step()
        out.append((W.detach().numpy().copy(), b.detach().numpy().copy()))
    return out


def test_against_torch():
    _assert_steps(_run(gc.optim.SGD(0.1, momentum=0.9, nesterov=True)),
                  _torch_steps(lambda t, p: t.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True)))
    _assert_steps(_run(gc.optim.Adam(0.05, betas=(0.8, 0.95), eps=1e-6)),
                  _torch_steps(lambda t, p: t.optim.Adam(p, lr=0.05, betas=(0.8, 0.95),
                                                         eps=1e-6)))


def test_state_is_non_trainable_params_under_the_optimiser_scope():
    g, x, y, W, b, loss = _problem()
    opt = gc.optim.Adam(0.01)
    ups = opt.updates(loss)
    assert g.trainable == [W, b]
    assert [p.name for p in opt.state_params()] == [
        "adam/lr", "adam/t", "adam/m/W", "adam/v/W", "adam/m/b", "adam/v/b"]
    assert set(ups) == {W, b, *opt.state_params()[1:]}
    sgd = gc.optim.SGD(0.1, momentum=0.5)
    sgd.updates(loss)
    assert [p.name for p in sgd.state_params()] == ["sgd/lr", "sgd/v/W", "sgd/v/b"]
    # a second optimiser of the same kind in the graph gets its own scope
    assert gc.optim.Adam(0.1).updates(loss) and "adam_1/lr" in g.params


def test_params_subset_and_given_grads():
    g, x, y, W, b, loss = _problem()
    ups = gc.optim.SGD(0.1).updates(loss, [b])
    assert set(ups) == {b}
    (gW,) = gc.grad(loss, [W])
    ups = gc.optim.SGD(0.1).updates(loss, [W], grads=[gW])
    gc.compile(loss, updates=ups)(X, Y)
    np.testing.assert_allclose(g.params["W"], W0 - 0.1 * _grads(W0, B0)[0], rtol=1e-12)


def test_float32_params_stay_float32():
    g = gc.Graph("f32")
    w = g.param("w", np.ones(3, np.float32))
    loss = gc.sum(w * w)
    for opt in (gc.optim.SGD(0.1, momentum=0.9), gc.optim.Adam(0.1)):
        ups = opt.updates(loss)
        assert ups[w].dtype == np.float32
        gc.compile(loss, updates=ups)()
    assert g.params["w"].dtype == np.float32


def test_optimiser_errors():
    g, x, y, W, b, loss = _problem()
    with pytest.raises(ValueError, match="nesterov=True needs a momentum"):
        gc.optim.SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="momentum must be in"):
        gc.optim.SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="betas"):
        gc.optim.Adam(0.1, betas=(1.0, 0.9))
    opt = gc.optim.Adam(0.1)
    with pytest.raises(RuntimeError, match="call updates"):
        _ = opt.lr_tensor
    opt.updates(loss)
    g2, *_, loss2 = _problem()
    with pytest.raises(ValueError, match="bound to graph"):
        opt.updates(loss2)
    state = g.param_tensors["adam/lr"]
    with pytest.raises(ValueError, match="not trainable"):
        gc.optim.SGD(0.1).updates(loss, [state])
    with pytest.raises(ValueError, match="2 grads for 1 params"):
        gc.optim.SGD(0.1).updates(loss, [W], grads=gc.grad(loss, [W, b]))


# ------------------------------- trajectories against torch, optimisers together, failed calls
def _mlp_problem():
    """A tanh MLP 3 -> 5 -> 2 with MSE: nonlinear, so a wrong rule shows within a few steps."""
    g = gc.Graph("mlp")
    x, y = g.input("x", ("B", 3)), g.input("y", ("B", 2))
    model = gc.nn.MLP([3, 5, 2], rng=3)
    return g, x, y, model, gc.nn.mse_loss(model(x), y)


def _torch_mlp_trajectory(make, values, lrs):
    torch = pytest.importorskip("torch")
    ps = [torch.tensor(values[k], requires_grad=True)
          for k in ("mlp/0/W", "mlp/0/b", "mlp/1/W", "mlp/1/b")]
    opt, out = make(torch, ps), []
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        h = torch.tanh(torch.tensor(X) @ ps[0] + ps[1])
        torch.mean((h @ ps[2] + ps[3] - torch.tensor(Y)) ** 2).backward()
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out


@pytest.mark.parametrize("name,ours,theirs", [
    ("sgd", lambda: gc.optim.SGD(0.3), lambda t, p: t.optim.SGD(p, lr=0.3)),
    ("momentum", lambda: gc.optim.SGD(0.3, momentum=0.9),
     lambda t, p: t.optim.SGD(p, lr=0.3, momentum=0.9)),
    ("nesterov", lambda: gc.optim.SGD(0.3, momentum=0.7, nesterov=True),
     lambda t, p: t.optim.SGD(p, lr=0.3, momentum=0.7, nesterov=True)),
    ("adam", lambda: gc.optim.Adam(0.05, betas=(0.8, 0.99), eps=1e-7),
     lambda t, p: t.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-7)),
])
def test_mlp_trajectory_equals_torch_with_an_lr_change(name, ours, theirs):
    """Five steps of an MLP from the same init, the lr changed after step 2, to 1e-10."""
    g, x, y, model, loss = _mlp_problem()
    init = {k: v.copy() for k, v in g.params.items()}
    opt = ours()
    lrs = [opt.lr] * 2 + [opt.lr / 3] * 3
    step = gc.compile(loss, updates=opt.updates(loss))
    got = []
    for lr in lrs:
        opt.lr = lr
        step(X, Y)
        got.append([g.params[k].copy() for k in model.named_parameters()])
    want = _torch_mlp_trajectory(theirs, init, lrs)
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        for pa, pb in zip(a, b, strict=True):
            np.testing.assert_allclose(pa, pb, rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name}: after step {k + 1}")


def test_two_optimisers_on_disjoint_params_in_one_step():
    g, x, y, W, b, loss = _problem()
    sgd, adam = gc.optim.SGD(0.1), gc.optim.Adam(0.05, betas=(0.7, 0.9), eps=1e-3)
    step = gc.compile(loss, updates={**sgd.updates(loss, [W]), **adam.updates(loss, [b])})
    step(X, Y)
    gW, gb = _grads(W0, B0)
    np.testing.assert_allclose(g.params["W"], W0 - 0.1 * gW, rtol=1e-12)
    np.testing.assert_allclose(g.params["b"], _numpy_adam(0.05, 0.7, 0.9, 1e-3, steps=1)[0][1],
                               rtol=1e-12)


def test_a_failed_updates_call_binds_nothing():
    g, x, y, W, b, loss = _problem()
    opt = gc.optim.SGD(0.1, momentum=0.9)
    frozen = g.param("frozen", 1.0, trainable=False)
    n_params = list(g.params)
    with pytest.raises(ValueError, match=r"params\[1\] \('frozen'\) is not trainable"):
        opt.updates(loss, [W, frozen])
    with pytest.raises(TypeError, match="list of param Tensors"):
        opt.updates(loss, W)
    with pytest.raises(ValueError, match="lists a param twice"):
        opt.updates(loss, [W, W])
    assert opt.graph is None and list(g.params) == n_params
    g2, *_, loss2 = _problem()
    opt.updates(loss2)                       # still free to bind to another graph
    assert opt.graph is g2


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_check_finite_outputs_guards_the_commit():
    """compile(check_finite="outputs"): a non-finite loss raises before any update commits."""
    g, x, y, W, b, loss = _problem()
    opt = gc.optim.Adam(0.1)
    step = gc.compile(loss, updates=opt.updates(loss), check_finite="outputs")
    step(X, Y)
    before = {k: v.copy() for k, v in g.params.items()}
    bad = X.copy()
    bad[2, 1] = np.inf
    with pytest.raises(gc.NonFiniteError) as e:
        step(bad, Y)
    assert np.isinf(e.value.value) or np.isnan(e.value.value)
    assert all(np.array_equal(g.params[k], before[k]) for k in before)   # Adam's t and m too
    step(X, Y)                                                          # and it goes on
    assert float(g.params["adam/t"]) == 2
    with pytest.raises(ValueError, match="check_finite must be"):
        gc.compile(loss, check_finite="all")
