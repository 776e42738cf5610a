"""Throughput of the Dask backend against the numpy backend: a training step (forward,
backward, Adam) and batch inference, for an MLP and a small conv net, with numpy, Dask on a
LocalCluster of 1 worker process and of 2 (one thread each), at a batch size where the work
dominates; and the per-step scheduling overhead (a step on a batch of 16 rows), with the
fused lowering (the default: one task per chunk per region) and the per-node one
(``DaskBackend(fuse=False)``), and the tasks per step of each.

    python benchmarks/dask_bench.py [--quick] [--repeat N]

Every configuration of a row is timed in turn, ``repeat`` rounds (interleaved, so that a
change of the machine's load hits them alike), and the median is reported. Prints markdown
tables (the ones in docs/guide/dask.md). Asserts nothing about time.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import graphc as gc


def mlp(batch: int):
    g = gc.Graph("mlp")
    x = g.input("x", ("B", 784))
    y = g.input("y", ("B",), dtype=np.int64)
    logits = gc.nn.MLP([784, 512, 512, 10])(x)
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((batch, 784)), rng.integers(0, 10, batch))
    return g, logits, gc.nn.cross_entropy(logits, y), data


def cnn(batch: int):
    g = gc.Graph("cnn")
    x = g.input("x", ("B", 1, 28, 28))
    y = g.input("y", ("B",), dtype=np.int64)
    net = gc.nn.Sequential([gc.nn.Conv2d(1, 16, 3), gc.nn.ReLU(), gc.nn.MaxPool2d(2),
                            gc.nn.Conv2d(16, 32, 3), gc.nn.ReLU(), gc.nn.MaxPool2d(2),
                            gc.nn.Flatten(), gc.nn.Linear(32 * 5 * 5, 10)])
    logits = net(x)
    rng = np.random.default_rng(0)
    data = (rng.standard_normal((batch, 1, 28, 28)), rng.integers(0, 10, batch))
    return g, logits, gc.nn.cross_entropy(logits, y), data


def one_blas_thread(fn):
    """``fn`` with BLAS limited to one thread (as each dask worker is: distributed sets
    ``OPENBLAS_NUM_THREADS=1`` for its workers); ``fn`` itself without threadpoolctl."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return fn

    def call(*args):
        with threadpool_limits(1):
            return fn(*args)

    return call


def timed(fns: dict, args, repeat: int) -> dict[str, float]:
    """Median seconds per call of each of ``fns``, interleaved: one call of each in turn,
    ``repeat`` rounds, after one warm-up call of each."""
    for fn in fns.values():
        fn(*args)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn(*args)
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    from distributed import Client, LocalCluster

    from graphc.backend.dask import DaskBackend

    sizes = {"MLP 784-512-512-10": (mlp, 2048 if args.quick else 8192),
             "conv net (2 conv + linear)": (cnn, 256 if args.quick else 1024)}
    rows = []
    clusters = {}
    try:
        for w in (1, 2):
            cl = LocalCluster(n_workers=w, threads_per_worker=1, processes=True,
                              dashboard_address=None)
            clusters[w] = (cl, Client(cl))
        for name, (make, batch) in sizes.items():
            for what in ("train step", "inference"):
                g, logits, loss, data = make(batch)
                upd = gc.optim.Adam(lr=1e-3).updates(loss) if what == "train step" else None
                out, ins = (loss, data) if upd else (logits, data[:1])
                fns = {"numpy": gc.compile(out, updates=upd)}
                fns["numpy 1t"] = one_blas_thread(fns["numpy"])
                for w, (_, client) in clusters.items():
                    fns[f"dask {w}w"] = gc.compile(out, updates=upd, backend=DaskBackend(
                        chunks=-(-batch // (2 * w)), client=client))
                rows.append((name, what, batch, timed(fns, ins, args.repeat)))
        # the overhead: a step whose work is negligible, 2 chunks per worker
        g, logits, loss, data = mlp(16)
        upd = gc.optim.Adam(lr=1e-3).updates(loss)
        fns = {"numpy": gc.compile(loss, updates=upd)}
        fns["numpy 1t"] = one_blas_thread(fns["numpy"])
        for fuse in (True, False):
            for w, (_, client) in clusters.items():
                fns[f"dask {w}w" + ("" if fuse else " per-node")] = gc.compile(
                    loss, updates=upd, backend=DaskBackend(chunks=8 // w, client=client,
                                                           fuse=fuse))
        over = timed(fns, data, args.repeat)
        tasks = {}
        for k, f in fns.items():  # one more call, counted (counting is not timed)
            if k.startswith("dask"):
                f.plan.count_tasks = True
                f(*data)
                tasks[k] = f.plan.last_tasks
    finally:
        for cl, client in clusters.values():
            client.close()
            cl.close()
    print("| model | what | batch | numpy rows/s | numpy, 1 BLAS thread, rows/s | dask 1 "
          "worker rows/s | dask 2 workers rows/s |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, what, batch, t in rows:
        print(f"| {name} | {what} | {batch} | {batch / t['numpy']:,.0f} | "
              f"{batch / t['numpy 1t']:,.0f} | {batch / t['dask 1w']:,.0f} | "
              f"{batch / t['dask 2w']:,.0f} |")
    print()
    print("| step on 16 rows (the per-step overhead) | ms | tasks |")
    print("|---|---:|---:|")
    for k, v in over.items():
        print(f"| {k} | {v * 1e3:.1f} | {tasks.get(k, '')} |")


if __name__ == "__main__":
    main()
