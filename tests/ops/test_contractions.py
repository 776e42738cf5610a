"""The contractions gc.einsum, gc.tensordot, gc.dot, gc.inner, gc.outer and gc.kron.

Checked here: numpy's results through ``gc.compile`` and ``gc.evaluate`` (equal bit for bit:
both take the same lowering) with every symbol bound to several sizes through ONE compiled
Function; torch's values and gradients; ``gc.check_grad`` to second order; the canonical
subscripts; the lowering choices (a batched matmul for two float operands that contract an
index, else numpy's einsum with ``optimize`` decided by the size); dtypes; save/load; the
build errors (no node left behind).

Chosen semantics checked here: as numpy, an einsum index of size 1 broadcasts against the
other operands (a symbolic size matches only the same expression or 1); within one operand
a repeated index needs equal sizes; tensordot/dot/inner never broadcast a contracted axis.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import graphc as gc
from graphc.io import dumps, loads
from graphc.ops import linalg

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

#: the sizes each symbol is bound to (every combination, through one compiled Function)
SIZES = (1, 2, 5)


def bindings(*shapes) -> list[dict[str, int]]:
    syms = list(dict.fromkeys(s for shape in shapes for s in gc.Shape(shape).symbols))
    return [dict(zip(syms, vs)) for vs in itertools.product(SIZES, repeat=len(syms))]


def concrete(shape, binding) -> tuple[int, ...]:
    return gc.Shape(shape).bind(binding)


def draw(rng, shape, dtype=np.float64):
    dtype = np.dtype(dtype)
    if dtype.kind == "b":
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(0 if dtype.kind == "u" else -3, 4, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def run_everywhere(build, ref, shapes, dtype=np.float64, tol=1e-12):
    """``build(*inputs)`` compiled once, against ``ref(*arrays)`` (numpy) at every binding;
    evaluate == compile exactly."""
    rng = np.random.default_rng(0)
    g = gc.Graph("contraction")
    xs = [g.input(f"x{k}", s, dtype=dtype) for k, s in enumerate(shapes)]
    y = build(*xs)
    f = gc.compile(y, inputs=xs)
    for b in bindings(*shapes):
        arrays = [draw(rng, concrete(s, b), dtype) for s in shapes]
        want = np.asarray(ref(*arrays))
        assert y.shape.bind(b) == want.shape, (b, y.shape)
        assert y.dtype == want.dtype
        ev = gc.evaluate(y, dict(zip(xs, arrays)))
        got = np.asarray(f(*arrays))
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(ev, want, rtol=tol, atol=tol, err_msg=str(b))
        np.testing.assert_array_equal(got, ev, err_msg=f"compile != evaluate at {b}")
    return y


# ------------------------------------------------------------------------------ einsum

EINSUM = [
    ("ij,jk->ik", [("B", 3), (3, 4)]),
    ("ij,jk", [(3, "B"), ("B", 2)]),
    ("btd,de->bte", [("B", "T", 4), (4, 5)]),
    ("bij,bjk->bik", [("B", 2, 3), ("B", 3, 4)]),
    ("bhtd,bhsd->bhts", [("B", 2, "T", 4), ("B", 2, "S", 4)]),
    ("bhts,bhsd->bhtd", [("B", 2, "T", "S"), ("B", 2, "S", 3)]),
    ("ij,kj->ik", [("B", 3), ("T", 3)]),
    ("ji,jk->ki", [("T", "B"), ("T", 4)]),
    ("tb,db->dt", [("T", "B"), (3, "B")]),  # the output wants a transpose
    ("ij,jk,kl->il", [("B", 3), (3, 4), (4, "T")]),
    ("ab,bc,cd,de->ae", [(2, "B"), ("B", 3), (3, "T"), ("T", 2)]),
    ("ij,j,j->i", [("B", 3), (3,), (3,)]),
    ("i,j->ij", [("B",), ("T",)]),
    ("i,j,k->ijk", [("B",), (2,), ("T",)]),
    ("ij->", [("B", "T")]),
    ("ij->j", [("B", 3)]),
    ("ij->ji", [("B", "T")]),
    ("ijk->kij", [("B", 2, "T")]),
    ("ii->i", [(3, 3)]),
    ("ii", [("B", "B")]),
    ("bii->bi", [("T", "B", "B")]),
    ("iij->j", [(2, 2, "B")]),
    ("iji->j", [("B", 3, "B")]),
    ("iii->i", [("B", "B", "B")]),
    ("ij,jj->ij", [("B", 3), (3, 3)]),
    ("ii,jj->ij", [("B", "B"), ("T", "T")]),
    ("ij,ij->", [("B", 3), ("B", 3)]),
    ("ij,ij->ij", [("B", 3), (1, 3)]),
    ("ij,ij->i", [("B", "T"), ("B", "T")]),
    ("ij,jk->ik", [(2, 1), (3, "B")]),  # j of size 1 broadcasts (numpy does)
    ("ij,jk->ik", [("B", 3), (1, 4)]),
    ("ij,jk->ik", [("B", 1), (1, 4)]),
    ("ijk,jl->ikl", [(2, "B", 4), (1, 5)]),
    ("bij,bjk->bik", [(1, 2, 3), ("B", 3, 4)]),  # a batch index broadcast
    ("ii,i->i", [(1, 1), ("B",)]),
    ("ij,jk->k", [("B", 3), (3, "T")]),  # i summed in operand 0 only
    ("ij,k->ik", [("B", 3), ("T",)]),
    ("ij,kl->", [("B", 3), (2, "T")]),
    ("...ij,...jk->...ik", [("B", 2, 3), (3, 4)]),
    ("...ij,...jk->...ik", [("B", 1, 2, 3), ("T", 3, 4)]),
    ("...ii->...i", [("B", 3, 3)]),
    ("i...i", [(3, "B", 3)]),
    ("ij...,j...->...i", [(2, 3, "B"), (3, 1)]),
    ("ba...", [(2, 3, "B")]),
    ("...", [("B", 3)]),
    ("...->...", [("B", 3)]),
    ("i...->", [("B",)]),
    ("ij->...", [("B", 3)]),
    ("bA,Cb", [("B", 3), (4, "B")]),
    ("Ab,bc->cA", [(2, "B"), ("B", 3)]),
    (" i j , j k -> i k ", [(2, "B"), ("B", 3)]),
    (",i->i", [(), ("B",)]),
    (",->", [(), ()]),
    ("->", [()]),
    ("i,i", [("B",), ("B",)]),
    ("i", [("B",)]),
    ("ij,jk->ik", [("B", 0), (0, 3)]),  # an empty contraction: zeros
]


@pytest.mark.parametrize("sub,shapes", EINSUM, ids=[f"{s}|{shp}" for s, shp in EINSUM])
def test_einsum_matches_numpy_at_every_binding(sub, shapes):
    run_everywhere(lambda *xs: gc.einsum(sub, *xs), lambda *a: np.einsum(sub, *a), shapes)


@pytest.mark.parametrize("sub,shapes", EINSUM[:12], ids=[s for s, _ in EINSUM[:12]])
def test_einsum_float32(sub, shapes):
    run_everywhere(lambda *xs: gc.einsum(sub, *xs),
                   lambda *a: np.einsum(sub, *a).astype(np.float32), shapes, np.float32, 1e-4)


SUBLISTS = [  # (sublist of a, a's shape, sublist of b or None, b's shape, output or None)
    ([0, 1], ("B", 3), [1, 2], (3, 4), [0, 2]),
    ([0, 1], ("B", 3), [1, 27], (3, 4), None),  # implicit: 0 is 'A', 27 is 'b'
    ([Ellipsis, 0, 1], ("B", 2, 3), [1, 2], (3, 4), [Ellipsis, 0, 2]),
    ([3, 3], ("B", "B"), None, None, []),
    ([np.int64(5), 2], (2, "B"), [2], ("B",), None),
]


@pytest.mark.parametrize("case", SUBLISTS, ids=[repr(c[::2]) for c in SUBLISTS])
def test_einsum_sublist_form_matches_numpy(case):
    a_sub, a_shape, b_sub, b_shape, out = case
    shapes = [a_shape] if b_sub is None else [a_shape, b_shape]

    def args(ops):
        pairs = [ops[0], a_sub] + ([] if b_sub is None else [ops[1], b_sub])
        return pairs + ([] if out is None else [out])

    run_everywhere(lambda *xs: gc.einsum(*args(xs)), lambda *a: np.einsum(*args(a)), shapes)


CANONICAL = [
    ("ij,jk", [2, 2], "ab,bc->ac"),
    ("ij,jk->ik", [2, 2], "ab,bc->ac"),
    ("xy,yz->xz", [2, 2], "ab,bc->ac"),
    ("ab,bc->ac", [2, 2], "ab,bc->ac"),
    ("ba", [2], "ab->ba"),
    ("ii", [2], "aa->"),
    ("ii->i", [2], "aa->a"),
    ("bA,Cb", [2, 2], "ab,ca->bc"),  # implicit order: uppercase sorts first, as numpy
    (" i j , j k -> i k ", [2, 2], "ab,bc->ac"),
    ("...ij,...jk->...ik", [3, 2], "abc,cd->abd"),
    ("...ij,...jk", [4, 3], "abcd,bde->abce"),
    ("ba...", [3], "abc->cba"),
    ("...", [0], "->"),
    (",i->i", [0, 1], ",a->a"),
    ("i...->", [1], "a->"),
    ("i...->i", [1], "a->a"),
]


@pytest.mark.parametrize("sub,ranks,canon", CANONICAL)
def test_canonical_subscripts(sub, ranks, canon):
    assert linalg.parse_subscripts(sub, ranks) == canon
    assert linalg.parse_subscripts(canon, ranks) == canon  # idempotent
    g = gc.Graph()
    xs = [g.input(f"x{k}", (2,) * r) for k, r in enumerate(ranks)]
    assert gc.einsum(sub, *xs).node.attr == {"subscripts": canon}


def test_equal_einsums_written_differently_have_equal_attributes():
    g = gc.Graph()
    x, w = g.input("x", ("B", 3)), g.input("w", (3, 4))
    a, b = gc.einsum("ij,jk->ik", x, w), gc.einsum("bd,de", x, w)
    assert a.node.attr == b.node.attr


def _torch_grads(torch, sub_or_fn, arrays, weights):
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    y = sub_or_fn(*ts)
    (y * torch.tensor(weights)).sum().backward()
    return y.detach().numpy(), [t.grad.numpy() for t in ts]


def _graphc_grads(build, shapes, arrays, weights):
    g = gc.Graph()
    xs = [g.input(f"x{k}", s) for k, s in enumerate(shapes)]
    w = g.input("w", build(*xs).shape)
    y = build(*xs)
    grads = gc.grad(gc.sum(y * w), xs)
    f = gc.compile([y, *grads], inputs=[*xs, w])
    out = f(*arrays, weights)
    return out[0], out[1:]


@pytest.mark.parametrize("sub,shapes", EINSUM, ids=[f"{s}|{shp}" for s, shp in EINSUM])
def test_einsum_matches_torch_values_and_gradients(sub, shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for b in ({s: 3 for s in "BTS"}, {s: 1 for s in "BTS"}):
        arrays = [draw(rng, concrete(s, b)) for s in shapes]
        want_y, want_g = _torch_grads(torch, lambda *t: torch.einsum(sub.replace(" ", ""), *t),
                                      arrays, rng.standard_normal(np.einsum(sub, *arrays).shape))
        weights = rng.standard_normal(want_y.shape)
        want_y, want_g = _torch_grads(torch, lambda *t: torch.einsum(sub.replace(" ", ""), *t),
                                      arrays, weights)
        got_y, got_g = _graphc_grads(lambda *xs: gc.einsum(sub, *xs), shapes, arrays, weights)
        np.testing.assert_allclose(got_y, want_y, rtol=1e-12, atol=1e-12)
        for k, (u, v) in enumerate(zip(got_g, want_g)):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12, err_msg=f"d/dx{k} {b}")


GRAD_SYMBOLIC = [
    ("btd,de->bte", [("B", "T", 3), (3, 2)]),
    ("ii", [("B", "B")]),
    ("bii->bi", [("T", "B", "B")]),
    ("ij,jk->ik", [(2, 1), (3, "B")]),
    ("ij,jk,kl->il", [("B", 3), (3, "T"), ("T", 2)]),
    ("...ij,...jk->...ik", [("B", 2, 3), (3, "T")]),
    ("ij,k->ik", [("B", 3), ("T",)]),
]


@pytest.mark.parametrize("sub,shapes", GRAD_SYMBOLIC, ids=[s for s, _ in GRAD_SYMBOLIC])
def test_einsum_check_grad_second_order_at_several_sizes(sub, shapes):
    g = gc.Graph()
    xs = [g.input(f"x{k}", s) for k, s in enumerate(shapes)]
    y = gc.einsum(sub, *xs)
    rng = np.random.default_rng(2)
    for b in bindings(*shapes):
        feed = {x: draw(rng, concrete(s, b)) for x, s in zip(xs, shapes)}
        report = gc.check_grad(y, xs, feed, order=2, rtol=1e-6)
        assert report.worst <= 1.0


def test_einsum_gradient_of_a_gradient_is_einsum_built():
    """Gradients are graphs of graphc ops: the gradient of a trace holds an identity of the
    symbolic size, built per binding (never a constant of one size)."""
    g = gc.Graph()
    x = g.input("x", ("B", "B"))
    (dx,) = gc.grad(gc.einsum("ii", x), [x])
    f = gc.compile(dx, inputs=[x])
    for n in (1, 2, 5):
        np.testing.assert_array_equal(f(np.zeros((n, n))), np.eye(n))
    (dx2,) = gc.grad(gc.sum(dx * x), [x])  # d/dx trace(x) again: the identity
    np.testing.assert_array_equal(gc.compile(dx2, inputs=[x])(np.ones((4, 4))), np.eye(4))


def test_attention_written_with_einsum_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    g = gc.Graph("attn")
    q, k, v = (g.input(n, ("B", 2, "T", 4)) for n in "qkv")
    s = gc.einsum("bhtd,bhsd->bhts", q, k) / 2.0
    p = gc.softmax(s, axis=-1)
    o = gc.einsum("bhts,bhsd->bhtd", p, v)
    w = g.input("w", o.shape)
    loss = gc.sum(o * w)
    f = gc.compile([o, *gc.grad(loss, [q, k, v])], inputs=[q, k, v, w])
    rng = np.random.default_rng(3)
    for B, T in [(1, 1), (2, 3), (3, 7)]:
        arrays = [rng.standard_normal((B, 2, T, 4)) for _ in range(3)]
        wv = rng.standard_normal((B, 2, T, 4))
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in arrays)
        to = torch.softmax(torch.einsum("bhtd,bhsd->bhts", tq, tk) / 2.0, -1)
        to = torch.einsum("bhts,bhsd->bhtd", to, tv)
        (to * torch.tensor(wv)).sum().backward()
        got = f(*arrays, wv)
        want = [to.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()]
        for u, t in zip(got, want):
            np.testing.assert_allclose(u, t, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------- tensordot, dot, inner, outer, kron

OTHERS = [  # (op, shapes, kwargs)
    ("tensordot", [("B", 3, 4), (3, 4, 5)], {"axes": 2}),
    ("tensordot", [("B", 3, 4), (3, 4, 5)], {}),  # numpy's default: axes=2
    ("tensordot", [(3, "B"), ("B", 4)], {"axes": 1}),
    ("tensordot", [(3, 4), (4, 3)], {"axes": ([1, 0], [0, 1])}),
    ("tensordot", [("B", 3, 4), (2, 4, 3)], {"axes": ((1, 2), (2, 1))}),
    ("tensordot", [("B", 3, 4), (4, 2)], {"axes": (2, 0)}),  # a pair of single axes
    ("tensordot", [("B", 3, 4), (4, 2)], {"axes": (-1, -2)}),
    ("tensordot", [(2,), ("B",)], {"axes": 0}),
    ("tensordot", [("B", 2), (3, "T")], {"axes": ([], [])}),
    ("tensordot", [("T", "B"), ("T", "B")], {"axes": 2}),
    ("dot", [("B", 3), (3, 4)], {}),
    ("dot", [(3,), (3,)], {}),
    ("dot", [("B",), ("B",)], {}),
    ("dot", [("B", 3, 4), (4,)], {}),
    ("dot", [(4,), (2, 4, "B")], {}),
    ("dot", [(2, "B", 3), ("T", 3, 5)], {}),
    ("dot", [(), ("B", 3)], {}),
    ("dot", [("B",), ()], {}),
    ("dot", [(), ()], {}),
    ("inner", [("B", 3), (4, 3)], {}),
    ("inner", [(3,), (3,)], {}),
    ("inner", [(2, "T", 4), ("B", 4)], {}),
    ("inner", [(), ("B", 2)], {}),
    ("inner", [("B", "T"), ("T",)], {}),
    ("outer", [("B",), (3,)], {}),
    ("outer", [(2, 3), ("B", "T")], {}),
    ("outer", [(), (3,)], {}),
    ("outer", [("B", 2), ()], {}),
    ("kron", [("B", 2), (3, 4)], {}),
    ("kron", [(2,), ("B",)], {}),
    ("kron", [("B", 3), (4,)], {}),
    ("kron", [(2,), (3, "B")], {}),
    ("kron", [(), ("B", 2)], {}),
    ("kron", [(2, 1, "T"), (1, 3, "B")], {}),
    ("kron", [(), ()], {}),
]
_IDS = [f"{op}{shapes}{kw}".replace(" ", "") for op, shapes, kw in OTHERS]


@pytest.mark.parametrize("op,shapes,kw", OTHERS, ids=_IDS)
def test_op_matches_numpy_at_every_binding(op, shapes, kw):
    run_everywhere(lambda a, b: getattr(gc, op)(a, b, **kw),
                   lambda a, b: getattr(np, op)(a, b, **kw), shapes)


def _torch_op(torch, op, kw, a, b):
    if op == "tensordot":
        axes = kw.get("axes", 2)
        if not isinstance(axes, int):
            xa, xb = axes
            xa = [xa] if isinstance(xa, int) else list(xa)
            xb = [xb] if isinstance(xb, int) else list(xb)
            axes = (xa, xb)
        return torch.tensordot(a, b, dims=axes)
    if op == "dot":
        if a.ndim == 0 or b.ndim == 0:
            return a * b
        return torch.tensordot(a, b, dims=([a.ndim - 1], [max(b.ndim - 2, 0)]))
    if op == "outer":
        return torch.outer(a.reshape(-1), b.reshape(-1))
    return getattr(torch, op)(a, b)


@pytest.mark.parametrize("op,shapes,kw", OTHERS, ids=_IDS)
def test_op_matches_torch_values_and_gradients(op, shapes, kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    for b in ({s: 3 for s in "BT"}, {s: 1 for s in "BT"}):
        arrays = [draw(rng, concrete(s, b)) for s in shapes]
        weights = rng.standard_normal(np.shape(getattr(np, op)(*arrays, **kw)))
        want_y, want_g = _torch_grads(torch, lambda x, y: _torch_op(torch, op, kw, x, y),
                                      arrays, weights)
        got_y, got_g = _graphc_grads(lambda x, y: getattr(gc, op)(x, y, **kw), shapes, arrays,
                                     weights)
        np.testing.assert_allclose(got_y, want_y, rtol=1e-12, atol=1e-12)
        for k, (u, v) in enumerate(zip(got_g, want_g)):
            np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12, err_msg=f"d/dx{k} {b}")


@pytest.mark.parametrize("op,shapes,kw", OTHERS[::3], ids=_IDS[::3])
def test_op_check_grad_second_order_at_several_sizes(op, shapes, kw):
    g = gc.Graph()
    xs = [g.input(f"x{k}", s) for k, s in enumerate(shapes)]
    y = getattr(gc, op)(*xs, **kw)
    rng = np.random.default_rng(5)
    for b in bindings(*shapes):
        feed = {x: draw(rng, concrete(s, b)) for x, s in zip(xs, shapes)}
        assert gc.check_grad(y, xs, feed, order=2, rtol=1e-6).worst <= 1.0


def test_tensordot_axes_are_canonical():
    g = gc.Graph()
    a, b = g.input("a", ("B", 3, 4)), g.input("b", (4, 3, 2))
    forms = [((1, 2), (1, 0)), ([2, 1], [0, 1]), ((-1, -2), (0, 1)), (np.array([2, 1]), [0, 1])]
    attrs = {gc.tensordot(a, b, ax).node.attr["axes"] for ax in forms}
    assert attrs == {((1, 2), (1, 0))}
    assert all(type(i) is int for side in attrs.pop() for i in side)
    assert gc.tensordot(a, g.input("c", (3, 4, 5)), 0).node.attr == {"axes": ((), ())}


# ------------------------------------------------------------------------------ dtypes

DTYPES = [np.bool_, np.int8, np.int32, np.int64, np.uint8, np.float32, np.float64]
DTYPE_OPS = [
    ("einsum:ij,jk->ik", lambda a, b: gc.einsum("ij,jk->ik", a, b),
     lambda a, b: np.einsum("ij,jk->ik", a, b)),
    ("einsum:ij,jk,kl", lambda a, b: gc.einsum("ij,jk,kl", a, b, b.T),
     lambda a, b: np.einsum("ij,jk,kl", a, b, b.T)),
    ("tensordot", lambda a, b: gc.tensordot(a, b, 1), lambda a, b: np.tensordot(a, b, 1)),
    ("dot", gc.dot, np.dot),
    ("inner", lambda a, b: gc.inner(a, b.T), lambda a, b: np.inner(a, b.T)),
    ("outer", gc.outer, np.outer),
    ("kron", gc.kron, np.kron),
]


@pytest.mark.parametrize("name,build,ref", DTYPE_OPS, ids=[n for n, _, _ in DTYPE_OPS])
def test_dtypes_are_numpys(name, build, ref):
    rng = np.random.default_rng(6)
    for da, db in itertools.product(DTYPES, repeat=2):
        a, b = draw(rng, (2, 3), da), draw(rng, (3, 2), db)
        want = np.asarray(ref(a, b))
        g = gc.Graph()
        xa, xb = g.input("a", (2, 3), dtype=da), g.input("b", (3, 2), dtype=db)
        y = build(xa, xb)
        assert y.dtype == want.dtype, (da, db)
        got = gc.compile(y, inputs=[xa, xb])(a, b)
        ev = gc.evaluate(y, {xa: a, xb: b})
        assert got.dtype == want.dtype and ev.dtype == want.dtype
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{da} {db}")
        np.testing.assert_array_equal(got, ev)


# ---------------------------------------------------------------------------- lowering


def _source(y, xs) -> str:
    return gc.compile(y, inputs=xs).source


def test_two_float_operands_that_contract_lower_to_one_matmul():
    g = gc.Graph()
    x, w = g.input("x", ("B", "T", 4)), g.input("w", (4, 5))
    for y in (gc.einsum("btd,de->bte", x, w), gc.dot(x, w), gc.tensordot(x, w, 1),
              gc.inner(x, w.T)):
        src = _source(y, [x, w])
        assert "contract_" in src and "xp.einsum" not in src, src


def test_other_contractions_lower_to_numpy_einsum_with_optimize_by_size():
    g = gc.Graph()
    x, w = g.input("x", ("B", 4), dtype=np.int64), g.input("w", (4, 5), dtype=np.int64)
    src = _source(gc.einsum("ij,jk->ik", x, w), [x, w])  # ints: numpy's C loop
    assert "xp.einsum(" in src and "optimize=False" in src
    f = g.input("f", ("B", 4))
    src = _source(gc.einsum("ij,ij->ij", f, f), [f])  # nothing contracted
    assert "optimize=False" in src
    a, b, c = g.input("a", ("B", 8)), g.input("b", (8, 8)), g.input("c", (8, "T"))
    src = _source(gc.einsum("ij,jk,kl->il", a, b, c), [a, b, c])
    assert "optimize=(" in src and f"> {linalg.OPTIMIZE_ABOVE})" in src  # at run time
    big, small = g.input("big", (64, 64)), g.input("small", (4, 4))
    assert "optimize=True" in _source(gc.einsum("ij,jk,kl", big, big, big), [big])
    assert "optimize=False" in _source(gc.einsum("ij,jk,kl", small, small, small), [small])


def test_optimize_threshold_gives_the_same_values_on_both_sides():
    """The run-time choice (numpy's C loop or its optimized path) is the one the reference
    interpreter makes too: evaluate == compile bit for bit below and above the threshold."""
    g = gc.Graph()
    a, b, c = g.input("a", ("N", 16)), g.input("b", (16, 16)), g.input("c", (16, 16))
    y = gc.einsum("ij,jk,kl->il", a, b, c)
    f = gc.compile(y, inputs=[a, b, c])
    rng = np.random.default_rng(7)
    per_row = 16 ** 3
    for n in (1, linalg.OPTIMIZE_ABOVE // per_row, linalg.OPTIMIZE_ABOVE // per_row + 1, 40):
        arrays = [rng.standard_normal(s) for s in ((n, 16), (16, 16), (16, 16))]
        ev = gc.evaluate(y, dict(zip([a, b, c], arrays)))
        np.testing.assert_array_equal(f(*arrays), ev)
        np.testing.assert_allclose(ev, arrays[0] @ arrays[1] @ arrays[2], rtol=1e-12)


PLANS = [  # (subscripts, shapes): contract2 against np.einsum, also into out=
    ("ab,bc->ac", [(3, 4), (4, 5)]),
    ("abc,cd->abd", [(2, 3, 4), (4, 5)]),
    ("ab,cb->ca", [(3, 4), (5, 4)]),  # swapped operands, no transpose
    ("ab,bc->ca", [(3, 4), (4, 5)]),  # swapped
    ("abc,bd->dac", [(2, 3, 4), (3, 5)]),  # an output transpose
    ("abcd,abed->abce", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("abcd,abed->baec", [(2, 3, 4, 5), (2, 3, 6, 5)]),
    ("ab,ab->", [(3, 4), (3, 4)]),
    ("ab,ab->a", [(3, 4), (3, 4)]),
    ("ab,bc->c", [(3, 4), (4, 5)]),  # a summed first
    ("ab,bc->ac", [(3, 1), (4, 5)]),  # a contracted size 1 on one side
    ("ab,bc->ac", [(3, 4), (1, 5)]),
    ("abc,acd->abd", [(1, 3, 4), (2, 4, 5)]),  # a broadcast batch
    ("abc,acd->abd", [(2, 3, 1), (1, 4, 5)]),
    ("ab,bc->ac", [(0, 4), (4, 5)]),
    ("ab,bc->ac", [(3, 0), (0, 5)]),
]


@pytest.mark.parametrize("sub,shapes", PLANS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_contract2_matches_numpy_einsum(sub, shapes, dtype):
    ins, out = sub.split("->")[0].split(","), sub.split("->")[1]
    plan = linalg.bmm_plan(ins, out, [np.dtype(dtype)] * 2)
    assert plan is not None
    rng = np.random.default_rng(8)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    want = np.einsum(sub, a, b)
    got = linalg.contract2(plan, a, b)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    buf = np.full(want.shape, np.nan, dtype)
    r = linalg.contract2(plan, a, b, out=buf)
    assert r is buf
    np.testing.assert_array_equal(buf, got)


def test_bmm_plan_declines():
    f64 = [np.dtype(np.float64)] * 3
    assert linalg.bmm_plan(["ab", "bc", "cd"], "ad", f64) is None  # three operands
    assert linalg.bmm_plan(["ab", "bc"], "ac", [np.dtype(np.int64)] * 2) is None  # ints
    assert linalg.bmm_plan(["aa", "ab"], "b", f64[:2]) is None  # a diagonal
    assert linalg.bmm_plan(["ab", "ab"], "ab", f64[:2]) is None  # nothing contracted
    assert linalg.bmm_plan(["a", "b"], "ab", f64[:2]) is None
    assert linalg.bmm_plan(["ab", "cd"], "", f64[:2]) is None  # only sums


def test_single_operand_results_own_their_memory():
    """numpy's einsum returns a view for a transpose or a diagonal: graphc copies it, so
    later writes into the operand's buffer (or the caller's array) cannot change it."""
    g = gc.Graph()
    x = g.input("x", ("B", "B"))
    t = gc.einsum("ij->ji", x * 2.0)
    d = gc.einsum("ii->i", x * 3.0)
    z = gc.einsum("ij->ij", x)
    y = t * 5.0 + gc.sum(d)
    f = gc.compile([y, d, t, z], inputs=[x])
    rng = np.random.default_rng(9)
    for n in (1, 3, 4):
        a = rng.standard_normal((n, n))
        want = [(2 * a).T * 5 + np.trace(3 * a), np.diag(3 * a), (2 * a).T, a.copy()]
        got = f(a)
        got_again = f(a + 1.0)  # buffers reused for a second call
        for u, v in zip(got, want):
            np.testing.assert_allclose(u, v, rtol=1e-12)
        assert not np.shares_memory(got[3], a)
        a[...] = 0.0  # the caller's array changes: the results do not
        np.testing.assert_allclose(got[3], want[3])
        np.testing.assert_allclose(got_again[1], np.diag(3 * (want[3] + 1.0)), rtol=1e-12)
        assert not np.shares_memory(gc.evaluate(z, {x: a}), a)


# --------------------------------------------------------------------------- save/load


def test_save_load_round_trip_keeps_attributes_and_values():
    g = gc.Graph("contractions")
    x, w = g.input("x", ("B", 3, 4)), g.input("w", (4, 3, 2))
    s = g.input("s", ("B", "B"))
    ys = [
        gc.einsum("...ij,jk->...ik", x, w[:, :, 0]),
        gc.einsum(x, [0, 1, 2], w, [2, 1, 3]),
        gc.einsum("ii", s),
        gc.tensordot(x, w, ([2, 1], [0, 1])),
        gc.dot(x, w[:, 0, :]),
        gc.inner(x, w[:, 0, :].T),
        gc.outer(s, w),
        gc.kron(s, w[0]),
    ]
    loss = sum(gc.sum(y * y) for y in ys)
    outs = [*ys, *gc.grad(loss, [x, w, s])]
    for k, y in enumerate(outs):
        g.output(f"y{k}", y)
    h = loads(dumps(g))
    assert dumps(h) == dumps(g)
    assert [n.attr for n in h.nodes] == [n.attr for n in g.nodes]
    rng = np.random.default_rng(10)
    feed = {"x": rng.standard_normal((3, 3, 4)), "w": rng.standard_normal((4, 3, 2)),
            "s": rng.standard_normal((3, 3))}
    want = gc.compile(outs, inputs=[x, w, s])(feed["x"], feed["w"], feed["s"])
    hs = [h.inputs[n] for n in ("x", "w", "s")]
    got = gc.compile(list(h.outputs.values()), inputs=hs)(feed["x"], feed["w"], feed["s"])
    for u, v in zip(want, got):
        np.testing.assert_array_equal(u, v)


# ------------------------------------------------------------------------------ errors


def _vars():
    g = gc.Graph("errs")
    return g, {
        "x": g.input("x", ("B", 3)), "y": g.input("y", (3, 4)), "z": g.input("z", (4, 5)),
        "t": g.input("t", ("T", 4)), "m": g.input("m", (2, 3)), "v": g.input("v", (4,)),
        "c": g.input("c", ("B", 3, 4)), "one": g.input("one", (1, 3)),
    }


ERRORS = [  # (build, error type, fragment of the message)
    (lambda v: gc.einsum("ij,jk->ik", v["x"], v["y"], v["z"]), ValueError,
     "name 2 operand(s), 3 given"),
    (lambda v: gc.einsum("ij,j$->i", v["x"], v["v"]), ValueError, "letters a-z and A-Z"),
    (lambda v: gc.einsum("ij->ii", v["x"]), ValueError, "repeats index"),
    (lambda v: gc.einsum("ij->k", v["x"]), ValueError, "appears in no operand"),
    (lambda v: gc.einsum("ij->i->j", v["x"]), ValueError, "'->'"),
    (lambda v: gc.einsum("i-j", v["x"]), ValueError, "'->'"),
    (lambda v: gc.einsum("i.j", v["x"]), ValueError, "'...'"),
    (lambda v: gc.einsum("i....", v["x"]), ValueError, "'...'"),
    (lambda v: gc.einsum("ijk,jk->i", v["x"], v["y"]), gc.ShapeError, "rank 2"),
    (lambda v: gc.einsum("i", v["x"]), gc.ShapeError, "rank 2"),
    (lambda v: gc.einsum("ij...k", v["x"]), gc.ShapeError, "rank 2"),
    (lambda v: gc.einsum("ij,jk->ik", v["x"], v["z"]), gc.ShapeError, "size 3"),
    (lambda v: gc.einsum("ij,jk->ik", v["y"], v["t"]), gc.ShapeError, "and T"),
    (lambda v: gc.einsum("ij,ik->jk", v["x"], v["t"]), gc.ShapeError, "equal or 1"),
    (lambda v: gc.einsum("ii", v["m"]), gc.ShapeError, "diagonal"),
    (lambda v: gc.einsum("ii", v["one"]), gc.ShapeError, "diagonal"),
    (lambda v: gc.einsum("...ij,jk->ik", v["c"], v["z"]), ValueError, "has no '...'"),
    (lambda v: gc.einsum(7, v["x"]), TypeError, "sublist"),
    (lambda v: gc.einsum(v["x"], [0, 52]), ValueError, "[0, 52)"),
    (lambda v: gc.einsum(v["x"], [0, "a"]), TypeError, "sublist"),
    (lambda v: gc.einsum("ij"), TypeError, "at least one operand"),
    (lambda v: gc.tensordot(v["x"], v["y"], 3), gc.ShapeError, "0 <= axes"),
    (lambda v: gc.tensordot(v["x"], v["y"], -1), gc.ShapeError, "0 <= axes"),
    (lambda v: gc.tensordot(v["x"], v["y"], ([1], [0, 1])), gc.ShapeError, "pair 1 axes"),
    (lambda v: gc.tensordot(v["c"], v["y"], ([1, 1], [0, 1])), gc.ShapeError, "repeat"),
    (lambda v: gc.tensordot(v["x"], v["y"], ([2], [0])), gc.ShapeError, "out of range"),
    (lambda v: gc.tensordot(v["x"], v["y"], "ab"), TypeError, "not an int or a pair"),
    (lambda v: gc.tensordot(v["x"], v["y"], True), TypeError, "not an int or a pair"),
    (lambda v: gc.tensordot(v["x"], v["y"], (["a"], [0])), gc.ShapeError, "is not an int"),
    (lambda v: gc.tensordot(v["x"], v["z"], 1), gc.ShapeError, "sizes 3 and 4 differ"),
    (lambda v: gc.tensordot(v["one"], v["y"], ([0], [0])), gc.ShapeError, "sizes 1 and 3"),
    (lambda v: gc.dot(v["x"], v["z"]), gc.ShapeError, "sizes 3 and 4 differ"),
    (lambda v: gc.dot(v["c"], v["y"]), gc.ShapeError, "axis -2 of b"),
    (lambda v: gc.dot(v["t"], v["t"]), gc.ShapeError, "sizes 4 and T differ"),
    (lambda v: gc.inner(v["x"], v["y"]), gc.ShapeError, "sizes 3 and 4 differ"),
]


@pytest.mark.parametrize("k", range(len(ERRORS)))
def test_build_errors_are_clear_and_leave_no_node(k):
    build, kind, fragment = ERRORS[k]
    g, v = _vars()
    before = len(g)
    with pytest.raises(kind) as ei:
        build(v)
    assert fragment in str(ei.value), str(ei.value)
    assert len(g) == before


def test_build_error_names_the_op_operands_and_caller():
    g, v = _vars()
    with pytest.raises(gc.ShapeError) as ei:
        gc.einsum("ij,jk->ik", v["x"], v["z"])
    msg = str(ei.value)
    assert msg.startswith("einsum((B, 3) float64, (4, 5) float64): ")
    assert "operand 0, axis 1" in msg and "operand 1, axis 0" in msg
    assert f"\n  at {__file__}:" in msg


def test_einsum_size_broadcast_is_checked_when_bound():
    """A symbolic size broadcasts only against the same expression or 1: B against 1 is
    B (numpy's rule at every binding), B against T is refused when built."""
    g = gc.Graph()
    a, b = g.input("a", ("B", 1)), g.input("b", (1, "T"))
    y = gc.einsum("ij,ij->ij", a, b)
    assert y.shape == ("B", "T")
    f = gc.compile(y, inputs=[a, b])
    for B, T in [(1, 1), (2, 5), (4, 1)]:
        u, w = np.ones((B, 1)), np.full((1, T), 2.0)
        np.testing.assert_array_equal(f(u, w), np.einsum("ij,ij->ij", u, w))


def test_letter_sizes_and_numel_agree_with_numpy_for_large_contractions():
    g = gc.Graph()
    xs = [g.input(f"x{k}", (2, 2)) for k in range(6)]
    sub = "ab,bc,cd,de,ef,fa->"
    y = gc.einsum(sub, *xs)
    arrays = [np.random.default_rng(k).standard_normal((2, 2)) for k in range(6)]
    np.testing.assert_allclose(gc.compile(y, inputs=xs)(*arrays), np.einsum(sub, *arrays),
                               rtol=1e-12)
    assert math.prod(linalg.letter_sizes(["ab", "bc"], [(2, 3), (1, 4)]).values()) == 24
