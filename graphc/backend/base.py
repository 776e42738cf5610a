"""The backend interface: what ``gc.compile`` needs from a backend, and the registry of them.

A backend turns an optimised ``Program`` into the source of one Python function,
``fn(P, *inputs) -> outputs`` (``P``: the graph's params dict), and the namespace it runs in.
It does so in three steps, each its own module in the numpy backend:

* **lowering**: choose a kernel per node (``graphc.backend.numpy.lower``; the op blocks
  register their kernel variants as ``OpDef.kernels``);
* **planning**: liveness, buffer reuse, in place, the commits of the updates
  (``graphc.backend.numpy.memory``);
* **emitting**: the source text, one commented line per node (``graphc.backend.numpy.codegen``).

Whatever the backend, ``Function`` gives the same semantics: updates committed after
everything is computed, errors at the user's line (``LINE_NODES`` in the namespace maps a
source line to its node), pickling by recompiling, thread safety.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphc.ir.program import Program


@dataclass
class Compiled:
    """A backend's result: the function's source, its namespace (``graphc_fn`` is defined by
    executing the source in it; ``LINE_NODES``: source line -> node) and the backend's plan
    (for reports and tests; ``Function.plan``)."""

    source: str
    namespace: dict[str, Any]
    plan: Any = None


class Backend:
    """A compilation target for programs (see the module docstring)."""

    name = "?"

    def compile(self, prog: Program, memory: bool = True,
                check_finite: bool | str = False) -> Compiled:
        """Lower, plan and emit ``prog``. ``memory=False``: no buffer reuse (every op
        allocates); ``check_finite``: as ``gc.compile``'s."""
        raise NotImplementedError


_BACKENDS: dict[str, Callable[[], Backend]] = {}


def register_backend(name: str, factory: Callable[[], Backend]) -> None:
    """Make ``gc.compile(..., backend=name)`` use ``factory()`` (an optional backend registers
    itself when its module is imported, so the core never imports an extra)."""
    _BACKENDS[name] = factory


def get_backend(name: str | Backend) -> Backend:
    """The backend called ``name`` (or ``name`` itself when it is a ``Backend`` instance, for
    a backend with options, such as ``DaskBackend(chunks=...)``), or a ValueError naming the
    known ones."""
    if isinstance(name, Backend):
        return name
    if not isinstance(name, str) or name not in _BACKENDS:
        raise ValueError(f"unknown backend {name!r}; the backends are "
                         f"{', '.join(map(repr, sorted(_BACKENDS)))}")
    return _BACKENDS[name]()
