"""Run-time side of the memory plan: buffers per binding of the symbolic dims, per caller.

The generated function takes a *buffer set* (a tuple: slot buffers, static values, hoisted
views) from the pool of its binding, runs, and puts it back. Concurrent calls (threads)
each take their own set, so no lock is needed; a call that raises simply drops its set. A
new binding (batch size) gets new sets without touching the source. At most MAX_BINDINGS
bindings are kept (the oldest is dropped), so a stream of batch sizes cannot grow memory
without bound.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graphc.backend.codegen import Program
from graphc.ops.registry import get_op

MAX_BINDINGS = 8


class PlanCache:
    """``pools[key]``: free buffer sets of one binding (``key``: the symbol values)."""

    def __init__(self, prog: Program, plan: Any, symbols: list[str]):
        self.prog = prog
        self.plan = plan
        self.symbols = symbols
        self.pools: dict[Any, list[tuple]] = {}

    def make(self, key: Any) -> tuple[list, tuple]:
        """A new buffer set for ``key`` (and the pool it goes back to)."""
        if len(self.symbols) == 1:
            binding = {self.symbols[0]: key}
        else:
            binding = dict(zip(self.symbols, key or ()))
        pool = self.pools.get(key)
        if pool is None:
            if len(self.pools) >= MAX_BINDINGS:
                self.pools.pop(next(iter(self.pools)), None)
            pool = self.pools.setdefault(key, [])
        return pool, self._allocate(binding)

    def _allocate(self, binding: dict[str, int]) -> tuple:
        g = self.prog.graph
        plan = self.plan

        def concrete(shape) -> tuple[int, ...]:
            return tuple(binding[d] if isinstance(d, str) else d for d in shape)

        out: list[Any] = [np.empty(concrete(shape), dtype) for shape, dtype in plan.slots]
        values: dict[int, Any] = {}
        for i, s in plan.out.items():
            values[i] = out[s]
        for i in plan.static:
            n = g.node(i)
            if n.op == "numel":
                x = g.node(n.inputs[0])
                count = 1
                for a in n.attr["axis"]:
                    d = x.shape[a]
                    count *= binding[d] if isinstance(d, str) else d
                v = np.asarray(count, dtype=n.dtype)
            else:
                args = [g.node(j).value if g.node(j).role == "constant" else values[j]
                        for j in n.inputs]
                with np.errstate(all="ignore"):
                    v = np.asarray(get_op(n.op).compute(args, n.attr, concrete(n.shape)),
                                   dtype=n.dtype)
            if v.flags.writeable and v.base is None:
                v.setflags(write=False)  # shared by every call of this binding: read-only
            values[i] = v
            out.append(v)
        for i in plan.views:
            n = g.node(i)
            v = get_op(n.op).compute([values[n.inputs[0]]], n.attr, concrete(n.shape))
            values[i] = v
            out.append(v)
        for d, dtype in plan.ones:
            v = np.ones(binding[d] if isinstance(d, str) else d, dtype)
            v.setflags(write=False)
            out.append(v)
        return tuple(out)
