"""gc.compile and Function, through the public API only: calling convention, updates,
ownership of returned arrays (no aliasing between outputs, params and later calls), source,
pickling, generated identifiers, float32, and deep graphs."""

import pickle

import numpy as np
import pytest

import graphc as gc


def _mlp(name="mlp", dtype=np.float64):
    rng = np.random.default_rng(1)
    g = gc.Graph(name)
    x = g.input("x", ("B", 3), dtype=dtype)
    y = g.input("y", ("B", 1), dtype=dtype)
    W = g.param("W", rng.standard_normal((3, 4)).astype(dtype))
    b = g.param("b", np.zeros(4, dtype))
    V = g.param("V", rng.standard_normal((4, 1)).astype(dtype))
    h = gc.tanh(x @ W + b)
    loss = gc.mean((h @ V - y) ** 2)
    return g, x, y, W, b, V, h, loss


def _data(B=5, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, 3)).astype(dtype), rng.standard_normal((B, 1)).astype(dtype)


# -------------------------------------------------------------------- calling convention


def test_positional_and_keyword_calls_agree_with_evaluate():
    g, x, y, W, b, V, h, loss = _mlp()
    f = gc.compile([loss, h], inputs=[x, y])
    xv, yv = _data()
    want = gc.evaluate([loss, h], {x: xv, y: yv})
    for got in (f(xv, yv), f(x=xv, y=yv), f(y=yv, x=xv), f(xv, y=yv)):
        assert isinstance(got, list) and len(got) == 2
        for a, w in zip(got, want, strict=True):
            np.testing.assert_allclose(a, w, rtol=1e-12)


def test_inputs_order_is_respected():
    g, x, y, W, b, V, h, loss = _mlp()
    xv, yv = _data()
    f = gc.compile(loss, inputs=[y, x])
    np.testing.assert_allclose(f(yv, xv), gc.evaluate(loss, {x: xv, y: yv}), rtol=1e-12)
    assert gc.compile(loss)(xv, yv) == pytest.approx(float(f(yv, xv)))  # default: declaration


def test_single_tensor_gives_one_array_and_a_list_gives_a_list():
    g, x, y, W, b, V, h, loss = _mlp()
    xv, yv = _data()
    one = gc.compile(h)(xv)
    assert isinstance(one, np.ndarray) and one.shape == (5, 4)
    lst = gc.compile([h])(xv)
    assert isinstance(lst, list) and len(lst) == 1 and lst[0].shape == (5, 4)
    tup = gc.compile((h, loss))(xv, yv)
    assert isinstance(tup, list) and len(tup) == 2
    assert np.shape(gc.compile(loss)(xv, yv)) == ()


def test_any_batch_size_and_back():
    g, x, y, W, b, V, h, loss = _mlp()
    f = gc.compile(h, inputs=[x])
    for B in (2, 7, 1, 2, 0):
        xv, _ = _data(B, seed=B)
        np.testing.assert_allclose(f(xv), gc.evaluate(h, {x: xv}), rtol=1e-12)


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


@pytest.mark.parametrize("call, what", [
    (lambda f, xv, yv: f(xv), "'y'"),
    (lambda f, xv, yv: f(x=xv), "'y'"),
    (lambda f, xv, yv: f(xv, yv, yv), "positional"),
    (lambda f, xv, yv: f(xv, yv, z=yv), "'z'"),
    (lambda f, xv, yv: f(xv, x=xv, y=yv), "'x'"),
])
def test_call_errors_are_type_errors_naming_the_input(call, what):
    g, x, y, W, b, V, h, loss = _mlp()
    f = gc.compile(loss, inputs=[x, y])
    xv, yv = _data()
    with pytest.raises(TypeError, match=what):
        call(f, xv, yv)


def test_compile_argument_errors():
    g, x, y, W, b, V, h, loss = _mlp()
    with pytest.raises(TypeError, match="'y'"):
        gc.compile(loss, inputs=[x])  # loss needs y
    with pytest.raises(TypeError):
        gc.compile(loss, inputs=[x, W])  # W is a param, not an input
    with pytest.raises(TypeError):
        gc.compile([])
    with pytest.raises(TypeError):
        gc.compile([loss, 3.0])
    with pytest.raises(ValueError):
        gc.compile(loss, inputs=[x, y, x])
    with pytest.raises(TypeError):
        gc.compile(loss, updates={x: x * 2})  # only params are updated
    with pytest.raises(gc.ShapeError):
        gc.compile(loss, updates={W: b})  # (4,) into (3, 4)


def test_unused_listed_input_is_still_checked_and_bound():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    z = g.input("z", ("B",))
    f = gc.compile(x * 2, inputs=[x, z])
    assert f(np.ones((3, 2)), np.ones(3)).shape == (3, 2)
    with pytest.raises(gc.ShapeError, match="'z'"):
        f(np.ones((3, 2)), np.ones(4))


def test_no_inputs():
    g = gc.Graph()
    W = g.param("W", np.arange(4.0))
    f = gc.compile(W.sum() * 2)
    assert float(f()) == 12.0


# ------------------------------------------------------------------------------ updates


def test_updates_are_applied_in_place_after_the_outputs():
    g, x, y, W, b, V, h, loss = _mlp()
    gW, gb, gV = gc.grad(loss, [W, b, V])
    lr = 0.1
    step = gc.compile(loss, inputs=[x, y], updates={W: W - lr * gW, b: b - lr * gb,
                                                    V: V - lr * gV})
    xv, yv = _data()
    W_arr = g.params["W"]
    W0, b0, V0 = (g.params[k].copy() for k in ("W", "b", "V"))
    want_loss, want_gW = gc.evaluate([loss, gW], {x: xv, y: yv})
    got = step(xv, yv)
    np.testing.assert_allclose(got, want_loss, rtol=1e-12)  # computed with the old values
    assert g.params["W"] is W_arr  # in place
    np.testing.assert_allclose(g.params["W"], W0 - lr * want_gW, rtol=1e-12)
    assert not np.allclose(g.params["b"], b0) and not np.allclose(g.params["V"], V0)
    losses = [float(step(xv, yv)) for _ in range(30)]
    assert losses[-1] < losses[0] < float(got)


def test_updates_read_old_values_only():
    g = gc.Graph()
    a = g.param("a", np.array([1.0, 2.0]))
    b = g.param("b", np.array([10.0, 20.0]))
    f = gc.compile([a + b, a], updates={a: b, b: a})  # swap
    s, a_out = f()
    np.testing.assert_array_equal(s, [11.0, 22.0])
    np.testing.assert_array_equal(a_out, [1.0, 2.0])
    np.testing.assert_array_equal(g.params["a"], [10.0, 20.0])
    np.testing.assert_array_equal(g.params["b"], [1.0, 2.0])
    f()
    np.testing.assert_array_equal(g.params["a"], [1.0, 2.0])


def test_update_with_a_view_of_a_param():
    g = gc.Graph()
    M = g.param("M", np.arange(4.0).reshape(2, 2))
    f = gc.compile(M.sum(), updates={M: M.T})
    f()
    np.testing.assert_array_equal(g.params["M"], [[0.0, 2.0], [1.0, 3.0]])


def test_a_call_with_a_bad_second_input_changes_no_param():
    g, x, y, W, b, V, h, loss = _mlp()
    gW, gV = gc.grad(loss, [W, V])
    step = gc.compile(loss, inputs=[x, y], updates={W: W - 0.1 * gW, V: V - 0.1 * gV})
    before = {k: v.copy() for k, v in g.params.items()}
    xv, yv = _data()
    bad = [np.ones((4, 1)), np.ones((5, 2)), np.ones(5), np.array([["a"]] * 5),
           np.ones((5, 1), dtype=complex)]
    for yb in bad:
        with pytest.raises((gc.ShapeError, TypeError)):
            step(xv, yb)
        for k, v in before.items():
            np.testing.assert_array_equal(g.params[k], v)


def test_a_call_failing_midway_changes_no_param():
    """A runtime failure (an out-of-range label) after the first update's new value was
    computed still commits nothing."""
    g = gc.Graph()
    logits = g.input("logits", ("B", 3))
    labels = g.input("labels", ("B",), dtype=np.int64)
    a = g.param("a", np.zeros(3))
    c = g.param("c", np.zeros(()))
    new_a = a + 1.0  # built (and scheduled) before the op that fails
    picked = gc.take_along_axis(logits, labels[:, None], axis=1)
    f = gc.compile(picked, updates={a: new_a, c: c + picked.sum()})
    lv = np.ones((2, 3))
    f(lv, np.array([0, 2]))
    assert g.params["a"].tolist() == [1.0, 1.0, 1.0] and float(g.params["c"]) == 2.0
    with pytest.raises(ValueError, match="take_along_axis"):
        f(lv, np.array([0, 7]))
    assert g.params["a"].tolist() == [1.0, 1.0, 1.0] and float(g.params["c"]) == 2.0


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


# ---------------------------------------------------------------------------- ownership


def test_returned_arrays_are_never_overwritten_by_later_calls():
    g, x, y, W, b, V, h, loss = _mlp()
    z = h * 2.0
    f = gc.compile([h, z, loss], inputs=[x, y])
    xa, ya = _data(seed=1)
    xb, yb = _data(seed=2)
    first = f(xa, ya)
    kept = [a.copy() for a in first]
    for _ in range(3):
        f(xb, yb)
    for a, k in zip(first, kept, strict=True):
        np.testing.assert_array_equal(a, k)
    # and writing into them does not disturb the next call
    first[0][...] = 123.0
    again = f(xa, ya)
    for a, k in zip(again, kept, strict=True):
        np.testing.assert_allclose(a, k, rtol=1e-12)


def test_returned_arrays_are_never_overwritten_during_training():
    g, x, y, W, b, V, h, loss = _mlp()
    (gW,) = gc.grad(loss, [W])
    step = gc.compile([loss, gW, h], inputs=[x, y], updates={W: W - 0.1 * gW})
    xv, yv = _data()
    out1 = step(xv, yv)
    kept = [np.array(a, copy=True) for a in out1]
    step(xv, yv)
    for a, k in zip(out1, kept, strict=True):
        np.testing.assert_array_equal(a, k)


@pytest.mark.parametrize("view", ["param", "T", "row", "reshape", "expand", "broadcast"])
def test_outputs_that_are_params_or_their_views_are_copies(view):
    g = gc.Graph()
    W = g.param("W", np.arange(6.0).reshape(2, 3))
    t = {"param": W, "T": W.T, "row": W[0], "reshape": W.reshape(-1),
         "expand": gc.expand_dims(W, 0), "broadcast": gc.broadcast_to(W, (4, 2, 3))}[view]
    f = gc.compile(t, updates={W: W + 1.0})
    out = f()
    assert not np.shares_memory(out, g.params["W"])
    before = out.copy()
    f()  # the param changes in place; what we got before must not
    np.testing.assert_array_equal(out, before)
    if out.flags.writeable:
        out[...] = -1.0
        assert (g.params["W"] >= 0).all()


def test_output_that_is_a_constant_is_a_copy():
    g = gc.Graph()
    c = g.constant(np.arange(3.0))
    f = gc.compile(c.reshape(3, 1))
    a = f()
    a[...] = 9.0
    np.testing.assert_array_equal(f(), np.arange(3.0).reshape(3, 1))


def test_output_that_is_an_input_does_not_alias_later_calls():
    g = gc.Graph()
    x = g.input("x", (3,))
    f = gc.compile([x, x * 2])
    xv = np.arange(3.0)
    a, _ = f(xv)
    f(np.zeros(3))
    np.testing.assert_array_equal(a, np.arange(3.0))


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


# ------------------------------------------------------------------------ source, pickle


def test_source_is_readable_python_over_numpy():
    g, x, y, W, b, V, h, loss = _mlp()
    f = gc.compile(loss, inputs=[x, y])
    src = f.source
    assert isinstance(src, str) and src.startswith("def ")
    compile(src, "<test>", "exec")  # valid python
    assert "tanh" in src and "matmul" in src
    assert "(B, 4)" in src  # shapes in comments
    assert src == gc.compile(loss, inputs=[x, y]).source  # deterministic


def test_function_pickles_and_works_after_unpickling():
    g, x, y, W, b, V, h, loss = _mlp()
    (gW,) = gc.grad(loss, [W])
    f = gc.compile([loss, gW], inputs=[x, y], updates={W: W - 0.1 * gW})
    xv, yv = _data()
    f2 = pickle.loads(pickle.dumps(f))
    want = [a.copy() for a in gc.evaluate([loss, gW], {x: xv, y: yv})]
    got = f2(xv, yv)
    for a, w in zip(got, want, strict=True):
        np.testing.assert_allclose(a, w, rtol=1e-12)
    got1 = f(xv, yv)  # the original still works, with its own params
    for a, w in zip(got1, want, strict=True):
        np.testing.assert_allclose(a, w, rtol=1e-12)
    np.testing.assert_allclose(f2(x=xv, y=yv)[0], f(xv, yv)[0], rtol=1e-12)
    assert f2.source == f.source


@pytest.mark.parametrize("evil", ["x; import os", "y\nimport os", "__import__('os')",
                                  "a'b\"c", "W\n    raise SystemExit", "}{)(", "P"])
def test_user_strings_never_enter_the_source(evil):
    g = gc.Graph(evil)
    x = g.input(evil, ("B", 2))
    W = g.param(evil + "_W", np.ones((2, 2)))
    out = g.output(evil + "_out", gc.relu(x @ W))
    f = gc.compile(out, updates={W: W * 0.5})
    for s in (evil, evil + "_W", evil + "_out"):
        if len(s) > 2:
            assert s not in f.source
    assert "import os" not in f.source and "SystemExit" not in f.source
    got = f(np.ones((3, 2)))
    np.testing.assert_array_equal(got, np.full((3, 2), 2.0))
    np.testing.assert_array_equal(g.params[evil + "_W"], np.full((2, 2), 0.5))
    assert f.input_names == [evil]
    np.testing.assert_array_equal(f(**{evil: np.ones((1, 2))}), np.full((1, 2), 1.0))


# ------------------------------------------------------------------------ dtypes at call


def test_float32_graphs_stay_float32():
    g, x, y, W, b, V, h, loss = _mlp(dtype=np.float32)
    gW, gb = gc.grad(loss, [W, b])
    assert loss.dtype == gW.dtype == np.float32
    step = gc.compile([loss, gW, h], inputs=[x, y], updates={W: W - 0.1 * gW, b: b - 0.1 * gb})
    xv, yv = _data(dtype=np.float32)
    outs = step(xv, yv)
    assert [np.asarray(o).dtype for o in outs] == [np.float32] * 3
    assert g.params["W"].dtype == np.float32 and g.params["b"].dtype == np.float32
    # float64 data fed to a float32 input is converted, the result stays float32
    x64, y64 = _data()
    assert np.asarray(step(x64, y64)[0]).dtype == np.float32


def test_integer_label_inputs():
    g = gc.Graph()
    logits = g.input("logits", ("B", 4))
    labels = g.input("labels", ("B",), dtype=np.int64)
    logp = gc.log_softmax(logits, axis=-1)
    nll = -gc.mean(gc.take_along_axis(logp, labels[:, None], axis=1))
    f = gc.compile(nll, inputs=[logits, labels])
    rng = np.random.default_rng(0)
    lv = rng.standard_normal((6, 4))
    yv = np.array([0, 3, 1, 1, 2, 0])
    lse = np.log(np.exp(lv).sum(axis=1))
    want = -np.mean(lv[np.arange(6), yv] - lse)
    assert float(f(lv, yv)) == pytest.approx(want, rel=1e-12)
    assert float(f(lv, yv.astype(np.int32))) == pytest.approx(want, rel=1e-12)
    assert float(f(lv, yv.tolist())) == pytest.approx(want, rel=1e-12)
    with pytest.raises(TypeError, match="'labels'"):
        f(lv, yv.astype(np.float64))


def test_zero_d_outputs_are_arrays_like_evaluate():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    outs = [x.sum(), x.mean(), x.max(), (x * 2)[0, 1]]
    got = gc.compile(outs)(np.ones((2, 3)))
    assert all(isinstance(a, np.ndarray) and a.shape == () for a in got), [type(a) for a in got]


# ------------------------------------------------------------------------------ deep graphs


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


# ------------------------------------------------------------------------- feed dicts


def test_a_feed_dict_is_accepted_as_gc_evaluate_takes_it():
    """``f({x: xs, y: ys})`` was taken as the value of x, then 'missing input(s) y'."""
    g = gc.Graph("feed")
    x, y = g.input("x", ("B", 2)), g.input("y", ("B", 2))
    out = x * 2.0 + y
    f = gc.compile(out, [x, y])
    X, Y = np.ones((3, 2)), np.arange(6.0).reshape(3, 2)
    want = X * 2.0 + Y
    np.testing.assert_array_equal(f({x: X, y: Y}), want)
    np.testing.assert_array_equal(f({"x": X, y: Y}), want)
    np.testing.assert_array_equal(gc.evaluate(out, {x: X, y: Y}), want)
    one = gc.compile(x * 2.0, [x])  # one input: a dict is still a feed, not the value of x
    np.testing.assert_array_equal(one({x: X}), X * 2.0)
    with pytest.raises(TypeError, match="missing input.*'y'"):
        f({x: X})
    with pytest.raises(TypeError, match="not an input of this function"):
        f({x: X, y: Y, gc.tanh(x): X})
    with pytest.raises(TypeError, match="fed twice"):
        f({x: X, "x": X, y: Y})


# ------------------------------------------------------------------- aliased memory


def test_an_input_that_is_a_param_the_step_writes_is_read_before_it_is_written():
    """f(g.params["W"]) with updates {W: W - x, V: V - x} left V unchanged: W's in-place
    commit overwrote x first."""
    for passes in (None, {"memory": False}):
        g = gc.Graph("a")
        x = g.input("x", (3,))
        W = g.param("W", np.array([1.0, 2.0, 3.0]))
        V = g.param("V", np.array([10.0, 20.0, 30.0]))
        f = gc.compile(gc.sum(x), [x], updates={W: W - x, V: V - x}, passes=passes)
        f(g.params["W"])
        np.testing.assert_array_equal(g.params["W"], [0.0, 0.0, 0.0])
        np.testing.assert_array_equal(g.params["V"], [9.0, 18.0, 27.0])
        f(g.params["V"][::-1].copy())  # a plain input still works
        np.testing.assert_array_equal(g.params["V"], [-18.0, 0.0, 18.0])


def test_an_input_passed_twice_and_a_view_of_a_param():
    g = gc.Graph("a")
    x, y = g.input("x", (3,)), g.input("y", (3,))
    W = g.param("W", np.array([1.0, 2.0, 3.0]))
    f = gc.compile(gc.sum(x * y), [x, y], updates={W: W * 2.0 - x})
    a = np.array([1.0, 1.0, 1.0])
    np.testing.assert_array_equal(f(a, a), 3.0)
    np.testing.assert_array_equal(g.params["W"], [1.0, 3.0, 5.0])
    f(g.params["W"][::-1], g.params["W"])  # a reversed view of the param it writes
    np.testing.assert_array_equal(g.params["W"], [-3.0, 3.0, 9.0])


def test_two_params_written_in_place_that_share_memory_are_refused():
    g = gc.Graph("a")
    x = g.input("x", (2,))
    W = g.param("W", np.ones(2))
    V = g.param("V", np.ones(2))
    f = gc.compile(gc.sum(x), [x], updates={W: W - x, V: V - 2.0 * x})
    f(np.ones(2))
    g.params["V"] = g.params["W"][:]  # a view of W
    with pytest.raises(ValueError, match="'W' and 'V' share memory"):
        f(np.ones(2))
    np.testing.assert_array_equal(g.params["W"], [0.0, 0.0])  # nothing was written
    g.params["V"] = np.ones(2)
    f(np.ones(2))
    np.testing.assert_array_equal(g.params["V"], [-1.0, -1.0])
