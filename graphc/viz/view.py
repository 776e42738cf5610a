"""What a diagram or export shows: the nodes of a target, their half, module scope and outputs.

A *target* is a Graph (every node; its named outputs), a Tensor or a list of Tensors (the
nodes they need), or a compiled Function (the nodes its program runs, in the graph it runs,
with its outputs and parameter updates).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphc.ir.graph import Graph
from graphc.ir.node import Node
from graphc.ir.nxgraph import needed
from graphc.ir.tensor import Tensor

Scope = tuple[str, ...]


@dataclass(frozen=True)
class View:
    """The nodes to draw (ids, topological), named outputs and updates, half and scope of each."""

    graph: Graph
    ids: tuple[int, ...]
    #: (label, node id) for each output marker
    outputs: tuple[tuple[str, int], ...]
    #: (param name, node id of its new value) for a Function's updates
    updates: tuple[tuple[str, int], ...]
    #: node id -> True when the node belongs to the backward half (built by gc.grad)
    backward: dict[int, bool]
    #: node id -> module scope (``("mlp", "0")``), or None for a constant (drawn by its use)
    scope: dict[int, Scope | None]
    #: the scopes that hold an optimiser's state and update ops (``("update (adam)",)``)
    update_scopes: frozenset[Scope] = frozenset()

    def node(self, i: int) -> Node:
        return self.graph.node(i)

    @property
    def has_backward(self) -> bool:
        return any(self.backward.values())


def make_view(target: Any) -> View:
    """The View of a Graph, Tensor, list of Tensors or Function (TypeError for anything else)."""
    from graphc.backend.function import Function

    if isinstance(target, Graph):
        g = target
        ids = tuple(range(len(g)))
        outputs = tuple((k, t.id) for k, t in g.outputs.items())
        updates: tuple[tuple[str, int], ...] = ()
    elif isinstance(target, Function):
        prog = target.program
        g = prog.graph
        ids = tuple(sorted(prog.schedule))
        named = {t.id: k for k, t in g.outputs.items()}
        outputs = tuple((named.get(i, f"out[{k}]"), i) for k, i in enumerate(prog.outputs))
        updates = tuple((g.node(p).name or f"%{p}", v) for p, v in prog.updates)
    elif isinstance(target, Tensor) or (
            isinstance(target, (list, tuple)) and target
            and all(isinstance(t, Tensor) for t in target)):
        ts = [target] if isinstance(target, Tensor) else list(target)
        g = ts[0].graph
        for k, t in enumerate(ts):
            g.own(t, f"target[{k}]")
        ids = tuple(needed(g, [t.id for t in ts]))
        named = {t.id: k for k, t in g.outputs.items()}
        outputs = tuple(dict.fromkeys(
            (named.get(t.id, "out" if len(ts) == 1 else f"out[{k}]"), t.id)
            for k, t in enumerate(ts)))
        updates = ()
    else:
        raise TypeError("expected a gc.Graph, a Tensor, a list of Tensors or a gc.Function, got "
                        f"{type(target).__name__}")
    backward = _halves(g, ids)
    scope = _scopes(g, ids, backward)
    update_scopes = frozenset(
        scope[i] for i in ids if isinstance(g.node(i).info.get("optimizer"), str))
    return View(graph=g, ids=ids, outputs=outputs, updates=updates, backward=backward,
                scope=scope, update_scopes=update_scopes)


def _halves(g: Graph, ids: tuple[int, ...]) -> dict[int, bool]:
    """Backward: built by gc.grad (``grad_of`` provenance) or computed from such a node (an
    update ``W - lr * gW``), and, when there are gradients, an optimiser's state and update
    ops (``optimizer`` meta: the step ends with them). Other named sources are forward."""
    has_grad = any("grad_of" in g.node(i).info for i in ids)
    out: dict[int, bool] = {}
    for i in ids:
        n = g.node(i)
        if has_grad and "optimizer" in n.info:
            out[i] = True
        elif n.role in ("input", "param"):
            out[i] = False
        else:
            out[i] = "grad_of" in n.info or any(out.get(j, False) for j in n.inputs)
    return out


def scope_of_name(name: str | None) -> Scope:
    """``"mlp/0/W"`` -> ``("mlp", "0")``."""
    if not name:
        return ()
    return tuple(p for p in name.split("/")[:-1] if p)


def _common(scopes: list[Scope]) -> Scope:
    if not scopes:
        return ()
    first = scopes[0]
    k = 0
    while k < len(first) and all(len(s) > k and s[k] == first[k] for s in scopes):
        k += 1
    return first[:k]


def _scopes(g: Graph, ids: tuple[int, ...], backward: dict[int, bool]) -> dict[int, Scope | None]:
    """Module scope of each node: named sources from their names (``mlp/0/W``); an op from an
    explicit ``scope`` meta, else the params it reads (their common scope), else its operands
    (their common scope); a gradient node takes its forward node's scope, so the backward half
    mirrors the forward modules. An optimiser's state and update ops (``optimizer`` meta) form
    one scope, ``update (adam)``. Constants float (drawn where they are used)."""
    out: dict[int, Scope | None] = {}
    for i in ids:
        n = g.node(i)
        info = n.info
        if isinstance(info.get("optimizer"), str):
            out[i] = (f"update ({info['optimizer']})",)
        elif n.role in ("input", "param"):
            out[i] = scope_of_name(n.name)
        elif isinstance(info.get("scope"), str):
            out[i] = tuple(p for p in info["scope"].split("/") if p)
        elif "grad_of" in info and info["grad_of"] in out:
            s = out[info["grad_of"]]
            out[i] = s if s is not None else ()
        elif n.role == "constant":
            out[i] = None
        else:
            ops = [g.node(j) for j in n.inputs]
            params = [out[o.id] for o in ops if o.role == "param" and out.get(o.id) is not None]
            if params:
                out[i] = _common(params)
            else:
                known = [out[o.id] for o in ops if out.get(o.id) is not None]
                out[i] = _common(known)
    return out
