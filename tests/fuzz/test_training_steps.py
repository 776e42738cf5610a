"""Property: a compiled training step == the unoptimised step == the reference interpreter.

Random MLPs (widths, activations), random losses and optimisers from ``gc.optim``, compiled
once with every pass and the memory plan (in-place ops, buffer reuse, the gradient arena,
sum of squares as dot, in-place commits) and once with ``passes=[]``, then called several
times with a changing batch size and input layout. After every step the outputs and every
param (optimiser state included) are compared with ``gc.evaluate`` of the update values,
and the arrays returned by earlier calls must be unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc

pytestmark = pytest.mark.fuzz

RTOL, ATOL = 1e-12, 1e-13
LOSSES = ["mse", "sum_sq", "cross_entropy", "abs_mean"]
OPTIMISERS = ["sgd", "momentum", "nesterov", "adam"]


def _optimiser(kind: str, lr: float):
    if kind == "sgd":
        return gc.optim.SGD(lr)
    if kind == "momentum":
        return gc.optim.SGD(lr, momentum=0.9)
    if kind == "nesterov":
        return gc.optim.SGD(lr, momentum=0.5, nesterov=True)
    return gc.optim.Adam(lr)


@st.composite
def steps(draw):
    n_in = draw(st.integers(1, 4))
    hidden = draw(st.lists(st.integers(1, 6), min_size=0, max_size=2))
    loss = draw(st.sampled_from(LOSSES))
    n_out = draw(st.integers(2, 3)) if loss == "cross_entropy" else draw(st.integers(1, 3))
    act = draw(st.sampled_from(["tanh", "relu", "sigmoid"]))
    opt = draw(st.sampled_from(OPTIMISERS))
    batches = draw(st.lists(st.sampled_from([1, 2, 7]), min_size=2, max_size=4))
    layouts = draw(st.lists(st.sampled_from(["C", "F", "strided", "list"]),
                            min_size=len(batches), max_size=len(batches)))
    seed = draw(st.integers(0, 2**16))
    return n_in, hidden, n_out, act, loss, opt, batches, layouts, seed


def _build(n_in, hidden, n_out, act, loss_kind, opt_kind, seed):
    g = gc.Graph("train")
    x = g.input("x", ("B", n_in))
    mlp = gc.nn.MLP([n_in, *hidden, n_out], activation=act)
    pred = mlp(x)
    if loss_kind == "cross_entropy":
        y = g.input("y", ("B",), dtype=np.int64)
        loss = gc.nn.cross_entropy(pred, y)
    else:
        y = g.input("y", ("B", n_out))
        d = pred - y
        loss = {"mse": lambda: gc.nn.mse_loss(pred, y), "sum_sq": lambda: gc.sum(d * d),
                "abs_mean": lambda: gc.mean(gc.abs(d))}[loss_kind]()
    rng = np.random.default_rng(seed)
    for name in g.params:  # seeded values, so that a failure reproduces
        g.params[name][...] = rng.standard_normal(g.params[name].shape) * 0.5
    ups = _optimiser(opt_kind, 0.05).updates(loss, list(mlp.parameters()))
    return g, x, y, loss, pred, ups


def _layout(a: np.ndarray, how: str):
    if how == "F":
        return np.asfortranarray(a)
    if how == "strided":
        wide = np.zeros((a.shape[0], 2) + a.shape[1:], a.dtype)
        wide[:, 0] = a
        return wide[:, 0]
    if how == "list":
        return a.tolist()
    return a


@given(steps())
@settings(max_examples=max(12, settings.default.max_examples // 4))
def test_compiled_training_step_equals_unoptimised_and_evaluate(case):
    n_in, hidden, n_out, act, loss_kind, opt_kind, batches, layouts, seed = case
    g, x, y, loss, pred, ups = _build(n_in, hidden, n_out, act, loss_kind, opt_kind, seed)
    outs = [loss, pred]
    fast = gc.compile(outs, inputs=[x, y], updates=ups)
    plain = gc.compile(outs, inputs=[x, y], updates=ups, passes=[])
    rng = np.random.default_rng(seed + 1)
    held: list[tuple[np.ndarray, np.ndarray]] = []
    for B, how in zip(batches, layouts):
        xv = rng.standard_normal((B, n_in))
        yv = (rng.integers(0, n_out, B) if loss_kind == "cross_entropy"
              else rng.standard_normal((B, n_out)))
        before = {k: v.copy() for k, v in g.params.items()}
        feed = {x: xv, y: yv}
        want = gc.evaluate(outs, feed)
        want_params = dict(zip((p.name for p in ups), gc.evaluate(list(ups.values()), feed)))
        results = {}
        for name, f in (("plain", plain), ("fast", fast)):
            for k, v in before.items():
                g.params[k][...] = v
            got = f(_layout(xv, how), _layout(yv, how) if loss_kind != "cross_entropy" else yv)
            for a, w in zip(got, want):
                np.testing.assert_allclose(a, w, rtol=RTOL, atol=ATOL, err_msg=name)
            results[name] = {k: v.copy() for k, v in g.params.items()}
            held.append((got[1], got[1].copy()))
        for k, w in want_params.items():
            for name, params in results.items():
                np.testing.assert_allclose(params[k], w, rtol=RTOL, atol=ATOL,
                                           err_msg=f"{name}: param {k} (B={B})")
        untouched = set(g.params) - set(want_params)
        for k in untouched:
            np.testing.assert_array_equal(g.params[k], before[k])
    for a, copy in held:  # returned arrays are never overwritten by later calls
        np.testing.assert_array_equal(a, copy)
