"""Random ops (issue 15): ``gc.random.uniform / normal / bernoulli / permutation`` of symbolic
shapes, their generator state (the non-trainable param ``rng/state``, advanced by each
compiled call and committed with its updates), and ``gc.nn.dropout``.

Checked: the draws are numpy's Philox at the documented counter; one compiled Function draws
afresh at every call and for several bindings of its symbols; the same seed reproduces a run
(re-seeding, save/load, ``fit``); a call that raises does not advance the state;
``gc.evaluate`` does not advance it (so ``check_grad`` sees one mask); draws are never
folded, made static or merged; the statistics of large draws; errors leave the graph as it
was.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

import graphc as gc
from graphc.backend.numpy.memory import static_nodes
from graphc.ops.random import STATE_NAME, generator, initial_state

FLOATS = (np.float64, np.float32)


def _state(g):
    return g.params[STATE_NAME].copy()


def _philox(state, stream):
    """The documented reference: Philox keyed by state[0] at counter [0, stream, state[1], 0]."""
    return np.random.Generator(np.random.Philox(
        key=int(state[0]), counter=np.array([0, stream, int(state[1]), 0], np.uint64)))


# ---------------------------------------------------------------------------- the state


def test_the_state_is_a_non_trainable_uint64_param_made_on_first_use_with_seed_0():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    assert STATE_NAME not in g
    with g.name_scope("mlp"):  # the state is one per graph, named without the scope
        u = gc.random.uniform(x, x.shape)
    s = g[STATE_NAME]
    assert s.node.role == "param" and s.node.attr["trainable"] is False
    assert s.dtype == np.uint64 and s.shape == (2,)
    assert g.trainable == []
    np.testing.assert_array_equal(g.params[STATE_NAME], initial_state(0))
    assert int(g.params[STATE_NAME][1]) == 0  # [key, counter]
    assert u.node.inputs == (s.id,)
    assert gc.random.state(g) is s and gc.random.state(u) is s  # a Graph or a Tensor
    n = gc.random.normal(g, (2,))
    assert n.node.inputs == (s.id,) and [t.node.attr["stream"] for t in (u, n)] == [0, 1]


def test_streams_are_unique_so_equal_draws_are_distinct_nodes_never_merged():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    a, b = gc.random.uniform(x, x.shape), gc.random.uniform(x, x.shape)
    assert a.node.attr["stream"] != b.node.attr["stream"]
    f = gc.compile([a, b, a - b], inputs=[x])  # a draw reads only x's shape
    ops = [f.graph.node(i).op for i in f.program.schedule]
    assert ops.count("random_uniform") == 2  # CSE keeps both
    ua, ub, d = f(np.zeros((50, 4)))
    assert not np.array_equal(ua, ub) and np.abs(d).max() > 0
    # independent streams: no shared values, no correlation to speak of
    big = gc.compile([gc.random.uniform(g, 20_000), gc.random.uniform(g, 20_000)])()
    assert np.intersect1d(*big).size == 0
    assert abs(np.corrcoef(*big)[0, 1]) < 0.05


def test_draws_are_philox_at_the_documented_counter():
    g = gc.Graph()
    u = gc.random.uniform(g, (3, 4), -2.0, 5.0)
    z = gc.random.normal(g, (5,), 1.0, 2.0, np.float32)
    m = gc.random.bernoulli(g, 0.25, (6,))
    p = gc.random.permutation(g, 7)
    gc.random.seed(g, 123)
    st = _state(g)
    got = gc.evaluate([u, z, m, p])
    # uniform in float64 from the raw words: (w >> 11) * 2**-53
    words = np.random.Philox(key=int(st[0]), counter=np.array([0, 0, st[1], 0], np.uint64))
    unit = (words.random_raw(12) >> np.uint64(11)) * 2.0**-53
    np.testing.assert_array_equal(got[0], (unit * 7.0 - 2.0).reshape(3, 4))
    np.testing.assert_array_equal(
        got[1], _philox(st, 1).standard_normal(5, np.float32) * np.float32(2) + np.float32(1))
    np.testing.assert_array_equal(got[2], _philox(st, 2).random(6) < 0.25)
    np.testing.assert_array_equal(got[3], _philox(st, 3).permutation(7))
    assert [a.dtype for a in got] == [np.float64, np.float32, np.bool_, np.int64]
    # the kernels' own generator is that reference
    np.testing.assert_array_equal(generator(st, 3).random(9), _philox(st, 3).random(9))


# ------------------------------------------------------------------- advancing, seeding


def test_each_compiled_call_draws_afresh_and_evaluate_does_not_advance():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    y = x + gc.random.normal(x, x.shape)
    f = gc.compile(y)
    assert f.program.updates and g.node(f.program.updates[0][0]).name == STATE_NAME
    assert "rng/state" in repr(f)
    xv = np.zeros((4, 3))
    key = int(g.params[STATE_NAME][0])
    e1, e2 = gc.evaluate(y, {x: xv}), gc.evaluate(y, {x: xv})
    np.testing.assert_array_equal(e1, e2)  # evaluate: the current state, not advanced
    assert int(g.params[STATE_NAME][1]) == 0
    r1 = f(xv)
    np.testing.assert_array_equal(r1, e1)  # the next call draws what evaluate showed
    r2 = f(xv)
    assert not np.array_equal(r1, r2)
    np.testing.assert_array_equal(g.params[STATE_NAME], [key, 2])  # counter + 1 per call
    np.testing.assert_array_equal(gc.evaluate(y, {x: xv}), f(xv))
    # consecutive calls do not overlap (the counter never shares the word Philox advances)
    big = gc.compile(gc.random.uniform(g, 10_000))
    assert np.intersect1d(big(), big()).size == 0


def test_the_same_seed_gives_the_same_run():
    g = gc.Graph()
    x = g.input("x", ("B",))
    f = gc.compile([gc.random.uniform(x, x.shape), gc.random.permutation(x, x.shape[0])],
                   inputs=[x])
    xv = np.zeros(8)
    gc.random.seed(g, 7)
    run1 = [f(xv) for _ in range(3)]
    gc.random.seed(g, 7)  # in place: the compiled function sees it
    run2 = [f(xv) for _ in range(3)]
    gc.random.seed(g, 8)
    run3 = [f(xv) for _ in range(3)]
    for a, b, c in zip(run1, run2, run3):
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(run1[0][0], run1[1][0])
    # a graph seeded before any draw; and two graphs built alike with one seed agree
    runs = []
    for _ in range(2):
        h = gc.Graph()
        t = gc.random.seed(h, 5)
        assert t is h[STATE_NAME]
        runs.append(gc.compile(gc.random.normal(h, (4,)))())
    np.testing.assert_array_equal(*runs)


def test_two_functions_of_one_graph_share_and_advance_one_state():
    g = gc.Graph()
    u = gc.random.uniform(g, (5,))
    f1, f2 = gc.compile(u), gc.compile(gc.random.uniform(g, (5,)) * 1.0)
    a = f1()
    b = f1()
    f2()
    c = f1()
    assert int(g.params[STATE_NAME][1]) == 4
    assert not (np.array_equal(a, b) or np.array_equal(b, c) or np.array_equal(a, c))
    # the advance node is made once per graph: compiling again does not grow the graph
    u2 = u * 2
    n = len(g)
    gc.compile(u)
    gc.compile([u, u2])
    assert len(g) == n


def test_a_caller_update_of_the_state_is_kept():
    g = gc.Graph()
    u = gc.random.uniform(g, (3,))
    s = gc.random.state(g)
    f = gc.compile(u, updates={s: s})  # hold the state: every call draws the same
    np.testing.assert_array_equal(f(), f())
    assert len(f.program.updates) == 1 and int(g.params[STATE_NAME][1]) == 0


def test_a_state_fed_to_evaluate_or_given_as_an_input_is_used_as_it_is():
    g = gc.Graph()
    u = gc.random.uniform(g, (4,))
    s = np.array([11, 3], np.uint64)
    np.testing.assert_array_equal(gc.evaluate(u, {STATE_NAME: s}), _philox(s, 0).random(4))
    np.testing.assert_array_equal(g.params[STATE_NAME], initial_state(0))
    # a functional state: an input; nothing to advance
    h = gc.Graph()
    st = h.input("st", (2,), np.uint64)
    v = h.apply("random_uniform", [st], {"shape": (4,), "low": 0.0, "high": 1.0,
                                         "dtype": "float64", "stream": 0})
    f = gc.compile(v)
    assert f.program.updates == []
    np.testing.assert_array_equal(f(s), f(s))
    np.testing.assert_array_equal(f(s), _philox(s, 0).random(4))


# ---------------------------------------------------------------------- failed calls


def _counter(g):
    return int(g.params[STATE_NAME][1])


@pytest.mark.filterwarnings("ignore:.*encountered in log:RuntimeWarning")
def test_a_failed_call_does_not_advance_the_state():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    y = gc.log(x) @ W + gc.random.normal(x, ("B", 2))
    loss = gc.sum(y * y)
    step = gc.compile(loss, updates={W: W - 0.01 * gc.grad(loss, [W])[0]})
    ok = np.ones((4, 3))
    step(ok)
    assert _counter(g) == 1
    w_before, st_before = g.params["W"].copy(), _state(g)
    with pytest.raises(gc.ShapeError):
        step(np.ones((4, 5)))  # fails the input's shape check
    with pytest.raises(gc.ShapeError):
        step(np.ones(4))
    np.testing.assert_array_equal(_state(g), st_before)
    # a NaN loss: check_finite="outputs" raises before the commit; True at the node
    for mode in ("outputs", True):
        f = gc.compile(loss, updates={W: W - 0.01 * gc.grad(loss, [W])[0]}, check_finite=mode)
        with pytest.raises(gc.NonFiniteError):
            f(-ok)
        np.testing.assert_array_equal(_state(g), st_before)
        np.testing.assert_array_equal(g.params["W"], w_before)
        f(ok)
        assert _counter(g) == int(st_before[1]) + 1
        st_before, w_before = _state(g), g.params["W"].copy()


@pytest.mark.filterwarnings("ignore:.*encountered in log:RuntimeWarning")
def test_a_failed_fit_step_does_not_advance_the_state():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    w = g.param("w", np.ones(2))
    loss = gc.mean(gc.log(gc.nn.dropout(x, 0.5)) * w + 1.0)  # log(0) of a dropped entry
    before = _state(g)
    with pytest.raises(gc.nn.NonFiniteLossError):
        gc.nn.fit(loss, gc.optim.SGD(0.1), {x: np.ones((64, 2))}, epochs=1, batch_size=64,
                  progress=False)
    np.testing.assert_array_equal(_state(g), before)


# ------------------------------------------------------------------ symbolic shapes


@pytest.mark.parametrize("dtype", FLOATS)
def test_one_function_draws_symbolic_shapes_at_several_bindings(dtype):
    g = gc.Graph()
    x = g.input("x", ("B", "T"), dtype)
    outs = [
        gc.random.uniform(x, x.shape, -1.0, 1.0, dtype),
        gc.random.normal(x, ("T", "B*T"), 3.0, 0.5, dtype),
        gc.random.bernoulli(x, 0.5, ("2*T", "B - 1"), dtype),
        gc.random.permutation(x, x.shape[1]),
        gc.random.permutation(g, "B + T"),
        x * gc.random.bernoulli(x, 0.5, x.shape, dtype),  # a draw into a planned buffer
    ]
    assert [o.shape for o in outs] == [("B", "T"), ("T", "B*T"), ("2*T", "B - 1"), ("T",),
                                       ("B + T",), ("B", "T")]
    f = gc.compile(outs)
    assert "out=" in f.source
    for B, T in [(1, 1), (3, 5), (2, 7), (3, 5)]:
        xv = np.ones((B, T), dtype)
        want = gc.evaluate(outs, {x: xv})
        got = f(xv)
        shapes = [(B, T), (T, B * T), (2 * T, B - 1), (T,), (B + T,), (B, T)]
        for w, v, s in zip(want, got, shapes, strict=True):
            assert w.shape == v.shape == s and w.dtype == v.dtype
            np.testing.assert_array_equal(v, w)
        assert sorted(got[3]) == list(range(T)) and sorted(got[4]) == list(range(B + T))
        assert got[0].dtype == dtype and ((got[0] >= -1) & (got[0] < 1)).all()
    # a negative dim is refused when the symbols are bound
    with pytest.raises(gc.ShapeError, match="B - 1"):
        f(np.ones((0, 2), dtype))


@pytest.mark.parametrize("passes", [None, {"memory": False}, [], {"cse": False, "fold": False}])
def test_compiled_draws_equal_the_reference_under_every_pipeline(passes):
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    u = gc.random.uniform(x, x.shape)
    outs = [gc.tanh(u * x), gc.random.normal(x, x.shape) + u,
            gc.random.bernoulli(x, 0.3, x.shape, np.float64) * 2.0, u]
    f = gc.compile(outs, passes=passes)
    for B in (2, 5):
        xv = np.random.default_rng(B).normal(size=(B, 3))
        want = gc.evaluate(outs, {x: xv})
        for w, v in zip(want, f(xv), strict=True):
            np.testing.assert_array_equal(v, w)


def test_draws_are_never_folded_nor_static():
    g = gc.Graph()
    u = gc.random.uniform(g, (3,))  # no symbol, no input: still drawn at every call
    m = gc.random.bernoulli(g, 0.5, (2, 2), np.float32) * 3.0
    f = gc.compile([u, m])
    prog = f.program
    draws = [i for i in prog.schedule if f.graph.node(i).op.startswith("random_")]
    assert {f.graph.node(i).op for i in draws} == {"random_uniform", "random_bernoulli",
                                                   "random_advance"}
    assert not set(draws) & static_nodes(prog)
    assert not set(draws) & set(f.plan.static)
    assert all(f.graph.node(i).role != "constant" for i in prog.outputs)
    assert not np.array_equal(f()[0], f()[0])
    g2 = gc.Graph()
    gc.random.uniform(g2, 3)
    assert gc.compile(gc.random.uniform(g2, 3), debug=True)().shape == (3,)  # verify passes


def test_the_emitted_code_holds_only_numbers_and_names():
    g = gc.Graph()
    x = g.input("x", ("B",))
    gc.compile([gc.random.uniform(x, x.shape, 0.25, 0.75), gc.random.normal(g, 2, 1e-3, 2.5),
                gc.random.bernoulli(x, 1 / 3, x.shape), gc.random.permutation(x, "B")],
               inputs=[x])
    f = gc.compile([gc.random.uniform(x, x.shape, 0.25, 0.75)], inputs=[x])
    line = next(ln for ln in f.source.splitlines() if "# random_uniform" in ln)
    assert re.fullmatch(r"\s*\w+ = k_\d+\(p_\d+, \d+, \(s0,\), 0\.25, 0\.75, dt_\d+\)  # .*",
                        line), line


# ------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("dtype", FLOATS)
def test_statistics_of_large_draws(dtype):
    n = 400_000
    g = gc.Graph()
    gc.random.seed(g, 2024)
    outs = [gc.random.uniform(g, n, -1.0, 3.0, dtype), gc.random.normal(g, n, 2.0, 0.5, dtype),
            gc.random.bernoulli(g, 0.3, n), gc.random.bernoulli(g, 0.0, n),
            gc.random.bernoulli(g, 1.0, n), gc.random.normal(g, 10, 5.0, 0.0, dtype)]
    f = gc.compile(outs)
    for _ in range(2):
        u, z, b, b0, b1, const = f()
        se = 1 / np.sqrt(n)  # a standard error of the mean, in units of the std
        assert u.dtype == z.dtype == dtype
        assert ((u >= -1) & (u <= 3)).all()
        assert abs(u.mean() - 1.0) < 5 * se * 4 / np.sqrt(12)
        assert abs(u.var() - 16 / 12) < 0.02
        assert abs(np.mean(u < 0) - 0.25) < 5 * se
        assert abs(z.mean() - 2.0) < 5 * se * 0.5
        assert abs(z.std() - 0.5) < 0.005
        assert abs(np.mean(z < 2.0) - 0.5) < 5 * se
        assert abs(np.mean(np.abs(z - 2.0) < 0.5) - 0.6827) < 5 * se  # one sigma
        assert b.dtype == np.bool_ and abs(b.mean() - 0.3) < 5 * se * np.sqrt(0.21)
        assert not b0.any() and b1.all()
        np.testing.assert_array_equal(const, np.full(10, 5.0, dtype))


def test_permutations_are_permutations_and_uniform():
    g = gc.Graph()
    x = g.input("x", ("N",))
    p = gc.random.permutation(x, x.shape[0])
    f = gc.compile(p, inputs=[x])
    for n in (0, 1, 2, 17, 1000):
        got = f(np.zeros(n))
        assert got.dtype == np.int64 and got.shape == (n,)
        np.testing.assert_array_equal(np.sort(got), np.arange(n))
    # each of the 6 orders of 3 items about 1/6 of the time; the first item uniform
    seen = np.array([f(np.zeros(3)) for _ in range(6000)])
    _, counts = np.unique(seen, axis=0, return_counts=True)
    assert len(counts) == 6 and (np.abs(counts - 1000) < 150).all()
    first = np.array([f(np.zeros(5))[0] for _ in range(5000)])
    assert (np.abs(np.bincount(first, minlength=5) - 1000) < 150).all()


def test_shuffling_rows_with_a_permutation():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    perm = gc.random.permutation(x, x.shape[0])
    y = gc.take_along_axis(x, perm[:, None], axis=0)
    xv = np.arange(20.0).reshape(10, 2)
    got, pv = gc.compile([y, perm])(xv)
    np.testing.assert_array_equal(got, xv[pv])
    assert not np.array_equal(got, xv)


# ------------------------------------------------------------------------- save, load


def test_save_and_load_keep_the_state_and_reproduce_the_draws(tmp_path):
    g = gc.Graph("noisy")
    x = g.input("x", ("B", 3))
    g.output("y", x + gc.random.normal(x, x.shape, 0.0, 0.1))
    g.output("keep", gc.random.bernoulli(x, 0.75, x.shape))
    gc.random.seed(g, 99)
    f = gc.compile(list(g.outputs.values()))
    xv = np.zeros((4, 3))
    f(xv)  # the counter moves to 1 before saving
    gc.save(g, tmp_path / "noisy.json")
    h = gc.load(tmp_path / "noisy.json")
    np.testing.assert_array_equal(h.params[STATE_NAME], g.params[STATE_NAME])
    assert h[STATE_NAME].node.attr["trainable"] is False
    fh = gc.compile(list(h.outputs.values()))
    for _ in range(3):
        for a, b in zip(f(xv), fh(xv), strict=True):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(h.params[STATE_NAME], g.params[STATE_NAME])
    # a draw added after loading takes a new stream
    streams = {n.attr["stream"] for n in h.nodes if n.op.startswith("random_") and
               n.op != "random_advance"}
    assert gc.random.uniform(h, 2).node.attr["stream"] not in streams
    # a compiled function pickles with its update
    fp = pickle.loads(pickle.dumps(f))
    assert [fp.graph.node(p).name for p, _ in fp.program.updates] == [STATE_NAME]


# ----------------------------------------------------------------------------- dropout


def test_dropout_zeroes_with_probability_p_and_scales_the_rest():
    g = gc.Graph()
    x = g.input("x", ("B", "D"))
    p = 0.3
    y = gc.nn.dropout(x, p)
    assert gc.nn.dropout(x, p, training=False) is x and gc.nn.dropout(x, 0.0) is x
    assert gc.nn.dropout(x, 0) is x
    f = gc.compile([y, gc.nn.dropout(x, 1.0)])
    xv = np.random.default_rng(0).uniform(1, 2, (200, 500))
    a, zeros = f(xv)
    assert zeros.shape == xv.shape and not zeros.any()
    kept = a != 0
    np.testing.assert_allclose(a[kept], xv[kept] / (1 - p), rtol=1e-15)
    assert abs(kept.mean() - (1 - p)) < 0.005
    assert abs(a.mean() / xv.mean() - 1) < 0.01  # inverted dropout keeps the expectation
    b, _ = f(xv)
    assert not np.array_equal(a != 0, b != 0)  # a new mask at each call
    x32 = g.input("x32", (4, 3), np.float32)
    assert gc.nn.dropout(x32, 0.5).dtype == np.float32


def test_dropout_gradient_flows_through_the_mask_and_check_grad_works():
    g = gc.Graph()
    x = g.input("x", ("B", 6))
    W = g.param("W", np.random.default_rng(1).normal(size=(6, 3)))
    h = gc.nn.dropout(gc.tanh(x @ W), 0.5)
    loss = gc.sum(h * h)
    xv = np.random.default_rng(2).normal(size=(5, 6))
    report = gc.check_grad(loss, [W, x], {x: xv})
    assert report.count > 0 and report.worst <= 1
    # the gradient w.r.t. the dropout input is the mask / (1 - p) times the cotangent
    pre = gc.tanh(x @ W)
    out = gc.nn.dropout(pre, 0.5)
    dpre, = gc.grad(gc.sum(out), [pre])
    o, d = gc.evaluate([out, dpre], {x: xv})
    np.testing.assert_array_equal(d, np.where(o != 0, 2.0, 0.0))
    # compiled training steps change the params
    step = gc.compile(loss, updates={W: W - 0.1 * gc.grad(loss, [W])[0]})
    w0 = g.params["W"].copy()
    step(xv)
    assert not np.array_equal(g.params["W"], w0)


def _fit_run(seed):
    g = gc.Graph("dropnet")
    x = g.input("x", ("B", 2))
    y = g.input("y", ("B", 1))
    rng = np.random.default_rng(0)
    W1 = g.param("W1", rng.normal(size=(2, 16)) * 0.5)
    W2 = g.param("W2", rng.normal(size=(16, 1)) * 0.5)
    h = gc.nn.dropout(gc.tanh(x @ W1), 0.2)
    loss = gc.nn.mse_loss(h @ W2, y)
    gc.random.seed(g, seed)
    xv = rng.normal(size=(64, 2))
    yv = np.sin(xv[:, :1]) * xv[:, 1:]
    hist = gc.nn.fit(loss, gc.optim.SGD(0.05), {x: xv, y: yv}, epochs=5, batch_size=16,
                     progress=False)
    return g, hist


def test_fit_with_dropout_trains_and_the_same_seed_reproduces_it():
    g1, h1 = _fit_run(3)
    g2, h2 = _fit_run(3)
    g3, h3 = _fit_run(4)
    assert h1.steps == 20
    assert h1.loss[-1] < h1.loss[0]
    assert h1.step_loss == h2.step_loss and h1.step_loss != h3.step_loss
    for name in ("W1", "W2"):
        np.testing.assert_array_equal(g1.params[name], g2.params[name])
        assert not np.array_equal(g1.params[name], g3.params[name])
    assert int(g1.params[STATE_NAME][1]) == 20  # one draw per step
    assert all(t is not g1[STATE_NAME] for t in g1.trainable)


# ------------------------------------------------------------------------------ errors


def _unchanged(g, before):
    assert len(g) == before[0] and sorted(g.params) == before[1]


@pytest.mark.parametrize("build, error, match", [
    (lambda g: gc.random.uniform(g, (2,), 0.0, float("inf")), ValueError, "finite"),
    (lambda g: gc.random.uniform(g, (2,), -1e308, 1e308), ValueError, "high - low"),
    (lambda g: gc.random.uniform(g, (2,), 0.0, 1e39, np.float32), ValueError, "float32"),
    (lambda g: gc.random.uniform(g, (2,), dtype=np.int64), TypeError, "float32 or float64"),
    (lambda g: gc.random.uniform(g, (2,), "0"), TypeError, "not a float"),
    (lambda g: gc.random.uniform(g, (-1,)), gc.ShapeError, "negative"),
    (lambda g: gc.random.uniform(g, (2.5,)), gc.ShapeError, "not an int"),
    (lambda g: gc.random.normal(g, (2,), 0.0, -1.0), ValueError, "scale must be >= 0"),
    (lambda g: gc.random.normal(g, (2,), dtype=np.float16), TypeError, "float32 or float64"),
    (lambda g: gc.random.bernoulli(g, 1.5, (2,)), ValueError, r"p must be in \[0, 1\]"),
    (lambda g: gc.random.bernoulli(g, float("nan"), (2,)), ValueError, "finite"),
    (lambda g: gc.random.bernoulli(g, True, (2,)), TypeError, "not a float"),
    (lambda g: gc.random.bernoulli(g, 0.5, (2,), dtype=object), TypeError, "not supported"),
    (lambda g: gc.random.permutation(g, -3), gc.ShapeError, "negative"),
    (lambda g: gc.random.permutation(g, g["x"]), TypeError, "is a Tensor"),
    (lambda g: gc.random.bernoulli(g, g["x"], (2,)), TypeError, "is a Tensor"),
    (lambda g: gc.random.uniform([1], (2,)), TypeError, "Graph or Tensor"),
    (lambda g: gc.random.seed(g, -1), ValueError, "int >= 0"),
    (lambda g: gc.random.seed(g, 1.5), TypeError, "int >= 0"),
    (lambda g: gc.random.seed(g, True), TypeError, "int >= 0"),
    (lambda g: g.apply("random_uniform", [g["x"]], {"shape": (2,), "low": 0.0, "high": 1.0,
                                                    "dtype": "float64", "stream": 0}),
     TypeError, "uint64"),
    (lambda g: g.apply("random_uniform", [gc.random.state(g)],
                       {"shape": (2,), "low": 0.0, "high": 1.0, "dtype": "float64"}),
     TypeError, "stream"),
])
@pytest.mark.parametrize("first", [True, False])
def test_errors_are_clear_and_leave_the_graph_unchanged(build, error, match, first):
    g = gc.Graph()
    g.input("x", ("B",))
    if not first or "apply" in build.__code__.co_names:
        gc.random.uniform(g, 3)  # the state exists already
    before = (len(g), sorted(g.params))
    with pytest.raises(error, match=match):
        build(g)
    _unchanged(g, before)  # no node, and no state param made for a draw that failed


def test_the_state_name_taken_by_something_else_is_an_error():
    g = gc.Graph()
    g.input("rng/state", (2,), np.uint64)
    with pytest.raises(TypeError, match="not a generator state"):
        gc.random.uniform(g, 2)
    h = gc.Graph()
    h.param("rng/state", np.zeros(3), trainable=False)
    with pytest.raises(TypeError, match="not a generator state"):
        gc.random.seed(h, 1)


def test_dropout_errors():
    g = gc.Graph()
    x = g.input("x", (3,))
    for p, err in [(1.5, ValueError), (-0.1, ValueError), ("0.5", TypeError),
                   (float("nan"), ValueError)]:
        with pytest.raises(err, match="dropout"):
            gc.nn.dropout(x, p)
    with pytest.raises(TypeError, match="training"):
        gc.nn.dropout(x, 0.5, training="yes")
    with pytest.raises(TypeError, match="float dtype"):
        gc.nn.dropout(g.input("i", (3,), np.int64), 0.5)
    with pytest.raises(TypeError, match="Tensor"):
        gc.nn.dropout(np.ones(3), 0.5)
    assert STATE_NAME not in g.params
