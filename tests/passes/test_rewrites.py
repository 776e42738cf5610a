"""Each pass and each simplification rule, checked by comparing the whole rewritten graph with
a hand-built expected graph (printed IR, which shows every node, attribute, shape and dtype)."""

import numpy as np
import pytest

import graphc as gc
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.fold import fold_constants
from graphc.passes.simplify import RULES, simplify


def run(pass_fn, g):
    """The pass, then dce (rewrites leave replaced nodes behind for dce to remove)."""
    g2, m = pass_fn(g)
    if pass_fn is not dce:
        g2, m2 = dce(g2)
        m = {k: m2[v] for k, v in m.items() if v in m2}
    return g2, m


def assert_same(got, want):
    assert str(got) == str(want), f"\n--- got\n{got}\n--- want\n{want}"


# ------------------------------------------------------------------------------- dce, cse


def test_dce_drops_what_no_output_needs_and_keeps_inputs():
    g = gc.Graph("t")
    x = g.input("x", ("B", 3))
    unused = g.input("u", (2,))
    gc.exp(x)  # dead
    g.output("y", gc.tanh(x))
    del unused
    want = gc.Graph("t")
    wx = want.input("x", ("B", 3))
    want.input("u", (2,))
    want.output("y", gc.tanh(wx))
    got, m = dce(g)
    assert_same(got, want)
    assert m[g["y"].id] == got["y"].id and 2 not in m


def test_cse_merges_equal_ops_and_equal_constants():
    g = gc.Graph("t")
    x = g.input("x", ("B", 3))
    a = gc.tanh(x) * 2.0
    b = gc.tanh(x) * 2.0
    g.output("y", a + b)
    want = gc.Graph("t")
    wx = want.input("x", ("B", 3))
    t = gc.tanh(wx) * 2.0
    want.output("y", t + t)
    got, _ = run(cse, g)
    assert_same(got, want)


def test_cse_never_merges_params_or_different_attributes():
    g = gc.Graph("t")
    x = g.input("x", (2, 3))
    w1 = g.param("w1", np.ones(3))
    w2 = g.param("w2", np.ones(3))
    g.output("y", (x * w1).sum(axis=0) + (x * w2).sum(axis=1).sum())
    got, _ = run(cse, g)
    assert_same(got, g)
    assert got.params is g.params  # updates must land in the user's arrays


# ---------------------------------------------------------------------------------- fold


def test_fold_computes_constant_subgraphs_with_numpy_semantics():
    g = gc.Graph("t")
    x = g.input("x", ("B", 3))
    c = g.constant(np.array([1.0, 4.0, 9.0]))
    g.output("y", x * gc.sqrt(c) + gc.log(g.constant(0.0)))
    got, _ = run(fold_constants, g)
    want = gc.Graph("t")
    wx = want.input("x", ("B", 3))
    want.output("y", wx * want.constant(np.array([1.0, 2.0, 3.0]))
                + want.constant(-np.inf))
    assert_same(got, want)
    consts = [n.value for n in got.nodes if n.role == "constant"]
    np.testing.assert_array_equal(consts[0], [1.0, 2.0, 3.0])
    assert consts[1] == -np.inf  # log(0): what numpy gives at run time, kept


def test_fold_leaves_symbolic_shapes_and_numel_alone():
    g = gc.Graph("t")
    x = g.input("x", ("B", 3))
    g.output("y", gc.broadcast_to(g.constant(1.0), ("B", 3)) + gc.mean(x))
    got, _ = run(fold_constants, g)
    assert_same(got, g)


# ------------------------------------------------------------------------------ simplify


def graph_xy(shape=("B", 3)):
    g = gc.Graph("t")
    return g, g.input("x", shape)


CASES = {
    "mul_one": (lambda x: x * 1.0, lambda x: x),
    "mul_one_left": (lambda x: 1.0 * x, lambda x: x),
    "div_one": (lambda x: x / 1.0, lambda x: x),
    "add_zero": (lambda x: x + 0.0, lambda x: x),
    "sub_zero": (lambda x: x - 0.0, lambda x: x),
    "neg_neg": (lambda x: gc.negative(gc.negative(x)), lambda x: x),
    "pow_one": (lambda x: x ** 1.0, lambda x: x),
    "pow_two": (lambda x: x ** 2.0, lambda x: gc.square(x)),
    "reshape_reshape": (lambda x: x.reshape((3, "B")).reshape(("B", 1, 3)),
                        lambda x: x.reshape(("B", 1, 3))),
    "reshape_noop": (lambda x: x.reshape(("B", 3)), lambda x: x),
    "swapaxes_swapaxes": (lambda x: gc.swapaxes(gc.swapaxes(x, 0, 1), 1, 0), lambda x: x),
    "transpose_transpose": (lambda x: gc.transpose(gc.transpose(x)), lambda x: x),
    "broadcast_noop": (lambda x: gc.broadcast_to(x, ("B", 3)), lambda x: x),
    "mean_to_sum": (lambda x: gc.mean(x, axis=1),
                    lambda x: gc.divide(gc.sum(x, axis=1), gc.ops.reduction.numel(x, 1))),
    "mul_unit_seed": (lambda x: x * gc.broadcast_to(gc.expand_dims(
        x.graph.constant(1.0), (0, 1)), ("B", 3)), lambda x: x),
    "drop_broadcast_operand": (lambda x: gc.broadcast_to(x.graph.constant(2.0), ("B", 3)) * x,
                               lambda x: x.graph.constant(2.0) * x),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_rule(name):
    build, expect = CASES[name]
    g, x = graph_xy()
    g.output("y", build(x))
    got, _ = run(simplify, g)
    w, wx = graph_xy()
    w.output("y", expect(wx))
    got, _ = dce(got)
    want, _ = dce(w)
    assert_same(got, want)


def test_transpose_of_transpose_composes_permutations():
    g, x = graph_xy(("B", 2, 3))
    g.output("y", gc.transpose(gc.transpose(x, (1, 2, 0)), (1, 2, 0)))
    w, wx = graph_xy(("B", 2, 3))
    w.output("y", gc.transpose(wx, (2, 0, 1)))
    assert_same(run(simplify, g)[0], w)


def test_sum_of_broadcast_becomes_a_multiply_by_the_count():
    g, x = graph_xy((3,))
    g.output("y", gc.sum(gc.broadcast_to(x, ("B", 3)), axis=0))
    w, wx = graph_xy((3,))
    b = gc.broadcast_to(wx, ("B", 3))
    w.output("y", wx * gc.ops.reduction.numel(b, 0))
    got = run(simplify, g)[0]
    assert_same(got, w)
    xv = np.array([1.0, np.inf, np.nan])
    h = gc.Graph("c")
    hx = h.input("x", (3,))
    hb = h.input("b", ("B",))
    y = gc.sum(gc.broadcast_to(hx, ("B", 3)), axis=0) + 0 * gc.sum(hb)
    f = gc.compile(y, [hx, hb])
    np.testing.assert_array_equal(f(xv, np.ones(4)), [4.0, np.inf, np.nan])


def test_rules_never_fold_x_times_zero():
    """x * 0 is not 0 when x is inf or nan: no rule may drop it."""
    g, x = graph_xy()
    g.output("y", x * 0.0)
    assert_same(run(simplify, g)[0], g)
    f = gc.compile(g["y"], [x])
    with np.errstate(invalid="ignore"):
        assert np.isnan(f(np.array([[np.inf, 1.0, np.nan]]))[0, [0, 2]]).all()


def test_rules_keep_shape_and_dtype():
    """x * 1 with a broadcasting 1 of a bigger shape, or an int x times 1.0, stays."""
    g, x = graph_xy((3,))
    i = g.input("i", (3,), np.int64)
    g.output("y", x * np.ones((2, 3)))
    g.output("z", i * 1.0)
    assert_same(run(simplify, g)[0], run(dce, g)[0])


def test_every_rule_has_its_identity_as_docstring():
    for rule in RULES:
        assert "->" in (rule.__doc__ or ""), rule.__name__


def test_broadcast_moves_out_of_an_op_with_a_scalar():
    g = gc.Graph("t")
    x = g.input("x", (1, 3))
    s = g.input("s", ())
    g.output("y", gc.broadcast_to(x, ("B", 3)) / s)
    w = gc.Graph("t")
    wx = w.input("x", (1, 3))
    ws = w.input("s", ())
    w.output("y", gc.broadcast_to(wx / ws, ("B", 3)))
    assert_same(run(simplify, g)[0], w)


def test_static_scales_reassociate_only_with_a_power_of_two():
    g, x = graph_xy()
    two = g.constant(2.0)
    tenth = g.constant(0.1)
    g.output("y", tenth * (two * x))
    w, wx = graph_xy()
    wtwo = w.constant(2.0)
    wtenth = w.constant(0.1)
    w.output("y", (wtenth * wtwo) * wx)
    assert_same(run(simplify, g)[0], w)
    h, hx = graph_xy()
    h.output("y", h.constant(0.1) * (h.constant(0.3) * hx))  # no power of two: left alone
    assert_same(run(simplify, h)[0], h)


def test_power_of_two_reassociation_is_exact():
    """2 * (s * x) == (2 * s) * x bit for bit (inf and nan included) in the normal range."""
    g = gc.Graph("t")
    x = g.input("x", ("B", 3))
    y = (1.0 / gc.ops.reduction.numel(x, (0, 1))) * (2.0 * x)  # mse's gradient seed
    f = gc.compile(y, [x])
    assert f.source.count("xp.multiply(") == 1
    X = np.random.default_rng(0).standard_normal((7, 3)) * 1e3
    X[0, :] = [np.inf, -np.inf, np.nan]
    np.testing.assert_array_equal(f(X), gc.evaluate(y, {x: X}))
