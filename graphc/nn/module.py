"""``Module``: a layer declared as a small dataclass; parameters made on the first call."""

from __future__ import annotations

import dataclasses
import threading
import types
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from graphc.ir.graph import Graph
from graphc.ir.tensor import Tensor
from graphc.nn.init import Initializer, as_generator

#: the base's own attributes: never searched for sub-modules
_INTERNAL = frozenset({"name", "rng", "scope", "training", "_graph", "_local", "_params",
                       "_explicit"})
#: values that cannot hold a module (or are not worth searching)
_LEAVES = (str, bytes, int, float, complex, np.ndarray, np.generic, np.random.Generator, Tensor,
           Graph, type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType,
           types.MethodType)
#: how deep the search for hidden modules looks inside other objects
_HIDDEN_DEPTH = 4
_calls = threading.local()


def _calling() -> list[Module]:
    """The modules whose call is in progress in this thread, innermost last."""
    if not hasattr(_calls, "stack"):
        _calls.stack = []
    return _calls.stack


@dataclasses.dataclass(eq=False, repr=False)
class Module:
    """Base of the layers. Subclasses are ``@dataclass(eq=False, repr=False)`` declarations
    (identity equality, the base's short repr) whose fields are the fixed configuration;
    they create their parameters in ``build(*args, **kwargs)`` (with ``self.param``) and
    compute in ``forward(*args, **kwargs)``, which take what the module is called with.

    Parameters live in the graph of the first tensor the module is called on, under the
    module's scope; the ops it builds carry ``meta["scope"]`` for diagrams. Sub-modules are
    found in attributes and in lists, tuples and dicts (string keys) inside them, nested too;
    a module held anywhere else (a set, another object) is a TypeError at the first call.
    A sub-module's scope is its attribute path in the module that calls it (``net/l1``,
    ``net/layers/a``, ``net/blocks/0``), as in torch's ``state_dict``; a top-level module's
    is the lower-cased class name made unique in the graph (``mlp``, ``linear_1``). An
    explicit ``name`` replaces either (``MLP`` names its layers ``0, 1, ...``: ``mlp/0/W``).
    ``rng`` (a numpy Generator or an int seed; default seed 0) draws the initial values.

    **Training and evaluation modes.** ``module.train()`` / ``module.eval()`` (torch's API:
    ``train(False)`` is ``eval()``; both return the module) set ``training`` on the module
    and every sub-module; a new module is in training mode. Layers read the mode when they
    *build* their forward graph: graphs are static, so the mode is fixed per call of the
    module. ``Dropout`` drops only in training mode; ``BatchNorm1d``/``BatchNorm2d`` use the
    batch statistics and update their running statistics in training mode (the update is
    registered with ``Graph.add_state_updates``, so a function compiled from that output
    commits it, as ``gc.nn.fit`` does), and the running statistics in evaluation mode. To
    get both a training loss and an evaluation output, call the model once in each mode::

        loss = gc.nn.cross_entropy(model.train()(x), labels)   # batch statistics, dropout
        scores = model.eval()(x)                               # running statistics
        model.train()                                          # (the mode of later calls)

    Both graphs share the params (they are made on the first call).
    """

    #: the mode layers read when they build their graph (``train()`` / ``eval()``)
    training = True

    name: str | None = dataclasses.field(default=None, kw_only=True)
    rng: np.random.Generator | int | None = dataclasses.field(default=None, kw_only=True,
                                                              repr=False)

    def __post_init__(self) -> None:
        self.rng = as_generator(self.rng)
        self._graph: Graph | None = None
        self._local: str | None = None
        self._explicit = False
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
            if f.default is not dataclasses.MISSING and _same(v, f.default):
                continue
            fn_name = getattr(v, "__name__", None) if callable(v) else None
            shown.append(f"{f.name}={fn_name or repr(v)}")
        return f"{type(self).__name__}({', '.join(shown)})"

    # ------------------------------------------------------------------ subclass API
    def build(self, *args: Any, **kwargs: Any) -> None:
        """Create the parameters (``self.param``) for inputs like these; default: none."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The computation."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(...)")

    def param(self, name: str, init: Initializer, shape: tuple[int, ...], dtype: Any = None,
              trainable: bool = True) -> Tensor:
        """A parameter ``<scope>/<name>`` drawn by ``init(self.rng, shape, dtype)``."""
        if self._graph is None:
            raise RuntimeError("Module.param can only be used inside build()")
        value = init(self.rng, tuple(shape), np.float64 if dtype is None else dtype)
        t = self._graph.param(name, value, dtype=dtype, trainable=trainable)
        self._params[name] = t
        return t

    # ------------------------------------------------------------------------ modes
    def train(self, mode: bool = True) -> Module:
        """Set training mode (``mode=False``: evaluation mode) on this module and every
        sub-module, for the calls that follow (a graph already built keeps its mode).
        Returns the module."""
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"{type(self).__name__}.train: mode must be True or False, got "
                            f"{mode!r}")
        modules = [self, *self.named_modules().values()]  # a TypeError before any change
        for m in modules:
            m.training = bool(mode)
        return self

    def eval(self) -> Module:
        """Evaluation mode on this module and every sub-module: ``train(False)``."""
        return self.train(False)

    # ---------------------------------------------------------------------- calling
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        g = self._graph_of(args, kwargs)
        first = self._graph is None
        if first:
            self._bind(g)
        stack = _calling()
        stack.append(self)
        try:
            # children built on the first call nest under this scope
            with g.name_scope(self._local), g.annotate(scope=self.scope):
                if first:
                    self._check_children()
                    self.build(*args, **kwargs)
                    self._check_children()     # and those build() made
                return self.forward(*args, **kwargs)
        except BaseException:
            if first and not self._owns_params():
                self._unbind()                 # nothing was created: the module stays unbound
            raise
        finally:
            stack.pop()

    def _graph_of(self, args: tuple, kwargs: dict) -> Graph:
        """The graph of the first Tensor among the arguments (all must share it)."""
        tensors = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)]
        if not tensors:
            got = ", ".join(type(a).__name__ for a in (*args, *kwargs.values())) or "nothing"
            raise TypeError(f"{type(self).__name__} needs a graphc Tensor among its arguments "
                            f"(declare inputs with g.input(...)), got {got}")
        g = tensors[0].graph
        other = next((t.graph for t in tensors if t.graph is not g), None)
        if other is not None:
            raise ValueError(f"{type(self).__name__} was called with tensors of two graphs "
                             f"({g.name!r} and {other.name!r})")
        if self._graph is not None and self._graph is not g:
            raise ValueError(
                f"{type(self).__name__} {self.scope!r} was built in graph {self._graph.name!r}; "
                f"it cannot be called on a tensor of graph {g.name!r} (make a new module)"
            )
        return g

    def _bind(self, g: Graph) -> None:
        """Choose the local name (explicit, attribute path in the caller, or class-derived)."""
        self._explicit = self.name is not None
        if not self._explicit:
            self.name = self._path_in_caller(g) or self._free_name(g)
        self._local, self._graph = self.name, g
        self.scope = g.scoped(self._local)

    def _unbind(self) -> None:
        self._graph = self._local = self.scope = None
        if not self._explicit:
            self.name = None

    def _path_in_caller(self, g: Graph) -> str | None:
        """This module's attribute path in the module calling it (None at the top level)."""
        stack = _calling()
        if not stack or stack[-1]._graph is not g:
            return None
        return next((p for p, m in stack[-1].named_modules().items() if m is self), None)

    def _owns_params(self) -> bool:
        return bool(self._params) or any(c._graph is not None and c._owns_params()
                                         for _, c in _walk_attrs(self, check=False))

    def _free_name(self, g: Graph) -> str:
        base = type(self).__name__.lower()
        taken = {k for k in g.params} | {k for k in g.inputs} | {k for k in g.outputs}

        def used(local: str) -> bool:
            s = g.scoped(local)
            return any(k == s or k.startswith(s + "/") for k in taken)

        name, k = base, 0
        while used(name):
            k += 1
            name = f"{base}_{k}"
        return name

    def _check_children(self) -> None:
        """TypeError for a sub-module held where the search cannot see it."""
        for _ in _walk_attrs(self, check=True):
            pass

    # ------------------------------------------------------------------- parameters
    @property
    def graph(self) -> Graph | None:
        """The graph the module's parameters live in (None before the first call)."""
        return self._graph

    def children(self) -> Iterator[Module]:
        """Direct sub-modules (in attributes, or lists/tuples/dicts in them), each once."""
        seen: set[int] = set()
        for _, m in _walk_attrs(self, check=True):
            if id(m) not in seen:
                seen.add(id(m))
                yield m

    def named_modules(self) -> dict[str, Module]:
        """All sub-modules, nested ones too, by attribute path (``layers/a``), each once."""
        out: dict[str, Module] = {}
        seen = {id(self)}

        def visit(mod: Module, prefix: str) -> None:
            for path, m in _walk_attrs(mod, check=True):
                if id(m) not in seen:
                    seen.add(id(m))
                    out[prefix + path] = m
                    visit(m, f"{prefix}{path}/")

        visit(self, "")
        return out

    def named_parameters(self) -> dict[str, Tensor]:
        """Parameters of this module and its children, by full graph name (``mlp/0/W``)."""
        if self._graph is None:
            raise RuntimeError(
                f"{type(self).__name__} has no parameters yet: they are created in the graph of "
                "the first tensor it is called on (call it once, e.g. model(x))"
            )
        out = {t.name: t for t in self._params.values()}
        for m in self.named_modules().values():
            out.update({t.name: t for t in m._params.values()})
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


def _same(v: Any, default: Any) -> bool:
    """``v`` is the field's default (no elementwise ``==`` on tensors or arrays)."""
    if v is default:
        return True
    if isinstance(v, (Tensor, np.ndarray)) or isinstance(default, (Tensor, np.ndarray)):
        return False
    return bool(v == default)


# --------------------------------------------------------------- finding sub-modules
def _walk_attrs(owner: Module, check: bool) -> Iterator[tuple[str, Module]]:
    """(attribute path, module) for the modules in ``owner``'s attributes; with ``check``, a
    TypeError for one held where this search does not look."""
    for attr, v in vars(owner).items():
        if attr not in _INTERNAL:
            yield from _walk(v, attr, attr, f"{type(owner).__name__}.{attr}", check)


def _walk(v: Any, path: str, expr: str, where: str, check: bool
          ) -> Iterator[tuple[str, Module]]:
    """The modules in ``v`` (at ``path``, written ``expr`` in Python) through lists, tuples
    and dicts; ``where`` names the attribute for errors."""
    if isinstance(v, Module):
        yield path, v
    elif isinstance(v, (list, tuple)):
        for i, item in enumerate(v):
            yield from _walk(item, f"{path}/{i}", f"{expr}[{i}]", where, check)
    elif isinstance(v, dict):
        for k, item in v.items():
            if _usable_key(k):
                yield from _walk(item, f"{path}/{k}", f"{expr}[{k!r}]", where, check)
            elif check:
                for _, m in _walk(item, path, f"{expr}[{k!r}]", where, check):
                    raise TypeError(
                        f"{where}: key {k!r} holds a {type(m).__name__}: the keys of a dict of "
                        "modules name their params, so they must be non-empty strings without "
                        "'/' or spaces")
    elif check:
        found = _hidden(v, expr, 0, set())
        if found is not None:
            module, holder, at = found
            raise TypeError(
                f"{where}: a {type(module).__name__} is held in a {holder} ({at}), where gc.nn "
                "does not look for sub-modules, so its params would be left out of "
                "named_parameters and save_params; hold modules in attributes, or in lists, "
                "tuples and dicts (string keys) inside them")


def _usable_key(k: Any) -> bool:
    """A dict key that can be part of a param name."""
    return isinstance(k, str) and bool(k) and "/" not in k and not any(c.isspace() for c in k)


def _hidden(v: Any, expr: str, depth: int, seen: set[int]) -> tuple[Module, str, str] | None:
    """(a module somewhere inside ``v``, the type holding it, where) or None."""
    if v is None or isinstance(v, _LEAVES) or depth > _HIDDEN_DEPTH or id(v) in seen:
        return None
    seen.add(id(v))
    for sub, at, item in _contents(v, expr):
        if isinstance(item, Module):
            return item, type(v).__name__, at
        found = _hidden(item, sub, depth + 1, seen)
        if found is not None:
            return found
    return None


def _contents(v: Any, expr: str) -> Iterator[tuple[str, str, Any]]:
    """(its expression, where it is, item) for what ``v`` holds: the items of a container,
    the attributes of another object."""
    if isinstance(v, dict):
        yield from ((f"{expr}[{k!r}]", f"at {expr}[{k!r}]", x) for k, x in v.items())
    elif isinstance(v, (list, tuple)):
        yield from ((f"{expr}[{i}]", f"at {expr}[{i}]", x) for i, x in enumerate(v))
    elif isinstance(v, Collection):
        yield from ((f"<an element of {expr}>", f"an element of {expr}", x) for x in v)
    elif isinstance(getattr(v, "__dict__", None), dict):
        yield from ((f"{expr}.{a}", f"at {expr}.{a}", x) for a, x in vars(v).items())


__all__ = ["Module"]
