"""Codegen of the numba backend: the numpy backend's driver function (inputs, symbols,
conditions, buffers, params, results, commit: ``graphc.backend.numpy.codegen``), whose body
calls one ``@njit`` kernel per native region, and the kernel module those come from.

A kernel takes the symbols' values (``s0``, ...) as arguments, so one compiled kernel serves
every binding. Inside it, a native node writes into the buffer the memory plan gave it
(``b3``), or into a new array (``v12``) that the kernel returns; a group's loop nest keeps
its other values in registers (``t12``). Kernel code holds no user string: the driver's
comments name each group's nodes, and the kernel module (content-addressed, cached on disk
by numba) is keyed by the graph's canonical form only.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numba
import numpy as np

from graphc.backend.numba.fuse import (
    ARITH,
    Group,
    Region,
    is_transpose,
    outputs_of,
    readers_of,
    regions,
)
from graphc.backend.numba.native import HELPERS_HASH, loop_threads
from graphc.backend.numba.plan import NativePlan, buffer_arenas
from graphc.backend.numpy.codegen import _Emitter, _short_loc
from graphc.ir.dims import definitely_equal
from graphc.ir.program import Program

_HEADER = '''"""graphc: native kernels of one compiled program (generated; content-addressed)."""
import numpy as np
from numba import njit, prange

from graphc.backend.numba.native import as_scalar, external, matmul_into

# threads for the explicit prange loops only: numba's other conversions (array.fill,
# reductions, ...) would start the threads on every call, whatever the sizes
_PRANGE_ONLY = {"prange": True, "comprehension": False, "reduction": False,
                "inplace_binop": False, "setitem": False, "numpy": False, "stencil": False,
                "fusion": False}
'''
_DECORATOR = "@njit(cache=True, nogil=True, error_model='numpy', boundscheck=False{})"

#: estimated serial cost of one element of a loop nest, per member kind (ns; measured on a
#: 2-core AVX2 machine: numpy's float64 tanh loop is scalar there, 18 ns)
_COST_NS = {"loop": 10.0, "fast": 1.0, "ew": 0.3}
#: a loop nest runs on numba's threads when its estimated serial work is at least this (ns):
#: starting the threads and joining them costs about 10 us
PARALLEL_MIN_NS = 50_000
#: nor when its rows (the inner axes) are shorter than this
PARALLEL_MIN_ROW = 16


def generate(prog: Program, nplan: NativePlan, check_finite: bool | str = False,
             load=None, threads: bool = False) -> tuple[str, dict[str, Any]]:
    """The driver's source and namespace (as the numpy backend's ``generate``), with the
    kernel module built by ``load(text)`` and its functions in the namespace.

    The native commit runs at the end of the last region's kernel when nothing that can
    fail runs between them: the body ends with that region, no output is checked
    (``check_finite="outputs"``), every update is an in-place commit and no result is
    copied (a copy is made before the commit). Otherwise the driver is written again, with
    the commit as a kernel of its own. It is also written again when the kernels asked for
    scratch arrays the buffer set did not have yet (they become slots of it)."""
    opts = {"threads": threads}
    e = _write(prog, nplan, check_finite, merge=True, **opts)
    if e.merged and e.copies:
        e = _write(prog, nplan, check_finite, merge=False, **opts)
    if e.new_slots:
        e = _write(prog, nplan, check_finite, merge=e.merged, **opts)
    text = e.kernels.text()
    nplan.kernel_source = text
    if e.kernels.functions:
        nplan.module = load(text)
        for name in e.kernels.functions:
            e.ns[name] = getattr(nplan.module, name)
        e.lines.append("# native kernels (numba, cached on disk):")
        e.lines += ["# " + line if line else "#" for line in text.splitlines()]
    return "\n".join(e.lines) + "\n", e.ns


def _write(prog: Program, nplan: NativePlan, check_finite: bool | str,
           merge: bool, **opts) -> _Driver:
    """The driver's lines and its kernels (not loaded); ``merge``: the commit may run in the
    last region's kernel."""
    e = _Driver(prog, nplan, check_finite, merge, **opts)
    e.function("graphc_fn")
    return e


class _Kernels:
    """The kernel module being written: the loops it imports, its functions."""

    def __init__(self):
        self.loops: dict[str, tuple[str, str]] = {}
        self.fast: set[str] = set()
        self.functions: list[str] = []
        self.bodies: list[str] = []

    def loop(self, op: str, dtype: np.dtype) -> str:
        name = f"{op}_{dtype.char}"
        self.loops[name] = (op, dtype.char)
        return name

    def fast_function(self, op: str, dtype: np.dtype) -> str:
        """The name of the fast_math function for ``op`` on ``dtype`` (imported)."""
        from graphc.backend.numba.fastmath import fast_function

        name = fast_function(op, dtype).__name__
        self.fast.add(name)
        return name

    def add(self, name: str, lines: list[str], parallel: bool = False) -> None:
        self.functions.append(name)
        deco = _DECORATOR.format(", parallel=_PRANGE_ONLY" if parallel else "")
        self.bodies.append("\n".join([deco, *lines]))

    def text(self) -> str:
        loops = "".join(f"{k} = external({op!r}, {c!r})\n"
                        for k, (op, c) in sorted(self.loops.items()))
        fast = ""
        if self.fast:  # numba's cache of a kernel would not see fastmath.py change
            from graphc.backend.numba.fastmath import SOURCE_DIGEST

            fast = (f"from graphc.backend.numba.fastmath import {', '.join(sorted(self.fast))}"
                    f"\n# fastmath: {SOURCE_DIGEST}\n")
        return (_HEADER + fast + f"# helpers: {HELPERS_HASH}\n" + loops
                + "".join(f"\n\n{b}\n" for b in self.bodies))


class _Driver(_Emitter):
    """The numpy backend's emitter, with native regions in the body and a native commit."""

    def __init__(self, prog: Program, nplan: NativePlan, check_finite: bool | str,
                 merge: bool = False, threads: bool = False):
        super().__init__(prog, nplan.memory, check_finite)
        self.nplan = nplan
        #: loop nests may run on numba's threads (and as many scratch rows as it may have)
        self.threads = threads and numba.config.NUMBA_NUM_THREADS > 1
        #: the kernels asked for scratch arrays the buffer set did not have (write again)
        self.new_slots = False
        self.kernels = _Kernels()
        tail = nplan.memory.tail
        self.merge = (merge and nplan.native_commit and check_finite != "outputs"
                      and all(v in tail for _, v in prog.updates))
        #: the commit ran in the last region's kernel; the results the driver copied
        self.merged = False
        self.copies = 0
        self.readers = readers_of(prog, set(nplan.memory.static))
        #: slot -> the index of the arena it lies in
        self.arena_of = {s: k for k, (_, _, slots, _) in enumerate(nplan.memory.arenas)
                         for s in slots}

    def scratch_slot(self, shape: tuple, dtype: np.dtype, n: int) -> int | None:
        """The slot of the buffer set that serves as a kernel's ``n``-th scratch array of
        ``shape`` and ``dtype`` (kernels run one after another: they share them), made when
        first asked for; None without a buffer set (``memory=False``)."""
        nplan, plan = self.nplan, self.plan
        if not nplan.enabled:
            return None
        key = (tuple(str(d) for d in shape), np.dtype(dtype).str, n)
        s = nplan.scratch.get(key)
        if s is None:
            s = nplan.scratch[key] = len(plan.slots)
            plan.slots.append((tuple(shape), np.dtype(dtype)))
            plan.arenas = buffer_arenas(plan)
            self.arena_of = {t: k for k, (_, _, slots, _) in enumerate(plan.arenas)
                             for t in slots}
            self.new_slots = True
        return s

    # ------------------------------------------------------------------------ body
    def body(self) -> None:
        plan, g = self.plan, self.g
        hoisted = set(plan.views)
        body = [i for i in plan.order if i not in plan.tail and i not in hoisted]
        if body:
            self.emit("    # body: native regions (one @njit kernel call each), numpy lines "
                      "for the rest")
        items = regions(self.prog, plan, body, self.nplan.kinds, self.readers)
        for pos, item in enumerate(items):
            if isinstance(item, Region):
                self.region(item, commit=self.merge and pos == len(items) - 1)
                continue
            for j in g.node(item).inputs:
                if j in plan.lowering.fused:
                    m = g.node(j)
                    self.emit(f"    # {m.op} {m.shape}: {self.names[j]}, fused into "
                              f"{self.names[item]} ({plan.lowering.kernel[item].name})")
            self.line(item, f"b{plan.out[item]}" if item in plan.out else None)

    def region(self, region: Region, commit: bool = False) -> None:
        """One kernel for the region (and the commit after it, when ``commit``); the driver
        calls it and names what later code reads."""
        name = f"region_{len(self.kernels.functions)}"
        inside = set(region.nodes)
        if commit:
            inside |= set(self.plan.tail) | set(self.nplan.folded.values())
        k = _KernelWriter(self, inside)
        for item in region.items:
            if isinstance(item, Group):
                self.emit(f"    #   {k.describe(item)}")
                k.group(item)
            else:
                self.emit(f"    #   {k.describe_node(item)}")
                k.single(item)
        if commit:
            self._commit_groups(k)
            self.merged = True
        leaving = [i for i in region.nodes if self.readers.get(i, set()) - inside]
        leaving += [n.inputs[0] for n in map(self.g.node, leaving)  # made again: store()
                    if is_transpose(n) and n.inputs[0] in inside and n.inputs[0] not in leaving]
        fresh = [i for i in leaving if i not in self.plan.out]
        k.ret = [k.store(i) for i in fresh]
        self.kernels.add(name, k.lines(name), parallel=k.parallel)
        self._thread_count(k)
        call = f"{name}({', '.join(k.params)})"
        if fresh:
            outs = ", ".join(self.names[i] for i in fresh)
            self.emit(f"    {outs}{',' if len(fresh) == 1 else ''} = {call}")
        else:
            self.emit(f"    {call}")
        for i in leaving:
            n = self.g.node(i)
            if i in self.plan.out:
                self.emit(f"    {self.names[i]} = b{self.plan.out[i]}  # {n.op} {n.shape}")
            elif n.ndim == 0:  # numba returns a Python float: the node's numpy scalar
                sc = self.ctx.ref(n.dtype.type, "sc")
                self.emit(f"    {self.names[i]} = {sc}({self.names[i]})")

    # ---------------------------------------------------------------------- commit
    def commit(self, owned: dict[int, str]) -> None:
        """The numpy backend's commit, with every in-place commit as one kernel call (a native
        call is not interrupted part way: Python runs signal handlers between calls)."""
        plan, nplan = self.plan, self.nplan
        if not nplan.native_commit:
            super().commit(owned)
            return
        if self.merged:
            self.emit("    # commit: done at the end of the last region's kernel, after "
                      "everything that can fail")
            if self.held:
                self.emit("    pool.append(M)")
            return
        name = f"commit_{len(self.kernels.functions)}"
        k = _KernelWriter(self, set(plan.tail) | set(nplan.folded.values()))
        self._commit_groups(k)
        self.kernels.add(name, k.lines(name), parallel=k.parallel)
        self._thread_count(k)
        stmts: list[tuple[int | None, str]] = [(None, f"{name}({', '.join(k.params)})")]
        stmts += [(None, f"xp.copyto({self.names[p]}, {owned[v]}, casting='same_kind')")
                  for p, v in self.prog.updates if v not in plan.tail]
        if len(stmts) == 1:
            self.emit("    # commit: everything is computed; one native call")
            self.emit(f"    {stmts[0][1]}")
        else:
            self._atomic_commit(stmts)
        if self.held:
            self.emit("    pool.append(M)")

    def _thread_count(self, k: _KernelWriter) -> None:
        """Before a kernel with parallel loop nests: ``nt``, numba's thread count when one of
        them is large enough to run on threads, else 1 (asking numba costs about 1 us; a
        cached kernel cannot ask itself)."""
        if not k.parallel:
            return
        self.ns["rt_threads"] = loop_threads
        conds = " or ".join(k.par_conditions)
        self.emit(f"    nt = rt_threads() if {conds} else 1  # numba's threads, for large "
                  "loop nests")

    def _commit_groups(self, k: _KernelWriter) -> None:
        """Every in-place commit (with its folded multiply) as a loop nest of kernel ``k``,
        writing the param."""
        for v, p in self.plan.tail.items():
            members = [m for m in (self.nplan.folded.get(v), v) if m is not None]
            k.storage[v] = self.names[p]
            k.written.add(v)
            grp = Group(tuple(self.g.node(v).shape), members)
            self.emit(f"    #   commit {k.describe(grp)}")
            k.group(grp)

    def copy(self, i: int, why: str, k: int) -> str:
        self.copies += 1
        return super().copy(i, why, k)


def _factor(code: str) -> str:
    """``code`` as an operand of ``*``."""
    return code if code.isidentifier() or code.isdigit() else f"({code})"


class _KernelWriter:
    """The lines of one kernel: its parameters (driver names, buffers, symbols), the code of
    each group or single node, the values it returns."""

    def __init__(self, driver: _Driver, inside: set[int]):
        self.d = driver
        self.g = driver.g
        self.plan = driver.plan
        self.kinds = driver.nplan.kinds
        self.inside = inside  # the nodes this kernel computes
        self.params: list[str] = []
        self.body: list[str] = []
        self.pre: list[str] = []
        self.ret: list[str] = []
        #: node id -> where the kernel stores its value (default: buffer or new array)
        self.storage: dict[int, str] = {}
        #: nodes written to their storage in full (the commits, the group outputs)
        self.written: set[int] = set()
        self.scalars: dict[int, str] = {}
        #: the slots whose buffers the kernel uses (views of the arenas it takes)
        self.buffers: set[int] = set()
        #: scratch arrays per (shape, dtype): how many this kernel took
        self.n_scratch: dict[tuple, int] = {}
        self.n_rows = 0  # scratch rows named so far (w0, w1, ...)
        self.lp_chunks: str | None = None  # the ufunc-loop arguments of the threads' chunks
        #: when a parallel loop nest runs on threads (driver expressions of the symbols)
        self.par_conditions: list[str] = []
        self.uses_loop_args = False
        #: the kernel has a parallel loop nest (compiled with parallel=True)
        self.parallel = False

    # ------------------------------------------------------------------ names
    def param(self, name: str) -> str:
        if name not in self.params:
            self.params.append(name)
        return name

    def store(self, i: int) -> str:
        """The array (or, 0-d and new, the scalar) holding node ``i``'s value here."""
        if i in self.storage:  # a commit: the param it writes
            return self.param(self.storage[i])
        if i not in self.inside:
            n = self.g.node(i)
            if is_transpose(n):
                # a transpose made outside is made again here: its layout (C at batch size 1,
                # F otherwise) would give the kernel a second signature
                return f"{self.store(n.inputs[0])}.T"
            if i in self.plan.out:  # the buffer it is in
                return self.buffer(self.plan.out[i])
            return self.param(self.d.names[i])
        if i in self.plan.out:
            return self.buffer(self.plan.out[i])
        return f"v{i}"

    def scratch(self, shape: tuple, dtype) -> str:
        """A scratch array of the kernel: a buffer of the binding's buffer set, or (no buffer
        set) a new array."""
        dtype = np.dtype(dtype)
        key = (tuple(str(d) for d in shape), dtype.str)
        n = self.n_scratch[key] = self.n_scratch.get(key, -1) + 1
        s = self.d.scratch_slot(shape, dtype, n)
        if s is None:
            return f"np.empty({self.shape(shape)}, np.{dtype.name})"
        return self.buffer(s)

    def buffer(self, s: int) -> str:
        """Slot ``s``'s buffer: a view the kernel makes of its arena (the parameter)."""
        self.param(f"arena_{self.d.arena_of[s]}")
        self.buffers.add(s)
        return f"b{s}"

    def dim(self, d: Any) -> str:
        code = self.d.ctx.dim(d)
        for v in self.d.symbols.values():
            if v in code:
                self.param(v)
        return code

    def shape(self, shape: tuple) -> str:
        dims = [self.dim(d) for d in shape]
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"

    def scalar(self, i: int, out: list[str]) -> str:
        """A 0-d value as a scalar local (read once, before the loops)."""
        if i not in self.scalars:
            self.scalars[i] = f"x{i}"
            src = self.store(i)
            fresh_0d = i in self.inside and i not in self.plan.out and i not in self.storage
            out.append(f"x{i} = {src}" if fresh_0d else f"x{i} = as_scalar({src})")
        return self.scalars[i]

    def describe_node(self, i: int) -> str:
        n = self.g.node(i)
        what = {"matmul": "BLAS gemm, or loops for a small K", "T": "transpose view"}[self.kinds[i]]
        return f"{n.op} {n.shape}: {self.d.names[i]} ({what}) @ {_short_loc(n.loc)}"

    def describe(self, grp: Group) -> str:
        nodes = ", ".join(self.d.names[m] for m in grp.members)
        locs = sorted({_short_loc(self.g.node(m).loc) for m in grp.members})
        kind = "fused loop nest" if len(grp.members) > 1 else "loop nest"
        return f"{kind} over {tuple(grp.shape)}: {nodes} @ {', '.join(locs)}"

    # ------------------------------------------------------------------ single nodes
    def single(self, i: int) -> None:
        n = self.g.node(i)
        a = [self.store(j) for j in n.inputs]
        if self.kinds[i] == "T":
            self.body.append(f"v{i} = {a[0]}.T")
        elif i in self.plan.out:
            self.body.append(f"matmul_into({a[0]}, {a[1]}, {self.store(i)})")
        else:
            self.body.append(f"v{i} = np.empty({self.shape(n.shape)}, np.{n.dtype.name})")
            self.body.append(f"matmul_into({a[0]}, {a[1]}, v{i})")

    # ------------------------------------------------------------------ groups
    def group(self, grp: Group) -> None:
        _GroupWriter(self, grp).write()

    def lines(self, name: str) -> list[str]:
        pre = list(self.pre)
        if self.uses_loop_args:
            pre.insert(0, f"lp = {self.scratch((5,), np.int64)}  # a ufunc loop's args, dims, "
                          "steps")
        body = self._views() + pre + self.body
        if self.ret:
            body.append(f"return {', '.join(self.ret)}{',' if len(self.ret) == 1 else ''}")
        return [f"def {name}({', '.join(self.params)}):"] + ["    " + x for x in body or ["pass"]]

    def _views(self) -> list[str]:
        """The buffers the kernel uses, as views of their arenas: an arena's slots lie one
        after another in slot order (``PlanCache``'s layout), each of its shape's size."""
        out: list[str] = []
        for k, (_, _, slots, _) in enumerate(self.plan.arenas):
            used = [s for s in slots if s in self.buffers]
            if not used:
                continue
            out.append("o = 0")
            for s in slots[:slots.index(used[-1]) + 1]:
                shape = self.plan.slots[s][0]
                size = " * ".join(_factor(self.dim(d)) for d in shape) or "1"
                if s in self.buffers:
                    out.append(f"b{s} = arena_{k}[o:o + {size}].reshape({self.shape(shape)})")
                if s != used[-1]:
                    out.append(f"o += {size}")
        return out


class _GroupWriter:
    """One group's loop nest: the outer axes, then per phase one loop over the last axis; a
    transcendental ends a phase (numpy's loop runs over the whole row in between)."""

    def __init__(self, k: _KernelWriter, grp: Group):
        self.k, self.grp, self.g = k, grp, k.g
        self.members = grp.members
        self.mset = set(grp.members)
        self.r = len(grp.shape)
        self.dims = [k.dim(d) for d in grp.shape]
        self.outs = set(outputs_of(k.d.readers, grp.members, self.mset)) | (
            k.written & self.mset)
        self.phase: dict[int, int] = {}
        cur = 0
        for m in self.members:
            if k.kinds[m] == "loop":
                cur += 1
            self.phase[m] = cur
        self.n_phases = cur + 1
        self.rows: dict[int, str] = {}
        self.row_is_storage: set[int] = set()
        #: the scratch rows the loop nest uses: (name, shape, dtype)
        self.scratch_rows: list[tuple[str, tuple, np.dtype]] = []

    # --------------------------------------------------------------- indexing
    def idx(self, shape: tuple) -> str:
        """Element index of an array of ``shape`` broadcast onto the group's shape."""
        q = len(shape)
        parts = ["0" if definitely_equal(d, 1) else f"i{self.r - q + a}"
                 for a, d in enumerate(shape)]
        return ", ".join(parts)

    def at(self, array: str, shape: tuple) -> str:
        return f"{array}[{self.idx(shape)}]" if shape else f"{array}[()]"

    def row_of(self, array: str) -> str:
        if self.r <= 1:
            return array
        return f"{array}[{', '.join(f'i{a}' for a in range(self.r - 1))}]"

    @property
    def j(self) -> str:
        return f"i{self.r - 1}" if self.r else "0"

    # --------------------------------------------------------------- plan
    def _plan_rows(self) -> None:
        """Which values live in a row (a transcendental's operand and result, a value read
        in a later phase): a row of their own buffer when they leave the group, else a
        scratch row (an operand computed just before its transcendental shares its row)."""
        k, g = self.k, self.g
        need: set[int] = set()
        for m in self.members:
            if k.kinds[m] == "loop":
                need.add(m)
            for j in g.node(m).inputs:
                if j in self.mset and k.kinds[j] != "loop" and self.phase[j] < self.phase[m]:
                    need.add(j)
        for m in self.members:
            if m in need and m in self.outs and self._storage_is_c(m) and self.r:
                self.rows[m] = self.row_of(k.store(m))
                self.row_is_storage.add(m)
        shared: dict[int, int] = {}
        for pos, m in enumerate(self.members):
            x = g.node(m).inputs[0]
            if (k.kinds[m] == "loop" and pos > 0 and self.members[pos - 1] == x
                    and k.kinds[x] != "loop" and x not in self.outs
                    and k.d.readers.get(x) == {m}):
                shared[x] = m
        for m in self.members:
            if m in need and m not in self.rows and m not in shared:
                self.rows[m] = self._scratch(m)
        for x, m in shared.items():
            self.rows[x] = self.rows[m]

    def _storage_is_c(self, m: int) -> bool:
        """The value's storage is a C-contiguous array of the group's shape (a buffer or a new
        array; a param written by a commit may be any view)."""
        return m not in self.k.storage and self.g.node(m).ndim == self.r

    def _scratch(self, m: int) -> str:
        """A scratch row for member ``m``'s values (and, for the parallel loop nest, one per
        thread: ``w<k>c`` is the row of the thread's chunk)."""
        k = self.k
        name = f"w{k.n_rows}"
        k.n_rows += 1
        row = (self.grp.shape[-1],) if self.r else (1,)
        dtype = self.g.node(m).dtype
        k.pre.append(f"{name} = {k.scratch(row, dtype)}")
        self.scratch_rows.append((name, row, dtype))
        return name

    # --------------------------------------------------------------- code
    def write(self) -> None:
        k, g = self.k, self.g
        self._plan_rows()
        pre: list[str] = []
        for m in self.members:  # new arrays for the values that leave, sums set to 0
            n = g.node(m)
            if m in self.outs and m not in k.storage and m not in k.plan.out and n.ndim:
                pre.append(f"v{m} = np.empty({k.shape(n.shape)}, np.{n.dtype.name})")
            if n.op == "sum":
                zero = f"np.{n.dtype.name}(0)"
                if n.ndim:
                    pre.append(f"{k.store(m)}.fill(0)")
                else:
                    pre.append(f"a{m} = {zero}")
        for m in self.members:  # 0-d operands read once
            for j in g.node(m).inputs:
                if j not in self.mset and g.node(j).ndim == 0:
                    k.scalar(j, pre)
        code: list[str] = []
        ind = ""
        for a in range(self.r - 1):
            code.append(f"{ind}for i{a} in range({self.dims[a]}):")
            ind += "    "
        for p in range(self.n_phases):
            for m in self.members:
                if self.phase[m] == p and k.kinds[m] == "loop":
                    code += [ind + x for x in self._call(m)]
            stmts = self._phase(p)
            if not stmts:
                continue
            if self.r:
                code.append(f"{ind}for {self.j} in range({self.dims[-1]}):")
                code += [ind + "    " + s for s in stmts]
            else:
                code += [ind + s for s in stmts]
        after: list[str] = []
        for m in self.members:  # finished sums
            n = g.node(m)
            if n.op == "sum" and not n.ndim:
                if m in k.plan.out or m in k.storage:
                    after.append(f"{k.store(m)}[()] = a{m}")
                else:
                    after.append(f"v{m} = a{m}")
            elif not n.ndim and m in self.outs:
                val = f"{self.rows[m]}[0]" if k.kinds[m] == "loop" else f"t{m}"
                if m in k.plan.out or m in k.storage:
                    after.append(f"{k.store(m)}[()] = {val}")
                else:
                    after.append(f"v{m} = {val}")
        least = self._parallel_min() if k.d.threads else None
        if least is None:
            k.body += pre + code + after
            return
        # large: the outer axis in chunks, one per thread, each with its own scratch rows
        k.parallel = True
        size = " * ".join(_factor(d) for d in self.dims)
        cond = f"{size} >= {least}"
        if cond not in k.par_conditions:
            k.par_conditions.append(cond)
        k.body += pre
        k.body.append(f"if {k.param('nt')} > 1 and {cond}:  # on numba's threads")
        k.body += ["    " + x for x in self._chunked(code)]
        k.body.append("else:")
        k.body += ["    " + x for x in code]
        k.body += after

    def _parallel_min(self) -> int | None:
        """The least number of elements for which the loop nest runs on threads (its estimated
        serial work is ``PARALLEL_MIN_NS``), or None when it never does: no outer axis, a sum
        along the outer axis (threads would add into one element), no transcendental (a
        loop nest of arithmetic is bound by memory: a second thread gains little, and each
        parallel loop nest costs numba about a second more to compile), rows shorter than
        ``PARALLEL_MIN_ROW``, or too few elements."""
        k, g = self.k, self.g
        if self.r < 2:
            return None
        row = 1
        for d in self.grp.shape[1:]:
            row = row * d if isinstance(d, int) and isinstance(row, int) else None
        if row is not None and row < PARALLEL_MIN_ROW:
            return None
        for m in self.members:
            n = g.node(m)
            if n.op == "sum" and (not n.ndim or 0 in set(n.attr["axis"])):
                return None
        cost = 0.0
        for m in self.members:
            kind = k.kinds[m]
            if kind == "ew" and g.node(m).op not in ARITH:
                kind = "fast"
            cost += _COST_NS.get(kind, _COST_NS["ew"])
        if cost == _COST_NS["ew"] * len(self.members):
            return None
        least = math.ceil(PARALLEL_MIN_NS / cost)
        known = 1
        for d in self.grp.shape:
            if not isinstance(d, int):
                return least
            known *= d
        return least if known >= least else None

    def _chunked(self, code: list[str]) -> list[str]:
        """The loop nest ``code`` with its outer loop split into one chunk per thread: the
        chunk's own ufunc-loop arguments and scratch rows (names with a ``c`` suffix)."""
        k = self.k
        d0 = self.dims[0]
        out = [f"nc = min(nt, {d0})",
               "for c in prange(nc):",
               f"    lo = c * {d0} // nc",
               f"    hi = (c + 1) * {d0} // nc"]
        nmax = numba.config.NUMBA_NUM_THREADS
        if any(k.kinds[m] == "loop" for m in self.members):
            if k.lp_chunks is None:  # one per kernel
                k.lp_chunks = k.scratch((nmax, 5), np.int64)
            out.append(f"    lpc = {k.lp_chunks}[c]")
        for name, row, dtype in self.scratch_rows:
            out.append(f"    {name}c = {k.scratch((nmax, *row), dtype)}[c]")
        assert code[0].startswith("for i0 in range(")
        out.append("    for i0 in range(lo, hi):")
        rename = re.compile(r"\b(lp|w\d+)\b")
        out += ["    " + rename.sub(r"\1c", line) for line in code[1:]]
        return out

    def _read(self, j: int, p: int) -> str:
        """The value of operand ``j`` inside phase ``p``'s loop."""
        k, g = self.k, self.g
        if j in self.mset:
            if k.kinds[j] == "loop" or self.phase[j] < p:
                return f"{self.rows[j]}[{self.j}]"
            return f"t{j}"
        n = g.node(j)
        if n.ndim == 0:
            return k.scalars[j]
        return self.at(k.store(j), tuple(n.shape))

    def _phase(self, p: int) -> list[str]:
        k, g = self.k, self.g
        out: list[str] = []
        for m in self.members:
            n = g.node(m)
            kind = k.kinds[m]
            if kind == "loop":
                if (self.phase[m] == p and m in self.outs and m not in self.row_is_storage
                        and n.ndim):
                    out.append(f"{self._element(m)} = {self.rows[m]}[{self.j}]")
                if self.phase[m] == p + 1:
                    x = n.inputs[0]
                    if x not in self.mset:  # an operand from outside: copied into the row
                        out.append(f"{self.rows[m]}[{self.j}] = {self._read(x, p)}")
                continue
            if self.phase[m] != p:
                continue
            if n.op == "sum":
                val = self._read(n.inputs[0], p)
                if n.ndim:
                    out.append(f"{self._reduced(m)} += {val}")
                else:
                    out.append(f"a{m} += {val}")
                continue
            args = [self._read(j, p) for j in n.inputs]
            if n.op in ARITH:
                out.append(f"t{m} = {ARITH[n.op].format(*args, zero=f'np.{n.dtype.name}(0)')}")
            else:  # fast_math: graphc's own vectorisable function
                out.append(f"t{m} = {k.d.kernels.fast_function(n.op, n.dtype)}({args[0]})")
            if m in self.rows:
                out.append(f"{self.rows[m]}[{self.j}] = t{m}")
            if m in self.outs and m not in self.row_is_storage and n.ndim:
                out.append(f"{self._element(m)} = t{m}")
        return out

    def _element(self, m: int) -> str:
        return self.at(self.k.store(m), tuple(self.g.node(m).shape))

    def _reduced(self, m: int) -> str:
        """The element of sum ``m``'s array that the current element adds into."""
        n = self.g.node(m)
        axes = set(n.attr["axis"])
        keep = n.attr["keepdims"]
        parts = []
        for a in range(self.r):
            if a in axes:
                if keep:
                    parts.append("0")
            else:
                parts.append("0" if definitely_equal(self.grp.shape[a], 1) else f"i{a}")
        return f"{self.k.store(m)}[{', '.join(parts)}]"

    def _call(self, m: int) -> list[str]:
        """numpy's loop for ``m`` over the whole row, from its operand's row into its own."""
        k, g = self.k, self.g
        n = g.node(m)
        x = n.inputs[0]
        src = self.rows[x] if x in self.mset else self.rows[m]
        dst = self.rows[m]
        fn = k.d.kernels.loop(n.op, n.dtype)
        size = self.dims[-1] if self.r else "1"
        step = n.dtype.itemsize
        k.uses_loop_args = True
        return [f"lp[0] = {src}.ctypes.data; lp[1] = {dst}.ctypes.data; lp[2] = {size}; "
                f"lp[3] = {step}; lp[4] = {step}",
                f"{fn}(lp.ctypes.data, lp.ctypes.data + 16, lp.ctypes.data + 24, 0)  # {n.op}"]
