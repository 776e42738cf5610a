"""The pipeline: compiled == gc.evaluate with every pass on, each pass off, none, and in
debug mode, over models with gradients and updates; the options; the verifier."""

import numpy as np
import pytest

import graphc as gc
from graphc.passes.pipeline import PASS_NAMES, Options, VerifyError, verify


def mlp(sizes=(3, 8, 2), act=gc.tanh, loss="mse"):
    g = gc.Graph("mlp")
    x = g.input("x", ("B", sizes[0]))
    y = g.input("y", ("B", sizes[-1]))
    rng = np.random.default_rng(0)
    ps = []
    h = x
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        W = g.param(f"W{i}", rng.standard_normal((a, b)) * 0.5)
        c = g.param(f"b{i}", rng.standard_normal(b) * 0.1)
        ps += [W, c]
        h = h @ W + c
        if i < len(sizes) - 2:
            h = act(h)
    if loss == "mse":
        L = gc.mean((h - y) ** 2)
    else:
        L = -gc.mean(gc.sum(y * gc.log_softmax(h, axis=-1), axis=-1))
    return g, [x, y], L, ps


def scalar_model():
    """Broadcasts, reductions, views, constants: grad introduces sums of broadcasts."""
    g = gc.Graph("s")
    x = g.input("x", ("B", 4))
    w = g.param("w", np.linspace(-1, 1, 4))
    s = g.param("s", np.array(0.7))
    t = gc.swapaxes(gc.swapaxes(x * w, 0, 1), 1, 0) * s + 0.0
    u = gc.reshape(gc.reshape(t, (4, "B")), ("B", 4))
    L = gc.sum(gc.sigmoid(u) * 1.0) + gc.mean(gc.maximum(u, 0.1) ** 2)
    L = L - gc.sum(gc.negative(gc.negative(s)))
    return g, [x], L, [w, s]


MODELS = {"mlp-tanh-mse": lambda: mlp(), "mlp-relu-xent": lambda: mlp((5, 6, 6, 3), gc.relu,
                                                                      "xent"),
          "scalars": scalar_model}
CONFIGS = {"all": None, "none": [], "debug": "debug",
           **{f"no-{k}": {k: False} for k in PASS_NAMES}}


def feed(inputs, B, rng):
    return [rng.standard_normal((B, *[d for d in t.shape[1:]])) for t in inputs]


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_compiled_equals_evaluate_with_gradients_and_updates(model, config):
    passes = CONFIGS[config]
    debug = passes == "debug"
    passes = None if debug else passes
    g, inputs, L, ps = MODELS[model]()
    grads = gc.grad(L, ps)
    f = gc.compile([L, *grads], inputs, passes=passes, debug=debug)
    step = gc.compile(L, inputs, updates={p: p - 0.1 * gp for p, gp in zip(ps, grads)},
                      passes=passes, debug=debug)
    rng = np.random.default_rng(1)
    for B in (3, 1, 3, 5):
        arrays = feed(inputs, B, rng)
        fd = dict(zip(inputs, arrays))
        want = gc.evaluate([L, *grads], fd)
        got = f(*arrays)
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        before = {p.name: g.params[p.name].copy() for p in ps}
        np.testing.assert_allclose(step(*arrays), want[0], rtol=1e-10)
        for p, gp in zip(ps, want[1:]):
            np.testing.assert_allclose(g.params[p.name], before[p.name] - 0.1 * gp,
                                       rtol=1e-10, atol=1e-12)


def test_function_describes_the_optimised_program():
    g, inputs, L, ps = mlp()
    grads = gc.grad(L, ps)
    f = gc.compile([L, *grads], inputs)
    plain = gc.compile([L, *grads], inputs, passes=[])
    assert len(f.program.schedule) < len(plain.program.schedule)
    assert f.graph is f.program.graph and len(f.graph) == len(f.program.schedule)
    assert "power" not in f.source and "square" in f.source  # the source is the optimised one
    assert "out=" in f.source and "out=" not in plain.source
    assert f.graph.params is g.params
    # every node of the optimised graph is one line of the source, with its shape
    for n in f.graph.nodes:
        if n.role == "op" and n.id not in f.plan.static and n.id not in f.plan.views:
            assert f"# {n.op} {n.shape}" in f.source


def test_options():
    assert Options.make(None).enabled() == list(PASS_NAMES)
    assert Options.make(["dce"]).enabled() == ["dce"]
    assert "cse" not in Options.make({"cse": False}).enabled()
    assert Options.make(None, debug=True).debug
    with pytest.raises(ValueError, match="unknown pass"):
        Options.make(["fold", "inline"])
    with pytest.raises(TypeError):
        Options.make("fold")
    g, inputs, L, ps = mlp()
    n = len(g)
    with pytest.raises(ValueError, match="unknown pass"):
        gc.compile(L, inputs, passes={"nope": True})
    assert len(g) == n


def test_debug_env_var(monkeypatch):
    monkeypatch.setenv("GRAPHC_DEBUG", "1")
    g, inputs, L, ps = mlp()
    assert gc.compile(L, inputs)._options.debug


def test_verifier_catches_a_pass_that_changes_results():
    g, inputs, L, ps = mlp()
    f = gc.compile(L, inputs, passes=[])
    prog = f.program
    other = gc.Graph("mlp")
    ox = other.input("x", ("B", 3))
    other.input("y", ("B", 2))
    other.params.update(g.params)
    bad = type(prog)(graph=other, inputs=[0, 1], outputs=[other.tensor(0).id], updates=[])
    bad.outputs = [gc.sum(ox * 2.0).id]
    bad.schedule = list(range(len(other)))
    with pytest.raises(VerifyError, match="changed"):
        verify(bad, before=prog)


def test_pickled_function_runs_the_same_program():
    import pickle

    g, inputs, L, ps = mlp()
    f = gc.compile(L, inputs)
    f2 = pickle.loads(pickle.dumps(f))
    assert f2.source == f.source
    arrays = feed(inputs, 4, np.random.default_rng(0))
    np.testing.assert_allclose(f2(*arrays), f(*arrays))


def test_constant_folding_has_a_total_budget():
    """1,000 tanh over a broadcast 256x256 constant made compile peak at 1 GB: every node was
    under the per-node size, none was over a total."""
    import tracemalloc

    from graphc.passes import fold

    g = gc.Graph("f")
    x = g.input("x", ("B", 256))
    h = gc.broadcast_to(g.constant(np.float64(0.5)), (256, 256))
    for _ in range(600):
        h = gc.tanh(h)
    out = gc.sum(x @ h)
    tracemalloc.start()
    try:
        f = gc.compile(out, [x])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * fold.MAX_FOLD_BYTES, peak  # a few passes hold their constants at once
    X = np.ones((2, 256))
    want = np.float64(0.5)
    for _ in range(600):
        want = np.tanh(want)
    np.testing.assert_allclose(f(X), 2 * 256 * 256 * want, rtol=1e-12)
