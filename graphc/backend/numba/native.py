"""The numba side of the numba backend: numpy's own inner loops as native entry points, the
helpers generated kernels call, and the loading of a generated kernel module (cached on disk).

**numpy's inner loops.** pip's numba has no SVML: its ``tanh`` is scalar libm, about 9x slower
than numpy's SIMD loop, and not bit-identical to it. A kernel instead calls the very loop
``np.tanh`` runs, found in the ufunc's loop table (``PyUFuncObject.functions``) and
registered with LLVM under a fixed symbol name (``graphc_np_tanh_d``), so that a kernel
cached on disk refers to the name, which every process registers again on import. A loop is
used only when it takes no ``data`` pointer (a process address would be baked into the
code) and gives, on a probe vector, the same bits as the ufunc itself; otherwise the op is
left to numpy (``loop_symbol`` returns None).

**Kernel modules.** numba's ``cache=True`` needs a function's source file to be importable
and stable: a generated module is written once, content-addressed
(``graphc_nb_<sha>.py``), in the cache directory (``GRAPHC_NUMBA_CACHE_DIR``, else
``$XDG_CACHE_HOME/graphc/numba``), and numba's compiled code lands next to it.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import sys
import tempfile
import threading
from types import ModuleType

import llvmlite.binding as llb
import numba
import numpy as np
from numba import types
from numba.extending import overload

#: the ufuncs whose float32/float64 loops kernels may call (op name -> numpy ufunc name)
LOOP_UFUNCS = {
    "tanh": "tanh", "exp": "exp", "log": "log", "sin": "sin", "cos": "cos", "tan": "tan",
    "arcsin": "arcsin", "arccos": "arccos", "arctan": "arctan", "sinh": "sinh",
    "cosh": "cosh", "arcsinh": "arcsinh", "arctanh": "arctanh", "log1p": "log1p",
    "expm1": "expm1", "log2": "log2", "log10": "log10", "exp2": "exp2", "cbrt": "cbrt",
}

#: the offsets of ``functions``, ``data``, ``ntypes`` and ``types`` in numpy 2's
#: PyUFuncObject (64-bit); a wrong guess fails the probe, and the op stays with numpy
_OFFSETS = (32, 40, 48, 64)

_LOOP_SIG = types.void(types.intp, types.intp, types.intp, types.intp)
#: symbol name -> numba ExternalFunction (what generated modules import)
EXTERNALS: dict[str, types.ExternalFunction] = {}
_PROBED: dict[tuple[str, str], str | None] = {}
_LOCK = threading.RLock()


def _loop_address(uf: np.ufunc, char: str) -> int | None:
    """The address of ``uf``'s 1-D inner loop for all-``char`` operands, when it takes no
    data pointer; None otherwise."""
    if sys.maxsize <= 2**32 or not isinstance(uf, np.ufunc):
        return None
    functions, data, ntypes, typechars = (
        t.from_address(id(uf) + off).value for off, t in
        zip(_OFFSETS, (ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)))
    if ntypes != uf.ntypes or not functions or not typechars:
        return None
    sig = ctypes.string_at(typechars, uf.nargs * ntypes)
    want = np.dtype(char).num
    for k in range(ntypes):
        if all(c == want for c in sig[k * uf.nargs:(k + 1) * uf.nargs]):
            if data and ctypes.c_void_p.from_address(data + 8 * k).value:
                return None
            return ctypes.c_void_p.from_address(functions + 8 * k).value
    return None


def _probe(uf: np.ufunc, address: int, char: str) -> bool:
    """True when calling the loop at ``address`` gives ``uf``'s bits on a probe vector."""
    loop = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                            ctypes.c_void_p)(address)
    x = np.random.default_rng(0).uniform(-0.9, 0.9, 67).astype(char)
    out = np.empty_like(x)
    args = (ctypes.c_void_p * 2)(x.ctypes.data, out.ctypes.data)
    dims = (ctypes.c_ssize_t * 1)(x.size)
    steps = (ctypes.c_ssize_t * 2)(x.itemsize, x.itemsize)
    loop(args, dims, steps, None)
    with np.errstate(all="ignore"):
        want = uf(x)
    return bool(np.array_equal(out.view(np.uint8), want.view(np.uint8)))


def loop_symbol(op: str, dtype: np.dtype) -> str | None:
    """The symbol of numpy's inner loop for unary ``op`` on ``dtype`` (float32/float64),
    registered for kernels to call, or None when it cannot be used (see the module
    docstring)."""
    name = LOOP_UFUNCS.get(op)
    dtype = np.dtype(dtype)
    if name is None or dtype.char not in "fd":
        return None
    key = (name, dtype.char)
    with _LOCK:
        if key not in _PROBED:
            uf = getattr(np, name)
            address = _loop_address(uf, dtype.char)
            symbol = None
            if address is not None and _probe(uf, address, dtype.char):
                symbol = f"graphc_np_{name}_{dtype.char}"
                llb.add_symbol(symbol, address)
                EXTERNALS[symbol] = types.ExternalFunction(symbol, _LOOP_SIG)
            _PROBED[key] = symbol
        return _PROBED[key]


def external(op: str, char: str) -> types.ExternalFunction:
    """The registered loop of ``op`` on dtype ``char`` (what a kernel module imports)."""
    symbol = loop_symbol(op, np.dtype(char))
    if symbol is None:
        raise RuntimeError(f"graphc bug: no native loop for {op} ({char})")
    return EXTERNALS[symbol]


def as_scalar(x):
    """A 0-d value as a scalar, whether numpy passed a 0-d array or a scalar."""
    return x[()] if isinstance(x, np.ndarray) else x


@overload(as_scalar, inline="always")
def _as_scalar(x):
    if isinstance(x, types.Array):
        return lambda x: x[()]
    return lambda x: x


def contiguous(x):
    """``x`` as BLAS can read it: as it is when C or F contiguous, else a C copy."""
    return x if x.flags.c_contiguous or x.flags.f_contiguous else np.ascontiguousarray(x)


@overload(contiguous, inline="always")
def _contiguous(x):
    if x.layout in "CF":
        return lambda x: x
    return lambda x: np.ascontiguousarray(x)


#: a matmul whose inner dimension is at most this is loops, not BLAS: an outer product
#: (``x.T @ delta`` at batch size 1) costs BLAS's gemm more to set up than to compute
SMALL_K = 4

# ------------------------------------------------------------------------ numpy's gemm
#: CBLAS constants (row major; no transpose, transpose)
_ROW, _N, _T = 101, 111, 112


def _numpy_blas_path() -> str | None:
    """The OpenBLAS library numpy's wheel bundles (64-bit ints), or None."""
    import glob

    folder = os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs")
    paths = sorted(glob.glob(os.path.join(folder, "libscipy_openblas64_*.so*")))
    return paths[0] if paths else None


def _blas_thread_count():
    """A function returning how many threads numpy's BLAS uses (a C call), or None."""
    path = _numpy_blas_path()
    try:
        fn = ctypes.CDLL(path).scipy_openblas_get_num_threads64_ if path else None
    except (OSError, AttributeError):
        return None
    if fn is not None:
        fn.restype = ctypes.c_int
    return fn


_BLAS_THREADS = _blas_thread_count()


def loop_threads() -> int:
    """How many threads a large loop nest runs on: numba's thread count when numpy's BLAS
    runs on one thread, else 1. BLAS threads spin for a while after each call (OpenBLAS's
    default), and take the cores a parallel loop nest between two matmuls needs: measured on
    2 cores, the curve step at batch 4096 gained 20-30% from 2 threads with one BLAS thread,
    and nothing with two (and 10-20x slower steps with torch's and jax's pools in the same
    process)."""
    n = numba.get_num_threads()
    if n > 1 and (_BLAS_THREADS is None or _BLAS_THREADS() != 1):
        return 1
    return n


def _numpy_gemm() -> dict[str, types.ExternalFunction]:
    """numpy's own ``cblas_sgemm``/``cblas_dgemm`` (the OpenBLAS its wheel bundles: 64-bit
    ints, ``scipy_cblas_?gemm64_``), registered for kernels under fixed symbol names, so that
    a kernel's matmul is the very gemm the numpy backend's ``np.matmul`` calls (numba's own
    ``np.dot`` calls scipy's OpenBLAS, whose float32 gemm measured 1.6x slower at (32, 784) @
    (784, 256)). Empty when numpy's library or the symbols are not found: kernels then use
    numba's ``np.dot``."""
    path = _numpy_blas_path()
    found: dict[str, types.ExternalFunction] = {}
    if path is not None:
        try:
            lib = ctypes.CDLL(path)  # numpy has loaded it: the same handle
        except OSError:
            return {}
        for char, real in (("s", types.float32), ("d", types.float64)):
            try:
                address = ctypes.cast(getattr(lib, f"scipy_cblas_{char}gemm64_"),
                                      ctypes.c_void_p).value
            except AttributeError:
                return {}
            symbol = f"graphc_np_cblas_{char}gemm"
            llb.add_symbol(symbol, address)
            i32, i64 = types.int32, types.int64
            found[char] = types.ExternalFunction(symbol, types.void(
                i32, i32, i32, i64, i64, i64, real, types.intp, i64, types.intp, i64, real,
                types.intp, i64))
        return found
    return {}


GEMM = _numpy_gemm()


def _gemm_call(char: str):
    """A jitted ``gemm(a, b, out)``: out = a @ b by numpy's gemm, for a, b C or F contiguous
    and out C contiguous (the caller checks)."""
    fn = GEMM[char]
    one = np.float32(1) if char == "s" else np.float64(1)
    zero = np.float32(0) if char == "s" else np.float64(0)

    def gemm(a, b, out):
        m, k = a.shape
        n = b.shape[1]
        ta, lda = (_N, k) if a.flags.c_contiguous else (_T, m)
        tb, ldb = (_N, n) if b.flags.c_contiguous else (_T, k)
        fn(_ROW, ta, tb, m, n, k, one, a.ctypes.data, max(lda, 1), b.ctypes.data,
           max(ldb, 1), zero, out.ctypes.data, max(n, 1))
    return gemm


def matmul_into(a, b, out):
    """``a @ b`` (2-D) into ``out``: BLAS, or loops when the inner dimension is small."""
    np.matmul(a, b, out=out)


def _small_k(a, b, out):
    """``out = a @ b`` by loops, for an inner dimension of at most ``SMALL_K`` (in order)."""
    m, k = a.shape
    n = b.shape[1]
    if k == 0:
        out[:, :] = 0
        return
    for i in range(m):
        x = a[i, 0]
        for j in range(n):
            out[i, j] = x * b[0, j]
        for p in range(1, k):
            x = a[i, p]
            for j in range(n):
                out[i, j] += x * b[p, j]


@overload(matmul_into, inline="never")
def _matmul_into(a, b, out):
    from numba import njit

    small = njit(inline="always")(_small_k)
    char = {types.float32: "s", types.float64: "d"}.get(getattr(out, "dtype", None))
    if (char in GEMM and a.layout in "CF" and b.layout in "CF" and out.layout == "C"
            and a.dtype == b.dtype == out.dtype):
        gemm = njit(inline="always")(_gemm_call(char))

        def impl(a, b, out):
            if a.shape[1] <= SMALL_K:
                small(a, b, out)
            elif a.shape[0] and b.shape[1]:
                gemm(a, b, out)
        return impl

    def impl(a, b, out):
        if a.shape[1] <= SMALL_K:
            small(a, b, out)
        else:
            np.dot(contiguous(a), contiguous(b), out)
    return impl


# ------------------------------------------------------------------------------ modules


def _own_hash() -> str:
    """A hash of this file: kernel modules name it, because numba's cache of a kernel holds
    the helpers above compiled into it, and would not see them change."""
    with open(__file__, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:16]


#: the helpers' version (see ``_own_hash``)
HELPERS_HASH = _own_hash() + ("-npgemm" if GEMM else "")


def cache_dir() -> str:
    """Where generated kernel modules and numba's compiled code for them are kept."""
    path = os.environ.get("GRAPHC_NUMBA_CACHE_DIR")
    if not path:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        path = os.path.join(base, "graphc", "numba")
    return path


def load_module(text: str) -> ModuleType:
    """The generated kernel module with source ``text``: imported once per process, written
    once per cache directory under a name made of its content's hash (a file there with
    other content is written again before it is imported)."""
    name = "graphc_nb_" + hashlib.sha256(text.encode()).hexdigest()[:20]
    with _LOCK:
        mod = sys.modules.get(name)
        if mod is not None:
            return mod
        try:
            path = _write(cache_dir(), name, text)
        except OSError:  # no writable cache directory: this process's own (no disk cache)
            path = _write(tempfile.mkdtemp(prefix="graphc_numba_"), name, text)
        spec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        try:
            spec.loader.exec_module(mod)
        except BaseException:
            del sys.modules[name]
            raise
        return mod


def _write(folder: str, name: str, text: str) -> str:
    """``folder/name.py`` holding ``text`` (written atomically unless it already does)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name + ".py")
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == text:
                return path
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path
