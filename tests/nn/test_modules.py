"""gc.nn modules: scoped parameters, lazy creation, seeded initial values, forward = numpy."""

import collections
import dataclasses
import types

import numpy as np
import pytest

import graphc as gc

# nothing nn builds may trip the broadcast diagnostics
pytestmark = pytest.mark.filterwarnings("error::graphc.errors.ShapeWarning")


def _graph(n_in=1):
    g = gc.Graph("m")
    return g, g.input("x", ("B", n_in))


def test_mlp_creates_scoped_params_in_the_graph_of_its_first_input():
    g, x = _graph(3)
    mlp = gc.nn.MLP([3, 5, 2])
    with pytest.raises(RuntimeError, match="call it once"):
        mlp.parameters()
    y = mlp(x)
    assert y.shape == ("B", 2)
    assert list(mlp.named_parameters()) == ["mlp/0/W", "mlp/0/b", "mlp/1/W", "mlp/1/b"]
    assert [g.params[k].shape for k in mlp.named_parameters()] == [(3, 5), (5,), (5, 2), (2,)]
    assert mlp.parameters() == g.trainable
    assert mlp.graph is g and mlp.layers[1].scope == "mlp/1"
    # a second call reuses the parameters
    mlp(x)
    assert len(g.params) == 4


def test_ops_built_by_a_module_carry_its_scope():
    g, x = _graph(2)
    gc.nn.MLP([2, 3, 1])(x)
    scopes = {n.op: n.info.get("scope") for n in g.nodes if n.op in ("matmul", "tanh")}
    assert scopes == {"matmul": "mlp/1", "tanh": "mlp"}
    assert [n.info["scope"] for n in g.nodes if n.op == "add"] == ["mlp/0", "mlp/1"]


def test_default_names_are_made_unique_explicit_ones_clash():
    g, x = _graph(2)
    a, b = gc.nn.Linear(2, 2), gc.nn.Linear(2, 2)
    b(a(x))
    assert (a.scope, b.scope) == ("linear", "linear_1")
    with pytest.raises(ValueError, match="already has"):
        gc.nn.Linear(2, 2, name="linear")(x)


def test_a_module_is_bound_to_one_graph():
    g, x = _graph(2)
    lin = gc.nn.Linear(2, 3)
    lin(x)
    _, x2 = _graph(2)
    with pytest.raises(ValueError, match="cannot be called on a tensor of graph"):
        lin(x2)
    with pytest.raises(TypeError, match="graphc Tensor"):
        lin(np.zeros((4, 2)))


def test_linear_checks_its_input_width_and_a_failed_first_call_binds_nothing():
    g, x = _graph(3)
    mlp = gc.nn.MLP([2, 4, 1])
    with pytest.raises(gc.ShapeError, match=r"Linear\(2, 4\) expects inputs \(\.\.\., 2\)") as e:
        mlp(x)
    assert "test_modules.py" in str(e.value)           # points at the user's line
    assert mlp.graph is None and not g.params
    g2, x2 = _graph(2)
    assert mlp(x2).shape == ("B", 1) and mlp.graph is g2


def test_mlp_forward_equals_numpy():
    g, x = _graph(2)
    mlp = gc.nn.MLP([2, 4, 4, 3], activation="relu", final_activation="sigmoid", rng=1)
    y = mlp(x)
    xv = np.random.default_rng(0).normal(size=(5, 2))
    P = g.params
    h = np.maximum(xv @ P["mlp/0/W"] + P["mlp/0/b"], 0)
    h = np.maximum(h @ P["mlp/1/W"] + P["mlp/1/b"], 0)
    ref = 1 / (1 + np.exp(-(h @ P["mlp/2/W"] + P["mlp/2/b"])))
    np.testing.assert_allclose(gc.compile(y)(xv), ref, rtol=1e-12)


def test_initial_values_follow_the_seed():
    def values(rng):
        _, x = _graph(3)
        m = gc.nn.MLP([3, 8, 2], rng=rng)
        m(x)
        return m.values()

    a, b, c = values(0), values(np.random.default_rng(0)), values(1)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["mlp/0/W"], c["mlp/0/W"])
    assert not a["mlp/0/b"].any()  # biases start at zero


def test_initialisers():
    rng = np.random.default_rng(0)
    w = gc.nn.init.glorot_uniform(rng, (300, 200))
    assert np.abs(w).max() <= np.sqrt(6 / 500) and w.std() == pytest.approx(np.sqrt(2 / 500),
                                                                               rel=0.05)
    assert gc.nn.init.he_normal(rng, (400, 300)).std() == pytest.approx(np.sqrt(2 / 400),
                                                                        rel=0.05)
    assert np.abs(gc.nn.init.he_uniform(rng, (50, 3))).max() <= np.sqrt(6 / 50)
    assert gc.nn.init.glorot_normal(rng, (2, 3), np.float32).dtype == np.float32
    assert not gc.nn.init.zeros(rng, (4,)).any()
    # relu MLPs default to He, others to Glorot
    assert gc.nn.MLP([2, 3], activation="relu").layers[0].init is gc.nn.init.he_normal
    assert gc.nn.MLP([2, 3]).layers[0].init is gc.nn.init.glorot_uniform
    with pytest.raises(TypeError, match="Generator or an int seed"):
        gc.nn.Linear(2, 2, rng="seed")


def test_activations_as_modules_and_functions():
    g, x = _graph(3)
    xv = np.linspace(-2, 2, 6).reshape(2, 3)
    for mod, fn, ref in [(gc.nn.Tanh(), gc.nn.tanh, np.tanh),
                         (gc.nn.ReLU(), gc.nn.relu, lambda v: np.maximum(v, 0)),
                         (gc.nn.Sigmoid(), gc.nn.sigmoid, lambda v: 1 / (1 + np.exp(-v)))]:
        a, b = gc.compile([mod(x), fn(x)])(xv)
        np.testing.assert_allclose(a, ref(xv), rtol=1e-12)
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="unknown activation"):
        gc.nn.MLP([1, 2], activation="nope")


def test_sequential_names_its_children_by_position():
    g, x = _graph(2)
    seq = gc.nn.Sequential([gc.nn.Linear(2, 4), gc.nn.ReLU(), gc.nn.Linear(4, 1)])
    assert seq(x).shape == ("B", 1)
    assert list(seq.named_parameters()) == ["sequential/0/W", "sequential/0/b",
                                            "sequential/2/W", "sequential/2/b"]


def test_repr_shows_the_configuration():
    mlp = gc.nn.MLP([1, 8, 1], activation="relu")
    assert repr(mlp) == "MLP(sizes=(1, 8, 1), activation='relu')"
    assert repr(gc.nn.Linear(2, 3, bias=False)) == "Linear(n_in=2, n_out=3, bias=False)"
    assert "init=he_normal" in repr(gc.nn.MLP([1, 2], activation="relu").layers[0])


def test_linear_without_bias_and_float32():
    g, x = _graph(2)
    lin = gc.nn.Linear(2, 3, bias=False, dtype=np.float32)
    lin(g.input("x32", ("B", 2), np.float32))
    assert list(lin.named_parameters()) == ["linear/W"]
    assert g.params["linear/W"].dtype == np.float32


# ----------------------------- argument checks, param dtypes, weight sharing, trainable params
def test_layer_sizes_are_checked_when_declared():
    for bad, exc, msg in [((0, 2), ValueError, "n_in must be >= 1"),
                          ((2, -1), ValueError, "n_out must be >= 1"),
                          (("2", 3), TypeError, "n_in must be an int, got '2'"),
                          ((2.0, 3), TypeError, "n_in must be an int")]:
        with pytest.raises(exc, match=msg):
            gc.nn.Linear(*bad)
    with pytest.raises(TypeError, match=r"MLP sizes\[1\] must be an int, got 2.5"):
        gc.nn.MLP([2, 2.5, 1])                      # not silently truncated to 2
    with pytest.raises(TypeError, match="list of ints"):
        gc.nn.MLP("21")
    assert gc.nn.MLP(np.array([2, 3, 1])).sizes == (2, 3, 1)


def test_params_follow_the_float_dtype_of_the_input():
    g = gc.Graph("m")
    y = gc.nn.MLP([2, 3, 1])(g.input("x", ("B", 2), np.float32))
    assert y.dtype == np.float32 and g.params["mlp/0/W"].dtype == np.float32
    gc.nn.Linear(2, 2)(g.input("i", ("B", 2), np.int64))
    assert g.params["linear/W"].dtype == np.float64


def test_weight_sharing_and_a_custom_module_with_two_children():
    @dataclasses.dataclass(eq=False, repr=False)
    class Twice(gc.nn.Module):
        """The same Linear applied twice (shared weights), then a head."""

        n: int = 2

        def __post_init__(self):
            super().__post_init__()
            self.body, self.head = gc.nn.Linear(self.n, self.n), gc.nn.Linear(self.n, 1)

        def forward(self, x):
            return self.head(gc.tanh(self.body(gc.tanh(self.body(x)))))

    g, x = _graph(2)
    m = Twice()
    out = m(x)
    # children are named after the attribute that holds them (not their class: linear_1)
    assert list(m.named_parameters()) == ["twice/body/W", "twice/body/b",
                                          "twice/head/W", "twice/head/b"]
    P, xv = g.params, np.random.default_rng(0).normal(size=(4, 2))

    def body(v):
        return np.tanh(v @ P["twice/body/W"] + P["twice/body/b"])

    ref = body(body(xv)) @ P["twice/head/W"] + P["twice/head/b"]
    np.testing.assert_allclose(gc.compile(out)(xv), ref, rtol=1e-12)
    # the shared W's gradient is the sum over both uses (checked by finite differences)
    gc.check_grad(gc.sum(out), [g.param_tensors["twice/body/W"]], {x: xv})


def test_values_before_the_first_call_and_sequential_steps_are_checked():
    with pytest.raises(RuntimeError, match="no parameters yet"):
        gc.nn.Linear(2, 2).values()                  # was a bare AssertionError
    with pytest.raises(TypeError, match=r"Sequential steps\[1\] must be a Module or a function"):
        gc.nn.Sequential([gc.nn.Linear(2, 2), 3])    # not only when first called


def test_trainable_parameters_leave_out_state_params():
    """A module with a non-trainable running statistic: parameters() has it, trainable does not."""
    from dataclasses import dataclass

    @dataclass
    class Scaled(gc.nn.Module):
        n: int = 2

        def build(self, x):
            self.param("w", gc.nn.init.zeros, (self.n,))
            self.param("running", gc.nn.init.zeros, (self.n,), trainable=False)

        def forward(self, x):
            return x * self._params["w"] + self._params["running"]

    g = gc.Graph()
    x = g.input("x", ("B", 2))
    m = Scaled()
    m(x)
    assert len(m.parameters()) == 2
    assert [t.name for t in m.trainable_parameters()] == [m.parameters()[0].name]
    assert not m.parameters()[1].node.attr["trainable"]


# ------------------------- sub-modules found in dicts, named by attribute path; hidden ones
@dataclasses.dataclass(eq=False, repr=False)
class _Net(gc.nn.Module):
    """Children in an attribute, a dict, a nested list/tuple and a dict inside a list."""

    l1: gc.nn.Module = dataclasses.field(default_factory=lambda: gc.nn.Linear(2, 3))
    layers: dict = dataclasses.field(default_factory=lambda: {"a": gc.nn.Linear(3, 3)})
    deep: list = dataclasses.field(
        default_factory=lambda: [(gc.nn.Linear(3, 3),), {"z": gc.nn.Linear(3, 1, bias=False)}])

    def forward(self, x):
        h = self.layers["a"](gc.tanh(self.l1(x)))
        return self.deep[1]["z"](self.deep[0][0](h))


def test_children_in_dicts_are_found_and_named_after_their_attribute_path(tmp_path):
    g, x = _graph(2)
    net = _Net(name="net")
    y = net(x)
    names = ["net/l1/W", "net/l1/b", "net/layers/a/W", "net/layers/a/b", "net/deep/0/0/W",
             "net/deep/0/0/b", "net/deep/1/z/W"]
    assert list(net.named_parameters()) == names and sorted(g.params) == sorted(names)
    assert list(net.named_modules()) == ["l1", "layers/a", "deep/0/0", "deep/1/z"]
    assert net.layers["a"].scope == "net/layers/a"
    assert gc.nn.save_params(net, tmp_path / "net.npz") == names
    assert sorted(np.load(tmp_path / "net.npz").files) == sorted(names)
    xv = np.random.default_rng(0).normal(size=(4, 2))
    P = g.params
    h = np.tanh(xv @ P["net/l1/W"] + P["net/l1/b"]) @ P["net/layers/a/W"] + P["net/layers/a/b"]
    ref = (h @ P["net/deep/0/0/W"] + P["net/deep/0/0/b"]) @ P["net/deep/1/z/W"]
    np.testing.assert_allclose(gc.compile(y)(xv), ref, rtol=1e-12)


def test_a_top_level_module_keeps_its_class_name_and_a_child_its_explicit_name():
    g, x = _graph(2)
    a = _Net()
    a(x)
    b = _Net(l1=gc.nn.Linear(2, 3, name="enc"))
    b(x)
    assert (a.scope, b.scope) == ("_net", "_net_1")
    assert "_net_1/enc/W" in b.named_parameters() and "_net/l1/W" in a.named_parameters()


@pytest.mark.parametrize("holder, where", [
    (lambda m: {m}, r"_Holder\.held: a Linear is held in a set \(an element of held\)"),
    (lambda m: types.SimpleNamespace(enc=m),
     r"_Holder\.held: a Linear is held in a SimpleNamespace \(at held\.enc\)"),
    (lambda m: [collections.deque([m])],
     r"_Holder\.held: a Linear is held in a deque \(an element of held\[0\]\)"),
    (lambda m: {3: m}, r"_Holder\.held: key 3 holds a Linear"),
    (lambda m: {"a/b": m}, r"_Holder\.held: key 'a/b' holds a Linear"),
])
def test_a_module_the_search_cannot_see_is_an_error_at_the_first_call(holder, where):
    @dataclasses.dataclass(eq=False, repr=False)
    class _Holder(gc.nn.Module):
        held: object = None

        def forward(self, x):
            return x

    g, x = _graph(2)
    m = _Holder(held=holder(gc.nn.Linear(2, 2)))
    with pytest.raises(TypeError, match=where):
        m(x)
    assert m.graph is None and not g.params


def test_a_dict_of_plain_values_with_any_keys_is_configuration():
    @dataclasses.dataclass(eq=False, repr=False)
    class _Cfg(gc.nn.Linear):
        extra: dict = dataclasses.field(default_factory=lambda: {1: "one", (2, 3): [4.0]})

    g, x = _graph(2)
    _Cfg(2, 1)(x)
    assert list(g.params) == ["_cfg/W", "_cfg/b"]


# ------------------------------------------------------ several inputs: an RNN cell over steps
@dataclasses.dataclass(eq=False, repr=False)
class _Cell(gc.nn.Module):
    """h' = tanh(x W + h U + b): two inputs, one set of params however many steps."""

    n_in: int = 2
    n_h: int = 3

    def __post_init__(self):
        super().__post_init__()
        self.ih = gc.nn.Linear(self.n_in, self.n_h)
        self.hh = gc.nn.Linear(self.n_h, self.n_h, bias=False)

    def forward(self, x, h, *, scale=1.0):
        return gc.tanh(self.ih(x) + self.hh(h) * scale)


def test_a_module_with_two_inputs_creates_its_params_once_and_shares_them_over_steps():
    g = gc.Graph("rnn")
    xs = [g.input(f"x{t}", ("B", 2)) for t in range(3)]
    h0 = g.input("h0", ("B", 3))
    cell = _Cell()
    h = h0
    for t, x in enumerate(xs):
        h = cell(x, h) if t % 2 == 0 else cell(x, h=h, scale=0.5)   # positional or keyword
    assert list(g.params) == ["_cell/ih/W", "_cell/ih/b", "_cell/hh/W"]
    rng = np.random.default_rng(0)
    xv, hv = [rng.normal(size=(4, 2)) for _ in xs], rng.normal(size=(4, 3))
    P, ref = g.params, hv
    for t in range(3):
        ref = np.tanh(xv[t] @ P["_cell/ih/W"] + P["_cell/ih/b"]
                      + ref @ P["_cell/hh/W"] * (1.0 if t % 2 == 0 else 0.5))
    got = gc.compile(h)(**{f"x{t}": xv[t] for t in range(3)}, h0=hv)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_a_call_without_a_tensor_or_with_tensors_of_two_graphs_is_refused():
    cell = _Cell()
    with pytest.raises(TypeError, match="needs a graphc Tensor among its arguments"):
        cell(np.zeros((1, 2)), h=np.zeros((1, 3)))
    with pytest.raises(TypeError, match="needs a graphc Tensor"):
        cell()
    (_, x), (_, h) = _graph(2), _graph(3)
    with pytest.raises(ValueError, match="tensors of two graphs"):
        cell(x, h)
    assert cell.graph is None
