#!/usr/bin/env python3
"""The numba backend against the numpy backend and hand-written numpy: one MLP training step
(the workloads and implementations of ``run.py``: curve B = 1, 32, 256, 4096; mnist-like
B = 32, 256), timed interleaved in one process, medians over rounds, ratios to numpy-fast;
peers (jax.jit, PyTensor) when installed. Also the first-call compile time of the numba step
(cold and from numba's cache, each in a fresh process) and of a 1k-node graph. Prints
markdown tables; asserts nothing.

Run: ``python benchmarks/numba_mlp.py --quick [--threads 1]`` (or under ``taskset -c 0``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

import graphc as gc  # noqa: E402

GraphcNumba = run.GraphcNumba  # the numba step of run.py's tables


_COMPILE = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    import graphc as gc
    sys.path.insert(0, {bench!r})
    from _peers import make_problem
    what = {what!r}
    if what == "chain":
        g = gc.Graph("chain")
        x = g.input("x", ("B", 8)); y = g.input("y", ("B", 8))
        h = x
        while len(g.nodes) < 1000:
            h = gc.tanh(h) * 0.5 + y
        outs, X = [gc.sum(h)], [np.ones((4, 8)), np.ones((4, 8))]
        updates = None
    else:
        sizes, p0, X0, Y0 = make_problem(what, 32, np.float64)
        g = gc.Graph("mlp")
        x = g.input("x", ("B", sizes[0])); y = g.input("y", ("B", sizes[-1]))
        ps = [g.param(f"p{{k}}", p) for k, p in enumerate(p0)]
        h = x
        for i in range(len(sizes) - 1):
            h = h @ ps[2 * i] + ps[2 * i + 1]
            if i < len(sizes) - 2:
                h = gc.tanh(h)
        loss = gc.mean((h - y) ** 2)
        grads = gc.grad(loss, ps)
        outs, X = loss, [X0, Y0]
        updates = {{p: p - 0.01 * d for p, d in zip(ps, grads)}}
    t0 = time.perf_counter()
    f = gc.compile(outs, updates=updates, backend="numba")
    t1 = time.perf_counter()
    f(*X)
    t2 = time.perf_counter()
    print(json.dumps({{"nodes": len(g.nodes), "compile": t1 - t0, "first_call": t2 - t1,
                      "plan": f.plan.describe()}}))
""")


def compile_times() -> None:
    """First-call times of the numba step in fresh processes: cold, then from the cache."""
    bench = os.path.dirname(os.path.abspath(__file__))
    print("\n### numba backend: compile + first call (fresh process each)\n")
    print("| program | nodes | gc.compile | first call, cold | first call, from cache | "
          "native |")
    print("|---|---:|---:|---:|---:|---|")
    for what in ("curve", "mnist-like", "chain"):
        with tempfile.TemporaryDirectory(prefix="graphc_numba_bench_") as cache:
            env = dict(os.environ, GRAPHC_NUMBA_CACHE_DIR=cache)
            runs = []
            for _ in range(2):
                out = subprocess.run([sys.executable, "-c", _COMPILE.format(bench=bench,
                                                                            what=what)],
                                     env=env, capture_output=True, text=True, check=True)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        label = "1k-node chain" if what == "chain" else f"{what} step"
        print(f"| {label} | {runs[0]['nodes']} | {runs[0]['compile']:.2f} s | "
              f"{runs[0]['first_call']:.2f} s | {runs[1]['first_call']:.2f} s | "
              f"{runs[0]['plan']} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter measurements")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--target", type=float, default=None, help="seconds per measurement")
    ap.add_argument("--configs", default="curve,mnist-like")
    ap.add_argument("--batches", default="", help="e.g. 1,32 (default: the workload's)")
    ap.add_argument("--skip", default="", help="comma-separated: steps,compile")
    ap.add_argument("--threads", default="default", choices=["default", "1"],
                    help="as run.py's --threads")
    args = ap.parse_args()
    args.rounds = args.rounds or (5 if args.quick else 11)
    args.target = args.target or (0.05 if args.quick else 0.15)
    run.thread_env(args.threads)
    impls, _ = run._available()
    threads = run.limit_threads(args.threads)
    keep = ["numpy-fast", "graphc", "graphc-numba", "graphc-numba-fast", "jax.jit", "pytensor"]
    args.impls = ",".join(n for n in keep if n in impls)
    dtype = np.dtype(args.dtype).type
    print(f"numpy {np.__version__}, graphc {gc.__version__}, {os.cpu_count()} CPUs, affinity "
          f"{sorted(os.sched_getaffinity(0))}, {args.rounds} rounds x ~{args.target}s, "
          f"dtype {args.dtype}, {threads}")
    skip = set(args.skip.split(","))
    if "steps" not in skip:
        rows = run.bench_steps(args, dtype)
        run.print_step_table(rows, dtype, args.threads)
    if "compile" not in skip:
        compile_times()


if __name__ == "__main__":
    main()
