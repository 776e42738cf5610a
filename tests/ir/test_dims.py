"""Dims and shapes: gc.Shape, the dim rules, numpy broadcasting with symbols (property tests)."""

import pickle

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import graphc as gc
from graphc.ir.dims import (
    broadcast_dims,
    broadcast_shapes,
    check_dim,
    definitely_equal,
    normalize_axes,
    normalize_axis,
    numel,
)

# ------------------------------------------------------------------------------- Shape


def test_shape_equals_plain_tuples_and_prints_like_one():
    s = gc.Shape(("B", 16))
    assert s == ("B", 16)
    assert ("B", 16) == s
    assert s != ("B", 15)
    assert s != ("C", 16)
    assert hash(s) == hash(("B", 16))
    assert str(s) == "(B, 16)"
    assert repr(s) == "(B, 16)"
    assert str(gc.Shape((4,))) == "(4,)"
    assert str(gc.Shape(())) == "()"
    assert str(gc.Shape(("B", 1, "T"))) == "(B, 1, T)"


def test_tensor_shape_is_a_shape():
    g = gc.Graph()
    x = g.input("x", ("B", 16))
    assert isinstance(x.shape, gc.Shape)
    assert x.shape == ("B", 16)
    assert str(x.shape) == "(B, 16)"
    assert x.ndim == 2


def test_shape_accepts_numpy_ints_and_single_dims():
    assert gc.Shape((np.int64(3), np.int32(4))) == (3, 4)
    assert type(gc.Shape((np.int64(3),))[0]) is int
    assert gc.Shape(5) == (5,)
    assert gc.Shape("B") == ("B",)


def test_shape_slicing_and_concatenation_keep_the_type():
    s = gc.Shape(("B", 3, 4))
    assert isinstance(s[1:], gc.Shape) and s[1:] == (3, 4)
    assert s[0] == "B"
    assert isinstance(s + (5,), gc.Shape) and s + (5,) == ("B", 3, 4, 5)
    assert isinstance((1,) + s, gc.Shape) and (1,) + s == (1, "B", 3, 4)


def test_shape_symbols_bind_and_pickle():
    s = gc.Shape(("B", 3, "T", "B"))
    assert s.symbols == ("B", "T")
    assert not s.is_concrete and gc.Shape((3, 4)).is_concrete
    assert s.bind({"B": 2, "T": 7}) == (2, 3, 7, 2)
    assert pickle.loads(pickle.dumps(s)) == s


@pytest.mark.parametrize("bad", [-1, True, False, 1.5, "B C", "", "3x", "Bé", None, (2,)])
def test_check_dim_rejects_what_is_not_a_dim(bad):
    with pytest.raises(gc.ShapeError) as ei:
        check_dim(bad)
    assert repr(bad) in str(ei.value) or str(bad) in str(ei.value)


@pytest.mark.parametrize("bad", [(3, -2), ("B", 1.0), ("batch size",), (True, 3)])
def test_shape_rejects_bad_dims(bad):
    with pytest.raises(gc.ShapeError):
        gc.Shape(bad)


def test_input_rejects_bad_dims():
    g = gc.Graph()
    with pytest.raises(gc.ShapeError, match="negative"):
        g.input("x", (3, -1))
    with pytest.raises(gc.ShapeError, match="dim expression 'B; import os': unexpected"):
        g.input("y", ("B; import os", 3))


@pytest.mark.parametrize("good", [0, 1, 7, np.int64(3), "B", "seq_len", "_n"])
def test_check_dim_accepts_ints_and_identifiers(good):
    assert check_dim(good) == good


# ------------------------------------------------------------------------------ dim rules


def test_definitely_equal_never_confuses_symbols_and_ints():
    assert definitely_equal("B", "B")
    assert definitely_equal(3, 3)
    assert not definitely_equal("B", "T")
    assert not definitely_equal("B", 3)
    assert not definitely_equal(1, "B")


@pytest.mark.parametrize("a, b, out", [
    (1, "B", "B"), ("B", 1, "B"), ("B", "B", "B"), (1, 4, 4), (4, 1, 4), (4, 4, 4), (1, 1, 1),
    (0, 1, 0), (1, 0, 0),
])
def test_broadcast_dims_rule(a, b, out):
    assert broadcast_dims(a, b) == out


@pytest.mark.parametrize("a, b", [("B", 4), (4, "B"), ("B", "T"), (3, 4), (0, 2)])
def test_broadcast_dims_refuses_what_cannot_be_proven(a, b):
    with pytest.raises(gc.ShapeError):
        broadcast_dims(a, b)


@pytest.mark.parametrize("shapes, out", [
    ([("B", 1), ("B",)], ("B", "B")),  # legal (the lint warns about it), numpy would agree
    ([("B", 1, 4), (3, 1)], ("B", 3, 4)),
    ([(), ("B", 4)], ("B", 4)),
    ([("B", 16), (16,)], ("B", 16)),
    ([(1, "T"), ("B", 1)], ("B", "T")),
    ([("B", 1, 1), (1, 5, 1), (1, 1, 6)], ("B", 5, 6)),
    ([], ()),
])
def test_broadcast_shapes_examples(shapes, out):
    r = broadcast_shapes(*shapes)
    assert isinstance(r, gc.Shape)
    assert r == out


def test_broadcast_shapes_error_names_both_shapes_and_the_axis():
    with pytest.raises(gc.ShapeError) as ei:
        broadcast_shapes(("B", 3), (4, 3))
    msg = str(ei.value)
    assert "(B, 3)" in msg and "(4, 3)" in msg and "axis -2" in msg


# --------------------------------------------------------------------- property tests

concrete_dim = st.sampled_from([0, 1, 1, 2, 3, 4])
concrete_shape = st.lists(concrete_dim, max_size=4).map(tuple)


def _numpy_broadcast(*shapes):
    try:
        return np.broadcast_shapes(*shapes), None
    except ValueError as e:
        return None, e


@given(st.lists(concrete_shape, min_size=1, max_size=4))
def test_broadcast_without_symbols_is_numpys(shapes):
    want, err = _numpy_broadcast(*shapes)
    if err is not None:
        with pytest.raises(gc.ShapeError):
            broadcast_shapes(*shapes)
    else:
        assert broadcast_shapes(*shapes) == want


symbolic_dim = st.sampled_from([1, 1, 2, 3, "B", "B", "T"])
symbolic_shape = st.lists(symbolic_dim, max_size=4).map(tuple)


@given(st.lists(symbolic_shape, min_size=1, max_size=3),
       st.integers(2, 5), st.integers(2, 5))
def test_broadcast_with_symbols_agrees_with_numpy_after_substitution(shapes, b, t):
    """Where graphc accepts, numpy agrees for every binding with B, T >= 2; where graphc refuses,
    some such binding makes numpy refuse (or give a different shape)."""
    binding = {"B": b, "T": t}
    concrete = [tuple(binding.get(d, d) for d in s) for s in shapes]
    try:
        got = broadcast_shapes(*shapes)
    except gc.ShapeError:
        # refused: there is a binding (B, T >= 2, B != T, neither equal to an int dim) at which
        # numpy refuses as well
        fresh = {"B": 7, "T": 11}
        want, err = _numpy_broadcast(*[tuple(fresh.get(d, d) for d in s) for s in shapes])
        assert err is not None, f"graphc refused {shapes}, numpy gives {want} at {fresh}"
        return
    want, err = _numpy_broadcast(*concrete)
    assert err is None, f"graphc accepted {shapes} -> {got}, numpy refuses at {binding}"
    assert got.bind(binding) == want


@given(st.lists(symbolic_shape, min_size=2, max_size=3))
def test_broadcast_is_order_independent(shapes):
    try:
        a = broadcast_shapes(*shapes)
    except gc.ShapeError:
        with pytest.raises(gc.ShapeError):
            broadcast_shapes(*reversed(shapes))
        return
    assert broadcast_shapes(*reversed(shapes)) == a


# --------------------------------------------------------------------------------- axes


def test_normalize_axis_follows_numpy():
    assert normalize_axis(-1, 3) == 2
    assert normalize_axis(0, 3) == 0
    assert normalize_axis(np.int64(-3), 3) == 0
    for bad in (3, -4):
        with pytest.raises(gc.ShapeError, match="out of range"):
            normalize_axis(bad, 3)
    for bad in (1.0, True, "0"):
        with pytest.raises(gc.ShapeError, match="not an int"):
            normalize_axis(bad, 3)


def test_normalize_axes_sorts_and_refuses_repeats():
    assert normalize_axes(None, 3) == (0, 1, 2)
    assert normalize_axes((-1, 0), 3) == (0, 2)
    assert normalize_axes([1], 3) == (1,)
    assert normalize_axes((), 3) == ()
    with pytest.raises(gc.ShapeError, match="repeats"):
        normalize_axes((0, -3), 3)


# -------------------------------------------------------------------------------- numel


@pytest.mark.parametrize("have, known, q", [
    (("B", 3, 4), (3,), "4*B"),
    (("B", 3, 4), ("B", 3), 4),
    (("B", 3, 4), (12,), "B"),
    (("B", "T"), ("T",), "B"),
    ((3, 4), (5,), None),
    (("B", 4), (4, "T"), None),
    (("B", 4), (8,), None),
    ((3, 4), (), 12),
])
def test_numel_divides_exactly_or_not_at_all(have, known, q):
    from graphc.ops.shape import _divide

    assert _divide(numel(gc.Shape(have)), numel(gc.Shape(known))) == q


def test_numel_equality_is_symbolic():
    assert numel(gc.Shape(("B", 3, 4))) == numel(gc.Shape((12, "B")))
    assert numel(gc.Shape(("B", "T"))) == numel(gc.Shape(("T", "B")))
    assert numel(gc.Shape(("B", 4))) != numel(gc.Shape(("T", 4)))
    assert numel(gc.Shape(("B", 4))) != numel(gc.Shape((4,)))
