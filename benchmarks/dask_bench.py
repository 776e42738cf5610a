"""Throughput of the Dask backend against the numpy backend: a training step (forward,
backward, Adam) and batch inference, for an MLP and a small conv net, with numpy, Dask on a
LocalCluster of 1 worker process and of 2 (one thread each), at a batch size where the work
dominates; and the per-step scheduling overhead (a step on a batch of 16 rows).

    python benchmarks/dask_bench.py [--quick] [--repeat N]

Prints a markdown table (the one in docs/guide/dask.md). Asserts nothing about time.
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


def timed(fn, args, repeat: int) -> float:
    """Best of ``repeat`` calls, seconds (after one warm-up call)."""
    fn(*args)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t)
    return best


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
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
                start = {k: v.copy() for k, v in g.params.items()}
                upd = gc.optim.Adam(lr=1e-3).updates(loss) if what == "train step" else None
                out, ins = (loss, data) if upd else (logits, data[:1])
                times = {"numpy": timed(gc.compile(out, updates=upd), ins, args.repeat)}
                for w, (_, client) in clusters.items():
                    for k, v in start.items():
                        g.params[k][...] = v
                    f = gc.compile(out, updates=upd, backend=DaskBackend(
                        chunks=-(-batch // (2 * w)), client=client))
                    times[f"dask {w}w"] = timed(f, ins, args.repeat)
                rows.append((name, what, batch, times))
        # the overhead: a step whose work is negligible
        g, logits, loss, data = mlp(16)
        upd = gc.optim.Adam(lr=1e-3).updates(loss)
        over = {"numpy": timed(gc.compile(loss, updates=upd), data, args.repeat)}
        for w, (_, client) in clusters.items():
            over[f"dask {w}w"] = timed(gc.compile(loss, updates=upd, backend=DaskBackend(
                chunks=8, client=client)), data, args.repeat)
    finally:
        for cl, client in clusters.values():
            client.close()
            cl.close()
    print("| model | what | batch | numpy rows/s | dask 1 worker rows/s | dask 2 workers "
          "rows/s |")
    print("|---|---|---:|---:|---:|---:|")
    for name, what, batch, t in rows:
        print(f"| {name} | {what} | {batch} | {batch / t['numpy']:,.0f} | "
              f"{batch / t['dask 1w']:,.0f} | {batch / t['dask 2w']:,.0f} |")
    print()
    print("step on 16 rows (the per-step overhead), ms: " + ", ".join(
        f"{k} {v * 1e3:.1f}" for k, v in over.items()))


if __name__ == "__main__":
    main()
