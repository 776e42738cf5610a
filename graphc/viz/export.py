"""``to_networkx``: a target as a networkx DiGraph whose nodes carry the IR's facts."""

from __future__ import annotations

from typing import Any

import networkx as nx

from graphc.ir.nxgraph import to_digraph
from graphc.viz.view import make_view


def to_networkx(target: Any) -> nx.DiGraph:
    """A DiGraph of node ids (edge operand -> consumer) for a Graph, Tensor(s) or Function.

    Node attributes: ``op``, ``shape`` (a plain tuple, symbolic dims as their text:
    ``('B*T', 16)``), ``dtype`` (its name), ``name`` (None for unnamed nodes), ``role``
    (input | param | constant | op), plus
    ``kind`` (op kind), ``attrs`` and ``info`` (dicts), ``loc``, ``scope`` (``"mlp/0"``) and
    ``backward`` (built by gc.grad). Edge attributes: ``shape`` (the operand's) and
    ``operands`` (the positions it fills, e.g. ``(0, 1)`` for ``x * x``). Graph attributes:
    ``name``, ``outputs`` (label -> node id) and ``updates`` (param name -> node id).
    """
    from graphc.ir.opdef import get_op

    view = make_view(target)
    g = view.graph
    keep = set(view.ids)
    full = to_digraph(g)
    d = nx.DiGraph(full.subgraph(keep))
    d.graph.update(name=g.name, outputs=dict(view.outputs), updates=dict(view.updates))
    for i in view.ids:
        n = g.node(i)
        scope = view.scope[i]
        d.add_node(i, op=n.op, shape=n.shape.plain, dtype=n.dtype.name, name=n.name,
                   role=n.role, kind=get_op(n.op).kind, attrs=n.attr, info=n.info, loc=n.loc,
                   scope="/".join(scope) if scope else "", backward=view.backward[i])
        for j in dict.fromkeys(n.inputs):
            if j in keep:
                d.edges[j, i].update(shape=g.node(j).shape.plain,
                                     operands=tuple(k for k, x in enumerate(n.inputs) if x == j))
    return d
