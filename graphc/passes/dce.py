"""Dead-code elimination."""

from __future__ import annotations

from collections.abc import Sequence

from graphc.ir.graph import Graph
from graphc.ir.nxgraph import needed
from graphc.passes._rebuild import Mapping, Rebuilder, default_roots


def dce(graph: Graph, roots: Sequence[int] | None = None) -> tuple[Graph, Mapping]:
    """Keep exactly the nodes ``roots`` depend on (roots included); the rest is dropped.

    ``roots`` defaults to the named outputs and the inputs (an input stays even when unused:
    it is part of a function's calling convention).
    """
    keep = needed(graph, default_roots(graph, roots))
    rb = Rebuilder(graph)
    for i in keep:
        rb.copy(graph.node(i))
    return rb.finish()
