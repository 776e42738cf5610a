"""Property-based tests of the numba backend against the numpy backend and ``gc.evaluate``:
the random programs of ``tests/fuzz/test_random_graphs.py`` (one compiled Function at two
batch sizes) and the random training steps of ``tests/fuzz/test_training_steps.py``.

Elementwise arithmetic and transcendentals are bit-identical to the numpy backend's
(``docs/guide/numba.md``), so a program without reductions or matmuls is compared bit for
bit; native sums and matmuls accumulate in another order than numpy's, so the rest is
compared to rounding. numba JIT costs seconds per new program (the cache is cold in each
test session): the default run draws a few programs from a fixed seed (repeatable), the long
profile (``bash dev.sh fuzz``) draws many at random.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.backend.numba import NumbaBackend
from tests.fuzz.test_random_graphs import _bind, build, programs
from tests.fuzz.test_training_steps import _build, _layout, steps

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")]

RTOL, ATOL = 1e-12, 1e-12
_LONG = os.environ.get("HYPOTHESIS_PROFILE", "ci") == "long"


def _settings(n: int):
    """``n`` examples from a fixed seed in the default run; a fifth of the profile's examples,
    at random, in the long one. No explain phase: it would compile hundreds of variants of a
    failing program (the shrink phase still finds a minimal one)."""
    return settings(max_examples=max(n, settings.default.max_examples // 5) if _LONG else n,
                    derandomize=not _LONG, deadline=None,
                    phases=[p for p in Phase if p != Phase.explain],
                    suppress_health_check=[HealthCheck.too_slow])


def _exact_values(n_leaves: int, steps) -> list[bool]:
    """For each value of the program (its leaves, then one per step): whether it is computed
    without a sum, mean or matmul, so that the numba backend's value is bit-identical."""
    exact = [True] * n_leaves
    for s in steps:
        operands = {"unary": s[2:3], "binary": s[2:4], "reduce": s[2:3], "matmul": s[1:2]}[s[0]]
        accumulates = s[0] == "matmul" or (s[0] == "reduce" and s[1] != "max")
        exact.append(not accumulates and all(exact[j] for j in operands))
    return exact


@given(programs(), st.integers(0, 2**31 - 1), st.booleans())
@_settings(12)
def test_random_program_equals_numpy_backend_and_evaluate(prog, seed, every_value):
    """The loss of a random program, and its last value (or every value it computes: kept
    values leave the fused loop nests through buffers), at B = 1 and 3 through one
    Function, with either backend and ``gc.evaluate``; the values computed without a sum or
    matmul bit for bit."""
    leaves, steps = prog
    rng = np.random.default_rng(seed)
    g, ts, values, out, _ = build(leaves, steps, rng)
    kept = list(range(len(leaves), len(ts))) if every_value else [len(ts) - 1]
    exact = [False] + [_exact_values(len(leaves), steps)[i] for i in kept]
    outs = [out, *(ts[i] for i in kept)]
    inputs = [t for t in ts[: len(leaves)] if t.node.role == "input"]
    f_np = gc.compile(outs, inputs=inputs)
    f_nb = gc.compile(outs, inputs=inputs, backend="numba")
    for B in (1, 3):
        feed = {t: rng.standard_normal(_bind(s, B)) for t, s, v in zip(ts, leaves, values)
                if v is None}
        want = f_np(*feed.values())
        got = f_nb(*feed.values())
        ref = gc.evaluate(outs, feed)
        for k, (u, v, e) in enumerate(zip(want, got, ref, strict=True)):
            label = f"output {k} at B={B}\n{f_nb.plan.describe()}\n{f_nb.source}"
            assert v.dtype == u.dtype and v.shape == u.shape, label
            if exact[k]:
                np.testing.assert_array_equal(v, u, err_msg="not bit-identical: " + label)
            np.testing.assert_allclose(v, u, rtol=RTOL, atol=ATOL, err_msg="numpy: " + label)
            np.testing.assert_allclose(v, e, rtol=RTOL, atol=ATOL, err_msg="evaluate: " + label)


@given(steps())
@_settings(2)
def test_random_training_step_equals_numpy_backend(case):
    _check_training_step(case)


@pytest.mark.slow
@given(steps())
@_settings(5)
def test_more_random_training_steps(case):
    _check_training_step(case)


def _check_training_step(case):
    """A random MLP training step (loss, activation, optimiser), called with a changing batch
    size and input layout: from the same params, the numba step's outputs and updated params
    (optimiser state included) are the numpy step's, and earlier results stay unchanged."""
    n_in, hidden, n_out, act, loss_kind, opt_kind, batches, layouts, seed = case
    g, x, y, loss, pred, ups = _build(n_in, hidden, n_out, act, loss_kind, opt_kind, seed)
    outs = [loss, pred]
    f_np = gc.compile(outs, inputs=[x, y], updates=ups)
    f_nb = gc.compile(outs, inputs=[x, y], updates=ups, backend="numba")
    rng = np.random.default_rng(seed + 1)
    held = []
    for step, (B, how) in enumerate(zip(batches, layouts)):
        xv = rng.standard_normal((B, n_in))
        yv = (rng.integers(0, n_out, B) if loss_kind == "cross_entropy"
              else rng.standard_normal((B, n_out)))
        args = (_layout(xv, how), yv if loss_kind == "cross_entropy" else _layout(yv, how))
        before = {k: v.copy() for k, v in g.params.items()}
        results = {}
        for name, f in (("numpy", f_np), ("numba", f_nb)):
            for k, v in before.items():
                g.params[k][...] = v
            got = f(*args)
            results[name] = [a.copy() for a in got], {k: v.copy() for k, v in g.params.items()}
            held.append((got[1], got[1].copy()))
        (o_np, p_np), (o_nb, p_nb) = results["numpy"], results["numba"]
        label = f"step {step} (B={B}, {how})\n{f_nb.plan.describe()}"
        for u, v in zip(o_np, o_nb, strict=True):
            assert v.dtype == u.dtype and v.shape == u.shape, label
            np.testing.assert_allclose(v, u, rtol=RTOL, atol=1e-13, err_msg=label)
        assert p_nb.keys() == p_np.keys()
        for k in p_np:
            np.testing.assert_allclose(p_nb[k], p_np[k], rtol=1e-11, atol=1e-13,
                                       err_msg=f"param {k}, {label}")
        assert any(not np.array_equal(p_nb[k], before[k]) for k in p_nb), "no param changed"
    for a, copy in held:  # returned arrays are never overwritten by later calls
        np.testing.assert_array_equal(a, copy)


# Programs over values of shape (B, 6) mixing nodes the backend lowers natively with nodes
# it leaves to numpy's line (indexing, concatenate, integer and bool ops, float32 casts, ...):
# (name, builder of the new value from two earlier ones a, b)
NATIVE = [
    ("tanh", lambda a, b: gc.tanh(a)),
    ("affine", lambda a, b: a * 1.5 - 0.25),
    ("multiply", lambda a, b: a * b),
    ("add_square", lambda a, b: a + gc.square(b)),
    ("divide", lambda a, b: a / (1.0 + b * b)),
    ("exp_tanh", lambda a, b: gc.exp(gc.tanh(a))),
    ("log_sqrt", lambda a, b: gc.log(gc.sqrt(2.0 + gc.tanh(a)))),
    ("relu", lambda a, b: gc.relu(a)),
]
NUMPY_ONLY = [
    ("flip", lambda a, b: a[:, ::-1]),
    ("rotate", lambda a, b: gc.concatenate([a[:, 2:], a[:, :2]], axis=1)),
    ("where", lambda a, b: gc.where(a > b, a, b * 0.5)),  # the comparison: a numpy line
    ("pick", lambda a, b: a * gc.take_along_axis(b, gc.argmax(a, axis=1)[:, None], axis=1)),
    ("integer", lambda a, b: gc.astype(gc.remainder(gc.astype(a * 4.0, np.int64), 3),
                                       np.float64) + b),
    ("cumsum", lambda a, b: gc.cumsum(a, axis=1) * 0.5),
    ("row_max", lambda a, b: a - gc.max(a, axis=1, keepdims=True)),
    ("float32", lambda a, b: gc.astype(gc.tanh(gc.astype(a, np.float32) * np.float32(2.0)),
                                       np.float64)),
]


@st.composite
def mixed_programs(draw):
    """At least one native and one numpy-only step, in a random order, each reading one or
    two earlier values (the input, a param, or a step's value)."""
    names = (draw(st.lists(st.sampled_from([n for n, _ in NATIVE]), min_size=1, max_size=4))
             + draw(st.lists(st.sampled_from([n for n, _ in NUMPY_ONLY]), min_size=1,
                             max_size=3)))
    names = draw(st.permutations(names))
    return [(name, draw(st.integers(0, k + 1)), draw(st.integers(0, k + 1)))
            for k, name in enumerate(names)]


def _mixed(prog, seed: int):
    """The program as a graph: its input x (B, 6), its values, and its outputs: the loss, every
    value, and the loss's gradients with respect to x and the param."""
    builders = dict(NATIVE + NUMPY_ONLY)
    g = gc.Graph("mixed")
    x = g.input("x", ("B", 6))
    p = g.param("p", np.random.default_rng(seed).standard_normal(6))
    ts = [x, x * 0.0 + p]  # the param as a (B, 6) value
    for name, a, b in prog:
        ts.append(builders[name](ts[a], ts[b]))
    values = ts[2:]
    loss = gc.sum(values[-1] * values[-1]) + gc.sum(values[-1])
    return g, x, values, [loss, *values, *gc.grad(loss, [x, p])]


def _compare_mixed(f_np, f_nb, x, outs, n_values, feeds):
    """The numba Function's results equal the numpy backend's (the values bit for bit: no
    native sum or matmul computes them) and ``gc.evaluate``'s, for each value of x."""
    for X in feeds:
        want, got = f_np(X), f_nb(X)
        ref = gc.evaluate(outs, {x: X})
        for k, (u, v, e) in enumerate(zip(want, got, ref, strict=True)):
            label = f"output {k} at B={X.shape[0]}\n{f_nb.plan.describe()}\n{f_nb.source}"
            assert v.dtype == u.dtype and v.shape == u.shape, label
            if 1 <= k <= n_values:
                np.testing.assert_array_equal(v, u, err_msg="not bit-identical: " + label)
            np.testing.assert_allclose(v, u, rtol=RTOL, atol=ATOL, err_msg="numpy: " + label)
            np.testing.assert_allclose(v, e, rtol=RTOL, atol=ATOL, err_msg="evaluate: " + label)


@given(mixed_programs(), st.integers(0, 2**16))
@_settings(3)
def test_program_mixing_native_and_numpy_nodes(prog, seed):
    _check_mixed(prog, seed)


@pytest.mark.slow
@given(mixed_programs(), st.integers(0, 2**16))
@_settings(6)
def test_more_programs_mixing_native_and_numpy_nodes(prog, seed):
    _check_mixed(prog, seed)


def _check_mixed(prog, seed):
    """The random mixed program at B = 1 and 3 through one Function: both kinds of body node
    are there, and the results are the numpy backend's and ``gc.evaluate``'s."""
    g, x, values, outs = _mixed(prog, seed)
    f_np = gc.compile(outs, [x])
    f_nb = gc.compile(outs, [x], backend="numba")
    plan = f_nb.plan
    body = [i for i in plan.memory.order if i not in plan.memory.tail]
    assert any(i in plan.kinds for i in body), plan.describe()
    assert any(i not in plan.kinds for i in body), plan.describe()
    rng = np.random.default_rng(seed)
    _compare_mixed(f_np, f_nb, x, outs, len(values), [rng.standard_normal((B, 6)) for B in (1, 3)])


def test_numpy_nodes_between_native_regions():
    """tanh chains with slicing, concatenate and an integer op between them: native regions
    with numpy's lines between, one Function for B = 1, 3 and 2."""
    prog = [("tanh", 0, 1), ("affine", 2, 0), ("rotate", 3, 0), ("multiply", 4, 2),
            ("integer", 5, 3), ("exp_tanh", 6, 0), ("pick", 7, 4), ("tanh", 8, 0)]
    g, x, values, outs = _mixed(prog, 0)
    f_np = gc.compile(outs, [x])
    f_nb = gc.compile(outs, [x], backend="numba")
    rng = np.random.default_rng(1)
    _compare_mixed(f_np, f_nb, x, outs, len(values),
                   [rng.standard_normal((B, 6)) for B in (1, 3, 2)])
    driver = f_nb.source.split("# native kernels")[0]
    assert "region_1(" in driver and "concatenate" in driver, driver


UNARY_LOOPS = ["tanh", "exp", "sin", "cos", "tan", "arctan", "sinh", "cosh", "arcsinh",
               "expm1", "exp2", "cbrt"]  # any real input (at most |x| of about 5 here)
UNIT_LOOPS = ["arcsin", "arccos", "arctanh", "log1p"]  # inputs in (-0.9, 0.9)
POSITIVE_LOOPS = ["log", "log2", "log10", "sqrt"]  # inputs in (0.6, 2.4)


@pytest.mark.parametrize("dtype", [np.float64, pytest.param(np.float32, marks=pytest.mark.slow)])
def test_elementwise_ops_are_bit_identical(dtype):
    """Every native elementwise op (arithmetic, and the transcendentals through numpy's own
    loops), on operands broadcast several ways and in fused chains, gives the numpy
    backend's values bit for bit (one program: one compile, serial kernels: their JIT with
    parallel loop nests took minutes on a loaded 2-core machine)."""
    rng = np.random.default_rng(0)
    g = gc.Graph("elementwise")
    x = g.input("x", ("B", 3, 4), dtype)
    y = g.input("y", ("B", 1, 4), dtype)
    p = g.param("p", rng.standard_normal((3, 1)).astype(dtype))
    q = g.param("q", rng.standard_normal(4).astype(dtype))
    unit = gc.tanh(x) * dtype(0.9)
    positive = gc.tanh(y - p) * dtype(0.9) + dtype(1.5)
    outs = []
    for a, b in [(x, y), (p, x), (q, y)]:
        outs += [a + b, a - b, a * b, a / (dtype(0.5) + gc.square(b)), -a, gc.abs(b)]
    outs += [getattr(gc, op)(x) for op in UNARY_LOOPS]
    outs += [getattr(gc, op)(unit) for op in UNIT_LOOPS]
    outs += [getattr(gc, op)(positive) for op in POSITIVE_LOOPS]
    chain = gc.tanh(gc.exp(unit) * y - p)
    outs += [chain, gc.sqrt(gc.log(positive) * chain + dtype(2.0)) / (q * q + dtype(1.0))]
    inputs = [x, y]
    f_np = gc.compile(outs, inputs)
    # serial kernels: this test is about the arithmetic (test_numba_threads: the same bits)
    f_nb = gc.compile(outs, inputs, backend=NumbaBackend(threads=False))
    assert len(f_nb.plan.kinds) >= len(outs), f_nb.plan.describe()
    for B in (1, 3):
        X = (2 * rng.standard_normal((B, 3, 4))).astype(dtype)
        Y = rng.standard_normal((B, 1, 4)).astype(dtype)
        for k, (u, v) in enumerate(zip(f_np(X, Y), f_nb(X, Y), strict=True)):
            assert v.dtype == u.dtype == dtype and v.shape == u.shape, k
            np.testing.assert_array_equal(v, u, err_msg=f"output {k} at B={B}: "
                                          f"{outs[k].node.op}")
