"""graphc -> ONNX export (``gc.onnx.to_model`` / ``gc.onnx.save``), checked by onnxruntime.

Every registered op with an ONNX form is exported from the rows of the op table
(``tests/ops/test_op_table.py`` and its ``op_rows_*.py``: one graph per op holding all its
rows, the batch symbol B a ``dim_param``), checked with ``onnx.checker.check_model(...,
full_check=True)`` and run in onnxruntime with B bound to 1 and 3, in float64 and (for the
rows whose operands are all float) float32; the results must equal ``gc.evaluate``'s to
1e-12 (float64) and 1e-6 (float32) relative to the output's scale.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import graphc as gc
from graphc.ops import all_ops

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from graphc.onnx.export import default_opset  # noqa: E402
from graphc.onnx.export_ops import CONVERTERS, REFUSED  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

TOL = {np.float64: 1e-12, np.float32: 1e-6}


def _table():
    path = Path(__file__).parents[1] / "ops" / "test_op_table.py"
    spec = importlib.util.spec_from_file_location("graphc_op_table_for_onnx", path)
    mod = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(mod)
    return mod


TABLE = _table()
BY_OP: dict[str, list] = {}
for _r in TABLE.ROWS:
    BY_OP.setdefault(_r.op, []).append(_r)
EXPORTED = sorted(op for op in BY_OP if op not in REFUSED)


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def op_graph(op: str, dtype) -> tuple[gc.Graph, list]:
    """One graph holding every table row of ``op`` (float rows only in float32): outputs
    ``r<k>``, inputs ``r<k>_x<j>``, and ``bind_B`` for rows that only the op gives a B."""
    g = gc.Graph(op)
    rows = [r for r in BY_OP[op] if dtype == np.float64 or TABLE._float_only(r)]
    g.input("bind_B", ("B",), dtype)
    for k, r in enumerate(rows):
        xs = [g.input(f"r{k}_x{j}", s, dtype=TABLE._input_dtype(kind, dtype))
              for j, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True))]
        out = r.build(*xs)
        assert out.op == op
        g.output(f"r{k}", out)
    return g, rows


def feed_for(rows, dtype, B: int, rng) -> dict:
    feed = {"bind_B": np.zeros(B, dtype)}
    for k, r in enumerate(rows):
        for j, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True)):
            feed[f"r{k}_x{j}"] = np.asarray(TABLE._make(s, kind, rng, dtype, B))
    return feed


def max_rel_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max(1, max |want|) over the finite entries (inf and nan must
    match exactly)."""
    if want.dtype.kind != "f":
        return 0.0 if np.array_equal(got, want) else np.inf
    finite = np.isfinite(want)
    if not np.array_equal(finite, np.isfinite(got)) or not np.array_equal(
            np.isnan(want), np.isnan(got)) or not np.array_equal(got[~finite & ~np.isnan(want)],
                                                               want[~finite & ~np.isnan(want)]):
        return np.inf
    if not finite.any():
        return 0.0
    diff = np.abs(got[finite].astype(np.float64) - want[finite])
    return float(diff.max() / max(1.0, float(np.abs(want[finite]).max())))


def check_against_ort(g: gc.Graph, feeds: list[dict], tol: float, model=None) -> float:
    """Export ``g`` (full check), run every feed in onnxruntime and in gc.evaluate; the
    largest relative error seen (asserted below ``tol``)."""
    model = model or gc.onnx.to_model(g)
    onnx.checker.check_model(model, full_check=True)
    sess = session(model)
    names = [o.name for o in sess.get_outputs()]
    assert names == list(g.outputs)
    worst = 0.0
    for feed in feeds:
        got = sess.run(None, feed)
        want = gc.evaluate(list(g.outputs.values()), feed)
        for name, u, v in zip(names, got, want, strict=True):
            assert u.shape == v.shape, f"{name}: onnxruntime {u.shape}, graphc {v.shape}"
            assert u.dtype == v.dtype, f"{name}: onnxruntime {u.dtype}, graphc {v.dtype}"
            err = max_rel_error(u, v)
            assert err <= tol, f"{name}: relative error {err:.3g} > {tol} (feed B=" \
                               f"{feed.get('bind_B', np.zeros(0)).shape})"
            worst = max(worst, err)
    return worst


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("op", EXPORTED)
def test_every_op_exports_and_runs_in_onnxruntime(op, dtype):
    g, rows = op_graph(op, dtype)
    if not rows:
        pytest.skip(f"{op} has no float-only rows")
    rng = np.random.default_rng(0)
    feeds = [feed_for(rows, dtype, B, rng) for B in (1, 3)]
    check_against_ort(g, feeds, TOL[dtype])


def test_the_table_covers_every_exported_op():
    ops = {name for name, d in all_ops().items() if d.kind != "source"}
    assert ops - set(BY_OP) == set()
    assert set(CONVERTERS) | set(REFUSED) >= ops, sorted(ops - set(CONVERTERS) - set(REFUSED))


def test_exactly_the_refused_ops_are_refused():
    """The ops without an ONNX form: each row of theirs is refused, naming the op and the
    line that built it; every other op has a converter."""
    assert sorted(REFUSED) == ["random_advance", "random_bernoulli", "random_normal",
                               "random_permutation", "random_uniform"]
    for op in REFUSED:
        g, rows = op_graph(op, np.float64)
        with pytest.raises(ValueError, match=f"{op} node") as e:
            gc.onnx.to_model(g)
        assert "test_op_table.py" in str(e.value) or "op_rows_" in str(e.value)


def test_every_refusal_is_listed_at_once():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    outs = {"y": gc.tanh(x), "a": gc.random.uniform(g, ("B", 2)),
            "b": gc.random.normal(g, (3,))}
    with pytest.raises(ValueError) as e:
        gc.onnx.to_model(outs)
    text = str(e.value)
    assert "random_uniform" in text and "random_normal" in text
    assert text.count("test_export.py:") == 2  # each refused node at the line that built it


def test_symbolic_dims_and_names():
    g = gc.Graph("net")
    x = g.input("x", ("B", "T", 4))
    y = g.input("y", ("T - 1", 4))
    W = g.param("lin/W", np.ones((4, 2)))
    h = (x[:, 1:] + y) @ W
    g.output("h", h.reshape(("B*(T - 1)", 2)))
    m = gc.onnx.to_model(g)
    dims = [[d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in m.graph.input]
    assert [i.name for i in m.graph.input] == ["x", "y"]
    assert dims == [["B", "T", 4], ["T - 1", 4]]
    assert [i.name for i in m.graph.initializer] == ["lin/W"]
    out = m.graph.output[0]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == \
        ["B*T - B", 2]
    sess = session(m)
    for B, T in [(1, 2), (3, 5)]:
        xv, yv = np.ones((B, T, 4)), np.arange((T - 1) * 4.0).reshape(T - 1, 4)
        got = sess.run(None, {"x": xv, "y": yv})[0]
        np.testing.assert_allclose(got, gc.evaluate(g.outputs["h"], {x: xv, y: yv}))


def test_tensors_function_and_save(tmp_path):
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    z = g.input("unused", (2,))
    W = g.param("W", np.arange(6.0).reshape(3, 2))
    y = gc.exp(x @ W) * 2
    for target, names in [(y, ["output"]), ([y, y + 1], ["output_0", "output_1"]),
                          ({"a": y}, ["a"])]:
        m = gc.onnx.to_model(target)
        assert [o.name for o in m.graph.output] == names
        assert [i.name for i in m.graph.input] == ["x"]  # only what the outputs need
    f = gc.compile(y)
    m = gc.onnx.to_model(f)
    xv = np.random.default_rng(0).normal(size=(4, 3))
    np.testing.assert_allclose(session(m).run(None, {"x": xv})[0], f(xv), rtol=1e-12)
    g.output("y", y)
    path = tmp_path / "m.onnx"
    gc.onnx.save(g, path)
    back = onnx.load(str(path))
    onnx.checker.check_model(back, full_check=True)
    assert [i.name for i in back.graph.input] == ["x", "unused"]  # a Graph: all its inputs
    assert back.graph.input[1].type.tensor_type.shape.dim[0].dim_value == 2
    del z


def test_bad_targets_and_options():
    g = gc.Graph()
    x = g.input("x", (3,))
    with pytest.raises(ValueError, match="no outputs"):
        gc.onnx.to_model(g)
    with pytest.raises(TypeError, match="to_model takes"):
        gc.onnx.to_model(3)
    with pytest.raises(ValueError, match="opset 7 is not supported"):
        gc.onnx.to_model(x * 2, opset=7)
    with pytest.raises(TypeError, match="opset must be an int"):
        gc.onnx.to_model(x * 2, opset="21")


def test_older_opset_refuses_cumprod_only():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    m = gc.onnx.to_model({"s": gc.cumsum(x, axis=1)}, opset=18)
    assert m.opset_import[0].version == 18
    with pytest.raises(ValueError, match="cumprod needs ONNX's CumProd"):
        gc.onnx.to_model({"p": gc.cumprod(x, axis=1)}, opset=18)
    assert default_opset() >= 26


def _mlp(dtype) -> gc.Graph:
    g = gc.Graph("mlp")
    x = g.input("x", ("B", 5), dtype)
    net = gc.nn.MLP([5, 16, 8, 3], activation="relu", dtype=dtype)
    g.output("y", gc.log_softmax(net(x), axis=-1))
    return g


def _convnet(dtype) -> gc.Graph:
    g = gc.Graph("convnet")
    x = g.input("x", ("B", 2, 9, 9), dtype)
    net = gc.nn.Sequential([
        gc.nn.Conv2d(2, 4, 3, padding=1, dtype=dtype), gc.nn.ReLU(),
        gc.nn.MaxPool2d(2, ceil_mode=True),
        gc.nn.Conv2d(4, 6, 3, stride=2, groups=2, dtype=dtype), gc.nn.ReLU(),
        gc.nn.AvgPool2d(2, padding=1, count_include_pad=False), gc.nn.Flatten(),
        gc.nn.Linear(6 * 2 * 2, 3, dtype=dtype),
    ])
    g.output("y", net(x))
    return g


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("make", [_mlp, _convnet], ids=["mlp", "convnet"])
def test_nn_models_match(make, dtype):
    rng = np.random.default_rng(0)
    g = make(dtype)
    shape = tuple(g.inputs["x"].shape[1:])
    feeds = [{"x": rng.normal(size=(B, *shape)).astype(dtype)} for B in (1, 3)]
    check_against_ort(g, feeds, TOL[dtype])


def test_a_gradient_exports():
    """A loss's gradients (vjp ops: unbroadcast sums, max_pool_grad, conv_weight_grad,
    avg_pool_grad, conv_transpose) are forward values like any other."""
    g = _convnet(np.float64)
    loss = gc.sum(g.outputs["y"] ** 2)
    grads = gc.grad(loss, g.trainable)
    h = {"loss": loss, **{f"d_{p.name.replace('/', '_')}": d
                          for p, d in zip(g.trainable, grads, strict=True)}}
    ops = {n.op for n in g.nodes}
    assert {"max_pool_grad", "conv_weight_grad", "avg_pool_grad"} <= ops
    sess = session(gc.onnx.to_model(h))
    rng = np.random.default_rng(1)
    for B in (1, 3):
        xv = rng.normal(size=(B, 2, 9, 9))
        got = sess.run(None, {"x": xv})
        want = gc.evaluate(list(h.values()), {"x": xv})
        for u, v in zip(got, want, strict=True):
            assert max_rel_error(u, v) <= 1e-12


def test_round_trip_through_the_importer():
    """graphc -> ONNX -> gc.onnx.load gives the same outputs."""
    rng = np.random.default_rng(2)
    for make in (_mlp, _convnet):
        g = make(np.float64)
        model = gc.onnx.to_model(g)
        try:
            h = gc.onnx.load(model)
        except (ImportError, NotImplementedError) as e:
            pytest.skip(f"the importer cannot load it yet: {e}")
        shape = tuple(g.inputs["x"].shape[1:])
        f = gc.compile(list(h.outputs.values()))
        for B in (1, 3):
            xv = rng.normal(size=(B, *shape))
            want = gc.evaluate(g.outputs["y"], {"x": xv})
            got = f(xv)[0]
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_every_op_at_the_oldest_opset():
    """Two rows of every exported op (cumprod needs opset 26) at opset 18."""
    from graphc.onnx.export import MIN_OPSET

    g = gc.Graph("oldest")
    g.input("bind_B", ("B",))
    rows = []
    for op in EXPORTED:
        for r in BY_OP[op][:2] if op != "cumprod" else []:
            k = len(rows)
            xs = [g.input(f"r{k}_x{j}", s, dtype=TABLE._input_dtype(kind, np.float64))
                  for j, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True))]
            g.output(f"r{k}", r.build(*xs))
            rows.append(r)
    model = gc.onnx.to_model(g, opset=MIN_OPSET)
    assert model.opset_import[0].version == MIN_OPSET
    rng = np.random.default_rng(3)
    feeds = [feed_for(rows, np.float64, B, rng) for B in (1, 3)]
    check_against_ort(g, feeds, TOL[np.float64], model=model)


def test_a_training_step_exports_its_forward_outputs():
    """A Function that also updates params (an SGD step) exports its outputs only, with
    the params as they are when exported."""
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.arange(6.0).reshape(3, 2) / 10)
    loss = gc.mean(gc.tanh(x @ W) ** 2)
    (dW,) = gc.grad(loss, [W])
    step = gc.compile(loss, updates={W: W - 0.5 * dW})
    model = gc.onnx.to_model(step)
    assert [o.name for o in model.graph.output] == ["output"]
    sess = session(model)
    xv = np.random.default_rng(0).normal(size=(4, 3))
    before = sess.run(None, {"x": xv})[0]
    np.testing.assert_allclose(before, step(xv), rtol=1e-12)  # the loss before the step
    after = gc.onnx.to_model(step)  # the params moved: a new export has the new values
    assert not np.allclose(session(after).run(None, {"x": xv})[0], before)


#: ops whose exported form the importer cannot read back yet (issue 16, part 1): the
#: symbolic-shape arithmetic they use (Div of Shape values; Range minus a dim)
IMPORT_GAPS = {"roll": "importer: Range(0, n) - shift folds to a negative full"}


@pytest.mark.parametrize("op", [pytest.param(
    op, marks=pytest.mark.xfail(strict=True, reason=IMPORT_GAPS[op])) if op in IMPORT_GAPS
    else op for op in EXPORTED])
def test_every_op_round_trips_through_the_importer(op):
    """graphc -> ONNX -> gc.onnx.load computes what graphc computes (float64, B = 1, 3)."""
    g, rows = op_graph(op, np.float64)
    h = gc.onnx.load(gc.onnx.to_model(g))
    assert list(h.outputs) == list(g.outputs)
    rng = np.random.default_rng(0)
    for B in (1, 3):
        feed = feed_for(rows, np.float64, B, rng)
        want = gc.evaluate(list(g.outputs.values()), feed)
        got = gc.evaluate(list(h.outputs.values()), {k: feed[k] for k in h.inputs})
        for name, u, v in zip(g.outputs, got, want, strict=True):
            assert u.shape == v.shape and u.dtype == v.dtype, name
            assert max_rel_error(u, v) <= 1e-12, name


def test_integer_bool_and_mixed_operands():
    """numpy's promotions (int / int -> float64, bool sums -> int64, int * float32) and
    integer semantics (remainder and fmod signs, sorting, clipping) hold in onnxruntime."""
    g = gc.Graph("ints")
    a = g.input("a", ("B", 4), np.int64)
    b = g.input("b", (4,), np.int32)
    m = g.input("m", ("B", 4), np.bool_)
    f = g.input("f", ("B", 4), np.float32)
    outs = {
        "add": a + b, "sub": a - b, "mul": a * b, "div": a / b, "pow": a ** 2,
        "rem": gc.remainder(a, b), "fmod": gc.fmod(a, b), "rem_neg": gc.remainder(a, -b),
        "max": gc.maximum(a, b), "neg": -a, "abs": gc.abs(a), "sign": gc.sign(a),
        "sum": gc.sum(b), "mean": gc.mean(a, axis=1), "cumsum": gc.cumsum(b),
        "argmax": gc.argmax(a, axis=1), "sort": gc.sort(a, axis=1), "eq": a == b,
        "lt": a < f, "where": gc.where(m, a, f), "any": gc.any(m, axis=0), "all": gc.all(m),
        "sum_bool": gc.sum(m, axis=1), "mix": a * f, "sqrt": gc.sqrt(a),
        "clip": gc.clip(a, 0, 2), "astype": gc.astype(f, np.int32), "square": gc.square(b),
        "prod": gc.prod(b), "max_bool": gc.max(m, axis=1), "relu": gc.relu(a),
        "tril": gc.tril(b.reshape((2, 2))), "sort_bool": gc.sort(m, axis=1),
    }
    for k, v in outs.items():
        g.output(k, v)
    rng = np.random.default_rng(0)
    feeds = [{"a": rng.integers(-5, 6, (B, 4)), "b": rng.integers(1, 4, 4).astype(np.int32),
              "m": rng.random((B, 4)) < 0.5,
              "f": rng.normal(size=(B, 4)).astype(np.float32)} for B in (1, 3)]
    check_against_ort(g, feeds, 1e-6)


def test_a_symbol_solved_from_an_expression_dim():
    """S appears only inside the input's dim 2*S + 2: the model solves it from Shape."""
    g = gc.Graph()
    y = g.input("y", ("2*S + 2", 3))
    ramp = g.arange(y.shape[0] // 2).astype(np.float64)[:, None]
    g.output("z", y.reshape(("S + 1", 6)) + ramp)
    model = gc.onnx.to_model(g)
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["2*S + 2", 3]
    feeds = [{"y": np.arange((2 * S + 2) * 3.0).reshape(2 * S + 2, 3)} for S in (0, 2, 5)]
    check_against_ort(g, feeds, 1e-12, model=model)
