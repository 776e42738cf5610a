"""Audit of the public entry points against bad input: each case must raise the contract's
exception (ShapeError / TypeError / ValueError) with a message naming what was wrong --
never an AttributeError, KeyError or IndexError from deep inside -- and change no state."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

import graphc as gc


def _graph():
    """A graph and the tensors the cases start from, all built before the failing call."""
    g = gc.Graph("audit")
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    h = x @ W
    sx = gc.sum(x)
    k = g.param("k", [1, 2], np.int64, trainable=False)
    return SimpleNamespace(g=g, k=k, x=x, W=W, h=h, s=gc.sum(h), sx=sx, sx_pos=sx > 0, c0=x > 0,
                           c1=x > 1, x3=gc.expand_dims(x, 0), W0=W[0],
                           bC=gc.broadcast_to(W[0, 0], ("C",)))


# (id, callable taking the namespace of _graph(), exception type, text the message must contain)
CASES = [
    # ------------------------------------------------------------------ graph builders
    ("input-bad-name", lambda t: t.g.input("", (3,)), TypeError, "name"),
    ("input-name-not-str", lambda t: t.g.input(3, (3,)), TypeError, "name"),
    ("input-duplicate", lambda t: t.g.input("x", (3,)), ValueError, "'x'"),
    ("param-duplicates-input", lambda t: t.g.param("x", 1.0), ValueError, "'x'"),
    ("input-negative-dim", lambda t: t.g.input("z", (-1, 3)), gc.ShapeError, "negative"),
    ("input-float-dim", lambda t: t.g.input("z", (2.5,)), gc.ShapeError, "2.5"),
    ("input-bool-dim", lambda t: t.g.input("z", (True,)), gc.ShapeError, "bool"),
    ("input-bad-symbol", lambda t: t.g.input("z", ("B C",)), gc.ShapeError, "dim expression"),
    ("input-symbol-injection", lambda t: t.g.input("z", ("B\nimport os",)), gc.ShapeError,
     "dim expression"),
    ("input-dim-divided-by-symbol", lambda t: t.g.input("z", ("B//T",)), gc.ShapeError,
     "positive int"),
    ("input-shape-not-tuple", lambda t: t.g.input("z", 3.5), gc.ShapeError, "3.5"),
    ("input-string-dtype", lambda t: t.g.input("z", (3,), dtype=str), TypeError, "dtype"),
    ("input-object-dtype", lambda t: t.g.input("z", (3,), dtype=object), TypeError, "object"),
    ("input-complex-dtype", lambda t: t.g.input("z", (3,), dtype=complex), TypeError,
     "complex"),
    ("input-not-a-dtype", lambda t: t.g.input("z", (3,), dtype="nope"), TypeError, "nope"),
    ("param-strings", lambda t: t.g.param("s", ["a", "b"]), TypeError, "param 's'"),
    ("param-objects", lambda t: t.g.param("o", [object()]), TypeError, "param 'o'"),
    ("param-int-dtype-trainable", lambda t: t.g.param("i", [1, 2], dtype=np.int64),
     TypeError, "float"),
    ("constant-strings", lambda t: t.g.constant("abc"), TypeError, "dtype"),
    ("constant-of-tensor", lambda t: t.g.constant(t.x), TypeError, "Tensor"),
    ("output-not-tensor", lambda t: t.g.output("o", 3), TypeError, "Tensor"),
    ("output-duplicate", lambda t: t.g.output("W", t.x), ValueError, "'W'"),
    ("getitem-missing-name", lambda t: t.g["nope"], KeyError, "nope"),
    ("graph-name-not-str", lambda t: gc.Graph(3), TypeError, "name"),
    # -------------------------------------------------------------------------- ops
    ("add-string", lambda t: t.x + "a", TypeError, "add"),
    ("add-object", lambda t: t.x + object(), TypeError, "add"),
    ("add-no-tensor", lambda t: gc.add(1, 2), TypeError, "Tensor"),
    ("add-shapes", lambda t: t.x + np.ones(4), gc.ShapeError, "(B, 3)"),
    ("matmul-mismatch", lambda t: t.W @ t.x, gc.ShapeError, "matmul"),
    ("matmul-scalar", lambda t: gc.matmul(t.x, 2.0), gc.ShapeError, "0-d"),
    ("sum-bad-axis", lambda t: t.x.sum(axis=2), gc.ShapeError, "axis 2"),
    ("sum-axis-not-int", lambda t: t.x.sum(axis="a"), gc.ShapeError, "'a'"),
    ("sum-repeated-axis", lambda t: t.x.sum(axis=(0, 0)), gc.ShapeError, "repeats"),
    ("softmax-bad-axis", lambda t: gc.softmax(t.x, axis=5), gc.ShapeError, "axis 5"),
    ("reshape-numel", lambda t: t.x.reshape(("B", 4)), gc.ShapeError, "reshape"),
    ("reshape-two-holes", lambda t: t.x.reshape((-1, -1)), gc.ShapeError, "-1"),
    ("reshape-inexact-hole", lambda t: t.x.reshape((-1, 2)), gc.ShapeError, "whole multiple"),
    ("reshape-symbolic-count", lambda t: t.x.reshape((t.x.shape[0], 4)), gc.ShapeError,
     "elements"),
    ("reshape-negative", lambda t: t.W.reshape((-2, 3)), gc.ShapeError, "negative"),
    ("transpose-not-perm", lambda t: gc.transpose(t.x, (0, 0)), gc.ShapeError,
     "permutation"),
    ("T-3d", lambda t: t.x3.T, gc.ShapeError, ".mT"),
    ("swapaxes-range", lambda t: gc.swapaxes(t.x, 0, 3), gc.ShapeError, "axis2"),
    ("squeeze-symbolic", lambda t: gc.squeeze(t.x, 0), gc.ShapeError, "symbolic"),
    ("squeeze-not-one", lambda t: gc.squeeze(t.W, 0), gc.ShapeError, "not 1"),
    ("broadcast_to-smaller", lambda t: gc.broadcast_to(t.x, (3,)), gc.ShapeError,
     "lower-rank"),
    ("broadcast_to-bad", lambda t: gc.broadcast_to(t.W, (3, 5)), gc.ShapeError, "(3, 2)"),
    ("concatenate-empty", lambda t: gc.concatenate([]), TypeError, "non-empty"),
    ("concatenate-rank", lambda t: gc.concatenate([t.x, t.W0], axis=0), gc.ShapeError,
     "rank"),
    ("concatenate-rank", lambda t: gc.concatenate([t.x, t.sx], axis=0), gc.ShapeError,
     "rank"),
    ("where-not-bool", lambda t: gc.where(t.x, t.x, t.x), TypeError, "bool"),
    ("getitem-too-many", lambda t: t.x[0, 0, 0], gc.ShapeError, "too many"),
    ("getitem-out-of-bounds", lambda t: t.x[:, 3], gc.ShapeError, "out of bounds"),
    ("getitem-slice-past-the-end", lambda t: t.x[t.x.shape[0] + 1:], gc.ShapeError,
     "needs B >= B + 1"),
    ("getitem-dim-index", lambda t: t.x[t.x.shape[0] - 1], TypeError, "symbolic axis"),
    ("getitem-tensor", lambda t: t.x[t.x], TypeError, "take_along_axis"),
    ("getitem-float", lambda t: t.x[0.5], TypeError, "0.5"),
    ("getitem-zero-step", lambda t: t.W[::0], gc.ShapeError, "zero"),
    ("softmax-int", lambda t: gc.softmax(t.k),
     TypeError, "float"),
    ("apply-arity", lambda t: t.g.apply("tanh", [t.x, t.x]), TypeError, "1 operand"),
    ("apply-unknown-attr", lambda t: t.g.apply("add", [t.x, t.x], {"evil": "x"}), TypeError,
     "evil"),
    ("apply-unknown-op", lambda t: t.g.apply("nope", [t.x]), ValueError, "unknown op"),
    ("take-float-indices", lambda t: gc.take_along_axis(t.x, t.x, 1), TypeError, "integers"),
    ("astype-string", lambda t: t.x.astype(str), TypeError, "dtype"),
    ("subtract-bools", lambda t: t.c0 - t.c1, TypeError, "subtract"),
    ("two-graphs", lambda t: t.x + gc.Graph().input("y", (3,)), ValueError, "two graphs"),
    ("iterate-tensor", lambda t: list(t.x), TypeError, "iterated"),
    ("bool-tensor", lambda t: bool(t.c0), TypeError, "truth value"),
    # ------------------------------------------------------------------------- grad
    ("grad-nonscalar", lambda t: gc.grad(t.h, [t.W]), gc.ShapeError, "scalar"),
    ("grad-xs-not-list", lambda t: gc.grad(t.s, t.W), TypeError, "list"),
    ("grad-int-x", lambda t: gc.grad(t.sx, [t.g.input("i", (3,), np.int64)]),
     TypeError, "int64"),
    ("grad-bool-y", lambda t: gc.grad(t.sx_pos, [t.W]), TypeError, "bool"),
    ("grad-bad-seed", lambda t: gc.grad(t.h, [t.W], seed=np.ones(3)), gc.ShapeError,
     "seed"),
    ("grad-other-graph", lambda t: gc.grad(t.sx, [gc.Graph().param("V", 1.0)]),
     ValueError, "two graphs"),
    # ---------------------------------------------------------------------- compile
    ("compile-not-tensor", lambda t: gc.compile(3), TypeError, "Tensor"),
    ("compile-empty", lambda t: gc.compile([]), TypeError, "non-empty"),
    ("compile-missing-input", lambda t: gc.compile(t.h, inputs=[]), TypeError, "'x'"),
    ("compile-input-not-input", lambda t: gc.compile(t.h, inputs=[t.W]), TypeError,
     "not a graph input"),
    ("compile-input-twice", lambda t: gc.compile(t.h, inputs=[t.x, t.x]), ValueError, "twice"),
    ("compile-update-not-param", lambda t: gc.compile(t.h, updates={t.x: t.x}), TypeError,
     "not a param"),
    ("compile-update-number", lambda t: gc.compile(t.h, updates={t.W: 0.0}), gc.ShapeError,
     "'W'"),
    ("compile-update-shape", lambda t: gc.compile(t.h, updates={t.W: t.sx}),
     gc.ShapeError, "'W'"),
    ("compile-unbound-symbol", lambda t: gc.compile(t.bC),
     gc.ShapeError, "C"),
    # --------------------------------------------------------------------- evaluate
    ("evaluate-missing", lambda t: gc.evaluate(t.h, {}), TypeError, "'x'"),
    ("evaluate-unknown-name", lambda t: gc.evaluate(t.h, {"nope": 1}), TypeError, "nope"),
    ("evaluate-rank", lambda t: gc.evaluate(t.h, {t.x: np.ones(3)}), gc.ShapeError,
     "rank"),
    ("evaluate-dim", lambda t: gc.evaluate(t.h, {t.x: np.ones((2, 4))}), gc.ShapeError,
     "axis 1"),
    ("evaluate-strings", lambda t: gc.evaluate(t.h, {t.x: [["a"] * 3]}), TypeError, "'x'"),
    ("evaluate-ragged", lambda t: gc.evaluate(t.h, {t.x: [[1, 2, 3], [1]]}), TypeError,
     "'x'"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_error_and_changes_nothing(case):
    _, fn, exc, text = case
    t = _graph()
    g = t.g
    before = (len(g), dict(g.inputs), dict(g.outputs), {k: v.copy() for k, v in g.params.items()})
    with pytest.raises(exc) as info:
        fn(t)
    assert type(info.value) not in (AttributeError, IndexError) and (
        exc is KeyError or not isinstance(info.value, KeyError))
    assert text in str(info.value), str(info.value)
    # a failed call adds no node, input, output or param (cases that first declare a
    # new input or graph on purpose are listed)
    if case[0] not in DECLARES:
        assert len(g) == before[0], "a failed call left nodes behind"
        assert g.inputs.keys() == before[1].keys()
    assert g.outputs.keys() == before[2].keys()
    assert g.params.keys() == before[3].keys()
    assert all(np.array_equal(g.params[k], v) for k, v in before[3].items())


DECLARES = {"grad-int-x"}


def _call_cases():
    g = gc.Graph("calls")
    x = g.input("x", ("B", 3))
    y = g.input("y", ("B", 1))
    lab = g.input("lab", ("B",), dtype=np.int64)
    W = g.param("W", np.ones((3, 1)))
    loss = gc.mean((x @ W - y) ** 2) + gc.sum(lab.astype(np.float64)) * 0
    (gW,) = gc.grad(loss, [W])
    f = gc.compile(loss, inputs=[x, y, lab], updates={W: W - 0.1 * gW})
    ok = dict(x=np.ones((4, 3)), y=np.ones((4, 1)), lab=np.zeros(4, np.int64))
    cases = [
        ("missing", dict(x=ok["x"], y=ok["y"]), TypeError, "'lab'"),
        ("unexpected", dict(ok, z=1), TypeError, "'z'"),
        ("rank", dict(ok, y=np.ones(4)), gc.ShapeError, "'y'"),
        ("fixed-dim", dict(ok, x=np.ones((4, 2))), gc.ShapeError, "axis 1 must be 3"),
        ("symbol-two-sizes", dict(ok, y=np.ones((5, 1))), gc.ShapeError, "B"),
        ("float-labels", dict(ok, lab=np.zeros(4)), TypeError, "'lab'"),
        ("string-input", dict(ok, x=np.array([["a"] * 3] * 4)), TypeError, "'x'"),
        ("object-input", dict(ok, x=np.array([[object()] * 3] * 4)), TypeError, "'x'"),
        ("complex-input", dict(ok, x=np.ones((4, 3), complex)), TypeError, "'x'"),
        ("none-input", dict(ok, x=None), TypeError, "'x'"),
        ("tensor-input", dict(ok, x=x), TypeError, "'x'"),
    ]
    return g, f, ok, cases


def test_function_call_errors_name_the_input_and_leave_params_unchanged():
    g, f, ok, cases = _call_cases()
    for name, kwargs, exc, text in cases:
        before = g.params["W"].copy()
        with pytest.raises(exc) as info:
            f(**kwargs)
        assert text in str(info.value), (name, str(info.value))
        np.testing.assert_array_equal(g.params["W"], before, err_msg=name)
    # and the good call still works and updates
    before = g.params["W"].copy()
    f(**ok)
    assert not np.array_equal(g.params["W"], before)


def test_too_many_positional_arguments():
    g, f, ok, _ = _call_cases()
    with pytest.raises(TypeError, match="3 input"):
        f(ok["x"], ok["y"], ok["lab"], ok["lab"])


def test_batch_of_size_zero_works_like_numpy():
    """B = 0 is allowed: shapes bind to 0 and numpy's semantics apply (a sum is 0)."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    f = gc.compile([gc.sum(x @ W), x @ W])
    s, h = f(np.ones((0, 3)))
    assert s == 0 and h.shape == (0, 2)


def test_nan_parameters_propagate_and_do_not_crash():
    g = gc.Graph()
    x = g.input("x", ("B", 1))
    W = g.param("W", np.array([[np.nan]]))
    out = gc.compile(gc.sum(x * W))(np.ones((2, 1)))
    assert np.isnan(out)


def test_runtime_numpy_errors_name_the_node_and_the_user_line():
    """An integer label out of range fails inside numpy; the error names the op and the line
    that built it, compiled or evaluated -- a ValueError, never numpy's IndexError."""
    g = gc.Graph()
    z = g.input("z", ("B", 3))
    lab = g.input("lab", ("B",), dtype=np.int64)
    picked = gc.take_along_axis(z, gc.expand_dims(lab, 1), axis=1)  # the line named
    loss = gc.mean(picked)
    (gz,) = gc.grad(loss, [z])
    line = f"test_bad_input.py:{picked.node.loc.rsplit(':', 1)[1]}"
    f = gc.compile([loss, gz])
    bad = dict(z=np.ones((2, 3)), lab=np.array([0, 3]))
    for run in (lambda: f(**bad), lambda: gc.evaluate([loss, gz], bad)):
        with pytest.raises(ValueError) as info:
            run()
        assert not isinstance(info.value, IndexError)
        assert "take_along_axis" in str(info.value) and line in str(info.value)
        assert isinstance(info.value.__cause__, IndexError)
    # binding errors keep their own type and message
    with pytest.raises(gc.ShapeError, match="input 'lab'"):
        f(z=np.ones((2, 3)), lab=np.zeros(3, np.int64))
    assert f(z=np.ones((2, 3)), lab=np.array([0, 2]))[0] == 1.0


def test_array_subclasses_masked_refused_others_as_base_arrays():
    """A MaskedArray's mask was ignored and the result came back masked; np.matrix came back
    as a matrix."""
    g = gc.Graph("s")
    x = g.input("x", ("B", 2))
    f = gc.compile(x * 2.0, [x])
    with pytest.raises(TypeError, match="masked array.*filled"):
        f(np.ma.masked_array(np.ones((2, 2)), mask=[[0, 1], [0, 0]]))
    with pytest.raises(TypeError, match="masked array"):
        gc.evaluate(x * 2.0, {x: np.ma.masked_array(np.ones((2, 2)))})
    with pytest.warns(PendingDeprecationWarning):
        m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    out = f(m)
    assert type(out) is np.ndarray and out.shape == (2, 2)
    np.testing.assert_array_equal(out, np.asarray(m) * 2.0)
    h = gc.compile(gc.sum(x * x), [x], check_finite=True)
    assert type(h(m)) is np.ndarray and float(h(m)) == 30.0
