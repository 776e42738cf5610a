"""gc.load on garbage, truncated, tampered and newer-version files: always a ValueError that
says what is wrong (never a KeyError/IndexError/TypeError from deep inside), never code run."""

from __future__ import annotations

import base64
import copy
import json

import numpy as np
import pytest

import graphc as gc
from graphc.io import dumps, loads


def model() -> gc.Graph:
    g = gc.Graph("m")
    x, y = g.input("x", ("B", 1)), g.input("y", ("B", 1))
    W, b = g.param("W", np.ones((1, 4))), g.param("b", np.zeros(4))          # nodes 2, 3
    h = gc.tanh(x @ W + b)                                                   # nodes 4, 5, 6
    loss = g.output("loss", gc.mean((gc.sum(h, axis=1, keepdims=True) - y) ** 2))
    gc.grad(loss, [W, b])
    return g


TEXT = dumps(model())
DOC = json.loads(TEXT)
#                                                     node 4 = matmul(0, 2), 5 = add(4, 3), ...
SUM = next(i for i, n in enumerate(DOC["nodes"]) if n["op"] == "sum")
CONST = next(i for i, n in enumerate(DOC["nodes"]) if n["op"] == "constant")
GRAD = next(i for i, n in enumerate(DOC["nodes"]) if "grad_of" in n["meta"])
UNB = next(i for i, n in enumerate(DOC["nodes"]) if n["meta"].get("unbroadcast"))


def edit(fn):
    def make():
        d = copy.deepcopy(DOC)
        fn(d)
        return json.dumps(d)
    return make


def node(i, **kv):
    return edit(lambda d: d["nodes"][i].update(kv))


def drop(where, key):
    return edit(lambda d: where(d).pop(key))


def set_top(**kv):
    return edit(lambda d: d.update(kv))


def _cycle(d):
    d["nodes"][4]["inputs"] = [5, 2]


def _deep() -> str:
    line = json.dumps(DOC["nodes"][4])
    deep = line.replace('"attrs": {}', '"attrs": {"deep": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert deep != line
    return TEXT.replace(line, deep)


def meta(i, **kv):
    return edit(lambda d: d["nodes"][i]["meta"].update(kv))


def _int_trainable(d):
    """W as an int64 param, value and node agreeing: g.param refuses a trainable int."""
    d["nodes"][2]["dtype"] = "int64"
    d["params"]["W"] = {"dtype": "<i8", "shape": [1, 4],
                        "data": base64.b64encode(np.ones((1, 4), np.int64).tobytes()).decode()}


def _array(a) -> dict:
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode()}


def _wrong_bytes(d):
    raw = base64.b64decode(d["params"]["W"]["data"])
    d["params"]["W"]["data"] = base64.b64encode(raw[:-8]).decode()


CORPUS = {
    # ---------------------------------------------------------------- garbage / truncated
    "empty": (lambda: "", "empty file"),
    "whitespace": (lambda: "  \n ", "empty file"),
    "truncated": (lambda: TEXT[: len(TEXT) // 2], r"not valid JSON \(truncated\?\)"),
    "truncated_end": (lambda: TEXT[:-3], "not valid JSON"),
    "bad_json": (lambda: "{format: graphc}", "not valid JSON"),
    "binary": (lambda: b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "not a text"),
    "top_list": (lambda: "[1, 2, 3]", "a JSON object at the top level"),
    "top_string": (lambda: '"graphc.graph"', "a JSON object at the top level"),
    "duplicate_key": (lambda: TEXT.replace('"version": 2,', '"version": 2, "version": 2,'),
                      "duplicate key 'version'"),
    "nan_token": (lambda: TEXT.replace('"strict": false', '"strict": NaN'), "NaN"),
    "too_deep": (_deep, "nested too deeply"),
    # ------------------------------------------------------------------ format / version
    "no_format": (drop(lambda d: d, "format"), "not a graphc model file.*no 'format'"),
    "wrong_format": (set_top(format="onnx"), r"not a graphc model file \(format 'onnx'"),
    "newer_version": (set_top(version=3), "version 3 is newer.*upgrade graphc"),
    "version_string": (set_top(version="1"), "bad format version '1'"),
    "version_bool": (set_top(version=True), "bad format version True"),
    "version_zero": (set_top(version=0), "bad format version 0"),
    # ------------------------------------------------------------------------ schema
    "missing_nodes": (drop(lambda d: d, "nodes"), "missing field.*'nodes'"),
    "unknown_top_field": (set_top(extra=1), "unknown field.*'extra'"),
    "nodes_not_list": (set_top(nodes={"0": 1}), "nodes: expected a list"),
    "node_not_object": (edit(lambda d: d["nodes"].__setitem__(3, [1])),
                        "node 3: expected an object"),
    "name_not_string": (set_top(name=3), "name: expected a string"),
    "strict_not_bool": (set_top(strict="no"), "strict: expected true or false"),
    "missing_loc": (drop(lambda d: d["nodes"][5], "loc"), r"node 5 \(add\): missing field.*'loc'"),
    "unknown_node_field": (node(5, code="print(1)"), "unknown field.*'code'"),
    "id_out_of_order": (node(5, id=6), "node 5: id 6 out of order"),
    "op_not_string": (node(5, op=7), "op: expected an op name"),
    "loc_not_string": (node(5, loc=7), "loc: expected a 'file:line' string"),
    "shape_not_list": (node(0, shape="B"), "shape: expected a shape"),
    "bad_symbol": (node(0, shape=["B;1", 1]), "dim expression 'B;1': unexpected"),
    "symbol_code": (node(0, shape=["__import__('os')", 1]), "dim expression .*: unexpected"),
    "dim_too_deep": (node(0, shape=["(" * 50 + "B" + ")" * 50, 1]), "nested deeper than"),
    "dim_blowup": (node(0, shape=["(a+b+c+d+e)*(a+b+c+d+e)*(a+b+c+d+e)*(a+b+c+d+e)", 1]),
                   "too complex"),
    "negative_dim": (node(0, shape=["B", -1]), "negative"),
    "float_dim": (node(0, shape=["B", 1.5]), "bad shape"),
    # ----------------------------------------------------------------- ops / references
    "unknown_op": (node(6, op="launch_missiles"), "unknown op 'launch_missiles'"),
    "dangling_operand": (node(5, inputs=[4, 99]), "dangling reference to node 99"),
    "negative_operand": (node(5, inputs=[4, -1]), "dangling reference to node -1"),
    "operand_not_int": (node(5, inputs=[4, "3"]), "operand \"3\" is not a node id"),
    "inputs_not_list": (node(5, inputs=4), "inputs: expected a list"),
    "cycle": (edit(_cycle), "cycle: 4 -> 5 -> 4"),
    "forward_reference": (node(4, inputs=[0, CONST]), f"refers to node {CONST}, which comes later"),
    "source_with_operands": (node(2, inputs=[0]), "takes no operands"),
    "missing_operand": (node(4, inputs=[0]), "not valid for matmul"),
    "unknown_attribute": (node(SUM, attrs={"axis": [1], "keepdims": True, "bogus": 1}),
                          r"not valid for sum: TypeError: sum has no attribute\(s\) \['bogus'\]"),
    # check_node with canonical=True: a stored node's attributes are already normalized
    "non_canonical_axis": (node(SUM, attrs={"axis": [-1], "keepdims": True}),
                           r"not valid for sum: ValueError: attributes .* not in canonical form"),
    "wrong_arity": (node(5, inputs=[4]), r"node 5 \(add\): the stored operands/attributes are "
                                         r"not valid for add: TypeError: add takes 2 operand"),
    "bad_attribute": (node(SUM, attrs={"axis": "x", "keepdims": True}), "not valid for sum"),
    "axis_out_of_range": (node(SUM, attrs={"axis": [7], "keepdims": True}), "not valid for sum"),
    "bad_tag": (node(SUM, attrs={"axis": {"weird": 1}, "keepdims": True}), "unknown value tag"),
    "meta_dangling": (edit(lambda d: d["nodes"][GRAD]["meta"].update(grad_of=999)),
                      "meta 'grad_of': must be a node id of the graph, got 999"),
    # an op node's attribute equal to the canonical one, but of another type or form
    "axis_numpy_scalar": (node(SUM, attrs={"axis": [{"scalar": _array(np.int64(1))}],
                                           "keepdims": True}), "not valid for sum.*canonical"),
    "axis_one_element_array": (node(SUM, attrs={"axis": {"array": _array([1])},
                                                "keepdims": True}), "not valid for sum"),
    "keepdims_float": (node(SUM, attrs={"axis": [1], "keepdims": 0.0}),
                       "not valid for sum.*canonical"),
    # ------------------------------------------------------- meta (graphc/io/meta.py)
    "meta_loc_not_string": (meta(5, unbroadcast=True, forward_loc=["a", "b"]),
                            r"node 5 \(add\): meta 'forward_loc': must be a string"),
    "meta_reduces_int": (meta(UNB, reduces=5), "meta 'reduces': must be a list of symbolic dims"),
    "meta_reduces_code": (meta(UNB, reduces=["B; import os"]), "meta 'reduces': must be a list"),
    "meta_axes_negative": (meta(UNB, axes=[-1]), "meta 'axes': must be a list of ints >= 0"),
    "meta_axes_tagged_list": (meta(UNB, axes={"list": [0]}), "meta 'axes': must be a list"),
    "meta_operand_bool": (meta(UNB, operand=True), "meta 'operand': must be an int >= 0"),
    "meta_unbroadcast_string": (meta(UNB, unbroadcast="yes"), "meta 'unbroadcast': must be true"),
    "meta_forward_op_unknown": (meta(UNB, forward_op="os.system"),
                                "meta 'forward_op': must be the name of a registered op"),
    "meta_origin_unknown": (meta(5, origin=7), "meta 'origin': must be the name of a registered"),
    "meta_grad_of_string": (meta(GRAD, grad_of="11"), "meta 'grad_of': must be a node id"),
    "meta_forward_dangling": (meta(UNB, forward=-1), "meta 'forward': must be a node id.*got -1"),
    "meta_grad_wrt_dangling": (meta(5, grad_y=11, grad_wrt=[2, 99]),
                               "meta 'grad_wrt': must be a non-empty list of node ids"),
    "meta_grad_wrt_empty": (meta(5, grad_y=11, grad_wrt=[]), "meta 'grad_wrt': must be"),
    "meta_grad_wrt_int": (meta(5, grad_y=11, grad_wrt=2), "meta 'grad_wrt': must be"),
    "meta_grad_y_float": (meta(5, grad_y=11.0, grad_wrt=[2]), "meta 'grad_y': must be a node id"),
    "meta_hint_list": (meta(5, hint=["x"]), "meta 'hint': must be a string"),
    "meta_scope_list": (meta(5, scope=["a"]), "meta 'scope': must be a string"),
    "meta_optimizer_int": (meta(5, optimizer=1), "meta 'optimizer': must be a string"),
    "meta_zero_gradient_null": (meta(5, zero_gradient=None), "meta 'zero_gradient': must be"),
    "meta_unknown_list": (meta(5, note=[1, 2]), "meta 'note': .*plain scalar.*tuple"),
    "meta_unknown_scalar_tag": (meta(5, note={"scalar": _array(np.int16(3))}),
                                "meta 'note': .*plain scalar.*int16"),
    "meta_not_object": (node(5, meta=[]), r"node 5 \(add\): meta: expected an object"),
    "output_dangling": (set_top(outputs={"loss": 999}), "outputs 'loss': dangling reference"),
    "output_not_int": (set_top(outputs={"loss": "14"}), "outputs 'loss': dangling reference"),
    "output_name_clash": (set_top(outputs={"x": 5}), "also used by an input or param"),
    "duplicate_input_name": (edit(lambda d: d["nodes"][1].update(
        name="x", attrs={"name": "x"})), "'x' is used twice"),
    "input_name_mismatch": (node(0, name="z"), "an input has attributes"),
    "trainable_not_bool": (node(2, attrs={"name": "W", "trainable": "yes"}), "trainable"),
    # source nodes, checked as g.input / g.param / g.constant check them
    "trainable_int_param": (edit(_int_trainable),
                            r"node 2 \(param\): dtype: a trainable param has a float dtype"),
    "empty_input_name": (node(0, name="", attrs={"name": ""}), "an input needs a non-empty name"),
    "param_symbolic_shape": (node(2, shape=["B", 4]), r"stored shape \(B, 4\) but its value"),
    "op_with_name": (node(5, name="h"), r"node 5 \(add\): name: only an input or a param"),
    "constant_with_name": (node(CONST, name="c"), "only an input or a param has a name"),
    "input_too_many_dims": (node(0, shape=["B"] + [1] * 32), "a shape of 33 dims"),
    # --------------------------------------------------------------- shapes and dtypes
    "tampered_shape": (node(5, shape=["B", 5]),
                       r"stored shape \(B, 5\) but add of .* gives \(B, 4\)"),
    "tampered_symbol": (node(5, shape=["N", 4]), r"stored shape \(N, 4\)"),
    "tampered_rank": (node(6, shape=["B"]), r"stored shape \(B,\) but tanh"),
    "tampered_param_shape": (node(2, shape=[1, 5]), r"stored shape \(1, 5\) but its value"),
    "tampered_input_shape": (node(0, shape=["B", 2]), "not valid for matmul"),
    "tampered_dtype": (node(6, dtype="float32"), "stored dtype float32 but tanh gives float64"),
    "bad_dtype": (node(6, dtype="float65"), "'float65' is not a numpy dtype"),
    "object_dtype": (node(6, dtype="object"), "not one graphc computes with"),
    "complex_dtype": (node(6, dtype="complex128"), "not one graphc computes with"),
    "string_dtype": (node(0, dtype="<U5"), "not one graphc computes with"),
    "structured_dtype": (node(0, dtype="V8"), "not one graphc computes with"),
    # numpy parses a comma string with ast.literal_eval: a SyntaxError, not a ValueError
    "dtype_comma_string": (node(6, dtype=","), "',' is not a numpy dtype name"),
    "array_dtype_comma_string": (edit(lambda d: d["params"]["W"].update(dtype="f8,(2)i4")),
                                 "params 'W': dtype: 'f8,.*' is not a numpy dtype name"),
    # ------------------------------------------------------------------------- arrays
    "bad_base64": (edit(lambda d: d["params"]["W"].update(data="!!!not base64!!!")),
                   "params 'W': data: not valid base64"),
    "wrong_byte_count": (edit(_wrong_bytes), r"24 bytes, but shape \(1, 4\) of float64 needs 32"),
    "huge_claimed_shape": (edit(lambda d: d["params"]["W"].update(shape=[10**12, 10**12])),
                           "needs 8000000000000000000000000"),
    "array_dtype_pickle": (edit(lambda d: d["params"]["W"].update(dtype="|O")),
                           "not one graphc computes with"),
    "array_negative_dim": (edit(lambda d: d["params"]["W"].update(shape=[-1, 4])),
                           "array dims must be ints >= 0"),
    "array_too_many_dims": (edit(lambda d: d["params"]["W"].update(shape=[1] * 33 + [4])),
                            "an array of 34 dims"),
    "array_missing_data": (drop(lambda d: d["params"]["W"], "data"), "missing field.*'data'"),
    "array_dtype_mismatch": (edit(lambda d: d["params"]["W"].update(
        dtype="<f4", data=base64.b64encode(np.ones(4, np.float32).tobytes()).decode())),
        "stored dtype float64 but its value in 'params' has dtype float32"),
    "param_missing_value": (drop(lambda d: d["params"], "b"), "param 'b' has no value"),
    "param_extra_value": (edit(lambda d: d["params"].update(c=d["params"]["b"])),
                          r"value\(s\) for \['c'\], which no param node uses"),
    "constant_missing_value": (drop(lambda d: d["nodes"][CONST], "value"),
                               "a constant needs a 'value'"),
    "constant_wrong_shape": (edit(lambda d: d["nodes"][CONST]["value"].update(
        shape=[1], data=d["nodes"][CONST]["value"]["data"])), r"stored shape \(\) but its value"),
    "value_on_op": (node(6, value={"dtype": "<f8", "shape": [], "data": ""}),
                    "unknown field.*'value'"),
}


def test_corpus_is_big():
    assert len(CORPUS) >= 100


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_tampered_file_is_a_value_error(tmp_path, case):
    make, pattern = CORPUS[case]
    data = make()
    path = tmp_path / "m.json"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    with pytest.raises(ValueError, match=pattern) as e:
        gc.load(path)
    assert type(e.value) is ValueError or isinstance(e.value, ValueError)
    assert str(e.value).startswith(str(path) + ": "), "the message names the file"
    assert "Traceback" not in str(e.value)


def test_pristine_corpus_base_loads():
    g = loads(TEXT)
    assert str(g) == str(model())


def test_random_byte_mutations_only_raise_value_error():
    rng = np.random.default_rng(0)
    raw = bytearray(TEXT.encode())
    ok = bad = 0
    for _ in range(300):
        b = bytearray(raw)
        for _ in range(int(rng.integers(1, 4))):
            b[int(rng.integers(len(b)))] = int(rng.integers(32, 127))
        try:
            loads(bytes(b))
            ok += 1
        except ValueError:
            bad += 1
    assert bad > 100  # most mutations are caught; the rest still load into a valid graph


def test_random_value_swaps_only_raise_value_error():
    """Replace one field of one node with a value of a random JSON type."""
    rng = np.random.default_rng(1)
    junk = [None, True, -3, 2.5, "x", [], [1, "B"], {}, {"shape": [1]}, {"array": 1}, [[[]]]]
    for _ in range(300):
        d = copy.deepcopy(DOC)
        n = d["nodes"][int(rng.integers(len(d["nodes"])))]
        key = sorted(n)[int(rng.integers(len(n)))]
        n[key] = junk[int(rng.integers(len(junk)))]
        try:
            loads(json.dumps(d))
        except ValueError:
            pass


# --------------------------------------------------------------- resource exhaustion
def _chain(n: int) -> str:
    """A valid file of ``n`` nodes: an input and a chain of negations."""
    nodes = [dict(DOC["nodes"][0], shape=[2])]
    nodes += [{"id": i, "op": "negative", "inputs": [i - 1], "attrs": {}, "shape": [2],
               "dtype": "float64", "name": None, "loc": "", "meta": {}} for i in range(1, n)]
    return json.dumps(dict(DOC, nodes=nodes, params={}, outputs={"o": n - 1}))


def test_too_many_nodes_is_refused_before_building_any():
    assert len(loads(_chain(50), max_nodes=50)) == 50
    with pytest.raises(ValueError, match=r"nodes: 51 nodes, more than the 50 load accepts"):
        loads(_chain(51), max_nodes=50)
    from graphc.io.json_format import MAX_NODES
    text = _chain(MAX_NODES + 1)
    with pytest.raises(ValueError, match=f"{MAX_NODES + 1} nodes"):
        loads(text)


@pytest.mark.parametrize("shape", [["B", 2**41], [2**21, 2**21], [10**400], [2**30, 2**11, "B"],
                                   [2**30], ["B", 2**28 + 1], ["B", "T", 2**14, 2**14, 2]])
def test_a_huge_declared_shape_is_refused(shape):
    """An input (no data) may declare any shape; a later compile or fold would allocate it:
    refused beyond MAX_BYTES (2 GiB) of float64 at every symbol = 1."""
    bad = edit(lambda d: d["nodes"][0].update(shape=shape))()
    with pytest.raises(ValueError, match=r"node 0 \(input\): shape: .* more than the .* load "
                                         r"accepts for one node"):
        loads(bad)


def _broadcast(shape: list) -> str:
    """x (2,) broadcast to ``shape``: a small input, a node as big as the file says."""
    nodes = [dict(DOC["nodes"][0], shape=[2]),
             {"id": 1, "op": "broadcast_to", "inputs": [0], "attrs": {"shape": shape},
              "shape": shape, "dtype": "float64", "name": None, "loc": "m.py:1", "meta": {}}]
    return json.dumps(dict(DOC, nodes=nodes, params={}, outputs={"o": 1}))


def test_the_byte_budget_is_per_node_and_a_load_keyword():
    from graphc.io.json_format import MAX_BYTES
    assert MAX_BYTES == 2**31
    fits = _broadcast(["B", 2**28, 2])          # 2**29 float64 = 4 GiB: too big at B = 1
    with pytest.raises(ValueError, match=r"node 1 \(broadcast_to\): shape: \(B, 268435456, 2\) "
                                         r"float64 takes 4294967296 bytes"):
        loads(fits)
    assert len(loads(fits, max_bytes=2**32)) == 2   # exactly at the budget: accepted
    assert len(loads(_broadcast([2**27, 2]))) == 2  # 2 GiB
    with pytest.raises(ValueError, match="more than the 1000 load accepts for one node"):
        loads(_broadcast([63, 2]), max_bytes=1000)
    assert len(loads(_broadcast([62, 2]), max_bytes=1000)) == 2


def test_load_takes_the_budgets(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(_broadcast([200, 2]))
    with pytest.raises(ValueError, match=f"^{path}: node 1 .* more than the 3199 load"):
        gc.load(path, max_bytes=3199)
    with pytest.raises(ValueError, match="2 nodes, more than the 1 load accepts"):
        gc.load(path, max_nodes=1)
    assert len(gc.load(path, max_bytes=3200, max_nodes=2)) == 2


def test_a_huge_constant_costs_what_the_file_holds():
    """A constant or param declaring a big shape needs all its bytes: refused, nothing allocated."""
    for shape in ([2**40], [0, 2**62], [2**62, 2**62]):
        bad = edit(lambda d, s=shape: d["nodes"][CONST].update(shape=s)
                   or d["nodes"][CONST]["value"].update(shape=s))()
        with pytest.raises(ValueError, match="value: data: 8 bytes, but shape|accepts for one"):
            loads(bad)
        bad = edit(lambda d, s=shape: d["params"]["W"].update(shape=s))()
        with pytest.raises(ValueError, match=r"params 'W': data: 32 bytes, but shape"):
            loads(bad)


def test_an_int_too_long_to_parse_is_a_clear_value_error():
    bad = TEXT.replace('"version": 2', '"version": 2' + "0" * 5000, 1)
    with pytest.raises(ValueError, match=r"^<string>: not valid JSON: .*digits"):
        loads(bad)



def test_a_strict_graph_refuses_what_its_build_checks_refuse():
    """Graph(strict=True) raises on a suspicious broadcast ((B, 1) - (B,) -> (B, B)) as it is
    built; a file that says strict holds no such node either (gc.grad's nodes skip the check)."""
    g = gc.Graph("outer")
    x, y = g.input("x", ("B", 1)), g.input("y", ("B",))
    with pytest.warns(gc.ShapeWarning):
        g.output("d", x - y)
    doc = json.loads(dumps(g))
    assert len(loads(json.dumps(doc))) == 3
    doc["strict"] = True
    with pytest.raises(ValueError, match=r"node 2 \(subtract\): a strict graph refuses it: "
                                         "subtract.*symbol B"):
        loads(json.dumps(doc))
    strict = gc.Graph("s", strict=True)
    w = strict.param("w", np.ones((1, 3)))
    loss = gc.sum(strict.input("x", ("B", 1)) * w)
    strict.output("g", gc.grad(loss, [w])[0])
    assert str(loads(dumps(strict))) == str(strict)
