"""The numba backend on training steps: the MLP step with SGD and Adam computes what the
numpy backend computes, commits its updates after everything is computed (a failing call
changes nothing), serves every batch size with one compiled kernel, reports run-time errors
at the user's line, pickles, and is safe to call from several threads."""

from __future__ import annotations

import pickle
import re
import threading

import numpy as np
import pytest

import graphc as gc

SIZES = (3, 16, 16, 2)


def _mlp(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    g = gc.Graph("mlp")
    x = g.input("x", ("B", SIZES[0]), dtype)
    y = g.input("y", ("B", SIZES[-1]), dtype)
    ps = []
    for k, (m, n) in enumerate(zip(SIZES[:-1], SIZES[1:], strict=True)):
        ps.append(g.param(f"W{k}", (rng.standard_normal((m, n)) / np.sqrt(m)).astype(dtype)))
        ps.append(g.param(f"b{k}", (0.1 * rng.standard_normal(n)).astype(dtype)))
    h = x
    for k in range(len(SIZES) - 1):
        h = h @ ps[2 * k] + ps[2 * k + 1]
        if k < len(SIZES) - 2:
            h = gc.tanh(h)
    loss = gc.mean((h - y) ** 2)
    return g, x, y, ps, loss


def _steps(opt: str, backend: str, dtype=np.float64):
    g, x, y, ps, loss = _mlp(dtype)
    if opt == "sgd":
        grads = gc.grad(loss, ps)
        updates = {p: p - 0.05 * d for p, d in zip(ps, grads, strict=True)}
    else:
        updates = gc.optim.Adam(lr=0.01).updates(loss, ps)
    return g, gc.compile(loss, [x, y], updates=updates, backend=backend)


def _data(B, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((B, SIZES[0])).astype(dtype),
            rng.standard_normal((B, SIZES[-1])).astype(dtype))


@pytest.fixture(scope="module", params=["sgd", "adam"])
def pair(request):
    """The same training step compiled for numpy and for numba (graphs of their own)."""
    return request.param, _steps(request.param, "numpy"), _steps(request.param, "numba")


def test_training_matches_the_numpy_backend_at_every_batch_size(pair):
    opt, (g_np, f_np), (g_nb, f_nb) = pair
    for g in (g_np, g_nb):  # both start from the same params
        for k, v in _mlp()[0].params.items():
            g.params[k][...] = v
    for step, B in enumerate([1, 5, 32, 1, 7, 5]):
        X, Y = _data(B, seed=step)
        want, got = f_np(X, Y), f_nb(X, Y)
        assert got.shape == () and got.dtype == np.float64
        np.testing.assert_allclose(got, want, rtol=1e-12)
        for k in g_np.params:
            np.testing.assert_allclose(g_nb.params[k], g_np.params[k], rtol=1e-11, atol=1e-14,
                                       err_msg=f"{opt} step {step}: {k}")
    kernels = [v for k, v in f_nb._fn.__globals__.items() if k.startswith(("region_", "commit_"))]
    assert kernels and all(len(k.signatures) == 1 for k in kernels), \
        "a new batch size compiled the kernels again"


def test_the_whole_sgd_step_is_native():
    _, f = _steps("sgd", "numba")
    plan = f.plan
    body = [i for i in plan.memory.order if i not in plan.memory.tail]
    assert all(i in plan.kinds for i in body), plan.describe()
    assert plan.native_commit and plan.folded, "the SGD multiplies are not in the commit"
    driver, kernels = f.source.split("# native kernels")
    calls = [line for line in driver.splitlines() if "region_" in line and "#" not in line]
    # one kernel call: the body, then the commit at its end; the buffers as one arena
    assert len(calls) == 1 and "commit_" not in driver, calls
    assert "arena_0" in calls[0] and not re.search(r"\bb\d+\b", calls[0]), calls
    assert "fused loop nest over (B, 16): add_9, tanh_10" in driver
    assert "def region_0(" in kernels and "tanh_d(" in kernels


def test_tanh_is_numpys_own_loop_bit_for_bit():
    g = gc.Graph("t")
    x = g.input("x", ("B", 64))
    b = g.param("b", np.linspace(-1, 1, 64))
    f = gc.compile(gc.tanh(x * 3.0 + b), backend="numba")
    assert "tanh_d(" in f.source
    X = np.random.default_rng(0).standard_normal((50, 64))
    np.testing.assert_array_equal(f(X), np.tanh(X * 3.0 + g.params["b"]))


def test_a_call_with_a_bad_input_changes_no_param():
    g, f = _steps("adam", "numba")
    X, Y = _data(4)
    f(X, Y)
    before = {k: v.copy() for k, v in g.params.items()}
    for bad in (np.ones((4, 1)), np.ones((5, 2)), np.ones((4, 2), complex)):
        with pytest.raises((gc.ShapeError, TypeError)):
            f(X, bad)
        for k, v in before.items():
            np.testing.assert_array_equal(g.params[k], v)


def test_non_finite_loss_commits_nothing_with_check_finite_outputs():
    g, x, y, ps, loss = _mlp()
    grads = gc.grad(loss, ps)
    f = gc.compile(loss, [x, y], updates={p: p - 0.05 * d for p, d in zip(ps, grads,
                                                                            strict=True)},
                   backend="numba", check_finite="outputs")
    X, Y = _data(4)
    before = {k: v.copy() for k, v in g.params.items()}
    Y[0, 0] = np.inf
    with pytest.raises(gc.NonFiniteError):
        f(X, Y)
    for k, v in before.items():
        np.testing.assert_array_equal(g.params[k], v)
    Y[0, 0] = 0.0
    f(X, Y)
    assert any(not np.array_equal(g.params[k], v) for k, v in before.items())


def test_a_run_time_error_names_the_users_line_and_commits_nothing():
    """An op that numpy computes for the numba backend (take_along_axis) fails at run time:
    the error names the user's line, and no param changed."""
    g = gc.Graph()
    logits = g.input("logits", ("B", 3))
    labels = g.input("labels", ("B",), dtype=np.int64)
    a = g.param("a", np.zeros(3))
    new_a = a + 1.0
    picked = gc.take_along_axis(gc.tanh(logits) * 2.0, labels[:, None], axis=1)  # LINE
    f = gc.compile(picked, updates={a: new_a * 1.5}, backend="numba")
    lv = np.ones((2, 3))
    f(lv, np.array([0, 2]))
    assert g.params["a"].tolist() == [1.5] * 3
    with pytest.raises(ValueError, match="take_along_axis") as info:
        f(lv, np.array([0, 7]))
    assert "test_numba_training.py" in str(info.value)
    assert g.params["a"].tolist() == [1.5] * 3


def test_pickled_function_recompiles_and_computes_the_same():
    g, f = _steps("sgd", "numba")
    X, Y = _data(6)
    h = pickle.loads(pickle.dumps(f))
    assert h.backend == "numba" and h.source == f.source
    for k, v in g.params.items():
        h.graph.params[k][...] = v
    np.testing.assert_array_equal(h(X, Y), f(X, Y))
    for k in g.params:
        np.testing.assert_array_equal(h.graph.params[k], g.params[k])


def test_concurrent_calls_return_correct_results():
    g = gc.Graph("t")
    x = g.input("x", ("B", 8))
    W = g.param("W", np.random.default_rng(0).standard_normal((8, 8)))
    h = gc.tanh(x @ W)
    for _ in range(3):
        h = gc.tanh(h @ W + h)
    L = gc.sum(h * h)
    (gW,) = gc.grad(L, [W])
    f = gc.compile([L, gW], [x], backend="numba")
    rng = np.random.default_rng(1)
    cases = [rng.standard_normal((B, 8)) for B in (3, 5, 64, 1)]
    want = [gc.evaluate([L, gW], {x: X}) for X in cases]
    for k, X in enumerate(cases):  # compiled once, before the threads start
        assert all(np.allclose(a, b, rtol=1e-10) for a, b in zip(f(X), want[k], strict=True))
    errors: list[str] = []
    start = threading.Barrier(len(cases))

    def worker(k: int) -> None:
        start.wait()
        for _ in range(100):
            got = f(cases[k])
            if not all(np.allclose(a, b, rtol=1e-10) for a, b in zip(got, want[k], strict=True)):
                errors.append(f"thread {k}: wrong result")
                return

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_float32_stays_float32():
    g, f = _steps("sgd", "numba", np.float32)
    X, Y = _data(5, dtype=np.float32)
    loss = f(X, Y)
    assert loss.dtype == np.float32
    assert all(v.dtype == np.float32 for v in g.params.values())
    g2, f2 = _steps("sgd", "numpy", np.float32)
    np.testing.assert_allclose(loss, f2(X, Y), rtol=2e-6)
    for k in g.params:
        np.testing.assert_allclose(g.params[k], g2.params[k], rtol=2e-5, atol=1e-7)


@pytest.mark.parametrize("passes", [{"memory": False}, []])
def test_without_the_memory_plan_or_the_optimiser(passes):
    """Every value a new array (no buffers), or the unoptimised graph (mean, power: numpy
    lines between the regions); a Fortran-ordered input."""
    results = []
    for backend in ("numpy", "numba"):
        g, x, y, ps, loss = _mlp()
        grads = gc.grad(loss, ps)
        f = gc.compile([loss, grads[0]], [x, y], backend=backend, passes=passes,
                       updates={p: p - 0.05 * d for p, d in zip(ps, grads, strict=True)})
        X, Y = _data(5)
        results.append((f(X, Y), f(np.asfortranarray(X), Y), dict(g.params)))
    (a1, a2, pa), (b1, b2, pb) = results
    for u, v in zip([*a1, *a2], [*b1, *b2], strict=True):
        np.testing.assert_allclose(v, u, rtol=1e-12)
    for k in pa:
        np.testing.assert_allclose(pb[k], pa[k], rtol=1e-12)


def test_check_finite_true_runs_the_numpy_backends_code():
    """The debugging mode checks every value as it is computed: one numpy line per node."""
    g, x, y, ps, loss = _mlp()
    f = gc.compile(loss, [x, y], backend="numba", check_finite=True)
    assert "region_" not in f.source and "isfinite" in f.source
    X, Y = _data(3)
    X[1, 0] = np.nan
    with pytest.raises(gc.NonFiniteError, match="input 'x'"):
        f(X, Y)


def test_a_copied_result_keeps_the_commit_a_kernel_of_its_own():
    """Results the driver copies (a gradient in a buffer, a param's value before the step)
    are copied before the commit: the commit is then not merged into the body's kernel, and
    the results and params are the numpy backend's."""
    got = {}
    for backend in ("numpy", "numba"):
        g, x, y, ps, loss = _mlp()
        grads = gc.grad(loss, ps)
        f = gc.compile([loss, grads[0], ps[0]], [x, y],
                       updates={p: p - 0.05 * d for p, d in zip(ps, grads, strict=True)},
                       backend=backend)
        outs = [f(*_data(B, seed=B)) for B in (3, 1)]
        got[backend] = outs, {k: v.copy() for k, v in g.params.items()}
    assert "commit_" in f.source.split("# native kernels")[0]
    (o_np, p_np), (o_nb, p_nb) = got["numpy"], got["numba"]
    for a, b in zip(o_np, o_nb, strict=True):
        for u, v in zip(a, b, strict=True):
            np.testing.assert_allclose(v, u, rtol=1e-12, atol=1e-15)
    assert not np.array_equal(o_nb[1][2], p_nb["W0"])  # the value before the second step
    for k in p_np:
        np.testing.assert_allclose(p_nb[k], p_np[k], rtol=1e-11, atol=1e-14)


def test_buffers_of_two_dtypes_lie_in_two_arenas():
    g = gc.Graph("mixed")
    x = g.input("x", ("B", 5), np.float32)
    y = g.input("y", ("B", 7), np.float64)
    a = gc.tanh(x * 2.0 + 1.0)
    b = gc.tanh(y * 3.0 - 1.0)
    outs = [gc.sum(a * a + a), gc.sum(b * b - b), gc.sum(gc.astype(a, np.float64)) + gc.sum(b)]
    f = gc.compile(outs, [x, y], backend="numba")
    want = gc.compile(outs, [x, y], backend="numpy")
    assert "arena_1" in f.source
    rng = np.random.default_rng(0)
    for B in (1, 4, 9):
        X, Y = rng.standard_normal((B, 5)).astype(np.float32), rng.standard_normal((B, 7))
        for u, v in zip(want(X, Y), f(X, Y), strict=True):
            assert u.dtype == v.dtype
            np.testing.assert_allclose(v, u, rtol=2e-6)
