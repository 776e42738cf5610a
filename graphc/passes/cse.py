"""Common-subexpression elimination."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphc.ir.graph import Graph
from graphc.ir.node import Node
from graphc.passes._rebuild import Mapping, Rebuilder


def _key(n: Node, inputs: tuple[int, ...]) -> Any:
    if n.role == "constant":
        v = n.value
        return ("constant", v.dtype.str, v.shape, v.tobytes())
    key = (n.op, inputs, n.attrs, n.dtype.str)
    try:
        hash(key)
    except TypeError:
        key = (n.op, inputs, repr(n.attrs), n.dtype.str)
    return key


def cse(graph: Graph, roots: Sequence[int] | None = None) -> tuple[Graph, Mapping]:
    """Nodes computing the same op on the same operands with the same attributes become one;
    equal constants (same dtype, shape and bytes) become one. Inputs and params never merge.

    Every op is a pure function of its operands, so merging changes no value; NaN constants
    merge by their bytes, so ``nan`` and ``nan`` are one constant and ``0.0``/``-0.0`` stay two.
    """
    rb = Rebuilder(graph)
    seen: dict[Any, int] = {}
    for n in graph.nodes:
        if n.role in ("input", "param"):
            rb.copy(n)
            continue
        ins = tuple(rb.map[i] for i in n.inputs)
        key = _key(n, ins)
        if key in seen:
            rb.map[n.id] = seen[key]
            continue
        seen[key] = rb.copy(n, ins)
    return rb.finish()
