"""Data-parallel training and out-of-core inference on a Dask cluster.

    python examples/distributed_fit.py [--quick] [--scheduler ADDRESS] [--workers N]

Without ``--scheduler`` it starts a LocalCluster of ``--workers`` processes (one thread
each); with one (``tcp://host:8786``) it joins that cluster. The dataset is a dask array
kept on the workers (``persist``); ``gc.nn.fit(..., backend="dask", client=...)`` computes
each step's loss and gradients there, chunk by chunk with tree reductions over the batch,
and commits the Adam update here. It then predicts a dataset written to a ``.npy`` file,
read by the workers chunk by chunk through a memory map, and checks that the numpy backend
gives the same params and predictions.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import graphc as gc


def make_data(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A smooth regression target of 16 features."""
    X = rng.standard_normal((n, 16))
    Y = np.sin(X[:, :4].sum(axis=1, keepdims=True)) + 0.05 * rng.standard_normal((n, 1))
    return X, Y


def main(argv: list[str] | None = None) -> dict:
    """Train on the cluster, check against numpy, predict out of core; what it measured."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scheduler", help="address of a running dask scheduler "
                    "(default: start a LocalCluster)")
    ap.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    ap.add_argument("--quick", action="store_true", help="a small run (for tests)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds a step may wait for the cluster before raising")
    args = ap.parse_args(argv)

    import dask.array as da
    from distributed import Client, LocalCluster

    from graphc.backend.dask import DaskBackend, from_npy

    n, epochs = (1_024, 1) if args.quick else (50_000, 5)
    rng = np.random.default_rng(0)
    X, Y = make_data(n, rng)

    g = gc.Graph("regress")
    x = g.input("x", ("B", 16))
    y = g.input("y", ("B", 1))
    net = gc.nn.MLP([16, 64, 64, 1])
    pred = net(x)
    loss = gc.mean((pred - y) ** 2)
    opt = gc.optim.Adam(lr=3e-3)
    opt.updates(loss)
    start = {k: v.copy() for k, v in g.params.items()}

    cluster = None
    if args.scheduler:
        client = Client(args.scheduler)
    else:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    try:
        print(f"cluster: {client}")
        # random key names (name=False): the default, a hash of the data, is shared with
        # any other client of the scheduler holding the same data, whose release of it
        # can leave this client's futures on "lost data"
        Xd = da.from_array(X, chunks=n // 8, name=False).persist()
        Yd = da.from_array(Y, chunks=n // 8, name=False).persist()
        backend = DaskBackend(chunks=max(1, 512 // args.workers), timeout=args.timeout)
        t0 = time.perf_counter()
        hist = gc.nn.fit(loss, opt, {x: Xd, y: Yd}, epochs=epochs, batch_size=512,
                         backend=backend, client=client, progress=False)
        seconds = time.perf_counter() - t0
        print(f"dask: {hist.steps} steps in {seconds:.1f} s, loss {hist.loss[0]:.4f} -> "
              f"{hist.loss[-1]:.4f}")
        trained = {k: v.copy() for k, v in g.params.items()}

        # the same batches with the numpy backend, from the same start
        for k, v in start.items():
            g.params[k][...] = v
        ref = gc.nn.fit(loss, opt, {x: X, y: Y}, epochs=epochs, batch_size=512,
                        progress=False)
        diff = max(float(np.abs(trained[k] - g.params[k]).max()) for k in trained)
        print(f"numpy: final loss {ref.loss[-1]:.4f}; largest param difference {diff:.2e}")

        # out-of-core inference: the workers read the file chunk by chunk
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "X.npy"
            np.save(path, make_data(n, np.random.default_rng(1))[0])
            f = gc.compile(pred, backend=DaskBackend(client=client, timeout=args.timeout))
            t0 = time.perf_counter()
            out = f(from_npy(path, chunks=max(1, n // 16)))
            infer = time.perf_counter() - t0
            same = float(np.abs(out - gc.compile(pred)(np.load(path))).max())
        print(f"inference over {n} rows from {path.name}: {infer:.2f} s; "
              f"largest difference from numpy {same:.2e}")
        return {"steps": hist.steps, "param_diff": diff, "pred_diff": same,
                "loss": hist.loss}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
