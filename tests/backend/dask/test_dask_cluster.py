"""The Dask backend on a LocalCluster of 2 worker processes: data-parallel training equal to
the numpy backend's, out-of-core inference with bounded worker memory, a worker killed in the
middle of a step, and the timeout."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import graphc as gc

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

from graphc.backend.dask import DaskBackend, from_npy  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

#: bytes per worker (an idle worker holds ~100 MB). The workers' own reactions to it
#: (spilling, pausing, a restart by the nanny) are off: the out-of-core test measures the
#: peak RSS itself and fails when it passes the limit, instead of hanging on a paused worker
MEMORY_LIMIT = 150e6


@pytest.fixture(scope="module")
def client():
    # the workers unpickle this module's helpers (slow loaders, the memory sampler) by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    off = {f"distributed.worker.memory.{k}": False for k in ("target", "spill", "pause",
                                                            "terminate")}
    with dask.config.set(off), distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            memory_limit=MEMORY_LIMIT) as cluster, distributed.Client(cluster) as c:
        yield c
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _mlp(hidden=16):
    g = gc.Graph("mlp")
    x = g.input("x", ("B", 8))
    y = g.input("y", ("B", 1))
    net = gc.nn.MLP([8, hidden, 1])
    loss = gc.mean((net(x) - y) ** 2)
    return g, x, y, net, loss


def _data(n=300, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 8))
    Y = np.sin(X[:, :1]) + 0.1 * rng.standard_normal((n, 1))
    return X, Y


def _snapshot(g):
    return {k: v.copy() for k, v in g.params.items()}


def _restore(g, saved):
    for k, v in saved.items():
        g.params[k][...] = v


# -------------------------------------------------------------------------------- training
def test_fit_on_the_cluster_equals_numpy(client):
    """An epoch of Adam, shuffled batches of 100 (the last one short): the same losses and
    params as the numpy backend, to 1e-12, from a dataset that is a dask array."""
    g, x, y, _, loss = _mlp()
    X, Y = _data(250)
    opt = gc.optim.Adam(lr=0.01)
    opt.updates(loss)  # the optimiser's state params exist before the snapshot
    start = _snapshot(g)
    want = gc.nn.fit(loss, opt, {x: X, y: Y}, epochs=1, batch_size=100, progress=False)
    want_params = _snapshot(g)
    _restore(g, start)
    Xd = da.from_array(X, chunks=50).persist()
    Yd = da.from_array(Y, chunks=50).persist()
    got = gc.nn.fit(loss, opt, {x: Xd, y: Yd}, epochs=1, batch_size=100, progress=False,
                    backend=DaskBackend(chunks=16), client=client)
    assert got.steps == want.steps == 3
    np.testing.assert_allclose(got.step_loss, want.step_loss, rtol=1e-12, atol=1e-12)
    for k, v in want_params.items():
        np.testing.assert_allclose(g.params[k], v, rtol=1e-12, atol=1e-12, err_msg=k)
    assert any(not np.array_equal(g.params[k], v) for k, v in start.items())


def test_step_tasks_run_on_both_workers(client):
    """A step's chunks are spread over the workers (the per-chunk work is distributed), one
    task per chunk: the tasks the workers ran are about the 4 chunks' and the tree's."""
    g, x, y, _, loss = _mlp()
    X, Y = _data(1000)
    f = gc.compile(loss, updates=gc.optim.SGD(lr=0.01).updates(loss),
                   backend=DaskBackend(chunks=250, client=client))
    f.plan.count_tasks = True
    with distributed.get_task_stream(client) as ts:
        f(X, Y)
    assert len({t["worker"] for t in ts.data}) == 2
    assert 4 <= len(ts.data) <= f.plan.last_tasks <= 2 * 4 + 24, (len(ts.data),
                                                                  f.plan.last_tasks)


# ------------------------------------------------------------------------ out-of-core
def _start_sampler(dask_worker):
    """In a worker: sample this process's RSS every 5 ms, keeping the peak."""
    import psutil

    state = {"peak": 0, "stop": False}
    proc = psutil.Process()

    def loop():
        while not state["stop"]:
            state["peak"] = max(state["peak"], proc.memory_info().rss)
            time.sleep(0.005)

    threading.Thread(target=loop, daemon=True).start()
    dask_worker.graphc_sampler = state
    return proc.memory_info().rss


def _stop_sampler(dask_worker):
    state = dask_worker.graphc_sampler
    state["stop"] = True
    return state["peak"]


def test_out_of_core_inference_keeps_worker_memory_bounded(client, tmp_path):
    """f(X) for a memory-mapped .npy four times a worker's memory limit: the result equals
    the numpy backend's, and no worker's peak RSS comes near the limit (a worker that held
    a quarter of the array would exceed it and be restarted by its nanny)."""
    g = gc.Graph("wide")
    x = g.input("x", ("B", 128))
    net = gc.nn.MLP([128, 16, 1])
    pred = net(x)
    n_rows = int(4 * MEMORY_LIMIT) // (128 * 8) + 1
    path = tmp_path / "X.npy"
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n_rows, 128))
    step = 1 << 14
    for s in range(0, n_rows, step):
        e = min(s + step, n_rows)
        mm[s:e] = np.cos(np.arange(s, e, dtype=np.float64) * 1e-3)[:, None] * np.linspace(
            -1, 1, 128)
    mm.flush()
    del mm
    size = os.path.getsize(path)
    assert size >= 4 * MEMORY_LIMIT
    chunk_rows = 1 << 12  # 4 MiB of input per chunk
    chunk_bytes = chunk_rows * 128 * 8
    X = from_npy(path, chunks=chunk_rows)
    f = gc.compile(pred, backend=DaskBackend(client=client, timeout=120))
    f(X[: 4 * chunk_rows])  # the workers import what a task needs before the baseline
    base = client.run(_start_sampler)
    try:
        got = f(X)
    finally:
        peaks = client.run(_stop_sampler)
    assert got.shape == (n_rows, 1)
    want_fn = gc.compile(pred)
    mm = np.load(path, mmap_mode="r")
    for s in range(0, n_rows, step):
        np.testing.assert_allclose(got[s:s + step], want_fn(np.asarray(mm[s:s + step])),
                                   rtol=1e-12, atol=1e-12)
    del mm
    grown = {w: (peaks[w] - base[w]) / 1e6 for w in peaks}
    print(f"\nout-of-core: file {size / 1e6:.0f} MB, worker limit {MEMORY_LIMIT / 1e6:.0f} MB, "
          f"RSS at start (MB) {sorted(round(b / 1e6) for b in base.values())}, growth to "
          f"peak (MB) {sorted(round(v) for v in grown.values())}")
    # a few chunks in flight (4 MiB of input each, their hidden layer) and the result
    # chunks held until gathered (n_rows * 8 bytes in all, 5 MB): below the limit, far
    # below the file
    assert max(peaks.values()) < MEMORY_LIMIT, peaks
    assert max(grown.values()) < 12 * chunk_bytes / 1e6, grown


def test_lazy_outputs_stream_to_disk(client, tmp_path):
    """lazy=True: f(X) is a dask array the caller writes out chunk by chunk."""
    g, x, _, net, _ = _mlp()
    pred = net(x)
    X, _ = _data(1000)
    f = gc.compile(pred, backend=DaskBackend(chunks=100, lazy=True, client=client))
    out = f(da.from_array(X, chunks=100))
    assert isinstance(out, da.Array) and out.shape == (1000, 1) and out.numblocks == (10, 1)
    da.to_npy_stack(str(tmp_path / "pred"), out, axis=0)
    back = da.from_npy_stack(str(tmp_path / "pred")).compute()
    np.testing.assert_allclose(back, gc.compile(pred)(X), rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------- faults
def _slow_rows(X, start, stop, seconds):
    time.sleep(seconds)
    return X[start:stop]


def _slow_array(X, rows, seconds):
    """X as a dask array whose chunks take ``seconds`` each to load (a slow store)."""
    import dask

    parts = [da.from_delayed(dask.delayed(_slow_rows, pure=True)(X, s, min(s + rows, len(X)),
                                                                 seconds),
                             (min(s + rows, len(X)) - s, *X.shape[1:]), X.dtype)
             for s in range(0, len(X), rows)]
    return da.concatenate(parts)


def test_worker_killed_mid_step(client):
    """A worker process is killed while the step's chunks load: the step completes with the
    numpy backend's result (the scheduler runs the lost tasks again on the other worker and
    on the restarted one), or raises with the params and the optimiser state unchanged."""
    g, x, y, _, loss = _mlp()
    X, Y = _data(400)
    opt = gc.optim.Adam(lr=0.01)
    updates = opt.updates(loss)
    before = _snapshot(g)
    gc.compile(loss, updates=updates)(X, Y)
    want = _snapshot(g)
    _restore(g, before)
    f = gc.compile(loss, updates=updates, backend=DaskBackend(client=client, timeout=60))
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    result: dict = {}

    def step():
        try:
            result["loss"] = f(_slow_array(X, 50, 0.4), _slow_array(Y, 50, 0.4))
        except Exception as e:  # noqa: BLE001 - what the step raised is what is checked
            result["error"] = e

    t = threading.Thread(target=step)
    t.start()
    deadline = time.time() + 20
    while not any(client.processing().values()) and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(0.2)
    os.kill(victim, signal.SIGKILL)
    t.join(90)
    assert not t.is_alive(), "the step hangs"
    how = f"raised {result['error']!r:.120}" if "error" in result else "completed"
    print(f"\nworker killed mid-step: the step {how}")
    if "error" in result:
        for k, v in before.items():
            np.testing.assert_array_equal(g.params[k], v, err_msg=k)
    else:
        for k, v in want.items():
            np.testing.assert_allclose(g.params[k], v, rtol=1e-12, atol=1e-12, err_msg=k)
    client.wait_for_workers(2, timeout=30)


def test_timeout_raises_and_commits_nothing(client):
    g, x, y, _, loss = _mlp()
    X, Y = _data(100)
    f = gc.compile(loss, updates=gc.optim.SGD(lr=0.1).updates(loss),
                   backend=DaskBackend(client=client, timeout=0.3))
    before = _snapshot(g)
    t0 = time.time()
    with pytest.raises(TimeoutError, match="timeout=0.3 s"):
        f(_slow_array(X, 50, 1.5), _slow_array(Y, 50, 1.5))
    assert time.time() - t0 < 1.4
    for k, v in before.items():
        np.testing.assert_array_equal(g.params[k], v, err_msg=k)
    time.sleep(1.6)  # (the loads still running finish before the next test)


def test_an_error_in_a_chunk_names_the_users_line(client):
    """A numpy error inside a worker's task is the contract's error, at the user's line."""
    g = gc.Graph("e")
    idx = g.input("i", ("B",), dtype=np.int64)
    table = g.param("table", np.arange(5.0))
    out = gc.take(table, idx, axis=0)
    f = gc.compile(out, backend=DaskBackend(chunks=2, client=client))
    with pytest.raises((IndexError, ValueError), match="test_dask_cluster.py"):
        f(np.array([0, 1, 2, 9]))


def test_the_example_runs_on_a_given_scheduler(client):
    """examples/distributed_fit.py --quick --scheduler ADDRESS: trains on this cluster, equal
    to numpy, and predicts a .npy file read by the workers."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "examples" / "distributed_fit.py"
    spec = importlib.util.spec_from_file_location("example_distributed_fit", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    argv = ["--quick", "--scheduler", client.scheduler.address, "--timeout", "60"]
    try:
        res = module.main(argv)
    except distributed.client.FuturesCancelledError as e:
        # seen twice in ~10 full runs, never reproduced alone: the scheduler cancelled the
        # step because the example's persisted input chunks were "lost data" (no worker was
        # lost; the example now names its arrays randomly, in case another client's release
        # of equal keys was the cause). A second run on the same cluster must succeed.
        print(f"first run cancelled by the scheduler ({e}); running the example again")
        res = module.main(argv)
    assert res["steps"] == 2
    assert res["param_diff"] < 1e-12 and res["pred_diff"] < 1e-12
