"""Op-table rows for the elementwise math of issue 15 (trig, hyperbolic, logs and exps, erf,
hypot, arctan2, remainder/fmod, rounding, clip, isfinite/isnan, logical ops).

Executed in ``test_op_table.py``'s namespace (``row``, ``UNARY_SHAPES``, ``BINARY_SHAPES``,
``np``, ``gc``, ``math``). Each reference is an independent numpy formula where one exists
(sin as the imaginary part of exp(ix), arcsin through arctan2, ...); ops whose operands need
a domain build it in front of the op (``arcsin(tanh(x))``), and the reference does the same.
"""

# ruff: noqa: F821 - the names come from test_op_table.py's namespace

_LOG2 = math.log(2.0)
_LOG10 = math.log(10.0)
_erf_scalar = np.vectorize(math.erf, otypes=[np.float64])


def _like(v, a):
    """``v`` (maybe complex or float64) as an array of ``a``'s dtype."""
    return np.asarray(np.real_if_close(v) if np.iscomplexobj(v) else v).astype(a.dtype)


def _cis(a):
    return np.exp(1j * a.astype(np.float64))


def _arcsin(t):
    return np.arctan2(t, np.sqrt((1 - t) * (1 + t)))


EW_UNARY = {
    # op: (build, ref, data)
    "sin": (gc.sin, lambda B, a: _like(_cis(a).imag, a), "real"),
    "cos": (gc.cos, lambda B, a: _like(_cis(a).real, a), "real"),
    "tan": (gc.tan, lambda B, a: _like(_cis(a).imag / _cis(a).real, a), "real"),
    "arcsin": (lambda x: gc.arcsin(gc.tanh(x)), lambda B, a: _arcsin(np.tanh(a)), "real"),
    "arccos": (lambda x: gc.arccos(gc.tanh(x)),
               lambda B, a: np.asarray(np.pi / 2, a.dtype) - _arcsin(np.tanh(a)), "real"),
    "arctan": (gc.arctan, lambda B, a: np.arctan2(a, np.ones((), a.dtype)), "real"),
    "sinh": (gc.sinh, lambda B, a: (np.exp(a) - np.exp(-a)) / 2, "real"),
    "cosh": (gc.cosh, lambda B, a: (np.exp(a) + np.exp(-a)) / 2, "real"),
    "arcsinh": (gc.arcsinh, lambda B, a: np.sign(a) * np.log(np.abs(a) + np.sqrt(a * a + 1)),
                "real"),
    "arctanh": (lambda x: gc.arctanh(gc.tanh(x) * 0.9),
                lambda B, a: (lambda t: np.log((1 + t) / (1 - t)) / 2)(np.tanh(a) * 0.9),
                "real"),
    "log1p": (gc.log1p, lambda B, a: np.log(1 + a), "pos"),
    "expm1": (gc.expm1, lambda B, a: np.exp(a) - 1, "real"),
    "log2": (gc.log2, lambda B, a: _like(np.log(a) / _LOG2, a), "pos"),
    "log10": (gc.log10, lambda B, a: _like(np.log(a) / _LOG10, a), "pos"),
    "exp2": (gc.exp2, lambda B, a: _like(np.exp(a.astype(np.float64) * _LOG2), a), "real"),
    "reciprocal": (gc.reciprocal, lambda B, a: 1 / a, "pos"),
    "cbrt": (gc.cbrt, lambda B, a: _like(np.sign(a) * np.abs(a.astype(np.float64)) ** (1 / 3),
                                         a), "real"),
    "erf": (gc.erf, lambda B, a: _like(_erf_scalar(a.astype(np.float64)), a), "real"),
    # piecewise constant: the "int" data hold integers; halves come from * 0.5
    "floor": (lambda x: gc.floor(x * 0.5), lambda B, a: (a * 0.5) - (a * 0.5) % 1, "int"),
    "ceil": (lambda x: gc.ceil(x * 0.5), lambda B, a: -((-(a * 0.5)) - (-(a * 0.5)) % 1),
             "int"),
    "trunc": (lambda x: gc.trunc(x * 1.5), lambda B, a: np.fix(a * 1.5), "int"),
    # half to even: -1, -0.5, 0, 0.5, 1 -> -1, -0, 0, 0, 1
    "round": (lambda x: gc.round(x * 0.5), lambda B, a: np.rint(a * 0.5), "int"),
}
for _op, (_fn, _ref, _kind) in EW_UNARY.items():
    for _s in UNARY_SHAPES:
        row(_op, _fn, _ref, [_s], [_kind])

row("round", lambda x: gc.round(x * 100.0, decimals=-1), lambda B, a: np.round(a * 100.0, -1),
    [("B", 4)], label="decimals=-1")
row("round", lambda x: gc.round(x, 2), lambda B, a: np.rint(a * 100) / 100, [(3, 4)],
    label="decimals=2")
row("erf", lambda x: gc.erf(x * 3.0), lambda B, a: _like(_erf_scalar(a * 3.0), a),
    [("B", 4)], label="x3")


def _remainder(a, b):
    return a - b * np.floor(a / b)


def _fmod(a, b):
    return a - b * np.trunc(a / b)


EW_BINARY = {
    "hypot": (gc.hypot, lambda B, a, b: np.sqrt(a * a + b * b), ("real", "real")),
    "arctan2": (gc.arctan2, lambda B, a, b: _like(np.angle(b + 1j * a), a + b),
                ("real", "real")),
    "remainder": (gc.remainder, lambda B, a, b: _remainder(a, b), ("real", "pos")),
    "fmod": (gc.fmod, lambda B, a, b: _fmod(a, b), ("real", "pos")),
    "logical_and": (gc.logical_and, lambda B, a, b: (a != 0) & (b != 0), ("int", "int")),
    "logical_or": (gc.logical_or, lambda B, a, b: (a != 0) | (b != 0), ("int", "int")),
    "logical_xor": (gc.logical_xor, lambda B, a, b: (a != 0) != (b != 0), ("int", "int")),
}
for _op, (_fn, _ref, _kinds) in EW_BINARY.items():
    for _s in BINARY_SHAPES:
        row(_op, _fn, _ref, _s, _kinds)

# the sign rules: remainder takes b's sign, fmod a's
row("remainder", lambda a, b: gc.mod(a, -b), lambda B, a, b: _remainder(a, -b),
    [("B", 4), (4,)], ["real", "pos"], label="mod,negative-b")
row("fmod", lambda a, b: gc.fmod(a, -b), lambda B, a, b: _fmod(a, -b), [("B", 4), (4,)],
    ["real", "pos"], label="negative-b")
row("logical_and", gc.logical_and, lambda B, a, b: a & b, [("B", 4), (4,)], ["bool", "bool"],
    label="bool")
row("logical_xor", gc.logical_xor, lambda B, a, b: a != (b != 0), [("B", 1), (4,)],
    ["bool", "real"], label="bool,real")

for _s in UNARY_SHAPES:
    row("logical_not", gc.logical_not, lambda B, a: a == 0, [_s], ["int"])
row("logical_not", gc.logical_not, lambda B, a: ~a, [("B", 4)], ["bool"], label="bool")


def _specials(x):
    """x with nan where x > 0.6, +inf where x < -0.6, -inf where -0.6 <= x < -0.3 (built with
    where: no numpy warning)."""
    return gc.where(x > 0.6, np.nan, gc.where(x < -0.6, np.inf, gc.where(x < -0.3, -np.inf, x)))


def _specials_ref(a):
    return np.where(a > 0.6, np.nan, np.where(a < -0.6, np.inf, np.where(a < -0.3, -np.inf, a)))


for _s in UNARY_SHAPES:
    row("isfinite", lambda x: gc.isfinite(_specials(x)),
        lambda B, a: np.abs(_specials_ref(a)) < np.inf, [_s])
    row("isnan", lambda x: gc.isnan(_specials(x)),
        lambda B, a: _specials_ref(a) != _specials_ref(a), [_s])
row("isfinite", gc.isfinite, lambda B, a: np.ones(a.shape, bool), [("B", 4)], [("idx", 5)],
    label="int")


# clip: every combination of absent, scalar and tensor bounds, broadcast
def _clip_ref(a, lo, hi):
    out = a if lo is None else np.where(a < lo, lo, a)
    return out if hi is None else np.where(out > hi, hi, out)


for _sa, _slo, _shi in [((3, 4), (3, 4), (3, 4)), (("B", 4), (4,), ()), (("B", 1, 4), (3, 1), ()),
                        ((), ("B", 4), (1, 4)), (("B", 4), ("B", 1), (4,))]:
    row("clip", lambda a, lo, hi: gc.clip(a, lo, hi + 1.0),
        lambda B, a, lo, hi: _clip_ref(a, lo, hi + 1), [_sa, _slo, _shi],
        label="tensor,tensor")
    row("clip", lambda a, lo, hi: gc.clip(a, lo, hi),  # a_min > a_max in places: a_max wins
        lambda B, a, lo, hi: _clip_ref(a, lo, hi), [_sa, _slo, _shi], ["int"] * 3,
        label="crossed")
for _s in UNARY_SHAPES:
    row("clip", lambda a: gc.clip(a, -0.5, 0.75), lambda B, a: _clip_ref(a, -0.5, 0.75), [_s],
        label="scalars")
row("clip", lambda a: gc.clip(a, None, 0.25), lambda B, a: _clip_ref(a, None, 0.25),
    [("B", 4)], label="None,scalar")
row("clip", lambda a: gc.clip(a, 0.25, None), lambda B, a: _clip_ref(a, 0.25, None),
    [("B", 4)], label="scalar,None")
row("clip", lambda a, hi: gc.clip(a, None, hi), lambda B, a, hi: _clip_ref(a, None, hi),
    [("B", 4), (4,)], label="None,tensor")
row("clip", lambda a, lo: gc.clip(a, lo), lambda B, a, lo: _clip_ref(a, lo, None),
    [("B", 1), (3,)], label="tensor,None")
row("clip", lambda a: gc.clip(a), lambda B, a: a + 0, [("B", 4)], label="None,None")
row("clip", lambda a: gc.clip(a, 1, 3), lambda B, a: _clip_ref(a, 1, 3), [("B", 4)],
    [("idx", 5)], label="int")
