"""Activation functions with torch's definitions (``gelu``, ``silu``, ``softplus``,
``leaky_relu``, ``elu``), their modules (``GELU``, ``SiLU``, ``Softplus``, ``LeakyReLU``,
``ELU``), and the ``Dropout`` module, which follows the training mode.

The functions are compositions of graphc ops, so their gradients are graphs too; they match
torch's values and gradients, at the kinks too (``leaky_relu``'s and ``elu``'s derivative at
0 is the negative side's, as torch's).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from graphc.ir.tensor import Tensor
from graphc.nn.dropout import dropout
from graphc.nn.layers import ACTIVATIONS
from graphc.nn.module import Module
from graphc.ops import erf, expm1, sigmoid, tanh, where
from graphc.ops import softplus as _softplus
from graphc.ops.random import _probability, _real

_SQRT1_2 = math.sqrt(0.5)
_SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _float_input(x: Any, fn: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: x must be a graphc Tensor, got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{fn}: x must have a float dtype, got {x.dtype}")
    return x


def _number(v: Any, fn: str, what: str) -> float:
    """A finite float argument, fixed when the graph is built."""
    if isinstance(v, Tensor):
        raise TypeError(f"{fn}: {what} is a Tensor; it must be a float fixed when the graph "
                        "is built")
    try:
        return _real(v, what)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{fn}: {e}") from None


def _approximate(v: Any, fn: str) -> str:
    if v not in ("none", "tanh") or not isinstance(v, str):
        raise ValueError(f"{fn}: approximate must be 'none' or 'tanh', got {v!r}")
    return v


# ------------------------------------------------------------------------ functions
def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit, as torch: ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``;
    ``approximate="tanh"``: ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))``."""
    _float_input(x, "gelu")
    if _approximate(approximate, "gelu") == "tanh":
        inner = (x + 0.044715 * (x * x * x)) * _SQRT_2_PI
        return 0.5 * x * (1.0 + tanh(inner))
    return 0.5 * x * (1.0 + erf(x * _SQRT1_2))


def gelu_tanh(x: Tensor) -> Tensor:
    """``gelu(x, approximate="tanh")`` (the activation named ``"gelu_tanh"``)."""
    return gelu(x, "tanh")


def silu(x: Tensor) -> Tensor:
    """Sigmoid linear unit (swish), as torch: ``x * sigmoid(x)``."""
    _float_input(x, "silu")
    return x * sigmoid(x)


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """torch's softplus: ``log(1 + exp(beta x)) / beta``, and ``x`` itself where
    ``beta x > threshold`` (where the two agree to rounding). ``beta`` > 0."""
    _float_input(x, "softplus")
    beta = _number(beta, "softplus", "beta")
    threshold = _number(threshold, "softplus", "threshold")
    if beta <= 0:
        raise ValueError(f"softplus: beta must be > 0, got {beta!r}")
    bx = x if beta == 1.0 else x * beta
    smooth = _softplus(bx) if beta == 1.0 else _softplus(bx) * (1.0 / beta)
    return where(bx > threshold, x, smooth)


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """``x`` where ``x > 0``, ``negative_slope * x`` elsewhere (as torch, whose derivative
    at 0 is ``negative_slope``)."""
    _float_input(x, "leaky_relu")
    slope = _number(negative_slope, "leaky_relu", "negative_slope")
    return where(x > 0, x, x * slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """Exponential linear unit, as torch: ``x`` where ``x > 0``, ``alpha * (exp(x) - 1)``
    elsewhere (derivative ``alpha`` at 0, as torch)."""
    _float_input(x, "elu")
    alpha = _number(alpha, "elu", "alpha")
    # exp of the negative side only: a large x would make exp(x) inf, and 0 * inf = nan in
    # the gradient of the branch that where leaves out
    negative = where(x > 0, 0.0, x)
    return where(x > 0, x, expm1(negative) * alpha)


# -------------------------------------------------------------------------- modules
@dataclasses.dataclass(eq=False, repr=False)
class GELU(Module):
    """``gelu`` as a module (``approximate``: ``"none"`` or ``"tanh"``)."""

    approximate: str = "none"

    def __post_init__(self) -> None:
        super().__post_init__()
        _approximate(self.approximate, "GELU")

    def forward(self, x: Tensor) -> Tensor:
        return gelu(x, self.approximate)


@dataclasses.dataclass(eq=False, repr=False)
class SiLU(Module):
    """``silu`` as a module."""

    def forward(self, x: Tensor) -> Tensor:
        return silu(x)


@dataclasses.dataclass(eq=False, repr=False)
class Softplus(Module):
    """``softplus`` as a module."""

    beta: float = 1.0
    threshold: float = 20.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.beta = _number(self.beta, "Softplus", "beta")
        self.threshold = _number(self.threshold, "Softplus", "threshold")
        if self.beta <= 0:
            raise ValueError(f"Softplus: beta must be > 0, got {self.beta!r}")

    def forward(self, x: Tensor) -> Tensor:
        return softplus(x, self.beta, self.threshold)


@dataclasses.dataclass(eq=False, repr=False)
class LeakyReLU(Module):
    """``leaky_relu`` as a module."""

    negative_slope: float = 0.01

    def __post_init__(self) -> None:
        super().__post_init__()
        self.negative_slope = _number(self.negative_slope, "LeakyReLU", "negative_slope")

    def forward(self, x: Tensor) -> Tensor:
        return leaky_relu(x, self.negative_slope)


@dataclasses.dataclass(eq=False, repr=False)
class ELU(Module):
    """``elu`` as a module."""

    alpha: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        self.alpha = _number(self.alpha, "ELU", "alpha")

    def forward(self, x: Tensor) -> Tensor:
        return elu(x, self.alpha)


@dataclasses.dataclass(eq=False, repr=False)
class Dropout(Module):
    """``gc.nn.dropout(x, p, training=self.training)`` as a module: drops entries in
    training mode only (``module.train()`` / ``module.eval()``, read when the graph is
    built); each call of a compiled training function draws a new mask."""

    p: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            self.p = _probability(self.p)
        except (TypeError, ValueError) as e:
            raise type(e)(f"Dropout: {e}") from None

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, training=bool(self.training))


# the names get_activation (and MLP's activation=) accepts
ACTIVATIONS.update({"gelu": gelu, "gelu_tanh": gelu_tanh, "silu": silu,
                    "softplus": softplus, "leaky_relu": leaky_relu, "elu": elu})

__all__ = ["Dropout", "ELU", "GELU", "LeakyReLU", "SiLU", "Softplus", "elu", "gelu",
           "leaky_relu", "silu", "softplus"]
