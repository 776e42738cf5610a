"""dtype rules: float64 default, float32 preserved, bool from comparisons, ints for labels."""

from __future__ import annotations

from typing import Any

import numpy as np

#: numpy dtype kinds graphc computes with: bool, signed and unsigned ints, floats
ALLOWED_KINDS = "biuf"


def check_dtype(dtype: Any, what: str) -> np.dtype:
    """``dtype`` as a numpy dtype graphc can compute with, else a TypeError naming ``what``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{what}: {dtype!r} is not a numpy dtype") from None
    if dt.kind not in ALLOWED_KINDS:
        raise TypeError(
            f"{what}: dtype {dt} is not supported (graphc computes with bool, int, uint and "
            "float dtypes; strings, objects, complex and datetimes are not supported)"
        )
    return dt


def dtype_of_value(value: Any) -> np.dtype | None:
    """The dtype a python value becomes: float64 for floats, int64 for ints, numpy's otherwise."""
    if isinstance(value, bool):
        return np.dtype(bool)
    if isinstance(value, int):
        return np.dtype(np.int64)
    if isinstance(value, float):
        return np.dtype(np.float64)
    return None


def weak_scalar_dtype(value: Any, other: np.dtype) -> np.dtype:
    """The dtype a python scalar takes beside a tensor of dtype ``other`` (never upcasts a float).

    numpy 2's rule for python scalars (NEP 50): an int takes the tensor's dtype unless the
    tensor is bool; a float takes the tensor's float dtype, or float64 beside ints and bools.
    """
    if isinstance(value, bool):
        return other if other.kind != "b" else np.dtype(bool)
    if isinstance(value, int):
        return other if other.kind in "iuf" else np.dtype(np.int64)
    if isinstance(value, float):
        return other if other.kind == "f" else np.dtype(np.float64)
    raise TypeError(f"{value!r} of type {type(value).__name__} is not a number")


def probe_dtype(fn: Any, *dtypes: np.dtype) -> np.dtype:
    """The dtype numpy gives for ``fn`` on operands of ``dtypes`` (TypeError if numpy refuses)."""
    args = [np.ones((1,), dtype=d) for d in dtypes]
    try:
        with np.errstate(all="ignore"):
            return np.asarray(fn(*args)).dtype
    except (TypeError, np.exceptions.DTypePromotionError) as e:
        names = ", ".join(str(d) for d in dtypes)
        raise TypeError(f"numpy cannot compute this on dtypes ({names}): {e}") from None
