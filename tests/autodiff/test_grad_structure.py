"""Graph structure of gradients: sum/reshape nodes exactly where broadcasting happened.

``sum_to`` (graphc/autodiff/reverse.py) is the only place that unbroadcasts; each node it
inserts carries ``unbroadcast`` meta: the forward node and operand, the axes summed, the
symbols reduced and the user's file:line of the forward node. These tests build graphs
whose broadcasts are known and compare the inserted nodes with the expected ones.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from _gradkit import unbroadcast_nodes

import graphc as gc
from graphc.autodiff.reverse import sum_to
from graphc.errors import ShapeError
from graphc.ir.dims import Shape, broadcast_shapes

pytestmark = pytest.mark.filterwarnings("ignore::graphc.ShapeWarning")

HERE = __file__


def here(offset: int = 1) -> str:
    """The file:line of the caller's line plus ``offset`` (the line that builds a node)."""
    f = inspect.currentframe().f_back
    return f"{HERE}:{f.f_lineno + offset}"


def expected_unbroadcast(operand: tuple, out: tuple) -> tuple[tuple[int, ...], bool]:
    """The axes numpy broadcasting stretched ``operand`` along, and whether a reshape is due."""
    lead = len(out) - len(operand)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(operand)
                                      if d == 1 and out[lead + i] != 1)
    kept = tuple(d for i, d in enumerate(out) if i not in axes)
    return axes, kept != tuple(operand)


GRID = [(), (4,), (3, 4), (1, 4), ("B", 4), ("B", 1, 4), ("B", 3, 1), (3, 1)]


def _pairs():
    for sa in GRID:
        for sb in GRID:
            try:
                broadcast_shapes(Shape(sa), Shape(sb))
            except ShapeError:
                continue
            yield pytest.param(sa, sb, id=f"{sa}x{sb}".replace(" ", "").replace("'", ""))


@pytest.mark.parametrize("op", ["add", "multiply"])
@pytest.mark.parametrize("sa,sb", list(_pairs()))
def test_sum_and_reshape_appear_exactly_where_broadcasting_happened(op, sa, sb):
    g = gc.Graph()
    a, b = g.input("a", sa), g.input("b", sb)
    loc = here()
    out = getattr(gc, op)(a, b)
    y = gc.sum(out)
    start = len(g)
    ga, gb = gc.grad(y, [a, b])
    assert ga.shape == sa and gb.shape == sb
    inserted = unbroadcast_nodes(g, start)
    want = []
    for k, s in enumerate((sa, sb)):
        axes, reshape = expected_unbroadcast(s, tuple(out.shape))
        if axes:
            want.append((k, "sum", axes))
        if reshape:
            want.append((k, "reshape", axes))
    got = [(n.info["operand"], n.op, n.info["axes"]) for n in inserted]
    assert sorted(got) == sorted(want)
    for n in inserted:
        info = n.info
        assert info["forward"] == out.id and info["forward_op"] == op
        assert info["forward_loc"] == loc
        reduced = tuple(sorted({str(out.shape[a]) for a in info["axes"]
                                if isinstance(out.shape[a], gc.Dim)}))
        assert info["reduces"] == reduced
    # no other sum/reshape: the gradient of a plain sum is a broadcast_to, of add/multiply
    # elementwise; only sum_to may add sum/reshape nodes here
    others = [n for n in g.nodes[start:] if n.op in ("sum", "reshape") and n not in inserted]
    assert others == []


def test_no_broadcasting_inserts_no_sum_or_reshape():
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    w = g.param("w", np.ones((3, 4)) * 0.5)
    v = g.param("v", np.ones((3, 4)))
    h = gc.tanh(gc.exp(x[0]) * w) / (v + 2.0) - gc.sqrt(v)  # scalars broadcast: not operands
    y = gc.sum(h)
    start = len(g)
    gw, gv = gc.grad(y, [w, v])
    new = g.nodes[start:]
    assert not [n for n in new if n.op in ("sum", "reshape")]
    assert not unbroadcast_nodes(g, start)
    assert gw.shape == (3, 4) and gv.shape == (3, 4)


def test_scalar_operands_are_summed_to_their_shape():
    """A python scalar is a constant with no gradient: nothing is summed for it."""
    g = gc.Graph()
    s = g.param("s", 2.0)
    x = g.input("x", ("B", 4))
    y = gc.sum(x * s + 1.0)
    start = len(g)
    (gs,) = gc.grad(y, [s])
    (node,) = unbroadcast_nodes(g, start)
    assert node.op == "sum" and node.info["axes"] == (0, 1) and node.info["reduces"] == ("B",)
    assert node.info["operand"] == 1 and gs.shape == ()


def test_row_layout_bias_is_summed_over_the_batch():
    g = gc.Graph()
    x = g.input("x", ("B", 3))
    W = g.param("W", np.ones((3, 2)))
    b = g.param("b", np.zeros(2))
    mm = x @ W
    loc = here()
    z = mm + b
    y = gc.sum(gc.tanh(z))
    start = len(g)
    gx, gW, gb = gc.grad(y, [x, W, b])
    (node,) = unbroadcast_nodes(g, start)  # (B, 3) @ (3, 2) has no batch axes: only b
    assert node.op == "sum"
    assert node.info == {**node.info, "unbroadcast": True, "forward": z.id, "forward_op": "add",
                         "operand": 1, "axes": (0,), "reduces": ("B",), "forward_loc": loc}
    assert gb.node.id == node.id  # no reshape: (2,) is what remains
    assert (gx.shape, gW.shape, gb.shape) == (("B", 3), (3, 2), (2,))


def test_column_layout_sums_W_and_b_over_the_batch():
    """The seed's layout: W @ x + b with x (B, n, 1), b (m, 1)."""
    g = gc.Graph()
    x = g.input("x", ("B", 3, 1))
    W = g.param("W", np.ones((2, 3)))
    b = g.param("b", np.zeros((2, 1)))
    loc_mm = here()
    mm = W @ x
    loc_add = here()
    z = mm + b
    y = gc.sum(gc.tanh(z))
    start = len(g)
    gx, gW, gb = gc.grad(y, [x, W, b])
    got = {(n.info["forward_op"], n.info["operand"]): n for n in unbroadcast_nodes(g, start)}
    assert set(got) == {("matmul", 0), ("add", 1)}
    nW, nb = got["matmul", 0], got["add", 1]
    assert (nW.op, nW.info["axes"], nW.info["reduces"], nW.info["forward"]) == (
        "sum", (0,), ("B",), mm.id)
    assert (nb.op, nb.info["axes"], nb.info["reduces"], nb.info["forward"]) == (
        "sum", (0,), ("B",), z.id)
    assert nW.info["forward_loc"] == loc_mm and nb.info["forward_loc"] == loc_add
    assert (gW.shape, gb.shape, gx.shape) == ((2, 3), (2, 1), ("B", 3, 1))


@pytest.mark.parametrize("sa,sb,want", [
    # (operand, op, axes, reduced symbols) of every node sum_to inserts for the matmul
    (("B", 3, 4), (4, 2), [(1, "sum", (0,), ("B",))]),  # (B, n, k) @ (k, m): W sums over B
    ((2, 4), ("B", 4, 1), [(0, "sum", (0,), ("B",))]),  # W @ x, x (B, k, 1)
    ((4,), ("B", 4, 2), [(0, "sum", (0,), ("B",))]),  # 1-D promotion on the left
    (("B", 3, 4), (4,), [(1, "sum", (0,), ("B",))]),  # on the right: (B, 4) summed to (4,)
    (("B", 3, 4), ("B", 4, 2), []),  # matching batch axes: nothing to sum
    ((3, 4), (4, 2), []),
    ((4,), (4,), []),
    ((5, 3, 4), (1, 4, 2), [(1, "sum", (0,), ()), (1, "reshape", (0,), ())]),  # 1 -> 5
    (("B", 1, 3, 4), (2, 4, 5), [(0, "sum", (1,), ()), (0, "reshape", (1,), ()),
                                 (1, "sum", (0,), ("B",))]),
], ids=lambda v: str(v).replace(" ", "").replace("'", "") if isinstance(v, tuple) else "")
def test_matmul_batch_broadcasting_is_unbroadcast(sa, sb, want):
    g = gc.Graph()
    a, b = g.input("a", sa), g.input("b", sb)
    mm = a @ b
    y = gc.sum(mm * mm)
    start = len(g)
    grads = gc.grad(y, [a, b])
    assert grads[0].shape == sa and grads[1].shape == sb
    got = [(n.info["operand"], n.op, n.info["axes"], n.info["reduces"])
           for n in unbroadcast_nodes(g, start) if n.info["forward"] == mm.id]
    assert sorted(got) == sorted(want)


def test_broadcast_to_gradient_sums_and_reshapes():
    g = gc.Graph()
    x = g.input("x", (3, 1))
    loc = here()
    bt = gc.broadcast_to(x, ("B", 3, 4))
    y = gc.sum(bt * bt)
    start = len(g)
    gc.grad(y, [x])
    ops = [(n.op, n.info["axes"], n.info["reduces"], n.info["forward_loc"])
           for n in unbroadcast_nodes(g, start)]
    assert ops == [("sum", (0, 2), ("B",), loc), ("reshape", (0, 2), ("B",), loc)]


def test_reshape_only_where_kept_dims_differ():
    g = gc.Graph()
    x = g.input("x", ("B", 3, 4))
    b1 = g.param("b1", np.zeros((1, 4)))  # (B, 3, 4) + (1, 4): sum (0, 1) -> (4,), reshape
    b2 = g.param("b2", np.zeros((3, 1)))  # sum (0, 2) -> (3,), reshape to (3, 1)
    b3 = g.param("b3", np.zeros(4))  # sum (0, 1) -> (4,): no reshape
    z1, z2, z3 = x + b1, x + b2, x + b3
    y = gc.sum(z1 * z2 * z3)
    start = len(g)
    gc.grad(y, [b1, b2, b3])
    by_fwd: dict[int, list[str]] = {}
    for n in unbroadcast_nodes(g, start):
        by_fwd.setdefault(n.info["forward"], []).append(n.op)
    assert by_fwd == {z1.id: ["sum", "reshape"], z2.id: ["sum", "reshape"], z3.id: ["sum"]}


def test_sum_to_inserts_nothing_when_shapes_match():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    n = len(g)
    assert sum_to(x, Shape(("B", 4))) is x and len(g) == n
    with pytest.raises(ShapeError):
        sum_to(x, Shape((2, "B", 4)))


def test_every_gradient_node_records_the_forward_node_it_differentiates():
    g = gc.Graph()
    x = g.input("x", ("B", 4))
    W = g.param("W", np.ones((4, 2)))
    loc = here()
    h = gc.tanh(x @ W)
    y = gc.mean(h)
    start = len(g)
    gc.grad(y, [W])
    new = g.nodes[start:]
    assert new and all("grad_of" in n.info for n in new)
    tanh_grads = [n for n in new if n.info["grad_of"] == h.id]
    assert tanh_grads and all(n.info["forward_loc"] == loc for n in tanh_grads)
