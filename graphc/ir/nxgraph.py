"""The IR's graph queries, and the one adapter to networkx.

Node ids are a topological order (a node's operands have smaller ids), so reachability is one
sweep over the ids: ``needed`` walks down from the largest root, ``depends_on`` up from the
smallest. That is linear in the graph, needs no adjacency structure, and is 2-3x faster than
networkx's breadth-first search on a kept DiGraph (10x faster than building one first):
22k nodes, needed 12 ms vs 25 ms warm, 152 ms cold. networkx does what it is the right tool
for: cycles in untrusted files, verification, export (``to_digraph``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from graphc.ir.graph import Graph


def to_digraph(graph: Graph) -> nx.DiGraph:
    """Node ids with an edge operand -> consumer for every use (repeated operands: one edge).

    A new DiGraph, the caller's to change."""
    d = nx.DiGraph()
    nodes = list(graph._nodes)
    d.add_nodes_from(n.id for n in nodes)
    d.add_edges_from((i, n.id) for n in nodes for i in n.inputs)
    return d


def _marks(nodes, roots: set[int]) -> bytearray:
    mark = bytearray(len(nodes))
    for r in roots:
        if 0 <= r < len(nodes):
            mark[r] = 1
    return mark


def needed(graph: Graph, roots: Iterable[int]) -> list[int]:
    """The ids that ``roots`` depend on (roots included), in topological (id) order. Roots
    that are not ids of the graph are returned as they are."""
    nodes = list(graph._nodes)  # a snapshot: another thread may append meanwhile
    roots = set(roots)
    mark = _marks(nodes, roots)
    for i in range(min(max(roots, default=-1), len(nodes) - 1), -1, -1):
        if mark[i]:
            for j in nodes[i].inputs:
                mark[j] = 1
    return sorted(roots.union(i for i, m in enumerate(mark) if m))


def depends_on(graph: Graph, roots: Iterable[int]) -> set[int]:
    """The ids that depend on any of ``roots`` (roots included)."""
    nodes = list(graph._nodes)
    roots = set(roots)
    mark = _marks(nodes, roots)
    for i in range(max(min(roots, default=len(nodes)), 0), len(nodes)):
        if not mark[i] and any(mark[j] for j in nodes[i].inputs):
            mark[i] = 1
    return roots.union(i for i, m in enumerate(mark) if m)
