"""gc.onnx.load: names, params, symbols, folded shape chains, errors, meta and scopes, on
models built by hand with onnx.helper (onnx's ReferenceEvaluator is the oracle)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

F, I64 = TensorProto.FLOAT, TensorProto.INT64


def model(nodes, inputs, outputs, inits=(), opset=18, name="m"):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def vi(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def run(g, *arrays):
    fn = gc.compile(list(g.outputs.values()), inputs=list(g.inputs.values()))
    return fn(*arrays)


def oracle(m, feeds):
    return ReferenceEvaluator(m).run(None, feeds)


def mlp_model():
    w = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    b = np.ones(3, np.float32)
    nodes = [helper.make_node("MatMul", ["input.1", "W"], ["h"], name="/fc/MatMul"),
             helper.make_node("Add", ["h", "b"], ["out:0"], name="/fc/Add"),
             helper.make_node("Relu", ["out:0"], ["y"], name="/act/Relu")]
    return model(nodes, [vi("input.1", F, ["batch", 4])],
                 [vi("out:0", F, ["batch", 3]), vi("y", F, ["batch", 3])],
                 [init("W", w), init("b", b)])


# ----------------------------------------------------------------------------- names, params

def test_inputs_outputs_keep_order_and_names_mapped_to_identifiers():
    g = gc.onnx.load(mlp_model())
    assert list(g.inputs) == ["input_1"]
    assert list(g.outputs) == ["out_0", "y"]
    assert g.onnx_names == {"input_1": "input.1", "out_0": "out:0", "y": "y"}


def test_float_initializers_are_trainable_params_int_ones_are_not():
    m = model([helper.make_node("MatMul", ["x", "W"], ["h"]),
               helper.make_node("Add", ["k", "offset"], ["k2"]),
               helper.make_node("Gather", ["h", "ids"], ["rows"], axis=1),
               helper.make_node("Reshape", ["h", "shape"], ["y"])],
              [vi("x", F, [2, 4]), vi("k", I64, [2])],
              [vi("y", F, [6]), vi("rows", F, [2, 2]), vi("k2", I64, [2])],
              [init("W", np.ones((4, 3), np.float32)), init("ids", np.array([0, 2])),
               init("offset", np.array([5, 6])), init("shape", np.array([6]))])
    g = gc.onnx.load(m)
    assert [t.name for t in g.trainable] == ["W"]
    assert g.params["W"].dtype == np.float32
    assert not g["offset"].node.attr["trainable"]  # read as a tensor: a frozen param
    assert "shape" not in g and "ids" not in g  # read as constants: folded, no param
    x, k = np.arange(8, dtype=np.float32).reshape(2, 4), np.array([1, 2])
    for a, b in zip(run(g, x, k), oracle(m, {"x": x, "k": k})):
        np.testing.assert_array_equal(a, b)


def test_a_trainable_initializer_is_never_folded_into_a_constant():
    m = model([helper.make_node("Gather", ["W", "ids"], ["y"], axis=0)], [],
              [vi("y", F, None)],
              [init("W", np.eye(3, dtype=np.float32)), init("ids", np.array([2, 0]))])
    g = gc.onnx.load(m)
    assert g.outputs["y"].op == "take" and [t.name for t in g.trainable] == ["W"]
    g.params["W"][...] = 7  # fine-tuned values are what the graph computes with
    np.testing.assert_array_equal(run(g)[0], np.full((2, 3), 7))


def test_initializer_values_and_outputs_match_the_reference():
    m = mlp_model()
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    got = run(gc.onnx.load(m), x)
    for a, b in zip(got, oracle(m, {"input.1": x})):
        np.testing.assert_allclose(a, b, rtol=1e-6)
        assert a.dtype == b.dtype


# ----------------------------------------------------------------------------- symbols

def test_dim_params_become_symbols_and_one_function_serves_every_batch_size():
    m = mlp_model()
    g = gc.onnx.load(m)
    assert g.inputs["input_1"].shape == ("batch", 4)
    assert g.outputs["y"].shape == ("batch", 3)
    fn = gc.compile(g.outputs["y"], inputs=[g.inputs["input_1"]])
    for n in (1, 3, 8):
        x = np.random.default_rng(n).normal(size=(n, 4)).astype(np.float32)
        np.testing.assert_allclose(fn(x), oracle(m, {"input.1": x})[1], rtol=1e-6)


def test_odd_dim_params_are_sanitised_and_unknown_dims_get_fresh_symbols():
    m = model([helper.make_node("Add", ["x", "x"], ["y"])],
              [vi("x", F, ["batch size", None, "2*n"])], [vi("y", F, None)])
    g = gc.onnx.load(m)
    b, u, e = g.inputs["x"].shape
    assert str(b) == "batch_size" and isinstance(u, gc.Dim) and str(e) == "2*n"
    assert len({str(b), str(u)}) == 2


def reshape_chain_model():
    """torch's dynamo pattern: Shape -> Gather -> Unsqueeze -> Concat -> Reshape."""
    c = helper.make_tensor
    nodes = [
        helper.make_node("Shape", ["x"], ["s"], name="/Shape"),
        helper.make_node("Constant", [], ["zero"], value=c("zero", I64, [], [0])),
        helper.make_node("Constant", [], ["one"], value=c("one", I64, [], [1])),
        helper.make_node("Gather", ["s", "zero"], ["n"], axis=0, name="/Gather"),
        helper.make_node("Gather", ["s", "one"], ["t"], axis=0, name="/Gather_1"),
        helper.make_node("Constant", [], ["four"], value=c("four", I64, [], [4])),
        helper.make_node("Mul", ["t", "four"], ["t4"], name="/Mul"),
        helper.make_node("Constant", [], ["ax"], value=c("ax", I64, [1], [0])),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"], name="/Unsqueeze"),
        helper.make_node("Unsqueeze", ["t4", "ax"], ["t41"], name="/Unsqueeze_1"),
        helper.make_node("Concat", ["n1", "t41"], ["shape"], axis=0, name="/Concat"),
        helper.make_node("Reshape", ["x", "shape"], ["y"], name="/Reshape"),
    ]
    return model(nodes, [vi("x", F, ["N", "T", 4])], [vi("y", F, ["N", None])])


def test_shape_gather_concat_reshape_chain_folds_to_dim_expressions():
    m = reshape_chain_model()
    g = gc.onnx.load(m)
    y = g.outputs["y"]
    assert y.shape == ("N", "4*T")
    assert y.op == "reshape"
    ops = {n.op for n in g.nodes}
    assert not ops & {"take", "concatenate", "multiply"}  # the chain folded away
    fn = gc.compile(y)
    for n, t in ((2, 3), (5, 1)):
        x = np.random.default_rng(n).normal(size=(n, t, 4)).astype(np.float32)
        np.testing.assert_array_equal(fn(x), x.reshape(n, 4 * t))


def test_a_data_dependent_shape_is_a_clear_error_naming_the_node():
    m = model([helper.make_node("Reshape", ["x", "shape"], ["y"], name="/view/Reshape")],
              [vi("x", F, [2, 6]), vi("shape", I64, [2])], [vi("y", F, None)])
    with pytest.raises(ValueError, match=r"'/view/Reshape' \(Reshape\).*'shape'.*data-dependent"):
        gc.onnx.load(m)
    g = gc.onnx.load(m, constants={"shape": np.array([3, 4])})
    assert list(g.inputs) == ["x"] and g.outputs["y"].shape == (3, 4)
    with pytest.raises(ValueError, match="not graph inputs"):
        gc.onnx.load(m, constants={"nope": np.array([3, 4])})
    with pytest.raises(ValueError, match="declared"):
        gc.onnx.load(m, constants={"shape": np.array([3.0, 4.0])})


# ----------------------------------------------------------------------------- refusals

def test_every_unsupported_op_is_listed_at_once():
    nodes = [helper.make_node("Frobnicate", ["x"], ["a"], name="first", domain="acme"),
             helper.make_node("Relu", ["a"], ["b"], name="ok"),
             helper.make_node("Zap", ["b"], ["y"], name="second", domain="acme")]
    m = model(nodes, [vi("x", F, [2])], [vi("y", F, [2])])
    m.opset_import.append(helper.make_opsetid("acme", 1))
    with pytest.raises(ValueError) as e:
        gc.onnx.load(m)
    text = str(e.value)
    assert "'first'" in text and "'second'" in text
    assert "acme::Frobnicate" in text and "acme::Zap" in text and "2 node(s)" in text


@pytest.mark.parametrize("opset", [12, onnx.defs.onnx_opset_version() + 1])
def test_opsets_outside_13_to_newest_are_refused(opset):
    m = model([helper.make_node("Abs", ["x"], ["y"])], [vi("x", F, [2])], [vi("y", F, [2])],
              opset=opset)
    with pytest.raises(ValueError, match=f"opset {opset} is not supported"):
        gc.onnx.load(m)


def test_a_failing_conversion_names_the_node_and_op_type():
    m = model([helper.make_node("Reshape", ["x", "s"], ["y"], name="/enc/Reshape")],
              [vi("x", F, [2, 3])], [vi("y", F, None)], [init("s", np.array([4, 4]))])
    with pytest.raises(gc.ShapeError, match=r"'/enc/Reshape' \(Reshape\)"):
        gc.onnx.load(m)


# ----------------------------------------------------------------------------- hostile input

def test_garbage_and_truncated_protobufs_are_value_errors(tmp_path):
    data = mlp_model().SerializeToString()
    for bad in (b"\xff\xfe garbage", data[: len(data) // 2]):
        with pytest.raises(ValueError, match="not an ONNX model"):
            gc.onnx.load(bad)
    with pytest.raises(ValueError, match="no graph"):
        gc.onnx.load(onnx.ModelProto().SerializeToString() + b"")
    p = tmp_path / "m.onnx"
    p.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not an ONNX model"):
        gc.onnx.load(p)
    with pytest.raises(ValueError, match="no ONNX file"):
        gc.onnx.load(tmp_path / "missing.onnx")
    with pytest.raises(TypeError, match="expected a path"):
        gc.onnx.load(42)


def test_a_cycle_and_a_dangling_name_are_value_errors():
    cyc = model([helper.make_node("Add", ["x", "b"], ["a"], name="n1"),
                 helper.make_node("Relu", ["a"], ["b"], name="n2")],
                [vi("x", F, [2])], [vi("b", F, [2])])
    with pytest.raises(ValueError, match="cycle"):
        gc.onnx.load(cyc)
    dangling = model([helper.make_node("Add", ["x", "ghost"], ["y"], name="n")],
                     [vi("x", F, [2])], [vi("y", F, [2])])
    with pytest.raises(ValueError, match="'ghost'"):
        gc.onnx.load(dangling)
    twice = model([helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Abs", ["x"], ["y"])],
                  [vi("x", F, [2])], [vi("y", F, [2])])
    with pytest.raises(ValueError, match="defined twice"):
        gc.onnx.load(twice)


def test_huge_declared_shapes_are_refused_before_anything_is_allocated():
    t = TensorProto(name="W", data_type=F, dims=[10**7, 10**7])  # no data
    m = model([helper.make_node("Relu", ["W"], ["y"])], [], [vi("y", F, None)], [t])
    with pytest.raises(ValueError, match="larger than"):
        gc.onnx.load(m)
    short = TensorProto(name="W", data_type=F, dims=[4], raw_data=b"\0" * 8)
    m = model([helper.make_node("Relu", ["W"], ["y"])], [], [vi("y", F, None)], [short])
    with pytest.raises(ValueError, match="'W'"):
        gc.onnx.load(m)
    m = model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", F, [2**40])],
              [vi("y", F, None)])
    with pytest.raises(ValueError, match="out of bounds"):
        gc.onnx.load(m)


def test_external_data_outside_the_models_directory_is_refused(tmp_path):
    t = TensorProto(name="W", data_type=F, dims=[2])
    t.data_location = TensorProto.EXTERNAL
    t.external_data.add(key="location", value="../../etc/passwd")
    m = model([helper.make_node("Relu", ["W"], ["y"])], [], [vi("y", F, None)], [t])
    p = tmp_path / "m.onnx"
    p.write_bytes(m.SerializeToString())
    with pytest.raises(ValueError, match="inside the model's directory"):
        gc.onnx.load(p)
    with pytest.raises(ValueError, match="external file"):
        gc.onnx.load(m)
    (tmp_path / "w.bin").write_bytes(np.array([1.0, -2.0], np.float32).tobytes())
    m.graph.initializer[0].external_data[0].value = "w.bin"
    p.write_bytes(m.SerializeToString())
    np.testing.assert_array_equal(run(gc.onnx.load(p))[0], [1.0, 0.0])


def test_a_non_tensor_input_or_an_unsupported_dtype_is_refused():
    m = model([helper.make_node("Identity", ["x"], ["y"])],
              [vi("x", TensorProto.STRING, [2])], [vi("y", TensorProto.STRING, [2])])
    with pytest.raises(TypeError, match="STRING is not supported"):
        gc.onnx.load(m)


# ----------------------------------------------------------------------------- meta, scopes

def test_every_node_keeps_its_onnx_name_and_op_type_and_exporter_scope():
    g = gc.onnx.load(mlp_model())
    built = [n for n in g.nodes if n.role == "op"]
    assert built and all("onnx_op" in n.info for n in built)
    by_op = {n.info["onnx_node"]: n for n in built}
    assert by_op["/fc/MatMul"].op == "matmul" and by_op["/fc/MatMul"].info["onnx_op"] == "MatMul"
    assert by_op["/fc/MatMul"].info["scope"] == "fc"
    assert by_op["/act/Relu"].info["scope"] == "act"


def test_nested_exporter_scopes_group_nodes_and_survive_save_and_load(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/encoder/layers.0/self_attn/Relu"),
             helper.make_node("Abs", ["a"], ["y"], name="/encoder/layers.1/self_attn/Abs")]
    m = model(nodes, [vi("x", F, ["B", 2])], [vi("y", F, ["B", 2])])
    g = gc.onnx.load(m)
    scopes = [n.info.get("scope") for n in g.nodes if n.role == "op"]
    assert scopes == ["encoder/layers.0/self_attn", "encoder/layers.1/self_attn"]
    gc.save(g, tmp_path / "g.json")
    back = gc.load(tmp_path / "g.json")
    assert [n.info.get("onnx_node") for n in back.nodes if n.role == "op"] == [
        "/encoder/layers.0/self_attn/Relu", "/encoder/layers.1/self_attn/Abs"]
    assert "cluster" in gc.to_dot(g)


def test_torch_dynamo_name_scopes_metadata_gives_the_scope_and_blocks_fold():
    """torch's dynamo exporter names nodes ``node_*`` and puts the module path in the
    ``pkg.torch.onnx.name_scopes`` metadata: the scope comes from there, so repeated layers
    fold; a malformed value is ignored (outside data), falling back to the name."""
    nodes = []
    for k in range(3):
        n = helper.make_node("Tanh", [f"h{k}"], [f"h{k + 1}"], name=f"node_tanh_{k}")
        helper.set_metadata_props(n, {"pkg.torch.onnx.name_scopes": repr(
            ["", "layers", f"layers.{k}", f"layers.{k}.act", "tanh"])})
        nodes.append(n)
    bad = helper.make_node("Abs", ["h3"], ["y"], name="/tail/Abs")
    helper.set_metadata_props(bad, {"pkg.torch.onnx.name_scopes": "[__import__('os')]"})
    g = gc.onnx.load(model([*nodes, bad], [vi("h0", F, ["B", 2])], [vi("y", F, ["B", 2])]))
    scopes = [n.info.get("scope") for n in g.nodes if n.role == "op"]
    assert scopes == ["layers/0/act", "layers/1/act", "layers/2/act", "tail"]
    assert "×3" in gc.to_dot(g, fold=True)


def test_diagrams_show_the_onnx_node_of_each_imported_op_escaped():
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/enc/Relu"),
             helper.make_node("Abs", ["a"], ["y"], name='/enc/<b>"abs"&')]
    g = gc.onnx.load(model(nodes, [vi("x", F, ["B", 2])], [vi("y", F, ["B", 2])]))
    text = gc.to_dot(g)
    assert "ONNX Relu" in text and "ONNX Relu Relu" not in text
    assert "from ONNX node '/enc/Relu' (Relu)" in text
    assert '<b>"abs"&' not in text and "&lt;b&gt;" in text   # outside text is escaped


def test_gradients_flow_to_the_imported_initializers():
    g = gc.onnx.load(mlp_model())
    y = g.outputs["y"]
    loss = gc.sum(y * y)
    (dw,) = gc.grad(loss, [g["W"]])
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    got = gc.compile(dw, inputs=[g.inputs["input_1"]])(x)
    w, b = g.params["W"], g.params["b"]
    h = np.maximum(x @ w + b, 0)
    np.testing.assert_allclose(got, x.T @ (2 * h * (h > 0)), rtol=1e-5)


# ----------------------------------------------------------------------------- converters

def _case(op, inputs, attrs=None, extra=(), opset=18, **kw):
    names = [f"i{k}" for k in range(len(inputs))] + [n for n, _ in extra]
    node = helper.make_node(op, names, [f"o{k}" for k in range(kw.get("n_out", 1))],
                            **(attrs or {}))
    ins = [vi(f"i{k}", helper.np_dtype_to_tensor_dtype(a.dtype), list(a.shape))
           for k, a in enumerate(inputs)]
    outs = [vi(f"o{k}", TensorProto.UNDEFINED, None) for k in range(kw.get("n_out", 1))]
    return model([node], ins, outs, [init(n, v) for n, v in extra], opset=opset)


R = np.random.default_rng(0)
X = R.normal(size=(3, 4, 5)).astype(np.float32)
CASES = {
    "slice_to_int_max": ("Slice", [X], {}, [("s", np.array([1])), ("e", np.array([2**63 - 1])),
                                           ("a", np.array([1]))]),
    "slice_backwards": ("Slice", [X], {}, [("s", np.array([-1])), ("e", np.array([-2**63])),
                                          ("a", np.array([2])), ("st", np.array([-2]))]),
    "pad_wrap": ("Pad", [X], {"mode": "wrap"}, [("p", np.array([0, 1, 2, 0, 2, 1]))]),
    "scatter_nd_add": ("ScatterND", [X, np.array([[0], [2], [0]]),
                                     R.normal(size=(3, 4, 5)).astype(np.float32)],
                       {"reduction": "add"}, []),
    "gather_nd_batch": ("GatherND", [X, np.array([[1, 0], [3, 4], [0, 0]])[:, None, :]],
                        {"batch_dims": 1}, []),
    "gather_elements_negative": ("GatherElements", [X, np.array([[[-1, 0, 2, 1, -4]]] * 3)],
                                 {"axis": 1}, []),
    "scatter_elements_add": ("ScatterElements", [X, np.array([[[0, 1], [0, 0]]] * 3),
                                                 np.ones((3, 2, 2), np.float32)],
                             {"axis": 2, "reduction": "add"}, []),
    "einsum": ("Einsum", [X, R.normal(size=(5, 2)).astype(np.float32)],
               {"equation": "abc,cd->abd"}, []),
    "gemm": ("Gemm", [X[0], X[1], np.ones(4, np.float32)],
             {"transB": 1, "alpha": 0.5, "beta": 2.0}, []),
    "int_div_truncates": ("Div", [np.array([-7, 7, -8], np.int64), np.array([2, -2, 3])], {}, []),
    "mod_python_sign": ("Mod", [np.array([-7, 7, 5], np.int32), np.array([3, -3, 3], np.int32)],
                        {}, []),
    "cumsum_exclusive_reverse": ("CumSum", [X], {"exclusive": 1, "reverse": 1},
                                 [("ax", np.array(1))]),
    "argmax_last": ("ArgMax", [np.array([[1, 3, 3], [2, 2, 0]], np.float32)],
                    {"axis": 1, "select_last_index": 1}, []),
    "topk_smallest": ("TopK", [X], {"largest": 0, "axis": 1}, [("k", np.array([2]))]),
    "onehot_axis0": ("OneHot", [np.array([0, 2, -1])], {"axis": 0},
                     [("d", np.array(3)), ("v", np.array([0.0, 5.0], np.float32))]),
    "split_uneven": ("Split", [X], {"axis": 2, "num_outputs": 2}, []),
    "trilu_lower": ("Trilu", [X], {"upper": 0}, [("k", np.array(1))]),
    "reduce_l2_keep": ("ReduceL2", [X], {"keepdims": 1}, [("ax", np.array([0, 2]))]),
    "expand_bidirectional": ("Expand", [X[:, :1, :]], {}, [("sh", np.array([2, 1, 1, 1]))]),
    "tile": ("Tile", [X], {}, [("r", np.array([1, 2, 1]))]),
    "where_cast": ("Where", [X > 0, X, -X], {}, []),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_converters_agree_with_the_reference_evaluator(name):
    op, inputs, attrs, extra = CASES[name]
    n_out = {"TopK": 2, "Split": 2}.get(op, 1)
    m = _case(op, inputs, attrs, extra, n_out=n_out)
    feeds = {f"i{k}": a for k, a in enumerate(inputs)}
    want = oracle(m, feeds)
    got = run(gc.onnx.load(m), *inputs)
    for a, b in zip(got, want):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_slice_to_int_max_on_a_symbolic_axis():
    m = model([helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])],
              [vi("x", F, ["B", 3])], [vi("y", F, None)],
              [init("s", np.array([1])), init("e", np.array([2**63 - 1])),
               init("a", np.array([0]))])
    g = gc.onnx.load(m)
    assert g.outputs["y"].shape == ("B - 1", 3)
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.testing.assert_array_equal(run(g, x)[0], x[1:])


def test_negative_pads_crop():
    m = model([helper.make_node("Pad", ["x", "p"], ["y"])], [vi("x", F, [3, 4, 5])],
              [vi("y", F, None)], [init("p", np.array([0, -1, 1, 0, 0, -2]))])
    want = np.pad(X[:, 1:, :3], [(0, 0), (0, 0), (1, 0)])
    np.testing.assert_array_equal(run(gc.onnx.load(m), X)[0], want)


# ----------------------------------------------------------------------------- fuzzing

def _fuzz_seed():
    """An exporter-like model: scopes, a folded shape chain, params, a symbolic batch."""
    m = reshape_chain_model()
    nodes = list(m.graph.node) + [
        helper.make_node("MatMul", ["y", "W"], ["h"], name="/fc/MatMul"),
        helper.make_node("Add", ["h", "b"], ["z"], name="/fc/Add"),
        helper.make_node("ReduceSum", ["z", "ax1"], ["out"], keepdims=0, name="/sum")]
    inits = [init("W", np.ones((8, 3), np.float32)), init("b", np.zeros(3, np.float32)),
             init("ax1", np.array([1]))]
    return model(nodes, [vi("x", F, ["N", 2, 4])], [vi("out", F, ["N"])], inits)


SEED = _fuzz_seed().SerializeToString()


def _check_loads_or_refuses(data):
    try:
        g = gc.onnx.load(data)
    except (ValueError, TypeError):
        return
    outs = list(g.outputs.values())
    fn = gc.compile(outs, inputs=list(g.inputs.values()))
    feeds = []
    for t in g.inputs.values():
        shape = [2 if isinstance(d, gc.Dim) else d for d in t.shape]
        if np.prod(shape) > 10**6:
            return
        feeds.append(np.ones(shape, t.dtype))
    try:
        fn(*feeds)
    except (ValueError, TypeError, FloatingPointError):
        pass  # a run-time check of the bound sizes (a reshape that does not fit at 2)
    gc.to_dot(g)


def test_the_fuzz_seed_loads_and_runs():
    g = gc.onnx.load(SEED)
    x = np.ones((2, 2, 4), np.float32)
    np.testing.assert_allclose(run(g, x)[0], np.full(2, 24.0))


@pytest.mark.fuzz
@pytest.mark.filterwarnings("ignore")
@given(st.lists(st.tuples(st.integers(0, len(SEED) - 1), st.integers(0, 255)), min_size=1,
                max_size=4), st.integers(1, len(SEED)))
def test_byte_edits_and_truncations_load_or_are_refused(edits, cut):
    data = bytearray(SEED)
    for at, b in edits:
        data[at] = b
    _check_loads_or_refuses(bytes(data))
    _check_loads_or_refuses(bytes(data[:cut]))


_FIELDS = st.sampled_from(["dim", "op", "input", "output", "drop", "attr", "init"])


@pytest.mark.fuzz
@pytest.mark.filterwarnings("ignore")
@given(st.lists(st.tuples(_FIELDS, st.integers(0, 30), st.integers(-5, 2**40)), min_size=1,
                max_size=3))
def test_protobuf_level_mutations_load_or_are_refused(mutations):
    m = onnx.ModelProto()
    m.ParseFromString(SEED)
    g = m.graph
    names = [o for n in g.node for o in n.output] + ["x", "W", "ghost", ""]
    for field, k, v in mutations:
        n = g.node[k % len(g.node)]
        if field == "dim":
            d = g.input[0].type.tensor_type.shape.dim[k % 3]
            if v % 2:
                d.dim_value = v
            else:
                d.dim_param = ["N", "M", "2*N", "bad name", ""][v % 5]
        elif field == "op":
            n.op_type = ["Relu", "Reshape", "Concat", "Gather", "Nope", "Loop"][v % 6]
        elif field == "input" and n.input:
            n.input[k % len(n.input)] = names[v % len(names)]
        elif field == "output":
            n.output[0] = names[v % len(names)]
        elif field == "drop":
            del g.node[k % len(g.node)]
        elif field == "attr":
            n.attribute.append(helper.make_attribute(["axis", "keepdims", "perm"][v % 3],
                                                     v % 7 - 3))
        elif field == "init":
            g.initializer[k % len(g.initializer)].dims.append(v % 1000)
        if not len(g.node):
            break
    _check_loads_or_refuses(m.SerializeToString())


def test_recursive_local_functions_are_refused():
    f = helper.make_function("my", "F", ["a"], ["b"], [helper.make_node("F", ["a"], ["b"],
                                                                        domain="my")],
                             [helper.make_opsetid("", 18), helper.make_opsetid("my", 1)])
    m = model([helper.make_node("F", ["x"], ["y"], domain="my")], [vi("x", F, [2])],
              [vi("y", F, [2])])
    m.opset_import.append(helper.make_opsetid("my", 1))
    m.functions.append(f)
    with pytest.raises(ValueError, match="do not inline"):
        gc.onnx.load(m)


def test_local_functions_are_inlined_and_schema_functions_expanded():
    body = [helper.make_node("Mul", ["a", "a"], ["b"])]
    f = helper.make_function("my", "Square", ["a"], ["b"], body,
                             [helper.make_opsetid("", 18)])
    nodes = [helper.make_node("Square", ["x"], ["s"], domain="my"),
             helper.make_node("MeanVarianceNormalization", ["s"], ["y"], axes=[0])]
    m = model(nodes, [vi("x", F, [4, 2])], [vi("y", F, [4, 2])])
    m.opset_import.append(helper.make_opsetid("my", 1))
    m.functions.append(f)
    x = R.normal(size=(4, 2)).astype(np.float32)
    want = oracle(m, {"x": x})[0]
    np.testing.assert_allclose(run(gc.onnx.load(m), x)[0], want, rtol=1e-4, atol=1e-5)


def test_scan_is_unrolled_and_if_picks_a_static_branch():
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Identity", ["s_out"], ["y_t"])], "body",
        [vi("s_in", F, [2]), vi("x_t", F, [2])], [vi("s_out", F, [2]), vi("y_t", F, [2])])
    scan = helper.make_node("Scan", ["s0", "xs"], ["s", "ys"], body=body, num_scan_inputs=1)
    m = model([scan], [vi("s0", F, [2]), vi("xs", F, [5, 2])],
              [vi("s", F, [2]), vi("ys", F, [5, 2])])
    s0, xs = np.zeros(2, np.float32), R.normal(size=(5, 2)).astype(np.float32)
    got = run(gc.onnx.load(m), s0, xs)
    np.testing.assert_allclose(got[1], np.cumsum(xs, 0), rtol=1e-6)
    np.testing.assert_allclose(got[0], xs.sum(0), rtol=1e-6)
    sym = model([scan], [vi("s0", F, [2]), vi("xs", F, ["T", 2])],
                [vi("s", F, [2]), vi("ys", F, ["T", 2])])
    with pytest.raises(ValueError, match="number of steps must be known"):
        gc.onnx.load(sym)


# ----------------------------------------------------------------------------- torch models

def _torch_models():
    torch = pytest.importorskip("torch")
    nn = torch.nn

    class CNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.bn, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), \
                nn.Linear(64, 2)

        def forward(self, x):
            h = nn.functional.max_pool2d(torch.relu(self.bn(self.c(x))), 2)
            return self.fc(torch.flatten(h, 1))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)

        def forward(self, x):
            return self.layer(x, src_mask=None, is_causal=False)

    class GRU(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = nn.GRU(3, 5, batch_first=True)

        def forward(self, x):
            return self.gru(x)[0]

    return {"mlp": (lambda: nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)), (4,)),
            "cnn_batchnorm": (CNN, (3, 8, 8)), "transformer_layer": (Encoder, (5, 8)),
            "gru": (GRU, (6, 3))}


def _export(torch, net, shape, path, dynamo):
    x = torch.randn(2, *shape)
    if dynamo:
        torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True,
                          verbose=False)
    else:
        torch.onnx.export(net, (x,), path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False,
                          do_constant_folding=False)


_SLOW = pytest.mark.slow


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript", "dynamo"])
@pytest.mark.parametrize("name", ["mlp", "cnn_batchnorm", "transformer_layer", "gru"])
def test_torch_exported_models_match_torch_forward_and_backward(name, dynamo, tmp_path,
                                                                 request):
    """Outputs at two batch sizes, and gradients of sum(y**2) for the input and for every
    initializer that is one of torch's parameters unchanged (the dynamo exporter folds
    BatchNorm into the conv and repacks the GRU's weights: those initializers are not
    torch's parameters; the TorchScript path, without constant folding, keeps them all)."""
    if dynamo:  # torch.export takes 4-20 s a model
        request.applymarker(_SLOW)
    torch = pytest.importorskip("torch")
    make, shape = _torch_models()[name]
    torch.manual_seed(0)
    net = make()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # distinct values: exporters share equal initializers
        for p in [*net.parameters(), *(b for b in net.buffers() if b.is_floating_point())]:
            p.copy_(torch.rand(p.shape, generator=gen) * 0.5 + 0.25)
    net.eval()
    path = tmp_path / f"{name}.onnx"
    _export(torch, net, shape, str(path), dynamo)
    g = gc.onnx.load(path)
    (x_in,), (y,) = g.inputs.values(), g.outputs.values()
    assert isinstance(x_in.shape[0], gc.Dim)
    fn = gc.compile(y)
    for b in (1, 3):
        x = torch.randn(b, *shape)
        np.testing.assert_allclose(fn(x.numpy()), net(x).detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
    ours = dict(net.named_parameters())
    same = [t for t in g.trainable if t.name in ours and np.array_equal(
        g.params[t.name], ours[t.name].detach().numpy())]
    assert len(same) == len(ours) if not dynamo else same or name == "gru"
    grads = gc.compile(gc.grad(gc.sum(y * y), [x_in, *same]), inputs=[x_in])
    x = torch.randn(4, *shape, requires_grad=True)
    net.zero_grad()
    (net(x) ** 2).sum().backward()
    wants = [x.grad.numpy()] + [ours[t.name].grad.numpy() for t in same]
    for gv, want in zip(grads(x.detach().numpy()), wants):
        np.testing.assert_allclose(gv, want, rtol=1e-3, atol=1e-4 * np.abs(want).max())


# ----------------------------------------------------------------------------- symbolic dims

N = helper.make_node
SYMBOLIC = {
    "flatten": ([N("Flatten", ["x"], ["y"], axis=2)], []),
    "split": ([N("Split", ["x", "s"], ["y", "z"], axis=1)], [init("s", np.array([1, 3]))]),
    "split_eq": ([N("Split", ["x"], ["y", "z"], axis=2, num_outputs=2)], []),
    "shape_cos": ([N("Shape", ["x"], ["s"]),
                   N("ConstantOfShape", ["s"], ["c"], value=helper.make_tensor("v", F, [1], [2])),
                   N("Add", ["x", "c"], ["y"])], []),
    "range": ([N("Shape", ["x"], ["s"], start=0, end=1), N("Squeeze", ["s"], ["n"]),
               N("Range", ["zero", "n", "one"], ["r"]), N("Cast", ["r"], ["rf"], to=1),
               N("Unsqueeze", ["rf", "ax"], ["ru"]), N("Unsqueeze", ["ru", "ax2"], ["ru2"]),
               N("Add", ["x", "ru2"], ["y"])],
              [init("zero", np.array(0)), init("one", np.array(1)),
               init("ax", np.array([1])), init("ax2", np.array([2]))]),
    "expand": ([N("Shape", ["x"], ["s"]), N("Expand", ["b", "s"], ["y"])],
               [init("b", np.ones((1, 6), np.float32))]),
    "slice_neg": ([N("Slice", ["x", "st", "en", "ax"], ["y"])],
                  [init("st", np.array([-2])), init("en", np.array([2**63 - 1])),
                   init("ax", np.array([0]))]),
    "gather_dim": ([N("Gather", ["x", "i"], ["y"], axis=0)], [init("i", np.array([-1, 0]))]),
    "size_div": ([N("Size", ["x"], ["n"]), N("Cast", ["n"], ["nf"], to=1),
                  N("Div", ["x", "nf"], ["y"])], []),
    "transpose": ([N("Transpose", ["x"], ["y"], perm=[2, 0, 1])], []),
    "reduce_mean": ([N("ReduceMean", ["x", "a"], ["y"], keepdims=0)], [init("a", np.array([0]))]),
    "pad_edge": ([N("Pad", ["x", "p"], ["y"], mode="edge")],
                 [init("p", np.array([1, 0, 0, 0, 0, 2]))]),
    "tile": ([N("Tile", ["x", "r"], ["y"])], [init("r", np.array([2, 1, 1]))]),
    "topk": ([N("TopK", ["x", "k"], ["y", "i"], axis=0)], [init("k", np.array([2]))]),
    "cumsum": ([N("CumSum", ["x", "a"], ["y"], exclusive=1)], [init("a", np.array(0))]),
    "argmax": ([N("ArgMax", ["x"], ["y"], axis=0, select_last_index=1)], []),
    "onehot": ([N("ArgMax", ["x"], ["am"], axis=2, keepdims=0),
                N("OneHot", ["am", "d", "v"], ["y"])],
               [init("d", np.array(6)), init("v", np.array([0, 1], np.float32))]),
    "div_mod_reshape": ([N("Shape", ["x"], ["s"]), N("Gather", ["s", "one"], ["t"]),
                         N("Div", ["t", "two"], ["h"]), N("Mod", ["t", "four"], ["r"]),
                         N("Add", ["h", "r"], ["h2"]), N("Gather", ["s", "zero"], ["b"]),
                         N("Concat", ["b", "two", "h2", "six"], ["shape"], axis=0),
                         N("Reshape", ["x", "shape"], ["y"])],
                        [init("one", np.array([1])), init("zero", np.array([0])),
                         init("two", np.array([2])), init("four", np.array([4])),
                         init("six", np.array([6]))]),
    "eyelike_einsum": ([N("Shape", ["x"], ["s"]), N("Gather", ["s", "z"], ["b"]),
                        N("Concat", ["b", "b"], ["bb"], axis=0),
                        N("ConstantOfShape", ["bb"], ["o"]), N("EyeLike", ["o"], ["e"]),
                        N("Einsum", ["e", "x"], ["y"], equation="ij,jkl->ikl")],
                       [init("z", np.array([0]))]),
}


@pytest.mark.parametrize("name", sorted(SYMBOLIC))
def test_ops_on_a_symbolic_batch_agree_with_the_reference(name):
    """Each model takes x of shape (B, 4, 6): shapes read with Shape/Size fold to dims."""
    nodes, inits = SYMBOLIC[name]
    m = model(nodes, [vi("x", F, ["B", 4, 6])],
              [vi(o, TensorProto.UNDEFINED, None) for o in nodes[-1].output], inits)
    g = gc.onnx.load(m)
    assert any("B" in str(o.shape) for o in g.outputs.values()) or name in (
        "slice_neg", "gather_dim", "reduce_mean", "topk", "argmax")
    for b in (3, 5):
        x = np.random.default_rng(b).normal(size=(b, 4, 6)).astype(np.float32)
        for a, w in zip(run(g, x), oracle(m, {"x": x})):
            assert a.shape == w.shape and a.dtype == w.dtype
            np.testing.assert_allclose(a, w, rtol=1e-5, atol=1e-5)


def test_nothing_in_a_model_reaches_the_generated_source():
    evil = "W\n__import__('os').system('echo PWNED')#"
    m = model([N("MatMul", ["in put\n", evil], ["y\nimport os"], name="n\nimport sys")],
              [vi("in put\n", F, ["b\nimport sys", 2])], [vi("y\nimport os", F, None)],
              [init(evil, np.ones((2, 2), np.float32))])
    m.graph.name = "g\nPWNED"
    g = gc.onnx.load(m)
    assert g[evil].node.attr["trainable"]  # the name is kept, as data
    f = gc.compile(list(g.outputs.values()))
    assert "PWNED" not in f.source and "system" not in f.source
    assert "\nimport" not in f.source and "\n import" not in f.source
    assert g.inputs["in_put_"].shape[0] == gc.Dim("b_import_sys")  # sanitised: an identifier
    np.testing.assert_array_equal(f(np.ones((3, 2), np.float32))[0], np.full((3, 2), 2.0))


def test_dims_divide_and_take_remainders_while_importing():
    nodes = [N("Shape", ["x"], ["s"]), N("Gather", ["s", "one"], ["t"]),
             N("Div", ["t", "four"], ["q"]), N("Mod", ["t", "four"], ["r"]),
             N("Add", ["q", "r"], ["q2"]), N("Gather", ["s", "zero"], ["b"]),
             N("Concat", ["b", "four", "q2"], ["shape"], axis=0),
             N("Reshape", ["x", "shape"], ["y"])]
    m = model(nodes, [vi("x", F, ["N", "4*T"])], [vi("y", F, None)],
              [init("one", np.array([1])), init("zero", np.array([0])),
               init("four", np.array([4]))])
    g = gc.onnx.load(m)
    assert g.outputs["y"].shape == ("N", 4, "T")
    x = np.arange(24, dtype=np.float32).reshape(2, 12)
    np.testing.assert_array_equal(run(g, x)[0], x.reshape(2, 4, 3))
