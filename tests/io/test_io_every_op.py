"""Every op in the registry, gradients included, survives save/load exactly and computes the
same after loading. The graph is built from the op table of ``tests/ops/test_op_table.py``
(one row per op and shape case), so an op added there is covered here too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from test_io_roundtrip import assert_same

import graphc as gc
from graphc.io import dumps, loads
from graphc.ops import all_ops

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")


def _table():
    path = Path(__file__).parents[1] / "ops" / "test_op_table.py"
    spec = importlib.util.spec_from_file_location("graphc_op_table_for_io", path)
    mod = sys.modules.setdefault(spec.name, importlib.util.module_from_spec(spec))
    spec.loader.exec_module(mod)
    return mod


TABLE = _table()


def every_op() -> tuple[gc.Graph, dict, list]:
    """One graph holding every table row, the gradient of each float row w.r.t. its float
    inputs, a param and its gradient; with a feed (B = 3) and the list of outputs."""
    rng = np.random.default_rng(0)
    g = gc.Graph("every_op")
    feed: dict[str, np.ndarray] = {"bind_B": np.zeros(3)}
    g.input("bind_B", ("B",))
    W = g.param("W", rng.normal(size=(4, 2)))
    outs = [g.output("pW", gc.sum(gc.tanh(g.inputs["bind_B"][:, None] + W[:, 0]) ** 2))]
    outs.append(g.output("dW", gc.grad(outs[0], [W])[0]))
    for k, r in enumerate(TABLE.ROWS):
        xs = []
        for j, (s, kind) in enumerate(zip(r.shapes, r.data, strict=True)):
            name = f"r{k}_x{j}"
            xs.append(g.input(name, s, dtype=TABLE._input_dtype(kind, np.float64)))
            feed[name] = TABLE._make(s, kind, rng, np.float64, 3)
        out = r.build(*xs)
        outs.append(g.output(f"r{k}", out))
        wrt = [x for x, kind in zip(xs, r.data, strict=True) if kind in ("real", "pos")]
        if r.op == "take_along_axis_grad" and r.shapes[0] != r.shapes[1]:
            wrt = []  # a cotangent wider than its indices: no forward op builds that
        if out.dtype.kind == "f" and wrt:
            for x, d in zip(wrt, gc.grad(gc.sum(out * out), wrt), strict=True):
                outs.append(g.output(f"d{x.name}", d))
    return g, feed, outs


def test_every_registered_op_round_trips_and_computes_the_same():
    g, feed, outs = every_op()
    assert {n.op for n in g.nodes} == set(all_ops()), "the graph misses some ops"
    text = dumps(g)
    h = loads(text)
    assert_same(g, h)
    assert dumps(h) == text
    # every input is listed: a creation row (full, arange) reads only its input's symbols
    want = gc.compile(outs, inputs=list(g.inputs.values()))(**feed)
    got = gc.compile(list(h.outputs.values()), inputs=list(h.inputs.values()))(**feed)
    assert len(got) == len(want)
    for name, u, v in zip(h.outputs, want, got, strict=True):
        assert u.dtype == v.dtype and u.shape == v.shape, name
        np.testing.assert_array_equal(u, v, err_msg=name)
