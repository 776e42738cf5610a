"""The networkx adapter: ``needed``/``depends_on`` against networkx run on a fresh DiGraph,
while the DiGraph kept per graph is extended as the graph grows and rebuilt when
``Graph.atomic()`` truncated it (also when it grew back to the same length)."""

import threading

import networkx as nx
import pytest

import graphc as gc
from graphc.ir import nxgraph
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


def test_only_a_few_graphs_keep_their_digraph():
    graphs = [small() for _ in range(nxgraph.CACHE_SIZE + 3)]
    for g, *_ in graphs:
        needed(g, [len(g) - 1])
    assert len(nxgraph._cache) <= nxgraph.CACHE_SIZE
    g, x, y, a, b, c = graphs[0]  # evicted: rebuilt on demand
    check(g, [b.id])


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


def test_keep_false_answers_the_same_and_keeps_nothing_new():
    g, x, y, a, b, c = small()
    nxgraph._cache.pop(g, None)
    assert needed(g, [b.id], keep=False) == ref_needed(g, [b.id])
    assert g not in nxgraph._cache
    needed(g, [b.id])
    assert g in nxgraph._cache
    d = gc.exp(b)
    assert needed(g, [d.id], keep=False) == ref_needed(g, [d.id])  # a kept one is still used
