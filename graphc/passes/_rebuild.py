"""Building a new graph from an old one, node by node: the machinery every pass shares.

A pass never mutates a graph (graphs are append-only); it copies the nodes it keeps into a
fresh graph, in the old order (so new ids are again a topological order), inferring the
shape and dtype of every new or changed op node through its op's rule, and records
``old id -> new id``. A node copied with operands of unchanged shape and dtype keeps its own
(the rule would give them again), and a node that keeps its id and operands is the same
(immutable) object in both graphs: copying an unchanged graph costs no inference. Source
nodes keep their names, locations and metadata; the new graph shares the old graph's
``params`` dict, so updates committed by a compiled function land in the user's arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.ir.dims import Shape
from graphc.ir.graph import Graph
from graphc.ir.node import Node
from graphc.ir.opdef import check_node

#: ``old id -> new id`` for every old node that survives a pass (or is replaced by another)
Mapping = dict[int, int]
#: meta keys that name the gradient a node is (node ids): remapped to the new graph's ids,
#: dropped when the node they name did not survive
GRADIENT_REFS = ("grad_y", "grad_wrt")


class Rebuilder:
    """Copies nodes of ``src`` into a new graph, one at a time, tracking ``old -> new`` ids."""

    def __init__(self, src: Graph):
        g = Graph(src.name, strict=src.strict)
        g.params = src.params  # shared on purpose: see the module docstring
        self.src = src
        self.g = g
        self.map: Mapping = {}
        #: facts a pass derives about nodes of the new graph, which never change once made
        self.memo: dict[str, Any] = {}

    def node(self, new_id: int) -> Node:
        """A node of the new graph."""
        return self.g._nodes[new_id]

    def copy(self, n: Node, inputs: Sequence[int] | None = None) -> int:
        """Copy old node ``n`` (operands: their mapped ids unless ``inputs`` is given)."""
        if n.role != "op":
            new = self._source(n)
        else:
            ins = tuple(self.map[i] for i in n.inputs) if inputs is None else tuple(inputs)
            new = self._reuse(n, ins)
            if new is None:
                new = self.add(n.op, ins, n.attr, like=n)
        self.map[n.id] = new
        return new

    def _reuse(self, n: Node, ins: tuple[int, ...]) -> int | None:
        """Append op node ``n`` without re-inferring it, when every operand has the shape and
        dtype it had in the old graph: an op's rule reads only its operands' shapes and
        dtypes and its attributes, so it would give ``n``'s shape and dtype again. The node
        object itself is shared when its id and operands are unchanged too (nodes are
        immutable): the pipeline sees that a pass changed nothing by that identity.
        None when an operand changed (``add`` infers)."""
        g, old = self.g._nodes, self.src._nodes
        if n.name is not None or not n.loc:  # add would not keep these: let it rebuild
            return None
        for i, j in zip(n.inputs, ins):
            a, b = old[i], g[j]
            if a is not b and (a.dtype != b.dtype or a.shape != b.shape):
                return None
        new_id = len(g)
        meta = self._refs(n.meta)
        if new_id != n.id or ins != n.inputs or meta != n.meta:  # (replace is slower)
            n = Node(new_id, n.op, ins, n.attrs, n.shape, n.dtype, n.name, n.loc, meta, n.value)
        g.append(n)
        return new_id

    def _refs(self, meta: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
        """``meta`` with the node ids in ``GRADIENT_REFS`` mapped to the new graph."""
        if not any(k in GRADIENT_REFS for k, _ in meta):
            return meta
        out = []
        for k, v in meta:
            if k == "grad_y":
                v = self.map.get(v)
            elif k == "grad_wrt":
                v = tuple(self.map[j] for j in v if j in self.map) or None
            if v is not None:
                out.append((k, v))
        return tuple(out)

    def _source(self, n: Node) -> int:
        """Copy a source node as it is (name, loc, meta, value), shared when its id is too."""
        g = self.g
        meta = self._refs(n.meta)
        if not n.loc:
            new_id = g._append(n.op, (), n.attr, n.shape, n.dtype, name=n.name, loc=n.loc,
                               meta=dict(meta), value=n.value).id
        else:
            new_id = len(g._nodes)
            if n.id != new_id or meta != n.meta:
                n = Node(new_id, n.op, (), n.attrs, n.shape, n.dtype, n.name, n.loc, meta,
                         n.value)
            g._nodes.append(n)
        if n.role == "input":
            g._inputs[n.name] = new_id
        elif n.role == "param":
            g._params[n.name] = new_id
        return new_id

    def add(self, op: str, inputs: Sequence[int], attrs: dict[str, Any], like: Node) -> int:
        """A new op node, checked and inferred as every node is (``check_node``: attributes
        in canonical form, the op's shape and dtype rule), with ``like``'s loc/meta."""
        nodes = [self.g._nodes[i] for i in inputs]
        _, attrs, shape, dtype = check_node(op, nodes, attrs)
        meta = dict(self._refs(like.meta))
        if op != like.op and like.role == "op":  # errors name the op the user wrote
            meta["origin"] = meta.get("origin", like.op)
        t = self.g._append(op, tuple(inputs), attrs, shape, dtype, loc=like.loc, meta=meta)
        return t.id

    def constant(self, value: np.ndarray, like: Node) -> int:
        """A new constant node holding ``value`` (made read-only), with ``like``'s loc/meta
        (and ``origin``: the op it was folded from, which check_finite names)."""
        arr = np.array(value, dtype=like.dtype, copy=True)
        arr.setflags(write=False)
        meta = dict(self._refs(like.meta))
        if like.role == "op":
            meta["origin"] = meta.get("origin", like.op)
        t = self.g._append("constant", (), {}, Shape(arr.shape), arr.dtype, loc=like.loc,
                           meta=meta, value=arr)
        return t.id

    def finish(self) -> tuple[Graph, Mapping]:
        """The new graph (named outputs carried over where they survive) and the mapping."""
        for name, i in self.src._outputs.items():
            if i in self.map:
                self.g._outputs[name] = self.map[i]
        return self.g, self.map


def default_roots(g: Graph, roots: Sequence[int] | None) -> list[int]:
    """``roots``, or the graph's named outputs and inputs when none are given."""
    if roots is not None:
        return list(roots)
    return list(g._outputs.values()) + list(g._inputs.values())
