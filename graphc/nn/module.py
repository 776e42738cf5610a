"""``Module``: a layer declared as a small dataclass; parameters made on the first call."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np

from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.nn.init import Initializer, as_generator


@dataclasses.dataclass(eq=False, repr=False)
class Module:
    """Base of the layers. Subclasses are ``@dataclass(eq=False, repr=False)`` declarations
    (identity equality, the base's short repr) whose fields are the fixed configuration;
    they create their parameters in ``build(x)`` (with ``self.param``) and compute in
    ``forward(x)``.

    Parameters live in the graph of the first tensor the module is called on, under the
    module's scope (``mlp/0/W``); the ops it builds carry ``meta["scope"]`` for diagrams.
    ``name`` defaults to the lower-cased class name, made unique within the graph.
    ``rng`` (a numpy Generator or an int seed; default seed 0) draws the initial values.
    """

    name: str | None = dataclasses.field(default=None, kw_only=True)
    rng: np.random.Generator | int | None = dataclasses.field(default=None, kw_only=True,
                                                              repr=False)

    def __post_init__(self) -> None:
        self.rng = as_generator(self.rng)
        self._graph: Graph | None = None
        self._local: str | None = None
        #: the full scope (``mlp/0``) once bound to a graph
        self.scope: str | None = None
        self._params: dict[str, Tensor] = {}

    def __repr__(self) -> str:
        # equinox-like: the configuration, leaving out fields still at their default
        shown = []
        for f in dataclasses.fields(self):
            if not f.repr or not f.init:
                continue
            v = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and (v is f.default or v == f.default):
                continue
            fn_name = getattr(v, "__name__", None) if callable(v) else None
            shown.append(f"{f.name}={fn_name or repr(v)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ subclass API
    def build(self, x: Tensor) -> None:
        """Create the parameters (``self.param``) for an input like ``x``; default: none."""

    def forward(self, x: Tensor) -> Tensor:
        """The computation."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x)")

    def param(self, name: str, init: Initializer, shape: tuple[int, ...], dtype: Any = None,
              trainable: bool = True) -> Tensor:
        """A parameter ``<scope>/<name>`` drawn by ``init(self.rng, shape, dtype)``."""
        if self._graph is None:
            raise RuntimeError("Module.param can only be used inside build()")
        value = init(self.rng, tuple(shape), np.float64 if dtype is None else dtype)
        t = self._graph.param(name, value, dtype=dtype, trainable=trainable)
        self._params[name] = t
        return t

    # ---------------------------------------------------------------------- calling
    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} takes a graphc Tensor, got "
                            f"{type(x).__name__} (declare it with g.input(...))")
        g = x.graph
        if self._graph is not None and self._graph is not g:
            raise ValueError(
                f"{type(self).__name__} {self.scope!r} was built in graph {self._graph.name!r}; "
                f"it cannot be called on a tensor of graph {g.name!r} (make a new module)"
            )
        first = self._graph is None
        if first:
            self._local = self._free_name(g)
            self._graph = g
            self.scope = g.scoped(self._local)
        try:
            # children built on the first call nest under this scope
            with g.name_scope(self._local), g.annotate(scope=self.scope):
                if first:
                    self.build(x)
                return self.forward(x)
        except BaseException:
            if first and not self._owns_params():
                # nothing was created: a failed first call leaves the module unbound
                self._graph = self._local = self.scope = None
            raise

    def _owns_params(self) -> bool:
        return bool(self._params) or any(c._graph is not None and c._owns_params()
                                         for c in self.children())

    def _free_name(self, g: Graph) -> str:
        if self.name is not None:
            return self.name
        base = type(self).__name__.lower()
        taken = {k for k in g.params} | {k for k in g.inputs} | {k for k in g.outputs}

        def used(local: str) -> bool:
            s = g.scoped(local)
            return any(k == s or k.startswith(s + "/") for k in taken)

        name, k = base, 0
        while used(name):
            k += 1
            name = f"{base}_{k}"
        self.name = name
        return name

    # ------------------------------------------------------------------- parameters
    @property
    def graph(self) -> Graph | None:
        """The graph the module's parameters live in (None before the first call)."""
        return self._graph

    def children(self) -> Iterator[Module]:
        """Sub-modules held in fields (directly or in lists/tuples), in field order."""
        for v in vars(self).values():
            if isinstance(v, Module):
                yield v
            elif isinstance(v, (list, tuple)):
                yield from (m for m in v if isinstance(m, Module))

    def named_parameters(self) -> dict[str, Tensor]:
        """Parameters of this module and its children, by full graph name (``mlp/0/W``)."""
        if self._graph is None:
            raise RuntimeError(
                f"{type(self).__name__} has no parameters yet: they are created in the graph of "
                "the first tensor it is called on (call it once, e.g. model(x))"
            )
        out = {t.name: t for t in self._params.values()}
        for child in self.children():
            if child.graph is not None:
                out.update(child.named_parameters())
        return out

    def parameters(self) -> list[Tensor]:
        """Parameters (trainable and not) of this module and its children."""
        return list(self.named_parameters().values())

    def trainable_parameters(self) -> list[Tensor]:
        """The trainable parameters only (what an optimiser updates)."""
        return [t for t in self.parameters() if t.node.attr["trainable"]]

    def values(self) -> dict[str, np.ndarray]:
        """Current parameter values (copies), by full name."""
        names = self.named_parameters()  # raises the "no parameters yet" error when unbound
        return {k: self._graph.params[k].copy() for k in names}


__all__ = ["Module"]
