#!/usr/bin/env python3
"""graphc benchmarks: one MLP training step against hand-written numpy and peers, compile time
against graph size, bytes allocated per step. Prints markdown tables; asserts nothing.

Workloads (those of ``../shared/bench``): a tanh MLP, MSE loss, one SGD step (forward,
backward, in-place update); curve ``[1, 64, 64, 1]`` at B = 1, 32, 256, 4096 and mnist-like
``[784, 256, 256, 10]`` at B = 32, 256; float64 (``--dtype float32``). Every implementation
is checked against the naive numpy step before it is timed; implementations of one
configuration are timed interleaved, round-robin, in one process; the tables give medians
and ratios to the hand-written fast numpy step.

Run: ``bash dev.sh bench`` (about 3 minutes) or ``python benchmarks/run.py --quick``.
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


class Graphc(Impl):
    """graphc: the MLP declared as a graph, gc.grad, SGD updates, compiled once."""

    name = "graphc"

    def __init__(self, sizes, params0, X, Y, lr, dtype, passes=None):
        super().__init__(sizes, params0, X, Y, lr, dtype)
        g = gc.Graph("mlp")
        x = g.input("x", ("B", sizes[0]), dtype)
        y = g.input("y", ("B", sizes[-1]), dtype)
        ps = [g.param(f"p{k}", p) for k, p in enumerate(params0)]
        h = x
        for i in range(self.nl):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < self.nl - 1:
                h = gc.tanh(h)
        loss = gc.mean((h - y) ** 2)
        grads = gc.grad(loss, ps)
        t0 = time.perf_counter()
        self.f = gc.compile(loss, [x, y], updates={p: p - lr * gp for p, gp in zip(ps, grads)},
                            passes=passes)
        self.info["compile_s"] = time.perf_counter() - t0
        self.f_grads = gc.compile([loss, *grads], [x, y])
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

    def __init__(self, *a, **k):
        super().__init__(*a, passes=[], **k)


def _available() -> tuple[dict, dict]:
    impls = {"numpy-fast": NumpyFast, "graphc": Graphc, "graphc (no passes)": GraphcNoPasses,
             "numpy-naive": NumpyNaive}
    skipped = {}
    try:
        import torch

        torch.set_num_threads(1)
        impls["torch"] = _peers.TorchEager
    except ImportError as e:
        skipped["torch"] = f"not importable ({e})"
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
            skipped[name] = f"not importable ({e}); optional: pip install jax pytensor"
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


def bench_steps(args, dtype) -> list[dict]:
    impls_all, skipped = _available()
    names = [n for n in (args.impls.split(",") if args.impls else impls_all) if n in impls_all]
    for n, why in skipped.items():
        print(f"SKIP {n}: {why}")
    tol = 1e-8 if dtype == np.float64 else 2e-3
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
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    impl = impls_all[name](sizes, p0, X, Y, LR, dtype)
                bad = verify(impl, ref_loss, ref_grads, ref_losses, ref_params, tol)
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
            row = {"config": cfg, "B": B, "cells": {}}
            for impl in impls:
                med = statistics.median(samples[impl.name])
                row["cells"][impl.name] = (med, med / base, min(samples[impl.name]))
            print(f"  {cfg} B={B}: " + ", ".join(
                f"{k} {fmt_us(v[0])} us ({v[1]:.2f}x)" for k, v in row["cells"].items()),
                flush=True)
            rows.append(row)
    return rows


def print_step_table(rows, dtype) -> None:
    names = []
    for r in rows:
        names += [n for n in r["cells"] if n not in names]
    print(f"\n### One training step, {np.dtype(dtype).name}: median us/step "
          "(ratio to numpy-fast)\n")
    print("| config | B | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    ratios = []
    for r in rows:
        cells = []
        for n in names:
            c = r["cells"].get(n)
            cells.append("-" if c is None else
                         (fmt_us(c[0]) if n == "numpy-fast" else f"{fmt_us(c[0])} ({c[1]:.2f}x)"))
        if "graphc" in r["cells"]:
            ratios.append(r["cells"]["graphc"][1])
        print(f"| {r['config']} | {r['B']} | " + " | ".join(cells) + " |")
    print("\nBest round (min us/step, ratio of mins): the quiet-machine estimate\n")
    print("| config | B | " + " | ".join(names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    mins = []
    for r in rows:
        base = r["cells"]["numpy-fast"][2]
        cells = []
        for n in names:
            c = r["cells"].get(n)
            cells.append("-" if c is None else
                         (fmt_us(c[2]) if n == "numpy-fast" else
                          f"{fmt_us(c[2])} ({c[2] / base:.2f}x)"))
        if "graphc" in r["cells"]:
            mins.append(r["cells"]["graphc"][2] / base)
        print(f"| {r['config']} | {r['B']} | " + " | ".join(cells) + " |")
    if mins:
        print(f"\ngraphc / numpy-fast (mins): geometric mean "
              f"{float(np.exp(np.mean(np.log(mins)))):.2f}x, max {max(mins):.2f}x")
    if ratios:
        geo = float(np.exp(np.mean(np.log(ratios))))
        print(f"\ngraphc / numpy-fast (medians): geometric mean {geo:.2f}x, max {max(ratios):.2f}x "
              f"(targets: <= 1.05, none above 1.15)")


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


def bench_alloc(dtype) -> None:
    print("\n### Bytes allocated per step in steady state (tracemalloc; 50 steps after 5 warm)\n")
    print("| config | B | impl | peak above baseline (bytes) | net growth per step (bytes) |")
    print("|---|---:|---|---:|---:|")
    for cfg, B in (("curve", 1), ("curve", 256), ("mnist-like", 32)):
        sizes, p0, X, Y = make_problem(cfg, B, dtype)
        for cls in (NumpyFast, Graphc, NumpyNaive):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                impl = cls(sizes, p0, X, Y, LR, dtype)
            for _ in range(5):
                impl.step()
            tracemalloc.start()
            base = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            for _ in range(50):
                impl.step()
            cur, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"| {cfg} | {B} | {impl.name} | {peak - base:,} | {(cur - base) / 50:,.0f} |")


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
    args = ap.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 11)
    args.target = args.target or (0.05 if args.quick else 0.15)
    dtype = np.dtype(args.dtype).type
    import numpy

    print(f"python {platform.python_version()}, numpy {numpy.__version__}, graphc "
          f"{gc.__version__}, {os.cpu_count()} CPUs ({platform.machine()}), "
          f"{args.rounds} rounds x ~{args.target}s, dtype {args.dtype}")
    skip = set(args.skip.split(","))
    if "steps" not in skip:
        rows = bench_steps(args, dtype)
        print_step_table(rows, dtype)
    if "compile" not in skip:
        bench_compile()
    if "alloc" not in skip:
        bench_alloc(dtype)


if __name__ == "__main__":
    main()
