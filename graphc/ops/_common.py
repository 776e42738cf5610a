"""Helpers shared by the op families: operand wrapping and small emit/infer builders."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.ir.dims import Shape
from graphc.ir.dtypes import check_dtype, weak_scalar_dtype
from graphc.ir.graph import build_error
from graphc.ir.tensor import Tensor


def wrap(args: Sequence[Any], op: str) -> list[Tensor]:
    """Operands as Tensors of one graph: python scalars take their neighbour's dtype (weakly),
    arrays become constants with their own dtype. A failure is a build error of ``op``."""
    try:
        return _wrap(args, op)
    except (TypeError, ValueError) as e:
        raise build_error(e, op, args) from None


def _wrap(args: Sequence[Any], op: str) -> list[Tensor]:
    tensors = [a for a in args if isinstance(a, Tensor)]
    if not tensors:
        raise TypeError("at least one operand must be a graphc Tensor")
    g = tensors[0].graph
    like = np.result_type(*[t.dtype for t in tensors])
    out = []
    for k, a in enumerate(args):
        if isinstance(a, Tensor):
            out.append(g.own(a, f"operand {k}"))
        elif isinstance(a, (bool, int, float)) and not isinstance(a, np.generic):
            dt = weak_scalar_dtype(a, like)
            if dt.kind in "iu" and not np.iinfo(dt).min <= a <= np.iinfo(dt).max:
                raise TypeError(
                    f"operand {k}, the python int {a}, does not fit {dt}, the dtype of the "
                    "tensor beside it (numpy 2's rule for python scalars); cast the tensor "
                    "with astype or pass the number as an array of a wider dtype"
                )
            out.append(g.constant(a, dtype=dt))
        else:
            try:
                arr = np.asarray(a)
            except Exception:  # noqa: BLE001 - anything numpy cannot take is a TypeError here
                raise TypeError(f"operand {k} ({type(a).__name__}) is not an array") from None
            check_dtype(arr.dtype, f"operand {k}")
            out.append(g.constant(arr))
    return out


def apply(op: str, inputs: Sequence[Any], **attrs: Any) -> Tensor:
    """Wrap the operands and add an ``op`` node to their graph (what every builder does)."""
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
