"""The schema of node ``meta`` (provenance) in a model file, checked on save and on load.

Every key graphc itself writes has one type, and readers (diagrams, generated comments, error
messages) rely on it::

    grad_of, forward        a node id of the file     gc.grad: the forward node differentiated
    grad_y                  a node id of the file     gc.grad: the y of a gradient it returned
    grad_wrt                a list of node ids        gc.grad: the xs of a gradient it returned
    forward_op, origin      a registered op's name    gc.grad; a pass that rewrote the user's op
    forward_loc             a string                  gc.grad: the forward node's file:line
    operand                 an int >= 0               sum_to: which operand was unbroadcast
    axes                    a list of ints >= 0       sum_to: the axes summed
    reduces                 a list of dim texts       sum_to: the symbolic dims summed over
    unbroadcast, zero_gradient   true or false        sum_to; gc.grad of an unrelated x
    scope, optimizer        a string                  gc.nn modules, Graph.scope; gc.optim
    hint                    a string                  a loss: what its run-time error adds
    onnx_node, onnx_op      a string                  gc.onnx.load: the ONNX node converted

Any other key (``g.annotate(note=...)``) is kept only when its value is a plain JSON scalar
(null, true/false, an int, a float, a string): nothing in graphc reads it, and a richer value
could not be relied on by a future reader. ``save`` refuses what ``load`` would refuse, so
every saved file loads back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphc.ir.dims import Dim, parse_dim
from graphc.ir.opdef import all_ops


def _is_int(v: Any) -> bool:
    return type(v) is int  # not bool, not a numpy int: exactly what graphc writes


def _node_id(v: Any, n_nodes: int) -> bool:
    return _is_int(v) and 0 <= v < n_nodes


def _node_ids(v: Any, n_nodes: int) -> bool:
    return type(v) is tuple and len(v) > 0 and all(_node_id(j, n_nodes) for j in v)


def _op_name(v: Any, n_nodes: int) -> bool:
    return type(v) is str and v in all_ops()


def _string(v: Any, n_nodes: int) -> bool:
    return type(v) is str


def _flag(v: Any, n_nodes: int) -> bool:
    return type(v) is bool


def _index(v: Any, n_nodes: int) -> bool:
    return _is_int(v) and v >= 0


def _axes(v: Any, n_nodes: int) -> bool:
    return type(v) is tuple and all(_index(a, n_nodes) for a in v)


def _symbols(v: Any, n_nodes: int) -> bool:
    return type(v) is tuple and all(type(s) is str and _is_dim(s) for s in v)


def _is_dim(s: str) -> bool:
    """A symbolic dim's canonical text (``B``, ``B*T``), checked by the dim grammar."""
    try:
        d = parse_dim(s)
    except ValueError:
        return False
    return isinstance(d, Dim) and str(d) == s


#: each key graphc writes: what its value must be (for messages) and the test of it
KNOWN: dict[str, tuple[str, Callable[[Any, int], bool]]] = {
    "grad_of": ("a node id of the graph", _node_id),
    "forward": ("a node id of the graph", _node_id),
    "grad_y": ("a node id of the graph", _node_id),
    "grad_wrt": ("a non-empty list of node ids of the graph", _node_ids),
    "forward_op": ("the name of a registered op", _op_name),
    "origin": ("the name of a registered op", _op_name),
    "forward_loc": ("a string", _string),
    "operand": ("an int >= 0", _index),
    "axes": ("a list of ints >= 0", _axes),
    "reduces": ("a list of symbolic dims (canonical text)", _symbols),
    "unbroadcast": ("true or false", _flag),
    "zero_gradient": ("true or false", _flag),
    "scope": ("a string", _string),
    "optimizer": ("a string", _string),
    "hint": ("a string", _string),
    "onnx_node": ("a string", _string),
    "onnx_op": ("a string", _string),
}

#: the value types an unknown key may hold (float includes the tagged nan and infinities)
SCALARS = (type(None), bool, int, float, str)


def meta_problem(key: str, value: Any, n_nodes: int) -> str | None:
    """What is wrong with ``meta[key] = value`` in a graph of ``n_nodes`` nodes, else None."""
    if key in KNOWN:
        what, ok = KNOWN[key]
        return None if ok(value, n_nodes) else f"must be {what}, got {_show(value)}"
    if type(value) not in SCALARS:
        return (f"a meta key graphc does not write holds only a plain scalar (null, bool, int, "
                f"float, string), got {_show(value)} of type {type(value).__name__}")
    return None


def _show(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."
