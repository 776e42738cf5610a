"""The numpy backend: lowering (a kernel per node), planning (buffers, in place, commits)
and emitting (the source of one Python function over numpy)."""

from __future__ import annotations

from graphc.backend.base import Backend, Compiled
from graphc.backend.numpy.codegen import generate
from graphc.backend.numpy.memory import plan_memory
from graphc.ir.program import Program


class NumpyBackend(Backend):
    """graphc's default backend: one generated Python function that calls numpy directly."""

    name = "numpy"

    def compile(self, prog: Program, memory: bool = True,
                check_finite: bool | str = False) -> Compiled:
        plan = plan_memory(prog, enabled=memory)  # lowering, then the memory plan
        source, namespace = generate(prog, plan, check_finite=check_finite)
        return Compiled(source=source, namespace=namespace, plan=plan)


__all__ = ["NumpyBackend"]
