"""The fused lowering of the Dask backend (``graphc/backend/dask/fused.py``): the per-chunk
work between sums over B runs as one task per chunk, so a step's task count grows with the
chunks, not with the nodes; regions are cut at the sums; results equal the numpy backend's
and the per-node lowering's; errors still name the user's line."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

da = pytest.importorskip("dask.array")

from graphc.backend.dask import DaskBackend  # noqa: E402
from tests.backend.dask.test_dask_backend import (  # noqa: E402
    _batchnorm_dropout_step,
    _conv_step,
)


def _deep_mlp_step(sizes=(6, 12, 12, 12, 1)):
    g = gc.Graph("mlp")
    x = g.input("x", ("B", sizes[0]))
    y = g.input("y", ("B", 1))
    loss = gc.mean((gc.nn.MLP(list(sizes))(x) - y) ** 2)
    return g, loss, gc.optim.Adam(lr=0.01).updates(loss)


def _inputs(g, rows, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((rows, *[int(d) for d in t.shape[1:]])) if t.dtype.kind == "f"
            else rng.integers(0, 3, rows) for t in g.inputs.values()]


def _tasks(f, xs):
    """The tasks of one call's dask graph (after dask's optimisation), params kept as
    they were."""
    before = {k: v.copy() for k, v in f.graph.params.items()}
    f.plan.count_tasks = True
    f(*xs)
    for k, v in before.items():
        f.graph.params[k][...] = v
    return f.plan.last_tasks


@pytest.mark.parametrize("make", [_deep_mlp_step, _conv_step], ids=["mlp", "conv"])
def test_a_training_step_is_one_task_per_chunk_and_one_tree(make):
    """The forward pass, the backward pass and the per-chunk gradient sums are one region:
    with C chunks the step takes at most 2C + 24 tasks (C per-chunk tasks, a tree of about
    C/3, a key per param and per local value); one node per task would take ~10 per chunk."""
    g, loss, updates = make()
    fused = gc.compile(loss, updates=updates, backend=DaskBackend(chunks=2))
    per_node = gc.compile(loss, updates=updates, backend=DaskBackend(chunks=2, fuse=False))
    assert [r.kind for r in fused.plan.fused.regions] == ["chunk"]
    assert per_node.plan.fused is None
    got = {}
    for C in (4, 16):
        xs = _inputs(g, 2 * C)
        got[C] = _tasks(fused, xs)
        assert got[C] <= 2 * C + 24, (C, got[C])
        assert _tasks(per_node, xs) > 2 * C + 24  # the bound means something
    assert got[16] - got[4] <= 2 * 12, got  # linear in C with a small slope


def test_deeper_nets_take_the_same_tasks_per_chunk():
    """More layers add nodes to the region, not tasks per chunk (only a key per param)."""
    counts = []
    for sizes in [(6, 12, 1), (6, 12, 12, 12, 12, 1)]:
        g, loss, updates = _deep_mlp_step(sizes)
        f = gc.compile(loss, updates=updates, backend=DaskBackend(chunks=2))
        per_chunk = f.plan.fused.tasks(16) - f.plan.fused.tasks(8)
        counts.append(per_chunk)
        assert _tasks(f, _inputs(g, 32)) <= 2 * 16 + 24
    assert counts[0] == counts[1] == 8 + 2, counts  # 8 chunk tasks, 2 more tree nodes


def test_regions_are_cut_at_the_sums_over_b():
    """BatchNorm reads its batch statistics back in every row: each sum over B that rows
    read again starts a new stage (the statistics' arithmetic in between is one whole task)."""
    g, loss, updates = _batchnorm_dropout_step()
    f = gc.compile(loss, updates=updates, backend=DaskBackend(chunks=3))
    regions = f.plan.fused.regions
    chunk = [r.stage for r in regions if r.kind == "chunk"]
    assert chunk == sorted(set(chunk)) and len(chunk) >= 3, chunk
    assert {r.kind for r in regions} == {"chunk", "whole"}
    for r in regions:  # a region reads only what earlier regions (or the caller) made
        earlier = {i for q in regions[:regions.index(r)] for i in q.outs}
        made = {i for q in regions for i in q.nodes}
        assert all(j in earlier or j not in made for j in r.ins), r.describe(f.graph)


def _mixed():
    """Per-row work, a mean and a max over B (partials), a cumsum along B (gathered), rows
    that read the reduced and the gathered values, a broadcast of a reduced value."""
    g = gc.Graph("mixed")
    x = g.input("x", ("B", 4))
    W = g.param("W", np.linspace(-1, 1, 4))
    h = gc.tanh(x * W)
    m = gc.mean(h, axis=0)
    c = gc.cumsum(h, axis=0)
    z = (c - m) * 2 + gc.broadcast_to(gc.max(h, axis=0), (x.shape[0], 4))
    return x, [z, gc.sum(z * z, axis=0), gc.max(z), m]


@pytest.mark.parametrize("lazy_input", [False, True], ids=["numpy-input", "dask-input"])
def test_a_graph_with_every_kind_of_region_equals_numpy(lazy_input):
    x, outs = _mixed()
    f = gc.compile(outs, backend=DaskBackend(chunks=3))
    kinds = {r.kind for r in f.plan.fused.regions}
    assert kinds == {"chunk", "whole", "gather"}, kinds
    X = np.random.default_rng(2).standard_normal((10, 4))
    want = gc.compile(outs)(X)
    per_node = gc.compile(outs, backend=DaskBackend(chunks=3, fuse=False))(X)
    got = f(da.from_array(X, chunks=4) if lazy_input else X)
    for a, b, c in zip(got, want, per_node):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c, b, rtol=1e-12, atol=1e-12)


def test_an_error_in_a_region_names_the_node_and_the_users_line():
    g = gc.Graph("e")
    idx = g.input("i", ("B",), dtype=np.int64)
    table = g.param("table", np.arange(5.0))
    out = gc.take(table, idx, axis=0) * 2  # the error's line
    f = gc.compile(out, backend=DaskBackend(chunks=2))
    assert f.plan.fused is not None
    with pytest.raises((IndexError, ValueError), match=r"(?s)take node %\d+ .*test_dask_fused.py"):
        f(np.array([0, 1, 2, 9]))


def test_check_finite_checks_every_value_of_every_chunk():
    g = gc.Graph("n")
    x = g.input("x", ("B", 2))
    out = gc.sum(gc.log(x), axis=0)
    f = gc.compile(out, backend=DaskBackend(chunks=2), check_finite=True)
    X = np.ones((5, 2))
    np.testing.assert_allclose(f(X), [0.0, 0.0])
    X[4, 1] = -1.0
    with pytest.raises(gc.NonFiniteError, match="log"):
        f(X)
