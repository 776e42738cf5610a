"""Binding fed arrays to inputs: dtype conversion, rank and dim checks, symbol values."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import is_symbol
from graphc.ir.dtypes import ALLOWED_KINDS
from graphc.ir.node import Node, user_location


def convert_input(node: Node, value: Any) -> np.ndarray:
    """``value`` as an array of the input's dtype, or a TypeError naming the input."""
    what = f"{node.role} {node.name!r}"
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{what}: a masked array's mask would be ignored; pass "
                        "x.filled(value) or x.compressed() (or the mask as an input)")
    if type(value) is not np.ndarray and isinstance(value, np.ndarray):
        value = np.asarray(value)  # np.matrix, memmap, ...: the base array, the same memory
    if isinstance(value, np.ndarray) and value.dtype == node.dtype:
        return value
    if hasattr(value, "graph") and hasattr(value, "id"):
        raise TypeError(f"{what}: got a symbolic Tensor; feed a numpy array")
    try:
        arr = np.asarray(value)
    except Exception as e:  # noqa: BLE001 - ragged lists and the like
        raise TypeError(
            f"{what}: cannot convert {type(value).__name__} to an array ({e})") from None
    if arr.dtype.kind not in ALLOWED_KINDS:
        raise TypeError(f"{what}: dtype {arr.dtype} cannot be used (expected {node.dtype})")
    if arr.dtype == node.dtype:
        return arr
    if not np.can_cast(arr.dtype, node.dtype, "same_kind"):
        raise TypeError(
            f"{what}: expected dtype {node.dtype}, got {arr.dtype}, which does not convert "
            "safely (cast it explicitly)"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = arr.astype(node.dtype)
    _check_fits(arr, out, node, what)
    _warn_at_user(caught, f"{what} {node.shape} converted from {arr.dtype} to {node.dtype}")
    return out


def _check_fits(arr: np.ndarray, out: np.ndarray, node: Node, what: str) -> None:
    """A narrowing cast may round, but never wrap an integer or overflow a float to inf."""
    if out.dtype.kind in "iu" and arr.dtype.kind in "iu":
        # compared with the bounds as Python ints: a round trip would take uint64 2**64 - 1
        # for int64 -1 and back
        info = np.iinfo(out.dtype)
        bad = (arr < info.min) | (arr > info.max)
    elif out.dtype.kind == "f" and arr.dtype.kind == "f":
        bad = np.isinf(out) & np.isfinite(arr)
    else:
        return
    if bad.any():
        v = arr[bad].flat[0]
        raise ValueError(f"{what}: the {arr.dtype} value {v!r} does not fit its dtype "
                         f"{node.dtype} (it would become {out[bad].flat[0]!r}); cast it "
                         "explicitly if that is meant")


#: ``warnings`` registry of the conversion warnings re-issued at the user's line
_WARN_REGISTRY: dict[Any, Any] = {}


def _warn_at_user(caught: list, context: str) -> None:
    """Issue numpy's warnings again at the user's line (not graphc's), with ``context``."""
    for w in caught:
        file, _, line = user_location().rpartition(":")
        warnings.warn_explicit(f"{context}: {w.message}", w.category, file,
                               int(line) if line.isdigit() else 0, registry=_WARN_REGISTRY)


def bind(nodes: Sequence[Node], arrays: Sequence[np.ndarray],
         binding: dict[str, int] | None = None) -> dict[str, int]:
    """Check each array against its input's shape; return the value of every symbol.

    Raises ShapeError naming the input and the dim: wrong rank, a fixed dim that differs,
    or a symbol bound to two sizes (naming the input that bound it first).
    """
    binding = {} if binding is None else binding
    bound_by: dict[str, str] = {}
    for node, arr in zip(nodes, arrays):
        what = f"{node.role} {node.name!r}"
        if arr.ndim != node.ndim:
            raise ShapeError(
                f"{what} expects rank {node.ndim} {node.shape}, got an array of shape "
                f"{arr.shape} (rank {arr.ndim})"
            )
        for axis, (d, n) in enumerate(zip(node.shape, arr.shape)):
            if is_symbol(d):
                if d not in binding:
                    binding[d] = n
                    bound_by[d] = node.name or "?"
                elif binding[d] != n:
                    first = bound_by.get(d)
                    by = f" by input {first!r}" if first else ""
                    raise ShapeError(
                        f"{what} {node.shape}: dim {d} (axis {axis}) is {n} in this array of "
                        f"shape {arr.shape}, but {d} was bound to {binding[d]}{by}"
                    )
            elif d != n:
                raise ShapeError(
                    f"{what} {node.shape}: axis {axis} must be {d}, got {n} "
                    f"(array of shape {arr.shape})"
                )
    return binding
