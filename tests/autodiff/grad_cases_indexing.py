"""Gradient cases of take, add_at, put_along_axis, sort, diagonal and trace, and of their
gradient ops (run inside tests/autodiff/test_grad_table.py).

argsort, topk (its indices) and one_hot are integer or piecewise constant: no gradient. The
values of gc.topk are take_along_axis of its indices (a case below). Indices drawn from a
small range (int:K over a longer axis) repeat, so the scatters add up several contributions.
"""

# ruff: noqa: F821  (case, fmt, gc, np, Shape, NON_DIFFERENTIABLE come from the table)

NON_DIFFERENTIABLE.update({"argsort", "topk", "one_hot"})

# ------------------------------------------------------------------------------- take

for _sx, _si, _ax, _d in [(("B", 5), (4,), 1, "int:5"), ((5, 3), (2, 2), 0, "int:2"),
                          ((3, 4), (5,), None, "int:12"), (("B", 3, 4), (), -1, "int:4"),
                          ((4,), ("B", 2), 0, "int:3")]:
    case("take", f"{fmt(_sx)},{fmt(_si)},axis={_ax}", [_sx, _si],
         lambda x, i, ax=_ax: gc.take(x * x, i, axis=ax), ["any", _d], wrt=(0,))
case("take", "negative-constant", [("B", 4)],
     lambda x: gc.tanh(gc.take(x, [-1, 0, -1, 2], axis=1)))

for _sg, _si, _sx, _ax in [(("B", 3), (3,), ("B", 5), 1), ((2, 2), (2, 2), (3, 4), None),
                           ((4, 3), (4,), (2, 3), 0)]:
    case("take_grad", f"{fmt(_sg)}->{fmt(_sx)},axis={_ax}", [_sg, _si],
         lambda g, i, sx=_sx, ax=_ax: g.graph.apply(
             "take_grad", [g * g, i], {"axis": ax, "shape": tuple(Shape(sx))}),
         ["any", "int:2"], wrt=(0,))

# ----------------------------------------------------------------------------- add_at

for _sx, _si, _sv, _ax in [(("B", 5), (4,), ("B", 4), 1), ((4, 3), (5,), (5, 3), 0),
                           ((4, 3), (5,), (3,), 0), (("B", 3), (4,), (4,), None),
                           (("B", 2, 3), (2, 2), (), -1)]:
    case("add_at", f"{fmt(_sx)},{fmt(_si)},{fmt(_sv)},axis={_ax}", [_sx, _si, _sv],
         lambda x, i, v, ax=_ax: gc.tanh(gc.add_at(x, i, v * v, axis=ax)),
         ["any", "int:2", "any"], wrt=(0, 2))
case("add_at", "scalar-value", [("B", 3)], lambda x: gc.square(gc.add_at(x, [0, 2, 0], 1.5, 1)))

# --------------------------------------------------------------------- put_along_axis

# int:2 over 3 or more writes per row: repeated writes, where only the last one counts
for _sx, _si, _sv, _ax, _d in [(("B", 5), ("B", 3), ("B", 3), 1, "int:2"),
                               ((4, 3), (2, 3), (3,), 0, "int:4"),
                               (("B", 3, 4), (1, 3, 2), ("B", 1, 2), -1, "int:4"),
                               (("B", 4), ("B", 1), (), 1, "int:4"),
                               ((4, 3), (5, 1), (5, 3), 0, "int:3")]:
    case("put_along_axis", f"{fmt(_sx)},{fmt(_si)},{fmt(_sv)},axis={_ax}", [_sx, _si, _sv],
         lambda x, i, v, ax=_ax: gc.tanh(gc.put_along_axis(x * x, i, v * v, ax)),
         ["any", _d, "any"], wrt=(0, 2))
case("put_along_axis", "scalar,flat", [(3, 4)],
     lambda x: gc.square(gc.put_along_axis(x, [5, -1, 5], 0.25, axis=None)))

# -------------------------------------------------------------------------------- sort

# lattice values: no ties, so a finite-difference step never reorders them
for _s, _ax in [(("B", 5), -1), ((4, 3), 0), (("B", 3, 4), 1), ((3, 4), None), ((1,), 0)]:
    case("sort", f"{fmt(_s)},axis={_ax}", [_s],
         lambda x, ax=_ax: gc.sort(x, axis=ax) * gc.sort(x * 0.5 + 0.1, axis=ax), ["lattice"])
case("take_along_axis", "topk-values", [("B", 5)],
     lambda x: gc.square(gc.topk(x, 3)[0]) + gc.topk(x, 2, largest=False)[0].sum(),
     ["lattice"])

# ------------------------------------------------------------------------ diagonal, trace

for _s, _o, _a1, _a2 in [((4, 4), 0, 0, 1), (("B", "B"), 1, 0, 1), ((3, 5), -1, 0, 1),
                         (("B", 3, 4), 1, 2, 1), ((2, "B", "B + 1"), -1, 1, 2),
                         ((3, 4), 6, 0, 1)]:
    case("diagonal", f"{fmt(_s)},offset={_o},{_a1},{_a2}", [_s],
         lambda x, o=_o, a1=_a1, a2=_a2: gc.diagonal(x * x, o, a1, a2))
case("diagonal", "of-a-product", [("B", 3, 3)], lambda x: gc.diagonal(x @ x.mT, 0, 1, 2))

for _sg, _sx, _o, _a1, _a2 in [(("B",), ("B", "B"), 0, 0, 1), ((2, 3), (3, 4, 2), 1, 0, 1),
                               (("B", 3), ("B", 3, 4), -1, 2, 1)]:
    case("diagonal_grad", f"{fmt(_sg)}->{fmt(_sx)},offset={_o}", [_sg],
         lambda g, sx=_sx, o=_o, a1=_a1, a2=_a2: g.graph.apply(
             "diagonal_grad", [g * g], {"offset": o, "axis1": a1, "axis2": a2,
                                        "shape": tuple(Shape(sx))}))

# equal axes use diagonal_grad; unequal symbolic axes, or an offset that needs a condition,
# use a mask of the diagonal (the trace itself needs no condition)
for _s, _o, _a1, _a2 in [((4, 4), 0, 0, 1), (("B", "B"), 0, 0, 1), (("B", "B"), 2, 0, 1),
                         (("B", 3), -1, 0, 1), (("B", 3, 4), 1, 2, 1), ((3, 4), 9, 0, 1),
                         ((3, "B", 2), 0, 2, 0)]:
    case("trace", f"{fmt(_s)},offset={_o},{_a1},{_a2}", [_s],
         lambda x, o=_o, a1=_a1, a2=_a2: gc.trace(x * x, o, a1, a2))
