"""gc.Dim: integer expressions over symbols in one canonical form, and their parser.

The yardstick is Python's own int arithmetic: every expression, built by operators or parsed
from text, evaluates like the same text under ``eval`` with ints bound to its symbols (the
test's oracle; graphc itself never evaluates text), and its canonical text parses back to it.
"""

import itertools
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import graphc as gc
from graphc.ir.dims import (
    MAX_TERMS,
    Dim,
    parse_dim,
    window_out_size,
)

B, T, S = Dim("B"), Dim("T"), Dim("S")


# ------------------------------------------------------------------- canonical form


@pytest.mark.parametrize("expr, text", [
    (B * T, "B*T"),
    (T * B, "B*T"),
    (T - 1, "T - 1"),
    (1 - T, "-T + 1"),
    (T + T, "2*T"),
    (2 * T - T, "T"),
    (B * T * T, "B*T*T"),
    ((T + 1) * (T - 1), "T*T - 1"),
    (T // 2, "T//2"),
    ((2 * T + 3) // 2, "T + 1"),
    ((T - 3) // 2 + 1, "(T + 1)//2 - 1"),
    ((T + 2 * 1 - 3) // 2 + 1, "(T + 1)//2"),
    ((2 * T + 2) // 4, "(T + 1)//2"),
    ((T // 2) // 3, "T//6"),
    (T % 2, "T - 2*(T//2)"),
    (-(T // 2), "-(T//2)"),
    (B * ((T + 1) // 2), "B*((T + 1)//2)"),
    ((B * T) // 2, "(B*T)//2"),
])
def test_canonical_text(expr, text):
    assert str(expr) == text
    assert repr(expr) == text
    assert parse_dim(text) == expr


def test_equal_expressions_compare_and_hash_equal():
    pairs = [(B * T, T * B), ((T - 3) // 2 + 1, (T + 1) // 2 - 1), (T % 2, T - 2 * (T // 2)),
             (Dim("T + T"), 2 * T), (Dim("(B + T)*(B - T)"), B * B - T * T)]
    for a, b in pairs:
        assert a == b and hash(a) == hash(b)
        assert len({a, b}) == 1
    assert B * T != B * S and T - 1 != T - 2


def test_a_dim_equals_its_text_and_is_found_by_it():
    assert B * T == "B*T" and B * T == "T*B"  # any text that parses to it
    assert hash(B * T) == hash("B*T")  # the canonical text: dict lookups work both ways
    assert {"B*T": 1}[B * T] == 1 and {B * T: 2}["B*T"] == 2
    assert (B * T != "B*S") and not (T == "T +")  # unparsable text is simply unequal
    assert gc.Shape(("B*T", 4)) == (B * T, 4) == ("B*T", 4)


def test_constant_expressions_are_ints():
    for v in (T - T, (T + 2) - T, T * 0, (2 * T) % 2, Dim("3*4 - 2")):
        assert type(v) is int
    assert Dim("3*4 - 2") == 10


def test_arithmetic_with_numpy_ints_and_refusals():
    assert T + np.int64(2) == T + 2 and np.int32(3) * T == 3 * T
    with pytest.raises(gc.ShapeError, match="positive int"):
        T // 0
    with pytest.raises(gc.ShapeError, match="positive int"):
        T // -2
    with pytest.raises(gc.ShapeError, match="positive int"):
        T % B
    with pytest.raises(gc.ShapeError, match="positive int"):
        6 // T
    assert (B * T) // T == B  # exact division by a dim is allowed
    with pytest.raises(gc.ShapeError, match="exactly"):
        (B + 1) // T
    with pytest.raises(TypeError, match="cannot order"):
        T < 3  # noqa: B015
    with pytest.raises(TypeError):
        range(T)
    with pytest.raises(TypeError):
        np.zeros((T, 2))
    with pytest.raises(TypeError):  # no float arithmetic
        T + 1.5


def test_queries():
    e = (B * T - 1) // 2 + S
    assert e.symbols == ("B", "S", "T")
    assert T.name == "T" and (T - 1).name is None and (2 * T).name is None
    assert (T - 1).constant == -1 and (B * T).constant == 0
    assert (T - 1).linear_in("T") == (1, -1)
    assert (2 * T + B).linear_in("T") == (2, B)
    assert (T * T).linear_in("T") is None and (B * T).linear_in("T") is None
    assert (B * T + T // 2).is_nonnegative() and not (T - 1).is_nonnegative()
    assert e.evaluate({"B": 3, "T": 5, "S": 2}) == (15 - 1) // 2 + 2
    assert (B * T).divide_exact(T) == B and (4 * B * T).divide_exact(2 * T) == 2 * B
    assert (B * T + 1).divide_exact(T) is None and (3 * B).divide_exact(2) is None


def test_pickle_and_code_rendering():
    e = (T - 3) // 2 + B * T
    assert pickle.loads(pickle.dumps(e)) == e
    assert pickle.loads(pickle.dumps(gc.Shape((e, 4)))) == (e, 4)
    code = e.render(lambda s: {"B": "s0", "T": "s1"}[s])
    assert eval(code, {"s0": 3, "s1": 8}) == e.evaluate({"B": 3, "T": 8})  # the oracle


# ------------------------------------------------------------- against Python's ints

SYMS = ("A", "B", "T")


@st.composite
def expr_text(draw, depth=4):
    if depth == 0 or draw(st.integers(0, 9)) < 3:
        return draw(st.sampled_from(SYMS + ("0", "1", "2", "3", "7", "12")))
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "neg"]))
    a = draw(expr_text(depth=depth - 1))
    if op == "neg":
        return f"-({a})"
    b = (str(draw(st.integers(1, 9))) if op in ("//", "%")
         else draw(expr_text(depth=depth - 1)))
    return f"({a} {op} {b})"


@settings(max_examples=400, deadline=None)
@given(expr_text(), st.lists(st.integers(0, 40), min_size=3, max_size=3))
def test_parsed_expressions_evaluate_like_python_ints(text, values):
    try:
        d = parse_dim(text)
    except gc.ShapeError as e:
        assert "too complex" in str(e)  # the only refusal for these well-formed texts
        return
    binding = dict(zip(SYMS, values))
    want = eval(text, {}, dict(binding))  # the oracle, on the test's own text
    got = d.evaluate(binding) if isinstance(d, Dim) else d
    assert got == want
    if isinstance(d, Dim):
        again = parse_dim(str(d))
        assert again == d and str(again) == str(d)


@settings(max_examples=200, deadline=None)
@given(expr_text(depth=3), expr_text(depth=3), st.lists(st.integers(0, 30), min_size=3,
                                                          max_size=3))
def test_operators_agree_with_the_parser(a, b, values):
    try:
        da, db = parse_dim(a), parse_dim(b)
        both = [(da + db, f"({a}) + ({b})"), (da - db, f"({a}) - ({b})"),
                (da * db, f"({a}) * ({b})"), (da // 3, f"({a}) // 3"), (da % 4, f"({a}) % 4")]
    except gc.ShapeError:
        return
    binding = dict(zip(SYMS, values))
    for d, text in both:
        assert d == parse_dim(text)
        assert (d.evaluate(binding) if isinstance(d, Dim) else d) == eval(text, {}, binding)


# ------------------------------------------------------------------------ the parser


@pytest.mark.parametrize("text, why", [
    ("", "empty"),
    ("   ", "empty"),
    ("T +", "ends too early"),
    ("(T", "ends too early"),
    ("T)", "unexpected '\\)'"),
    ("T/2", "unexpected"),
    ("T**2", "unexpected '\\*'"),
    ("T//B", "positive int"),
    ("T//0", "positive int"),
    ("T % (2 - 3)", "positive int"),
    ("eval(1)", "unexpected"),
    ("__import__('os').system('x')", "unexpected"),
    ("T; import os", "unexpected"),
    ("B\nimport os", "unexpected"),
    ("Bé", "unexpected"),
    ("1.5", "unexpected"),
    ("T[0]", "unexpected"),
    ("1" * 40, "too large"),
    ("(" * 60 + "T" + ")" * 60, "nested deeper"),
    ("-" * 60 + "T", "nested deeper"),
    ("x" * 20000, "longer than"),
    ("(a+b+c+d+e)*(a+b+c+d+e)*(a+b+c+d+e)*(a+b+c+d+e)", "too complex"),
    ("T*T*T*T*T*T*T*T*T", "degree"),
])
def test_the_parser_refuses_with_a_value_error(text, why):
    with pytest.raises(ValueError, match=why):  # a ShapeError is a ValueError
        parse_dim(text)
    with pytest.raises(gc.ShapeError):
        gc.Shape((text,))


def test_limits_bound_the_work():
    # the product of two sums at the term limit is refused, not expanded without end
    big = parse_dim(" + ".join(f"x{i}" for i in range(MAX_TERMS)))
    with pytest.raises(gc.ShapeError, match="too complex"):
        big * big


def test_shapes_hold_ints_dims_names_and_expression_strings():
    s = gc.Shape(("B", T - 1, "B*T", 4, "(T + 1)//2"))
    assert s == (B, T - 1, B * T, 4, (T + 1) // 2)
    assert str(s) == "(B, T - 1, B*T, 4, (T + 1)//2)"
    assert s.symbols == ("B", "T")
    assert s.bind({"B": 2, "T": 5}) == (2, 4, 10, 4, 3)
    assert s.plain == ("B", "T - 1", "B*T", 4, "(T + 1)//2")
    assert gc.Shape(("3*4",)) == (12,)
    with pytest.raises(gc.ShapeError, match="negative"):
        gc.Shape(("2 - 5",))


# ------------------------------------------------------------ conv and pooling sizes


def _torch_pool_size(n, k, s, p, d, ceil):
    """torch's rule (aten pooling_output_shape), written out independently."""
    num = n + 2 * p - d * (k - 1) - 1 + ((s - 1) if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def test_window_sizes_match_torch_for_every_small_case():
    checked = 0
    for k, s, d, ceil in itertools.product(range(1, 6), range(1, 4), range(1, 3), (0, 1)):
        for p in range(0, k // 2 + 1):
            sym, needs = window_out_size(T, k, s, p, p, d, bool(ceil))
            for n in range(0, 20):
                room = n + 2 * p - d * (k - 1) - 1
                # ceil mode keeps one window hanging off the end by less than the stride
                fits = room >= 1 - s and n + p >= 1 if ceil else room >= 0
                assert all(c.holds({"T": n}) for c in needs) == fits
                if not fits:
                    with pytest.raises(gc.ShapeError, match="needs the padded size"):
                        window_out_size(n, k, s, p, p, d, bool(ceil))
                    continue
                want = _torch_pool_size(n, k, s, p, d, ceil)
                got = sym.evaluate({"T": n}) if isinstance(sym, Dim) else sym
                assert got == want == window_out_size(n, k, s, p, p, d, bool(ceil))[0], (
                    n, k, s, p, d, ceil, sym)
                checked += 1
    assert checked > 2000


def test_window_sizes_agree_with_torch_itself():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for n, k, s, p, ceil in itertools.product(range(3, 12), (2, 3), (1, 2, 3), (0, 1),
                                              (False, True)):
        if p > k // 2:
            continue
        want = F.max_pool1d(torch.zeros(1, 1, n), k, s, p, ceil_mode=ceil).shape[-1]
        sym, _ = window_out_size(T, k, s, p, p, 1, ceil)
        assert (sym.evaluate({"T": n}) if isinstance(sym, Dim) else sym) == want
        conv = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p)
        sym, _ = window_out_size(T, k, s, p, p)
        assert sym.evaluate({"T": n}) == conv.shape[-1]
