"""State updates (BatchNorm's running statistics) survive gc.save / gc.load, and a file's
state-update records are validated like the rest of it."""

import json

import numpy as np
import pytest

import graphc as gc


def _bn_graph():
    g = gc.Graph("bn")
    x = g.input("x", ("N", 3))
    y = gc.nn.BatchNorm1d(3)(x)
    g.output("loss", gc.sum(y * y))
    return g


def test_a_loaded_batchnorm_graph_updates_its_running_statistics(tmp_path):
    g = _bn_graph()
    gc.save(g, tmp_path / "bn.json")
    h = gc.load(tmp_path / "bn.json")
    assert h.state_updates == g.state_updates and len(h.state_updates) == 1
    f, f2 = gc.compile(g.outputs["loss"]), gc.compile(h.outputs["loss"])
    X = np.random.default_rng(0).standard_normal((5, 3))
    for _ in range(2):
        f(X)
        f2(X)
    assert h.params["batchnorm1d/num_batches_tracked"] == 2
    for k in g.params:
        np.testing.assert_array_equal(g.params[k], h.params[k])
    assert gc.io.dumps(h) == gc.io.dumps(g)


def _tampered(edit):
    doc = json.loads(gc.io.dumps(_bn_graph()))
    edit(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("edit, why", [
    (lambda d: d.update(state_updates=5), "state_updates: .*a list"),
    (lambda d: d.update(state_updates=[[0]]), r"state_updates\[0\]: a record is"),
    (lambda d: d["state_updates"][0].__setitem__(0, 10**6), "dangling"),
    (lambda d: d["state_updates"][0][1][0].__setitem__(0, 0), "not a param"),
    (lambda d: d["state_updates"][0][1][0].__setitem__(1, 0), "shape"),
    (lambda d: d["state_updates"][0][1].append(list(d["state_updates"][0][1][0])), "twice"),
    (lambda d: d["state_updates"][0][1][0].__setitem__(1, True), "dangling"),
])
def test_a_tampered_record_is_a_value_error(edit, why):
    with pytest.raises(ValueError, match=why):
        gc.io.loads(_tampered(edit))
