# ruff: noqa: F821
"""Op-table rows of the contractions (einsum, tensordot, dot, inner, outer, kron).

Run inside ``tests/ops/test_op_table.py``'s namespace (``row``, ``np``, ``gc``). Each ``ref``
is an independent numpy formula: products of broadcast views summed over axes, ``@`` on
reshaped operands, ``np.trace``/``np.diagonal``; never ``np.einsum`` or the numpy function
under test.
"""


def _diag(a):
    return np.diagonal(a, axis1=-2, axis2=-1).copy()


# ------------------------------------------------------------------------------ einsum

_EINSUM = [
    ("ij,jk->ik", [("B", 3), (3, 4)], lambda B, a, b: a @ b),
    ("ij,jk", [(3, "B"), ("B", 2)], lambda B, a, b: a @ b),  # implicit, symbolic contraction
    ("btd,de->bte", [("B", 3, 4), (4, 5)], lambda B, a, b: (a[..., None] * b).sum(axis=2)),
    ("bij,bjk->bik", [("B", 2, 3), ("B", 3, 4)], lambda B, a, b: a @ b),
    ("bhtd,bhsd->bhts", [("B", 2, 3, 4), ("B", 2, 5, 4)],
     lambda B, a, b: a @ np.swapaxes(b, -1, -2)),
    ("ij,kj->ik", [("B", 3), (4, 3)], lambda B, a, b: a @ b.T),
    ("ji,jk->ki", [(3, "B"), (3, 4)], lambda B, a, b: (a.T @ b).T),
    ("ij,jk,kl->il", [("B", 3), (3, 4), (4, 2)], lambda B, a, b, c: a @ b @ c),
    ("ij,j,j->i", [("B", 3), (3,), (3,)], lambda B, a, b, c: (a * b * c).sum(axis=1)),
    ("i,j->ij", [("B",), (3,)], lambda B, a, b: a[:, None] * b[None, :]),
    ("ij->", [("B", 3)], lambda B, a: np.asarray(a.sum())),
    ("ij->j", [("B", 3)], lambda B, a: a.sum(axis=0)),
    ("ij->ji", [("B", 3)], lambda B, a: a.T.copy()),
    ("ii->i", [(3, 3)], lambda B, a: _diag(a)),
    ("ii", [("B", "B")], lambda B, a: np.asarray(np.trace(a))),
    ("bii->bi", [("B", 3, 3)], lambda B, a: _diag(a)),
    ("iij->j", [(2, 2, "B")], lambda B, a: a[0, 0] + a[1, 1]),
    ("ij,ij->", [("B", 3), ("B", 3)], lambda B, a, b: np.asarray((a * b).sum())),
    ("ij,ij->ij", [("B", 3), (1, 3)], lambda B, a, b: a * b),
    ("ij,jk->ik", [(2, 1), (3, "B")], lambda B, a, b: np.broadcast_to(a, (2, 3)) @ b),
    ("ij,jk->ik", [("B", 3), (1, 4)], lambda B, a, b: a @ np.broadcast_to(b, (3, 4))),
    ("ij,jk->k", [("B", 3), (3, 4)], lambda B, a, b: a.sum(axis=0) @ b),
    ("...ij,...jk->...ik", [("B", 2, 3), (3, 4)], lambda B, a, b: a @ b),
    ("ba...", [(2, 3, "B")], lambda B, a: np.transpose(a, (2, 1, 0)).copy()),
    ("bA,Cb", [("B", 3), (4, "B")], lambda B, a, b: (a[:, :, None] * b.T[:, None, :]).sum(0)),
    (",i->i", [(), ("B",)], lambda B, a, b: a * b),
    ("i,i", [("B",), ("B",)], lambda B, a, b: np.asarray((a * b).sum())),
]
for _sub, _shapes, _ref in _EINSUM:
    row("einsum", lambda *xs, s=_sub: gc.einsum(s, *xs), _ref, _shapes, label=_sub)
row("einsum", lambda a, b: gc.einsum(a, [0, 1], b, [1, 2], [0, 2]), lambda B, a, b: a @ b,
    [("B", 3), (3, 4)], label="sublist")
row("einsum", lambda a, b: gc.einsum("ij,j->i", a, b), lambda B, a, b: (a * b).sum(axis=1),
    [("B", 3), (3,)], ("int", "int"), label="int-valued")


# --------------------------------------------------------------------------- tensordot

_TENSORDOT = [
    ([("B", 3, 4), (3, 4, 5)], 2, lambda B, a, b: a.reshape(B, 12) @ b.reshape(12, 5)),
    ([(3, 4), (4, "B")], 1, lambda B, a, b: a @ b),
    ([(3, 4), (4, 3)], ([1, 0], [0, 1]), lambda B, a, b: np.asarray((a * b.T).sum())),
    ([(2,), ("B",)], 0, lambda B, a, b: a[:, None] * b[None, :]),
    ([("B", 3, 4), (2, 4, 3)], ((1, 2), (2, 1)),
     lambda B, a, b: a.reshape(B, 12) @ np.swapaxes(b, 1, 2).reshape(2, 12).T),
]
for _shapes, _axes, _ref in _TENSORDOT:
    row("tensordot", lambda a, b, ax=_axes: gc.tensordot(a, b, ax), _ref, _shapes,
        label=f"axes={_axes}")


# --------------------------------------------------------------------------------- dot

_DOT = [
    ([("B", 3), (3, 4)], lambda B, a, b: a @ b),
    ([(3,), (3,)], lambda B, a, b: np.asarray((a * b).sum())),
    ([("B", 3, 4), (4,)], lambda B, a, b: (a * b).sum(axis=-1)),
    ([(4,), (2, 4, "B")], lambda B, a, b: (a[None, :, None] * b).sum(axis=1)),
    ([(2, "B", 3), (4, 3, 5)],
     lambda B, a, b: (a[:, :, None, :, None] * b[None, None]).sum(axis=3)),
    ([(), ("B", 3)], lambda B, a, b: a * b),
    ([("B",), ()], lambda B, a, b: a * b),
]
for _shapes, _ref in _DOT:
    row("dot", gc.dot, _ref, _shapes)


# ------------------------------------------------------------------------------- inner

_INNER = [
    ([("B", 3), (4, 3)], lambda B, a, b: a @ b.T),
    ([(3,), (3,)], lambda B, a, b: np.asarray((a * b).sum())),
    ([(), ("B",)], lambda B, a, b: a * b),
    ([(2, 3, 4), ("B", 4)], lambda B, a, b: (a[:, :, None, :] * b).sum(axis=-1)),
]
for _shapes, _ref in _INNER:
    row("inner", gc.inner, _ref, _shapes)


# ------------------------------------------------------------------------------- outer

for _shapes in [[("B",), (3,)], [(2, 3), ("B", 2)], [(), (3,)], [(4,), ()]]:
    row("outer", gc.outer, lambda B, a, b: a.reshape(-1, 1) * b.reshape(1, -1), _shapes)


# -------------------------------------------------------------------------------- kron


def _kron_ref(B, a, b):
    """Each axis i of the result runs over (a's index, b's index) pairs, a's the slower."""
    n = max(a.ndim, b.ndim)
    a = a.reshape((1,) * (n - a.ndim) + a.shape)
    b = b.reshape((1,) * (n - b.ndim) + b.shape)
    ea = a.reshape(tuple(d for s in a.shape for d in (s, 1)))
    eb = b.reshape(tuple(d for s in b.shape for d in (1, s)))
    return (ea * eb).reshape(tuple(x * y for x, y in zip(a.shape, b.shape)))


for _shapes in [[("B", 2), (3, 4)], [(2,), (3,)], [(2, 3), (4,)], [(), ("B", 2)],
                [(2, 1, 2), (1, 3, "B")], [(), ()]]:
    row("kron", gc.kron, _kron_ref, _shapes)
