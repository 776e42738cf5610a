"""The Dask backend's lowering (what runs per chunk, what is a tree reduction, what is
gathered), its options, pickling, input errors and check_finite, on the threaded scheduler."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import graphc as gc

da = pytest.importorskip("dask.array")

from graphc.backend.dask import DaskBackend  # noqa: E402


def _mlp_step(opt=None):
    g = gc.Graph("mlp")
    x = g.input("x", ("B", 6))
    y = g.input("y", ("B", 1))
    loss = gc.mean((gc.nn.MLP([6, 12, 1])(x) - y) ** 2)
    return g, loss, (opt or gc.optim.Adam(lr=0.01)).updates(loss)


def _conv_step():
    g = gc.Graph("cnn")
    x = g.input("x", ("B", 1, 8, 8))
    y = g.input("y", ("B",), dtype=np.int64)
    net = gc.nn.Sequential([gc.nn.Conv2d(1, 4, 3), gc.nn.ReLU(), gc.nn.MaxPool2d(2),
                            gc.nn.Flatten(), gc.nn.Linear(36, 3)])
    loss = gc.nn.cross_entropy(net(x), y)
    return g, loss, gc.optim.SGD(lr=0.1, momentum=0.9).updates(loss)


def _batchnorm_dropout_step():
    """BatchNorm: sums over B that rows read again (x - mean); dropout: masks drawn
    locally, with the numpy backend's draws. SGD: Adam would turn the bias gradient before
    BatchNorm, zero up to rounding, into updates of the rounding noise."""
    g = gc.Graph("bn")
    x = g.input("x", ("B", 6))
    y = g.input("y", ("B", 1))
    net = gc.nn.Sequential([gc.nn.Linear(6, 8), gc.nn.BatchNorm1d(8), gc.nn.ReLU(),
                            gc.nn.Dropout(0.3), gc.nn.Linear(8, 1)])
    loss = gc.mean((net(x) - y) ** 2)
    return g, loss, gc.optim.SGD(lr=0.1, momentum=0.9).updates(loss)


@pytest.mark.parametrize("make", [_mlp_step, _conv_step], ids=["mlp", "conv"])
def test_a_training_step_is_blockwise_and_tree_reductions_only(make):
    """Nothing is gathered: the per-row work runs per chunk, every sum over B (the
    unbroadcast gradient sums, x.T @ g, the conv weight gradient) is a tree reduction."""
    g, loss, updates = make()
    f = gc.compile(loss, updates=updates, backend="dask")
    counts = f.plan.count()
    assert f.plan.gathered() == [], [f.graph.node(i).op for i in f.plan.gathered()]
    assert counts["partial"] >= 3 and counts["blockwise"] > counts["partial"], counts
    assert "tree reduction" in f.source and "gather" not in f.source


@pytest.mark.parametrize("make", [_mlp_step, _conv_step, _batchnorm_dropout_step],
                         ids=["mlp", "conv", "batchnorm-dropout"])
def test_training_steps_equal_numpy(make):
    """Three steps, chunks of 3 rows (the last one short), to 1e-12 in float64."""
    g, loss, updates = make()
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((10, *[int(d) for d in t.shape[1:]])) if t.dtype.kind == "f"
          else rng.integers(0, 3, 10) for t in g.inputs.values()]
    start = {k: v.copy() for k, v in g.params.items()}
    want_fn = gc.compile(loss, updates=updates)
    want = [want_fn(*xs) for _ in range(3)]
    after = {k: v.copy() for k, v in g.params.items()}
    for k, v in start.items():
        g.params[k][...] = v
    got_fn = gc.compile(loss, updates=updates, backend=DaskBackend(chunks=3))
    got = [got_fn(*xs) for _ in range(3)]
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    for k, v in after.items():
        np.testing.assert_allclose(g.params[k], v, rtol=1e-12, atol=1e-12, err_msg=k)


def test_an_op_that_mixes_rows_is_gathered_and_correct():
    g = gc.Graph("c")
    x = g.input("x", ("B", 3))
    out = gc.cumsum(x, axis=0) * 2
    f = gc.compile(out, backend=DaskBackend(chunks=2))
    assert [f.graph.node(i).op for i in f.plan.gathered()] == ["cumsum"]
    X = np.arange(15.0).reshape(5, 3)
    np.testing.assert_allclose(f(X), np.cumsum(X, axis=0) * 2)


def test_dask_inputs_keep_their_chunks_and_outputs_are_computed():
    g, loss, _ = _mlp_step()
    x, y = g.inputs.values()
    pred_fn = gc.compile(loss)
    f = gc.compile(loss, backend="dask")
    X, Y = np.random.default_rng(1).standard_normal((2, 40, 6))[0], np.ones((40, 1))
    got = f(da.from_array(X, chunks=7), da.from_array(Y, chunks=7))
    assert isinstance(got, np.ndarray) and got.shape == ()
    np.testing.assert_allclose(got, pred_fn(X, Y), rtol=1e-12)


def test_pickle_recompiles_without_the_client():
    g, loss, updates = _mlp_step()
    sentinel = object()
    f = gc.compile(loss, backend=DaskBackend(chunks=4, client=None, timeout=5.0))
    f.backend.client = sentinel  # a client does not pickle; the function still does
    f2 = pickle.loads(pickle.dumps(f))
    assert f2.backend.client is None and f2.backend.chunks == 4 and f2.backend.timeout == 5.0
    X, Y = np.ones((9, 6)), np.zeros((9, 1))
    f.backend.client = None
    np.testing.assert_allclose(f2(X, Y), gc.compile(loss)(X, Y), rtol=1e-12)


def test_bad_inputs_raise_the_numpy_backends_errors_without_computing():
    g, loss, updates = _mlp_step()
    f = gc.compile(loss, updates=updates, backend="dask")
    before = {k: v.copy() for k, v in g.params.items()}
    with pytest.raises(gc.ShapeError, match="'x'"):
        f(da.zeros((5, 7), chunks=2), np.zeros((5, 1)))
    with pytest.raises(gc.ShapeError):
        f(np.zeros((5, 6)), da.zeros((4, 1), chunks=2))
    with pytest.raises(TypeError, match="does not convert safely"):
        f(da.zeros((5, 6), chunks=2, dtype=np.complex128), np.zeros((5, 1)))
    for k, v in before.items():
        np.testing.assert_array_equal(g.params[k], v)


def test_check_finite_outputs_commits_nothing():
    g, loss, updates = _mlp_step(gc.optim.SGD(lr=0.1))
    f = gc.compile(loss, updates=updates, backend=DaskBackend(chunks=2),
                   check_finite="outputs")
    before = {k: v.copy() for k, v in g.params.items()}
    X = np.ones((5, 6))
    X[3, 2] = np.nan
    with pytest.raises(gc.NonFiniteError):
        f(X, np.zeros((5, 1)))
    for k, v in before.items():
        np.testing.assert_array_equal(g.params[k], v)


def test_options_are_checked():
    with pytest.raises(ValueError, match="chunks"):
        DaskBackend(chunks=0)
    with pytest.raises(ValueError, match="timeout"):
        DaskBackend(timeout=-1)
    g, loss, updates = _mlp_step()
    with pytest.raises(ValueError, match="lazy"):
        gc.compile(loss, updates=updates, backend=DaskBackend(lazy=True))
    with pytest.raises(ValueError, match="'T'"):
        gc.compile(loss, backend=DaskBackend(batch="T"))


def test_fit_takes_a_client_only_for_dask():
    g, loss, _ = _mlp_step()
    with pytest.raises(TypeError, match="client="):
        gc.nn.fit(loss, gc.optim.SGD(lr=0.1), {"x": np.zeros((4, 6)), "y": np.zeros((4, 1))},
                  client=object(), progress=False)


@pytest.mark.parametrize("chunks", [2, 10], ids=["chunked", "one-chunk"])
def test_the_caller_owns_every_output(chunks):
    """No output shares memory with an input, a param or another output (an identity, a
    view, the same value twice, a param returned)."""
    g = gc.Graph("a")
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    outs = [x, gc.transpose(x), x * 2, x * 2, x @ W, W]
    f = gc.compile(outs, backend=DaskBackend(chunks=chunks))
    X = np.arange(12.0).reshape(4, 3)
    got = f(X)
    for k, a in enumerate(got):
        assert not np.shares_memory(a, X) and not np.shares_memory(a, g.params["W"]), k
        assert not any(np.shares_memory(a, b) for b in got[:k]), k
    np.testing.assert_array_equal(got[4], X @ np.ones((3, 2)))
