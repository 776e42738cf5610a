"""The one adapter between the IR and networkx, which does the graph algorithms.

``needed`` and ``depends_on`` run on a DiGraph kept per graph (for the last few graphs
asked about), so that the queries of one build (``gc.grad``'s two, then ``gc.compile``'s)
share one DiGraph instead of building one each (a DiGraph costs about 0.7 KB per node: the
passes, which ask once about each graph they make, pass ``keep=False``). Graphs are
append-only, except that ``Graph.atomic()`` drops the nodes of a block that raised: a kept
DiGraph is extended by the nodes appended since, and rebuilt when any node it was built
from is no longer in the graph (compared by identity, so a truncated graph that grew again
is seen).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Sequence
from itertools import chain
from operator import is_
from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from graphc.ir.graph import Graph
    from graphc.ir.node import Node


def _add(d: nx.DiGraph, nodes: Sequence[Node]) -> None:
    d.add_nodes_from(n.id for n in nodes)
    d.add_edges_from((i, n.id) for n in nodes for i in n.inputs)


def to_digraph(graph: Graph) -> nx.DiGraph:
    """Node ids with an edge operand -> consumer for every use (repeated operands: one edge).

    A new DiGraph, the caller's to change."""
    d = nx.DiGraph()
    _add(d, graph._nodes)
    return d


#: how many graphs keep their DiGraph (the user's graph and the graph a pass is working on)
CACHE_SIZE = 4
_cache: weakref.WeakKeyDictionary[Graph, tuple[nx.DiGraph, list[Node]]] = \
    weakref.WeakKeyDictionary()
_lock = threading.Lock()  # a kept DiGraph is extended in place: one query at a time


def _kept(graph: Graph, keep: bool = True) -> nx.DiGraph:
    """The DiGraph of ``graph`` as it is now: the kept one brought up to date, or a new one
    (kept for the next query unless ``keep`` is false). Call with ``_lock`` held; the result
    must not be changed."""
    nodes = graph._nodes
    hit = _cache.get(graph)
    if hit is not None:
        d, seen = hit
        k = len(seen)
        if len(nodes) >= k and all(map(is_, nodes[:k], seen)):
            if len(nodes) > k:
                grown = nodes[k:]
                _add(d, grown)
                seen.extend(grown)
            return d
        del _cache[graph]  # truncated (and maybe regrown) by Graph.atomic(): rebuild
    d = nx.DiGraph()
    _add(d, nodes)
    if not keep:
        return d
    while len(_cache) >= CACHE_SIZE:
        del _cache[next(iter(_cache))]  # the oldest kept
    _cache[graph] = (d, list(nodes))
    return d


def _reach(d: nx.DiGraph, roots: Iterable[int]) -> set[int]:
    """The nodes of ``d`` reachable from any of ``roots`` (roots included): one breadth-first
    search from all of them at once, linear in the graph however many roots (a training
    step has one per updated param and optimiser state). Roots that are not nodes of ``d``
    are returned as they are."""
    roots = set(roots)
    known = [r for r in roots if r in d]
    return roots.union(chain.from_iterable(nx.bfs_layers(d, known))) if known else roots


def needed(graph: Graph, roots: Iterable[int], keep: bool = True) -> list[int]:
    """The ids that ``roots`` depend on (roots included), in topological (id) order
    (``keep=False``: a graph asked about once, whose DiGraph is not worth keeping)."""
    with _lock:
        d = _kept(graph, keep)
        return sorted(_reach(d.reverse(copy=False), roots))


def depends_on(graph: Graph, roots: Iterable[int]) -> set[int]:
    """The ids that depend on any of ``roots`` (roots included); one traversal, as ``needed``."""
    with _lock:
        return _reach(_kept(graph), roots)
