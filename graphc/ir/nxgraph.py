"""The one adapter between the IR and networkx, which does the graph algorithms."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import networkx as nx

if TYPE_CHECKING:
    from graphc.ir.graph import Graph


def to_digraph(graph: Graph) -> nx.DiGraph:
    """Node ids with an edge operand -> consumer for every use (repeated operands: one edge)."""
    d = nx.DiGraph()
    for n in graph.nodes:
        d.add_node(n.id)
        d.add_edges_from((i, n.id) for i in n.inputs)
    return d


#: a virtual node joined to every root, so that one traversal serves all of them (ids are >= 0)
_ALL = -1


def needed(graph: Graph, roots: Iterable[int]) -> list[int]:
    """The ids that ``roots`` depend on (roots included), in topological (id) order.

    One traversal from a virtual node fed by every root: linear in the graph, however many
    roots (a training step has one per updated param and optimiser state).
    """
    d = to_digraph(graph)
    d.add_edges_from((r, _ALL) for r in roots)
    return sorted(nx.ancestors(d, _ALL)) if _ALL in d else []


def depends_on(graph: Graph, roots: Iterable[int]) -> set[int]:
    """The ids that depend on any of ``roots`` (roots included); one traversal, as ``needed``."""
    d = to_digraph(graph)
    d.add_edges_from((_ALL, r) for r in roots)
    return nx.descendants(d, _ALL) if _ALL in d else set()
