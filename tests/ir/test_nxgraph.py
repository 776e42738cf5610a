"""The graph queries: ``needed``/``depends_on`` (sweeps over the ids) against networkx run on
a fresh DiGraph, as the graph grows and after ``Graph.atomic()`` truncated it (also when it
grew back to the same length)."""

import threading

import networkx as nx
import numpy as np
import pytest

import graphc as gc
from graphc.ir.nxgraph import depends_on, needed, to_digraph


def ref_needed(g, roots):
    d = to_digraph(g)
    return sorted(set(roots).union(*(nx.ancestors(d, r) for r in roots)))


def ref_depends_on(g, roots):
    d = to_digraph(g)
    return set(roots).union(*(nx.descendants(d, r) for r in roots))


def check(g, roots):
    assert needed(g, roots) == ref_needed(g, roots)
    assert depends_on(g, roots) == ref_depends_on(g, roots)


def small():
    g = gc.Graph()
    x, y = g.input("x", ("B", 3)), g.input("y", ("B", 3))
    a = gc.tanh(x)
    b = a * y
    c = gc.exp(y)
    return g, x, y, a, b, c


def test_needed_and_depends_on_agree_with_networkx_on_a_fresh_digraph():
    g, x, y, a, b, c = small()
    for roots in ([b.id], [c.id], [b.id, c.id], [x.id], [], [a.id, a.id]):
        check(g, roots)
    assert needed(g, [c.id]) == [y.id, c.id]
    assert depends_on(g, [x.id]) == {x.id, a.id, b.id}


def test_the_kept_digraph_follows_the_graph_as_it_grows():
    g, x, y, a, b, c = small()
    check(g, [b.id])
    d = gc.log(b) + c  # appended after the first query
    check(g, [d.id])
    assert needed(g, [d.id]) == list(range(len(g)))


def test_truncation_by_atomic_then_regrowth_to_the_same_length_is_seen():
    g, x, y, a, b, c = small()
    check(g, [c.id])
    n = len(g)
    with pytest.raises(RuntimeError):
        with g.atomic():
            e = gc.exp(a)  # uses a: x -> a -> e
            check(g, [e.id])  # the kept DiGraph now has e's edge from a
            raise RuntimeError("drop e")
    assert len(g) == n
    e2 = gc.exp(y)  # the same id as e, from y instead of a
    assert e2.id == e.id
    check(g, [e2.id])
    assert needed(g, [e2.id]) == [y.id, e2.id]
    assert x.id not in needed(g, [e2.id]) and e2.id not in depends_on(g, [x.id])


def test_truncation_below_the_kept_length_then_other_growth():
    g, x, y, a, b, c = small()
    with pytest.raises(ValueError):
        with g.atomic():
            for _ in range(5):
                a = gc.tanh(a)
            check(g, [a.id])
            raise ValueError("drop the chain")
    f = gc.add(c, b)
    check(g, [f.id])
    check(g, [x.id])


def test_to_digraph_is_a_new_digraph_the_caller_may_change():
    g, x, y, a, b, c = small()
    needed(g, [b.id])
    d = to_digraph(g)
    d.add_edge(x.id, c.id)
    assert needed(g, [c.id]) == [y.id, c.id]


def test_queries_from_threads_while_the_graph_grows():
    g, x, y, a, b, c = small()
    errors = []

    def query():
        try:
            for _ in range(200):
                n = len(g)
                got = needed(g, [n - 1])
                assert got[-1] == n - 1 and all(i < n for i in got)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=query) for _ in range(3)]
    for t in threads:
        t.start()
    h = b
    for _ in range(300):
        h = gc.tanh(h)
    for t in threads:
        t.join()
    assert not errors
    check(g, [h.id])


def test_random_graphs_and_roots_agree_with_networkx():
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = gc.Graph()
        ts = [g.input(f"x{k}", (3,)) for k in range(3)]
        for _ in range(40):
            a, b = (ts[k] for k in rng.integers(0, len(ts), 2))
            ts.append(a + b if rng.random() < 0.5 else gc.tanh(a))
        for _ in range(5):
            roots = [int(r) for r in rng.integers(0, len(g), rng.integers(0, 4))]
            check(g, roots)


def test_roots_outside_the_graph_are_returned_as_they_are():
    g, x, y, a, b, c = small()
    assert needed(g, [c.id, 99]) == [y.id, c.id, 99]
    assert depends_on(g, [99]) == {99}
