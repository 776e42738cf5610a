"""The numba backend computes the rows of the op table (``tests/ops/test_op_table.py``), and
the gradient of each float row, as the numpy backend and ``gc.evaluate`` do: one graph holds
many rows (one compile: JIT costs seconds per kernel), run at B = 1 and B = 3 through one
Function. The default run takes the rows of the ops the backend lowers natively (and their
gradients, which reach many other ops); the whole table, in float64 and float32, is slow."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.backend.numba import NumbaBackend
from graphc.backend.numba.fuse import ARITH
from graphc.backend.numba.native import LOOP_UFUNCS

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")


def _table():
    path = Path(__file__).parents[2] / "ops" / "test_op_table.py"
    spec = importlib.util.spec_from_file_location("graphc_op_table_for_numba", path)
    mod = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(mod)
    return mod


TABLE = _table()


NATIVE_OPS = {*ARITH, *LOOP_UFUNCS, "sum", "matmul", "swapaxes"}


def every_row(dtype, ops=None, per_op=None) -> tuple[gc.Graph, list, list[str], dict]:
    """One graph with every row (float rows in ``dtype``; only the rows of ``ops`` if given,
    at most ``per_op`` of each, those with the batch symbol first) and the gradients of the
    float rows; its outputs, their labels, and feeds for B = 1, 3 and 4."""
    rng = np.random.default_rng(0)
    g = gc.Graph("every_row")
    feeds: dict[int, dict] = {1: {}, 3: {}, 4: {}}
    rows = sorted(TABLE.ROWS, key=lambda r: not any("B" in s for s in r.shapes))
    taken: dict[str, int] = {}
    g.input("bind_B", ("B",), dtype)  # binds B for the rows that only make it
    for B in feeds:
        feeds[B]["bind_B"] = np.zeros(B, dtype)
    outs, labels = [], []
    for k, r in enumerate(rows):
        if (dtype != np.float64 and not TABLE._float_only(r)) or (ops and r.op not in ops):
            continue
        if per_op is not None and taken.get(r.op, 0) >= per_op:
            continue
        taken[r.op] = taken.get(r.op, 0) + 1
        xs = []
        for j, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True)):
            name = f"r{k}_x{j}"
            xs.append(g.input(name, s, dtype=TABLE._input_dtype(kind, dtype)))
            for B in feeds:
                feeds[B][name] = TABLE._make(s, kind, rng, dtype, B)
        out = r.build(*xs)
        outs.append(out)
        labels.append(r.id)
        wrt = [x for x, kind in zip(xs, r.data, strict=True) if kind in ("real", "pos")]
        if r.op == "take_along_axis_grad" and r.shapes[0] != r.shapes[1]:
            wrt = []
        if out.dtype.kind == "f" and wrt:
            for x, d in zip(wrt, gc.grad(gc.sum(out * out), wrt), strict=True):
                outs.append(d)
                labels.append(f"d{r.id}/d{x.name}")
    return g, outs, labels, feeds


@pytest.fixture(scope="module")
def compiled64():
    g, outs, labels, feeds = every_row(np.float64, NATIVE_OPS, per_op=3)
    inputs = list(g.inputs.values())
    return (gc.compile(outs, inputs=inputs), gc.compile(outs, inputs=inputs, backend="numba"),
            outs, labels, feeds)


def _compare(compiled, B, dtype):
    f_np, f_nb, outs, labels, feeds = compiled
    feed = feeds[B]
    params = f_np.graph.params
    state = {k: v.copy() for k, v in params.items()}  # the random rows' generator state

    def restore():
        for k, v in state.items():
            params[k][...] = v

    with np.errstate(all="ignore"):
        want = f_np(**feed)
        restore()
        got = f_nb(**feed)
        restore()
        ref = gc.evaluate(outs, {k: v for k, v in feed.items()})
    tol = {"rtol": 1e-12, "atol": 1e-12} if dtype == np.float64 else {"rtol": 2e-5, "atol": 2e-6}
    assert len(got) == len(want) == len(labels)
    for label, u, v, e in zip(labels, want, got, ref, strict=True):
        assert v.dtype == u.dtype and v.shape == u.shape, label
        np.testing.assert_allclose(v, u, **tol, err_msg=f"numba vs numpy, B={B}: {label}")
        np.testing.assert_allclose(v, e, **tol, err_msg=f"numba vs evaluate, B={B}: {label}")


@pytest.mark.parametrize("B", [1, 3])
def test_native_rows_float64(compiled64, B):
    _compare(compiled64, B, np.float64)


def test_a_new_batch_size_compiles_nothing(compiled64):
    """B = 4 runs through the kernels compiled for B = 3 (dims are arguments; B = 1 may add
    signatures: an array of one row is C and F contiguous at once, and numba types layouts)."""
    f_nb = compiled64[1]
    _compare(compiled64, 3, np.float64)
    kernels = [v for k, v in f_nb._fn.__globals__.items() if k.startswith("region_")]
    assert kernels, "no native region in the op table graph"
    before = [len(k.signatures) for k in kernels]
    _compare(compiled64, 4, np.float64)
    assert [len(k.signatures) for k in kernels] == before


def test_most_nodes_are_native(compiled64):
    plan = compiled64[1].plan
    body = [i for i in plan.memory.order if i not in plan.memory.tail]
    native = [i for i in body if i in plan.kinds]
    assert len(native) > len(body) // 2, plan.describe()
    ops = {compiled64[1].graph.node(i).op for i in native}
    assert {"tanh", "exp", "add", "multiply", "sum", "matmul"} <= ops


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_row(dtype):
    g, outs, labels, feeds = every_row(dtype)
    inputs = list(g.inputs.values())
    # every row native (the default limit would leave the last ~1,300 nodes to numpy)
    native = NumbaBackend(max_native_nodes=10_000)
    compiled = (gc.compile(outs, inputs=inputs), gc.compile(outs, inputs=inputs, backend=native),
                outs, labels, feeds)
    for B in (1, 3, 4):
        _compare(compiled, B, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matmul_with_a_small_or_large_inner_dimension(dtype):
    """A matmul is loops for an inner dimension up to ``SMALL_K``, BLAS above: both give
    numpy's values, with an operand transposed (F layout) or not, into a buffer or a new
    array, for an empty inner dimension too."""
    g = gc.Graph("mm")
    x = g.input("x", ("M", "K"), dtype)
    w = g.input("w", ("K", 6), dtype)
    u = g.input("u", (6, "K"), dtype)
    a = x @ w
    b = x @ gc.transpose(u)
    outs = [a * 2.0 + b, gc.sum(gc.transpose(x) @ a, axis=0)]
    f = gc.compile(outs, [x, w, u], backend="numba")
    assert "matmul_into(" in f.source
    rng = np.random.default_rng(0)
    for M, K in [(1, 1), (5, 3), (4, 4), (3, 5), (7, 40), (2, 0)]:
        X, W, U = (rng.standard_normal(s).astype(dtype) for s in ((M, K), (K, 6), (6, K)))
        want = [(X @ W) * 2.0 + X @ U.T, (X.T @ (X @ W)).sum(axis=0)]
        for v, u_ in zip(f(X, W, U), want, strict=True):
            assert v.dtype == dtype
            np.testing.assert_allclose(v, u_, rtol=1e-5 if dtype == np.float32 else 1e-12,
                                       atol=1e-5 if dtype == np.float32 else 1e-12)
