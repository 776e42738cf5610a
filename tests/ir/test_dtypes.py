"""dtype rules: float64 default, float32 kept (python scalars never upcast it), bool from
comparisons, integer inputs allowed, TypeError for what numpy cannot compute with."""

import numpy as np
import pytest

import graphc as gc


def _run(t, feed):
    """Evaluate and compile ``t``; both must give the inferred dtype."""
    ref = gc.evaluate(t, feed)
    inputs = list(feed)
    got = gc.compile(t, inputs=inputs)(*feed.values())
    assert np.asarray(ref).dtype == t.dtype
    assert np.asarray(got).dtype == t.dtype
    return ref


def test_float64_is_the_default():
    g = gc.Graph()
    x = g.input("x", ("B", 2))
    assert x.dtype == np.float64
    assert isinstance(x.dtype, np.dtype)
    assert g.param("W", [[1.0, 2.0]]).dtype == np.float64
    assert g.constant(1.5).dtype == np.float64
    assert (x + 1).dtype == np.float64


F32_EXPRS = {
    "mul_scalar": lambda a: a * 2.5,
    "rmul_scalar": lambda a: 2.5 * a,
    "radd_int": lambda a: 1 + a,
    "rsub": lambda a: 1.0 - a,
    "div": lambda a: a / 3.0,
    "rdiv": lambda a: 3.0 / a,
    "pow": lambda a: a ** 2,
    "pow_float": lambda a: a ** 0.5,
    "rpow": lambda a: 2.0 ** a,
    "max_scalar": lambda a: gc.maximum(a, 0.0),
    "where": lambda a: gc.where(a > 0.5, a, 0.0),
    "where_int": lambda a: gc.where(a > 0.5, 1, a),
    "np_f32_scalar": lambda a: a + np.float32(1),
    "tanh": lambda a: gc.tanh(a),
    "sigmoid": lambda a: gc.sigmoid(a),
    "relu": lambda a: gc.relu(a),
    "exp_log": lambda a: gc.log(gc.exp(a)),
    "sqrt": lambda a: gc.sqrt(a),
    "sum": lambda a: a.sum(),
    "mean": lambda a: a.mean(axis=0),
    "max": lambda a: a.max(axis=-1),
    "softmax": lambda a: gc.softmax(a),
    "log_softmax": lambda a: gc.log_softmax(a),
    "logsumexp": lambda a: gc.logsumexp(a, axis=1),
    "matmul": lambda a: a @ a.T,
    "reshape": lambda a: a.reshape(-1),
    "getitem": lambda a: a[0],
}


@pytest.mark.parametrize("name", sorted(F32_EXPRS))
def test_float32_is_preserved(name):
    g = gc.Graph()
    a = g.input("a", (3, 3), dtype=np.float32)
    t = F32_EXPRS[name](a)
    assert t.dtype == np.float32, name
    v = np.linspace(0.1, 2.0, 9, dtype=np.float32).reshape(3, 3)
    _run(t, {a: v})


def test_strong_float64_operands_upcast_like_numpy():
    g = gc.Graph()
    a = g.input("a", (3,), dtype=np.float32)
    assert (a + np.float64(1)).dtype == np.result_type(np.float32, np.float64)
    assert (a + np.ones(3)).dtype == np.float64
    assert (a + g.input("b", (3,))).dtype == np.float64


@pytest.mark.parametrize("op", ["less", "less_equal", "greater", "greater_equal", "equal",
                                "not_equal"])
def test_comparisons_give_bool(op):
    g = gc.Graph()
    a = g.input("a", (4,), dtype=np.float32)
    t = getattr(gc, op)(a, 0.5)
    assert t.dtype == np.bool_
    _run(t, {a: np.array([0, 0.5, 1, 2], dtype=np.float32)})


def test_comparison_operators_give_bool():
    g = gc.Graph()
    a = g.input("a", (4,))
    for t in (a < 1, a <= 1, a > 1, a >= 1, 1 < a):
        assert t.dtype == np.bool_


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.bool_])
def test_integer_and_bool_inputs_are_allowed(dtype):
    g = gc.Graph()
    y = g.input("y", ("B",), dtype=dtype)
    assert y.dtype == dtype
    v = np.array([0, 1, 1], dtype=dtype)
    np.testing.assert_array_equal(_run(y * 1, {y: v}), v * 1)
    assert (y * 1).dtype == (v * 1).dtype  # python ints are weak too


def test_integer_arithmetic_follows_numpy():
    g = gc.Graph()
    i = g.input("i", (3,), dtype=np.int32)
    j = g.input("j", (3,), dtype=np.int64)
    vi, vj = np.array([1, 2, 3], np.int32), np.array([4, 5, 6], np.int64)
    for t, want in [(i + j, vi + vj), (i / j, vi / vj), (i * 0.5, vi * 0.5), (i + 1, vi + 1),
                    (i.sum(), vi.sum()), (i.mean(), vi.mean()), (i < j, vi < vj)]:
        assert t.dtype == want.dtype, (t, want.dtype)
        np.testing.assert_array_equal(_run(t, {i: vi, j: vj}), want)


@pytest.mark.parametrize("dtype", [str, "U3", object, complex, np.complex64, "datetime64[s]",
                                   "V4"])
def test_unusable_dtypes_are_a_type_error(dtype):
    g = gc.Graph()
    with pytest.raises(TypeError, match="'x'"):
        g.input("x", (3,), dtype=dtype)
    with pytest.raises(TypeError):
        g.param("p", np.zeros(3, dtype=dtype) if np.dtype(dtype).kind != "V"
                else np.zeros(3, "V4"), trainable=False)


def test_unusable_values_are_a_type_error():
    g = gc.Graph()
    x = g.input("x", (3,))
    for bad in ("abc", object(), 1j, np.array(["a", "b", "c"]), np.array([1j, 2, 3]),
                [object()] * 3):
        with pytest.raises(TypeError):
            x + bad
    with pytest.raises(TypeError):
        g.constant("abc")
    with pytest.raises(TypeError):
        g.constant(x)
    with pytest.raises(TypeError):
        g.input("y", (3,), dtype="not a dtype")


def test_where_needs_a_bool_condition():
    g = gc.Graph()
    x = g.input("x", (3,))
    with pytest.raises(TypeError, match="bool"):
        gc.where(x, x, 0.0)


def test_take_along_axis_needs_integer_indices():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    i = g.input("i", ("B", 1))
    with pytest.raises(TypeError, match="integer"):
        gc.take_along_axis(x, i, axis=1)


def test_astype():
    g = gc.Graph()
    x = g.input("x", (3,))
    assert x.astype(np.float32).dtype == np.float32
    assert gc.astype(x, "int32").dtype == np.int32
    with pytest.raises(TypeError):
        x.astype(object)
    v = np.array([0.5, 1.5, -2.7])
    np.testing.assert_array_equal(_run(gc.astype(x, np.int64), {x: v}), v.astype(np.int64))
