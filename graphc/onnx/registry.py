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


def converter(*op_types: str) -> Callable[[Converter], Converter]:
    """Register the decorated function as the converter of ``op_types``."""
    def register(fn: Converter) -> Converter:
        for t in op_types:
            if t in CONVERTERS:
                raise ValueError(f"two converters for ONNX op type {t!r}")
            CONVERTERS[t] = fn
        return fn
    return register
