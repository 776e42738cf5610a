#!/usr/bin/env python3
"""graphc benchmarks: one MLP training step against hand-written numpy and peers, compile time
against graph size, bytes allocated per step. Prints markdown tables; asserts nothing.

Workloads (those of ``../shared/bench``): a tanh MLP, MSE loss, one SGD step (forward,
backward, in-place update); curve ``[1, 64, 64, 1]`` at B = 1, 32, 256, 4096 and mnist-like
``[784, 256, 256, 10]`` at B = 32, 256; float64 (``--dtype float32``).

Implementations: numpy-fast (hand-written, preallocated: the anchor), graphc (numpy backend),
graphc-numba (``backend="numba"``), graphc-numba-fast (``NumbaBackend(fast_math=True)``),
graphc with no passes, numpy-naive, and the peers that ``bash dev.sh bench`` installs: torch
eager, torch.compile, autograd, jax.jit, PyTensor (numba, and its python linker). One that is
not importable is skipped with a SKIP line. JIT compilers (numba, torch.compile) compile
before the timings; their compile time is printed.

Every implementation is checked against the naive numpy step before it is timed (1e-8 in
float64, 2e-3 in float32); implementations of one configuration are timed interleaved,
round-robin, in one process; the tables give medians (and the best round) with ratios to
numpy-fast, the fastest implementation per row, and graphc-numba against the fastest peer.
``--threads 1`` runs everything on one thread (BLAS and OpenMP pools through threadpoolctl,
torch, numba, and XLA through XLA_FLAGS set before jax is imported); ``--threads default``
(the default) limits nothing. The alloc table also counts numba's NRT allocations per step
(nopython code allocates through NRT).

Run: ``bash dev.sh bench [--threads 1]`` (the full run takes minutes; torch.compile and the
numba JIT compile once per configuration) or ``python benchmarks/run.py --quick``; choose
with ``--configs``, ``--batches``, ``--impls``, ``--skip steps,compile,alloc``.
"""

from __future__ import annotations

import argparse
import gc as pygc
import os
import platform
import statistics
import sys
import time
import tracemalloc
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers  # noqa: E402
from _peers import BATCHES, LR, Impl, NumpyFast, NumpyNaive, make_problem  # noqa: E402

import graphc as gc  # noqa: E402


def mlp_graph(sizes, params0, dtype):
    """The MLP step declared as a graph: (graph, x, y, params, loss, gradients)."""
    g = gc.Graph("mlp")
    x = g.input("x", ("B", sizes[0]), dtype)
    y = g.input("y", ("B", sizes[-1]), dtype)
    ps = [g.param(f"p{k}", p) for k, p in enumerate(params0)]
    h = x
    for i in range(len(sizes) - 1):
        h = h @ ps[2 * i] + ps[2 * i + 1]
        if i < len(sizes) - 2:
            h = gc.tanh(h)
    loss = gc.mean((h - y) ** 2)
    return g, x, y, ps, loss, gc.grad(loss, ps)


class Graphc(Impl):
    """graphc: the MLP declared as a graph, gc.grad, SGD updates, compiled once."""

    name = "graphc"
    passes = None  # the default pipeline
    jit = False  # True: the backend compiles on the first call, which __init__ makes

    def backend(self):
        return "numpy"

    def __init__(self, sizes, params0, X, Y, lr, dtype):
        super().__init__(sizes, params0, X, Y, lr, dtype)
        g, x, y, ps, loss, grads = mlp_graph(sizes, params0, dtype)
        backend = self.backend()
        t0 = time.perf_counter()
        self.f = gc.compile(loss, [x, y], updates={p: p - lr * gp for p, gp in zip(ps, grads)},
                            passes=self.passes, backend=backend)
        if self.jit:
            self.f(X, Y)  # the JIT, outside the timings; then the params are reset
            for p, v in zip(ps, params0):
                g.params[p.name][...] = v
        self.info["compile_s"] = time.perf_counter() - t0
        self.f_grads = gc.compile([loss, *grads], [x, y], backend=backend)
        self.g, self.names = g, [p.name for p in ps]
        self.X, self.Y = X.copy(), Y.copy()
        self._loss = None

    def step(self):
        self._loss = self.f(self.X, self.Y)

    def params(self):
        return [self.g.params[n].copy() for n in self.names]

    def last_loss(self):
        return float(self._loss)

    def loss_and_grads(self):
        loss, *grads = self.f_grads(self.X, self.Y)
        return float(loss), grads


class GraphcNoPasses(Graphc):
    """graphc with every optimisation off (allocating, unsimplified): what the passes buy."""

    name = "graphc (no passes)"
    passes = []


class GraphcNumba(Graphc):
    """graphc, the same step compiled with backend="numba" (the JIT in __init__:
    ``info["compile_s"]`` is gc.compile plus the first call)."""

    name = "graphc-numba"
    jit = True

    def backend(self):
        return "numba"


def numba_fast_backend():
    """The numba backend with fast transcendentals; TypeError while it has no such option."""
    from graphc.backend.numba import NumbaBackend

    return NumbaBackend(fast_math=True)


class GraphcNumbaFast(GraphcNumba):
    """graphc-numba with ``fast_math=True`` (transcendentals within a stated ulp bound)."""

    name = "graphc-numba-fast"

    def backend(self):
        return numba_fast_backend()


#: the peers of the numba backend's targets: those ``bash dev.sh bench`` installs
PEERS = ("pytensor", "jax.jit", "torch", "torch.compile")
#: jax reads these when it is imported: one XLA:CPU thread
XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
_LIMITERS = []  # threadpoolctl limits in force (kept alive for the run)
#: the BLAS thread variables as the run started (before ``thread_env`` sets them)
_BLAS_ENV = {v: os.environ.get(v) for v in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def thread_env(threads: str) -> None:
    """``--threads 1``, the part that must precede the imports: XLA_FLAGS (read when jax is
    imported) and the thread variables of libraries loaded later."""
    if threads != "1":
        return
    if "jax" in sys.modules:
        print("WARNING: jax was imported before --threads 1 could set XLA_FLAGS")
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {XLA_ONE_THREAD}".strip()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def limit_threads(threads: str) -> str:
    """``--threads 1``, after the imports: BLAS and OpenMP pools (threadpoolctl), torch and
    numba to one thread; ``default`` limits nothing. Returns the settings in force."""
    try:  # numba's BLAS (np.dot in nopython code): loaded now, so that the limit reaches it
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        threadpool_info = threadpool_limits = None
    torch, numba = sys.modules.get("torch"), sys.modules.get("numba")
    if threads == "1":
        if torch is not None:
            torch.set_num_threads(1)
        if numba is not None:
            numba.set_num_threads(1)  # starts numba's threading layer: before the limits
        if threadpool_limits is not None:
            _LIMITERS.append(threadpool_limits(limits=1))
        elif "1" not in _BLAS_ENV.values():
            print("WARNING: threadpoolctl is not importable: numpy's BLAS keeps its threads "
                  "unless OPENBLAS_NUM_THREADS=1 (or MKL_NUM_THREADS=1) is set before the run")
    out = [f"threads {threads}:"]
    if threadpool_info is not None:
        pools = [f"{d['prefix']} {d['num_threads']}" for d in threadpool_info()]
        out.append("pools " + ", ".join(pools))
    else:
        out.append(", ".join(f"{k}={v} at start" for k, v in _BLAS_ENV.items()))
    if torch is not None:
        out.append(f"torch {torch.get_num_threads()}")
    if numba is not None:
        out.append(f"numba {numba.get_num_threads()}")
    if "jax" in sys.modules:
        out.append(f"jax XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}")
    return " ".join(out[:1]) + " " + "; ".join(out[1:])


def _available() -> tuple[dict, dict]:
    impls = {"numpy-fast": NumpyFast, "graphc": Graphc}
    skipped = {}
    try:
        import numba  # noqa: F401

        import graphc.backend.numba  # noqa: F401

        impls["graphc-numba"] = GraphcNumba
        try:
            numba_fast_backend()
            impls["graphc-numba-fast"] = GraphcNumbaFast
        except TypeError as e:
            skipped["graphc-numba-fast"] = f"NumbaBackend(fast_math=True) not supported ({e})"
    except ImportError as e:
        for n in ("graphc-numba", "graphc-numba-fast"):
            skipped[n] = f"numba not importable ({e}); pip install 'graphc[numba]'"
    impls["graphc (no passes)"] = GraphcNoPasses
    impls["numpy-naive"] = NumpyNaive
    try:
        import torch  # noqa: F401

        impls["torch"] = _peers.TorchEager
        impls["torch.compile"] = _peers.TorchCompile
    except ImportError as e:
        for n in ("torch", "torch.compile"):
            skipped[n] = f"not importable ({e})"
    try:
        import autograd  # noqa: F401

        impls["autograd"] = _peers.Autograd
    except ImportError as e:
        skipped["autograd"] = f"not importable ({e}); pip install '.[bench]'"
    for name, mod, cls in (("jax.jit", "jax", _peers.JaxJit),
                           ("pytensor", "pytensor", _peers.Pytensor),
                           ("pytensor-py", "pytensor", _peers.PytensorPy)):
        try:
            __import__(mod)
            impls[name] = cls
        except ImportError as e:
            skipped[name] = f"not importable ({e}); pip install '.[bench]'"
    return impls, skipped


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def verify(impl, ref_loss, ref_grads, ref_losses, ref_params, tol) -> str | None:
    """None if ``impl`` matches numpy-naive (loss, gradients, 3 steps), else why not."""
    lg = impl.loss_and_grads()
    if lg is not None:
        loss, grads = lg
        if rel_err(loss, ref_loss) > tol:
            return f"loss {loss} vs {ref_loss}"
        for k, (a, b) in enumerate(zip(grads, ref_grads)):
            if rel_err(a, b) > tol:
                return f"gradient {k}: rel err {rel_err(a, b):.2e}"
    for k, want in enumerate(ref_losses):
        impl.step()
        impl.sync()
        if rel_err(impl.last_loss(), want) > tol:
            return f"step {k} loss {impl.last_loss()} vs {want}"
    for k, (a, b) in enumerate(zip(impl.params(), ref_params)):
        if rel_err(a, b) > tol:
            return f"param {k} after 3 steps: rel err {rel_err(a, b):.2e}"
    return None


def time_steps(impl, n: int) -> float:
    step = impl.step
    t0 = time.perf_counter()
    for _ in range(n):
        step()
    impl.sync()
    return (time.perf_counter() - t0) / n


def fmt_us(s: float) -> str:
    us = s * 1e6
    return f"{us:,.0f}" if us >= 100 else f"{us:.1f}"


def build(cls, sizes, p0, X, Y, dtype):
    """An implementation, its warnings silenced (pytensor, jax, torch are chatty)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(sizes, p0, X, Y, LR, dtype)


def try_build(cls, sizes, p0, X, Y, dtype, where: str, notes: list | None = None):
    """``build``, or None after a SKIP line saying why it failed (torch.compile without a
    working C++ compiler, a backend option not implemented yet), printed or put in ``notes``."""
    try:
        return build(cls, sizes, p0, X, Y, dtype)
    except Exception as e:
        why = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
        line = f"SKIP {cls.name}: failed to build at {where} ({type(e).__name__}: {why})"
        if notes is None:
            print(line)
        else:
            notes.append(line)
        return None


def bench_steps(args, dtype) -> list[dict]:
    impls_all, skipped = _available()
    names = [n for n in (args.impls.split(",") if args.impls else impls_all) if n in impls_all]
    for n, why in skipped.items():
        print(f"SKIP {n}: {why}")
    tol = 1e-8 if dtype == np.float64 else 2e-3
    broken = set()  # failed to build: not retried for later configs
    rows = []
    for cfg in args.configs.split(","):
        batches = [int(b) for b in args.batches.split(",")] if args.batches else BATCHES[cfg]
        for B in batches:
            sizes, p0, X, Y = make_problem(cfg, B, dtype)
            ref = NumpyNaive(sizes, p0, X, Y, LR, dtype)
            ref_loss, ref_grads = ref.loss_and_grads()
            ref_losses = []
            for _ in range(3):
                ref.step()
                ref_losses.append(ref.last_loss())
            ref_params = ref.params()
            impls = []
            for name in names:
                if name in broken:
                    continue
                impl = try_build(impls_all[name], sizes, p0, X, Y, dtype, f"{cfg} B={B}")
                if impl is None:
                    broken.add(name)
                    continue
                try:
                    bad = verify(impl, ref_loss, ref_grads, ref_losses, ref_params, tol)
                except Exception as e:
                    bad = f"raised {type(e).__name__}: {e}"
                if bad:
                    print(f"  {cfg} B={B} {name}: verification FAILED ({bad}); not timed")
                    continue
                impls.append(impl)
            n_iter = {}
            for impl in impls:  # calibrate: ~target seconds per measurement
                n = 1
                while True:
                    t = time_steps(impl, n) * n
                    if t > args.target / 4 or n > 1 << 16:
                        break
                    n *= 4
                n_iter[impl.name] = max(1, int(n * args.target / max(t, 1e-9)))
            samples = {impl.name: [] for impl in impls}
            pygc.disable()
            try:
                for r in range(args.rounds):
                    order = impls[r % len(impls):] + impls[:r % len(impls)]
                    for impl in order:
                        time_steps(impl, 1)
                        samples[impl.name].append(time_steps(impl, n_iter[impl.name]))
            finally:
                pygc.enable()
            base = statistics.median(samples["numpy-fast"])
            row = {"config": cfg, "B": B, "cells": {}, "info": {}}
            for impl in impls:
                med = statistics.median(samples[impl.name])
                row["cells"][impl.name] = (med, med / base, min(samples[impl.name]))
                row["info"][impl.name] = impl.info
            print(f"  {cfg} B={B}: " + ", ".join(
                f"{k} {fmt_us(v[0])} us ({v[1]:.2f}x)" for k, v in row["cells"].items()),
                flush=True)
            rows.append(row)
    return rows


def _fastest(cells: dict, which: int, among=None) -> str | None:
    """The name of the fastest implementation in ``cells`` (of ``among``) by ``which``
    (0: median, 2: min)."""
    names = [n for n in cells if among is None or n in among]
    return min(names, key=lambda n: cells[n][which]) if names else None


def _table(rows, names, which: int) -> None:
    """One markdown table: us/step and ratio to numpy-fast per impl, then the fastest."""
    print("| config | B | " + " | ".join(names) + " | fastest |")
    print("|---|---:|" + "---:|" * len(names) + "---|")
    for r in rows:
        base = r["cells"]["numpy-fast"][which]
        cells = []
        for n in names:
            c = r["cells"].get(n)
            cells.append("-" if c is None else
                         (fmt_us(c[which]) if n == "numpy-fast" else
                          f"{fmt_us(c[which])} ({c[which] / base:.2f}x)"))
        best = _fastest(r["cells"], which)
        print(f"| {r['config']} | {r['B']} | " + " | ".join(cells) + f" | {best} |")


def print_step_table(rows, dtype, threads: str = "default") -> None:
    names = []
    for r in rows:
        names += [n for n in r["cells"] if n not in names]
    print(f"\n### One training step, {np.dtype(dtype).name}, threads {threads}: median us/step "
          "(ratio to numpy-fast)\n")
    _table(rows, names, 0)
    print("\nBest round (min us/step, ratio of mins): the quiet-machine estimate\n")
    _table(rows, names, 2)
    ratios = [r["cells"]["graphc"][1] for r in rows if "graphc" in r["cells"]]
    mins = [r["cells"]["graphc"][2] / r["cells"]["numpy-fast"][2] for r in rows
            if "graphc" in r["cells"]]
    if mins:
        print(f"\ngraphc / numpy-fast (mins): geometric mean "
              f"{float(np.exp(np.mean(np.log(mins)))):.2f}x, max {max(mins):.2f}x")
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(f"\ngraphc / numpy-fast (medians): geometric mean {geo:.2f}x, max {max(ratios):.2f}x "
              f"(targets: <= 1.05, none above 1.15)")
    print_numba_summary(rows)
    print_compile_times(rows)


def print_numba_summary(rows) -> None:
    """Per config: graphc-numba (and -fast) against the fastest peer, medians."""
    mine = [n for n in ("graphc-numba", "graphc-numba-fast") if any(n in r["cells"] for r in rows)]
    if not mine:
        return
    print(f"\ngraphc-numba / best peer ({', '.join(PEERS)}), medians; below 1 is ahead:\n")
    for r in rows:
        peer = _fastest(r["cells"], 0, PEERS)
        parts = []
        for n in mine:
            c = r["cells"].get(n)
            if c is None:
                parts.append(f"{n} -")
            elif peer is None:
                parts.append(f"{n} {c[1]:.2f}x numpy-fast, no peer timed")
            else:
                q = c[0] / r["cells"][peer][0]
                parts.append(f"{n} {c[1]:.2f}x / {peer} {r['cells'][peer][1]:.2f}x = {q:.2f} "
                             f"({'ahead' if q < 1 else 'BEHIND'})")
        print(f"- {r['config']} B={r['B']}: " + "; ".join(parts))


def print_compile_times(rows) -> None:
    """Compile (or build) time of the compiled implementations, per config."""
    names = []
    for r in rows:
        names += [n for n, i in r["info"].items()
                  if ("compile_s" in i or "build_s" in i) and n not in names]
    if not names:
        return
    print("\nCompile time per implementation (s; torch.compile and the numba backend: "
          "compile + first call, outside the timings; pytensor: function build)\n")
    print("| config | B | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for r in rows:
        cells = []
        for n in names:
            i = r["info"].get(n, {})
            t = i.get("compile_s", i.get("build_s"))
            cells.append("-" if t is None else f"{t:.2f}")
        print(f"| {r['config']} | {r['B']} | " + " | ".join(cells) + " |")


def chain(n_nodes: int):
    """A graph of about ``n_nodes`` nodes: x -> (tanh, * c, + y) repeated."""
    g = gc.Graph("chain")
    x = g.input("x", ("B", 8))
    y = g.input("y", ("B", 8))
    h = x
    while len(g) < n_nodes:
        h = gc.tanh(h) * 0.5 + y
    return g, x, y, h


def training_step(n_nodes: int):
    """An MLP + MSE + Adam training step of about ``n_nodes`` nodes: gc.nn.MLP of 8-wide layers
    (about 56 nodes per layer: forward, gradient, Adam update), every param updated."""
    g = gc.Graph("train")
    x = g.input("x", ("B", 8))
    y = g.input("y", ("B", 8))
    layers = max(1, round((n_nodes - 20) / 56))
    mlp = gc.nn.MLP([8] * (layers + 1), rng=0)
    loss = gc.nn.mse_loss(mlp(x), y)
    updates = gc.optim.Adam(1e-3).updates(loss, mlp.parameters())
    return g, x, y, loss, updates


def bench_compile(sizes=(1000, 2000, 4000, 8000)) -> None:
    print("\n### Compile time against graph size (all passes on)\n")
    print("chain: tanh, *, + repeated (forward only); training: gc.nn.MLP of 8-wide layers, "
          "MSE, Adam updates of every param (forward, backward, update)\n")
    print("| graph | nodes | gc.compile (s) | us per node | of which passes (s) |")
    print("|---|---:|---:|---:|---:|")
    from graphc.backend.function import _program
    from graphc.passes.pipeline import optimize

    for kind in ("chain", "training"):
        for n in sizes:
            if kind == "chain":
                g, x, y, out = chain(n)
                updates = None
            else:
                g, x, y, out, updates = training_step(n)
            best = best_p = float("inf")
            for _ in range(2):
                t0 = time.perf_counter()
                gc.compile(out, [x, y], updates=updates)
                best = min(best, time.perf_counter() - t0)
                _, prog = _program(out, [x, y], updates)
                t0 = time.perf_counter()
                optimize(prog)
                best_p = min(best_p, time.perf_counter() - t0)
            print(f"| {kind} | {len(g)} | {best:.3f} | {best / len(g) * 1e6:.0f} | "
                  f"{best_p:.3f} |", flush=True)


def _nrt_counts():
    """numba's NRT (alloc, free) counters, switched on; None without numba."""
    try:
        from numba.core.runtime import _nrt_python, rtsys
    except ImportError:
        return None
    _nrt_python.memsys_enable_stats()
    stats = rtsys.get_allocation_stats()
    return stats.alloc, stats.free


def bench_alloc(dtype) -> None:
    impls_all, _ = _available()
    classes = [impls_all[n] for n in ("numpy-fast", "graphc", "graphc-numba", "graphc-numba-fast",
                                      "numpy-naive") if n in impls_all]
    nrt = _nrt_counts() is not None
    print("\n### Bytes allocated per step in steady state (tracemalloc; 50 steps after 5 warm)\n")
    if nrt:
        print("NRT: numba's allocations and frees per step over the same 50 steps (nopython "
              "code allocates through NRT; each array argument passed in from Python costs one "
              "small MemInfo; tracemalloc sees NRT's bytes while NRT uses CPython's raw "
              "allocator)\n")
    print("| config | B | impl | peak above baseline (bytes) | net growth per step (bytes) |"
          + (" NRT allocations per step (allocs / frees) |" if nrt else ""))
    print("|---|---:|---|---:|---:|" + ("---:|" if nrt else ""))
    notes = []
    for cfg, B in (("curve", 1), ("curve", 256), ("mnist-like", 32)):
        sizes, p0, X, Y = make_problem(cfg, B, dtype)
        for cls in list(classes):
            impl = try_build(cls, sizes, p0, X, Y, dtype, f"{cfg} B={B}", notes)
            if impl is None:
                classes.remove(cls)
                continue
            for _ in range(5):
                impl.step()
            n0 = _nrt_counts() if nrt else None
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for _ in range(50):
                impl.step()
            cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            extra = ""
            if nrt:
                n1 = _nrt_counts()
                extra = f" {(n1[0] - n0[0]) / 50:g} / {(n1[1] - n0[1]) / 50:g} |"
            print(f"| {cfg} | {B} | {impl.name} | {peak - base:,} | {(cur - base) / 50:,.0f} |"
                  + extra)
    for line in notes:
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter measurements")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--target", type=float, default=None, help="seconds per measurement")
    ap.add_argument("--configs", default="curve,mnist-like")
    ap.add_argument("--batches", default="", help="e.g. 1,32 (default: the workload's)")
    ap.add_argument("--impls", default="", help="comma-separated; default: all available")
    ap.add_argument("--skip", default="", help="comma-separated: steps,compile,alloc")
    ap.add_argument("--threads", default="default", choices=["default", "1"],
                    help="1: one thread everywhere (BLAS, OpenMP, torch, numba, XLA); "
                         "default: every library's own default")
    args = ap.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 11)
    args.target = args.target or (0.05 if args.quick else 0.15)
    dtype = np.dtype(args.dtype).type
    thread_env(args.threads)  # before _available imports jax
    _available()
    threads = limit_threads(args.threads)

    print(f"python {platform.python_version()}, numpy {np.__version__}, graphc "
          f"{gc.__version__}, {os.cpu_count()} CPUs ({platform.machine()}), "
          f"{args.rounds} rounds x ~{args.target}s, dtype {args.dtype}, {threads}")
    skip = set(args.skip.split(","))
    if "steps" not in skip:
        rows = bench_steps(args, dtype)
        print_step_table(rows, dtype, args.threads)
    if "compile" not in skip:
        bench_compile()
    if "alloc" not in skip:
        bench_alloc(dtype)


if __name__ == "__main__":
    main()
