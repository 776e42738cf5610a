"""Graph and Tensor: sources, named tensors, ownership, locations, determinism, ``.T``."""

import dataclasses
import inspect
import os

import numpy as np
import pytest

import graphc as gc


def _here() -> str:
    """``file:line`` of the caller's next line."""
    f = inspect.currentframe().f_back
    return f"{f.f_code.co_filename}:{f.f_lineno + 1}"


# ----------------------------------------------------------------------------- sources


def test_inputs_params_constants_and_outputs():
    g = gc.Graph("net")
    x = g.input("x", ("B", 3))
    y = g.input("y", ("B",), dtype=np.int64)
    W = g.param("W", np.arange(6.0).reshape(3, 2))
    c = g.constant(2.5)
    out = g.output("out", x @ W * c)
    assert out.shape == ("B", 2)
    assert list(g.inputs) == ["x", "y"] and g.inputs["x"] is x and g.inputs["y"] is y
    assert g.outputs == {"out": out}
    assert g["x"] is x and g["W"] is W and g["out"] is out
    assert "W" in g and "nope" not in g
    assert (x.name, W.name, c.name) == ("x", "W", None)
    assert x.op == "input" and W.op == "param" and c.op == "constant"
    assert x.node.role == "input" and W.node.role == "param" and c.node.role == "constant"
    assert out.node.role == "op"
    assert x.graph is g and out.graph is g
    assert W.shape == (3, 2) and c.shape == ()
    np.testing.assert_array_equal(g.params["W"], np.arange(6.0).reshape(3, 2))


def test_param_value_is_a_copy():
    v = np.zeros(3)
    g = gc.Graph()
    g.param("b", v)
    v[:] = 7
    assert (g.params["b"] == 0).all()


def test_int_param_becomes_float_when_trainable_and_stays_int_otherwise():
    g = gc.Graph()
    assert g.param("a", [1, 2]).dtype == np.float64
    assert g.param("steps", 0, trainable=False).dtype == np.int64
    with pytest.raises(TypeError, match="float"):
        g.param("c", [1, 2], dtype=np.int32)


def test_unknown_name_is_a_key_error_listing_the_known_ones():
    g = gc.Graph("net")
    g.input("x", (3,))
    with pytest.raises(KeyError, match="'x'"):
        g["nope"]


@pytest.mark.parametrize("second", ["input", "param", "output"])
@pytest.mark.parametrize("first", ["input", "param", "output"])
def test_duplicate_names_are_a_value_error(first, second):
    g = gc.Graph()
    t = g.input("t", (2,))

    def make(kind):
        if kind == "input":
            return g.input("n", (2,))
        if kind == "param":
            return g.param("n", np.zeros(2))
        return g.output("n", t * 2)

    make(first)
    n_nodes = len(g)
    with pytest.raises(ValueError, match="already has"):
        make(second)
    assert len(g) <= n_nodes + 2  # at most the `t * 2` (constant, multiply) of an output


@pytest.mark.parametrize("bad", ["", None, 3])
def test_names_must_be_non_empty_strings(bad):
    g = gc.Graph()
    with pytest.raises(TypeError):
        g.input(bad, (2,))


def test_name_scope_prefixes_names():
    g = gc.Graph()
    with g.name_scope("mlp"), g.name_scope("0"):
        W = g.param("W", np.zeros((2, 2)))
    assert W.name == "mlp/0/W" and g["mlp/0/W"] is W
    assert "mlp/0/W" in g.params


def test_graph_name_must_be_a_string():
    assert gc.Graph().name
    with pytest.raises(TypeError):
        gc.Graph(3)


# ------------------------------------------------------------------------ two graphs


def test_tensors_of_two_graphs_cannot_be_mixed():
    g1, g2 = gc.Graph("one"), gc.Graph("two")
    a = g1.input("a", (3,))
    b = g2.input("b", (3,))
    for build in (lambda: a + b, lambda: b * a, lambda: gc.where(a < 0, a, b),
                  lambda: gc.concatenate([a, b]), lambda: g1.output("o", b),
                  lambda: gc.matmul(a, b)):
        with pytest.raises(ValueError, match="two graphs"):
            build()
    with pytest.raises(ValueError):
        gc.compile([a, b])
    with pytest.raises(ValueError):
        gc.evaluate([a * 2, b * 2], {a: np.ones(3), b: np.ones(3)})
    built = {n.op for n in g1.nodes + g2.nodes}
    assert not built & {"add", "where", "concatenate", "matmul"}


# ------------------------------------------------------------------ locations, ids, repr


def test_every_node_records_the_callers_file_and_line():
    g = gc.Graph()
    loc_x = _here()
    x = g.input("x", ("B", 3))
    loc_w = _here()
    W = g.param("W", np.ones((3, 2)))
    loc_h = _here()
    h = gc.tanh(x @ W)
    loc_s = _here()
    s = h.sum(axis=1, keepdims=True) * 2.0
    assert x.node.loc == loc_x and W.node.loc == loc_w
    assert h.node.loc == loc_h and g.node(h.node.inputs[0]).loc == loc_h  # the matmul too
    assert s.node.loc == loc_s
    assert g.node(s.node.inputs[1]).loc == loc_s  # the auto-wrapped 2.0
    assert os.path.basename(__file__) in loc_s


def _build():
    g = gc.Graph("det")
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 4)))
    b = g.param("b", np.zeros(4))
    h = gc.relu(x @ W + b)
    g.output("loss", gc.mean(gc.square(h.sum(axis=-1) - 1.0)))
    return g


def test_ids_are_deterministic_creation_order():
    g1, g2 = _build(), _build()
    assert [n.id for n in g1.nodes] == list(range(len(g1)))
    strip = [dataclasses.replace(n, loc="") for n in g1.nodes]
    assert strip == [dataclasses.replace(n, loc="") for n in g2.nodes]
    assert str(g1) == str(g2)
    for n in g1.nodes:
        assert all(i < n.id for i in n.inputs)  # ids are a topological order


def test_printed_ir_is_readable():
    text = str(_build())
    assert "graph 'det'" in text
    assert "= matmul(%0, %1) : (B, 4) float64" in text
    assert "output 'loss'" in text


def test_nodes_are_immutable():
    g = _build()
    n = g.nodes[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        n.shape = gc.Shape((1,))  # type: ignore[misc]


def test_tensor_repr_and_identity_semantics():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    assert "(B, 3)" in repr(x) and "'x'" in repr(x)
    # one handle per node: a dict or set finds a tensor by identity, though == is elementwise
    assert x is g["x"] and x is g.tensor(x.id) and hash(x) == hash(g["x"])
    assert {x: 1}[g.inputs["x"]] == 1 and g.inputs["x"] in {x}
    with pytest.raises(TypeError, match="no truth value.*elementwise.*a is b"):
        bool(x)
    with pytest.raises(TypeError, match="no truth value"):
        bool(x == x)
    with pytest.raises(TypeError):
        len(x)
    with pytest.raises(TypeError):
        list(x)


def test_operators_and_reflected_forms_build_the_expected_ops():
    g = gc.Graph()
    x = g.input("x", (3,))
    M = g.input("M", (3, 3))
    arr = np.ones(3)
    cases = {
        "add": [x + 1, 1 + x, arr + x], "subtract": [x - 1, 1 - x],
        "multiply": [x * 2, 2 * x, arr * x], "divide": [x / 2, 2 / x],
        "power": [x ** 2, 2 ** x], "matmul": [M @ x, x @ M, arr @ M, M @ arr],
        "negative": [-x], "absolute": [abs(x)], "less": [x < 1], "less_equal": [x <= 1],
        "greater": [x > 1, 1 < x], "greater_equal": [x >= 1],
    }
    for op, ts in cases.items():
        for t in ts:
            assert isinstance(t, gc.Tensor), (op, t)
            assert t.op == (op if op != "absolute" else "abs")
    assert +x is x
    # reflected operands land in the right slot
    r = 1 - x
    assert g.node(r.node.inputs[1]).id == x.id
    assert (arr @ M).shape == (3,)


# ----------------------------------------------------------------------------------- .T


def test_T_on_2d_transposes():
    g = gc.Graph()
    W = g.param("W", np.zeros((3, 4)))
    assert W.T.shape == (4, 3)
    np.testing.assert_array_equal(gc.evaluate(W.T, {}), np.zeros((4, 3)))


@pytest.mark.parametrize("shape", [(), (3,), ("B", 3, 4), (2, 3, 4, 5)])
def test_T_on_other_ranks_points_to_mT_and_swapaxes(shape):
    g = gc.Graph()
    x = g.input("x", shape)
    n = len(g)
    with pytest.raises(gc.ShapeError) as ei:
        where = _here()
        _ = x.T
    msg = str(ei.value)
    assert ".mT" in msg and "swapaxes" in msg
    assert str(gc.Shape(shape)) in msg
    assert where in msg
    assert len(g) == n


def test_mT_swaps_the_last_two_axes():
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    assert x.mT.shape == ("B", 4, 3)
    v = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(gc.evaluate(x.mT, {x: v}), v.transpose(0, 2, 1))


def test_tensor_methods():
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    assert x.sum().shape == () and x.mean(axis=1).shape == ("B", 4)
    assert x.max(axis=-1, keepdims=True).shape == ("B", 3, 1)
    assert x.reshape("B", 12).shape == ("B", 12) and x.reshape(("B", -1)).shape == ("B", 12)
    assert x.swapaxes(0, 2).shape == (4, 3, "B")
    assert x.transpose().shape == (4, 3, "B")
    assert x.transpose(1, 0, 2).shape == (3, "B", 4)
    assert x.transpose((2, 0, 1)).shape == (4, "B", 3)
    assert x.astype(np.float32).dtype == np.float32


def test_eq_and_ne_are_elementwise_like_numpy():
    """``x * (x == 2.0)`` was silently [[0, 0, 0]] when == compared identity."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    X = np.array([[1.0, 2.0, 3.0]])
    eq, ne = x == 2.0, x != 2.0
    assert eq.op == "equal" and ne.op == "not_equal" and eq.dtype == np.bool_
    np.testing.assert_array_equal(gc.compile(x * eq)(X), X * (X == 2.0))
    np.testing.assert_array_equal(gc.compile(x * ne)(X), X * (X != 2.0))
    np.testing.assert_array_equal(gc.compile(2.0 == x)(X), 2.0 == X)  # reflected
    np.testing.assert_array_equal(gc.evaluate(x == x, {x: X}), X == X)


def test_where_on_an_elementwise_equality_builds():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    X = np.array([[0.0, 2.0, 0.0]])
    y = gc.where(x == 0, 1.0, x)  # "the condition must be bool" when == gave a Python bool
    np.testing.assert_array_equal(gc.compile(y)(X), np.where(X == 0, 1.0, X))
    with pytest.raises(TypeError, match="condition must be bool.*got float64"):
        gc.where(x, 1.0, x)


def test_handles_survive_pickling_and_copies():
    import copy
    import pickle

    g = gc.Graph()
    x = g.input("x", (2,))
    y = gc.tanh(x)
    for h in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert h.tensor(y.id) is h.tensor(y.id) and h["x"] is h.tensor(x.id)
    y2 = pickle.loads(pickle.dumps(y))
    assert y2 is y2.graph.tensor(y.id)


def test_tensor_methods_a_numpy_user_types():
    g = gc.Graph()
    x = g.input("x", (2, 1, 3))
    b = g.input("b", ("B", 1, 3))
    X = np.arange(6.0).reshape(2, 1, 3)
    assert x.size == 6 and x.flatten().shape == (6,) and x.ravel().shape == (6,)
    assert b.squeeze(1).shape == ("B", 3) and b.squeeze().shape == ("B", 3)
    for t, want in ((x.flatten(), X.flatten()), (x.ravel(), X.ravel()),
                    (x.squeeze(), X.squeeze()), (x.squeeze(1), X.squeeze(1))):
        np.testing.assert_array_equal(gc.evaluate(t, {x: X}), want)
    assert b.size == "3*B" and isinstance(b.size, gc.Dim)
    assert b.flatten().shape == ("3*B",)
