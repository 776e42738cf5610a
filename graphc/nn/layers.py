"""Layers: ``Linear`` (row layout ``x @ W + b``), ``MLP``, activation modules."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from graphc.errors import ShapeError
from graphc.ir.dims import definitely_equal
from graphc.ir.node import at_user
from graphc.ir.tensor import Tensor
from graphc.nn import init as initializers
from graphc.nn.init import Initializer
from graphc.nn.module import Module
from graphc.ops import relu, sigmoid, tanh

#: activation functions by name (the functions themselves are graphc ops)
ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {
    "tanh": tanh, "relu": relu, "sigmoid": sigmoid,
}


def get_activation(activation: str | Callable[[Tensor], Tensor] | None
                   ) -> Callable[[Tensor], Tensor] | None:
    """An activation function from its name (``"tanh"``, ``"relu"``, ``"sigmoid"``) or itself."""
    if activation is None or callable(activation):
        return activation
    if isinstance(activation, str) and activation in ACTIVATIONS:
        return ACTIVATIONS[activation]
    raise ValueError(f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)} or "
                     "a function Tensor -> Tensor")


def _size(v: Any, what: str) -> int:
    """A layer size: an int >= 1 (a float or bool is a TypeError, not silently truncated)."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{what} must be an int, got {v!r}")
    if v < 1:
        raise ValueError(f"{what} must be >= 1, got {v}")
    return int(v)


def _float_dtype(x: Tensor) -> np.dtype:
    """The params' default dtype: the input's float dtype, float64 for other inputs."""
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


@dataclasses.dataclass(eq=False, repr=False)
class Linear(Module):
    """``x @ W + b``: x ``(..., n_in)``, W ``(n_in, n_out)``, b ``(n_out,)``.

    ``dtype`` of W and b: None follows the input (float32 in, float32 params; float64 for
    integer inputs).
    """

    n_in: int
    n_out: int
    bias: bool = True
    init: Initializer = initializers.glorot_uniform
    dtype: Any = None
    W: Tensor | None = dataclasses.field(default=None, init=False, repr=False)
    b: Tensor | None = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.n_in, self.n_out = _size(self.n_in, "n_in"), _size(self.n_out, "n_out")

    def build(self, x: Tensor) -> None:
        if x.ndim == 0 or not definitely_equal(x.shape[-1], self.n_in):
            raise ShapeError(at_user(
                f"Linear({self.n_in}, {self.n_out}) expects inputs (..., {self.n_in}), got "
                f"{x.shape}"))
        dtype = self.dtype if self.dtype is not None else _float_dtype(x)
        self.W = self.param("W", self.init, (self.n_in, self.n_out), dtype)
        if self.bias:
            self.b = self.param("b", initializers.zeros, (self.n_out,), dtype)

    def forward(self, x: Tensor) -> Tensor:
        y = x @ self.W
        return y + self.b if self.b is not None else y


@dataclasses.dataclass(eq=False, repr=False)
class MLP(Module):
    """Linear layers ``sizes[0] -> sizes[1] -> ... -> sizes[-1]`` (params ``mlp/0/W``, ...) with
    ``activation`` between them and ``final_activation`` (default none) after the last.

    Weights start Glorot-uniform, or He-normal when the activation is relu (``init`` overrides).
    """

    sizes: Sequence[int]
    activation: str | Callable[[Tensor], Tensor] = "tanh"
    final_activation: str | Callable[[Tensor], Tensor] | None = None
    init: Initializer | None = None
    dtype: Any = None
    layers: list[Linear] = dataclasses.field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.sizes, (str, bytes)) or not hasattr(self.sizes, "__iter__"):
            raise TypeError(f"MLP sizes must be a list of ints, got {self.sizes!r}")
        sizes = [_size(s, f"MLP sizes[{k}]") for k, s in enumerate(self.sizes)]
        if len(sizes) < 2:
            raise ValueError(f"MLP sizes must list >= 2 sizes (in, ..., out), got {sizes}")
        self.sizes = tuple(sizes)
        self._act = get_activation(self.activation)
        self._final = get_activation(self.final_activation)
        init = self.init or (initializers.he_normal if self._act is relu
                             else initializers.glorot_uniform)
        # one generator shared in layer order: the draws are fixed by the seed
        self.layers = [Linear(a, b, init=init, dtype=self.dtype, name=str(i), rng=self.rng)
                       for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True))]

    def forward(self, x: Tensor) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            act = self._act if i < len(self.layers) - 1 else self._final
            if act is not None:
                x = act(x)
        return x


@dataclasses.dataclass(eq=False, repr=False)
class Sequential(Module):
    """Modules (or functions Tensor -> Tensor) applied in order; child modules named ``0, 1..``."""

    steps: Sequence[Module | Callable[[Tensor], Tensor]]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.steps = list(self.steps)
        for i, s in enumerate(self.steps):
            if not callable(s):
                raise TypeError(f"Sequential steps[{i}] must be a Module or a function "
                                f"Tensor -> Tensor, got {type(s).__name__}")
            if isinstance(s, Module) and s.name is None:
                s.name = str(i)

    def forward(self, x: Tensor) -> Tensor:
        for s in self.steps:
            x = s(x)
        return x


@dataclasses.dataclass(eq=False, repr=False)
class Tanh(Module):
    """tanh as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return tanh(x)


@dataclasses.dataclass(eq=False, repr=False)
class ReLU(Module):
    """relu as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return relu(x)


@dataclasses.dataclass(eq=False, repr=False)
class Sigmoid(Module):
    """sigmoid as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return sigmoid(x)


__all__ = ["ACTIVATIONS", "Linear", "MLP", "ReLU", "Sequential", "Sigmoid", "Tanh",
           "get_activation"]
