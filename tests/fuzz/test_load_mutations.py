"""Fuzzing saved model files: byte edits, truncations and JSON-level mutations of a seed corpus.

The property, for every mutated file: ``gc.io.loads`` raises a ValueError (never another
exception type), or the graph it returns works -- it compiles (named outputs and every sink),
runs with every symbol bound to 2, evaluates with the reference interpreter, draws
(``gc.to_dot``, ``gc.to_networkx``), and, when it has a scalar float output and trainable
params, differentiates and draws again as ``graphc dot --grad`` does. Its generated source
holds nothing from the file.

The seeds (``SEEDS``) are two valid models (a classifier with its gradient; an MLP with an
Adam step: scope and optimizer meta) and the files of past bugs. The default run is short;
``HYPOTHESIS_PROFILE=long`` (``bash dev.sh fuzz``) runs the long profile.
"""

from __future__ import annotations

import base64
import copy
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc
from graphc.io.meta import KNOWN
from graphc.ir.opdef import all_ops

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::graphc.ShapeWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


# ================================================================================ the seeds
def _classifier() -> gc.Graph:
    g = gc.Graph("fuzzed")
    x = g.input("x", ("B", 3))
    lab = g.input("lab", ("B",), dtype=np.int64)
    W = g.param("W", np.arange(6.0).reshape(3, 2) / 7)
    b = g.param("b", np.zeros(2))
    z = gc.tanh(x @ W + b)
    logp = gc.log_softmax(z, axis=1)
    picked = gc.take_along_axis(logp, gc.expand_dims(lab, 1), axis=1)
    loss = -gc.mean(picked) + 0.1 * gc.sum(z[:, 0:1] ** 2)
    gW, gb = gc.grad(loss, [W, b])
    g.output("loss", loss)
    g.output("gW", gW)
    g.output("gb", gb)
    return g


def _trainer() -> gc.Graph:
    g = gc.Graph("trainer")
    x, y = g.input("x", ("B", 2)), g.input("y", ("B", 1))
    mlp = gc.nn.MLP([2, 3, 1], activation="relu")
    loss = g.output("loss", gc.mean((mlp(x) - y) ** 2))
    for k, (p, v) in enumerate(gc.optim.Adam(0.01).updates(loss).items()):
        g.output(f"new{k}", v)
        assert p.graph is g
    return g


def _sequence() -> gc.Graph:
    """Dim expressions: slices and concatenate along T, reshapes through B*T, an input
    declared (B*T, 3), a gradient summed back along them."""
    g = gc.Graph("sequence")
    x = g.input("x", ("B", "T", 3))
    flat = g.input("flat", ("B*T", 3))
    w = g.param("w", np.array([0.5, -1.0, 2.0]))
    d = gc.concatenate([x[:, 1:] - x[:, :-1], x[:, -1:]], axis=1)  # (B, T, 3)
    rows = gc.reshape(d * w, (-1, 3)) + flat
    back = gc.reshape(rows, (x.shape[0], x.shape[1], 3))
    loss = gc.sum(gc.tanh(back[:, ::2]) ** 2)
    (gw,) = gc.grad(loss, [w])
    g.output("loss", loss)
    g.output("gw", gw)
    return g


def _array(a) -> dict:
    a = np.asarray(a)
    return {"dtype": a.dtype.str, "shape": list(a.shape),
            "data": base64.b64encode(a.tobytes()).decode()}


BASES = {"classifier": json.loads(gc.io.dumps(_classifier())),
         "trainer": json.loads(gc.io.dumps(_trainer())),
         "sequence": json.loads(gc.io.dumps(_sequence()))}


def _find(doc: dict, pred) -> dict:
    return next(n for n in doc["nodes"] if pred(n))


def _seed(base: str, fn) -> dict:
    doc = copy.deepcopy(BASES[base])
    fn(doc)
    return doc


def _int_trainable(d):
    n = _find(d, lambda n: n["op"] == "param")
    n["dtype"] = "int64"
    d["params"][n["name"]] = _array(np.ones(n["shape"], np.int64))


def _int_state(d):
    _int_trainable(d)
    _find(d, lambda n: n["op"] == "param")["attrs"]["trainable"] = False


def _sum_attrs(**kv):
    return lambda d: _find(d, lambda n: n["op"] == "sum")["attrs"].update(kv)


def _unbroadcast_meta(**kv):
    return lambda d: _find(d, lambda n: n["meta"].get("unbroadcast"))["meta"].update(kv)


def _rewire(op: str, k: int, to_op: str):
    def fn(d):
        _find(d, lambda n: n["op"] == op)["inputs"][k] = _find(d, lambda n: n["op"] == to_op)["id"]
    return fn


#: past bugs and edge cases: each must load and work, or be refused with a ValueError
SEEDS = {
    **BASES,
    # meta: a list where a string belongs crashed `graphc dot`, an int where a list belongs
    "meta_forward_loc_list": _seed("classifier", _unbroadcast_meta(forward_loc=["a", "b"])),
    "meta_reduces_int": _seed("classifier", _unbroadcast_meta(reduces=5)),
    "strict_trainer": _seed("trainer", lambda d: d.update(strict=True)),  # lint re-run on load
    "meta_user_scalars": _seed("trainer", lambda d: d["nodes"][-1]["meta"].update(
        note="x", n=3, f={"float": "nan"}, flag=None)),
    # a trainable int param loaded, then `render --grad` and `fit` failed; an int state is fine
    "int_trainable_param": _seed("classifier", _int_trainable),
    "int_state_param": _seed("classifier", _int_state),
    # a declared shape a call would allocate: 2**40 elements, or just over MAX_BYTES
    "huge_input": _seed("classifier", lambda d: d["nodes"][0].update(shape=["B", 2**40])),
    "big_input": _seed("classifier", lambda d: d["nodes"][0].update(shape=[2**28 + 1])),
    # an internal gradient op fed a gradient of another shape: its rule let it through, the
    # call failed (the fuzzer's first find)
    "take_grad_wrong_operand": _seed("classifier", _rewire("take_along_axis_grad", 0, "param")),
    # attributes equal to the canonical ones, but of another type or form
    "axis_numpy_scalar": _seed("classifier", _sum_attrs(axis=[{"scalar": _array(np.int64(1))}])),
    "keepdims_float": _seed("classifier", _sum_attrs(keepdims=0.0)),
    "axis_one_element_array": _seed("classifier", _sum_attrs(axis={"array": _array([1])})),
    # dim texts are parsed by the dim grammar, never evaluated; a non-canonical spelling of
    # the same dim is the same dim
    "dim_code": _seed("sequence", lambda d: d["nodes"][1].update(
        shape=["__import__('os').system('x')", 3])),
    "dim_deep": _seed("sequence", lambda d: d["nodes"][1].update(shape=["(" * 99 + "B", 3])),
    "dim_other_spelling": _seed("sequence", lambda d: d["nodes"][1].update(shape=["T*B", 3])),
    "dim_attr_tag_int": _seed("sequence", lambda d: _find(d, lambda n: n["op"] == "reshape")[
        "attrs"].update(shape=[{"dim": "3"}, 3])),
}


# ============================================================================= the property
class _Twos(dict):
    def __missing__(self, key):
        return 2


_TWOS = _Twos()


def _feed(g: gc.Graph) -> dict[str, np.ndarray]:
    """Every input at every symbol = 2: ones for floats, zeros for ints and bools."""
    feed = {}
    for name, t in g.inputs.items():
        shape = tuple(d.evaluate(_TWOS) if isinstance(d, gc.Dim) else d for d in t.shape)
        feed[name] = (np.ones(shape, dtype=t.dtype) if t.dtype.kind == "f"
                      else np.zeros(shape, dtype=t.dtype))
    return feed


def _works(g: gc.Graph) -> None:
    """What every loaded graph must do, without any exception."""
    sinks = set(range(len(g))) - {j for n in g.nodes for j in n.inputs}
    ids = dict.fromkeys([t.id for t in g.outputs.values()] + sorted(sinks))
    gc.to_networkx(g)
    gc.to_dot(g)
    if not ids:
        return
    outs = [g.tensor(i) for i in ids]
    f = gc.compile(outs)
    assert "import" not in f.source.replace("# inputs", "")
    feed = _feed(g)
    args = {k: v for k, v in feed.items() if k in f.input_names}
    try:
        f(**args)
    except gc.ShapeError:  # a condition a shape rule assumed fails at every symbol = 2:
        with pytest.raises(gc.ShapeError):  # the reference interpreter says so too
            gc.evaluate(outs, args)
        return
    gc.evaluate(outs, args)
    loss = next((t for t in g.outputs.values() if t.ndim == 0 and t.dtype.kind == "f"), None)
    if loss is not None and g.trainable:  # as `graphc dot --grad --depth 1 --fold --stack`
        gc.grad(loss, g.trainable)
        gc.to_dot(g, depth=1, fold=True, stack=True, legend=True)


def check(data: str | bytes | dict) -> bool:
    """The property for one file; True when it loaded (and worked)."""
    text = json.dumps(data) if isinstance(data, dict) else data
    try:
        g = gc.io.loads(text)
    except ValueError:
        return False
    _works(g)
    return True


# ================================================================================ the tests
def test_every_seed_has_the_property():
    loaded = {name for name, doc in SEEDS.items() if check(doc)}
    assert loaded == {"classifier", "trainer", "sequence", "strict_trainer", "meta_user_scalars",
                      "int_state_param", "dim_other_spelling"}


TEXTS = {k: json.dumps(SEEDS[k]) for k in sorted(SEEDS)}


@given(st.sampled_from(sorted(TEXTS)), st.data())
def test_byte_mutations(seed, data):
    text = TEXTS[seed]
    edits = data.draw(st.lists(st.tuples(st.integers(0, len(text) - 1), st.integers(32, 126)),
                               min_size=1, max_size=4))
    b = bytearray(text.encode())
    for pos, byte in edits:
        b[pos] = byte
    check(bytes(b))


@given(st.sampled_from(sorted(BASES)), st.data())
def test_truncations_raise_value_error(seed, data):
    text = TEXTS[seed]
    n = data.draw(st.integers(0, len(text) - 1))  # cutting only the final newline is no damage
    with pytest.raises(ValueError):
        gc.io.loads(text[:n])


JUNK = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.sampled_from([2**31, 2**63, -(2**70)]),
    st.floats(allow_nan=False), st.sampled_from([0.0, 1.0, -1.0]), st.text(max_size=5),
    st.lists(st.integers(-2, 3), max_size=3), st.lists(st.sampled_from(["B", "T", 1, 2]),
                                                        max_size=3),
    st.just({"shape": [1]}), st.just({"list": [0]}), st.just({"float": "inf"}),
    st.just({"scalar": _array(np.int64(1))}), st.just({"scalar": _array(np.float32(0))}),
    st.just({"array": _array([1])}), st.just({"dtype": "<f8"}), st.just({"slice": [0, 1, None]}),
    st.just([["int", 0]]), st.just([["slice", 0, 1, None]]), st.just("B"),
    st.sampled_from(["B*T", "T - 1", "(T + 1)//2", "2*B", "B//0", "T % B", "x" * 300, "B;T"]),
    st.sampled_from([{"dim": "B*T"}, {"dim": "T - 5"}, {"dim": "1//0"}, {"dim": 3}]),
    st.sampled_from(sorted(all_ops())), st.sampled_from(["float32", "int64", "bool", ">f8"]),
).map(copy.deepcopy)  # a later edit may write into a drawn object: never share one


def _mutate(doc: dict, data) -> None:
    """One random edit of ``doc``: a node's field, attribute or meta; a param; an output.
    (An earlier edit may have made a field junk: the edits inside it are then skipped.)"""
    node = doc["nodes"][data.draw(st.integers(0, len(doc["nodes"]) - 1))]
    where = data.draw(st.sampled_from(["field", "attr", "meta", "new_meta", "drop_meta",
                                       "inputs", "dim", "param", "output"]))
    attrs, meta = node.get("attrs"), node.get("meta")
    if where == "field":
        node[data.draw(st.sampled_from(sorted(node)))] = data.draw(JUNK)
    elif where in ("attr", "meta"):
        d = attrs if where == "attr" else meta
        if isinstance(d, dict) and d:
            d[data.draw(st.sampled_from(sorted(d)))] = data.draw(JUNK)
    elif where == "new_meta" and isinstance(meta, dict):
        key = data.draw(st.sampled_from(sorted(KNOWN) + ["x"]))
        meta[key] = data.draw(JUNK)
    elif where == "drop_meta" and isinstance(meta, dict) and meta:
        meta.pop(data.draw(st.sampled_from(sorted(meta))))
    elif where == "inputs" and isinstance(node.get("inputs"), list) and node["inputs"]:
        k = data.draw(st.integers(0, len(node["inputs"]) - 1))
        node["inputs"][k] = data.draw(st.integers(0, len(doc["nodes"]) - 1))
    elif where == "dim" and isinstance(node.get("shape"), list) and node["shape"]:
        k = data.draw(st.integers(0, len(node["shape"]) - 1))
        node["shape"][k] = data.draw(st.sampled_from(
            [0, 1, 2, 3, "B", "T", "B*T", "T - 1", "T + 1", "2*T - 1", "(T + 1)//2", "T//0",
             "B % 2", "-B", "T - 9", "T*T*T*T*T*T*T*T*T", "B\nimport os"]))
    elif where == "param" and doc["params"]:
        arr = doc["params"][data.draw(st.sampled_from(sorted(doc["params"])))]
        if isinstance(arr, dict):
            arr[data.draw(st.sampled_from(sorted(arr)))] = data.draw(JUNK)
    elif where == "output" and doc["outputs"]:
        doc["outputs"][data.draw(st.sampled_from(sorted(doc["outputs"])))] = data.draw(
            st.integers(-1, len(doc["nodes"])))


@given(st.sampled_from(sorted(SEEDS)), st.integers(1, 3), st.data())
def test_field_mutations(seed, n_edits, data):
    doc = copy.deepcopy(SEEDS[seed])
    for _ in range(n_edits):
        _mutate(doc, data)
    check(doc)
