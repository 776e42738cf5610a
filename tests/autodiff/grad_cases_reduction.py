"""Gradient cases of min, prod, var, std, cumsum, cumprod and gc.linalg.norm (run inside
tests/autodiff/test_grad_table.py); argmax, argmin, any and all carry no gradient."""

# ruff: noqa: F821  (case, fmt, gc, np, REDUCE_CONFIGS, NON_DIFFERENTIABLE: the table's)

from graphc.ops.reduction import linalg as _linalg  # gc.linalg once graphc exports it

NON_DIFFERENTIABLE.update({"argmax", "argmin", "any", "all"})

# ------------------------------------------------------------------------------ min, prod

for _s, _axis in REDUCE_CONFIGS:
    for _kd in (False, True):
        _lab = f"{fmt(_s)},axis={_axis},keepdims={_kd}"
        case("min", _lab, [_s], lambda a, axis=_axis, kd=_kd: gc.min(a, axis=axis, keepdims=kd),
             ["lattice"])
        case("prod", _lab, [_s], lambda a, axis=_axis, kd=_kd: gc.prod(a, axis, keepdims=kd))
case("min", "method", [("B", 4)], lambda a: a.min(axis=1) * a.min(), ["lattice"])
# zeros in the slice, to second order: lattice data (multiples of 1/4 from -n/8) holds one
# exact 0; a*a - 1/16 is 0 at a = +-1/4 (two zeros), times a*a - 1/4 at +-1/2 (four)
case("prod", "one-zero", [(3, 4)], lambda a: gc.prod(a), ["lattice"])
case("prod", "one-zero,axis", [("B", 5)], lambda a: gc.prod(a, axis=1), ["lattice"])
case("prod", "two-zeros", [(3, 4)], lambda a: gc.prod(a * a - 0.0625), ["lattice"])
case("prod", "four-zeros", [(3, 4)],
     lambda a: gc.prod((a * a - 0.0625) * (a * a - 0.25)), ["lattice"])
case("prod", "method,pos", [("B", 3, 4)], lambda a: a.prod(axis=(1, 2), keepdims=True) * a,
     ["pos"])

# ------------------------------------------------------------------------------- var, std

# no reduction over a slice of one element: var would divide by N - ddof = 0 at B = 1, and
# std has no derivative over a constant slice (see test_reductions_more)
VAR_CONFIGS = [((4,), None), ((4,), 0), ((3, 4), None), ((3, 4), 0), ((3, 4), -1),
               ((3, 4), (0, 1)), (("B", 4), -1), (("B", 4), None), (("B", 3, 4), (0, 2)),
               (("B", 3, 4), 1)]
for _name, _fn in (("var", gc.var), ("std", gc.std)):
    for _s, _axis in VAR_CONFIGS:
        for _kd, _dd in ((False, 0), (True, 1)):
            case(_name, f"{fmt(_s)},axis={_axis},keepdims={_kd},ddof={_dd}", [_s],
                 lambda a, fn=_fn, axis=_axis, kd=_kd, dd=_dd: fn(a, axis, ddof=dd, keepdims=kd))
case("var", "method,ddof=0.5", [("B", 4)], lambda a: a.var(axis=1, ddof=0.5) * a[:, 0])
case("std", "method,layernorm", [("B", 6)],
     lambda a: (a - a.mean(axis=1, keepdims=True)) / (a.std(axis=1, keepdims=True) + 1e-5))

# ------------------------------------------------------------------------ cumsum, cumprod

CUM_CONFIGS = [((4,), None), ((4,), 0), ((3, 4), None), ((3, 4), 0), ((3, 4), -1),
               (("B", 4), 0), (("B", 4), 1), (("B", 4), None), (("B", 3, 4), 1), ((), None)]
for _name, _fn, _d in (("cumsum", gc.cumsum, "any"), ("cumprod", gc.cumprod, "away0")):
    for _s, _axis in CUM_CONFIGS:
        case(_name, f"{fmt(_s)},axis={_axis}", [_s], lambda a, fn=_fn, axis=_axis: fn(a, axis),
             [_d])
case("cumsum", "method", [("B", 4)], lambda a: gc.tanh(a.cumsum(axis=1)) * a)
# zeros: one (lattice), two and four (as for prod), to second order too
case("cumprod", "one-zero", [(3, 4)], lambda a: gc.cumprod(a), ["lattice"])
case("cumprod", "one-zero,axis", [("B", 6)], lambda a: gc.cumprod(a, 1), ["lattice"])
case("cumprod", "two-zeros", [(3, 4)], lambda a: gc.cumprod(a * a - 0.0625), ["lattice"])
case("cumprod", "four-zeros", [(3, 4)],
     lambda a: gc.cumprod((a * a - 0.0625) * (a * a - 0.25)), ["lattice"])
case("cumprod", "method", [("B", 3)], lambda a: a.cumprod(axis=0) * a, ["pos"])

# ---------------------------------------------------------------------------- linalg.norm

# away0 (|a| in [0.3, 1.5], either sign): no kink of |a|, no tie of |a| among entries
for _s, _o, _axis, _kd, _d in [
        ((4,), None, None, False, "any"), (("B", 3, 4), None, None, False, "any"),
        (("B", 3, 4), None, None, True, "any"), (("B", 4), 2, 1, False, "any"),
        (("B", 4), 1, -1, True, "away0"), (("B", 4), np.inf, 1, False, "away0"),
        (("B", 4), -np.inf, 1, False, "away0"), (("B", 4), 3, 1, False, "away0"),
        (("B", 4), 0.5, 1, True, "away0"), (("B", 4), -1.5, 1, False, "away0"),
        (("B", 3, 4), 2, 0, False, "any"), ((3, 4), "fro", None, False, "any"),
        ((3, 4), 1, None, False, "away0"), (("B", 3, 4), -1, (2, 1), False, "away0"),
        (("B", 3, 4), np.inf, (1, 2), True, "away0"),
        (("B", 3, 4), -np.inf, (-1, -2), False, "away0"),
        (("B", 3, 4), "fro", (2, 0), True, "any")]:
    case("norm", f"{fmt(_s)},ord={_o},axis={_axis},keepdims={_kd}", [_s],
         lambda a, o=_o, axis=_axis, kd=_kd: _linalg.norm(a, o, axis, kd), [_d])
# ord 0 counts non-zeros: piecewise constant, a zero gradient (beside a smooth term)
case("norm", "ord=0", [("B", 4)], lambda a: _linalg.norm(a, 0, axis=1) * gc.sum(a * a, axis=1),
     ["away0"])
