"""backend="auto": numba when it is installed, numpy otherwise; backend="numba" without numba
is a clear ImportError (numba blocked in a fresh interpreter)."""

import subprocess
import sys

import numpy as np

import graphc as gc

BLOCKED = ("import sys; sys.modules['numba'] = None\n"   # import numba raises ImportError
           "import numpy as np, graphc as gc\n"
           "g = gc.Graph(); x = g.input('x', ('B',)); y = gc.tanh(x) * 2\n")


def test_auto_compiles_and_agrees_with_numpy():
    g = gc.Graph()
    x = g.input("x", ("B",))
    y = gc.tanh(x) * 2
    f = gc.compile(y, backend="auto")
    xs = np.linspace(-2, 2, 7)
    np.testing.assert_array_equal(f(xs), gc.compile(y)(xs))
    try:
        import numba  # noqa: F401
    except ImportError:
        assert "numba" not in f.source
    else:
        assert "numba" in f.source.lower()  # the numba backend's driver names its kernels


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCKED + code], capture_output=True,
                          text=True)


def test_without_numba_auto_is_numpy_and_numba_is_a_clear_error():
    r = _run("f = gc.compile(y, backend='auto'); print(f(np.ones(2)).tolist())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str((np.tanh(np.ones(2)) * 2).tolist())
    r = _run("gc.compile(y, backend='numba')")
    assert r.returncode != 0
    assert "ImportError: backend='numba' needs numba: pip install 'graphc[numba]'" in r.stderr
