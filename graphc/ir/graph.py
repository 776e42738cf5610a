"""The symbolic graph: an append-only list of immutable nodes, with named inputs, params and
outputs."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import Shape, same_shape
from graphc.ir.display import svg_of
from graphc.ir.dtypes import check_dtype, dtype_of_value
from graphc.ir.node import Node, at_user, freeze_attrs, user_location
from graphc.ir.opdef import check_node
from graphc.ir.tensor import Tensor

#: Checks run on every op node before it is added: ``check(graph, op, inputs, attrs, shape,
#: dtype, loc)``. They may warn or raise; a raise leaves the graph unchanged. The broadcast
#: diagnostics pass registers itself here.
BUILD_CHECKS: list[Callable[..., None]] = []


def _check_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{what} name must be a non-empty string, got {name!r}")
    return name


class Graph:
    """A symbolic computation graph: ``g.input``, ``g.param``, ``g.constant``, then ops on tensors.

    ``strict=True`` turns broadcast diagnostics (``gc.ShapeWarning``) into ``gc.ShapeError``.
    """

    def __init__(self, name: str | None = None, strict: bool = False):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"Graph name must be a string or None, got {name!r}")
        self.name = name or "graph"
        self.strict = bool(strict)
        self._nodes: list[Node] = []
        #: the one Tensor handle of each node id (see Tensor.__new__)
        self._handles: dict[int, Tensor] = {}
        self.params: dict[str, np.ndarray] = {}
        self._inputs: dict[str, int] = {}
        self._params: dict[str, int] = {}
        self._outputs: dict[str, int] = {}
        self._scope: list[str] = []
        #: metadata merged into every node built inside ``annotate`` (gc.grad marks the nodes
        #: it builds with the forward node they differentiate); non-empty: diagnostics silent
        self._meta_stack: list[dict[str, Any]] = []
        #: ``(trigger id, ((param id, new value id), ...))`` in registration order: see
        #: ``add_state_updates``
        self._state_updates: list[tuple[int, tuple[tuple[int, int], ...]]] = []

    # --------------------------------------------------------- copy and pickle
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        del state["_handles"]  # handles are made again on demand, one per node
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        handles = self.__dict__.get("_handles", {})  # made while the state was rebuilt
        self.__dict__.update(state)
        self._handles = handles
        self.__dict__.setdefault("_state_updates", [])  # a graph pickled before they existed

    # ----------------------------------------------------------------- access
    @property
    def nodes(self) -> tuple[Node, ...]:
        """All nodes, in creation (topological) order."""
        return tuple(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def node(self, i: int) -> Node:
        """The node with id ``i``."""
        return self._nodes[i]

    def tensor(self, i: int) -> Tensor:
        """A Tensor handle for node ``i``."""
        if not 0 <= i < len(self._nodes):
            raise ValueError(f"graph {self.name!r} has no node {i}")
        return Tensor(self, i)

    @property
    def inputs(self) -> dict[str, Tensor]:
        """Named inputs, in declaration order."""
        return {k: Tensor(self, i) for k, i in self._inputs.items()}

    @property
    def outputs(self) -> dict[str, Tensor]:
        """Named outputs, in declaration order."""
        return {k: Tensor(self, i) for k, i in self._outputs.items()}

    @property
    def param_tensors(self) -> dict[str, Tensor]:
        """Params (trainable and state) as tensors, by name."""
        return {k: Tensor(self, i) for k, i in self._params.items()}

    @property
    def trainable(self) -> list[Tensor]:
        """The trainable params, in declaration order."""
        return [Tensor(self, i) for i in self._params.values() if self._nodes[i].attr["trainable"]]

    def __getitem__(self, name: str) -> Tensor:
        for table in (self._inputs, self._params, self._outputs):
            if name in table:
                return Tensor(self, table[name])
        known = ", ".join(repr(k) for k in [*self._inputs, *self._params, *self._outputs])
        raise KeyError(f"graph {self.name!r} has no input, param or output {name!r} (has {known})")

    def __contains__(self, name: object) -> bool:
        return name in self._inputs or name in self._params or name in self._outputs

    def __repr__(self) -> str:
        return (
            f"<gc.Graph {self.name!r}: {len(self._nodes)} nodes, inputs {list(self._inputs)}, "
            f"params {list(self._params)}, outputs {list(self._outputs)}>"
        )

    def __str__(self) -> str:
        from graphc.ir.printer import format_graph

        return format_graph(self)

    # ---------------------------------------------------------------- scoping
    @contextlib.contextmanager
    def name_scope(self, prefix: str) -> Iterator[None]:
        """Prefix the names of params and inputs created inside: ``mlp/0/W``."""
        _check_name(prefix, "scope")
        self._scope.append(prefix.strip("/"))
        try:
            yield
        finally:
            self._scope.pop()

    @contextlib.contextmanager
    def scope(self, name: str) -> Iterator[None]:
        """Group the ops built inside into a diagram cluster ``name`` (nested in the module or
        scope around it), without renaming anything: ``with g.scope("t3"): h = cell(x, h)``."""
        _check_name(name, "scope")
        outer = self._meta_stack[-1].get("scope") if self._meta_stack else None
        outer = outer or "/".join(self._scope)
        with self.annotate(scope=f"{outer}/{name.strip('/')}" if outer else name.strip("/")):
            yield

    def _repr_svg_(self) -> str | None:
        """The diagram, for Jupyter (None when graphviz's ``dot`` is not installed)."""
        return svg_of(self)

    def scoped(self, name: str) -> str:
        """``name`` with the current scope prefix."""
        return "/".join([*self._scope, name])

    def _claim(self, name: str, what: str) -> str:
        name = self.scoped(_check_name(name, what))
        if name in self:
            raise ValueError(f"graph {self.name!r} already has an input, param or output {name!r}")
        return name

    @contextlib.contextmanager
    def annotate(self, **meta: Any) -> Iterator[None]:
        """Attach ``meta`` to every node built inside (used by gc.grad for provenance)."""
        top = self._meta_stack[-1] if self._meta_stack else {}
        self._meta_stack.append({**top, **meta})
        try:
            yield
        finally:
            self._meta_stack.pop()

    def _merge_meta(self, i: int, **meta: Any) -> None:
        """Merge ``meta`` into node ``i``'s (gc.grad marks the gradients it returns)."""
        n = self._nodes[i]
        self._nodes[i] = dataclasses.replace(n, meta=freeze_attrs({**n.info, **meta}))

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        """Nodes appended inside are dropped again if the block raises: a failed call (an op
        whose operand constant was already wrapped, a gradient half built) changes nothing."""
        n, k = len(self._nodes), len(self._state_updates)
        try:
            yield
        except BaseException:
            del self._nodes[n:]
            del self._state_updates[k:]
            raise

    @property
    def building_gradient(self) -> bool:
        """True while gc.grad is adding nodes (broadcast diagnostics stay silent)."""
        return any("grad_of" in m for m in self._meta_stack)

    # --------------------------------------------------------------- builders
    def _append(self, op: str, inputs: tuple[int, ...], attrs: dict[str, Any], shape: Shape,
                dtype: np.dtype, name: str | None = None, loc: str | None = None,
                meta: dict[str, Any] | None = None, value: np.ndarray | None = None) -> Tensor:
        if self._meta_stack:
            meta = {**self._meta_stack[-1], **(meta or {})}
        node = Node(
            id=len(self._nodes), op=op, inputs=inputs, attrs=freeze_attrs(attrs), shape=shape,
            dtype=np.dtype(dtype), name=name, loc=loc or user_location(),
            meta=freeze_attrs(meta or {}), value=value,
        )
        self._nodes.append(node)
        return Tensor(self, node.id)

    def _restore(self, node: Node, param_value: np.ndarray | None = None) -> Tensor:
        """Append ``node`` exactly as stored (``graphc.io.load``, which has validated it): no
        inference, no build checks; a named input or param (value ``param_value``) is
        registered under its name."""
        if node.id != len(self._nodes):
            raise ValueError(f"node id {node.id} out of order (expected {len(self._nodes)})")
        self._nodes.append(node)
        if node.role == "input":
            self._inputs[node.name] = node.id
        elif node.role == "param":
            self.params[node.name] = param_value
            self._params[node.name] = node.id
        return Tensor(self, node.id)

    def input(self, name: str, shape: Sequence[object], dtype: Any = np.float64) -> Tensor:
        """A named input fed at call time. Dims are ints, symbol names (``("B", 1)``), or
        expressions over symbols (``("B*T", 4)``, ``("T - 1", d)``): an expression dim is
        checked against its symbols' values, or binds a symbol it is linear in when no input
        has that symbol as a whole dim."""
        shape = Shape(shape)
        dt = check_dtype(dtype, f"input {name!r}")
        name = self._claim(name, "input")
        t = self._append("input", (), {"name": name}, shape, dt, name=name)
        self._inputs[name] = t.id
        return t

    def param(self, name: str, value: Any, dtype: Any = None, trainable: bool = True) -> Tensor:
        """A named parameter whose value lives in ``g.params[name]`` (a copy of ``value``)."""
        arr = np.array(value, dtype=dtype, copy=True, order="C")
        dt = check_dtype(arr.dtype, f"param {name!r}")
        if trainable and dt.kind != "f":
            if dtype is not None:
                raise TypeError(f"trainable param {name!r} must have a float dtype, got {dt}")
            arr, dt = arr.astype(np.float64), np.dtype(np.float64)
        name = self._claim(name, "param")
        t = self._append("param", (), {"name": name, "trainable": bool(trainable)},
                         Shape(arr.shape), dt, name=name)
        self.params[name] = arr
        self._params[name] = t.id
        return t

    def constant(self, value: Any, dtype: Any = None) -> Tensor:
        """A constant baked into the graph (python scalars and arrays auto-wrap too)."""
        if isinstance(value, Tensor):
            raise TypeError("constant() takes a value, not a Tensor")
        dt = dtype if dtype is not None else dtype_of_value(value)
        try:
            arr = np.array(value, dtype=dt)
        except OverflowError:
            raise TypeError(f"constant: {value!r} does not fit dtype {np.dtype(dt)}") from None
        check_dtype(arr.dtype, "constant")
        arr.setflags(write=False)
        return self._append("constant", (), {}, Shape(arr.shape), arr.dtype, value=arr)

    # Creation ops (``graphc.ops.creation``): nodes without operands whose shape may have
    # symbols; computed once per binding of the symbols, never baked into the graph
    def full(self, shape: Any, value: Any, dtype: Any = None) -> Tensor:
        """A tensor of ``shape`` (ints, dims, strings: ``("B", "T")``) filled with ``value``,
        which ``dtype`` must hold exactly; ``dtype=None`` takes the value's, as numpy does
        (bool, int64 for an int, float64 for a float)."""
        return _builders().graph_full(self, shape, value, dtype)

    def zeros(self, shape: Any, dtype: Any = np.float64) -> Tensor:
        """Zeros of ``shape`` (ints, dims, strings: ``("T", "T")``), float64 unless told."""
        return _builders().graph_full(self, shape, 0, dtype)

    def ones(self, shape: Any, dtype: Any = np.float64) -> Tensor:
        """Ones of ``shape``; ``gc.tril(g.ones((T, T), bool))`` is a causal mask for any T."""
        return _builders().graph_full(self, shape, 1, dtype)

    def arange(self, start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> Tensor:
        """numpy's arange over int bounds that may be dims: ``g.arange(x.shape[1])``,
        ``g.arange(1, T)``, ``g.arange(T, 0, -1)``; int64 unless ``dtype`` says otherwise.
        With a dim bound, a range that would run backwards is refused when the symbols are
        bound (a ShapeError), never silently empty."""
        return _builders().graph_arange(self, start, stop, step, dtype)

    def output(self, name: str, t: Tensor) -> Tensor:
        """Mark ``t`` as the named output ``name``; returns ``t``."""
        t = self.own(t, f"output {name!r}")
        name = self._claim(name, "output")
        self._outputs[name] = t.id
        return t

    # ---------------------------------------------------------- state updates
    @property
    def state_updates(self) -> tuple[tuple[int, tuple[tuple[int, int], ...]], ...]:
        """The registered state updates, ``(trigger id, ((param id, new value id), ...))`` in
        registration order (see ``add_state_updates``)."""
        return tuple(self._state_updates)

    def add_state_updates(self, trigger: Tensor, updates: dict[Tensor, Tensor]) -> None:
        """Register updates of (non-trainable) params that ``gc.compile`` adds by itself:
        BatchNorm's running statistics. A compiled function commits ``updates`` ({param: new
        value}) with the caller's updates, all or nothing, whenever what it computes (its
        outputs and the caller's updates) needs ``trigger``, the node standing for the
        layer call (its batch mean), unless the caller's ``updates`` set the param
        themselves (or ``gc.compile(..., state_updates=False)``). ``gc.evaluate`` ignores them.

        The updates of one call are simultaneous (each reads the values from before the
        call); the records are applied in registration order, so a layer called twice in
        one compiled program updates twice, as in torch: the second record then reads the
        values the first one made. Registered inside ``atomic``, a record is dropped again
        if the block raises.
        """
        self.own(trigger, "state update trigger")
        if not isinstance(updates, dict) or not updates:
            raise TypeError("add_state_updates: updates must be a non-empty dict "
                            "{param Tensor: new value Tensor}")
        pairs = []
        for p, v in updates.items():
            self.own(p, "state update key")
            if p.node.role != "param":
                raise TypeError(f"state update key {p!r} is not a param (only params can be "
                                "updated)")
            self.own(v, f"state update of {p.name!r}")
            if not same_shape(v.shape, p.shape):
                raise ShapeError(f"state update of param {p.name!r}: the new value has shape "
                                 f"{v.shape}, the param {p.shape}")
            if not np.can_cast(v.dtype, p.dtype, "same_kind"):
                raise TypeError(f"state update of param {p.name!r}: a {v.dtype} value cannot "
                                f"be stored in a {p.dtype} param")
            pairs.append((p.id, v.id))
        self._state_updates.append((trigger.id, tuple(pairs)))

    def own(self, t: object, what: str) -> Tensor:
        """``t`` as a Tensor of this graph, or a ValueError/TypeError saying why not."""
        if not isinstance(t, Tensor):
            raise TypeError(f"{what} must be a graphc Tensor, got {type(t).__name__}")
        if t.graph is not self:
            raise ValueError(
                f"{what} belongs to graph {t.graph.name!r}, not {self.name!r}: "
                "tensors of two graphs cannot be mixed"
            )
        return t

    def apply(self, op: str, inputs: Sequence[Tensor], attrs: dict[str, Any] | None = None,
              meta: dict[str, Any] | None = None, loc: str | None = None) -> Tensor:
        """Add an op node: infer its shape and dtype, run the build checks, append it.

        Any failure (arity, attributes, operands of another graph, the op's own rules) is
        raised as its type (ShapeError, TypeError, ValueError) with the text of ``build_error``:
        op, operand shapes and dtypes, the reason, the user's file:line.
        """
        loc = loc or user_location()
        try:
            ids = tuple(self.own(t, f"operand {k} of {op}").id for k, t in enumerate(inputs))
            nodes = [self._nodes[i] for i in ids]
            _, attrs, shape, dtype = check_node(op, nodes, dict(attrs or {}))
        except (ShapeError, TypeError, ValueError) as e:
            raise build_error(e, op, inputs, loc) from None
        for check in BUILD_CHECKS:
            check(self, op, nodes, attrs, shape, dtype, loc)
        return self._append(op, ids, attrs, shape, dtype, loc=loc, meta=meta)


def _builders() -> Any:
    """The op builders (the ``graphc.ops`` module, installed when it is imported: the IR sits
    below the ops and cannot import them)."""
    from graphc.ir import tensor

    return tensor._ops


def describe_operand(a: object) -> str:
    """An operand as a build error shows it: ``(B, 16) float64`` for a tensor or array."""
    shape, dtype = getattr(a, "shape", None), getattr(a, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{Shape(shape)} {dtype}"
    text = repr(a)
    return text if len(text) <= 40 else f"{type(a).__name__}"


def build_error(e: Exception, op: str, operands: Sequence[object],
                loc: str | None = None) -> Exception:
    """``e`` (a ShapeError, TypeError or ValueError) as the error a user sees when ``op`` fails
    to build: the same type, its message prefixed by the op and its operands' shapes and
    dtypes, and ended by the user's file:line: ``matmul((B, 1) float64, (3, 3) float64): ...``.
    """
    kind = next(k for k in (ShapeError, TypeError, ValueError) if isinstance(e, k))
    operands_text = ", ".join(describe_operand(a) for a in operands)
    return kind(at_user(f"{op}({operands_text}): {e}", loc))


__all__ = ["Graph", "Tensor", "BUILD_CHECKS"]
