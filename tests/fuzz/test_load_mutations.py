"""Fuzzing saved model files: random byte edits, truncations and JSON-level mutations.

``gc.io.loads`` must raise only ValueError; a mutated file that still loads must be a valid
graph that compiles and runs (or fails with the contract's exceptions), and whose generated
source holds nothing from the file. `bash dev.sh fuzz` runs the long profile.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc

pytestmark = [pytest.mark.fuzz, pytest.mark.filterwarnings("ignore::graphc.ShapeWarning"),
              pytest.mark.filterwarnings("ignore::RuntimeWarning")]


def _model():
    g = gc.Graph("fuzzed")
    x = g.input("x", ("B", 3))
    lab = g.input("lab", ("B",), dtype=np.int64)
    W = g.param("W", np.arange(6.0).reshape(3, 2) / 7)
    b = g.param("b", np.zeros(2))
    z = gc.tanh(x @ W + b)
    logp = gc.log_softmax(z, axis=1)
    picked = gc.take_along_axis(logp, gc.expand_dims(lab, 1), axis=1)
    loss = -gc.mean(picked) + 0.1 * gc.sum(z[:, 0:1] ** 2)
    (gW,) = gc.grad(loss, [W])
    g.output("loss", loss)
    g.output("gW", gW)
    return g


TEXT = gc.io.dumps(_model())
DOC = json.loads(TEXT)
CONTRACT = (ValueError, TypeError, FloatingPointError)  # ShapeError is a ValueError


def _exercise(g):
    """A loaded graph must compile and run, or fail only with the contract's exceptions."""
    outs = list(g.outputs.values())
    if not outs:
        return
    try:
        f = gc.compile(outs)
    except CONTRACT:
        return
    assert "import" not in f.source.replace("# inputs", "")
    feed = {}
    for name, t in g.inputs.items():
        shape = tuple(2 if isinstance(d, str) else d for d in t.shape)
        if t.dtype.kind in "iu":
            feed[name] = np.zeros(shape, dtype=t.dtype)
        elif t.dtype.kind == "b":
            feed[name] = np.zeros(shape, dtype=bool)
        else:
            feed[name] = np.ones(shape, dtype=t.dtype)
    try:
        f(**{k: v for k, v in feed.items() if k in f.input_names})
    except CONTRACT:
        pass


@given(st.lists(st.tuples(st.integers(0, len(TEXT) - 1), st.integers(32, 126)),
                min_size=1, max_size=4))
def test_byte_mutations_raise_only_value_error(edits):
    b = bytearray(TEXT.encode())
    for pos, byte in edits:
        b[pos] = byte
    try:
        g = gc.io.loads(bytes(b))
    except ValueError:
        return
    _exercise(g)


@given(st.integers(0, len(TEXT.rstrip()) - 1))  # cutting only the final newline is no damage
def test_truncations_raise_value_error(n):
    with pytest.raises(ValueError):
        gc.io.loads(TEXT[:n])


JUNK = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.floats(allow_nan=False),
                 st.text(max_size=5), st.lists(st.integers(-2, 3), max_size=3),
                 st.just({"shape": [1]}), st.just([["int", 0]]), st.just("B"))


@given(st.integers(0, len(DOC["nodes"]) - 1), st.data())
def test_field_mutations_raise_only_value_error(k, data):
    doc = json.loads(TEXT)
    node = doc["nodes"][k]
    where = data.draw(st.sampled_from(["field", "attr", "meta"]))
    if where == "field":
        node[data.draw(st.sampled_from(sorted(node)))] = data.draw(JUNK)
    elif where == "attr" and node["attrs"]:
        node["attrs"][data.draw(st.sampled_from(sorted(node["attrs"])))] = data.draw(JUNK)
    elif node["meta"]:
        node["meta"][data.draw(st.sampled_from(sorted(node["meta"])))] = data.draw(JUNK)
    try:
        g = gc.io.loads(json.dumps(doc))
    except ValueError:
        return
    _exercise(g)
