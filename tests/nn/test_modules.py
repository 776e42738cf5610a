"""gc.nn modules: scoped parameters, lazy creation, seeded initial values, forward = numpy."""

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
        gc.nn.MLP([1, 2], activation="gelu")


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
    import dataclasses

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
    assert list(m.named_parameters()) == ["twice/linear/W", "twice/linear/b",
                                          "twice/linear_1/W", "twice/linear_1/b"]
    P, xv = g.params, np.random.default_rng(0).normal(size=(4, 2))

    def body(v):
        return np.tanh(v @ P["twice/linear/W"] + P["twice/linear/b"])

    ref = body(body(xv)) @ P["twice/linear_1/W"] + P["twice/linear_1/b"]
    np.testing.assert_allclose(gc.compile(out)(xv), ref, rtol=1e-12)
    # the shared W's gradient is the sum over both uses (checked by finite differences)
    gc.check_grad(gc.sum(out), [g.param_tensors["twice/linear/W"]], {x: xv})


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
