"""gc.save / gc.load: the round trip is exact (printed IR, node fields and meta, params bits)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import graphc as gc
from graphc.io import FORMAT_NAME, FORMAT_VERSION, dumps, loads


def curve_fit(grad: bool = True) -> gc.Graph:
    rng = np.random.default_rng(1)
    g = gc.Graph("curve_fit", strict=True)
    x, y = g.input("x", ("B", 1)), g.input("y", ("B", 1))
    with g.name_scope("mlp"):
        W0, b0 = g.param("0/W", rng.normal(size=(1, 16))), g.param("0/b", rng.normal(size=16))
        W1, b1 = g.param("1/W", rng.normal(size=(16, 1))), g.param("1/b", np.zeros(1))
    loss = g.output("loss", gc.mean((gc.tanh(x @ W0 + b0) @ W1 + b1 - y) ** 2))
    if grad:
        for p, gp in zip([W0, b0, W1, b1], gc.grad(loss, [W0, b0, W1, b1]), strict=True):
            g.output("d" + p.name, gp)
    return g


def assorted() -> gc.Graph:
    """float32, ints, bools, indexing, where, odd constants and params, and user meta (plain
    scalars, a non-finite float among them, and a known key)."""
    g = gc.Graph("assorted")
    x = g.input("x", ("B", "T", 3), dtype=np.float32)
    lab = g.input("labels", ("B",), dtype=np.int64)
    s = g.param("scale", np.array([1.5, -0.0, np.inf], dtype=np.float32))
    big = g.param("big_endian", np.arange(6, dtype=">f8").reshape(2, 3), trainable=True)
    step = g.param("step", np.array(7, dtype=np.int32), trainable=False)
    h = x[:, -1, None] * s                              # getitem with slices, ints, None
    logits = gc.reshape(h, ("B", 3))
    picked = gc.take_along_axis(logits, gc.expand_dims(lab, 1), axis=1)
    mask = picked > 0
    y = gc.where(mask, picked, picked * 0.5)
    c = g.constant(np.array([[np.nan, np.inf, -np.inf]], dtype=np.float64))
    with g.annotate(note="a", flag=None, tiny=float("inf"), count=3, on=True, scope="blk"):
        z = gc.sum(y.astype(np.float64) + big[:1, :1], axis=0) + c.sum() * 0
    g.output("z", z)
    g.output("step_out", step)
    g.output("onehot_bool", g.constant(np.array([True, False])))
    return g


def assert_same(a: gc.Graph, b: gc.Graph) -> None:
    assert str(a) == str(b)
    assert a.name == b.name and a.strict == b.strict
    assert a.nodes == b.nodes                      # every field but the constant value
    for m, n in zip(a.nodes, b.nodes, strict=True):
        assert m.info == n.info and m.loc == n.loc
        assert {k: type(v) for k, v in m.meta} == {k: type(v) for k, v in n.meta}
        assert {k: type(v) for k, v in m.attrs} == {k: type(v) for k, v in n.attrs}
        if m.value is not None:
            assert m.value.dtype == n.value.dtype and m.value.tobytes() == n.value.tobytes()
            assert not n.value.flags.writeable
    assert list(a.params) == list(b.params)
    for k in a.params:
        assert a.params[k].dtype == b.params[k].dtype and a.params[k].shape == b.params[k].shape
        assert a.params[k].tobytes() == b.params[k].tobytes()
        assert b.params[k].flags.writeable
    assert list(a.inputs) == list(b.inputs) and list(a.outputs) == list(b.outputs)
    assert {k: t.id for k, t in a.outputs.items()} == {k: t.id for k, t in b.outputs.items()}


@pytest.mark.parametrize("build", [curve_fit, assorted, lambda: gc.Graph("empty")])
def test_exact_round_trip(tmp_path, build):
    g = build()
    path = tmp_path / "model.json"
    gc.save(g, path)
    h = gc.load(path)
    assert_same(g, h)
    gc.save(h, tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()   # byte-stable


def test_file_layout():
    doc = json.loads(dumps(curve_fit(grad=False)))
    assert doc["format"] == FORMAT_NAME == "graphc.graph" and doc["version"] == FORMAT_VERSION == 2
    assert set(doc) == {"format", "version", "graphc", "name", "strict", "nodes", "params",
                        "outputs"}
    assert doc["nodes"][0] == {"id": 0, "op": "input", "inputs": [], "attrs": {"name": "x"},
                               "shape": ["B", 1], "dtype": "float64", "name": "x",
                               "loc": doc["nodes"][0]["loc"], "meta": {}}
    W = doc["params"]["mlp/0/W"]
    assert W["dtype"] == "<f8" and W["shape"] == [1, 16] and set(W) == {"dtype", "shape", "data"}
    assert doc["outputs"] == {"loss": 14}


def test_loaded_graph_computes_the_same():
    g = curve_fit()
    h = loads(dumps(g))
    x = np.linspace(-1, 1, 5)[:, None]
    feed = {"x": x, "y": np.sin(3 * x)}
    fa = gc.compile(list(g.outputs.values()))
    fb = gc.compile(list(h.outputs.values()))
    for u, v in zip(fa(**feed), fb(**feed), strict=True):
        np.testing.assert_array_equal(u, v)
    # and it keeps growing like any graph
    more = gc.tanh(h["x"]) * 2
    assert more.shape == ("B", 1)


def test_save_refuses_unsaveable_values(tmp_path):
    g = gc.Graph("bad")
    with g.annotate(obj=object()):
        g.constant(1.0)
    with pytest.raises(TypeError, match="cannot save meta 'obj'"):
        gc.save(g, tmp_path / "m.json")
    with pytest.raises(TypeError, match="gc.Graph"):
        gc.save("not a graph", tmp_path / "m.json")


@pytest.mark.parametrize("meta, why", [
    ({"note": ["a", ("b", 1)]}, "holds only a plain scalar .* of type list"),
    ({"count": np.int16(3)}, "of type int16"),
    ({"kind": np.dtype("float32")}, r"got dtype\('float32'\)"),
    ({"table": {"k": 2.5}}, "of type dict"),
    ({"scope": ("a", "b")}, "'scope' of node 1: must be a string"),
    ({"grad_of": 7}, "'grad_of' of node 1: must be a node id of the graph, got 7"),
    ({"axes": [0]}, "must be a list of ints >= 0, got \\[0\\]"),
    ({"forward_op": "launch"}, "must be the name of a registered op"),
])
def test_save_refuses_meta_that_load_would_refuse(meta, why):
    """Meta has a schema (graphc/io/meta.py): what load refuses, save refuses first."""
    g = gc.Graph("bad")
    x = g.input("x", (2,))
    g.output("y", g.apply("negative", [x], {}, meta=meta))
    with pytest.raises(TypeError, match="cannot save meta .*" + why):
        dumps(g)


def test_meta_graphc_writes_round_trips():
    """Every key of the schema, as gc.grad, a module, an optimiser and a pass write it."""
    from graphc.io.meta import KNOWN

    g = gc.Graph("m")
    x = g.input("x", ("B", 3))
    y = g.input("y", ("B",), dtype=np.int64)
    with g.name_scope("lin"), g.annotate(scope="lin"):
        W = g.param("W", np.ones((3, 2)))
        b = g.param("b", np.zeros(2))
        loss = gc.nn.cross_entropy(gc.tanh(x @ W + b), y)
    step = g.param("step", np.zeros(()), trainable=False)
    u = g.param("unused", np.zeros(1))
    gW, gb, gu = gc.grad(loss, [W, b, u])
    with g.annotate(optimizer="sgd", origin="mean"):
        g.output("W_new", W - 0.1 * gW)
    with g.annotate(onnx_node="/head/Relu", onnx_op="Relu"):   # as gc.onnx.load writes them
        g.output("relu", gc.maximum(x, 0.0))
    g.output("gb", gb)
    g.output("gu", gu)
    g.output("step_out", step)
    seen = {k for n in g.nodes for k in n.info}
    assert seen == set(KNOWN), set(KNOWN) ^ seen
    assert_same(g, loads(dumps(g)))
