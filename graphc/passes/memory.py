"""The memory plan: which node writes into which preallocated buffer.

Decided once per compiled program, independent of the binding of the symbolic dims, so the
generated source never changes; the buffers themselves are allocated per binding (see
``graphc.backend.plans``). The plan:

* **static** nodes depend only on constants and on the sizes of the symbolic dims (``numel``
  and what is computed from it and from constants): computed once per binding, read-only.
* **slots**: buffers keyed by symbolic shape and dtype. Every op whose lowering takes
  ``out=`` (ufuncs, matmul, sum/mean/max) writes into a slot, found by liveness analysis
  over the schedule: a slot is free again after the last use of its value (uses of a view
  count as uses of the value viewed). An elementwise op writes *in place* into an operand's
  slot when that operand dies at this op and no other operand views it; matmul and
  reductions never write over an operand.
* **hoisted views**: a view (swapaxes, transpose, expand_dims, squeeze, broadcast_to, basic
  indexing, reshape of a whole buffer) of a slot is made once per binding, not per call.
* **fresh** values: outputs returned to the caller are never written into a slot (the
  caller owns them: a later call must not overwrite them), nor are values of ops without
  an ``out=`` form. Values that alias a param, input, constant, static or slot are copied
  when returned.
* **tail**: the last op of a parameter update writes into the param itself
  (``xp.subtract(p, t, out=p)``), after every output and every other new value was
  computed, and only when no later op reads that param. The tail is a run of ufuncs on
  already-checked shapes, so a call that raises raises before any param changed. Other
  updates are computed into their own memory and committed with ``copyto`` after the tail.

Never overwritten: inputs the caller passed, params (except by their tail op), constants,
static values, and any value still needed later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.backend.codegen import Program
from graphc.ir.node import Node
from graphc.ops.registry import get_op
from graphc.passes._rebuild import same_shape

#: view ops that always return a view, whatever the layout of their operand
ALWAYS_VIEWS = {"swapaxes", "transpose", "expand_dims", "squeeze", "broadcast_to", "getitem"}
#: ops whose ``out=`` may be one of their operands (elementwise, same layout)
INPLACE_KINDS = {"elementwise", "comparison"}
_INF = 1 << 60


@dataclass
class MemoryPlan:
    """Per node: how its value is stored (see the module docstring)."""

    #: node ids in execution order: the body, then the tail
    order: list[int] = field(default_factory=list)
    #: node id -> slot index it writes into (``out=``)
    out: dict[int, int] = field(default_factory=dict)
    #: slot index -> (symbolic shape, dtype) of its buffer
    slots: list[tuple[tuple, object]] = field(default_factory=list)
    #: node ids computed once per binding: static values, then hoisted views (in order)
    static: list[int] = field(default_factory=list)
    views: list[int] = field(default_factory=list)
    #: update-final node id -> the param node id it writes into
    tail: dict[int, int] = field(default_factory=dict)
    #: node ids whose value is written into a slot by an op running in place on an operand
    inplace: set[int] = field(default_factory=set)
    #: ones vectors made per binding, (length dim, dtype); ``gemv[node id]`` = index into it:
    #: a float sum over axis 0 of a matrix runs as ``dot(ones, x)`` (a gemv, ~2x faster than
    #: ``add.reduce`` for the bias gradients of small batches)
    ones: list[tuple[object, object]] = field(default_factory=list)
    gemv: dict[int, int] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: how many buffers, in-place ops, hoisted values and in-place commits."""
        return (f"{len(self.slots)} buffers for {len(self.out)} values "
                f"({len(self.inplace)} in place), {len(self.static)} static, "
                f"{len(self.views)} hoisted views, {len(self.tail)} in-place commits")


def alias_root(prog: Program, i: int) -> int:
    """The node whose memory node ``i`` may share (following view ops through operand 0)."""
    g = prog.graph
    n = g.node(i)
    while get_op(n.op).view:
        n = g.node(n.inputs[0])
    return n.id


def static_nodes(prog: Program) -> set[int]:
    """Op nodes that depend only on constants and on symbol sizes (``numel``)."""
    g = prog.graph
    static: set[int] = set()
    for i in prog.schedule:
        n = g.node(i)
        if n.role != "op":
            continue
        if n.op == "numel" or (n.inputs and all(
                g.node(j).role == "constant" or j in static for j in n.inputs)):
            static.add(i)
    return static


def plan_memory(prog: Program, enabled: bool = True) -> MemoryPlan:
    """The memory plan of ``prog`` (``enabled=False``: no buffers, every op allocates, every
    update is committed with copyto; static values are still computed once per binding)."""
    g = prog.graph
    node = g.node
    plan = MemoryPlan()
    static = static_nodes(prog)
    plan.static = [i for i in prog.schedule if i in static]
    body = [i for i in prog.schedule if node(i).role == "op" and i not in static]
    outputs = set(prog.outputs)
    update_values = {v for _, v in prog.updates}
    consumers: dict[int, list[int]] = {}
    for i in body:
        for j in node(i).inputs:
            consumers.setdefault(j, []).append(i)
    if not enabled:
        plan.order = body
        return plan

    # ------------------------------------------------------------------ in-place commits
    tail: list[tuple[int, int]] = []
    for p, v in prog.updates:
        n = node(v)
        if (n.role == "op" and v not in static and v not in outputs and not consumers.get(v)
                and get_op(n.op).out and get_op(n.op).kind in INPLACE_KINDS
                and n.dtype == node(p).dtype and same_shape(n.shape, node(p).shape)
                and list(update_values).count(v) == 1
                and all(j == p or alias_root(prog, j) != p for j in n.inputs)):
            tail.append((v, p))
    # a tail op may not read a param that an earlier tail op already wrote
    ok: list[tuple[int, int]] = []
    for k, (v, p) in enumerate(tail):
        later = [w for w, _ in tail[k + 1:]]
        if any(alias_root(prog, j) == p for w in later for j in node(w).inputs):
            continue
        ok.append((v, p))
    plan.tail = {v: p for v, p in ok}
    plan.order = [i for i in body if i not in plan.tail] + [v for v, _ in ok]

    # --------------------------------------------------------------------------- liveness
    pos = {i: k for k, i in enumerate(plan.order)}
    last: dict[int, int] = {}
    for i in plan.order:
        for j in node(i).inputs:
            r = alias_root(prog, j)
            last[r] = max(last.get(r, -1), pos[i])
    for i in [*prog.outputs, *update_values]:
        last[alias_root(prog, i)] = _INF

    # ------------------------------------------------------------------ slots and views
    slot_of: dict[int, int] = {}  # root value id -> slot
    free: dict[tuple, list[int]] = {}
    dying: dict[int, list[int]] = {}
    for r, k in last.items():
        if k < _INF:
            dying.setdefault(k, []).append(r)
    for k, i in enumerate(plan.order):
        n = node(i)
        op = get_op(n.op)
        if i in plan.tail:
            continue
        if op.view:
            src = n.inputs[0]
            if (n.op in ALWAYS_VIEWS and (src in slot_of or src in plan.views)) or (
                    n.op == "reshape" and src in slot_of):
                plan.views.append(i)
            continue
        if not op.out or i in outputs:
            continue
        key = (tuple(n.shape), n.dtype.str)
        chosen = None
        if op.kind in INPLACE_KINDS:
            for j in n.inputs:
                if (j in slot_of and last.get(j) == k and slot_key(plan, slot_of[j]) == key
                        and all(m == j or alias_root(prog, m) != j for m in n.inputs)):
                    chosen = slot_of[j]
                    plan.inplace.add(i)
                    # the operand's slot now holds this node's value: it must not be freed
                    dying[k] = [r for r in dying.get(k, []) if r != j]
                    break
        if chosen is None:
            pool = free.get(key)
            if pool:
                chosen = pool.pop()
            else:
                chosen = len(plan.slots)
                plan.slots.append((tuple(n.shape), n.dtype))
        slot_of[i] = chosen
        plan.out[i] = chosen
        for r in dying.get(k, []):
            if r in slot_of and r != i:
                free.setdefault(slot_key(plan, slot_of[r]), []).append(slot_of[r])
    # a view is hoisted only if its whole chain was (a view of a fresh value is not)
    hoisted: list[int] = []
    for i in plan.views:
        src = node(i).inputs[0]
        if src in slot_of or src in hoisted:
            hoisted.append(i)
    plan.views = hoisted
    for i in plan.order:
        n = node(i)
        if n.op == "sum" and i in plan.out and n.dtype.kind == "f" and n.ndim == 1:
            x = node(n.inputs[0])
            if x.ndim == 2 and tuple(n.attr["axis"]) == (0,) and x.dtype == n.dtype:
                key = (x.shape[0], n.dtype)
                if key not in plan.ones:
                    plan.ones.append(key)
                plan.gemv[i] = plan.ones.index(key)
    return plan


def slot_key(plan: MemoryPlan, s: int) -> tuple:
    shape, dtype = plan.slots[s]
    return (shape, dtype.str)


def root_kind(prog: Program, plan: MemoryPlan, i: int) -> str:
    """What the memory of node ``i`` belongs to: ``input``, ``param``, ``constant``,
    ``static``, ``slot`` or ``fresh``."""
    r = alias_root(prog, i)
    n: Node = prog.graph.node(r)
    if n.role != "op":
        return n.role
    if r in plan.static or i in plan.static:
        return "static"
    if r in plan.out or i in plan.views:
        return "slot"
    return "fresh"
