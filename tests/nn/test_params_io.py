"""save_params / load_params: what a strict load reports, and loading a checkpoint whose
param names differ (``rename``), e.g. one saved when nested modules were named by class."""

import dataclasses

import numpy as np
import pytest

import graphc as gc

pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")


@dataclasses.dataclass(eq=False, repr=False)
class Twice(gc.nn.Module):
    """A body applied twice, then a head: params net/body/W, net/body/b, net/head/W, ..."""

    def __post_init__(self):
        super().__post_init__()
        self.body, self.head = gc.nn.Linear(2, 2), gc.nn.Linear(2, 1)

    def forward(self, x):
        return self.head(gc.tanh(self.body(gc.tanh(self.body(x)))))


def _net():
    g = gc.Graph("m")
    x = g.input("x", ("B", 2))
    net = Twice(name="net", rng=3)
    return g, x, net(x), net


def _old_checkpoint(path, g):
    """The file an earlier graphc wrote: children named after their class, with a counter."""
    old = {k.replace("net/body/", "net/linear/").replace("net/head/", "net/linear_1/"): v + 1
           for k, v in g.params.items()}
    np.savez(path, **old)
    return {k: v + 1 for k, v in g.params.items()}


@pytest.mark.parametrize("rename", [
    {"net/linear": "net/body", "net/linear_1": "net/head"},      # scope prefixes
    {"net/linear/W": "net/body/W", "net/linear/b": "net/body/b",  # or whole names
     "net/linear_1": "net/head"},
    lambda k: k.replace("/linear_1/", "/head/").replace("/linear/", "/body/"),
])
def test_an_old_checkpoint_with_class_based_names_loads_with_rename(tmp_path, rename):
    g, x, y, net = _net()
    want = _old_checkpoint(tmp_path / "old.npz", g)
    with pytest.raises(ValueError, match="missing from the file: 'net/body/W'.*rename="):
        gc.nn.load_params(net, tmp_path / "old.npz")
    assert gc.nn.load_params(net, tmp_path / "old.npz", rename=rename) == list(want)
    assert all(np.array_equal(g.params[k], want[k]) for k in want)


def test_rename_mistakes_are_reported(tmp_path):
    g, x, y, net = _net()
    _old_checkpoint(tmp_path / "old.npz", g)
    with pytest.raises(ValueError, match=r"rename: no param in the file is 'net/lin' or under"):
        gc.nn.load_params(net, tmp_path / "old.npz", rename={"net/lin": "net/body"})
    with pytest.raises(ValueError, match="'net/linear/W' and 'net/linear_1/W' both to 'net/W'"):
        gc.nn.load_params(net, tmp_path / "old.npz", rename=lambda k: "net/" + k[-1])
    with pytest.raises(TypeError, match="rename must be a dict"):
        gc.nn.load_params(net, tmp_path / "old.npz", rename=[("a", "b")])


def test_a_strict_load_says_exactly_what_does_not_match(tmp_path):
    g, x, y, net = _net()
    params = {k: v.copy() for k, v in g.params.items()}
    # only extra params: no "missing from the file: []"
    np.savez(tmp_path / "extra.npz", **params, **{"net/other/W": np.zeros(2)})
    with pytest.raises(ValueError) as e:
        gc.nn.load_params(net, tmp_path / "extra.npz")
    assert "in the file but not in the target: 'net/other/W'" in str(e.value)
    assert "missing" not in str(e.value) and "[]" not in str(e.value)
    # only missing params
    np.savez(tmp_path / "part.npz", **{k: v for k, v in params.items() if "head" not in k})
    with pytest.raises(ValueError) as e:
        gc.nn.load_params(net, tmp_path / "part.npz")
    assert "params missing from the file: 'net/head/W', 'net/head/b'" in str(e.value)
    assert "not in the target" not in str(e.value) and "[]" not in str(e.value)
    # missing, extra and a wrong shape at once: all three named in one message
    bad = {**params, "net/body/W": np.zeros((3, 2)), "net/x": np.zeros(1)}
    del bad["net/head/b"]
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError) as e:
        gc.nn.load_params(net, tmp_path / "bad.npz")
    msg = str(e.value)
    assert "params missing from the file: 'net/head/b'" in msg
    assert "in the file but not in the target: 'net/x'" in msg
    assert "param 'net/body/W' has shape (3, 2) in the file, (2, 2) in the graph" in msg
    assert all(np.array_equal(g.params[k], params[k]) for k in params)   # nothing copied
    # not strict: only the shape is wrong
    with pytest.raises(ValueError) as e:
        gc.nn.load_params(net, tmp_path / "bad.npz", strict=False)
    assert "missing" not in str(e.value) and "'net/body/W' has shape (3, 2)" in str(e.value)
