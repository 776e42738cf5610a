"""The numba backend: the numpy backend's driver, with the native parts of the program
compiled by numba (fused elementwise loop nests, sums along them, BLAS matmuls, the commit),
and numpy's own line for every other node. See ``docs/guide/numba.md``.

Needs numba (``pip install graphc[numba]``); importing this package imports it.
"""

from __future__ import annotations

import os
import warnings

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

#: the most native nodes one program gets by default (numba's first compile costs about 35 ms
#: per native node on a 2-core machine; past this, the rest run as numpy lines)
MAX_NATIVE_NODES = 1500


class NativeSizeWarning(UserWarning):
    """A program has more native nodes than ``NumbaBackend(max_native_nodes=)``: the rest run
    as numpy lines."""


class NumbaBackend(Backend):
    """Native code for what numba compiles well, numpy for the rest, one driver function.

    ``fast_math``: tanh, exp and sigmoid (float32/float64) computed by graphc's own vectorised
    functions (``graphc.backend.numba.fastmath``: within a stated ulp bound of the exact
    result) instead of numpy's loops (bit-identical to the numpy backend, the default).
    ``threads``: run large loop nests on numba's threads (``numba.set_num_threads``), when
    their estimated work is above a measured threshold; False: every kernel is serial.
    ``max_native_nodes``: past this many native nodes, the remaining regions run as numpy
    lines, with a ``NativeSizeWarning`` (numba's compile time grows with the program)."""

    name = "numba"

    def __init__(self, fast_math: bool = False, threads: bool = True,
                 max_native_nodes: int = MAX_NATIVE_NODES):
        if not isinstance(max_native_nodes, int) or max_native_nodes < 0:
            raise ValueError(f"NumbaBackend: max_native_nodes must be an int >= 0, got "
                             f"{max_native_nodes!r}")
        self.fast_math = bool(fast_math)
        self.threads = bool(threads)
        self.max_native_nodes = max_native_nodes

    def __repr__(self) -> str:
        return (f"NumbaBackend(fast_math={self.fast_math}, threads={self.threads}, "
                f"max_native_nodes={self.max_native_nodes})")

    def unary(self, op: str, dtype) -> str | None:
        """How a unary op runs natively: ``"ew"`` (an inline scalar function, fast_math),
        ``"loop"`` (numpy's own inner loop), or None (a numpy line)."""
        if self.fast_math:
            from graphc.backend.numba.fastmath import fast_function

            if fast_function(op, dtype) is not None:
                return "ew"
        return "loop" if loop_symbol(op, dtype) is not None else None

    def compile(self, prog: Program, memory: bool = True,
                check_finite: bool | str = False) -> Compiled:
        if check_finite is True:
            # the debugging mode checks every value as it is computed: numpy's one line per
            # node does that; native loop nests would hide the values inside them
            return NumpyBackend().compile(prog, memory=memory, check_finite=True)
        if self.threads:
            _passive_openmp()
        prog = group_schedule(prog, self.unary)  # native nodes together: fewer, larger regions
        plan = plan_native(prog, self.unary, enabled=memory, fold=check_finite != "outputs",
                           max_native=self.max_native_nodes)
        if plan.dropped:
            warnings.warn(
                f"numba backend: the program has {plan.dropped + len(plan.kinds)} native nodes, "
                f"more than max_native_nodes={self.max_native_nodes}: the last {plan.dropped} "
                f"run as numpy lines (numba's first compile grows with the program; raise it "
                f"with NumbaBackend(max_native_nodes=...))", NativeSizeWarning, stacklevel=3)
        source, namespace = generate(prog, plan, check_finite=check_finite, load=load_module,
                                     threads=self.threads)
        return Compiled(source=source, namespace=namespace, plan=plan)


def _passive_openmp() -> None:
    """Idle OpenMP threads sleep instead of spinning (unless the user chose): numba's OpenMP
    threading layer reads this when it starts, and spinning threads would take the cores
    from the BLAS threads of the matmuls between parallel loops."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


__all__ = ["MAX_NATIVE_NODES", "NativeSizeWarning", "NumbaBackend"]
