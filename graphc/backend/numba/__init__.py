"""The numba backend: the numpy backend's driver, with the native parts of the program
compiled by numba (fused elementwise loop nests, sums along them, BLAS matmuls, the commit),
and numpy's own line for every other node. See ``docs/guide/numba.md``.

Needs numba (``pip install graphc[numba]``); importing this package imports it.
"""

from __future__ import annotations

try:
    import numba  # noqa: F401
except ImportError as e:  # pragma: no cover - the extra is installed in the test environment
    raise ImportError("backend='numba' needs numba: pip install 'graphc[numba]'") from e

from graphc.backend.base import Backend, Compiled
from graphc.backend.numba.codegen import generate
from graphc.backend.numba.native import load_module, loop_symbol
from graphc.backend.numba.plan import group_schedule, plan_native
from graphc.backend.numpy import NumpyBackend
from graphc.ir.program import Program


def _loops(op: str, dtype) -> bool:
    return loop_symbol(op, dtype) is not None


class NumbaBackend(Backend):
    """Native code for what numba compiles well, numpy for the rest, one driver function."""

    name = "numba"

    def compile(self, prog: Program, memory: bool = True,
                check_finite: bool | str = False) -> Compiled:
        if check_finite is True:
            # the debugging mode checks every value as it is computed: numpy's one line per
            # node does that; native loop nests would hide the values inside them
            return NumpyBackend().compile(prog, memory=memory, check_finite=True)
        prog = group_schedule(prog, _loops)  # native nodes together: fewer, larger regions
        plan = plan_native(prog, _loops, enabled=memory, fold=check_finite != "outputs")
        source, namespace = generate(prog, plan, check_finite=check_finite, load=load_module)
        return Compiled(source=source, namespace=namespace, plan=plan)


__all__ = ["NumbaBackend"]
