"""The numba backend's memory plan: the numpy backend's (``graphc.backend.numpy.memory``),
made for the native lowering.

Same static values, tail (in-place commits), liveness, buffers, in place and hoisted views,
with three differences:

* a native node computes its value from its operands: the numpy kernels that read past an
  operand (sum of squares as one dot) are not used for it, and the operand gets its own
  line again;
* no gradient arena (the native commit does the multiply in its own loop);
* a commit ``p - s * g`` (SGD) folds the multiply into the native commit when every commit
  is native: the multiply leaves the body, and the commit reads ``s`` and ``g``;
* every buffer of one dtype is a view of one flat array per binding (``arena_k``, the numpy
  plan's arena layout): a kernel takes the arena, one argument, and makes its buffers' views
  from the symbols' values (numba's dispatch costs about 150 ns per array argument).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

import numpy as np

from graphc.backend.numba.fuse import native_kind
from graphc.backend.numpy.lower import consumers_of, default_kernel, lower
from graphc.backend.numpy.memory import (
    MemoryPlan,
    _assign_slots,
    _flat_views,
    _hoisted_views,
    _last_uses,
    _ones_vectors,
    _read_as_scalar,
    plan_commits,
    static_nodes,
)
from graphc.ir.dims import same_shape
from graphc.ir.program import Program


@dataclass
class NativePlan:
    """The memory plan, the native kind of each body node, the commits folded with their
    multiply (commit node -> multiply node), and whether the commit runs natively."""

    memory: MemoryPlan
    kinds: dict[int, str] = field(default_factory=dict)
    folded: dict[int, int] = field(default_factory=dict)
    native_commit: bool = False
    #: the plan has a buffer set (``memory=True``): kernels take their scratch from it
    enabled: bool = True
    #: native nodes left to numpy (``max_native``)
    dropped: int = 0
    #: scratch arrays of the kernels: (shape, dtype, n) -> slot (filled by codegen)
    scratch: dict = field(default_factory=dict)
    #: the generated kernel module's source and the module (filled by codegen)
    kernel_source: str = ""
    module: object = None

    def describe(self) -> str:
        """One line: native nodes, numpy nodes."""
        body = [i for i in self.memory.order if i not in self.memory.tail]
        native = sum(1 for i in body if i in self.kinds)
        return (f"{native} of {len(body)} body nodes native, commit "
                f"{'native' if self.native_commit else 'numpy'}"
                + (f", {self.dropped} left to numpy (max_native_nodes)" if self.dropped else ""))


def plan_native(prog: Program, unary, enabled: bool = True, fold: bool = True,
                max_native: int | None = None) -> NativePlan:
    """Lower ``prog`` for the numba backend and plan its memory (see the module docstring);
    ``unary(op, dtype)``: how a unary op runs natively (``native_kind``); past ``max_native``
    native nodes (schedule order) the rest are numpy lines (``NativePlan.dropped`` says how
    many). ``prog``'s schedule should be ``group_schedule``'s."""
    g = prog.graph
    plan = MemoryPlan()
    static = static_nodes(prog)
    plan.static = [i for i in prog.schedule if i in static]
    body = [i for i in prog.schedule if g.node(i).role == "op" and i not in static]
    consumers = consumers_of(prog, body)
    if enabled:
        plan.tail = plan_commits(prog, static, consumers)
    kinds = {i: k for i in body if (k := native_kind(g, g.node(i), unary)) is not None}
    dropped = 0
    if max_native is not None and len(kinds) > max_native:
        keep = [i for i in body if i in kinds][:max_native]
        dropped = len(kinds) - len(keep)
        kinds = {i: kinds[i] for i in keep}
    low = lower(prog, body, static, set(plan.tail), planned=enabled)
    for i in body:  # a native node reads its operands, not past them
        if i in kinds and i in low.kernel and low.reads[i] != g.node(i).inputs:
            for j in g.node(i).inputs:
                if j in low.fused:
                    low.fused.discard(j)
                    low.kernel[j], low.reads[j] = default_kernel(g.node(j).op), g.node(j).inputs
            low.kernel[i], low.reads[i] = default_kernel(g.node(i).op), g.node(i).inputs
    native_commit = bool(plan.tail) and all(kinds.get(v) in ("ew", "loop") for v in plan.tail)
    folded: dict[int, int] = {}
    if native_commit and fold:
        folded = _fold(prog, plan, consumers, kinds, static)
        for v, m in folded.items():
            low.fused.add(m)
            del low.kernel[m], low.reads[m]
            n = g.node(v)
            low.reads[v] = tuple(j for j in n.inputs if j != m) + g.node(m).inputs
    plan.lowering = low
    body = [i for i in body if i not in low.fused]
    plan.order = [i for i in body if i not in plan.tail] + list(plan.tail)
    if enabled:
        plan.scalar_static = {i for i in plan.static if g.node(i).ndim == 0 and _read_as_scalar(
            low, [c for c in consumers.get(i, []) if c not in static])}
        last = _last_uses(prog, plan)
        slot_of = _assign_slots(prog, plan, last, {})
        plan.views = _hoisted_views(prog, plan.views, slot_of)
        _flat_views(prog, plan)
        _ones_vectors(prog, plan)
        plan.arenas = buffer_arenas(plan)
    return NativePlan(plan, kinds, folded, native_commit, enabled=enabled, dropped=dropped)


def buffer_arenas(plan: MemoryPlan) -> list[tuple[None, bool, list[int], list[int]]]:
    """The plan's slots as arenas, one per dtype, in slot order (no multiplies run over
    them: the arena's scalar node is None and its member list empty)."""
    by_dtype: dict[np.dtype, list[int]] = {}
    for s, (_, dtype) in enumerate(plan.slots):
        by_dtype.setdefault(np.dtype(dtype), []).append(s)
    return [(None, False, slots, []) for slots in by_dtype.values()]


def group_schedule(prog: Program, unary) -> Program:
    """``prog`` with its schedule reordered (still topological) so that native nodes run in as few
    regions as they can: Kahn's algorithm taking ready nodes of the kind it is running
    (native or numpy) first, each kind in its original order; then elementwise nodes moved
    down to their reader when that lets them join its loop nest (``_sink``)."""
    g = prog.graph
    static = static_nodes(prog)
    pos = {i: k for k, i in enumerate(prog.schedule)}
    kinds = {i: k for i in prog.schedule if i not in static and g.node(i).role == "op"
             and (k := native_kind(g, g.node(i), unary)) is not None}
    native = set(kinds)
    waiting = {i: len({j for j in g.node(i).inputs if j in pos}) for i in prog.schedule}
    readers: dict[int, list[int]] = {}
    for i in prog.schedule:
        for j in set(g.node(i).inputs):
            if j in pos:
                readers.setdefault(j, []).append(i)
    ready = {True: [], False: []}  # native?: heaps of (position, id)
    for i in prog.schedule:
        if waiting[i] == 0:
            heapq.heappush(ready[i in native], (pos[i], i))
    order: list[int] = []
    mode = False
    while ready[True] or ready[False]:
        if not ready[mode]:
            mode = not mode
        _, i = heapq.heappop(ready[mode])
        order.append(i)
        for r in readers.get(i, []):
            waiting[r] -= 1
            if waiting[r] == 0:
                heapq.heappush(ready[r in native], (pos[r], r))
    return replace(prog, schedule=_sink(prog, order, kinds, readers))


def _sink(prog: Program, order: list[int], kinds: dict[int, str],
          readers: dict[int, list[int]]) -> list[int]:
    """``order`` with each elementwise arithmetic node that only elementwise nodes (or sums) of
    its own loop shape read, and no caller, moved to just before the first of them: it then
    joins their loop nest and its value stays in a register instead of making a pass over
    memory of its own (the tanh derivative ``1 - h*h``, computed as soon as ``h`` is, read
    only after the next matmul). Later nodes first, so that chains move together. Moving a
    node down keeps the order topological; the memory plan is made for the new order."""
    g = prog.graph
    kept = set(prog.outputs) | {v for _, v in prog.updates}
    order = list(order)
    for i in reversed(list(order)):
        n = g.node(i)
        rs = readers.get(i, [])
        if kinds.get(i) != "ew" or not rs or i in kept:
            continue
        if not all(kinds.get(r) in ("ew", "sum") and same_shape(_loop_shape(g, r), n.shape)
                   for r in rs):
            continue
        at = {j: k for k, j in enumerate(order)}
        first = min(at[r] for r in rs)
        if first > at[i] + 1:
            order.remove(i)
            order.insert(first - 1, i)
    return order


def _loop_shape(g, i: int) -> tuple:
    """The shape of the loop nest node ``i`` runs in (a sum: its operand's)."""
    n = g.node(i)
    return tuple(g.node(n.inputs[0]).shape) if n.op == "sum" else tuple(n.shape)


def _fold(prog: Program, plan: MemoryPlan, consumers: dict[int, list[int]],
          kinds: dict[int, str], static: set[int]) -> dict[int, int]:
    """Commits ``p -/+ multiply(s, g)`` whose multiply is native, read by nothing else and
    kept nowhere: commit node -> multiply node."""
    g = prog.graph
    kept = set(prog.outputs) | {v for _, v in prog.updates}
    found: dict[int, int] = {}
    for v, p in plan.tail.items():
        n = g.node(v)
        if n.op not in ("subtract", "add"):
            continue
        for m in n.inputs:
            if (m != p and kinds.get(m) == "ew" and g.node(m).op == "multiply"
                    and consumers.get(m) == [v] and m not in kept and m not in static
                    and same_shape(g.node(m).shape, n.shape)):
                found[v] = m
                break
    return found

