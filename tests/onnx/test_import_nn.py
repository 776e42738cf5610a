"""The neural-network ONNX converters (graphc/onnx/convert_nn.py): against the ONNX backend
node cases of their op types, and against onnx's reference evaluator on random inputs whose
batch dim is a symbol bound to several sizes through one compiled Function."""

from __future__ import annotations

import numpy as np
import pytest

import graphc as gc

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from graphc.onnx.registry import CONVERTERS  # noqa: E402

NN_OPS = {
    "Relu", "LeakyRelu", "PRelu", "Elu", "Selu", "Celu", "Gelu", "Sigmoid", "HardSigmoid",
    "HardSwish", "Softplus", "Softsign", "Mish", "ThresholdedRelu", "Swish", "Shrink",
    "Softmax", "LogSoftmax", "Hardmax", "Conv", "ConvTranspose", "MaxPool", "AveragePool",
    "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "BatchNormalization",
    "InstanceNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization",
    "MeanVarianceNormalization", "LRN", "Dropout", "RNN", "GRU", "LSTM", "DepthToSpace",
    "SpaceToDepth", "Resize", "Attention",
}

#: node cases that cannot pass, and why
EXPECTED_FAILURES = {
    # random draws: the stored outputs come from numpy's generator, not graphc's
    "test_training_dropout": "random", "test_training_dropout_mask": "random",
    "test_training_dropout_default": "random", "test_training_dropout_default_mask": "random",
}


def load(model):
    import graphc.onnx.convert_nn  # noqa: F401  (registers the converters)
    return gc.onnx.load(model)


def _run(model, feeds: list[np.ndarray]) -> list[np.ndarray]:
    g = load(model)
    f = gc.compile(list(g.outputs.values()), inputs=list(g.inputs.values()))
    return f(*feeds)


# ----------------------------------------------------------------------------- node cases
# The onnx wheel's node cases whose every node is one of these op types, run as the
# whole-suite runner runs them (graphc.onnx.conformance; tests/onnx/test_node_suite.py runs
# them all).

def _node_cases():
    from graphc.onnx import conformance

    return [c for c in conformance.cases()
            if set(conformance.op_types(c.model)) <= NN_OPS
            and conformance.excluded_reason(c.model) is None
            and min((o.version for o in c.model.opset_import if o.domain in ("", "ai.onnx")),
                    default=0) >= 13]


NODE_CASES = _node_cases()


@pytest.mark.parametrize("case", NODE_CASES, ids=[c.name for c in NODE_CASES])
def test_node_case(case):
    from graphc.onnx import conformance

    if case.name in EXPECTED_FAILURES:
        pytest.xfail(EXPECTED_FAILURES[case.name])
    outcome = conformance.run_case(case)
    assert outcome.status == "pass", outcome.reason


def test_node_cases_cover_every_converter():
    """The node cases here exercise the main converters, and each op type of theirs is one
    that this module converts."""
    covered = {n.op_type for c in NODE_CASES for n in c.model.graph.node}
    assert covered <= set(CONVERTERS)
    assert {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "LSTM", "GRU", "RNN", "Resize",
            "LayerNormalization", "BatchNormalization", "Softmax"} <= covered
    assert len(NODE_CASES) > 200


# ------------------------------------------------------------- reference evaluator, batch N

F32 = TensorProto.FLOAT


def _model(op: str, inputs: list[tuple[str, list, np.ndarray | None]], outputs: list[str],
           opset: int = 22, **attrs):
    """A one-node model: ``inputs`` (name, declared shape, initializer value or None)."""
    node = helper.make_node(op, [i[0] for i in inputs], outputs, **attrs)
    graph_inputs, inits = [], []
    for name, shape, value in inputs:
        if value is None:
            graph_inputs.append(helper.make_tensor_value_info(name, F32, shape))
        else:
            inits.append(onnx.numpy_helper.from_array(np.asarray(value), name))
    outs = [helper.make_tensor_value_info(o, F32, None) for o in outputs]
    graph = helper.make_graph([node], "g", graph_inputs, outs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 10
    return model


def _check(model, shapes: dict[str, tuple], batches=(1, 3, 5), rtol=1e-5, atol=1e-6, seed=0,
           oracle: str = "reference", dims: dict[str, tuple] | None = None):
    """graphc's outputs equal the reference evaluator's (or onnxruntime's) for each batch
    size, all through one compiled Function (the batch dim "N" is a symbol; so is each
    other named dim, bound to ``dims[name][k]`` with the k-th batch size)."""
    g = load(model)
    names = [v.name for v in model.graph.input
             if v.name not in {t.name for t in model.graph.initializer}]
    assert any(isinstance(d, gc.Dim) for d in g.inputs[names[0]].shape), g.inputs[names[0]].shape
    f = gc.compile(list(g.outputs.values()), inputs=[g.inputs[n] for n in names])
    ref = {"reference": ReferenceEvaluator, "onnxruntime": _OrtRunner,
           "numpy": _NumpyRunner}[oracle](model)
    rng = np.random.default_rng(seed)
    for j, n in enumerate(batches):
        size = {"N": n, **{name: v[j] for name, v in (dims or {}).items()}}
        feeds = {k: rng.standard_normal([size.get(d, d) for d in shapes[k]])
                 .astype(np.float32) for k in names}
        want = ref.run(None, feeds)
        got = f(*[feeds[k] for k in names])
        for a, b in zip(got, want):
            assert a.shape == b.shape, (a.shape, b.shape)
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


class _NumpyRunner:
    """The formulas of ops neither oracle runs (onnxruntime has no GlobalLpPool, and takes
    only odd LRN sizes), from the ONNX spec."""

    def __init__(self, model):
        self.node = model.graph.node[0]
        self.attrs = {a.name: helper.get_attribute_value(a) for a in self.node.attribute}

    def run(self, names, feeds):
        (x,) = feeds.values()
        x = x.astype(np.float64)
        if self.node.op_type == "GlobalLpPool":
            p = self.attrs.get("p", 2)
            y = (np.abs(x) ** p).sum(axis=(2, 3), keepdims=True) ** (1 / p)
        else:   # LRN
            size = self.attrs["size"]
            alpha, beta = self.attrs.get("alpha", 1e-4), self.attrs.get("beta", 0.75)
            bias = self.attrs.get("bias", 1.0)
            C = x.shape[1]
            sq = np.zeros_like(x)
            for c in range(C):
                lo, hi = max(0, c - (size - 1) // 2), min(C - 1, c + -(-(size - 1) // 2))
                sq[:, c] = (x[:, lo:hi + 1] ** 2).sum(axis=1)
            y = x / (bias + alpha / size * sq) ** beta
        return [y.astype(np.float32)]


class _OrtRunner:
    """onnxruntime behind the reference evaluator's ``run``."""

    def __init__(self, model):
        ort = pytest.importorskip("onnxruntime")
        self.session = ort.InferenceSession(model.SerializeToString(),
                                            providers=["CPUExecutionProvider"])

    def run(self, names, feeds):
        return self.session.run(names, feeds)


def _w(*shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


ACTIVATIONS = [
    ("Relu", {}), ("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.7}), ("Selu", {}),
    ("Celu", {"alpha": 1.5}), ("Gelu", {}), ("Gelu", {"approximate": "tanh"}),
    ("Sigmoid", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("HardSwish", {}),
    ("Softplus", {}), ("Softsign", {}), ("Mish", {}), ("ThresholdedRelu", {"alpha": 0.5}),
    ("Shrink", {"lambd": 0.6, "bias": 0.2}), ("Softmax", {"axis": 1}),
    ("Softmax", {"axis": 0}), ("LogSoftmax", {}), ("Hardmax", {"axis": 2}),
    ("Swish", {"alpha": 0.8}),
]


@pytest.mark.parametrize("op,attrs", ACTIVATIONS, ids=[f"{o}-{a}" for o, a in ACTIVATIONS])
def test_activation_against_reference(op, attrs):
    opset = 24 if op == "Swish" else 22
    if op == "Swish" and onnx.defs.onnx_opset_version() < 24:
        pytest.skip("Swish is not in this onnx")
    _check(_model(op, [("x", ["N", 3, 4], None)], ["y"], opset=opset, **attrs),
           {"x": ("N", 3, 4)})


def test_prelu_broadcast_slope():
    _check(_model("PRelu", [("x", ["N", 3, 4], None), ("s", [3, 1], _w(3, 1))], ["y"]),
           {"x": ("N", 3, 4)})


CONVS = [
    {}, {"pads": [1, 0, 2, 1]}, {"strides": [2, 1]}, {"dilations": [2, 2], "pads": [2, 2, 2, 2]},
    {"auto_pad": "SAME_UPPER", "strides": [2, 2]}, {"auto_pad": "SAME_LOWER", "strides": [2, 3]},
    {"auto_pad": "VALID", "strides": [2, 2]}, {"group": 2}, {"group": 4, "pads": [1, 1, 1, 1]},
]


@pytest.mark.parametrize("attrs", CONVS, ids=[str(a) for a in CONVS])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_against_reference(attrs, bias):
    group = attrs.get("group", 1)
    inputs = [("x", ["N", 4, 7, 8], None), ("w", [6 if group < 4 else 4, 4 // group, 3, 3],
                                            _w(6 if group < 4 else 4, 4 // group, 3, 3))]
    if bias:
        inputs.append(("b", [inputs[1][1][0]], _w(inputs[1][1][0], seed=2)))
    _check(_model("Conv", inputs, ["y"], **attrs), {"x": ("N", 4, 7, 8)}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,attrs", [
    ("Conv", {"pads": [1, 0, 2, 1], "strides": [2, 1], "dilations": [1, 2]}),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2],
                 "ceil_mode": 1}),
    ("MaxPool", {"kernel_shape": [2, 3], "pads": [0, 2, 1, 0]}),
    ("AveragePool", {"kernel_shape": [3, 2], "pads": [1, 1, 1, 1], "strides": [2, 1]}),
    ("ConvTranspose", {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 1]}),
])
def test_symbolic_spatial_sizes(op, attrs):
    """Windows over symbolic heights and widths: one Function for every size."""
    inputs = [("x", ["N", 3, "H", "W"], None)]
    if op.startswith("Conv"):
        inputs.append(("w", [3, 3, 3, 3], _w(3, 3, 3, 3)))
    oracle = "onnxruntime" if op == "MaxPool" else "reference"
    _check(_model(op, inputs, ["y"], **attrs), {"x": ("N", 3, "H", "W")}, rtol=1e-4,
           atol=1e-5, dims={"H": (6, 9, 7), "W": (8, 5, 10)}, oracle=oracle)


@pytest.mark.parametrize("nd", [1, 3])
def test_conv_1d_3d(nd):
    sp = [6, 5, 4][:nd]
    _check(_model("Conv", [("x", ["N", 2, *sp], None), ("w", [3, 2, *[2] * nd],
                                                         _w(3, 2, *[2] * nd))], ["y"],
                  strides=[2] * nd, pads=[1] * nd + [0] * nd),
           {"x": ("N", 2, *sp)}, rtol=1e-4, atol=1e-5)


CONV_TRANSPOSES = [
    {}, {"strides": [2, 2]}, {"strides": [2, 3], "output_padding": [1, 2]},
    {"strides": [2, 2], "pads": [1, 0, 0, 1]}, {"dilations": [2, 1]},
    {"strides": [2, 2], "output_shape": [11, 12]}, {"auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"auto_pad": "SAME_LOWER", "strides": [2, 2]}, {"group": 2, "strides": [2, 1]},
]


@pytest.mark.parametrize("attrs", CONV_TRANSPOSES, ids=[str(a) for a in CONV_TRANSPOSES])
def test_conv_transpose_against_reference(attrs):
    group = attrs.get("group", 1)
    inputs = [("x", ["N", 4, 5, 6], None), ("w", [4, 6 // group, 3, 3], _w(4, 6 // group, 3, 3)),
              ("b", [6], _w(6, seed=3))]
    # the reference evaluator ignores the pads output_shape implies, and groups
    oracle = "onnxruntime" if "output_shape" in attrs or "group" in attrs else "reference"
    _check(_model("ConvTranspose", inputs, ["y"], **attrs), {"x": ("N", 4, 5, 6)},
           rtol=1e-4, atol=1e-5, oracle=oracle)


POOLS = [
    {"kernel_shape": [2, 2]}, {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
    {"kernel_shape": [3, 2], "pads": [0, 1, 2, 0]}, {"kernel_shape": [3, 3], "strides": [2, 2],
                                                     "ceil_mode": 1},
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 1, 2], "ceil_mode": 1},
    {"kernel_shape": [2, 2], "auto_pad": "SAME_UPPER", "strides": [2, 2]},
    {"kernel_shape": [3, 3], "auto_pad": "SAME_LOWER"},
    {"kernel_shape": [2, 2], "dilations": [2, 2]},
    {"kernel_shape": [2, 3], "dilations": [2, 1], "pads": [1, 1, 0, 2], "strides": [1, 2]},
]


@pytest.mark.parametrize("attrs", POOLS, ids=[str(a) for a in POOLS])
@pytest.mark.parametrize("op", ["MaxPool", "AveragePool0", "AveragePool1", "LpPool"])
def test_pool_against_reference(op, attrs):
    extra = {}
    if op.startswith("AveragePool"):
        extra["count_include_pad"] = int(op[-1])
        op = "AveragePool"
    if op == "LpPool":
        extra["p"] = 3
    # the reference evaluator fails on a max pool whose window lies in the padding only
    oracle = "onnxruntime" if op == "MaxPool" else "reference"
    _check(_model(op, [("x", ["N", 3, 7, 9], None)], ["y"], **attrs, **extra),
           {"x": ("N", 3, 7, 9)}, rtol=1e-4, atol=1e-5, oracle=oracle)


@pytest.mark.parametrize("attrs", [{"kernel_shape": [2, 2]},
                                   {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1],
                                    "strides": [2, 2], "ceil_mode": 1},
                                   {"kernel_shape": [2, 2], "storage_order": 1},
                                   {"kernel_shape": [3, 2], "pads": [0, 1, 2, 0],
                                    "strides": [2, 1]},
                                   {"kernel_shape": [3, 3], "pads": [2, 1, 0, 1],
                                    "storage_order": 1, "dilations": [1, 2]}])
def test_max_pool_indices_against_reference(attrs):
    model = _model("MaxPool", [("x", ["N", 3, 5, 6], None)], ["y", "i"], **attrs)
    model.graph.output[1].type.tensor_type.elem_type = TensorProto.INT64
    # the reference evaluator's indices are wrong (onnx 1.23): onnxruntime
    _check(model, {"x": ("N", 3, 5, 6)}, oracle="onnxruntime")


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
def test_global_pool_against_reference(op):
    oracle = "numpy" if op == "GlobalLpPool" else "reference"
    _check(_model(op, [("x", ["N", 3, 4, 5], None)], ["y"]), {"x": ("N", 3, 4, 5)},
           oracle=oracle)


def test_batch_norm_inference_against_reference():
    var = np.abs(_w(3, seed=4)) + 0.5
    _check(_model("BatchNormalization", [("x", ["N", 3, 4, 5], None), ("s", [3], _w(3)),
                                         ("b", [3], _w(3, seed=2)), ("m", [3], _w(3, seed=3)),
                                         ("v", [3], var)], ["y"], epsilon=1e-3),
           {"x": ("N", 3, 4, 5)})


def test_batch_norm_training_against_reference():
    var = np.abs(_w(3, seed=4)) + 0.5
    _check(_model("BatchNormalization", [("x", ["N", 3, 4], None), ("s", [3], _w(3)),
                                         ("b", [3], _w(3, seed=2)), ("m", [3], _w(3, seed=3)),
                                         ("v", [3], var)], ["y", "rm", "rv"], training_mode=1,
                  momentum=0.8), {"x": ("N", 3, 4)}, batches=(2, 5), rtol=1e-4, atol=1e-5)


NORMS = [
    ("InstanceNormalization", [("s", [3], _w(3)), ("b", [3], _w(3, seed=2))], {}, ["y"]),
    ("LayerNormalization", [("s", [5], _w(5)), ("b", [5], _w(5, seed=2))], {}, ["y", "m", "i"]),
    ("LayerNormalization", [("s", [4, 5], _w(4, 5))], {"axis": -2, "epsilon": 1e-3}, ["y"]),
    ("LayerNormalization", [("s", [3, 4, 5], _w(3, 4, 5))], {"axis": 1}, ["y", "m", "i"]),
    ("GroupNormalization", [("s", [3], _w(3)), ("b", [3], _w(3, seed=2))],
     {"num_groups": 3}, ["y"]),
    ("RMSNormalization", [("s", [5], _w(5))], {}, ["y"]),
    ("RMSNormalization", [("s", [4, 5], _w(4, 5))], {"axis": 2}, ["y"]),
    ("MeanVarianceNormalization", [], {}, ["y"]),
    ("LRN", [], {"size": 3, "alpha": 0.01}, ["y"]),
    ("LRN", [], {"size": 2, "beta": 0.5, "bias": 2.0}, ["y"]),
]


@pytest.mark.parametrize("op,params,attrs,outs", NORMS,
                         ids=[f"{n[0]}-{n[2]}-{len(n[3])}" for n in NORMS])
def test_norm_against_reference(op, params, attrs, outs):
    opset = 23 if op == "RMSNormalization" else 22
    # the reference evaluator's LRN runs over the batch size, not the channels
    oracle = "numpy" if op == "LRN" else "reference"
    _check(_model(op, [("x", ["N", 3, 4, 5], None), *[(n, s, v) for n, s, v in params]], outs,
                  opset=opset, **attrs), {"x": ("N", 3, 4, 5)}, rtol=1e-4, atol=1e-5,
           oracle=oracle)


def test_dropout_inference_is_identity_with_a_mask_of_ones():
    model = _model("Dropout", [("x", ["N", 3], None)], ["y", "mask"])
    model.graph.output[1].type.tensor_type.elem_type = TensorProto.BOOL
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y, mask = _run(model, [x])
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == bool and mask.all() and mask.shape == x.shape


def test_dropout_training_draws_and_scales():
    model = _model("Dropout", [("x", ["N", 1000], None), ("r", [], np.float32(0.25)),
                               ("t", [], np.bool_(True))], ["y", "mask"])
    g = load(model)
    f = gc.compile(list(g.outputs.values()))
    x = np.ones((4, 1000), np.float32)
    y, mask = f(x)
    np.testing.assert_allclose(y[mask], 1 / 0.75, rtol=1e-6)
    assert (y[~mask] == 0).all()
    assert 0.2 < 1 - mask.mean() < 0.3
    y2, mask2 = f(x)
    assert not np.array_equal(mask, mask2)   # each call draws afresh


# --------------------------------------------------------------------------- recurrent

def _rnn_model(op, gates, hidden=4, inp=3, T=5, direction="forward", layout=0, with_init=True,
               extra_inputs=(), **attrs):
    dirs = 2 if direction == "bidirectional" else 1
    x_shape = ["N", T, inp] if layout else [T, "N", inp]
    h_shape = ["N", dirs, hidden] if layout else [dirs, "N", hidden]
    inputs = [("X", x_shape, None), ("W", [dirs, gates * hidden, inp],
                                     _w(dirs, gates * hidden, inp) * 0.5),
              ("R", [dirs, gates * hidden, hidden], _w(dirs, gates * hidden, hidden, seed=2) * 0.5),
              ("B", [dirs, 2 * gates * hidden], _w(dirs, 2 * gates * hidden, seed=3) * 0.5)]
    names = ["X", "W", "R", "B", "", "initial_h"]
    if with_init:
        inputs.append(("initial_h", h_shape, None))
    if op == "LSTM" and with_init:
        inputs.append(("initial_c", h_shape, None))
        names.append("initial_c")
    outs = ["Y", "Y_h"] + (["Y_c"] if op == "LSTM" else [])
    model = _model(op, inputs, outs, hidden_size=hidden, direction=direction, layout=layout,
                   **attrs)
    node = model.graph.node[0]
    del node.input[:]
    node.input.extend(names[:4] + ([""] + names[5:] if with_init else []))
    for name, _, value in extra_inputs:
        node.input.append(name)
        model.graph.initializer.append(onnx.numpy_helper.from_array(value, name))
    shapes = {"X": tuple(x_shape), "initial_h": tuple(h_shape), "initial_c": tuple(h_shape)}
    return model, shapes


RECURRENT = [
    ("RNN", 1, {}), ("RNN", 1, {"direction": "bidirectional"}),
    ("RNN", 1, {"activations": ["Relu"], "clip": 1.5}),
    ("GRU", 3, {}), ("GRU", 3, {"linear_before_reset": 1}),
    ("GRU", 3, {"direction": "reverse", "layout": 1}),
    ("GRU", 3, {"direction": "bidirectional", "with_init": False}),
    ("LSTM", 4, {}), ("LSTM", 4, {"direction": "bidirectional"}),
    ("LSTM", 4, {"layout": 1, "direction": "reverse"}),
    ("LSTM", 4, {"activations": ["HardSigmoid", "Tanh", "Softsign"],
                 "activation_alpha": [0.3], "activation_beta": [0.4]}),
]


@pytest.mark.parametrize("op,gates,attrs", RECURRENT, ids=[f"{o}-{a}" for o, _, a in RECURRENT])
def test_recurrent_against_reference(op, gates, attrs):
    model, shapes = _rnn_model(op, gates, **attrs)
    # the reference evaluator knows only the default activations: onnxruntime otherwise
    oracle = "onnxruntime" if "activations" in attrs else "reference"
    _check(model, shapes, rtol=1e-4, atol=1e-5, oracle=oracle)


def test_lstm_peepholes_against_reference():
    model, shapes = _rnn_model("LSTM", 4, extra_inputs=[("P", [1, 12], _w(1, 12, seed=5))])
    _check(model, shapes, rtol=1e-4, atol=1e-5)


def test_gru_variable_sequence_lengths():
    """Steps past an entry's length keep its state and output zeros (checked against the
    same GRU run on each entry cut to its length)."""
    lens = np.array([5, 2, 4], np.int32)
    model, _ = _rnn_model("GRU", 3, with_init=False)
    node = model.graph.node[0]
    node.input[:] = ["X", "W", "R", "B", "L"]
    model.graph.input.append(helper.make_tensor_value_info("L", TensorProto.INT32, ["N"]))
    g = load(model)
    f = gc.compile(list(g.outputs.values()), inputs=[g.inputs["X"], g.inputs["L"]])
    x = _w(5, 3, 3, seed=7)
    y, y_h = f(x, lens)
    single, _ = _rnn_model("GRU", 3, with_init=False)
    ref = ReferenceEvaluator(single)
    for b, n in enumerate(lens):
        want_y, want_h = ref.run(None, {"X": x[:n, b:b + 1]})
        np.testing.assert_allclose(y[:n, :, b:b + 1], want_y, rtol=1e-4, atol=1e-5)
        assert (y[n:, :, b] == 0).all()
        np.testing.assert_allclose(y_h[:, b:b + 1], want_h, rtol=1e-4, atol=1e-5)


# -------------------------------------------------------------------------- space/depth

@pytest.mark.parametrize("op,attrs", [("DepthToSpace", {"mode": "DCR"}),
                                      ("DepthToSpace", {"mode": "CRD"}),
                                      ("SpaceToDepth", {})])
def test_depth_space_against_reference(op, attrs):
    shape = ("N", 8, 2, 3) if op == "DepthToSpace" else ("N", 2, 4, 6)
    _check(_model(op, [("x", list(shape), None)], ["y"], blocksize=2, **attrs), {"x": shape})


# ------------------------------------------------------------------------------- errors

def test_errors_name_the_node():
    model = _model("Conv", [("x", ["N", 4, 7, 8], None), ("w", [6, 4, 3, 3], _w(6, 4, 3, 3))],
                   ["y"], auto_pad="MIDDLE")
    model.graph.node[0].name = "conv7"
    with pytest.raises(ValueError, match="conv7.*auto_pad 'MIDDLE'"):
        load(model)
    model, _ = _rnn_model("LSTM", 4)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"
    with pytest.raises(ValueError, match="LSTM.*sequence length.*static"):
        load(model)


@pytest.mark.parametrize("model,match", [
    (lambda: _model("Conv", [("x", ["N", 4, 7, 8], None), ("w", [6, 4, 3, 3], _w(6, 4, 3, 3))],
                    ["y"], kernel_shape=[2, 2]), r"kernel_shape \[2, 2\] does not match"),
    (lambda: _model("Conv", [("x", ["N", 4, 7, 8], None), ("w", [6, 3, 3, 3], _w(6, 3, 3, 3))],
                    ["y"]), "Conv"),
    (lambda: _model("MaxPool", [("x", ["N", 3, "H", 9], None)], ["y"], kernel_shape=[3, 3],
                    strides=[2, 2], auto_pad="SAME_UPPER"), "static spatial sizes"),
    (lambda: _model("Resize", [("x", ["N", 3, 4, 5], None)], ["y"]),
     "exactly one of scales and sizes"),
    (lambda: _model("Resize", [("x", ["N", 3, 4, 5], None), ("roi", [0], np.zeros(0, np.float32)),
                               ("s", [4], np.array([2, 1, 1, 1], np.float32))], ["y"]),
     "axis 0 .* resized, so its size must be static"),
    (lambda: _model("Attention", [("Q", ["N", 3, 3, 4], None), ("K", ["N", 2, 3, 4], None),
                                  ("V", ["N", 2, 3, 4], None)], ["Y"], opset=23),
     "3 query heads are not a multiple of 2"),
    (lambda: _model("GRU", [("X", [3, "N", 2], None), ("W", [1, 9, 2], _w(1, 9, 2)),
                            ("R", [1, 9, 3], _w(1, 9, 3))], ["Y"], hidden_size=3,
                    direction="sideways"), "direction 'sideways'"),
], ids=["kernel_shape", "channels", "ceil-symbolic", "resize-none", "resize-batch", "heads",
        "direction"])
def test_bad_nodes_are_clear_errors(model, match):
    m = model()
    m.graph.node[0].name = "bad_node"
    with pytest.raises(ValueError, match=f"bad_node.*{match}|{match}") as info:
        load(m)
    assert "bad_node" in str(info.value)


def test_gradients_through_converted_layers():
    """gc.grad through converted layers (an asymmetrically padded strided conv, an LSTM)
    matches finite differences, with respect to inputs and initializers alike."""
    conv = _model("Conv", [("x", ["N", 2, 5, 5], None), ("w", [3, 2, 3, 3], _w(3, 2, 3, 3))],
                  ["y"], pads=[1, 0, 0, 1], strides=[2, 1])
    g = load(_as_float64(conv))
    (y,) = g.outputs.values()
    gc.check_grad(gc.sum(y * y), [g.inputs["x"], *g.trainable],
                  {g.inputs["x"]: np.random.default_rng(0).standard_normal((2, 2, 5, 5))},
                  order=1)
    model, _ = _rnn_model("LSTM", 4, T=3, with_init=False)
    g = load(_as_float64(model))
    y_h = list(g.outputs.values())[1]
    gc.check_grad(gc.sum(gc.sin(y_h)), [g.inputs["X"], *g.trainable],
                  {g.inputs["X"]: np.random.default_rng(1).standard_normal((3, 2, 3))}, order=1)


def _as_float64(model):
    """The model with every float32 input, output and initializer float64."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for v in [*m.graph.input, *m.graph.output]:
        if v.type.tensor_type.elem_type == F32:
            v.type.tensor_type.elem_type = TensorProto.DOUBLE
    for i, t in enumerate(m.graph.initializer):
        a = onnx.numpy_helper.to_array(t)
        if a.dtype == np.float32:
            m.graph.initializer[i].CopyFrom(onnx.numpy_helper.from_array(a.astype(np.float64),
                                                                          t.name))
    return m


# ---------------------------------------------------------------------------- attention

def _attention_model(q_shape, k_shape, v_shape, mask=None, past=None, **attrs):
    inputs = [("Q", q_shape, None), ("K", k_shape, None), ("V", v_shape, None)]
    names = ["Q", "K", "V"]
    if mask is not None:
        inputs.append(("M", mask[0], mask[1]))
        names.append("M")
    if past is not None:
        inputs += [("PK", past[0], None), ("PV", past[1], None)]
        names += [""] * (4 - len(names)) + ["PK", "PV"]
    outs = ["Y", "PKo", "PVo", "QK"] if past is not None else ["Y"]
    model = _model("Attention", inputs, outs, opset=23, **attrs)
    model.graph.node[0].input[:] = names
    return model


ATTENTIONS = [
    ("4d", dict(q_shape=["N", 2, 3, 4], k_shape=["N", 2, 5, 4], v_shape=["N", 2, 5, 6])),
    ("3d heads", dict(q_shape=["N", 3, 8], k_shape=["N", 5, 8], v_shape=["N", 5, 4],
                      q_num_heads=2, kv_num_heads=2)),
    ("gqa causal scale", dict(q_shape=["N", 4, 3, 4], k_shape=["N", 2, 3, 4],
                              v_shape=["N", 2, 3, 4], is_causal=1, scale=0.3)),
    ("float mask softcap", dict(q_shape=["N", 2, 3, 4], k_shape=["N", 2, 5, 4],
                                v_shape=["N", 2, 5, 4], mask=([3, 5], _w(3, 5)),
                                softcap=2.0)),
    ("bool mask", dict(q_shape=["N", 2, 3, 4], k_shape=["N", 2, 5, 4], v_shape=["N", 2, 5, 4],
                       mask=([3, 5], np.array([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0],
                                               [1, 1, 1, 1, 1]], bool)))),
    ("causal past", dict(q_shape=["N", 2, 3, 4], k_shape=["N", 2, 3, 4], v_shape=["N", 2, 3, 4],
                         past=(["N", 2, 2, 4], ["N", 2, 2, 4]), is_causal=1,
                         qk_matmul_output_mode=3)),
    ("past qk bias", dict(q_shape=["N", 2, 3, 4], k_shape=["N", 2, 3, 4],
                          v_shape=["N", 2, 3, 4], past=(["N", 2, 2, 4], ["N", 2, 2, 4]),
                          qk_matmul_output_mode=2)),
]


@pytest.mark.parametrize("kw", [a[1] for a in ATTENTIONS], ids=[a[0] for a in ATTENTIONS])
def test_attention_against_reference(kw):
    model = _attention_model(**kw)
    shapes = {"Q": kw["q_shape"], "K": kw["k_shape"], "V": kw["v_shape"]}
    if "past" in kw:
        shapes.update(PK=kw["past"][0], PV=kw["past"][1])
    _check(model, shapes, rtol=1e-5, atol=1e-6)


def test_resize_sizes_computed_from_shape():
    """torch's F.interpolate(size=...) export: sizes = Concat(Shape(x)[:2], [8, 10]), whose
    batch entry is the symbol N, folds while importing."""
    nodes = [helper.make_node("Shape", ["x"], ["s"], start=0, end=2),
             helper.make_node("Concat", ["s", "hw"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")]
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", F32, ["N", 3, 4, 5])],
        [helper.make_tensor_value_info("y", F32, None)],
        initializer=[onnx.numpy_helper.from_array(np.array([8, 10], np.int64), "hw")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    _check(model, {"x": ("N", 3, 4, 5)})
