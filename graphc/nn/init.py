"""Initialisers: ``init(rng, shape, dtype) -> array``, seeded by a numpy ``Generator``.

For a 2-D weight ``(a, b)`` in the row layout ``x @ W`` the fan-in is ``a`` and the fan-out
``b``; for more axes the leading ones count as receptive field (``fan_in = prod(shape[:-1])``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: ``init(rng, shape, dtype) -> np.ndarray``
Initializer = Callable[[np.random.Generator, tuple[int, ...], Any], np.ndarray]


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """``rng`` as a Generator: an int is a seed; None is seed 0 (reproducible by default)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy Generator or an int seed, got {type(rng).__name__}")


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of this shape in the row layout."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    return int(np.prod(shape[:-1])), int(shape[-1])


def zeros(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
    """All zeros (biases)."""
    return np.zeros(shape, dtype=dtype)


def glorot_uniform(rng: np.random.Generator, shape: tuple[int, ...],
                   dtype: Any = np.float64) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010): for tanh."""
    fan_in, fan_out = fans(shape)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def glorot_normal(rng: np.random.Generator, shape: tuple[int, ...],
                  dtype: Any = np.float64) -> np.ndarray:
    """N(0, 2 / (fan_in + fan_out))."""
    fan_in, fan_out = fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (fan_in + fan_out))).astype(dtype)


def he_normal(rng: np.random.Generator, shape: tuple[int, ...],
              dtype: Any = np.float64) -> np.ndarray:
    """N(0, 2 / fan_in) (He et al., 2015): for relu."""
    fan_in, _ = fans(shape)
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)


def he_uniform(rng: np.random.Generator, shape: tuple[int, ...],
               dtype: Any = np.float64) -> np.ndarray:
    """U(-a, a) with a = sqrt(6 / fan_in)."""
    fan_in, _ = fans(shape)
    a = np.sqrt(6.0 / fan_in)
    return rng.uniform(-a, a, size=shape).astype(dtype)


__all__ = ["Initializer", "as_generator", "fans", "glorot_normal", "glorot_uniform",
           "he_normal", "he_uniform", "zeros"]
