"""Gradient cases of pad, tile and repeat (run inside tests/autodiff/test_grad_table.py)."""

# ruff: noqa: F821  (case, fmt, gc come from the table's namespace)
# ------------------------------------------------------------------- pad, tile, repeat

for _s, _w, _m in [(("B", 4), ((0, 0), (1, 2)), "constant"), ((3, 4), 1, "constant"),
                   (("B", 4), ((0, 0), (2, 1)), "edge"), ((3, 2), ((2, 1), (1, 2)), "edge"),
                   (("B", 2, 3), ((0, 0), (1, 0), (0, 2)), "edge"),
                   (("B", 4), ((0, 0), (3, 1)), "reflect"), ((4, 5), ((1, 3), (2, 2)), "reflect"),
                   ((5,), (4, 4), "reflect")]:
    case("pad", f"{fmt(_s)},{_w},{_m}", [_s], lambda a, w=_w, m=_m: gc.pad(a, w, m))
case("pad", "value,square", [("B", 3)],
     lambda a: gc.square(gc.pad(a, ((0, 0), (2, 2)), constant_values=0.5)))
case("pad", "edge-of-tanh", [("B", 3)],
     lambda a: gc.tanh(gc.pad(a * a, ((0, 0), (1, 2)), "edge")))
case("pad", "reflect-twice", [(3, 4)],
     lambda a: gc.pad(gc.pad(a, 1, "reflect"), ((0, 0), (3, 2)), "reflect") * a[0, 0])

for _s, _r in [(("B", 3), (1, 3)), ((3, 4), 2), (("B",), (3, 1)), ((), (2, 2)),
               (("B", 2), (0, 2)), ((2, 3), (2, 1, 2))]:
    case("tile", f"{fmt(_s)},{_r}", [_s], lambda a, r=_r: gc.tile(a, r))
case("tile", "square", [("B", 2, 3)], lambda a: gc.square(gc.tile(a, (1, 2, 3))))

for _s, _r, _ax in [(("B", 3), 2, 1), ((3, 4), 3, 0), ((2, 3), 2, None), ((), 3, None),
                    ((2, 3), 0, -1), (("B", 4), 1, 1), ((2, "B", 3), 3, 2)]:
    case("repeat", f"{fmt(_s)},{_r},axis={_ax}", [_s],
         lambda a, r=_r, ax=_ax: gc.repeat(a, r, axis=ax))
case("repeat", "tanh", [("B", 2, 3)], lambda a: gc.tanh(gc.repeat(a * a, 2, axis=1)))
