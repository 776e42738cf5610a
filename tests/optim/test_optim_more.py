"""AdamW, RMSprop, weight decay on SGD and Adam, gradient clipping and learning-rate schedules:
step by step equal to torch.optim (float64, 1e-12), schedules without recompiling."""

import math

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")

RNG = np.random.default_rng(7)
X = RNG.normal(size=(8, 3))
Y = RNG.normal(size=(8, 2))
NAMES = ("mlp/0/W", "mlp/0/b", "mlp/1/W", "mlp/1/b")


def _mlp_problem():
    """A tanh MLP 3 -> 5 -> 2 with MSE: nonlinear, so a wrong rule shows within a few steps."""
    g = gc.Graph("mlp")
    x, y = g.input("x", ("B", 3)), g.input("y", ("B", 2))
    model = gc.nn.MLP([3, 5, 2], rng=3)
    return g, x, y, model, gc.nn.mse_loss(model(x), y)


def _torch_trajectory(make, init, lrs, clip=None):
    """torch's params after each step from ``init``, the lr set to ``lrs[k]`` before step k;
    ``clip``: (max_norm, norm_type) for clip_grad_norm_ before each step."""
    torch = pytest.importorskip("torch")
    ps = [torch.tensor(init[k], requires_grad=True) for k in NAMES]
    opt, out = make(torch, ps), []
    for lr in lrs:
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad()
        h = torch.tanh(torch.tensor(X) @ ps[0] + ps[1])
        torch.mean((h @ ps[2] + ps[3] - torch.tensor(Y)) ** 2).backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(ps, *clip)
        opt.step()
        out.append([p.detach().numpy().copy() for p in ps])
    return out


def _our_trajectory(opt, lrs):
    g, x, y, model, loss = _mlp_problem()
    init = {k: g.params[k].copy() for k in NAMES}
    step = gc.compile(loss, updates=opt.updates(loss))
    out = []
    for lr in lrs:
        opt.lr = lr
        step(X, Y)
        out.append([g.params[k].copy() for k in NAMES])
    return init, out


def _assert_trajectories(got, want, what, rtol=1e-12):
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        for name, pa, pb in zip(NAMES, a, b, strict=True):
            np.testing.assert_allclose(pa, pb, rtol=rtol, atol=1e-14,
                                       err_msg=f"{what}: {name} after step {k + 1}")


CASES = [
    ("sgd wd", lambda: gc.optim.SGD(0.3, weight_decay=0.1),
     lambda t, p: t.optim.SGD(p, lr=0.3, weight_decay=0.1)),
    ("sgd momentum wd", lambda: gc.optim.SGD(0.3, momentum=0.9, weight_decay=0.05),
     lambda t, p: t.optim.SGD(p, lr=0.3, momentum=0.9, weight_decay=0.05)),
    ("nesterov wd", lambda: gc.optim.SGD(0.2, momentum=0.7, nesterov=True, weight_decay=0.2),
     lambda t, p: t.optim.SGD(p, lr=0.2, momentum=0.7, nesterov=True, weight_decay=0.2)),
    ("adam wd", lambda: gc.optim.Adam(0.05, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.1),
     lambda t, p: t.optim.Adam(p, lr=0.05, betas=(0.8, 0.99), eps=1e-7, weight_decay=0.1)),
    ("adamw defaults", lambda: gc.optim.AdamW(0.05),
     lambda t, p: t.optim.AdamW(p, lr=0.05)),
    ("adamw", lambda: gc.optim.AdamW(0.05, betas=(0.7, 0.95), eps=1e-3, weight_decay=0.3),
     lambda t, p: t.optim.AdamW(p, lr=0.05, betas=(0.7, 0.95), eps=1e-3, weight_decay=0.3)),
    ("rmsprop defaults", lambda: gc.optim.RMSprop(),
     lambda t, p: t.optim.RMSprop(p)),
    ("rmsprop", lambda: gc.optim.RMSprop(0.02, alpha=0.9, eps=1e-4, weight_decay=0.1),
     lambda t, p: t.optim.RMSprop(p, lr=0.02, alpha=0.9, eps=1e-4, weight_decay=0.1)),
    ("rmsprop centered", lambda: gc.optim.RMSprop(0.01, alpha=0.8, centered=True),
     lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.8, centered=True)),
    ("rmsprop momentum", lambda: gc.optim.RMSprop(0.01, momentum=0.9),
     lambda t, p: t.optim.RMSprop(p, lr=0.01, momentum=0.9)),
    ("rmsprop everything", lambda: gc.optim.RMSprop(0.01, alpha=0.95, eps=1e-6,
                                                    weight_decay=0.05, momentum=0.5,
                                                    centered=True),
     lambda t, p: t.optim.RMSprop(p, lr=0.01, alpha=0.95, eps=1e-6, weight_decay=0.05,
                                  momentum=0.5, centered=True)),
]


@pytest.mark.parametrize("name,ours,theirs", CASES, ids=[c[0] for c in CASES])
def test_trajectory_equals_torch_with_an_lr_change(name, ours, theirs):
    """Six steps of an MLP from the same init, the lr changed after step 3, to 1e-12."""
    opt = ours()
    lrs = [opt.lr] * 3 + [opt.lr / 3] * 3
    init, got = _our_trajectory(opt, lrs)
    _assert_trajectories(got, _torch_trajectory(theirs, init, lrs), name)


@pytest.mark.parametrize("max_norm,norm_type", [(0.05, 2.0), (0.3, 1.0), (0.02, math.inf),
                                                (0.1, 3.0), (1e3, 2.0)])
@pytest.mark.parametrize("kind", ["sgd", "adamw"])
def test_clip_norm_trajectory_equals_torch_clip_grad_norm(kind, max_norm, norm_type):
    """clip_norm= (L2) and clip_grad_norm (any norm) before the step, as torch's
    clip_grad_norm_ followed by opt.step(); 1e3 never clips."""
    lrs = [0.1] * 3 + [0.05] * 2
    if kind == "sgd":
        def theirs(t, p):
            return t.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=0.1)
        make = lambda **kw: gc.optim.SGD(0.1, momentum=0.9, weight_decay=0.1, **kw)  # noqa: E731
    else:
        def theirs(t, p):
            return t.optim.AdamW(p, lr=0.1)
        make = lambda **kw: gc.optim.AdamW(0.1, **kw)  # noqa: E731
    if norm_type == 2.0:
        opt = make(clip_norm=max_norm)
        init, got = _our_trajectory(opt, lrs)
    else:  # other norms: clip the grads by hand and pass them to updates
        g, x, y, model, loss = _mlp_problem()
        init = {k: g.params[k].copy() for k in NAMES}
        ps = [g.param_tensors[k] for k in NAMES]
        clipped, total = gc.optim.clip_grad_norm(gc.grad(loss, ps), max_norm, norm_type)
        opt = make()
        step = gc.compile(loss, updates=opt.updates(loss, ps, grads=clipped))
        got = []
        for lr in lrs:
            opt.lr = lr
            step(X, Y)
            got.append([g.params[k].copy() for k in NAMES])
    want = _torch_trajectory(theirs, init, lrs, clip=(max_norm, norm_type))
    _assert_trajectories(got, want, f"{kind} clip {max_norm} {norm_type}")


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 0.5, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.0, 0.5, 2.0, 100.0])
def test_clip_grad_norm_equals_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=(3, 4)), rng.normal(size=(5,)), np.array(0.7)]
    g = gc.Graph("clip")
    ts = [g.input(f"g{k}", a.shape) for k, a in enumerate(arrays)]
    clipped, total = gc.optim.clip_grad_norm(ts, max_norm, norm_type=norm_type)
    out = gc.compile([*clipped, total], ts)(*arrays)
    tt = [torch.tensor(a, requires_grad=True) for a in arrays]
    for t, a in zip(tt, arrays):
        t.grad = torch.tensor(a).clone()
    want_total = torch.nn.utils.clip_grad_norm_(tt, max_norm, norm_type=norm_type)
    assert out[-1] == pytest.approx(float(want_total), rel=1e-13)
    for k, t in enumerate(tt):
        np.testing.assert_allclose(out[k], t.grad.numpy(), rtol=1e-13, atol=1e-300)


def test_clip_grad_norm_keeps_float32_and_promotes_mixed_dtypes():
    g = gc.Graph("clip")
    a = g.input("a", (3,), np.float32)
    b = g.input("b", (2,), np.float64)
    (ca,), total = gc.optim.clip_grad_norm([a], 1.0)
    assert ca.dtype == np.float32 and total.dtype == np.float32
    (ca, cb), total = gc.optim.clip_grad_norm([a, b], 1.0)
    assert (ca.dtype, cb.dtype, total.dtype) == (np.float32, np.float64, np.float64)
    va, vb = np.array([3.0, 0, 0], np.float32), np.array([0.0, 4.0])
    ra, rb, rt = gc.compile([ca, cb, total])(va, vb)
    assert rt == pytest.approx(5.0)
    np.testing.assert_allclose(ra, va / (5 + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(rb, vb / (5 + 1e-6), rtol=1e-15)


def test_clip_norm_also_clips_given_grads_and_reaches_the_update():
    g, x, y, model, loss = _mlp_problem()
    ps = [g.param_tensors[k] for k in NAMES]
    init = {k: g.params[k].copy() for k in NAMES}
    grads = gc.grad(loss, ps)
    f = gc.compile([*grads], [x, y])
    raw = f(X, Y)
    norm = math.sqrt(sum(float(np.sum(r * r)) for r in raw))
    max_norm = norm / 4
    step = gc.compile(loss, updates=gc.optim.SGD(1.0, clip_norm=max_norm).updates(
        loss, ps, grads=grads))
    step(X, Y)
    for k, r in zip(NAMES, raw):
        np.testing.assert_allclose(init[k] - g.params[k], r * max_norm / (norm + 1e-6),
                                   rtol=1e-12, atol=1e-16)


def test_state_names_of_the_new_optimisers():
    g, x, y, model, loss = _mlp_problem()
    adamw = gc.optim.AdamW(clip_norm=1.0)
    adamw.updates(loss, [model.layers[0].W])
    assert [p.name for p in adamw.state_params()] == [
        "adamw/lr", "adamw/t", "adamw/m/mlp/0/W", "adamw/v/mlp/0/W"]
    rms = gc.optim.RMSprop(momentum=0.5, centered=True)
    rms.updates(loss, [model.layers[0].b])
    assert [p.name for p in rms.state_params()] == [
        "rmsprop/lr", "rmsprop/square_avg/mlp/0/b", "rmsprop/grad_avg/mlp/0/b",
        "rmsprop/momentum_buffer/mlp/0/b"]
    plain = gc.optim.RMSprop()
    plain.updates(loss, [model.layers[1].b])
    assert [p.name for p in plain.state_params()] == [
        "rmsprop_1/lr", "rmsprop_1/square_avg/mlp/1/b"]
    assert all(not p.node.attr["trainable"] for p in rms.state_params())
    assert "weight_decay=0.01" in repr(adamw) and "clip_norm=1" in repr(adamw)
    assert "centered" in repr(rms) and "momentum=0.5" in repr(rms)


def test_float32_params_stay_float32():
    g = gc.Graph("f32")
    w = g.param("w", np.ones(3, np.float32))
    loss = gc.sum(w * w)
    opts = [gc.optim.SGD(0.1, momentum=0.9, weight_decay=0.1, clip_norm=1.0),
            gc.optim.Adam(0.1, weight_decay=0.1), gc.optim.AdamW(0.1, clip_norm=0.5),
            gc.optim.RMSprop(0.1, momentum=0.5, centered=True, weight_decay=0.1)]
    for opt in opts:
        ups = opt.updates(loss)
        assert all(v.dtype == np.float32 for v in ups.values() if v.ndim)
        gc.compile(loss, updates=ups)()
    assert g.params["w"].dtype == np.float32 and np.all(np.isfinite(g.params["w"]))


def test_adamw_decay_follows_the_lr_and_is_not_in_the_moments():
    """A param with zero gradient only shrinks: p * (1 - lr wd) per step, m and v stay 0."""
    g = gc.Graph("decay")
    g.param("w", np.array([2.0, -1.0]))  # the loss does not use it: its gradient is 0
    u = g.param("u", np.array([1.0]))
    loss = gc.sum(u * u)
    opt = gc.optim.AdamW(0.1, weight_decay=0.5)
    step = gc.compile(loss, updates=opt.updates(loss))
    step()
    np.testing.assert_allclose(g.params["w"], [2.0 * 0.95, -0.95], rtol=1e-15)
    opt.lr = 0.2
    step()
    np.testing.assert_allclose(g.params["w"], [2.0 * 0.95 * 0.9, -0.95 * 0.9], rtol=1e-15)
    assert not np.any(g.params["adamw/m/w"]) and not np.any(g.params["adamw/v/w"])
    # Adam's L2 decay goes through the moments instead
    g2 = gc.Graph("l2")
    g2.param("w", np.array([2.0, -1.0]))
    l2 = gc.sum(g2.param("u", np.array([1.0])) ** 2)
    gc.compile(l2, updates=gc.optim.Adam(0.1, weight_decay=0.5).updates(l2))()
    np.testing.assert_allclose(g2.params["adam/m/w"], 0.1 * 0.5 * np.array([2.0, -1.0]))


@pytest.mark.parametrize("make,match,exc", [
    (lambda: gc.optim.SGD(0.1, weight_decay=-1), "weight_decay must be", ValueError),
    (lambda: gc.optim.SGD(0.1, clip_norm=math.inf), "clip_norm must be", ValueError),
    (lambda: gc.optim.Adam(weight_decay=math.nan), "weight_decay must be", ValueError),
    (lambda: gc.optim.Adam(betas=0.9), "betas must be two numbers", ValueError),
    (lambda: gc.optim.AdamW(weight_decay=-0.1), "weight_decay must be", ValueError),
    (lambda: gc.optim.AdamW(betas=(0.9, 1.0)), r"betas must be in \[0, 1\)", ValueError),
    (lambda: gc.optim.RMSprop(alpha=1.0), r"alpha must be in \[0, 1\)", ValueError),
    (lambda: gc.optim.RMSprop(momentum=-0.5), "momentum must be", ValueError),
    (lambda: gc.optim.RMSprop(eps=-1e-8), "eps must be", ValueError),
    (lambda: gc.optim.RMSprop(lr=-1), "lr must be", ValueError),
    (lambda: gc.optim.SGD(0.1, 0.0, False, 0.0, "name"), "positional", TypeError),
])
def test_optimiser_argument_errors(make, match, exc):
    with pytest.raises(exc, match=match):
        make()


def test_clip_grad_norm_argument_errors_add_nothing():
    g = gc.Graph("clip")
    a = g.input("a", (3,))
    n = len(g)
    for args, exc, match in [
        (([a], -1.0), ValueError, "max_norm must be"),
        (([a], math.nan), ValueError, "max_norm must be"),
        (([a], 1.0, 0.0), ValueError, "norm_type must be"),
        (([a], 1.0, -2), ValueError, "norm_type must be"),
        ((a, 1.0), TypeError, "list of gradient Tensors"),
        (([], 1.0), ValueError, "no gradients"),
        (([np.ones(3)], 1.0), TypeError, r"grads\[0\] must be a graphc Tensor"),
        (([a, gc.Graph("other").input("b", (2,))], 1.0), ValueError, "belongs to graph"),
        (([g.input("i", (2,), np.int64)], 1.0), TypeError, "gradients are floats"),
    ]:
        n = len(g)
        with pytest.raises(exc, match=match):
            gc.optim.clip_grad_norm(*args)
        assert len(g) == n


def test_updates_checks_given_grads_before_binding():
    g, x, y, model, loss = _mlp_problem()
    W, b = model.layers[0].W, model.layers[0].b
    opt = gc.optim.AdamW(clip_norm=1.0)
    params = list(g.params)
    with pytest.raises(gc.ShapeError, match=r"grads\[0\] has shape \(5,\), its param 'mlp/0/W'"):
        opt.updates(loss, [W], grads=gc.grad(loss, [b]))
    with pytest.raises(TypeError, match=r"grads\[0\] must be a graphc Tensor"):
        opt.updates(loss, [W], grads=[np.zeros((3, 5))])
    assert opt.graph is None and list(g.params) == params


# ------------------------------------------------------------------------------- schedules
def _torch_lrs(make, epochs, lr=0.5):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(torch.optim.lr_scheduler, opt)
    out = [sched.get_last_lr()[0]]
    for _ in range(epochs):
        opt.step()
        sched.step()
        out.append(sched.get_last_lr()[0])
    return out


def _our_lrs(make, epochs, lr=0.5):
    opt = gc.optim.SGD(lr)
    sched = make(gc.optim, opt)
    out = [opt.lr]
    for _ in range(epochs):
        got = sched.step()
        assert got == opt.lr == sched.lr
        out.append(opt.lr)
    return out


SCHEDULES = [
    ("step", lambda m, o: m.StepLR(o, step_size=3), lambda m, o: m.StepLR(o, step_size=3)),
    ("step gamma", lambda m, o: m.StepLR(o, 4, gamma=0.5), lambda m, o: m.StepLR(o, 4, 0.5)),
    ("cosine", lambda m, o: m.CosineAnnealingLR(o, T_max=10),
     lambda m, o: m.CosineAnnealingLR(o, T_max=10)),
    ("cosine eta_min", lambda m, o: m.CosineAnnealingLR(o, 7, eta_min=0.01),
     lambda m, o: m.CosineAnnealingLR(o, 7, eta_min=0.01)),
    ("linear", lambda m, o: m.LinearLR(o), lambda m, o: m.LinearLR(o)),
    ("linear decay", lambda m, o: m.LinearLR(o, 1.0, 0.1, 8),
     lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=8)),
    ("linear warmup", lambda m, o: m.LinearLR(o, 0.1, total_iters=4),
     lambda m, o: m.LinearLR(o, start_factor=0.1, total_iters=4)),
    ("lambda", lambda m, o: m.LambdaLR(o, lambda e: 0.9 ** e / (1 + e)),
     lambda m, o: m.LambdaLR(o, lambda e: 0.9 ** e / (1 + e))),
    ("cosine warmup", lambda m, o: m.CosineAnnealingLR(o, 8, 0.02, warmup=3,
                                                       warmup_start_factor=0.25),
     lambda m, o: m.SequentialLR(o, [m.LinearLR(o, 0.25, 1.0, 3),
                                     m.CosineAnnealingLR(o, 8, 0.02)], milestones=[3])),
]


@pytest.mark.parametrize("name,ours,theirs", SCHEDULES, ids=[s[0] for s in SCHEDULES])
def test_schedule_equals_torch_lr_scheduler(name, ours, theirs):
    """25 epochs: past T_max the cosine rises again, as torch's does."""
    got, want = _our_lrs(ours, 25), _torch_lrs(theirs, 25)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=name)


def test_a_schedule_reaches_a_compiled_step_without_recompiling():
    """The compiled step is made once; the schedule changes the rate its updates use, step
    by step equal to torch with the same scheduler (per step, not per epoch)."""
    torch = pytest.importorskip("torch")
    g, x, y, model, loss = _mlp_problem()
    init = {k: g.params[k].copy() for k in NAMES}
    opt = gc.optim.AdamW(0.05, weight_decay=0.1)
    sched = gc.optim.CosineAnnealingLR(opt, 4, warmup=2, warmup_start_factor=0.1)
    step = gc.compile(loss, updates=opt.updates(loss))
    lrs, got = [], []
    for _ in range(7):
        lrs.append(opt.lr)
        step(X, Y)
        got.append([g.params[k].copy() for k in NAMES])
        sched.step()
    ps = [torch.tensor(init[k], requires_grad=True) for k in NAMES]
    topt = torch.optim.AdamW(ps, lr=0.05, weight_decay=0.1)
    S = torch.optim.lr_scheduler
    tsched = S.SequentialLR(topt, [S.LinearLR(topt, 0.1, 1.0, 2), S.CosineAnnealingLR(topt, 4)],
                            milestones=[2])
    want, tlrs = [], []
    for _ in range(7):
        tlrs.append(topt.param_groups[0]["lr"])
        topt.zero_grad()
        h = torch.tanh(torch.tensor(X) @ ps[0] + ps[1])
        torch.mean((h @ ps[2] + ps[3] - torch.tensor(Y)) ** 2).backward()
        topt.step()
        tsched.step()
        want.append([p.detach().numpy().copy() for p in ps])
    np.testing.assert_allclose(lrs, tlrs, rtol=1e-12)
    _assert_trajectories(got, want, "adamw + warmup cosine")


def test_a_schedule_as_fits_on_epoch_end_hook(monkeypatch):
    """fit(on_epoch_end=schedule): one compile, History.lr is torch's StepLR, and full-batch
    epochs give torch's trajectory."""
    import graphc.nn.train as train

    compiles = []
    real = train.compile
    monkeypatch.setattr(train, "compile", lambda *a, **k: compiles.append(1) or real(*a, **k))
    g, x, y, model, loss = _mlp_problem()
    init = {k: g.params[k].copy() for k in NAMES}
    opt = gc.optim.SGD(0.4, momentum=0.5)
    sched = gc.optim.StepLR(opt, step_size=2, gamma=0.3)
    hist = gc.nn.fit(loss, opt, {x: X, y: Y}, epochs=6, batch_size=len(X), shuffle=False,
                     progress=False, on_epoch_end=sched)
    assert len(compiles) == 1 and hist.steps == 6 and sched.last_epoch == 6
    lrs = [0.4, 0.4, 0.12, 0.12, 0.036, 0.036]
    np.testing.assert_allclose(hist.lr, lrs, rtol=1e-15)
    want = _torch_trajectory(lambda t, p: t.optim.SGD(p, lr=0.4, momentum=0.5), init, lrs)
    _assert_trajectories([[g.params[k] for k in NAMES]], want[-1:], "fit + StepLR")


@pytest.mark.parametrize("make,exc,match", [
    (lambda o: gc.optim.StepLR(o, 0), ValueError, "step_size must be >= 1"),
    (lambda o: gc.optim.StepLR(o, 2.0), TypeError, "step_size must be an int"),
    (lambda o: gc.optim.StepLR(o, True), TypeError, "step_size must be an int"),
    (lambda o: gc.optim.StepLR(o, 2, gamma=-0.1), ValueError, "gamma must be"),
    (lambda o: gc.optim.StepLR(o, 2, gamma="x"), TypeError, "gamma must be a number"),
    (lambda o: gc.optim.CosineAnnealingLR(o, 0), ValueError, "T_max must be >= 1"),
    (lambda o: gc.optim.CosineAnnealingLR(o, 5, eta_min=math.inf), ValueError, "eta_min"),
    (lambda o: gc.optim.CosineAnnealingLR(o, 5, warmup=-1), ValueError, "warmup must be"),
    (lambda o: gc.optim.CosineAnnealingLR(o, 5, warmup=2, warmup_start_factor=1.5),
     ValueError, r"warmup_start_factor must be in \[0, 1\]"),
    (lambda o: gc.optim.LinearLR(o, start_factor=2.0), ValueError, "start_factor must be in"),
    (lambda o: gc.optim.LinearLR(o, total_iters=0), ValueError, "total_iters must be >= 1"),
    (lambda o: gc.optim.LambdaLR(o, 0.5), TypeError, "lr_lambda must be a function"),
    (lambda o: gc.optim.LambdaLR(o, lambda e: -1.0), ValueError, "rate at epoch 0 is -0.1"),
    (lambda o: gc.optim.StepLR("sgd", 2), TypeError, "needs a gc.optim optimiser"),
])
def test_schedule_argument_errors_change_nothing(make, exc, match):
    opt = gc.optim.SGD(0.1)
    with pytest.raises(exc, match=match):
        make(opt)
    assert opt.lr == 0.1


def test_a_failed_schedule_step_changes_nothing():
    opt = gc.optim.SGD(0.1)
    sched = gc.optim.LambdaLR(opt, lambda e: 1.0 if e < 2 else math.nan)
    sched.step()
    with pytest.raises(ValueError, match="rate at epoch 2 is nan"):
        sched.step()
    assert sched.last_epoch == 1 and opt.lr == 0.1
    assert "epoch=1" in repr(sched)


def test_a_schedule_before_and_after_binding():
    """Made before the first updates call, a schedule's rate is the graph param's value."""
    g, x, y, model, loss = _mlp_problem()
    opt = gc.optim.SGD(1.0)
    sched = gc.optim.LinearLR(opt, start_factor=0.5, total_iters=2)
    assert opt.lr == 0.5
    opt.updates(loss)
    assert float(g.params["sgd/lr"]) == 0.5
    sched()  # the hook form: fit's on_epoch_end(epoch, history) signature works too
    sched(3, None)
    assert float(g.params["sgd/lr"]) == 1.0 == opt.lr and sched.last_epoch == 2


def test_a_per_step_schedule_as_fits_on_step_end_hook():
    """fit(on_step_end=schedule): the rate changes after every step (2 batches per epoch),
    as torch's scheduler stepped after every optimiser step."""
    torch = pytest.importorskip("torch")
    g, x, y, model, loss = _mlp_problem()
    init = {k: g.params[k].copy() for k in NAMES}
    opt = gc.optim.Adam(0.05)
    sched = gc.optim.CosineAnnealingLR(opt, 4, eta_min=0.001, warmup=2)
    hist = gc.nn.fit(loss, opt, {x: X, y: Y}, epochs=3, batch_size=4, shuffle=False,
                     progress=False, on_step_end=sched)
    assert hist.steps == 6 and sched.last_epoch == 6
    ps = [torch.tensor(init[k], requires_grad=True) for k in NAMES]
    topt = torch.optim.Adam(ps, lr=0.05)
    S = torch.optim.lr_scheduler
    tsched = S.SequentialLR(topt, [S.LinearLR(topt, 1 / 3, 1.0, 2),
                                   S.CosineAnnealingLR(topt, 4, eta_min=0.001)], milestones=[2])
    lrs = []
    for _ in range(3):
        lrs.append(topt.param_groups[0]["lr"])
        for s in (slice(0, 4), slice(4, 8)):
            topt.zero_grad()
            h = torch.tanh(torch.tensor(X[s]) @ ps[0] + ps[1])
            torch.mean((h @ ps[2] + ps[3] - torch.tensor(Y[s])) ** 2).backward()
            topt.step()
            tsched.step()
    np.testing.assert_allclose(hist.lr, lrs, rtol=1e-12)
    _assert_trajectories([[g.params[k] for k in NAMES]],
                         [[p.detach().numpy() for p in ps]], "fit + per-step cosine")
