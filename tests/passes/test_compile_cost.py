"""What makes compiling linear changes nothing that is compiled: the Rebuilder's reuse of
unchanged nodes (no re-inference), the pipeline's stop once every pass in a row changed
nothing and its single schedule at the end give the same optimised graph, schedule and
source as re-inferring every node and iterating rounds until the printed graph repeats
(the pipeline before them)."""

import numpy as np
import pytest

import graphc as gc
from graphc.passes import pipeline
from graphc.passes._rebuild import Rebuilder
from graphc.passes.pipeline import GRAPH_PASSES, MAX_ROUNDS, Options, remap, roots_of


def reference_optimize(prog, options=None):
    """The pipeline as it was: whole rounds, remapped and scheduled after every pass, until a
    round prints the same graph as the round before (at most MAX_ROUNDS)."""
    options = options or Options()
    active = [fn for k, fn in GRAPH_PASSES.items() if getattr(options, k)]
    if not active:
        return prog
    last = None
    for _ in range(MAX_ROUNDS):
        for fn in active:
            g, m = fn(prog.graph, roots_of(prog))
            prog = remap(prog, g, m)
        text = str(prog.graph)
        if text == last:
            break
        last = text
    return prog


def training_step(kind):
    g = gc.Graph("step")
    if kind == "mse-adam":
        x, y = g.input("x", ("B", 4)), g.input("y", ("B", 3))
        mlp = gc.nn.MLP([4, 8, 8, 3])
        loss = gc.nn.mse_loss(mlp(x), y)
        opt = gc.optim.Adam(1e-3)
    elif kind == "xent-nesterov":
        x, y = g.input("x", ("B", 5)), g.input("y", ("B",), np.int64)
        mlp = gc.nn.MLP([5, 6, 4], activation="relu")
        loss = gc.nn.cross_entropy(mlp(x), y)
        opt = gc.optim.SGD(0.1, momentum=0.9, nesterov=True)
    else:  # the benchmark's curve model: plain params, gc.grad, SGD updates by hand
        x, y = g.input("x", ("B", 1)), g.input("y", ("B", 1))
        rng = np.random.default_rng(0)
        sizes = [1, 16, 16, 1]
        ps = []
        h = x
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            ps += [g.param(f"W{i}", rng.standard_normal((a, b))), g.param(f"b{i}", np.zeros(b))]
            h = h @ ps[-2] + ps[-1]
            if i < len(sizes) - 2:
                h = gc.tanh(h)
        loss = gc.mean((h - y) ** 2)
        grads = gc.grad(loss, ps)
        return loss, [x, y], {p: p - 0.05 * gp for p, gp in zip(ps, grads)}
    return loss, [x, y], opt.updates(loss, mlp.parameters())


def described(f):
    g = f.graph
    return (f.source, str(g), list(f.program.schedule),
            [(n.op, n.inputs, n.attrs, n.shape, n.dtype, n.name, n.loc, n.meta) for n in g.nodes])


@pytest.mark.parametrize("kind", ["mse-adam", "xent-nesterov", "curve-sgd"])
@pytest.mark.parametrize("passes", [None, {"fold": False}, {"dce": False}, ["simplify", "cse"]])
def test_the_fast_pipeline_compiles_what_the_reference_pipeline_compiles(kind, passes,
                                                                       monkeypatch):
    loss, inputs, updates = training_step(kind)
    fast = described(gc.compile(loss, inputs, updates=updates, passes=passes))
    with monkeypatch.context() as mp:
        mp.setattr(Rebuilder, "_reuse", lambda self, n, ins: None)  # re-infer every node
        mp.setattr(pipeline, "optimize", reference_optimize)  # Function imports it per call
        ref = described(gc.compile(loss, inputs, updates=updates, passes=passes))
    assert fast == ref


def test_a_pass_that_changes_nothing_shares_every_node_and_the_pipeline_stops(monkeypatch):
    loss, inputs, updates = training_step("mse-adam")
    f = gc.compile(loss, inputs, updates=updates)
    calls = []

    def counting(name, fn):
        def run(graph, roots):
            calls.append(name)
            return fn(graph, roots)
        return run

    monkeypatch.setattr(pipeline, "GRAPH_PASSES",
                        {k: counting(k, fn) for k, fn in GRAPH_PASSES.items()})
    again = pipeline.optimize(f.program)
    # the optimised program is a fixed point: each pass runs once, and all are no-ops
    assert calls == list(GRAPH_PASSES)
    assert all(a is b for a, b in zip(again.graph.nodes, f.graph.nodes))
    assert len(again.graph) == len(f.graph) and again.schedule == f.program.schedule


def test_the_pipeline_still_stops_after_max_rounds_when_a_pass_never_settles(monkeypatch):
    loss, inputs, updates = training_step("curve-sgd")
    prog = gc.compile(loss, inputs, updates=updates, passes=[]).program
    calls = []

    def restless(graph, roots):
        """A copy of the graph whose first op node is re-made (not shared): never unchanged."""
        calls.append(1)
        rb = Rebuilder(graph)
        first = next(n.id for n in graph.nodes if n.role == "op")
        for n in graph.nodes:
            if n.id == first:
                rb.map[n.id] = rb.add(n.op, tuple(rb.map[i] for i in n.inputs), n.attr, like=n)
            else:
                rb.copy(n)
        return rb.finish()

    monkeypatch.setattr(pipeline, "GRAPH_PASSES", {"fold": restless})
    out = pipeline.optimize(prog, Options.make(["fold"]))
    assert len(calls) == MAX_ROUNDS
    assert str(out.graph) == str(prog.graph) and out.schedule == prog.schedule


def test_a_copied_node_whose_operand_changed_shape_or_dtype_is_re_inferred():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    h = gc.tanh(x)
    t = h * h
    rb = Rebuilder(g)
    z = rb.g.input("z", (3,), np.float32)  # x's stand-in: another shape and dtype
    rb.map[x.id] = z.id
    for n in g.nodes[1:]:
        rb.copy(n)
    for u in (h, t):
        new = rb.node(rb.map[u.id])
        assert new.shape == (3,) and new.dtype == np.float32
