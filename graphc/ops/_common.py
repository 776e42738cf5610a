"""Helpers shared by the op families: operand wrapping and small emit/infer builders."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.ir.dims import Shape
from graphc.ir.dtypes import check_dtype, weak_scalar_dtype
from graphc.ir.tensor import Tensor


def graph_of(args: Sequence[Any], op: str):
    """The graph of the first Tensor among ``args`` (TypeError if there is none)."""
    for a in args:
        if isinstance(a, Tensor):
            return a.graph
    raise TypeError(f"{op}: at least one operand must be a graphc Tensor")


def wrap(args: Sequence[Any], op: str) -> list[Tensor]:
    """Operands as Tensors of one graph: python scalars take their neighbour's dtype (weakly),
    arrays become constants with their own dtype."""
    g = graph_of(args, op)
    tensors = [a for a in args if isinstance(a, Tensor)]
    like = np.result_type(*[t.dtype for t in tensors])
    out = []
    for k, a in enumerate(args):
        if isinstance(a, Tensor):
            out.append(g.own(a, f"operand {k} of {op}"))
        elif isinstance(a, (bool, int, float)) and not isinstance(a, np.generic):
            out.append(g.constant(a, dtype=weak_scalar_dtype(a, like)))
        else:
            try:
                arr = np.asarray(a)
            except Exception:  # noqa: BLE001 - anything numpy cannot take is a TypeError here
                raise TypeError(f"{op}: operand {k} ({type(a).__name__}) is not an array") from None
            check_dtype(arr.dtype, f"{op}: operand {k}")
            out.append(g.constant(arr))
    return out


def apply(op: str, inputs: Sequence[Any], **attrs: Any) -> Tensor:
    """Wrap the operands and add an ``op`` node to their graph."""
    ts = wrap(inputs, op)
    return ts[0].graph.apply(op, ts, attrs)


def call(fn: str, out: bool = False, **fixed: Any):
    """An emitter for ``fn(arg0, arg1, ..., k=v, out=...)``."""

    def emit(args: list[str], attrs: dict, ctx: Any) -> str:
        kw = [f"{k}={v!r}" for k, v in {**fixed, **attrs}.items()]
        if out and ctx.out is not None:
            kw.append(f"out={ctx.out}")
        return f"{fn}({', '.join([*args, *kw])})"

    return emit


def same_shape(nodes, attrs) -> tuple[Shape, np.dtype]:
    """Shape rule of a unary op that keeps shape and dtype."""
    return nodes[0].shape, nodes[0].dtype


def is_float(t: Any) -> bool:
    """True for a tensor (or node) with a float dtype, the only kind gradients flow through."""
    return np.dtype(t.dtype).kind == "f"


def _find_graph(args: Sequence[Any]):
    for a in args:
        if isinstance(a, Tensor):
            return a.graph
        if isinstance(a, (list, tuple)):
            g = _find_graph(a)
            if g is not None:
                return g
    return None


def atomic(fn):
    """Wrap a public op builder so that a failure leaves its graph exactly as it was."""

    @functools.wraps(fn)
    def builder(*args: Any, **kwargs: Any):
        g = _find_graph(args)
        if g is None:
            return fn(*args, **kwargs)
        with g.atomic():
            return fn(*args, **kwargs)

    return builder
