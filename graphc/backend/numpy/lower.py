"""Lowering, the numpy backend's first step: one kernel per node of the program's body.

A kernel is the op's own ``emit`` or one of its ``Kernel`` variants (registered in the op's
block: ``dot`` for 2-D matmul, ``add.reduce`` for a float sum, sum of squares as one dot, a
Python operator for 0-d arithmetic, ...). The first variant whose ``when`` holds, and whose
needs the memory plan can meet, wins. A kernel that reads other nodes than its operands
(``Kernel.reads``) may leave an operand that nothing else reads uncomputed: it is *fused*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graphc.ir.node import Node
from graphc.ir.opdef import Kernel, get_op
from graphc.ir.program import Program


class LoweringContext:
    """What a ``Kernel.when`` may ask about the program around a node."""

    def __init__(self, prog: Program, consumers: dict[int, list[int]], kept: set[int]):
        self.prog = prog
        self._consumers = consumers
        self._kept = kept

    def node(self, i: int) -> Node:
        return self.prog.graph.node(i)

    def operand(self, n: Node, k: int) -> Node:
        """Operand ``k`` of node ``n``."""
        return self.prog.graph.node(n.inputs[k])

    def only_reader(self, j: int, i: int) -> bool:
        """True when node ``i`` is the one node of the body that reads node ``j``."""
        return self._consumers.get(j) == [i]

    def kept(self, j: int) -> bool:
        """True when node ``j``'s value must exist: an output, an update, or static."""
        return j in self._kept


@dataclass
class Lowering:
    """The kernel of every body node, what it reads, and the nodes fused away."""

    kernel: dict[int, Kernel] = field(default_factory=dict)
    reads: dict[int, tuple[int, ...]] = field(default_factory=dict)
    #: nodes no kernel computes: their one reader's kernel reads past them
    fused: set[int] = field(default_factory=set)

    def chosen(self, name: str) -> list[int]:
        """The nodes lowered to the kernel called ``name`` (for reports and tests)."""
        return [i for i, k in self.kernel.items() if k.name == name]


def default_kernel(op: str) -> Kernel:
    """The op's own lowering (``OpDef.emit``) as a Kernel."""
    opdef = get_op(op)
    return Kernel("default", lambda n, ins, prog: True, opdef.emit, out=opdef.out)


def consumers_of(prog: Program, body: list[int]) -> dict[int, list[int]]:
    """node id -> the body nodes that read it, in order."""
    consumers: dict[int, list[int]] = {}
    for i in body:
        for j in prog.graph.node(i).inputs:
            consumers.setdefault(j, []).append(i)
    return consumers


def lower(prog: Program, body: list[int], static: set[int], commits: set[int],
          planned: bool) -> Lowering:
    """Choose each body node's kernel. ``commits``: nodes that write into their param in place
    (their kernel must take ``out=``); ``planned``: the memory plan is on, so a kernel that
    needs a buffer set may be chosen for a node that writes into a buffer (not an output)."""
    g = prog.graph
    consumers = consumers_of(prog, body)
    outputs = set(prog.outputs)
    kept = outputs | {v for _, v in prog.updates} | static
    ctx = LoweringContext(prog, consumers, kept)
    low = Lowering()
    for i in body:
        n = g.node(i)
        ins = [g.node(j) for j in n.inputs]
        buffered = planned and i not in outputs and i not in commits
        for k in get_op(n.op).kernels:
            if ((k.out or i not in commits) and (buffered or not k.needs_plan)
                    and k.when(n, ins, ctx)):
                low.kernel[i] = k
                break
        else:
            low.kernel[i] = default_kernel(n.op)
        low.reads[i] = _reads(low.kernel[i], n, ctx, low)
    for j in low.fused:  # computed by no kernel: its reader reads past it
        del low.kernel[j], low.reads[j]
    return low


def _reads(k: Kernel, n: Node, ctx: LoweringContext, low: Lowering) -> tuple[int, ...]:
    """What ``n``'s kernel reads; operands it reads past are marked fused."""
    if k.reads is None:
        return n.inputs
    reads = k.reads(n, ctx)
    low.fused.update(j for j in n.inputs if j not in reads)
    return reads
