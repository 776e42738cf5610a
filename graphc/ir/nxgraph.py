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


def needed(graph: Graph, roots: Iterable[int]) -> list[int]:
    """The ids that ``roots`` depend on (roots included), in topological (id) order."""
    d = to_digraph(graph)
    keep: set[int] = set()
    for r in roots:
        if r not in keep:
            keep.add(r)
            keep |= nx.ancestors(d, r)
    return sorted(keep)


def depends_on(graph: Graph, roots: Iterable[int]) -> set[int]:
    """The ids that depend on any of ``roots`` (roots included)."""
    d = to_digraph(graph)
    out: set[int] = set()
    for r in roots:
        out.add(r)
        out |= nx.descendants(d, r)
    return out
