"""Aliasing and commit edge cases found in review: each test failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc


def test_a_scalar_picked_from_a_buffer_is_read_at_each_call():
    """``h[0, 1]`` is a numpy scalar (a copy), not a view: it cannot be hoisted per binding."""
    rng = np.random.default_rng(0)
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", rng.standard_normal((3, 3)))
    h = gc.tanh(x @ W)
    o = h[0, 1] * 2.0
    e = gc.exp(x[:, 0])
    f = gc.compile([o, e[1] + e[0] * 1.5], inputs=[x])
    for B in (2, 2, 3, 2):
        xv = rng.standard_normal((B, 3))
        for got, want in zip(f(xv), gc.evaluate([o, e[1] + e[0] * 1.5], {x: xv})):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_one_value_for_two_params():
    g = gc.Graph()
    x = g.input("x", (3,))
    W1 = g.param("W1", np.ones(3))
    W2 = g.param("W2", np.zeros(3))
    v = W1 - x
    f = gc.compile(gc.sum(x), inputs=[x], updates={W1: v, W2: v})
    f(np.full(3, 0.25))
    np.testing.assert_array_equal(g.params["W1"], 0.75)
    np.testing.assert_array_equal(g.params["W2"], 0.75)


def test_one_node_as_two_outputs_and_two_updates():
    g = gc.Graph()
    x = g.input("x", (3,))
    W = g.param("W", np.ones(3))
    V = g.param("V", np.ones(3))
    v = W - x
    f = gc.compile([v, v], inputs=[x], updates={W: v, V: v})
    a, b = f(np.ones(3))
    np.testing.assert_array_equal(g.params["W"], 0.0)
    np.testing.assert_array_equal(g.params["V"], 0.0)
    assert not np.shares_memory(a, b)


@pytest.mark.parametrize("passes", [None, []])
def test_update_of_a_param_that_nothing_reads(passes):
    """The new value does not read the param (a reset): the param must still be loaded."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((2, 2)))
    V = g.param("V", np.ones(2))
    f = gc.compile(gc.sum(x), inputs=[x], passes=passes,
                   updates={W: gc.broadcast_to(g.constant(3.0), (2, 2)), V: gc.sum(x, axis=0)[:2]})
    f(np.ones((4, 3)))
    np.testing.assert_array_equal(g.params["W"], 3.0)
    np.testing.assert_array_equal(g.params["V"], 4.0)


@pytest.mark.parametrize("memory", [True, False])
def test_returned_arrays_never_share_memory_with_each_other(memory):
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    h = gc.softmax(x, axis=1)  # no out= form: a fresh array
    t = gc.tanh(x)
    outs = [h, gc.reshape(h, ("B", 2, 2)), h.T, t, t.T, t[:, 0]]
    f = gc.compile(outs, inputs=[x], passes={"memory": memory})
    got = f(np.ones((3, 4)))
    for k, a in enumerate(got):
        for b in got[k + 1:]:
            assert not np.shares_memory(a, b)


@pytest.mark.parametrize("memory", [True, False])
def test_a_broadcast_output_is_a_writable_array_of_its_own(memory):
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    s = gc.softmax(gc.sum(x, axis=0), axis=0)  # fresh, (3,)
    o = gc.broadcast_to(s, ("B", 3))
    f = gc.compile(o, inputs=[x], passes={"memory": memory})
    a = f(np.ones((2, 3)))
    assert a.flags.writeable and a.strides[0] != 0
    a[0, 0] = 5.0
    assert a[1, 0] != 5.0


def test_a_deep_graph_compiles_in_linear_time():
    """simplify's "is this value static" walked every ancestor recursively: a RecursionError
    past ~1000 levels, and quadratic time below that."""
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    h = x
    for _ in range(1200):
        h = gc.tanh(h) * (h * 0.5)
    f = gc.compile(h, inputs=[x])
    xv = np.full((3, 2), 0.3)
    np.testing.assert_allclose(f(xv), gc.evaluate(h, {x: xv}), rtol=1e-12)
