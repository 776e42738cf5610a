"""The numba backend's options: loop nests on numba's threads when they are large (the same
bits as serial), scratch arrays from the buffer set (no allocation per call), and the limit
on native nodes (the rest run as numpy lines, with a warning)."""

from __future__ import annotations

import re
import warnings

import numba
import numpy as np
import pytest

import graphc as gc
from graphc.backend.numba import NativeSizeWarning, NumbaBackend

#: large enough for the parallel loop nests (their estimated work is above the threshold)
BIG = 1500


def _program(backend, width=48):
    """A training step whose loop nests have a transcendental (tanh, exp: numpy's loops, with
    scratch rows), sums along the inner axis (one per row: threads may share the outer axis)
    and a sum along the outer axis (the bias gradient: never on threads)."""
    rng = np.random.default_rng(0)
    g = gc.Graph("threads")
    x = g.input("x", ("B", width))
    W = g.param("W", rng.standard_normal((width, width)) / np.sqrt(width))
    b = g.param("b", 0.1 * rng.standard_normal(width))
    h = gc.tanh(x @ W + b)
    e = gc.exp(0.5 * h - 1.0)
    rows = gc.sum(e * h, axis=1, keepdims=True)
    loss = gc.mean(rows * rows) + gc.mean(h)
    gW, gb = gc.grad(loss, [W, b])
    f = gc.compile([loss, rows], [x], updates={W: W - 0.1 * gW, b: b - 0.1 * gb},
                   backend=backend)
    return g, f


def _run(backend, X, steps=3):
    g, f = _program(backend)
    outs = [f(X) for _ in range(steps)]
    return outs, {k: v.copy() for k, v in g.params.items()}, f


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(1).standard_normal((BIG, 48))


@pytest.fixture
def one_blas_thread():
    """numpy's BLAS on one thread (the loop nests use numba's threads only then)."""
    import ctypes

    from graphc.backend.numba import native

    path = native._numpy_blas_path()
    if path is None:
        pytest.skip("numpy's OpenBLAS not found")
    lib = ctypes.CDLL(path)
    before = lib.scipy_openblas_get_num_threads64_()
    lib.scipy_openblas_set_num_threads64_(1)
    yield
    lib.scipy_openblas_set_num_threads64_(before)


def test_large_loop_nests_run_on_threads_with_the_bits_of_the_serial_kernel(X, one_blas_thread):
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here (no parallel kernels are made)")
    from graphc.backend.numba.native import loop_threads

    assert loop_threads() == numba.get_num_threads() > 1
    outs, params, f = _run(NumbaBackend(), X)
    assert "prange(nc)" in f.source and "nt = rt_threads()" in f.source
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        assert loop_threads() == 1
        outs1, params1, _ = _run(NumbaBackend(), X)
    finally:
        numba.set_num_threads(before)
    for (lo, r), (lo1, r1) in zip(outs, outs1, strict=True):
        assert lo.tobytes() == lo1.tobytes() and r.tobytes() == r1.tobytes()
    for k in params:
        assert params[k].tobytes() == params1[k].tobytes(), k


def test_with_a_multithreaded_blas_loop_nests_stay_on_one_thread():
    """BLAS threads spin between calls and would take the cores from a parallel loop nest."""
    import ctypes

    from graphc.backend.numba import native

    path = native._numpy_blas_path()
    if path is None or numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numpy's OpenBLAS not found, or one thread")
    lib = ctypes.CDLL(path)
    before = lib.scipy_openblas_get_num_threads64_()
    lib.scipy_openblas_set_num_threads64_(2)
    try:
        assert native.loop_threads() == 1
    finally:
        lib.scipy_openblas_set_num_threads64_(before)


def test_threads_compute_what_the_numpy_backend_computes(X, one_blas_thread):
    outs, params, _ = _run(NumbaBackend(), X)
    outs_np, params_np, _ = _run("numpy", X)
    for (lo, r), (ln, rn) in zip(outs, outs_np, strict=True):
        np.testing.assert_allclose(lo, ln, rtol=1e-12)
        np.testing.assert_allclose(r, rn, rtol=1e-12, atol=1e-13)  # sums: other order
    for k in params:
        np.testing.assert_allclose(params[k], params_np[k], rtol=1e-12, atol=1e-15)


def test_threads_false_and_small_static_shapes_stay_serial():
    _, f = _program(NumbaBackend(threads=False))
    assert "prange(" not in f.source and "parallel=True" not in f.source
    g = gc.Graph("small")
    x = g.input("x", (4, 8))
    f = gc.compile(gc.tanh(x * 2.0), [x], backend="numba")
    assert "prange(" not in f.source
    np.testing.assert_array_equal(f(np.ones((4, 8))), np.tanh(np.full((4, 8), 2.0)))


def test_kernels_take_their_scratch_from_the_buffer_set():
    """numpy's loop arguments and scratch rows are slots of the binding's buffer set: a
    kernel allocates no array per call (numba counts only the wrappers of its arguments)."""
    _, f = _program(NumbaBackend())
    kernels = f.source.split("# native kernels")[1]
    assert re.search(r"\b(w\d+c?|lpc?) = b\d+", kernels)
    assert not re.search(r"\b(w\d+c?|lpc?) = np\.empty", kernels)


def test_without_a_buffer_set_kernels_make_their_own_scratch():
    rng = np.random.default_rng(0)
    g = gc.Graph("nomem")
    x = g.input("x", ("B", 8))
    W = g.param("W", rng.standard_normal((8, 8)))
    loss = gc.sum(gc.tanh(x @ W) * 2.0)
    f = gc.compile(loss, [x], backend="numba", passes={"memory": False})
    assert "lp = np.empty((5,), np.int64)" in f.source
    Xs = rng.standard_normal((5, 8))
    np.testing.assert_allclose(f(Xs), np.sum(np.tanh(Xs @ g.params["W"]) * 2.0), rtol=1e-13)


def test_past_max_native_nodes_the_rest_runs_as_numpy_lines_with_a_warning():
    g = gc.Graph("chain")
    x = g.input("x", ("B", 4))
    h = x
    for _ in range(12):
        h = gc.tanh(h) * 0.5 + 1.0
    with pytest.warns(NativeSizeWarning, match="max_native_nodes=10"):
        f = gc.compile(h, [x], backend=NumbaBackend(max_native_nodes=10))
    assert "left to numpy" in f.plan.describe()
    X = np.random.default_rng(2).standard_normal((3, 4))
    np.testing.assert_array_equal(f(X), gc.compile(h, [x])(X))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gc.compile(h, [x], backend=NumbaBackend(max_native_nodes=1000))


@pytest.mark.parametrize("bad", [-1, 2.5, "10"])
def test_a_bad_max_native_nodes_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="max_native_nodes"):
        NumbaBackend(max_native_nodes=bad)


_PARFORS = """
import numpy as np, graphc as gc
g = gc.Graph("t")
x = g.input("x", ("B", 64))
b = g.param("b", np.ones(64))
W = g.param("W", np.eye(64))
h = gc.tanh(x + b) @ W
loss = gc.sum(gc.tanh(h))
gb = gc.grad(loss, [b])[0]
f = gc.compile(loss, [x], updates={b: b - 0.1 * gb}, backend="numba")
f(np.ones((1, 64)))
kernel = f.plan.module.region_0
diagnostics = kernel.get_metadata(kernel.signatures[0])["parfor_diagnostics"]
print(diagnostics.count_parfors(), f.plan.kernel_source.count("prange("))
"""


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="numba has one thread here")
def test_only_the_prange_loops_are_parallel(tmp_path):
    """numba's parallel mode would also turn array operations (``fill``) into parallel loops,
    which start the threads on every call whatever the sizes (60 us at batch size 1, far
    more with another thread pool in the process): the kernels ask for prange only."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, GRAPHC_NUMBA_CACHE_DIR=str(tmp_path))  # compiled here: diagnostics
    out = subprocess.run([sys.executable, "-c", _PARFORS], env=env, text=True,
                         capture_output=True, timeout=300)
    assert out.returncode == 0, out.stderr
    parfors, pranges = map(int, out.stdout.split())
    assert pranges >= 1 and parfors == pranges


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_where_and_relu_run_natively_with_numpys_bits(dtype):
    """``where`` with a bool condition and relu (numpy's maximum(x, 0): NaN kept, -0.0 to
    +0.0) join the loop nests, with the numpy backend's bits."""
    g = gc.Graph("sel")
    x = g.input("x", ("B", 5), dtype)
    y = g.input("y", ("B", 5), dtype)
    out = gc.where(x > y, x * 2, y) + gc.relu(x - 1) + gc.relu(y)
    f = gc.compile(out, [x, y], backend="numba")
    native = {g.node(i).op for i in f.plan.kinds}
    assert {"where", "relu"} <= native, f.plan.describe()
    X = np.array([[-0.0, np.nan, 1, 2, -3]] * 3, dtype)
    Y = np.array([[0.0, 1, np.nan, -0.0, -4]] * 3, dtype)
    assert f(X, Y).tobytes() == gc.compile(out, [x, y])(X, Y).tobytes()


def test_a_pickled_function_keeps_the_backends_options():
    import pickle

    g = gc.Graph("opts")
    x = g.input("x", ("B", 4))
    W = g.param("W", np.eye(4) * 0.5)
    f = gc.compile(gc.tanh(x @ W), [x], backend=NumbaBackend(fast_math=True, threads=False,
                                                             max_native_nodes=50))
    f2 = pickle.loads(pickle.dumps(f))
    assert (f2.backend.fast_math, f2.backend.threads, f2.backend.max_native_nodes) == (
        True, False, 50)
    assert "tanh_f64" in f2.source
    X = np.random.default_rng(5).standard_normal((3, 4))
    np.testing.assert_array_equal(f2(X), f(X))
