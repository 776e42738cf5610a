"""Normalisation layers: ``LayerNorm`` and ``RMSNorm`` over the trailing axes, with torch's
parameter names and layouts (``weight``, ``bias`` of ``normalized_shape``), so weights copied
from torch give torch's outputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import definitely_equal
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.nn import init as initializers
from graphc.nn.module import Module
from graphc.ops import mean, sqrt


def _ones(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64):
    return np.ones(shape, dtype)


def _normalized(shape: int | Sequence[int], what: str) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
                       for d in dims):
        raise ValueError(f"{what}: normalized_shape must be an int >= 1 or a non-empty tuple "
                         f"of them, got {shape!r}")
    return tuple(int(d) for d in dims)


def _check(x: Tensor, shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    n = len(shape)
    if x.ndim < n or not all(definitely_equal(a, b) for a, b in zip(x.shape[-n:], shape)):
        raise ShapeError(at_user(f"{what}{shape} expects inputs (..., "
                                 f"{', '.join(map(str, shape))}), got {x.shape}"))
    return tuple(range(x.ndim - n, x.ndim))


def _float(x: Tensor, dtype: Any) -> np.dtype:
    if dtype is not None:
        return np.dtype(dtype)
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


@dataclasses.dataclass(eq=False, repr=False)
class LayerNorm(Module):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over the trailing ``normalized_shape``
    axes (the biased variance, as torch). Params ``weight`` (ones) and ``bias`` (zeros)."""

    normalized_shape: int | Sequence[int]
    eps: float = 1e-5
    elementwise_affine: bool = True
    bias: bool = True
    dtype: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.normalized_shape = _normalized(self.normalized_shape, "LayerNorm")
        self.weight: Tensor | None = None
        self.beta: Tensor | None = None

    def build(self, x: Tensor) -> None:
        _check(x, self.normalized_shape, "LayerNorm")
        if self.elementwise_affine:
            dt = _float(x, self.dtype)
            self.weight = self.param("weight", _ones, self.normalized_shape, dt)
            if self.bias:
                self.beta = self.param("bias", initializers.zeros, self.normalized_shape, dt)

    def forward(self, x: Tensor) -> Tensor:
        axes = _check(x, self.normalized_shape, "LayerNorm")
        centred = x - mean(x, axis=axes, keepdims=True)
        y = centred / sqrt(mean(centred * centred, axis=axes, keepdims=True) + self.eps)
        if self.weight is not None:
            y = y * self.weight
        return y + self.beta if self.beta is not None else y


@dataclasses.dataclass(eq=False, repr=False)
class RMSNorm(Module):
    """``x / sqrt(mean(x**2) + eps) * weight`` over the trailing ``normalized_shape`` axes;
    ``eps=None`` is the dtype's machine epsilon, as torch. Param ``weight`` (ones)."""

    normalized_shape: int | Sequence[int]
    eps: float | None = None
    elementwise_affine: bool = True
    dtype: Any = None

    def __post_init__(self) -> None:
        super().__post_init__()
        self.normalized_shape = _normalized(self.normalized_shape, "RMSNorm")
        self.weight: Tensor | None = None

    def build(self, x: Tensor) -> None:
        _check(x, self.normalized_shape, "RMSNorm")
        if self.elementwise_affine:
            self.weight = self.param("weight", _ones, self.normalized_shape,
                                     _float(x, self.dtype))

    def forward(self, x: Tensor) -> Tensor:
        axes = _check(x, self.normalized_shape, "RMSNorm")
        eps = self.eps if self.eps is not None else float(np.finfo(_float(x, None)).eps)
        y = x / sqrt(mean(x * x, axis=axes, keepdims=True) + eps)
        return y * self.weight if self.weight is not None else y


__all__ = ["LayerNorm", "RMSNorm"]
