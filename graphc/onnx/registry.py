"""The ONNX op converters: one function per ONNX op type, registered by ``@converter``.

A converter turns one ONNX node into graphc ops::

    @converter("Relu")
    def _relu(ctx: Context, node: OnnxNode) -> list:
        return [gc.maximum(ctx.tensor(node, 0), 0)]

It returns one entry per ONNX output (``None`` for an output the model leaves unnamed):
a ``gc.Tensor``, or a ``Static`` when the value is known while importing (a constant, or
computed only from constants and from the shapes of tensors: torch's ``Shape -> Gather ->
Concat -> Reshape`` chains). A ``Static`` array may hold ``gc.Dim`` entries (object dtype):
the symbolic sizes read by ``Shape``.

Converters read their operands through the ``Context`` (``graphc.onnx.importer`` implements
it): ``ctx.tensor(node, i)`` (operand ``i`` as a Tensor, a static value made a constant;
``None`` when the optional operand is absent), ``ctx.static(node, i)`` (operand ``i``'s
static value as a numpy array, ``None`` when absent; a clear ``ctx.error`` when it is
data-dependent), ``ctx.is_static(node, i)``, ``ctx.opset`` (the default domain's opset) and
``ctx.error(node, message)`` (the exception to raise, naming the node and its op type).
Also: ``ctx.has(node, i)`` (whether optional operand ``i`` is present), ``ctx.graph`` (the
``gc.Graph`` being built: ``ctx.graph.full``, ``.arange`` for shapes with symbols),
``ctx.dim_tensor(d)`` (a dim, int or ``gc.Dim``, as a 0-d int64 tensor at run time),
``ctx.static_tensor(value)`` and ``ctx.subgraph(node, body, args)`` (a GraphProto attribute
converted with its inputs bound to ``args``: If, Scan, Loop).

An op type two converter modules may both cover is registered with ``fallback_converter``:
a later ``converter`` of the same op type replaces it instead of clashing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class OnnxNode:
    """One ONNX node, decoded: attributes as Python values (ints, floats, strings, numpy
    arrays for tensors, lists of those), operand and result names ('' where absent)."""

    name: str
    op_type: str
    domain: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)

    def attr(self, name: str, default: Any = None) -> Any:
        return self.attrs.get(name, default)


@dataclass(frozen=True)
class Static:
    """A value known while importing (numpy array; object dtype where it holds Dims)."""

    value: np.ndarray


Converter = Callable[[Any, OnnxNode], list]

#: ONNX op type (default domain, or "domain::OpType") -> converter
CONVERTERS: dict[str, Converter] = {}


#: op types whose converter is a fallback (``fallback_converter``) a ``converter`` may replace
_FALLBACKS: set[str] = set()


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of ``op_types`` (it replaces a
    ``fallback_converter``; two ``converter``s of one op type are an error)."""
    def register(fn: Converter) -> Converter:
        for t in op_types:
            if t in CONVERTERS and t not in _FALLBACKS:
                raise ValueError(f"two converters for ONNX op type {t!r}")
            CONVERTERS[t] = fn
            _FALLBACKS.discard(t)
        return fn
    return register


def fallback_converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register the decorated function for those of ``op_types`` that have no converter yet;
    a ``converter`` registered later replaces it (an op type two modules may both cover)."""
    def register(fn: Converter) -> Converter:
        for t in op_types:
            if t not in CONVERTERS:
                CONVERTERS[t] = fn
                _FALLBACKS.add(t)
        return fn
    return register
