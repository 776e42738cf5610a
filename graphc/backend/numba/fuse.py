"""The fusion pass of the numba backend: which body nodes run natively, and how they are
grouped. Pure analysis over the program and the memory plan (no numba here).

* **native nodes**: float32/float64 elementwise arithmetic (``+ - * /``, negative, square,
  sqrt, abs, relu, ``where`` with a bool condition) and the unary transcendentals numpy's
  own loops compute (``LOOP_UFUNCS``), whose operands have the node's dtype and broadcast
  onto its shape axis by axis (each operand dim is 1 or the same dim); ``sum`` of a float;
  2-D ``matmul`` (BLAS); the 2-D transpose view. Any other node is computed by the numpy
  backend's own line for it.
* **regions**: runs of consecutive native nodes of the schedule, at most ``MAX_REGION`` each,
  each one ``@njit`` function (JIT time grows faster than linearly with a function's size:
  bounded regions keep it linear in the graph's).
* **groups**: inside a region, each run of consecutive elementwise nodes of one shape ``S``
  (and sums over a value of shape ``S``) is one loop nest over ``S``. Values that leave the
  group are written to their planned buffers; the others stay in registers (or in one row
  scratch buffer, for a transcendental's operand). A group whose writes could overwrite
  something it still reads (the memory plan is made for one op at a time) runs as one loop
  nest per node instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from graphc.backend.numpy.memory import MemoryPlan, alias_root
from graphc.ir.dims import definitely_equal, same_shape
from graphc.ir.node import Node
from graphc.ir.program import Program

#: native elementwise arithmetic: op -> scalar expression over the operands' values
ARITH = {
    "add": "{0} + {1}", "subtract": "{0} - {1}", "multiply": "{0} * {1}",
    "divide": "{0} / {1}", "negative": "-{0}", "square": "{0} * {0}",
    "sqrt": "np.sqrt({0})", "abs": "abs({0})",
    # numpy's maximum(x, 0): x when x > 0 or x is NaN, else 0 (+0.0 for -0.0)
    "relu": "{0} if not ({0} <= 0) else {zero}",
    # the condition is a bool operand (the only operand of another dtype a native node reads)
    "where": "{1} if {0} else {2}",
}
#: the most nodes one region (one ``@njit`` function) holds
MAX_REGION = 48
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass
class Group:
    """One loop nest over ``shape``: elementwise ``members`` of that shape, and sums over a
    member or operand of that shape (``members`` in schedule order)."""

    shape: tuple
    members: list[int] = field(default_factory=list)


@dataclass
class Region:
    """Consecutive native nodes, run as one ``@njit`` function; ``items`` are groups, or
    single matmul / transpose nodes, in order."""

    nodes: list[int] = field(default_factory=list)
    items: list[Group | int] = field(default_factory=list)


def native_kind(g, n: Node, unary) -> str | None:
    """``"ew"``, ``"loop"`` (a transcendental through numpy's loop), ``"sum"``, ``"matmul"``,
    ``"T"`` for a node the backend lowers natively, else None. ``unary(op, dtype)`` says how
    a unary op runs: ``"ew"`` (an inline scalar function), ``"loop"`` or None."""
    if n.role != "op" or n.dtype not in _FLOATS:
        return None
    ins = [g.node(j) for j in n.inputs]
    cond = n.op == "where" and len(ins) == 3 and ins[0].dtype == np.dtype(bool)
    if any(m.dtype != n.dtype for m in ins[cond:]):
        return None
    how = "ew" if n.op in ARITH else (unary(n.op, n.dtype) if len(ins) == 1 else None)
    if how is not None:
        return how if all(maps_onto(m.shape, n.shape) for m in ins) else None
    if n.op == "sum" and len(ins) == 1:
        return "sum"
    if n.op == "matmul" and all(m.ndim == 2 for m in ins):
        return "matmul"
    if is_transpose(n):
        return "T"
    return None


def is_transpose(n: Node) -> bool:
    """``n`` swaps the two axes of a matrix."""
    return n.op == "swapaxes" and n.ndim == 2 and {n.attr["axis1"] % 2, n.attr["axis2"] % 2} \
        == {0, 1}


def maps_onto(sub: tuple, shape: tuple) -> bool:
    """True when ``sub`` broadcasts onto ``shape`` axis by axis: aligned at the right, each
    of its dims 1 or the same dim as ``shape``'s."""
    if len(sub) > len(shape):
        return False
    tail = shape[len(shape) - len(sub):]
    return all(definitely_equal(a, 1) or definitely_equal(a, b) for a, b in zip(sub, tail))


def regions(prog: Program, plan: MemoryPlan, body: list[int], kinds: dict[int, str],
            readers: dict[int, set[int]]) -> list[Region | int]:
    """``body`` (the plan's body order) as regions of native nodes and single node ids for
    the rest."""
    out: list[Region | int] = []
    current: Region | None = None
    for i in body:
        if i not in kinds:
            out.append(i)
            current = None
            continue
        if current is None or len(current.nodes) >= MAX_REGION:
            current = Region()
            out.append(current)
        current.nodes.append(i)
    for r in out:
        if isinstance(r, Region):
            r.items = _items(prog, plan, r.nodes, kinds, readers)
    return out


def _items(prog: Program, plan: MemoryPlan, nodes: list[int], kinds: dict[int, str],
           readers: dict[int, set[int]]) -> list[Group | int]:
    g = prog.graph
    items: list[Group | int] = []
    group: Group | None = None
    for i in nodes:
        n, kind = g.node(i), kinds[i]
        if kind in ("matmul", "T"):
            items.append(i)
            group = None
            continue
        shape = tuple(g.node(n.inputs[0]).shape) if kind == "sum" else tuple(n.shape)
        if group is None or not _joins(g, group, i, kind, shape, kinds):
            group = Group(shape)
            items.append(group)
        group.members.append(i)
    done: list[Group | int] = []
    for it in items:
        if isinstance(it, Group) and len(it.members) > 1 and _hazard(prog, plan, it, readers):
            done += [_single(g, m, kinds) for m in it.members]
        else:
            done.append(it)
    return done


def _single(g, i: int, kinds: dict[int, str]) -> Group:
    n = g.node(i)
    shape = tuple(g.node(n.inputs[0]).shape) if kinds[i] == "sum" else tuple(n.shape)
    return Group(shape, [i])


def _joins(g, group: Group, i: int, kind: str, shape: tuple, kinds: dict[int, str]) -> bool:
    """Node ``i`` can join ``group``: same loop shape, and it reads no sum of the group (a sum
    is complete only after the loop nest)."""
    if not same_shape(shape, group.shape):
        return False
    members = set(group.members)
    return not any(j in members and kinds[j] == "sum" for j in g.node(i).inputs)


def readers_of(prog: Program, static: set[int]) -> dict[int, set[int]]:
    """node id -> the scheduled nodes that read it, but for the values computed once per
    binding (they read shapes, not values); ``-1`` stands for the caller (outputs and update
    values)."""
    readers: dict[int, set[int]] = {}
    for i in prog.schedule:
        if i in static:
            continue
        for j in prog.graph.node(i).inputs:
            readers.setdefault(j, set()).add(i)
    for i in [*prog.outputs, *(v for _, v in prog.updates)]:
        readers.setdefault(i, set()).add(-1)
    return readers


def outputs_of(readers: dict[int, set[int]], members: list[int], inside: set[int]) -> list[int]:
    """The members whose values are read outside ``inside`` (or by the caller)."""
    return [m for m in members if readers.get(m, set()) - inside]


def _hazard(prog: Program, plan: MemoryPlan, grp: Group,
            readers: dict[int, set[int]]) -> bool:
    """True when a buffer the group writes is also a buffer it reads at other positions: the
    plan let a value take a buffer freed at an earlier op, which is right one op at a time,
    not in one loop nest (a sum accumulating into it, a transposed read)."""
    g = prog.graph
    members = set(grp.members)
    written = {plan.out[m]: m for m in outputs_of(readers, grp.members, members) if m in plan.out}
    for m in grp.members:
        for j in g.node(m).inputs:
            if j in members:
                continue
            root = alias_root(prog, j)
            slot = plan.out.get(root)
            if slot is None or slot not in written:
                continue
            w = g.node(written[slot])
            # safe only when both are read and written element by element at one index (a
            # sum's buffer is set to 0 before the loop nest)
            if not (j == root and same_shape(g.node(j).shape, grp.shape) and w.op != "sum"
                    and same_shape(w.shape, grp.shape) and g.node(m).op != "sum"):
                return True
    return False
