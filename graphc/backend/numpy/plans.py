"""Run-time side of the memory plan: buffers per binding of the symbolic dims, per caller.

The generated function takes a *buffer set* (a tuple: slot buffers, static values, hoisted
views) from the pool of its binding, runs, and puts it back. Concurrent calls (threads)
each take their own set, so no lock is needed; a call that raises simply drops its set. A
new binding (batch size) gets new sets without touching the source. At most MAX_BINDINGS
bindings are kept (the oldest is dropped), so a stream of batch sizes cannot grow memory
without bound.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from graphc.ir.dims import Dim, Shape, bind_attrs
from graphc.ir.node import runtime_error
from graphc.ir.opdef import get_op
from graphc.ir.program import Program

MAX_BINDINGS = 8


class PlanCache:
    """``pools[key]``: free buffer sets of one binding (``key``: the symbol values), least
    recently used first (the generated code moves its binding to the end at every call)."""

    def __init__(self, prog: Program, plan: Any, symbols: list[str]):
        self.prog = prog
        self.plan = plan
        self.symbols = symbols
        self.pools: OrderedDict[Any, list[tuple]] = OrderedDict()
        self._lock = threading.Lock()  # the slow path only: a call that finds no free set

    def make(self, key: Any) -> tuple[list, tuple]:
        """A new buffer set for ``key`` (and the pool it goes back to); past MAX_BINDINGS
        bindings, the least recently used one's pool is dropped (its sets in use stay valid:
        they are simply not pooled again)."""
        if len(self.symbols) == 1:
            binding = {self.symbols[0]: key}
        else:
            binding = dict(zip(self.symbols, key or ()))
        with self._lock:
            pool = self.pools.get(key)
            if pool is None:
                while len(self.pools) >= MAX_BINDINGS:
                    self.pools.popitem(last=False)
                pool = self.pools[key] = []
        return pool, self._allocate(binding)

    def _allocate(self, binding: dict[str, int]) -> tuple:
        g = self.prog.graph
        plan = self.plan

        def concrete(shape) -> tuple[int, ...]:
            return Shape(shape).bind(binding)

        out: list[Any] = [None] * len(plan.slots)
        arenas = []
        for _, _, slots, _ in plan.arenas:  # slots laid out one after another in one buffer
            shapes = [concrete(plan.slots[s][0]) for s in slots]
            sizes = [int(np.prod(sh, dtype=np.int64)) for sh in shapes]
            flat = np.empty(sum(sizes), plan.slots[slots[0]][1])
            offset = 0
            for s, sh, size in zip(slots, shapes, sizes):
                out[s] = flat[offset:offset + size].reshape(sh)
                offset += size
            arenas.append(flat)
        for s, (shape, dtype) in enumerate(plan.slots):
            if out[s] is None:
                out[s] = np.empty(concrete(shape), dtype)
        values: dict[int, Any] = {}
        for i, s in plan.out.items():
            values[i] = out[s]
        for i in plan.static:
            n = g.node(i)
            op = get_op(n.op)
            if op.binding_only:  # reads only its operands' shapes: stand-ins of no memory
                args = [np.broadcast_to(np.empty((), g.node(j).dtype),
                                        concrete(g.node(j).shape)) for j in n.inputs]
            else:
                args = [g.node(j).value if g.node(j).role == "constant" else values[j]
                        for j in n.inputs]
            try:
                with np.errstate(all="ignore"):
                    v = np.asarray(op.compute(args, bind_attrs(n.attr, binding),
                                              concrete(n.shape)), dtype=n.dtype)
            except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError) as e:
                raise runtime_error(n, e) from e  # at the user's line, as in the body
            if v.flags.writeable and v.base is None:
                v.setflags(write=False)  # shared by every call of this binding: read-only
            if i in plan.scalar_static:
                v = v[()]  # a numpy scalar: Python operators on it skip the ufunc machinery
            values[i] = v
            out.append(v)
        for i in plan.views:
            n = g.node(i)
            v = get_op(n.op).compute([values[n.inputs[0]]], bind_attrs(n.attr, binding),
                                     concrete(n.shape))
            values[i] = v
            out.append(v)
        for d, dtype in plan.ones:  # for the gemv kernels
            v = np.ones(d.evaluate(binding) if isinstance(d, Dim) else d, dtype)
            v.setflags(write=False)
            out.append(v)
        out += [out[s].reshape(-1) for s in plan.flats]  # views: the slots are C-contiguous
        out += arenas
        return tuple(out)
