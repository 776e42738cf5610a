"""A compiled function called from several threads at once returns correct results: each call
takes its own buffer set from the pool of its binding (no lock)."""

import threading

import numpy as np

import graphc as gc


def test_concurrent_calls_return_correct_results():
    g = gc.Graph("t")
    x = g.input("x", ("B", 8))
    W = g.param("W", np.random.default_rng(0).standard_normal((8, 8)))
    h = gc.tanh(x @ W)
    for _ in range(6):
        h = gc.tanh(h @ W + h)
    L = gc.sum(h * h)
    (gW,) = gc.grad(L, [W])
    f = gc.compile([L, gW], [x])
    rng = np.random.default_rng(1)
    cases = [rng.standard_normal((B, 8)) for B in (3, 5, 3, 64, 5, 3, 64, 1)]
    want = [gc.evaluate([L, gW], {x: X}) for X in cases]
    errors: list[str] = []
    start = threading.Barrier(len(cases))

    def worker(k: int) -> None:
        start.wait()
        for _ in range(150):
            got = f(cases[k])
            if not all(np.allclose(a, b, rtol=1e-10) for a, b in zip(got, want[k])):
                errors.append(f"thread {k}: wrong result")
                return

    import sys

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors
    pools = f._fn.__globals__["POOLS"]
    assert max(len(p) for p in pools.values()) >= 2  # concurrent calls used separate sets


def test_many_threads_over_more_batch_sizes_than_bindings_kept():
    """Past the 8 kept bindings, 12 threads over 59 batch sizes raised 'dictionary changed
    size during iteration' in the eviction. It is locked, and least recently used first."""
    from graphc.backend.numpy import plans

    g = gc.Graph("t")
    x = g.input("x", ("B", 4))
    W = g.param("W", np.random.default_rng(0).standard_normal((4, 4)))
    out = gc.sum(gc.tanh(x @ W), axis=1)
    f = gc.compile(out, [x])
    rng = np.random.default_rng(2)
    cases = [rng.standard_normal((B, 4)) for B in range(1, 60)]
    want = [np.tanh(X @ g.params["W"]).sum(axis=1) for X in cases]
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def worker(k: int) -> None:
        start.wait()
        try:
            for r in range(200):
                j = (k * 7 + r * 13) % len(cases)
                np.testing.assert_allclose(f(cases[j]), want[j], rtol=1e-12)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    pools = f._fn.__globals__["POOLS"]
    assert len(pools) <= plans.MAX_BINDINGS
    f(cases[0])  # now the most recently used: it survives the next new binding
    for X in cases[30:30 + plans.MAX_BINDINGS - 1]:
        f(X)
    assert 1 in pools and 2 not in pools
