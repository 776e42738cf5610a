"""The memory plan, the numpy backend's second step: which node writes into which buffer.

Decided once per compiled program, independent of the binding of the symbolic dims, so the
generated source never changes; the buffers themselves are allocated per binding (see
``graphc.backend.numpy.plans``). The plan:

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

Kernel choice is the lowering's (``graphc.backend.numpy.lower``); the plan reads it: a
kernel without ``out=`` gets no buffer, a kernel that reads past an operand (sum of squares)
extends the liveness of what it reads, a ``scalar`` kernel's 0-d static operands are held as
numpy scalars, a ``flat`` kernel's operand buffer gets a flat view, and a ``needs_plan``
kernel (gemv) a ones vector, all made per binding. One fusion is the plan's own:

* **gradient arena**: the values ``multiply(s, g_k)`` that feed in-place commits (SGD's
  ``p - lr * g``), with one 0-d ``s`` that nothing overwrites (a param, constant, input or
  static value), get their buffers as views of one flat buffer per group, and the k
  multiplies run as one ``multiply(s, arena, out=arena)`` at the end of the body.

Never overwritten: inputs the caller passed, params (except by their tail op), constants,
static values, and any value still needed later.
"""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field

from graphc.backend.numpy.lower import Lowering, consumers_of, lower
from graphc.ir.dims import Dim, same_shape
from graphc.ir.node import Node
from graphc.ir.opdef import get_op
from graphc.ir.program import Program

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
    #: ones vectors made per binding, (length dim, dtype); ``ones_of[node id]`` = index
    ones: list[tuple[object, object]] = field(default_factory=list)
    ones_of: dict[int, int] = field(default_factory=dict)
    #: slot indices whose flat view is made per binding (for ``flat`` kernels)
    flats: list[int] = field(default_factory=list)
    #: 0-d static values held as numpy scalars (every reader is a ``scalar`` kernel)
    scalar_static: set[int] = field(default_factory=set)
    #: gradient arenas: (the 0-d scalar node, whether it is operand 0, slot indices laid out
    #: in one flat buffer in this order, the multiply node ids run as one call over it)
    arenas: list[tuple[int, bool, list[int], list[int]]] = field(default_factory=list)
    #: the kernel of every body node (the lowering the plan was made for)
    lowering: Lowering = field(default_factory=Lowering)

    def describe(self) -> str:
        """One line: how many buffers, in-place ops, hoisted values and in-place commits."""
        fused = "".join(f", {len(m)} multiplies in one arena call" for *_, m in self.arenas
                        if m)
        sumsq = [i for i in self.lowering.kernel if self.lowering.kernel[i].flat]
        if sumsq:
            fused += f", {len(sumsq)} sum of squares as dot"
        return (f"{len(self.slots)} buffers for {len(self.out)} values "
                f"({len(self.inplace)} in place), {len(self.static)} static, "
                f"{len(self.views)} hoisted views, {len(self.tail)} in-place commits{fused}")


#: graph -> {node id: (node, the node whose memory it may share)}, so that a chain of k views
#: costs O(k) once, not per node (alternating expand_dims/squeeze chains were quadratic)
_ROOTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def alias_root(prog: Program, i: int) -> int:
    """The node whose memory node ``i`` may share (following view ops through operand 0)."""
    g = prog.graph
    memo = _ROOTS.setdefault(g, {})
    path: list[Node] = []
    n = g.node(i)
    while True:
        hit = memo.get(n.id)
        if hit is not None and hit[0] is n:  # the same node object: its chain is unchanged
            root = hit[1]
            break
        if not get_op(n.op).view:
            root = n.id
            path.append(n)
            break
        path.append(n)
        n = g.node(n.inputs[0])
    for m in path:
        memo[m.id] = (m, root)
    return root


def static_nodes(prog: Program) -> set[int]:
    """Op nodes that depend only on constants and on symbol sizes (``binding_only`` ops)."""
    g = prog.graph
    static: set[int] = set()
    for i in prog.schedule:
        n = g.node(i)
        if n.role != "op":
            continue
        if get_op(n.op).binding_only or (n.inputs and all(
                g.node(j).role == "constant" or j in static for j in n.inputs)):
            static.add(i)
    return static


def plan_memory(prog: Program, enabled: bool = True) -> MemoryPlan:
    """Lower ``prog`` and plan its memory (``enabled=False``: no buffers, every op allocates,
    every update is committed with copyto; static values are still computed once per
    binding)."""
    g = prog.graph
    plan = MemoryPlan()
    static = static_nodes(prog)
    plan.static = [i for i in prog.schedule if i in static]
    body = [i for i in prog.schedule if g.node(i).role == "op" and i not in static]
    consumers = consumers_of(prog, body)
    if enabled:
        plan.tail = plan_commits(prog, static, consumers)
    plan.lowering = low = lower(prog, body, static, set(plan.tail), planned=enabled)
    body = [i for i in body if i not in low.fused]
    plan.order = [i for i in body if i not in plan.tail] + list(plan.tail)
    if not enabled:
        return plan
    plan.scalar_static = {i for i in plan.static if g.node(i).ndim == 0 and _read_as_scalar(
        low, [c for c in consumers.get(i, []) if c not in static])}
    last = _last_uses(prog, plan)
    candidates = _arena_candidates(prog, plan, consumers)
    slot_of = _assign_slots(prog, plan, last, candidates)
    plan.views = _hoisted_views(prog, plan.views, slot_of)
    _flat_views(prog, plan)
    _gradient_arenas(plan, candidates)
    _ones_vectors(prog, plan)
    return plan


def _read_as_scalar(low: Lowering, readers: list[int]) -> bool:
    return bool(readers) and all(c in low.kernel and low.kernel[c].scalar for c in readers)


def plan_commits(prog: Program, static: set[int],
                 consumers: dict[int, list[int]]) -> dict[int, int]:
    """The tail: update values whose last op writes into the param itself (update value id ->
    param id), run after everything else; see the module docstring."""
    node = prog.graph.node
    outputs = set(prog.outputs)
    new_count = Counter(v for _, v in prog.updates)
    tail: list[tuple[int, int]] = []
    for p, v in prog.updates:
        n = node(v)
        # an input may be the caller's view of a param that an earlier commit writes: an op
        # reading one computes before any commit instead (into a buffer, then copyto)
        if (n.role == "op" and v not in static and v not in outputs and not consumers.get(v)
                and get_op(n.op).out and get_op(n.op).inplace
                and n.dtype == node(p).dtype and same_shape(n.shape, node(p).shape)
                and new_count[v] == 1
                and all(j == p or alias_root(prog, j) != p for j in n.inputs)
                and not any(node(alias_root(prog, j)).role == "input" for j in n.inputs)):
            tail.append((v, p))
    # a tail op may not read a param that an earlier tail op already wrote
    ok: list[tuple[int, int]] = []
    read_later: set[int] = set()  # what the tail ops after the current one read
    for v, p in reversed(tail):
        if p not in read_later:
            ok.append((v, p))
        read_later.update(alias_root(prog, j) for j in node(v).inputs)
    return dict(reversed(ok))


def _last_uses(prog: Program, plan: MemoryPlan) -> dict[int, int]:
    """Liveness: alias root -> position in ``plan.order`` of its last read (_INF: kept)."""
    pos = {i: k for k, i in enumerate(plan.order)}
    last: dict[int, int] = {}
    for i in plan.order:
        for j in plan.lowering.reads.get(i, prog.graph.node(i).inputs):
            r = alias_root(prog, j)
            last[r] = max(last.get(r, -1), pos[i])
    for i in [*prog.outputs, *(v for _, v in prog.updates)]:
        last[alias_root(prog, i)] = _INF
    return last


class _Slots:
    """Buffers by (shape, dtype) key, with the free ones per key."""

    def __init__(self, plan: MemoryPlan):
        self.plan = plan
        self.free: dict[tuple, list[int]] = {}

    def key(self, s: int) -> tuple:
        shape, dtype = self.plan.slots[s]
        return (shape, dtype.str)

    def take(self, n: Node) -> int:
        """A free slot of ``n``'s shape and dtype, or a new one."""
        pool = self.free.get((tuple(n.shape), n.dtype.str))
        if pool:
            return pool.pop()
        self.plan.slots.append((tuple(n.shape), n.dtype))
        return len(self.plan.slots) - 1

    def release(self, s: int) -> None:
        self.free.setdefault(self.key(s), []).append(s)


def _assign_slots(prog: Program, plan: MemoryPlan, last: dict[int, int],
                  candidates: dict[int, tuple[int, bool]]) -> dict[int, int]:
    """Walk the body in order: each node takes a slot (in place on a dying operand where it
    can), views of slots are noted for hoisting, and the values dying at a node free their
    slots after it chose its own (so a matmul or a reduction never writes over an operand).
    Returns root value id -> slot."""
    slot_of: dict[int, int] = {}
    slots = _Slots(plan)
    dying: dict[int, list[int]] = {}
    for r, k in last.items():
        if k < _INF:
            dying.setdefault(k, []).append(r)
    for k, i in enumerate(plan.order):
        if i in plan.tail:
            continue
        _place(prog, plan, slots, slot_of, last, dying, candidates, k, i)
        for r in dying.get(k, []):
            if r in slot_of and r != i:
                slots.release(slot_of[r])
    return slot_of


def _place(prog: Program, plan: MemoryPlan, slots: _Slots, slot_of: dict[int, int],
           last: dict[int, int], dying: dict[int, list[int]],
           candidates: dict[int, tuple[int, bool]], k: int, i: int) -> None:
    """Choose the slot node ``i`` (at position ``k``) writes into, if any."""
    n = prog.graph.node(i)
    op = get_op(n.op)
    if op.view:
        src = n.inputs[0]
        view = op.returns_view
        if view is not None and ((src in slot_of and view(n, True))
                                 or (src in plan.views and view(n, False))):
            plan.views.append(i)
        return
    if not plan.lowering.kernel[i].out or i in prog.outputs:
        return
    chosen = None
    # numpy runs an in-place ufunc on a 1-element array through its slow general iterator
    # (~0.8 us instead of ~0.3 us: the overlap check treats the stride of a 1-element array
    # as 0), so a value that is 1 element at batch size 1 gets a buffer of its own (one more
    # buffer, no more calls); the gradient arena's multiply is one call over every gradient
    if op.inplace and (not _thin(n) or i in candidates):
        key = (tuple(n.shape), n.dtype.str)
        for j in n.inputs:
            if (j in slot_of and last.get(j) == k and slots.key(slot_of[j]) == key
                    and all(m == j or alias_root(prog, m) != j for m in n.inputs)):
                chosen = slot_of[j]
                plan.inplace.add(i)
                # the operand's slot now holds this node's value: it must not be freed
                dying[k] = [r for r in dying.get(k, []) if r != j]
                break
    if chosen is None:
        chosen = slots.take(n)
    slot_of[i] = chosen
    plan.out[i] = chosen


def _hoisted_views(prog: Program, views: list[int], slot_of: dict[int, int]) -> list[int]:
    """The views whose whole chain is hoisted (a view of a fresh value is not)."""
    hoisted: list[int] = []
    for i in views:
        src = prog.graph.node(i).inputs[0]
        if src in slot_of or src in hoisted:
            hoisted.append(i)
    return hoisted


def _flat_views(prog: Program, plan: MemoryPlan) -> None:
    """A flat view, per binding, of the multi-dim buffer a ``flat`` kernel reads."""
    low = plan.lowering
    for i in plan.order:
        if i in low.kernel and low.kernel[i].flat:
            for d in low.reads[i]:
                if d in plan.out and prog.graph.node(d).ndim > 1 and plan.out[d] not in plan.flats:
                    plan.flats.append(plan.out[d])


def _ones_vectors(prog: Program, plan: MemoryPlan) -> None:
    """A ones vector, per binding, for each kernel that needs one (gemv: its operand's rows)."""
    low = plan.lowering
    for i in plan.order:
        if i in plan.out and low.kernel[i].needs_plan:
            n = prog.graph.node(i)
            key = (prog.graph.node(n.inputs[0]).shape[0], n.dtype)
            if key not in plan.ones:
                plan.ones.append(key)
            plan.ones_of[i] = plan.ones.index(key)


def _thin(n: Node) -> bool:
    """True when ``n`` has one element whenever its symbols are 1 (``()``, ``(B, 1)``)."""
    return all(d.evaluate(_ONES) <= 1 if isinstance(d, Dim) else d == 1 for d in n.shape)


class _AllOnes(dict):
    def __missing__(self, key: str) -> int:
        return 1


_ONES = _AllOnes()


def _arena_candidates(prog: Program, plan: MemoryPlan,
                      consumers: dict[int, list[int]]) -> dict[int, tuple[int, bool]]:
    """``multiply(s, g)`` nodes read only by in-place commits, with a 0-d ``s`` that nothing
    overwrites (a param, constant, input or static value): node id -> (s, s is operand 0)."""
    node = prog.graph.node
    static = set(plan.static)
    kept = set(prog.outputs) | {v for _, v in prog.updates}
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


def _gradient_arenas(plan: MemoryPlan, candidates: dict[int, tuple[int, bool]]) -> None:
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
