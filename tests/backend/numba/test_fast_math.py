"""The fast transcendental functions of the numba backend (``fastmath``): their error in ulp
against a more precise reference (long double for float64, float64 for float32) over dense
sweeps, random magnitudes and the special values; and that a kernel's loop calling them
vectorizes, computes float32 in float32, and gives the scalar calls' results."""

import re

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from graphc.backend.numba import fastmath as fm  # noqa: E402

OPS = {"tanh": np.tanh, "exp": np.exp, "sigmoid": lambda x: 1 / (1 + np.exp(-x))}
REF_TYPE = {"d": np.longdouble, "f": np.float64}
TYPE = {"d": np.float64, "f": np.float32}
_LOOPS = {}


def _loop(op, char):
    """A jitted loop ``out[i] = f(a[i])`` over the fast function (compiled once per key)."""
    if (op, char) not in _LOOPS:
        f = fm.FAST[(op, char)]

        @numba.njit
        def loop(a, out):
            for i in range(a.shape[0]):
                out[i] = f(a[i])

        _LOOPS[op, char] = loop
    return _LOOPS[op, char]


def fast(op, char, x):
    """The fast function over the array x (of the function's type)."""
    out = np.empty_like(x)
    _loop(op, char)(x, out)
    return out


def ulp_errors(op, char, x):
    """(error in ulp of the result's type, fast result, reference) for each x."""
    ty, rty = TYPE[char], REF_TYPE[char]
    got = fast(op, char, x)
    with np.errstate(over="ignore", under="ignore"):
        ref = OPS[op](x.astype(rty))
        rounded = ref.astype(ty)
    # results that overflow the type must be exactly inf; they are not counted in ulp
    over = np.isinf(rounded) & np.isfinite(ref)
    assert np.array_equal(got[over], rounded[over]), f"{op}/{char}: overflow not inf"
    keep = ~over & np.isfinite(ref)
    err = np.zeros(x.shape, dtype=rty)
    err[keep] = (np.abs(got[keep].astype(rty) - ref[keep])
                 / np.spacing(np.abs(rounded[keep])).astype(rty))
    return err, got, ref


def log_uniform(rng, lo, hi, n, dtype):
    """n values with log10-uniform magnitudes in [10**lo, 10**hi] and random signs."""
    mag = 10.0 ** rng.uniform(lo, hi, n)
    return (mag * rng.choice([-1.0, 1.0], n)).astype(dtype)


def around(points, width, n, dtype):
    """n points spread over [p - width, p + width] for each p (branch thresholds)."""
    return np.concatenate([np.linspace(p - width, p + width, n) for p in points]).astype(dtype)


def inputs(op, char, rng):
    """The sweep for one function: dense, near its thresholds, random magnitudes."""
    ty = TYPE[char]
    tiny = float(np.finfo(ty).tiny)
    if op == "tanh":
        sat = 20.0 if char == "d" else 10.0
        parts = [np.linspace(-30, 30, 2_000_001),
                 # where n = rint(2|x| / ln2) steps
                 around([k * np.log(2) / 4 for k in (-5, -3, -1, 1, 3, 5)], 1e-3, 10_000, ty),
                 around([sat, -sat, 19.06, 9.01, 2.0**-28, 2.0**-13], 0.05, 5_000, ty),
                 around([-np.arctanh(0.5), np.arctanh(0.5)], 1e-4, 10_000, ty),
                 log_uniform(rng, np.log10(tiny) - 6, 2, 400_000, ty)]
    elif op == "exp":
        lo, hi = (-746.0, 710.0) if char == "d" else (-104.0, 89.0)
        under = float(np.log(tiny))  # results below here are subnormal
        parts = [np.linspace(lo - 5, hi + 5, 2_000_001),
                 around([0.0], 1e-3, 100_000, ty),
                 around([hi - 0.3, under - 10, lo + 0.9], 0.5, 50_000, ty),
                 log_uniform(rng, -20, np.log10(hi), 400_000, ty)]
    else:
        lo = -746.0 if char == "d" else -104.0
        parts = [np.linspace(lo, 40, 2_000_001), around([0.0], 1e-3, 100_000, ty),
                 log_uniform(rng, -20, np.log10(-lo), 400_000, ty)]
    return np.concatenate(parts).astype(ty)


@pytest.mark.parametrize("op,char", sorted(fm.FAST))
def test_ulp_bound(op, char):
    if char == "d" and np.finfo(np.longdouble).nmant < 60:
        pytest.skip("long double is no more precise than float64 here")
    x = inputs(op, char, np.random.default_rng(17))
    err, got, _ = ulp_errors(op, char, x)
    worst = int(np.argmax(err))
    assert err[worst] <= fm.ULP_BOUND[op, char], (
        f"{op}/{char}: {float(err[worst]):.3f} ulp at x = {x[worst]!r}")
    if op in ("tanh", "sigmoid"):
        assert np.all(np.abs(got) <= 1) and (op == "tanh" or np.all(got >= 0))


@pytest.mark.parametrize("op,char", sorted(fm.FAST))
def test_monotone(op, char):
    """Non-decreasing over the sorted sweep (ties allowed), across every branch switch."""
    x = np.unique(inputs(op, char, np.random.default_rng(5)))
    x = x[np.isfinite(x)]
    with np.errstate(invalid="ignore"):  # inf - inf past exp's overflow
        steps = np.diff(fast(op, char, x))
    bad = np.flatnonzero(steps < 0)
    assert bad.size == 0, f"{op}/{char}: decreases after x = {x[bad[:5]]}"


SPECIAL = {
    "tanh": [(0.0, 0.0), (-0.0, -0.0), (np.inf, 1.0), (-np.inf, -1.0), (np.nan, np.nan),
             (5e-324, 5e-324), (-5e-324, -5e-324), (1e-310, 1e-310), (1e-20, 1e-20),
             (-1e-40, -1e-40), (1e300, 1.0), (-1e300, -1.0), (25.0, 1.0)],
    "exp": [(0.0, 1.0), (-0.0, 1.0), (-np.inf, 0.0), (np.inf, np.inf), (np.nan, np.nan),
            (1e300, np.inf), (710.0, np.inf), (-1e300, 0.0), (-760.0, 0.0), (1e-300, 1.0),
            (-1e-300, 1.0)],
    "sigmoid": [(0.0, 0.5), (-0.0, 0.5), (np.inf, 1.0), (-np.inf, 0.0), (np.nan, np.nan),
                (1e300, 1.0), (-1e300, 0.0), (-760.0, 0.0), (800.0, 1.0)],
}


@pytest.mark.parametrize("op,char", sorted(fm.FAST))
def test_special_values(op, char):
    ty = TYPE[char]
    with np.errstate(over="ignore", under="ignore"):
        x = np.array([v for v, _ in SPECIAL[op]], dtype=ty)
        want = np.array([w for _, w in SPECIAL[op]], dtype=ty)
        got = fast(op, char, x)
    assert np.array_equal(got, want, equal_nan=True), f"{op}/{char}: {x} -> {got}"
    zero = want == 0
    assert np.array_equal(np.signbit(got[zero]), np.signbit(want[zero])), f"{op}/{char}: -0"


@pytest.mark.parametrize("char", "df")
def test_exp_subnormal_results(char):
    """exp keeps subnormal results (no flush to zero) within the bound, in subnormal ulps."""
    ty = TYPE[char]
    sub = np.log(float(np.finfo(ty).smallest_subnormal))
    x = np.linspace(sub + 0.5, np.log(float(np.finfo(ty).tiny)) - 1e-4, 20_001).astype(ty)
    if char == "d" and np.finfo(np.longdouble).nmant < 60:
        pytest.skip("long double is no more precise than float64 here")
    err, got, _ = ulp_errors("exp", char, x)
    assert np.all(got > 0) and np.all(got < np.finfo(ty).tiny)
    assert err.max() <= fm.ULP_BOUND["exp", char]


@pytest.mark.parametrize("op,char", sorted(fm.FAST))
def test_kernel_loop_matches_scalar_calls(op, char):
    """A fused kernel loop (``out[i] = f(a[i] + b[i])``) gives the scalar calls' bits."""
    ty = TYPE[char]
    f = fm.FAST[op, char]

    @numba.njit
    def kernel(a, b, out):
        for i in range(a.shape[0]):
            out[i] = f(a[i] + b[i])

    rng = np.random.default_rng(3)
    a, b = (rng.normal(0, 3, 1001).astype(ty) for _ in range(2))
    out = np.empty_like(a)
    kernel(a, b, out)
    scalar = np.array([f(s) for s in a + b], dtype=ty)
    assert np.array_equal(out, scalar)


@pytest.mark.parametrize("op,char", sorted(fm.FAST))
def test_loop_vectorizes_in_its_own_type(op, char):
    """The calling loop has vector instructions, no call, and float32 stays float32."""
    ty = TYPE[char]
    loop = _loop(op, char)
    loop(np.ones(4, ty), np.empty(4, ty))
    llvm = loop.inspect_llvm((numba.typeof(np.ones(4, ty)),) * 2)
    body = _native_body(llvm, "loop")
    elem = "double" if char == "d" else "float"
    assert re.search(rf"<\d+ x {elem}>", body), f"{op}/{char}: the loop did not vectorize"
    called = set(re.findall(r"call [^@\n]*@([\w.$]+)", body))
    # LLVM's math intrinsics (llvm.exp.*) become scalar libm calls without a vector library
    libm = re.compile(r"llvm\.(exp|exp2|exp10|log|log2|log10|pow|a?sin|a?cos|a?tan|a?sinh"
                      r"|a?cosh|a?tanh|atan2)\.")
    assert all(n.startswith("llvm.") and not libm.match(n) for n in called), (
        f"{op}/{char}: calls {called}")
    if char == "f":
        assert "fpext" not in body and not re.search(r"f(add|mul|div) (<\d+ x )?double", body)


def _native_body(llvm, name):
    """The LLVM IR text of the native (not the CPython wrapper's) function named ``name``."""
    for m in re.finditer(r"^define [^\n]*@(\S+?)\(.*?^}$", llvm, re.M | re.S):
        if name in m.group(1) and not m.group(1).startswith(("cpython.", "cfunc.")):
            return m.group(0)
    raise AssertionError(f"no native function {name!r} in the module")


# ------------------------------------------------------------------ the backend's fast_math


def _fast_program(dtype):
    import graphc as gc

    rng = np.random.default_rng(3)
    g = gc.Graph("fast")
    x = g.input("x", ("B", 6), dtype)
    W = g.param("W", (rng.standard_normal((6, 6)) / 3).astype(dtype))
    h = gc.tanh(x @ W + 0.5)
    out = gc.sigmoid(h * 3.0) + gc.exp(h - 1.0)
    loss = gc.sum(out * out)
    return g, x, W, out, loss


@pytest.mark.parametrize("char", ["d", "f"])
def test_fast_math_backend_within_the_bound_of_the_exact_backend(char):
    """NumbaBackend(fast_math=True): tanh, sigmoid and exp are graphc's functions, inline in
    the loop nests (sigmoid becomes native too); the results are within a few ulp of the
    exact backend's per op, and the training step's gradients agree to the same order."""
    import graphc as gc
    from graphc.backend.numba import NumbaBackend

    dtype = TYPE[char]
    g, x, W, out, loss = _fast_program(dtype)
    gW = gc.grad(loss, [W])[0]
    fast = gc.compile([out, gW], [x], backend=NumbaBackend(fast_math=True))
    exact = gc.compile([out, gW], [x], backend="numba")
    kernels = fast.source.split("# native kernels")[1]
    for name in (f"tanh_f{64 if char == 'd' else 32}", f"sigmoid_f{64 if char == 'd' else 32}"):
        assert name in kernels
    assert "tanh_d" not in kernels and "tanh_f =" not in kernels  # not numpy's loop
    X = np.random.default_rng(4).standard_normal((7, 6)).astype(dtype)
    (o_f, g_f), (o_e, g_e) = fast(X), exact(X)
    assert o_f.dtype == dtype and g_f.dtype == dtype
    eps = np.finfo(dtype).eps
    # three ops in a row, each within 3 ulp, through well-conditioned arithmetic
    np.testing.assert_allclose(o_f, o_e, rtol=40 * eps)
    np.testing.assert_allclose(g_f, g_e, rtol=2000 * eps, atol=200 * eps * np.abs(g_e).max())
    assert not np.array_equal(o_f, o_e) or char == "f"  # really other code (f64: not numpy's bits)
