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

Fusions that cut numpy calls (each one call fewer per step; ~1 us each at small sizes):

* **sum of squares**: ``sum(square(d))`` over every axis (float) runs as ``dot(d, d)`` of
  ``d`` flattened (a view hoisted per binding when ``d`` is a buffer): one BLAS call instead
  of ``square`` + ``add.reduce``. The dot sums in another order than numpy's pairwise
  ``add.reduce``: the results agree to rounding (last bits), not bit for bit.
* **scalar ops**: a 0-d ``add``/``subtract``/``multiply``/``divide`` of 0-d operands (the
  loss ``sum / count``) is a Python operator on numpy scalars (~0.1 us instead of a ~0.5 us
  ufunc call; the same IEEE operation); 0-d static values it reads are held as numpy scalars.
* **gradient arena**: the values ``multiply(s, g_k)`` that feed in-place commits (SGD's
  ``p - lr * g``), with one 0-d ``s`` that nothing overwrites (a param, constant, input or
  static value), get their buffers as views of one flat buffer per group, and the k
  multiplies run as one ``multiply(s, arena, out=arena)`` at the end of the body.

Never overwritten: inputs the caller passed, params (except by their tail op), constants,
static values, and any value still needed later.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from graphc.ir.dims import same_shape
from graphc.ir.node import Node
from graphc.ir.opdef import get_op
from graphc.ir.program import Program

#: view ops that always return a view, whatever the layout of their operand
ALWAYS_VIEWS = {"swapaxes", "transpose", "expand_dims", "squeeze", "broadcast_to", "getitem"}
#: ops whose ``out=`` may be one of their operands (elementwise, same layout)
INPLACE_KINDS = {"elementwise", "comparison"}
#: 0-d ops emitted as Python operators on numpy scalars
SCALAR_OPS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}
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
    #: sum node id -> the node d it reads: ``sum(square(d))`` runs as ``dot(d, d)``; the
    #: square is not computed (``fused``); ``flats``: slot indices whose flat view is hoisted
    sumsq: dict[int, int] = field(default_factory=dict)
    fused: set[int] = field(default_factory=set)
    flats: list[int] = field(default_factory=list)
    #: 0-d ops emitted as Python operators on numpy scalars, and the 0-d static values held as
    #: numpy scalars for them
    scalar_ops: set[int] = field(default_factory=set)
    scalar_static: set[int] = field(default_factory=set)
    #: gradient arenas: (the 0-d scalar node, whether it is operand 0, slot indices laid out
    #: in one flat buffer in this order, the multiply node ids run as one call over it)
    arenas: list[tuple[int, bool, list[int], list[int]]] = field(default_factory=list)

    def describe(self) -> str:
        """One line: how many buffers, in-place ops, hoisted values and in-place commits."""
        fused = "".join(f", {len(m)} multiplies in one arena call" for *_, m in self.arenas)
        if self.sumsq:
            fused += f", {len(self.sumsq)} sum of squares as dot"
        return (f"{len(self.slots)} buffers for {len(self.out)} values "
                f"({len(self.inplace)} in place), {len(self.static)} static, "
                f"{len(self.views)} hoisted views, {len(self.tail)} in-place commits{fused}")


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
    new_values = [v for _, v in prog.updates]
    consumers: dict[int, list[int]] = {}
    for i in body:
        for j in node(i).inputs:
            consumers.setdefault(j, []).append(i)
    if not enabled:
        plan.order = body
        return plan

    # ------------------------------------------------------------------ in-place commits
    tail: list[tuple[int, int]] = []
    new_count = Counter(new_values)
    for p, v in prog.updates:
        n = node(v)
        if (n.role == "op" and v not in static and v not in outputs and not consumers.get(v)
                and get_op(n.op).out and get_op(n.op).kind in INPLACE_KINDS
                and n.dtype == node(p).dtype and same_shape(n.shape, node(p).shape)
                and new_count[v] == 1
                and all(j == p or alias_root(prog, j) != p for j in n.inputs)):
            tail.append((v, p))
    # a tail op may not read a param that an earlier tail op already wrote
    ok: list[tuple[int, int]] = []
    read_later: set[int] = set()  # what the tail ops after the current one read
    for v, p in reversed(tail):
        if p not in read_later:
            ok.append((v, p))
        read_later.update(alias_root(prog, j) for j in node(v).inputs)
    ok.reverse()
    plan.tail = {v: p for v, p in ok}
    _fuse_sum_of_squares(prog, plan, body, consumers, outputs | update_values)
    body = [i for i in body if i not in plan.fused]
    plan.order = [i for i in body if i not in plan.tail] + [v for v, _ in ok]

    def reads(i: int) -> tuple[int, ...]:
        return (plan.sumsq[i],) if i in plan.sumsq else node(i).inputs

    # 0-d arithmetic on 0-d operands: a Python operator on numpy scalars, no buffer
    for i in plan.order:
        n = node(i)
        if (n.op in SCALAR_OPS and n.ndim == 0 and n.dtype.kind == "f" and i not in plan.tail
                and all(node(j).ndim == 0 and node(j).dtype == n.dtype for j in n.inputs)):
            plan.scalar_ops.add(i)
    for i in plan.static:
        users = [c for c in consumers.get(i, []) if c not in static]
        if node(i).ndim == 0 and users and all(c in plan.scalar_ops for c in users):
            plan.scalar_static.add(i)

    # --------------------------------------------------------------------------- liveness
    pos = {i: k for k, i in enumerate(plan.order)}
    last: dict[int, int] = {}
    for i in plan.order:
        for j in reads(i):
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
    candidates = _arena_candidates(prog, plan, consumers, outputs | update_values)

    def place(k: int, i: int) -> None:
        """Choose the slot node ``i`` (at position ``k``) writes into, if any."""
        n = node(i)
        op = get_op(n.op)
        if op.view:
            src = n.inputs[0]
            if (_always_view(n) and (src in slot_of or src in plan.views)) or (
                    n.op == "reshape" and src in slot_of):
                plan.views.append(i)
            return
        if not op.out or i in outputs or i in plan.sumsq or i in plan.scalar_ops:
            return
        key = (tuple(n.shape), n.dtype.str)
        chosen = None
        # numpy runs an in-place ufunc on a 1-element array through its slow general
        # iterator (~0.8 us instead of ~0.3 us: the overlap check treats the stride of a
        # 1-element array as 0), so a value that is 1 element at batch size 1 gets a buffer of
        # its own (one more buffer, no more calls); the gradient arena's multiply is one
        # call over every gradient, never 1 element
        if op.kind in INPLACE_KINDS and (not _thin(n) or i in candidates):
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

    for k, i in enumerate(plan.order):
        if i in plan.tail:
            continue
        place(k, i)
        # values whose last use is here free their slots (after this node chose its own, so a
        # matmul or a reduction never writes over an operand)
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
    for d in plan.sumsq.values():
        if d in plan.out and node(d).ndim > 1 and plan.out[d] not in plan.flats:
            plan.flats.append(plan.out[d])
    _gradient_arenas(plan, candidates, slot_of)
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


def _fuse_sum_of_squares(prog: Program, plan: MemoryPlan, body: list[int],
                         consumers: dict[int, list[int]], kept: set[int]) -> None:
    """Mark ``sum(square(d))`` over every axis (float, not keepdims) to run as ``dot(d, d)``:
    the square must be read by that sum alone and be neither an output nor an update."""
    node = prog.graph.node
    for i in body:
        n = node(i)
        if n.op != "sum" or n.dtype.kind != "f" or n.ndim != 0 or i in plan.tail:
            continue
        sq = node(n.inputs[0])
        if sq.op == "square":
            d = sq.inputs[0]
        elif sq.op == "multiply" and sq.inputs[0] == sq.inputs[1]:
            d = sq.inputs[0]
        else:
            continue
        if (sq.id in kept or sq.id in plan.static or consumers.get(sq.id) != [i]
                or sq.dtype != n.dtype or node(d).dtype != n.dtype or node(d).ndim < 1
                or sorted(n.attr["axis"]) != list(range(sq.ndim))):
            continue
        plan.sumsq[i] = d
        plan.fused.add(sq.id)


def _always_view(n: Node) -> bool:
    """True when numpy returns a view for ``n`` whatever its operand's layout (so it can be
    made once per binding); ``x[0, 1]`` with every axis indexed is a numpy scalar, a copy."""
    return n.op in ALWAYS_VIEWS and not (n.op == "getitem" and n.ndim == 0)


def _thin(n: Node) -> bool:
    """True when ``n`` has one element whenever its symbols are 1 (``()``, ``(B, 1)``)."""
    return all(isinstance(d, str) or d == 1 for d in n.shape)


def _arena_candidates(prog: Program, plan: MemoryPlan, consumers: dict[int, list[int]],
                      kept: set[int]) -> dict[int, tuple[int, bool]]:
    """``multiply(s, g)`` nodes read only by in-place commits, with a 0-d ``s`` that nothing
    overwrites (a param, constant, input or static value): node id -> (s, s is operand 0)."""
    node = prog.graph.node
    static = set(plan.static)
    found: dict[int, tuple[int, bool]] = {}
    for i in plan.order:
        n = node(i)
        if (n.op != "multiply" or i in kept or i in plan.tail or not consumers.get(i)
                or not all(c in plan.tail for c in consumers[i])):
            continue
        for k in (0, 1):
            s, x = n.inputs[k], n.inputs[1 - k]
            root = alias_root(prog, s)
            steady = node(root).role in ("param", "constant", "input") or root in static
            if (node(s).ndim == 0 and steady and node(s).dtype == n.dtype and s != x
                    and node(x).dtype == n.dtype and same_shape(node(x).shape, n.shape)):
                found[i] = (s, k == 0)
                break
    return found


def _gradient_arenas(plan: MemoryPlan, candidates: dict[int, tuple[int, bool]],
                     slot_of: dict[int, int]) -> None:
    """Group the candidates that run in place on their gradient's buffer by their scalar; a
    group of two or more becomes one arena (see the module docstring)."""
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, key in candidates.items():
        if i in plan.inplace:
            groups.setdefault(key, []).append(i)
    taken: set[int] = set()
    for (s, first), members in groups.items():
        slots = [plan.out[m] for m in members]
        if len(members) < 2 or len(set(slots)) != len(slots) or taken & set(slots):
            continue
        taken |= set(slots)
        plan.arenas.append((s, first, slots, members))


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
