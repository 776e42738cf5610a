"""Model files are data: nothing in them reaches generated code or gets executed.

A file carrying Python code in a name, a symbol, a location or an attribute either loads as
inert data (names never enter ``Function.source``) or is refused with a ValueError.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import graphc as gc

PAYLOAD = "__import__('os').system('echo PWNED')"


def _model():
    g = gc.Graph("secure")
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    h = gc.tanh(x @ W)
    s = gc.sum(h[:, 0:1], axis=1)
    g.output("loss", gc.mean(s))
    return g


def _node(doc, op):
    return next(n for n in doc["nodes"] if n["op"] == op)


def test_names_and_locations_with_code_load_as_inert_data(tmp_path):
    doc = json.loads(gc.io.dumps(_model()))
    evil = f"x\n{PAYLOAD}\n#"
    inp = _node(doc, "input")
    inp["name"] = inp["attrs"]["name"] = evil
    for n in doc["nodes"]:
        n["loc"] = f"{PAYLOAD}:1"
    doc["name"] = PAYLOAD
    path = tmp_path / "evil.json"
    path.write_text(json.dumps(doc))
    g = gc.load(path)
    f = gc.compile(g.outputs["loss"])
    assert PAYLOAD not in f.source and "PWNED" not in f.source and "import" not in f.source
    assert f.input_names == [evil]
    out = f(np.ones((2, 3)))
    assert np.isfinite(out)


@pytest.mark.parametrize("op, attr, value", [
    ("sum", "axis", [PAYLOAD]),
    ("sum", "keepdims", PAYLOAD),
    ("getitem", "index", [["slice", 0, 1, None], ["int", PAYLOAD]]),
    ("getitem", "index", [["slice", PAYLOAD, 1, None]]),
    ("getitem", "index", [["new"], ["int", 0], ["int", "0]; import os; x[0"]]),
    ("getitem", "index", [["int", "0]; import os; x[0"], ["slice", 0, 1, None]]),
    ("getitem", "index", [["int", True], ["slice", 0, 1, None]]),
    ("getitem", "index", [["slice", None, None, "1]; import os; x[0"], ["slice", 0, 1, None]]),
])
def test_code_in_attributes_is_refused(tmp_path, op, attr, value):
    doc = json.loads(gc.io.dumps(_model()))
    _node(doc, op)["attrs"][attr] = value
    with pytest.raises(ValueError):
        gc.io.loads(json.dumps(doc))


def test_unknown_op_names_are_refused():
    doc = json.loads(gc.io.dumps(_model()))
    _node(doc, "tanh")["op"] = "os.system"
    with pytest.raises(ValueError, match="unknown op"):
        gc.io.loads(json.dumps(doc))


def test_symbols_with_code_are_refused():
    doc = json.loads(gc.io.dumps(_model()))
    _node(doc, "input")["shape"] = [f"B; {PAYLOAD}", 3]
    with pytest.raises(ValueError):
        gc.io.loads(json.dumps(doc))


def test_user_strings_never_reach_generated_source():
    """Names are passed to generated code through its namespace, never pasted into it."""
    g = gc.Graph("x; import os")
    x = g.input("x; import os\n", ("B", 2))
    W = g.param("W'); import os; ('", np.ones((2, 2)))
    loss = gc.sum(x @ W)
    (gW,) = gc.grad(loss, [W])
    f = gc.compile([loss], inputs=[x], updates={W: W - 0.1 * gW})
    assert "import os" not in f.source and "W'" not in f.source
    f(np.ones((1, 2)))
    np.testing.assert_allclose(g.params["W'); import os; ('"], 0.9)


@pytest.mark.parametrize("index", [
    (("int", "0]; import os; x[0"),),
    (("int", True),),
    (("slice", None, None, "1]; import os; x[0"),),
    (("slice", 0, 1.5, None),),
    (("int", 0), ("int", 0), ("int", 0)),
])
def test_crafted_attributes_are_refused_at_build(index):
    """Attributes in attribute form (as a loaded file would carry them) are type-checked."""
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    n = len(g)
    with pytest.raises((TypeError, ValueError)):
        g.apply("getitem", [x], {"index": index})
    assert len(g) == n


def test_crafted_getitem_index_in_a_file_with_consistent_shapes_is_refused():
    """Even when the stored shapes agree with the crafted index, load refuses it."""
    g = gc.Graph("t")
    x = g.input("x", ("B", 2))
    g.output("y", x[0])
    doc = json.loads(gc.io.dumps(g))
    _node(doc, "getitem")["attrs"]["index"] = [["int", "0]; import os; x[0"]]
    with pytest.raises(ValueError):
        gc.io.loads(json.dumps(doc))


def test_a_pickled_function_is_validated_before_its_source_is_generated():
    """A crafted pickle put code in a swapaxes attribute; unpickling regenerated the source
    from it and ran it. __setstate__ validates the program as load validates a file."""
    import dataclasses
    import pickle

    g = gc.Graph("p")
    x = g.input("x", ("B", 3))
    f = gc.compile(gc.swapaxes(x, 0, 1) * 2.0, [x])
    X = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(f))(X), X.T * 2.0)  # the good one
    for attrs in ((("axis1", "__import__('os').system('echo PWNED')"), ("axis2", 1)),
                  (("axis1", np.int64(1)), ("axis2", 0)),  # equal to 1, but not canonical
                  (("axis1", 0),)):
        prog = f.program
        i = next(n.id for n in prog.graph.nodes if n.op == "swapaxes")
        bad = dataclasses.replace(prog.graph.node(i), attrs=attrs)
        saved = prog.graph._nodes[i]
        prog.graph._nodes[i] = bad
        try:
            data = pickle.dumps(f)
        finally:
            prog.graph._nodes[i] = saved
        with pytest.raises(ValueError, match="does not validate"):
            pickle.loads(data)


@pytest.mark.parametrize("op, attr, value", [
    ("sum", "axis", [{"scalar": None}]),  # a numpy scalar equal to the canonical int
    ("sum", "keepdims", 0.0),  # equal to False, but a float
    ("sum", "keepdims", 0),
])
def test_an_attribute_equal_to_the_canonical_one_but_of_another_type_is_refused(
        tmp_path, op, attr, value):
    """np.int64(1) == 1 passed validation, then the call failed with NameError 'np'."""
    doc = json.loads(gc.io.dumps(_model()))
    node = _node(doc, op)
    if value == [{"scalar": None}]:
        from graphc.io.json_format import _encode_value

        value = [_encode_value(np.int64(node["attrs"][attr][0]), "axis")]
    node["attrs"][attr] = value
    path = tmp_path / "m.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="canonical"):
        gc.load(path)

