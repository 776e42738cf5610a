"""Gradient cases of stack, split (gc.split / gc.array_split), flip and roll, and of the
builders made from other ops (moveaxis, ravel, split at positions); run inside
tests/autodiff/test_grad_table.py."""

# ruff: noqa: F821  (case, fmt, gc come from the table's namespace)
# ------------------------------------------------------------------------------------ stack

for _shapes, _axis in [([(3, 4), (3, 4)], 0), ([("B", 3), ("B", 3)], 1),
                       ([("B", 2), ("B", 2), ("B", 2)], -1), ([(), ()], 0), ([("B",)], 0)]:
    case("stack", f"{','.join(fmt(s) for s in _shapes)},axis={_axis}", _shapes,
         lambda *xs, a=_axis: gc.stack(list(xs), axis=a))
case("stack", "same-twice,square", [("B", 3)],
     lambda a: gc.square(gc.stack([a, gc.tanh(a), a], axis=1)))
case("stack", "of-a-product", [("B", 2), (2, 3)],
     lambda x, w: gc.stack([x @ w, gc.tanh(x @ w)], axis=0) * (x @ w))

# ---------------------------------------------------------------------- split, array_split

for _s, _n, _ax, _fn in [((3, 6), 3, 1, "split"), (("B", 4), 2, 1, "split"),
                         ((4, "B"), 2, 0, "split"), (("B", 7), 3, -1, "array_split"),
                         (("B", 3), 2, 0, "array_split"), ((2, 5), 4, 1, "array_split")]:
    # every part used, weighted differently (each part's gradient lands at its place)
    case("split", f"{_fn},{fmt(_s)},{_n},axis={_ax}", [_s],
         lambda a, n=_n, ax=_ax, fn=_fn: gc.concatenate(
             [p * float(k + 1) for k, p in enumerate(getattr(gc, fn)(a, n, ax))], axis=ax))
case("split", "unused-parts", [("B", 6)],
     lambda a: gc.sum(gc.square(gc.split(a, 3, axis=1)[1]), axis=1))
case("split", "array_split-tanh-of-last", [("B", 5)],
     lambda a: gc.tanh(gc.array_split(a * a, 2, axis=1)[-1]))
case("split", "qkv", [("B", 6), (6, 9)],
     lambda x, w: (lambda q, k, v: gc.softmax(q @ k.mT) @ v)(*gc.split(x @ w, 3, axis=1)))
case("getitem", "split-at-positions", [("B", 6)],
     lambda a: gc.concatenate([p * float(k + 1) for k, p in
                               enumerate(gc.split(a, [1, 4], axis=1))], axis=1))

# ------------------------------------------------------------------------------------ flip

for _s, _ax in [((3, 4), None), (("B", 4), 1), (("B", 3, 4), (0, 2)), ((), None), ((5,), 0)]:
    case("flip", f"{fmt(_s)},axis={_ax}", [_s], lambda a, ax=_ax: gc.flip(a, ax))
case("flip", "times-x", [("B", 4)], lambda a: gc.flip(a, 1) * a)

# ------------------------------------------------------------------------------------ roll

for _s, _sh, _ax in [((3, 5), 2, 1), (("B", 5), -7, None), (("B", 3, 4), (1, -2), (0, 2)),
                     (("B", 4), 3, (1, 1)), ((), 1, None), ((4,), 9, 0)]:
    case("roll", f"{fmt(_s)},{_sh},axis={_ax}", [_s], lambda a, sh=_sh, ax=_ax: gc.roll(a, sh, ax))
case("roll", "times-x", [("B", 5)], lambda a: gc.roll(a, 2, axis=1) * a)
case("roll", "shift-B", [("B", 4)], lambda a: gc.roll(a * a, a.shape[0], axis=1) * a)

# ------------------------------------------------------------------ moveaxis, ravel, flatten

case("transpose", "moveaxis", [("B", 3, 4)], lambda a: gc.moveaxis(a, 0, -1) * 2.0)
case("reshape", "ravel", [("B", 3)], lambda a: gc.ravel(a) * gc.flatten(gc.tanh(a)))
