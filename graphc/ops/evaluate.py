"""The reference interpreter: one op at a time, the yardstick the compiler is tested against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.binding import bind, check_constraints, constraints_of, convert_input
from graphc.ir.dims import bind_attrs, symbols_of
from graphc.ir.node import at_user, runtime_error
from graphc.ir.nxgraph import needed
from graphc.ir.opdef import get_op
from graphc.ir.tensor import Tensor


def as_tensor_list(outputs: Any, what: str = "outputs") -> tuple[bool, list[Tensor]]:
    """(single, tensors): one Tensor or a non-empty list/tuple of Tensors of one graph."""
    single = isinstance(outputs, Tensor)
    ts = [outputs] if single else outputs
    if not isinstance(ts, (list, tuple)) or not ts:
        raise TypeError(f"{what} must be a Tensor or a non-empty list of Tensors, got {outputs!r}")
    g = None
    for k, t in enumerate(ts):
        if not isinstance(t, Tensor):
            raise TypeError(f"{what}[{k}] is a {type(t).__name__}, not a graphc Tensor")
        if g is None:
            g = t.graph
        g.own(t, f"{what}[{k}]")
    return single, list(ts)


def resolve_feed(graph, feed: Mapping[Any, Any] | None) -> dict[int, Any]:
    """Feed keys (input/param Tensors or their names) as node ids."""
    out: dict[int, Any] = {}
    for key, value in (feed or {}).items():
        if isinstance(key, str):
            if key not in graph.inputs and key not in graph.param_tensors:
                raise TypeError(f"feed names {key!r}, which is not an input or param of "
                                f"graph {graph.name!r}")
            t = graph[key]
        else:
            t = graph.own(key, "feed key")
        if t.node.role not in ("input", "param"):
            raise TypeError(f"feed key {t!r} is not an input or a param")
        out[t.id] = value
    return out


def evaluate(outputs: Any, feed: Mapping[Any, Any] | None = None) -> Any:
    """Compute ``outputs`` op by op with numpy. ``feed`` maps inputs (Tensors or names) to
    arrays; it may also override param values. One Tensor in gives one array out."""
    single, outs = as_tensor_list(outputs)
    g = outs[0].graph
    fed = resolve_feed(g, feed)
    order = needed(g, [t.id for t in outs])
    nodes = [g.node(i) for i in order]
    missing = [n.name for n in nodes if n.role == "input" and n.id not in fed]
    if missing:
        raise TypeError(f"evaluate: missing value for input(s) {', '.join(map(repr, missing))}")
    # every fed input binds its symbols, also one the outputs do not read (a zero
    # gradient of shape (B, n) needs B)
    inputs = [g.node(i) for i in sorted(fed) if g.node(i).role == "input"]
    arrays = [convert_input(n, fed[n.id]) for n in inputs]
    bound_by: dict[str, str] = {}
    binding = bind(inputs, arrays, bound_by=bound_by)
    unbound = [s for n in nodes for s in symbols_of(n.shape, n.attr) if s not in binding]
    if unbound:
        n = next(n for n in nodes if unbound[0] in symbols_of(n.shape, n.attr))
        raise ShapeError(at_user(f"{n.op} node %{n.id} has shape {n.shape}, but no input "
                                 f"binds {', '.join(dict.fromkeys(unbound))}", n.loc))
    check_constraints(constraints_of(nodes, lambda n: [g.node(i) for i in n.inputs]),
                      binding, bound_by)
    values: dict[int, Any] = dict(zip((n.id for n in inputs), arrays))
    for n in nodes:
        if n.role == "input":
            continue
        if n.role == "param":
            if n.id in fed:  # an override must have the param's (fixed) shape
                v = convert_input(n, fed[n.id])
                bind([n], [v])
            else:
                v = g.params.get(n.name)
            values[n.id] = v
            continue
        if n.role == "constant":
            values[n.id] = n.value
            continue
        shape = n.shape.bind(binding)
        try:
            with np.errstate(all="ignore"):
                v = np.asarray(get_op(n.op).compute([values[i] for i in n.inputs],
                                                    bind_attrs(n.attr, binding), shape))
        except (IndexError, KeyError, ValueError, TypeError, ZeroDivisionError) as e:
            raise runtime_error(n, e) from e
        if v.shape != shape or v.dtype != n.dtype:
            raise RuntimeError(
                f"graphc bug: {n.op} node %{n.id} computed {v.shape} {v.dtype}, but its shape "
                f"rule says {n.shape} = {shape} {n.dtype} ({n.loc})"
            )
        values[n.id] = v
    result = [np.array(values[t.id], copy=True) for t in outs]
    return result[0] if single else result
