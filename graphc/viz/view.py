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

#: the deepest scope drawn: a deeper path (a name ``a/a/.../W`` 1500 scopes deep) keeps its
#: first levels and joins the rest into the last, so nothing downstream nests that deep
MAX_SCOPE_DEPTH = 64


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
        named = _named(g)
        outputs = tuple((named.get(i) or _gradient_label(g, i) or f"out[{k}]", i)
                        for k, i in enumerate(prog.outputs))
        updates = tuple((g.node(p).name or f"%{p}", v) for p, v in prog.updates)
    elif isinstance(target, Tensor) or (
            isinstance(target, (list, tuple)) and target
            and all(isinstance(t, Tensor) for t in target)):
        ts = [target] if isinstance(target, Tensor) else list(target)
        g = ts[0].graph
        for k, t in enumerate(ts):
            g.own(t, f"target[{k}]")
        ids = tuple(needed(g, [t.id for t in ts]))
        named = _named(g)
        outputs = tuple(dict.fromkeys(
            (named.get(t.id) or _gradient_label(g, t.id)
             or ("out" if len(ts) == 1 else f"out[{k}]"), t.id)
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


def _named(g: Graph) -> dict[int, str]:
    """Node id -> its output name, for the named outputs of ``g``."""
    return {t.id: k for k, t in g.outputs.items()}


def _gradient_label(g: Graph, i: int) -> str | None:
    """``∂loss/∂mlp/0/W`` for a gradient ``gc.grad`` returned (``grad_y``, ``grad_wrt`` meta):
    y by its output name (else ``y``), x by its name (else ``%id``); None for other nodes."""
    info = g.node(i).info
    y, wrt = info.get("grad_y"), info.get("grad_wrt")
    if not isinstance(y, int) or not isinstance(wrt, tuple) or not wrt:
        return None
    y_name = _named(g).get(y, "y")
    return ", ".join(f"∂{y_name}/∂{g.node(x).name or f'%{x}'}" for x in wrt)


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


def bounded(parts: list[str]) -> Scope:
    """The scope of path ``parts`` (empty parts dropped), at most ``MAX_SCOPE_DEPTH`` levels:
    the levels past the last joined into it with ``/``, so its ``"/".join`` is unchanged."""
    parts = [p for p in parts if p]
    if len(parts) <= MAX_SCOPE_DEPTH:
        return tuple(parts)
    return (*parts[:MAX_SCOPE_DEPTH - 1], "/".join(parts[MAX_SCOPE_DEPTH - 1:]))


def scope_of_name(name: str | None) -> Scope:
    """``"mlp/0/W"`` -> ``("mlp", "0")`` (bounded: ``bounded``)."""
    if not name:
        return ()
    return bounded(name.split("/")[:-1])


def _common(scopes: list[Scope]) -> Scope:
    if not scopes:
        return ()
    first = scopes[0]
    k = 0
    while k < len(first) and all(len(s) > k and s[k] == first[k] for s in scopes):
        k += 1
    return first[:k]


def _records_scopes(g: Graph) -> bool:
    """True when the graph records which module or ``g.scope`` built its ops (``scope`` meta:
    ``gc.nn`` modules and ``Graph.scope`` write it); a graph built with ``name_scope`` alone
    does not."""
    return any(isinstance(n.info.get("scope"), str) for n in g.nodes)


def _scopes(g: Graph, ids: tuple[int, ...], backward: dict[int, bool]) -> dict[int, Scope | None]:
    """Module scope of each node: named sources from their names (``mlp/0/W``); an op from its
    ``scope`` meta, the module (or ``g.scope``) whose ``forward`` built it; a gradient node
    takes its forward node's scope, so the backward half mirrors the forward modules. An
    optimiser's state and update ops (``optimizer`` meta) form one scope, ``update (adam)``.
    Constants float (drawn where they are used). An op that no module built (a loss after the
    model) belongs to no module, when the graph records scopes; in a graph that records none
    (hand-built with ``name_scope``) an op is placed by what it reads (``_inferred``)."""
    recorded = _records_scopes(g)
    out: dict[int, Scope | None] = {}
    for i in ids:
        out[i] = _scope_of(g, i, out, recorded)
    return out


def _scope_of(g: Graph, i: int, out: dict[int, Scope | None], recorded: bool) -> Scope | None:
    """The scope of node ``i`` (see ``_scopes``), given those of the nodes before it. A gradient
    node whose forward node lies outside the view (a Function's schedule, a Tensor target)
    follows the chain of forward nodes, as deep as it goes, without recursing."""
    chain = [i]
    while (fwd := _forward_of(g, chain[-1])) is not None and fwd not in out:
        chain.append(fwd)
    found: dict[int, Scope | None] = {}
    for k in reversed(chain):
        found[k] = _own_scope(g, k, out, found, recorded)
    return found[i]


def _forward_of(g: Graph, i: int) -> int | None:
    """The forward node whose scope gradient node ``i`` takes, else None."""
    n = g.node(i)
    info = n.info
    if (isinstance(info.get("optimizer"), str) or n.role in ("input", "param")
            or isinstance(info.get("scope"), str)):
        return None
    fwd = info.get("grad_of")
    return fwd if isinstance(fwd, int) and 0 <= fwd < i else None


def _own_scope(g: Graph, i: int, out: dict[int, Scope | None], found: dict[int, Scope | None],
               recorded: bool) -> Scope | None:
    """The scope of node ``i``; that of its forward node is in ``out`` or ``found``."""
    n = g.node(i)
    info = n.info
    if isinstance(info.get("optimizer"), str):
        return (f"update ({info['optimizer']})",)
    if n.role in ("input", "param"):
        return scope_of_name(n.name)
    if isinstance(info.get("scope"), str):
        return bounded(info["scope"].split("/"))
    fwd = _forward_of(g, i)
    if fwd is not None:
        s = out[fwd] if fwd in out else found[fwd]
        return s if s is not None else ()
    if n.role == "constant":
        return None
    return () if recorded else _inferred(g, n, out)


def _inferred(g: Graph, n: Node, out: dict[int, Scope | None]) -> Scope:
    """A guess for a graph that records no scopes: the common scope of the params ``n`` reads,
    else of its operands."""
    ops = [g.node(j) for j in n.inputs]
    params = [out[o.id] for o in ops if o.role == "param" and out.get(o.id) is not None]
    if params:
        return _common(params)
    return _common([out[o.id] for o in ops if out.get(o.id) is not None])
