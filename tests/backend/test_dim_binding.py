"""Binding symbolic dims at call time: symbols from the inputs, expression dims checked or
solved, what the shape rules assumed checked, one compiled Function for every binding."""

import inspect

import numpy as np
import pytest

import graphc as gc

# the broadcasts here are deliberate
pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")


def here() -> int:
    return inspect.currentframe().f_back.f_lineno


def both(outputs, feed, **kw):
    """The compiled result and the reference interpreter's, which must agree."""
    ts = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    g = ts[0].graph
    f = gc.compile(outputs, inputs=[g[k] for k in feed], **kw)
    got = f(*feed.values())
    want = gc.evaluate(outputs, feed)
    for a, b in zip(got if isinstance(got, list) else [got],
                    want if isinstance(want, list) else [want]):
        np.testing.assert_array_equal(a, b)
    return got


# --------------------------------------------------------------- one Function, many T


def test_one_function_serves_every_sequence_length():
    g = gc.Graph()
    x = g.input("x", ("B", "T", 3))
    d = x[:, 1:] - x[:, :-1]
    z = gc.concatenate([x, d], axis=1)
    r = gc.reshape(gc.reshape(x, (-1, 3)) * 2.0, (x.shape[0], x.shape[1], 3))
    assert d.shape == ("B", "T - 1", 3) and z.shape == ("B", "2*T - 1", 3)
    assert x.shape[1] - 1 == d.shape[1]
    f = gc.compile([d, z, r])
    source = f.source
    rng = np.random.default_rng(0)
    for b, t in ((1, 5), (3, 9), (2, 17), (1, 1), (3, 5)):
        X = rng.standard_normal((b, t, 3))
        got = f(X)
        np.testing.assert_array_equal(got[0], X[:, 1:] - X[:, :-1])
        np.testing.assert_array_equal(got[1], np.concatenate([X, X[:, 1:] - X[:, :-1]], 1))
        np.testing.assert_array_equal(got[2], X * 2.0)
        for a, w in zip(got, gc.evaluate([d, z, r], {x: X})):
            np.testing.assert_array_equal(a, w)
    assert f.source == source  # nothing recompiled


def test_buffers_are_made_per_binding_and_reused():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    y = gc.tanh(x[:, 1:]) * 2.0 + 1.0
    f = gc.compile(y)
    for t in (4, 6, 4, 6):
        X = np.ones((2, t))
        np.testing.assert_allclose(f(X), np.tanh(X[:, 1:]) * 2.0 + 1.0)
    assert "pool = POOLS[(s0, s1)]" in f.source


# --------------------------------------------------------------- expression dims in inputs


def test_an_input_with_an_expression_dim_is_checked_against_its_symbols():
    g = gc.Graph()
    x = g.input("x", ("B", "T", 4))
    flat = g.input("flat", ("B*T", 4))
    y = gc.reshape(x, (-1, 4)) + flat
    X = np.arange(24.0).reshape(2, 3, 4)
    F = np.ones((6, 4))
    np.testing.assert_array_equal(both(y, {"x": X, "flat": F}), X.reshape(6, 4) + 1)
    f = gc.compile(y)
    with pytest.raises(gc.ShapeError) as ei:
        f(X, np.ones((5, 4)))
    msg = str(ei.value)
    assert "input 'flat'" in msg and "B*T = 6" in msg and "got 5" in msg
    assert "B = 2 (from axis 0 of input 'x')" in msg and "T = 3 (from axis 1 of input 'x')" in msg
    with pytest.raises(gc.ShapeError, match="B\\*T = 6"):
        gc.evaluate(y, {"x": X, "flat": np.ones((5, 4))})


def test_a_symbol_is_solved_from_a_linear_input_dim():
    g = gc.Graph()
    prev = g.input("prev", ("T - 1", 2))
    pairs = g.input("pairs", ("2*S",))
    y = gc.concatenate([prev, prev[:1] * 0.0], axis=0)  # (T, 2)
    assert y.shape == ("T", 2)
    z = gc.reshape(pairs, (-1, 2))
    assert z.shape == ("S", 2)
    f = gc.compile([y, z])
    for t in (1, 4, 9):
        P = np.arange(2.0 * (t - 1)).reshape(t - 1, 2) + 1
        if t == 1:
            with pytest.raises(gc.ShapeError, match="slice \\[:1\\].*needs T >= 2"):
                f(P, np.zeros(4))
            continue
        got = f(P, np.arange(6.0))
        np.testing.assert_array_equal(got[0], np.concatenate([P, P[:1] * 0.0]))
        np.testing.assert_array_equal(got[1], np.arange(6.0).reshape(3, 2))
    with pytest.raises(gc.ShapeError) as ei:
        f(np.ones((3, 2)), np.zeros(5))  # 5 is 2*S for no S
    assert "input 'pairs'" in str(ei.value) and "2*S" in str(ei.value)


def test_compile_refuses_a_symbol_that_no_input_binds():
    g = gc.Graph()
    flat = g.input("flat", ("B*T", 4))
    with pytest.raises(gc.ShapeError, match="no input of the compiled function binds B, T"):
        gc.compile(flat * 2.0)
    with pytest.raises(gc.ShapeError, match="no input binds B, T"):
        gc.evaluate(flat * 2.0, {flat: np.ones((6, 4))})


def test_a_symbol_bound_twice_names_the_first_input():
    g = gc.Graph()
    a, b = g.input("a", ("B", "T")), g.input("b", ("T", "B"))
    f = gc.compile(a + gc.transpose(b))
    with pytest.raises(gc.ShapeError) as ei:
        f(np.ones((2, 3)), np.ones((3, 4)))
    assert "input 'b'" in str(ei.value) and "bound to 2 (from axis 0 of input 'a')" in str(
        ei.value)


# --------------------------------------------------------------- what rules assumed


@pytest.mark.parametrize("build, ok_t, bad_t, needs", [
    (lambda x: x[:, 3:], 3, 2, "T >= 3"),
    (lambda x: x[:, :4], 4, 3, "T >= 4"),
    (lambda x: x[:, -2:], 2, 1, "T >= 2"),
    (lambda x: x[:, 1:-1], 2, 1, "T >= 2"),
    (lambda x: x[:, 2], 3, 2, "T >= 3"),
    (lambda x: x[:, -1], 1, 0, "T >= 1"),
    (lambda x: x[:, ::-1][:, 1:], 1, 0, "T >= 1"),
    (lambda x: x[:, x.shape[1] - 2:], 2, 1, "T >= 2"),
])
def test_a_rule_valid_only_for_some_sizes_is_checked_at_the_users_line(build, ok_t, bad_t,
                                                                      needs):
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    line = build.__code__.co_firstlineno  # the user's line: where the op was built
    y = build(x)
    f = gc.compile(y)
    X = np.arange(3.0 * ok_t).reshape(3, ok_t)
    np.testing.assert_array_equal(f(X), build(X))  # the same index expression on numpy
    with pytest.raises(gc.ShapeError) as ei:
        f(np.ones((3, bad_t)))
    msg = str(ei.value)
    assert needs in msg and f"T = {bad_t} (from axis 1 of input 'x')" in msg
    assert f"test_dim_binding.py:{line}" in msg
    with pytest.raises(gc.ShapeError, match=needs.replace("+", "\\+")):
        gc.evaluate(y, {x: np.ones((3, bad_t))})


def test_a_failed_check_changes_no_state():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    w = g.param("w", np.ones(()))
    loss = gc.sum(x[:, 2:] * w)
    (gw,) = gc.grad(loss, [w])
    f = gc.compile(loss, updates={w: w - 0.1 * gw})
    f(np.ones((1, 3)))
    before = g.params["w"].copy()
    with pytest.raises(gc.ShapeError, match="T >= 2"):
        f(np.ones((1, 1)))
    np.testing.assert_array_equal(g.params["w"], before)


def test_reshape_between_unrelated_symbols_is_checked_when_bound():
    g = gc.Graph()
    rows = g.input("rows", ("N", 4))
    x = g.input("x", ("B", "T"))
    line = here() + 1
    y = gc.reshape(rows, (x.shape[0], x.shape[1], 4))  # N == B*T, checked at call time
    assert y.shape == ("B", "T", 4)
    f = gc.compile(y, inputs=[rows, x])
    np.testing.assert_array_equal(f(np.arange(24.0).reshape(6, 4), np.ones((2, 3))),
                                  np.arange(24.0).reshape(2, 3, 4))
    with pytest.raises(gc.ShapeError) as ei:
        f(np.ones((5, 4)), np.ones((2, 3)))
    msg = str(ei.value)
    assert "needs 4*B*T == 4*N" in msg and "N = 5" in msg and f":{line}" in msg


def test_checks_appear_in_the_generated_code_once():
    g = gc.Graph()
    x = g.input("x", ("B", "T"))
    y = x[:, 1:] + x[:, :-1] + x[:, 3:5].sum() + x[:, 2:].sum()
    src = gc.compile(y).source
    assert "# what the shape rules assumed of the symbols" in src
    # T >= 5 (the slice [:, 3:5]) implies T >= 1, T >= 2 and the dims T - 1, T - 2 >= 0
    assert src.count("rt_unmet(") == 1 and "needs T >= 5" in src


def test_symbolic_dims_print_in_errors_dot_networkx_and_the_printer():
    g = gc.Graph("seq")
    x = g.input("x", ("B", "T", 4))
    y = gc.reshape(x[:, 1:], (-1, 4))
    assert y.shape == ("B*T - B", 4)
    assert "(B*T - B, 4)" in gc.to_dot(y)
    d = gc.to_networkx(g)
    assert d.nodes[y.id]["shape"] == ("B*T - B", 4)
    assert ": (B*T - B, 4) float64" in str(g)
    with pytest.raises(gc.ShapeError) as ei:
        y + g.input("z", ("B", 4))
    assert "(B*T - B, 4)" in str(ei.value)


def test_save_load_keeps_expressions(tmp_path):
    g = gc.Graph()
    x = g.input("x", ("B", "T", 4))
    flat = g.input("flat", ("B*T", 4))
    y = gc.reshape(x[:, 1:], (x.shape[0] * (x.shape[1] - 1), 4))
    z = gc.concatenate([gc.reshape(x, (-1, 4)), flat], axis=0)
    g.output("y", y)
    g.output("z", z)
    path = tmp_path / "m.json"
    gc.save(g, path)
    text = path.read_text()
    assert '"B*T"' in text and '"B*T - B"' in text
    h = gc.load(path)
    assert h.outputs["y"].shape == ("B*T - B", 4) and h.outputs["z"].shape == ("2*B*T", 4)
    X, F = np.random.default_rng(1).standard_normal((2, 5, 4)), np.ones((10, 4))
    f = gc.compile([h.outputs["y"], h.outputs["z"]])
    got = f(X, F)
    np.testing.assert_array_equal(got[0], X[:, 1:].reshape(-1, 4))
    np.testing.assert_array_equal(got[1], np.concatenate([X.reshape(-1, 4), F]))
