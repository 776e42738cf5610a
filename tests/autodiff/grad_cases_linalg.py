# ruff: noqa: F821
"""Gradient cases of the contractions (einsum, tensordot, dot, inner, outer, kron).

Run inside ``tests/autodiff/test_grad_table.py``'s namespace (``case``, ``gc``, ``np``):
finite differences to second order, B bound to 1 and 3. The einsum cases cover each rule of
its vjp: an index summed in one operand only (broadcast back), a size-1 index broadcast
against another operand (summed back), a diagonal (the gradient on it through an identity,
of symbolic size too), three operands, the same tensor twice, ``...`` and implicit output.
"""

_EINSUM = [
    ("ij,jk->ik", [("B", 3), (3, 4)]),
    ("btd,de->bte", [("B", 2, 3), (3, 4)]),
    ("bhtd,bhsd->bhts", [("B", 2, 3, 2), ("B", 2, 4, 2)]),
    ("ij,kj->ik", [(2, 3), ("B", 3)]),
    ("ij,jk,kl->il", [("B", 3), (3, 4), (4, 2)]),
    ("ij,jk->k", [("B", 3), (3, 4)]),  # i summed in operand 0 only
    ("ij,k->ik", [("B", 3), (2,)]),  # j summed in operand 0 only, k only in operand 1
    ("ij->", [("B", 3)]),
    ("ij->ji", [("B", 3)]),
    ("i,j->ij", [("B",), (3,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [("B", "B")]),  # a trace of symbolic size: the identity is built per binding
    ("bii->bi", [("B", 3, 3)]),
    ("iij->j", [(2, 2, "B")]),
    ("iii->i", [(3, 3, 3)]),
    ("ij,jj->ij", [("B", 3), (3, 3)]),
    ("ij,jk->ik", [(2, 1), (3, "B")]),  # j of size 1 in operand 0 broadcasts
    ("ij,jk->ik", [("B", 3), (1, 4)]),  # j of size 1 in operand 1
    ("ij,ij->ij", [("B", 3), (1, 3)]),  # a batch-like index broadcast
    ("ii,i->i", [(1, 1), ("B",)]),  # a broadcast diagonal
    ("...ij,...jk->...ik", [("B", 2, 3), (3, 4)]),
    ("ba...", [(2, 3, "B")]),
    ("bA,Cb", [("B", 3), (4, "B")]),
    (",i->i", [(), ("B",)]),
]
for _sub, _shapes in _EINSUM:
    case("einsum", _sub, _shapes, lambda *xs, s=_sub: gc.einsum(s, *xs))
case("einsum", "self", [("B", 3)], lambda a: gc.einsum("ij,ij->i", a, a))
case("einsum", "tanh-chain", [("B", 3), (3, 4)],
     lambda x, w: gc.einsum("bi,bi->b", gc.tanh(gc.einsum("bd,de->be", x, w)),
                            gc.einsum("bd,de->be", x, w)))
case("einsum", "sublist", [("B", 3), (3, 2)], lambda a, b: gc.einsum(a, [0, 1], b, [1, 2]))
case("einsum", "int-operand", [("B", 3), (3,)], lambda a, i: gc.einsum("ij,j->i", a, i),
     ["any", "int:3"], wrt=(0,))

for _shapes, _axes in [([("B", 3, 4), (3, 4, 2)], 2), ([(3, 4), (4, "B")], 1),
                       ([("B", 3, 4), (2, 4, 3)], ((1, 2), (2, 1))), ([(2,), ("B",)], 0)]:
    case("tensordot", f"axes={_axes}", _shapes, lambda a, b, ax=_axes: gc.tensordot(a, b, ax))

for _shapes in [[("B", 3), (3, 4)], [(3,), (3,)], [("B", 3, 4), (4,)], [(4,), (2, 4, "B")],
                [(2, "B", 3), (4, 3, 2)], [(), ("B", 3)]]:
    case("dot", "x".join(fmt(s) for s in _shapes), _shapes, gc.dot)

for _shapes in [[("B", 3), (4, 3)], [(3,), (3,)], [(2, 3, 4), ("B", 4)], [(), ("B",)]]:
    case("inner", "x".join(fmt(s) for s in _shapes), _shapes, gc.inner)

for _shapes in [[("B",), (3,)], [(2, 3), ("B", 2)], [(), (3,)]]:
    case("outer", "x".join(fmt(s) for s in _shapes), _shapes, gc.outer)

for _shapes in [[("B", 2), (3, 2)], [(2,), ("B",)], [(2, 3), (4,)], [(), ("B", 2)],
                [(2, 1, 2), (1, 3, "B")]]:
    case("kron", "x".join(fmt(s) for s in _shapes), _shapes, gc.kron)
