"""More layers against torch (float64, copied weights, gradients by autograd): activations,
Embedding, train/eval mode and Dropout, BatchNorm1d/2d with their running statistics as
state updates of compiled functions (and gc.nn.fit), RNN/GRU/LSTM unrolled over a fixed
length. Symbolic batch dims are bound to several sizes through one compiled Function."""

import pickle

import numpy as np
import pytest

import graphc as gc

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")

T64 = torch.float64


def _vjp(g, y, wrt, inputs):
    """One Function giving y and the gradients of sum(y * u) with respect to ``wrt``."""
    u = g.input("u", y.shape, y.dtype)
    grads = gc.grad(gc.sum(y * u), wrt)
    return gc.compile([y, *grads], inputs=[*inputs, u])


def _close(a, b, rtol=1e-10, atol=1e-12, msg=""):
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else b
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=msg)


def _unchanged(g):
    """A snapshot of a graph's nodes, params and state updates (errors must not change it)."""
    return (len(g), dict(g.params), g.state_updates)


# ======================================================================== activations
ACTIVATIONS = [
    ("gelu", {}, gc.nn.GELU, lambda t: F.gelu(t)),
    ("gelu", {"approximate": "tanh"}, gc.nn.GELU, lambda t: F.gelu(t, approximate="tanh")),
    ("silu", {}, gc.nn.SiLU, F.silu),
    ("softplus", {}, gc.nn.Softplus, F.softplus),
    ("softplus", {"beta": 2.0, "threshold": 5.0}, gc.nn.Softplus,
     lambda t: F.softplus(t, beta=2.0, threshold=5.0)),
    ("leaky_relu", {}, gc.nn.LeakyReLU, F.leaky_relu),
    ("leaky_relu", {"negative_slope": 0.2}, gc.nn.LeakyReLU,
     lambda t: F.leaky_relu(t, negative_slope=0.2)),
    ("elu", {}, gc.nn.ELU, F.elu),
    ("elu", {"alpha": 0.5}, gc.nn.ELU, lambda t: F.elu(t, alpha=0.5)),
]
SPECIAL = [0.0, -0.0, 1e-3, -1e-3, 2.5, 5.0, 10.0, 20.0, 30.0, -30.0, 100.0, -100.0, 700.0,
           -700.0, 2.4999, 2.5001]


@pytest.mark.parametrize("as_module", [False, True])
@pytest.mark.parametrize("name, kwargs, module, ref", ACTIVATIONS,
                         ids=[f"{a[0]}{a[1] or ''}" for a in ACTIVATIONS])
def test_activation_matches_torch(name, kwargs, module, ref, as_module):
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    y = module(**kwargs)(x) if as_module else getattr(gc.nn, name)(x, **kwargs)
    assert y.shape == ("B", 4) and y.dtype == np.float64
    f = _vjp(g, y, [x], [x])
    rng = np.random.default_rng(0)
    for B in (4, 1, 6):
        X = rng.standard_normal((B, 4)) * 4
        if B == 4:
            X.flat[:] = SPECIAL  # the kinks, the thresholds, exp's overflow range
        U = rng.standard_normal((B, 4))
        xt = torch.tensor(X, requires_grad=True)
        r = ref(xt)
        (r * torch.tensor(U)).sum().backward()
        got, gx = f(X, U)
        _close(got, r, msg="value")
        _close(gx, xt.grad, msg="gradient")
        assert np.isfinite(gx).all()


@pytest.mark.parametrize("name, kwargs, order", [
    ("gelu", {}, 2), ("gelu", {"approximate": "tanh"}, 2), ("silu", {}, 2),
    ("softplus", {"beta": 0.5, "threshold": 1.0}, 1), ("leaky_relu", {}, 1),
    ("elu", {"alpha": 1.5}, 1)])
def test_activation_gradients_check(name, kwargs, order):
    g = gc.Graph()
    x = g.input("x", (7,))
    y = getattr(gc.nn, name)(x, **kwargs)
    X = np.array([-3.1, -1.2, -0.4, 0.3, 0.9, 1.7, 4.2])  # away from the kinks
    gc.check_grad(y, [x], {x: X}, order=order)


def test_activations_keep_float32_and_register_their_names():
    g = gc.Graph()
    x = g.input("x", ("B", 3), np.float32)
    for fn in (gc.nn.gelu, gc.nn.silu, gc.nn.softplus, gc.nn.leaky_relu, gc.nn.elu):
        assert fn(x).dtype == np.float32
    for name in ("gelu", "gelu_tanh", "silu", "softplus", "leaky_relu", "elu"):
        assert gc.nn.get_activation(name) is gc.nn.layers.ACTIVATIONS[name]
    mlp = gc.nn.MLP([3, 5, 2], activation="gelu")
    out = gc.compile(mlp(g.input("z", ("B", 3))))(np.ones((2, 3)))
    assert out.shape == (2, 2)
    X = np.linspace(-3, 3, 6, dtype=np.float32).reshape(2, 3)
    got = gc.compile(gc.nn.get_activation("gelu_tanh")(x))(X)
    _close(got, F.gelu(torch.tensor(X), approximate="tanh"), rtol=1e-6, atol=1e-6)
    assert repr(gc.nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(gc.nn.GELU()) == "GELU()"


def test_activation_errors_are_clear_and_change_nothing():
    g = gc.Graph()
    x = g.input("x", (3,))
    i = g.input("i", (3,), np.int64)
    before = _unchanged(g)
    with pytest.raises(TypeError, match="gelu: x must have a float dtype"):
        gc.nn.gelu(i)
    with pytest.raises(TypeError, match="silu: x must be a graphc Tensor"):
        gc.nn.silu(np.ones(3))
    with pytest.raises(ValueError, match="approximate must be 'none' or 'tanh'"):
        gc.nn.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="softplus: beta must be > 0"):
        gc.nn.softplus(x, beta=0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        gc.nn.softplus(x, threshold=np.inf)
    with pytest.raises(TypeError, match="negative_slope is a Tensor"):
        gc.nn.leaky_relu(x, negative_slope=x)
    with pytest.raises(TypeError, match="elu: alpha"):
        gc.nn.elu(x, alpha="1")
    assert _unchanged(g) == before
    with pytest.raises(ValueError, match="GELU: approximate"):
        gc.nn.GELU("fast")
    with pytest.raises(ValueError, match="Softplus: beta must be > 0"):
        gc.nn.Softplus(beta=-1.0)
    with pytest.raises(TypeError, match="ELU: alpha"):
        gc.nn.ELU(alpha=None)


# ========================================================================== Embedding
@pytest.mark.parametrize("padding_idx, pad_row", [(None, None), (2, "zeros"), (-1, "set")])
def test_embedding_matches_torch(padding_idx, pad_row):
    torch.manual_seed(0)
    N, D = 7, 4
    te = torch.nn.Embedding(N, D, padding_idx=padding_idx, dtype=T64)
    if pad_row == "set":  # torch looks a set padding row up as it is, with no gradient
        with torch.no_grad():
            te.weight[padding_idx] = torch.tensor([1.5, -2e-300, 3e200, 0.1])
    g = gc.Graph()
    ids = g.input("ids", ("B", "T"), np.int64)
    emb = gc.nn.Embedding(N, D, padding_idx=padding_idx)
    y = emb(ids)
    assert y.shape == ("B", "T", D) and emb.weight.name == "embedding/weight"
    if padding_idx is not None:
        assert not g.params["embedding/weight"][padding_idx].any()  # starts at zeros
    g.params["embedding/weight"][...] = te.weight.detach().numpy()
    f = _vjp(g, y, [emb.weight], [ids])
    rng = np.random.default_rng(1)
    for shape in [(2, 5), (1, 3), (4, 6)]:
        ids_v = rng.integers(0, N, shape)
        ids_v[0, 0] = padding_idx % N if padding_idx is not None else 0  # the padding row
        ids_v[-1, -1] = ids_v[0, 0]
        U = rng.standard_normal((*shape, D))
        r = te(torch.tensor(ids_v))
        (r * torch.tensor(U)).sum().backward()
        got, gw = f(ids_v, U)
        assert np.array_equal(got, r.detach().numpy())   # rows copied exactly
        _close(gw, te.weight.grad, msg="weight gradient")
        if padding_idx is not None:
            assert not gw[padding_idx].any()
        te.zero_grad()


def test_embedding_ids_of_any_shape_and_float32():
    g = gc.Graph()
    emb = gc.nn.Embedding(5, 3, padding_idx=0, dtype=np.float32)
    scalar = emb(g.input("i", (), np.int32))
    cube = emb(g.input("c", ("B", 2, 2), np.uint8))
    assert scalar.shape == (3,) and cube.shape == ("B", 2, 2, 3)
    assert scalar.dtype == cube.dtype == np.float32
    W = g.params["embedding/weight"]
    W[0] = [0.25, -1.0, 3.0]
    a, b = gc.compile([scalar, cube])(np.int32(0), np.array([[[4, 0], [1, 2]]], np.uint8))
    np.testing.assert_array_equal(a, W[0])
    np.testing.assert_array_equal(b, W[[[[4, 0], [1, 2]]]])


def test_embedding_padding_row_value_is_exact_and_without_gradient():
    from graphc.nn.embedding import _no_gradient

    rng = np.random.default_rng(0)
    tiny = np.finfo(np.float64)
    vals = np.concatenate([
        [0.0, 1.5, -2e-300, 3e200, 1e-310, 5e-324, -5e-324, tiny.max, -tiny.max, tiny.tiny,
         2.0 ** 53 + 1, 2.0 ** 60 - 1, 1 - 2 ** -53, np.inf, -np.inf, np.nan],
        rng.standard_normal(400) * 10.0 ** rng.integers(-320, 300, 400)])
    g = gc.Graph()
    w = g.param("w", vals)
    d = _no_gradient(w)
    for out in (gc.evaluate(d), gc.compile(d)()):
        assert np.array_equal(out, vals, equal_nan=True)   # bit for bit
    assert not gc.evaluate(gc.grad(gc.sum(d * d), [w])[0]).any()
    v32 = vals[np.abs(vals) < 1e30].astype(np.float32)
    out = gc.compile(_no_gradient(g.param("w32", v32)))()
    assert out.dtype == np.float32 and np.array_equal(out, v32, equal_nan=True)


def test_embedding_errors_are_clear_and_change_nothing():
    with pytest.raises(ValueError, match=r"padding_idx must be in \[-5, 5\)"):
        gc.nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(TypeError, match="padding_idx must be an int"):
        gc.nn.Embedding(5, 2, padding_idx=1.0)
    with pytest.raises(ValueError, match="embedding_dim must be >= 1"):
        gc.nn.Embedding(5, 0)
    with pytest.raises(TypeError, match="dtype must be a float dtype"):
        gc.nn.Embedding(5, 2, dtype=np.int64)
    g = gc.Graph()
    x = g.input("x", ("B",))
    emb = gc.nn.Embedding(5, 2)
    before = _unchanged(g)
    with pytest.raises(TypeError, match=r"takes a Tensor of integer ids, got float64"):
        emb(x)
    assert _unchanged(g) == before and emb.graph is None
    i = g.input("i", (3,), np.int64)
    f = gc.compile(emb(i))
    with pytest.raises(ValueError, match=r"take node .* index 5 is out of bounds"):
        f(np.array([0, 5, 1]))


# ================================================================== train / eval mode
def test_train_and_eval_set_the_mode_of_every_sub_module():
    net = gc.nn.Sequential([gc.nn.Linear(3, 4), gc.nn.BatchNorm1d(4), gc.nn.Dropout(0.3),
                            gc.nn.MLP([4, 5, 2])])
    mods = [net, *net.named_modules().values()]
    assert len(mods) == 7 and all(m.training for m in mods)  # MLP's two Linear layers too
    assert net.eval() is net and not any(m.training for m in mods)
    assert net.train() is net and all(m.training for m in mods)
    assert net.train(False) is net and not any(m.training for m in mods)
    net.steps[1].train()
    assert net.steps[1].training and not net.training
    with pytest.raises(TypeError, match="mode must be True or False"):
        net.train("yes")
    assert "training" not in repr(net.steps[1])


def test_dropout_module_follows_the_mode():
    g = gc.Graph()
    x = g.input("x", ("B", 50))
    drop = gc.nn.Dropout(0.5)
    assert repr(drop) == "Dropout()" and drop.training
    y_train = drop(x)
    assert drop.eval()(x) is x
    f = gc.compile(y_train)
    a, b = f(np.ones((4, 50))), f(np.ones((2, 50)))
    assert set(np.unique(a)) == {0.0, 2.0} and set(np.unique(b)) <= {0.0, 2.0}
    assert gc.nn.Dropout(0.0)(x) is x
    with pytest.raises(ValueError, match="Dropout: p must be in"):
        gc.nn.Dropout(1.5)


# ========================================================================== BatchNorm
BN_CASES = [  # (graphc class, torch class, input shape with B, kwargs)
    (gc.nn.BatchNorm1d, torch.nn.BatchNorm1d, ("B", 3), {}),
    (gc.nn.BatchNorm1d, torch.nn.BatchNorm1d, ("B", 3, "L"), {"momentum": 0.3}),
    (gc.nn.BatchNorm2d, torch.nn.BatchNorm2d, ("B", 3, 4, "W"), {}),
    (gc.nn.BatchNorm1d, torch.nn.BatchNorm1d, ("B", 3), {"momentum": None}),
    (gc.nn.BatchNorm2d, torch.nn.BatchNorm2d, ("B", 3, 2, 2), {"affine": False}),
    (gc.nn.BatchNorm1d, torch.nn.BatchNorm1d, ("B", 3, 5), {"track_running_stats": False}),
]


def _bn_pair(cls, tcls, kwargs, seed=0):
    torch.manual_seed(seed)
    tm = tcls(3, dtype=T64, **kwargs)
    if tm.affine:
        with torch.no_grad():
            tm.weight.uniform_(0.5, 2.0)
            tm.bias.uniform_(-1.0, 1.0)
    return cls(3, **kwargs), tm


def _copy_affine(g, bn, tm):
    if tm.affine:
        g.params[f"{bn.scope}/weight"][...] = tm.weight.detach().numpy()
        g.params[f"{bn.scope}/bias"][...] = tm.bias.detach().numpy()


def _running(g, bn, tm):
    if not tm.track_running_stats:
        assert not any(k.endswith(("running_mean", "running_var", "num_batches_tracked"))
                       for k in g.params)
        return
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        _close(g.params[f"{bn.scope}/{k}"], getattr(tm, k), rtol=1e-12, atol=1e-14, msg=k)


def _sizes(shape, B, rng):
    return tuple(B if d == "B" else (int(rng.integers(2, 5)) if isinstance(d, str) else d)
                 for d in shape)


@pytest.mark.parametrize("cls, tcls, shape, kwargs", BN_CASES,
                         ids=[f"{c[0].__name__}{c[2]}{c[3]}" for c in BN_CASES])
def test_batchnorm_training_steps_and_evaluation_match_torch(cls, tcls, shape, kwargs):
    bn, tm = _bn_pair(cls, tcls, kwargs)
    g = gc.Graph()
    x = g.input("x", shape)
    y = bn(x)
    _copy_affine(g, bn, tm)
    wrt = [x] + ([bn.weight, bn.bias] if tm.affine else [])
    f = _vjp(g, y, wrt, [x])
    rng = np.random.default_rng(3)
    for B in (5, 2, 8):   # three training steps through one Function, three batch sizes
        X = rng.standard_normal(_sizes(shape, B, rng)) * 3.0 + 1.5
        U = rng.standard_normal(X.shape)
        xt = torch.tensor(X, requires_grad=True)
        r = tm(xt)
        (r * torch.tensor(U)).sum().backward()
        got, gx, *gp = f(X, U)
        _close(got, r, msg="training output")
        _close(gx, xt.grad, rtol=1e-8, atol=1e-11, msg="input gradient")
        if tm.affine:
            _close(gp[0], tm.weight.grad, rtol=1e-9, msg="weight gradient")
            _close(gp[1], tm.bias.grad, rtol=1e-9, msg="bias gradient")
            tm.zero_grad()
        _running(g, bn, tm)
    # evaluation mode: the running statistics, nothing updated
    ye = bn.eval()(x)
    fe = gc.compile(ye)
    assert fe.program.updates == []
    tm.eval()
    before = {k: v.copy() for k, v in g.params.items()}
    for B in (3, 1):
        X = rng.standard_normal(_sizes(shape, B, rng))
        _close(fe(X), tm(torch.tensor(X)), msg="evaluation output")
    assert all(np.array_equal(before[k], v) for k, v in g.params.items())
    _running(g, bn, tm)


def test_batchnorm_params_and_modes_are_torch_like():
    g = gc.Graph()
    x = g.input("x", ("B", 4, 6, 6), np.float32)
    bn = gc.nn.BatchNorm2d(4)
    y = bn(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert {k: (v.shape, v.dtype) for k, v in g.params.items()} == {
        "batchnorm2d/weight": ((4,), np.float32), "batchnorm2d/bias": ((4,), np.float32),
        "batchnorm2d/running_mean": ((4,), np.float32),
        "batchnorm2d/running_var": ((4,), np.float32),
        "batchnorm2d/num_batches_tracked": ((), np.int64)}
    assert [t.name for t in bn.trainable_parameters()] == ["batchnorm2d/weight",
                                                            "batchnorm2d/bias"]
    assert set(bn.named_parameters()) == set(g.params)
    f = gc.compile(y)
    assert sorted(f._update_names) == ["batchnorm2d/num_batches_tracked",
                                       "batchnorm2d/running_mean", "batchnorm2d/running_var"]
    f(np.ones((2, 4, 6, 6), np.float32))
    assert g.params["batchnorm2d/num_batches_tracked"] == 1
    assert g.params["batchnorm2d/running_var"].dtype == np.float32
    assert repr(gc.nn.BatchNorm1d(3, momentum=None)) == "BatchNorm1d(num_features=3, momentum=None)"


def test_batchnorm_state_updates_follow_what_is_compiled():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    bn = gc.nn.BatchNorm1d(2)
    y = bn(x)
    other = gc.sum(x * 2.0)
    rm, nbt = g["batchnorm1d/running_mean"], g["batchnorm1d/num_batches_tracked"]
    assert len(g.state_updates) == 1
    X = np.array([[1.0, 2.0], [3.0, 6.0]])
    # an output that does not need the layer call: no update
    assert gc.compile(other).program.updates == []
    # the caller's update of a param wins; the others still come
    f = gc.compile(y, updates={rm: rm + 100.0})
    f(X)
    np.testing.assert_array_equal(g.params["batchnorm1d/running_mean"], [100.0, 100.0])
    assert g.params["batchnorm1d/num_batches_tracked"] == 1
    # state_updates=False: none
    f = gc.compile(y, state_updates=False)
    f(X)
    assert g.params["batchnorm1d/num_batches_tracked"] == 1
    with pytest.raises(TypeError, match="state_updates must be True or False"):
        gc.compile(y, state_updates="no")
    # the gradient alone needs the batch statistics: the update comes with it
    (gw,) = gc.grad(gc.sum(y * y * x), [bn.weight])
    gc.compile(gw)(X)
    assert g.params["batchnorm1d/num_batches_tracked"] == 2
    # gc.evaluate reads the state and updates nothing
    gc.evaluate(y, {x: X})
    assert g.params["batchnorm1d/num_batches_tracked"] == 2
    # a call that raises commits nothing
    f = gc.compile([y, nbt * 1])
    with pytest.raises(gc.ShapeError):
        f(np.ones((3, 5)))
    assert g.params["batchnorm1d/num_batches_tracked"] == 2
    assert f(X)[1] == 2 and g.params["batchnorm1d/num_batches_tracked"] == 3


def test_batchnorm_called_twice_in_training_updates_twice_as_torch():
    bn, tm = _bn_pair(gc.nn.BatchNorm1d, torch.nn.BatchNorm1d, {"momentum": None})
    g = gc.Graph()
    a, b = g.input("a", ("B", 3)), g.input("b", ("N", 3))
    ya, yb = bn(a), bn(b)
    _copy_affine(g, bn, tm)
    n = len(g)
    both = gc.compile([ya, yb])
    grown = len(g)
    gc.compile([ya, yb])
    assert len(g) == grown > n   # compiling again reuses the nodes made for the second call
    rng = np.random.default_rng(0)
    for B, N in ((4, 2), (3, 6)):
        A, Bv = rng.standard_normal((B, 3)), rng.standard_normal((N, 3)) + 2
        got_a, got_b = both(A, Bv)
        _close(got_a, tm(torch.tensor(A)))
        _close(got_b, tm(torch.tensor(Bv)))
        _running(g, bn, tm)
    # the second call alone updates once, from the current values
    X = rng.standard_normal((5, 3))
    _close(gc.compile(yb)(X), tm(torch.tensor(X)))
    _running(g, bn, tm)


def test_batchnorm_state_updates_survive_pickling_and_atomic_rollback():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    y = gc.nn.BatchNorm1d(2)(x)
    g2 = pickle.loads(pickle.dumps(g))
    assert g2.state_updates == g.state_updates
    f = gc.compile(g2.tensor(y.id))
    f(np.array([[0.0, 1.0], [2.0, 5.0]]))
    assert g2.params["batchnorm1d/num_batches_tracked"] == 1
    assert g.params["batchnorm1d/num_batches_tracked"] == 0
    f2 = pickle.loads(pickle.dumps(f))
    f2(np.array([[0.0, 1.0], [2.0, 5.0]]))
    n = len(g.state_updates)
    with pytest.raises(RuntimeError), g.atomic():
        g.add_state_updates(y, {g["batchnorm1d/running_mean"]: gc.mean(x, axis=0)})
        raise RuntimeError
    assert len(g.state_updates) == n


def test_add_state_updates_checks_its_arguments():
    g = gc.Graph()
    x = g.input("x", (2,))
    p = g.param("p", np.zeros(2), trainable=False)
    q = g.param("q", np.zeros(2, np.int64), trainable=False)
    total = gc.sum(x)
    before = _unchanged(g)
    with pytest.raises(TypeError, match="non-empty dict"):
        g.add_state_updates(x, {})
    with pytest.raises(TypeError, match="is not a param"):
        g.add_state_updates(x, {x: x})
    with pytest.raises(gc.ShapeError, match="the new value has shape"):
        g.add_state_updates(x, {p: total})
    with pytest.raises(TypeError, match="cannot be stored in a int64 param"):
        g.add_state_updates(x, {q: x})
    with pytest.raises(ValueError, match="belongs to graph"):
        g.add_state_updates(gc.Graph().input("z", (2,)), {p: x})
    assert _unchanged(g) == before
    g.add_state_updates(x, {p: p + x})
    f = gc.compile(x * 1.0)
    f(np.ones(2)), f(np.ones(2))
    np.testing.assert_array_equal(g.params["p"], [2.0, 2.0])


def test_batchnorm_errors_are_clear_and_change_nothing():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    bn = gc.nn.BatchNorm1d(3)
    before = _unchanged(g)
    with pytest.raises(gc.ShapeError, match=r"BatchNorm1d\(3\) expects inputs \(N, 3\) or "
                                            r"\(N, 3, L\), got \(B, 4\)"):
        bn(x)
    with pytest.raises(gc.ShapeError, match=r"BatchNorm2d\(4\) expects inputs \(N, 4, H, W\)"):
        gc.nn.BatchNorm2d(4)(x)
    assert _unchanged(g) == before and bn.graph is None
    one = g.input("one", (1, 4))
    with pytest.raises(gc.ShapeError, match="more than 1 value per channel"):
        gc.nn.BatchNorm1d(4, name="solo")(one)
    gc.nn.BatchNorm1d(4, name="solo_eval").eval()(one)        # fine in evaluation mode
    gc.nn.BatchNorm1d(4, track_running_stats=False)(one)       # and without running stats
    with pytest.raises(ValueError, match="momentum must be in"):
        gc.nn.BatchNorm1d(3, momentum=1.5)
    with pytest.raises(TypeError, match="num_features must be an int"):
        gc.nn.BatchNorm1d(3.0)
    with pytest.raises(TypeError, match="affine must be True or False"):
        gc.nn.BatchNorm1d(3, affine=1)


def test_fit_updates_the_running_statistics_as_torch_training():
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 6, dtype=T64),
                               torch.nn.BatchNorm1d(6, dtype=T64), torch.nn.Tanh(),
                               torch.nn.Linear(6, 1, dtype=T64))
    g = gc.Graph()
    x, t = g.input("x", ("B", 3)), g.input("t", ("B", 1))
    net = gc.nn.Sequential([gc.nn.Linear(3, 6), gc.nn.BatchNorm1d(6), gc.nn.Tanh(),
                            gc.nn.Linear(6, 1)])
    loss = gc.nn.mse_loss(net(x), t)
    for k, tl in ((0, tnet[0]), (3, tnet[3])):
        g.params[f"sequential/{k}/W"][...] = tl.weight.detach().numpy().T
        g.params[f"sequential/{k}/b"][...] = tl.bias.detach().numpy()
    g.params["sequential/1/weight"][...] = 1.0
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 1))
    gc.nn.fit(loss, gc.optim.SGD(0.1), {x: X, t: Y}, epochs=2, batch_size=8, shuffle=False,
              progress=False)
    opt = torch.optim.SGD(tnet.parameters(), lr=0.1)
    for _ in range(2):
        for s in range(0, 20, 8):
            opt.zero_grad()
            F.mse_loss(tnet(torch.tensor(X[s:s + 8])), torch.tensor(Y[s:s + 8])).backward()
            opt.step()
    tbn = tnet[1]
    for k in ("running_mean", "running_var", "num_batches_tracked", "weight", "bias"):
        _close(g.params[f"sequential/1/{k}"], getattr(tbn, k), rtol=1e-9, atol=1e-12, msg=k)
    _close(g.params["sequential/3/W"], tnet[3].weight.T, rtol=1e-9, atol=1e-12)
    # evaluation: the model called again in evaluation mode, the params shared
    out = gc.compile(net.eval()(x))(X)
    tnet.eval()
    _close(out, tnet(torch.tensor(X)), rtol=1e-9, atol=1e-12)


# ===================================================================== RNN, GRU, LSTM
RNN_CASES = [  # (graphc class, torch class, kwargs, with an initial state)
    (gc.nn.RNN, torch.nn.RNN, {}, False),
    (gc.nn.RNN, torch.nn.RNN, {"nonlinearity": "relu", "num_layers": 2}, True),
    (gc.nn.RNN, torch.nn.RNN, {"bias": False}, False),
    (gc.nn.GRU, torch.nn.GRU, {}, False),
    (gc.nn.GRU, torch.nn.GRU, {"num_layers": 2}, True),
    (gc.nn.GRU, torch.nn.GRU, {"bias": False, "batch_first": False}, False),
    (gc.nn.LSTM, torch.nn.LSTM, {}, False),
    (gc.nn.LSTM, torch.nn.LSTM, {"num_layers": 3}, True),
    (gc.nn.LSTM, torch.nn.LSTM, {"bias": False, "batch_first": False}, True),
]


@pytest.mark.parametrize("cls, tcls, kwargs, with_state", RNN_CASES,
                         ids=[f"{c[0].__name__}{c[2]}{'-h0' if c[3] else ''}"
                              for c in RNN_CASES])
def test_recurrent_layers_match_torch(cls, tcls, kwargs, with_state):
    n_in, H, T = 3, 4, 5
    torch.manual_seed(0)
    tkw = {"batch_first": True, **kwargs}
    tm = tcls(n_in, H, dtype=T64, **tkw)
    L = tm.num_layers
    bf = tkw["batch_first"]
    lstm = cls is gc.nn.LSTM
    g = gc.Graph()
    x = g.input("x", ("B", T, n_in) if bf else (T, "B", n_in))
    states = []
    if with_state:
        states = [g.input(n, (L, "B", H)) for n in (("h0", "c0") if lstm else ("h0",))]
    m = cls(n_in, H, **kwargs)
    hx = None if not states else (tuple(states) if lstm else states[0])
    out, hn = m(x, hx) if with_state else m(x)
    finals = list(hn) if lstm else [hn]
    assert out.shape == (("B", T, H) if bf else (T, "B", H))
    assert all(h.shape == (L, "B", H) for h in finals)
    for name, p in tm.named_parameters():
        g.params[f"{m.scope}/{name}"][...] = p.detach().numpy()
    assert len(g.params) == len(list(tm.parameters()))
    # one seed u per result: the gradient of sum(out * u0) + sum(h_n * u1) (+ c_n)
    us = [g.input(f"u{k}", r.shape) for k, r in enumerate([out, *finals])]
    total = sum(gc.sum(r * u) for r, u in zip([out, *finals], us))
    params = [g[k] for k in g.params]
    grads = gc.grad(total, [x, *states, *params])
    f = gc.compile([out, *finals, *grads], inputs=[x, *states, *us])
    rng = np.random.default_rng(1)
    for B in (2, 1, 3):
        X = rng.standard_normal((B, T, n_in) if bf else (T, B, n_in))
        S = [rng.standard_normal((L, B, H)) for _ in states]
        xt = torch.tensor(X, requires_grad=True)
        st = [torch.tensor(s, requires_grad=True) for s in S]
        if st:
            ro, rh = tm(xt, tuple(st) if lstm else st[0])
        else:
            ro, rh = tm(xt)
        rfin = list(rh) if lstm else [rh]
        U = [rng.standard_normal(tuple(r.shape)) for r in [ro, *rfin]]
        sum((r * torch.tensor(u)).sum() for r, u in zip([ro, *rfin], U)).backward()
        got = f(X, *S, *U)
        n = 1 + len(finals)
        _close(got[0], ro, msg="output")
        for a, b in zip(got[1:n], rfin):
            _close(a, b, msg="final state")
        _close(got[n], xt.grad, rtol=1e-9, msg="input gradient")
        for a, s in zip(got[n + 1:n + 1 + len(st)], st):
            _close(a, s.grad, rtol=1e-9, msg="initial state gradient")
        tgrads = dict(tm.named_parameters())
        for p, gv in zip(params, got[n + 1 + len(st):]):
            _close(gv, tgrads[p.name.split("/")[-1]].grad, rtol=1e-9, atol=1e-11, msg=p.name)
        tm.zero_grad()


def test_recurrent_float32_dropout_and_init():
    g = gc.Graph()
    x = g.input("x", ("B", 6, 2), np.float32)
    lstm = gc.nn.LSTM(2, 3, num_layers=2, dropout=0.5)
    out, (h, c) = lstm(x)
    assert out.dtype == h.dtype == c.dtype == np.float32
    W = g.params["lstm/weight_hh_l1"]
    assert W.shape == (12, 3) and W.dtype == np.float32 and np.abs(W).max() <= 1 / np.sqrt(3)
    f = gc.compile(out)
    a = f(np.ones((2, 6, 2), np.float32))
    b = f(np.ones((2, 6, 2), np.float32))
    assert not np.array_equal(a, b)                    # a new dropout mask each call
    ev = gc.compile(lstm.eval()(x)[0])
    np.testing.assert_array_equal(ev(np.ones((2, 6, 2), np.float32)),
                                  ev(np.ones((2, 6, 2), np.float32)))


def test_recurrent_errors_are_clear_and_change_nothing():
    g = gc.Graph()
    gru = gc.nn.GRU(3, 4)
    before = _unchanged(g)
    with pytest.raises(gc.ShapeError, match=r"GRU unrolls its time loop .* sequence length "
                                            r"must be a fixed int.*symbolic length T"):
        gru(g.input("x", ("B", "T", 3)))
    with pytest.raises(gc.ShapeError, match=r"expects inputs \(B, T, 3\), got \(B, 5, 2\)"):
        gru(g.input("y", ("B", 5, 2)))
    x = g.input("z", ("B", 5, 3))
    before = _unchanged(g)
    with pytest.raises(gc.ShapeError, match=r"initial state must be \(num_layers, B, "
                                            r"hidden_size\) = \(1, B, 4\)"):
        gru(x, g.input("h_bad", (1, "B", 5)))
    before = (before[0] + 1, *before[1:])   # (the input h_bad)
    with pytest.raises(TypeError, match=r"LSTM: the initial state must be a tuple \(h0, c0\)"):
        gc.nn.LSTM(3, 4)(x, g.input("h", (1, "B", 4)))
    before = (before[0] + 1, *before[1:])
    assert _unchanged(g) == before and gru.graph is None
    with pytest.raises(gc.ShapeError, match="the sequence is empty"):
        gru(g.input("e", ("B", 0, 3)))
    with pytest.raises(TypeError, match="x must have a float dtype"):
        gru(g.input("ints", ("B", 2, 3), np.int64))
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        gc.nn.RNN(3, 4, nonlinearity="gelu")
    with pytest.raises(ValueError, match="num_layers must be >= 1"):
        gc.nn.LSTM(3, 4, num_layers=0)
    with pytest.raises(TypeError, match="batch_first must be True or False"):
        gc.nn.GRU(3, 4, batch_first=None)


def test_layer_gradients_are_differentiable():
    """Second order against finite differences: BatchNorm (training), GRU, LSTM, Embedding."""
    rng = np.random.default_rng(0)
    g = gc.Graph()
    x = g.input("x", (4, 3, 2))
    bn = gc.nn.BatchNorm1d(3)
    gc.check_grad(bn(x), [x, bn.weight], {x: rng.standard_normal((4, 3, 2))})
    x = g.input("s", (2, 3, 2))
    gru = gc.nn.GRU(2, 3)
    out, h = gru(x)
    gc.check_grad(gc.sum(out) + gc.sum(h * h), [x, *gru.parameters()],
                  {x: rng.standard_normal((2, 3, 2))})
    lstm = gc.nn.LSTM(2, 3, num_layers=2)
    out, (h, c) = lstm(x)
    gc.check_grad(gc.sum(out) + gc.sum(c * c), [x, *lstm.parameters()],
                  {x: rng.standard_normal((2, 3, 2))})
    i = g.input("i", (5,), np.int64)
    emb = gc.nn.Embedding(4, 3, padding_idx=2)
    y = emb(i)
    gc.check_grad(y * y, [emb.weight], {i: np.array([0, 1, 1, 3, 0])})
