"""Backends: the program compiled to a callable (``compile``, ``Function``), and the backends
that lower, plan and emit it (``base.Backend``; ``numpy``, the default)."""

from graphc.backend.base import Backend, Compiled, get_backend, register_backend
from graphc.backend.numpy import NumpyBackend

register_backend("numpy", NumpyBackend)

__all__ = ["Backend", "Compiled", "NumpyBackend", "get_backend", "register_backend"]
