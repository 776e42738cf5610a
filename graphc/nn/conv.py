"""Convolution and pooling layers with torch's parameter names and layouts (``weight``
``(C_out, C_in/groups, *kernel)`` for ConvNd, ``(C_in, C_out/groups, *kernel)`` for
ConvTransposeNd, ``bias (C_out,)``) and torch's initial distributions, so weights copied from
torch give torch's outputs; ``Flatten`` as torch's. The batch and spatial sizes may be
symbolic: output sizes are dim expressions."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import definitely_equal
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.nn.module import Module
from graphc.ops import avg_pool, conv, conv_transpose, max_pool, reshape


def _tuple(v: Any, n: int, what: str) -> tuple[int, ...]:
    vals = tuple(v) if isinstance(v, (tuple, list)) else (v,) * n
    if len(vals) != n or any(isinstance(k, bool) or not isinstance(k, (int, np.integer))
                             for k in vals):
        raise TypeError(f"{what} must be an int or a tuple of {n} ints, got {v!r}")
    return tuple(int(k) for k in vals)


def _uniform(bound: float):
    def init(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any = np.float64):
        return rng.uniform(-bound, bound, shape).astype(dtype)
    return init


@dataclasses.dataclass(eq=False, repr=False)
class _ConvNd(Module):
    in_channels: int
    out_channels: int
    kernel_size: Any
    stride: Any = 1
    padding: Any = 0
    dilation: Any = 1
    groups: int = 1
    bias: bool = True
    dtype: Any = None

    nd = 2
    transposed = False

    def __post_init__(self) -> None:
        super().__post_init__()
        for v, what in ((self.in_channels, "in_channels"), (self.out_channels, "out_channels"),
                        (self.groups, "groups")):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{type(self).__name__}: {what} must be an int >= 1, got {v!r}")
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: groups {self.groups} must divide "
                             f"in_channels {self.in_channels} and out_channels "
                             f"{self.out_channels}")
        self.kernel_size = _tuple(self.kernel_size, self.nd, "kernel_size")
        self.weight: Tensor | None = None
        self.b: Tensor | None = None

    def _weight_shape(self) -> tuple[int, ...]:
        if self.transposed:
            return (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        return (self.out_channels, self.in_channels // self.groups, *self.kernel_size)

    def build(self, x: Tensor) -> None:
        if x.ndim != self.nd + 2 or not definitely_equal(x.shape[1], self.in_channels):
            raise ShapeError(at_user(
                f"{type(self).__name__}({self.in_channels}, {self.out_channels}) expects inputs "
                f"(N, {self.in_channels}, {', '.join(['L'] * self.nd)}), got {x.shape}"))
        shape = self._weight_shape()
        fan_in = shape[1] * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)  # torch: kaiming_uniform(a=sqrt(5)), and the bias's
        dt = self.dtype if self.dtype is not None else (
            x.dtype if x.dtype.kind == "f" else np.dtype(np.float64))
        self.weight = self.param("weight", _uniform(bound), shape, dt)
        if self.bias:
            self.b = self.param("bias", _uniform(bound), (self.out_channels,), dt)

    def forward(self, x: Tensor) -> Tensor:
        return conv(x, self.weight, self.b, self.stride, self.padding, self.dilation,
                    self.groups)


@dataclasses.dataclass(eq=False, repr=False)
class Conv1d(_ConvNd):
    """torch.nn.Conv1d on ``(N, C_in, L)``; ``padding`` an int, a tuple, ``"same"`` or
    ``"valid"``."""

    nd = 1


@dataclasses.dataclass(eq=False, repr=False)
class Conv2d(_ConvNd):
    """torch.nn.Conv2d on ``(N, C_in, H, W)``; ``padding`` an int, a tuple, ``"same"`` or
    ``"valid"``."""

    nd = 2


@dataclasses.dataclass(eq=False, repr=False)
class Conv3d(_ConvNd):
    """torch.nn.Conv3d on ``(N, C_in, D, H, W)``."""

    nd = 3


@dataclasses.dataclass(eq=False, repr=False)
class ConvTranspose2d(_ConvNd):
    """torch.nn.ConvTranspose2d on ``(N, C_in, H, W)``: weight ``(C_in, C_out/groups, kH,
    kW)``."""

    output_padding: Any = 0
    nd = 2
    transposed = True

    def forward(self, x: Tensor) -> Tensor:
        return conv_transpose(x, self.weight, self.b, self.stride, self.padding,
                              self.output_padding, self.dilation, self.groups)


@dataclasses.dataclass(eq=False, repr=False)
class MaxPool2d(Module):
    """torch.nn.MaxPool2d (no params)."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    dilation: Any = 1
    ceil_mode: bool = False

    def forward(self, x: Tensor) -> Tensor:
        return max_pool(x, _tuple(self.kernel_size, 2, "kernel_size"), self.stride,
                        self.padding, self.dilation, self.ceil_mode)


@dataclasses.dataclass(eq=False, repr=False)
class AvgPool2d(Module):
    """torch.nn.AvgPool2d (no params)."""

    kernel_size: Any
    stride: Any = None
    padding: Any = 0
    ceil_mode: bool = False
    count_include_pad: bool = True

    def forward(self, x: Tensor) -> Tensor:
        return avg_pool(x, _tuple(self.kernel_size, 2, "kernel_size"), self.stride,
                        self.padding, self.ceil_mode, self.count_include_pad)


@dataclasses.dataclass(eq=False, repr=False)
class Flatten(Module):
    """torch.nn.Flatten: axes ``start_dim..end_dim`` merged into one (``(N, C, H, W) ->
    (N, C*H*W)``; symbolic sizes give a dim expression)."""

    start_dim: int = 1
    end_dim: int = -1

    def forward(self, x: Tensor) -> Tensor:
        n = x.ndim
        a, b = self.start_dim % n if n else 0, self.end_dim % n if n else 0
        if not (0 <= a <= b < max(n, 1)):
            raise ShapeError(at_user(f"Flatten({self.start_dim}, {self.end_dim}) does not fit "
                                     f"a tensor of shape {x.shape}"))
        dims = list(x.shape[:a]) + [-1] + list(x.shape[b + 1:])
        return reshape(x, tuple(dims))


__all__ = ["AvgPool2d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "Flatten", "MaxPool2d"]
