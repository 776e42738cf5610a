"""Backends: the program compiled to a callable (``compile``, ``Function``), and the backends
that lower, plan and emit it (``base.Backend``; ``numpy``, the default; ``numba`` and ``dask``,
optional: each imports its extra only when a program is compiled for it; ``auto``: numba
when installed, else numpy)."""

from graphc.backend.base import Backend, Compiled, get_backend, register_backend
from graphc.backend.numpy import NumpyBackend


def _numba_backend() -> Backend:
    from graphc.backend.numba import NumbaBackend  # needs `pip install graphc[numba]`
    return NumbaBackend()


def _auto_backend() -> Backend:
    """numba when it is installed (it compiles every graph: what it cannot lower natively
    runs as the numpy backend's lines), else numpy."""
    try:
        return _numba_backend()
    except ImportError:
        return NumpyBackend()


def _dask_backend() -> Backend:
    from graphc.backend.dask import DaskBackend  # needs `pip install graphc[dask]`
    return DaskBackend()


register_backend("numpy", NumpyBackend)
register_backend("numba", _numba_backend)
register_backend("dask", _dask_backend)
register_backend("auto", _auto_backend)

__all__ = ["Backend", "Compiled", "NumpyBackend", "get_backend", "register_backend"]
