"""Gradient cases for the elementwise math of issue 15, executed in ``test_grad_table.py``'s
namespace (``case``, ``NON_DIFFERENTIABLE``, ``UNARY_SHAPES``, ``PAIRS``, ``fmt``, ``gc``, ``np``).

Domains keep finite differences away from singularities and jumps: arcsin/arccos/arctanh see
|x| < 0.8 (through 0.8 tanh(x)), logs positive values, cbrt and reciprocal |x| >= 0.3, hypot
and arctan2 points away from the origin, remainder/fmod a divisor in [0.5, 1.5], clip
operands on interleaved lattices (no ties within a step).
"""

# ruff: noqa: F821 - the names come from test_grad_table.py's namespace

# piecewise constant or bool-valued: no gradient (vjp None), as sign and the comparisons
NON_DIFFERENTIABLE.update({
    "floor", "ceil", "trunc", "round", "isfinite", "isnan",
    "logical_and", "logical_or", "logical_xor", "logical_not",
})


def _inside(x):
    """x mapped into (-0.8, 0.8), for the ops singular at +-1."""
    return gc.tanh(x) * 0.8


EW_UNARY = {
    # op: (build, domain)
    "sin": (gc.sin, "any"),
    "cos": (gc.cos, "any"),
    "tan": (gc.tan, "away0"),  # |x| <= 1.5 < pi/2
    "arcsin": (lambda x: gc.arcsin(_inside(x)), "any"),
    "arccos": (lambda x: gc.arccos(_inside(x)), "any"),
    "arctan": (gc.arctan, "any"),
    "sinh": (gc.sinh, "any"),
    "cosh": (gc.cosh, "any"),
    "arcsinh": (gc.arcsinh, "any"),
    "arctanh": (lambda x: gc.arctanh(_inside(x)), "any"),
    "log1p": (gc.log1p, "pos"),
    "expm1": (gc.expm1, "any"),
    "log2": (gc.log2, "pos"),
    "log10": (gc.log10, "pos"),
    "exp2": (gc.exp2, "any"),
    "reciprocal": (gc.reciprocal, "away0"),
    "cbrt": (gc.cbrt, "away0"),
    "erf": (gc.erf, "any"),
}
for _name, (_fn, _d) in EW_UNARY.items():
    for _s in UNARY_SHAPES:
        case(_name, fmt(_s), [_s], _fn, [_d])

# wider ranges: large arguments, values near the domain edges, the small-x forms
case("erf", "large", [("B", 4)], lambda a: gc.erf(a * 2.5))
case("erf", "chain", [("B", 4)], lambda a: a * gc.erf(a * 0.7071067811865476))  # gelu-like
case("arcsinh", "large", [(4,)], lambda a: gc.arcsinh(a * 1e3))
case("arctanh", "near-1", [(4,)], lambda a: gc.arctanh(gc.tanh(a) * 0.99))
case("arcsin", "near-1", [(4,)], lambda a: gc.arcsin(gc.tanh(a) * 0.99))
case("log1p", "small", [("B", 4)], lambda a: gc.log1p(a * 1e-3))
case("expm1", "small", [("B", 4)], lambda a: gc.expm1(a * 1e-3))
case("cbrt", "negative", [("B", 4)], lambda a: gc.cbrt(-a), ["pos"])
case("tan", "method", [("B", 4)], lambda a: gc.tan(a * 0.5) * gc.sin(a))

# binary: the broadcast grid of the table
EW_BINARY = {
    "hypot": (gc.hypot, "away0", "away0"),
    "arctan2": (gc.arctan2, "away0", "away0"),
    "remainder": (gc.remainder, "any", "pos"),
    "fmod": (gc.fmod, "any", "pos"),
}
for _name, (_fn, _da, _db) in EW_BINARY.items():
    for _sa, _sb in PAIRS:
        case(_name, f"{fmt(_sa)}x{fmt(_sb)}", [_sa, _sb], _fn, [_da, _db])
case("hypot", "x,1", [("B", 4)], lambda a: gc.hypot(a, 1.0))
case("hypot", "self", [("B", 4)], lambda a: gc.hypot(a, a * 0.5 + 0.3), ["pos"])
case("arctan2", "all-quadrants", [("B", 4), ("B", 4)],
     lambda y, x: gc.arctan2(y * 2.0, -x), ["away0", "away0"])
case("arctan2", "y,1", [(3, 4)], lambda y: gc.arctan2(y, 1.0))
case("remainder", "mod,negative-b", [("B", 4), (4,)], lambda a, b: gc.mod(a * 3.0, -b),
     ["any", "pos"])
case("remainder", "scalar-b", [("B", 4)], lambda a: gc.remainder(a * 3.0, 0.75))
case("fmod", "negative-b", [("B", 4), (4,)], lambda a, b: gc.fmod(a * 3.0, -b), ["any", "pos"])
case("fmod", "scalar-b", [("B", 4)], lambda a: gc.fmod(a * 3.0, 0.75))

# clip: a on the lattice, the bounds on the half lattice shifted by 1/16 for a_max, so a,
# a_min and a_max never tie within a step (a_min > a_max in places: a_max gets it there)
for _sa, _slo, _shi in [((3, 4), (3, 4), (3, 4)), (("B", 4), (4,), ()), (("B", 1, 4), (3, 1), ()),
                        ((), ("B", 4), (1, 4)), (("B", 4), ("B", 1), (4,))]:
    case("clip", f"{fmt(_sa)},{fmt(_slo)},{fmt(_shi)}", [_sa, _slo, _shi],
         lambda a, lo, hi: gc.clip(a, lo, hi + 0.0625),
         ["lattice", "lattice_half", "lattice_half"])
    case("clip", f"{fmt(_sa)},{fmt(_slo)},{fmt(_shi)},ordered", [_sa, _slo, _shi],
         lambda a, lo, hi: gc.clip(a, lo - 2.0, hi + 2.0625),
         ["lattice", "lattice_half", "lattice_half"])
case("clip", "scalars", [("B", 4)], lambda a: gc.clip(a, -0.3, 0.4), ["lattice"])
case("clip", "None,tensor", [("B", 4), (4,)], lambda a, hi: gc.clip(a, None, hi),
     ["lattice", "lattice_half"])
case("clip", "tensor,None", [("B", 4), ("B", 1)], lambda a, lo: gc.clip(a, lo),
     ["lattice", "lattice_half"])
case("clip", "None,None", [("B", 4)], lambda a: gc.clip(a) * a)
case("clip", "times-a", [("B", 4)], lambda a: gc.clip(a, -0.3, 0.4) * a, ["lattice"])
